"""Split before balance, balance the train split only, no leakage across the split."""

import numpy as np
import pytest
from omegaconf import OmegaConf

from app.balance import balance_train
from app.errors import UserError
from app.split import split_train_job


def _labels(n_per_class: dict) -> np.ndarray:
    return np.array([lab for lab, n in n_per_class.items() for _ in range(n)])


def test_stratified_split_keeps_label_mix_and_is_seeded():
    labels = _labels({"a": 300, "b": 100, "c": 50})
    first = split_train_job(labels, 0.8, seed=7)
    again = split_train_job(labels, 0.8, seed=7)
    other = split_train_job(labels, 0.8, seed=8)
    assert np.array_equal(first.is_train, again.is_train)
    assert not np.array_equal(first.is_train, other.is_train)
    for lab, n in {"a": 300, "b": 100, "c": 50}.items():
        share = first.is_train[labels == lab].mean()
        assert abs(share - 0.8) < 0.03, (lab, share)


def test_grouped_split_never_puts_an_actor_on_both_sides():
    rng = np.random.default_rng(0)
    actors = np.array([f"actor{rng.integers(0, 40)}" for _ in range(600)])
    labels = np.array(["left" if int(a[5:]) % 2 else "right" for a in actors])
    result = split_train_job(labels, 0.8, seed=1, groups=actors)
    train_actors, job_actors = set(actors[result.is_train]), set(actors[~result.is_train])
    assert train_actors and job_actors
    assert not train_actors & job_actors
    assert 0.7 < result.is_train.mean() < 0.9


def test_exact_duplicates_stay_on_one_side():
    labels = _labels({"a": 200, "b": 200})
    keys = np.array([f"{lab}{i % 25}" for i, lab in enumerate(labels)], dtype=object)  # each text 8 times
    result = split_train_job(labels, 0.8, seed=3, text_keys=keys)
    assert not set(keys[result.is_train]) & set(keys[~result.is_train])


def test_class_too_small_to_split_is_a_user_error():
    labels = _labels({"a": 50, "b": 1})
    with pytest.raises(UserError, match="class too small.*b"):
        split_train_job(labels, 0.8, seed=0)


def _cfg(**kw):
    base = {"strategy": "none", "cap_docs": None, "cap_tokens": None, "alpha": 0.5, "total": None}
    return OmegaConf.create({**base, **kw})


@pytest.mark.parametrize(
    "strategy,extra,expected",
    [
        ("none", {}, {"a": 300, "b": 60}),
        ("oversample", {}, {"a": 300, "b": 300}),
        ("undersample", {}, {"a": 60, "b": 60}),
        ("cap_docs", {"cap_docs": 100}, {"a": 100, "b": 60}),
        ("class_weights", {}, {"a": 300, "b": 60}),
    ],
)
def test_balance_strategies_give_the_expected_class_sizes(strategy, extra, expected):
    labels = _labels({"a": 300, "b": 60})
    mult, info = balance_train(labels, np.full(len(labels), 10), _cfg(strategy=strategy, **extra), seed=0)
    assert info["train_after"] == expected
    assert mult.sum() == sum(expected.values())


def test_alpha_total_and_cap_tokens():
    labels = _labels({"a": 400, "b": 100})
    _, info = balance_train(labels, np.full(500, 10), _cfg(strategy="alpha_total", alpha=0.0), seed=0)
    assert info["train_after"] == {"a": 250, "b": 250}  # alpha 0 = parity at the same total
    _, info = balance_train(labels, np.full(500, 10), _cfg(strategy="cap_tokens", cap_tokens=305), seed=0)
    assert info["train_after"] == {"a": 30, "b": 30}


def test_class_weights_follow_the_balanced_formula():
    labels = _labels({"a": 300, "b": 100})
    _, info = balance_train(labels, np.ones(400), _cfg(strategy="class_weights"), seed=0)
    assert info["class_weights"] == {"a": pytest.approx(400 / 600), "b": pytest.approx(2.0)}
