"""The `superior` orchestrator's parts on their own: scheduler, settings, seeds, records, policies."""

import json
from dataclasses import dataclass

import pytest
from omegaconf import OmegaConf

from app.orchestrator.errors import SuperiorError
from app.orchestrator.plan import (
    axis_values_of, check_seed_axis, extra_overrides_for, families_of, resource_class_of, seed_for,
)
from app.orchestrator.policies import backoff_caps, check_quality
from app.orchestrator.records import Journal, read_tsv, write_tsv
from app.orchestrator.scheduler import Scheduler
from app.orchestrator.settings import EarlyStop, LauncherSettings, OomPolicy


@dataclass
class Item:
    resource_class: str
    run_index: int
    repeat: int = 0
    attempt: int = 1


def settings(**kw) -> LauncherSettings:
    s = LauncherSettings(**kw)
    s.validate()
    return s


# ---- scheduler --------------------------------------------------------------------------------------


def test_budget_keeps_heavy_runs_apart_and_light_runs_fill_the_gap():
    s = settings(parallel=4, max_ram_gb=10, approx_ram_per_class={"light": 1, "heavy": 6})
    sched = Scheduler(s)
    pending = [Item("heavy", 0), Item("heavy", 1), Item("light", 2), Item("light", 3), Item("light", 4), Item("light", 5)]
    start = sched.admit(pending, []).start
    # one heavy (6 GB) + three light (3 GB) = 9 GB <= 10; a second heavy would make 12
    assert [i.run_index for i in start] == [0, 2, 3, 4]
    # with the first heavy still running, the second heavy waits but the last light starts
    running = [start[0]]
    rest = [i for i in pending if i not in start]
    assert [i.run_index for i in sched.admit(rest, running).start] == [5]


def test_parallel_and_weights_limit_admission():
    s = settings(parallel=2, max_weight=4, weights={"light": 1, "heavy": 4}, approx_ram_per_class={"light": 1, "heavy": 2})
    sched = Scheduler(s)
    pending = [Item("heavy", 0), Item("light", 1), Item("light", 2)]
    assert [i.run_index for i in sched.admit(pending, []).start] == [0]  # heavy weight 4 fills max_weight
    assert [i.run_index for i in sched.admit(pending[1:], []).start] == [1, 2]  # parallel=2


def test_a_run_above_the_budget_runs_alone():
    s = settings(parallel=3, max_ram_gb=2, approx_ram_per_class={"light": 1, "heavy": 6})
    sched = Scheduler(s)
    pending = [Item("heavy", 0), Item("light", 1)]
    adm = sched.admit(pending, [])
    assert [i.run_index for i in adm.start] == [0] and adm.over_budget_alone == [pending[0]]
    assert sched.admit(pending[1:], [pending[0]]).start == []  # nothing beside it


def test_measured_peak_replaces_a_lower_estimate_only():
    s = settings(parallel=4, max_ram_gb=2, approx_ram_per_class={"light": 0.5, "heavy": 1})
    sched = Scheduler(s)
    assert sched.observe_peak("light", 300.0) is False  # below 512 MB: estimate kept
    assert sched.estimate("light") == 512
    assert sched.observe_peak("light", 900.0) is True
    assert sched.estimate("light") == 900
    # 900 + 900 <= 2048 but not three of them
    assert len(sched.admit([Item("light", i) for i in range(4)], []).start) == 2


def test_priority_runs_repeat_zero_of_every_combination_first():
    s = settings(parallel=1)
    sched = Scheduler(s)
    items = [Item("light", 0, repeat=0), Item("light", 1, repeat=1), Item("light", 2, repeat=0)]
    assert [i.run_index for i in sorted(items, key=sched.priority)] == [0, 2, 1]


# ---- settings (bad input) ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kw, key",
    [
        ({"parallel": 0}, "parallel"),
        ({"max_ram_gb": -1}, "max_ram_gb"),
        ({"resource_classes": {"sklearn": "medium"}, "approx_ram_per_class": {"light": 1}}, "approx_ram_per_class"),
        ({"safety": {"enable_hard_ram_limit": True, "hard_limit_mb": None}}, "hard_limit_mb"),
        ({"oom_policy": {"on_oom": "explode"}}, "on_oom"),
        ({"oom_policy": {"backoff_factor": 1.5}}, "backoff_factor"),
        ({"seed_strategy": "random"}, "seed_strategy"),
        ({"repeats": 0}, "repeats"),
    ],
)
def test_bad_settings_name_the_key(kw, key):
    with pytest.raises(SuperiorError, match=key):
        LauncherSettings.from_params(kw).validate()


# ---- plan: seeds, repeats, axes, resource class --------------------------------------------------------


def test_seed_strategies():
    fixed = settings(seed_strategy="fixed", base_seed=7, repeats=3)
    per_run = settings(seed_strategy="per_run", base_seed=7, repeats=3)
    per_repeat = settings(seed_strategy="per_repeat", base_seed=7, repeats=3)
    assert [seed_for(fixed, i, i % 3) for i in range(6)] == [7] * 6
    assert [seed_for(per_run, i, i % 3) for i in range(6)] == [7, 8, 9, 10, 11, 12]
    assert [seed_for(per_repeat, i, i % 3) for i in range(6)] == [7, 8, 9, 7, 8, 9]
    assert seed_for(settings(), 3, 0) is None
    assert extra_overrides_for(per_run, 9, 2) == ["seed=9", "repeat=2"]
    assert extra_overrides_for(settings(seed_strategy="fixed"), 42, 0) == ["seed=42"]  # repeats=1: no repeat=
    with pytest.raises(SuperiorError, match="seed"):
        check_seed_axis(per_run, ["seed=1"])


def test_axis_values_are_the_keys_that_vary():
    batch = [["dataset=web1", "balance=none", "stage=pipeline"], ["dataset=web1", "balance=oversample", "stage=pipeline"]]
    assert axis_values_of(batch) == [{"balance": "none"}, {"balance": "oversample"}]


def test_resource_class_is_the_heaviest_family():
    s = settings()
    cfg = OmegaConf.create({"models": {"svm": {"family": "sklearn"}, "cnn": {"family": "spacy"}}})
    assert families_of(cfg) == ["check", "sklearn", "spacy"]
    assert resource_class_of(families_of(cfg), s) == "heavy"
    assert resource_class_of(families_of(OmegaConf.create({"models": {"svm": {"family": "sklearn"}}})), s) == "light"
    assert resource_class_of(families_of(OmegaConf.create({"x": 1})), s) == "light"  # not an ideolab config
    with pytest.raises(SuperiorError, match="resource class"):
        resource_class_of(["check", "xgboost"], s)


# ---- records -------------------------------------------------------------------------------------------


def test_tsv_round_trip_and_no_partial_file(tmp_path):
    path = tmp_path / "runs.tsv"
    rows = [{"run_id": "run_0000", "overrides": ["a=1", "b=x y"], "axis_values": {"a": "1"}, "note": "tab\there"}]
    write_tsv(path, ["run_id", "overrides", "axis_values", "note"], rows)
    back = read_tsv(path)
    assert json.loads(back[0]["overrides"]) == ["a=1", "b=x y"] and back[0]["note"] == "tab here"
    assert [p.name for p in tmp_path.iterdir()] == ["runs.tsv"]  # the temporary file was renamed


def test_journal_ignores_a_line_cut_by_a_kill(tmp_path):
    j = Journal(tmp_path / "journal.jsonl")
    j.append({"ev": "start", "job_num": 0})
    with open(j.path, "a") as f:
        f.write('{"ev": "start", "job_n')
    assert j.read() == [{"ev": "start", "job_num": 0}]


# ---- policies ------------------------------------------------------------------------------------------


def test_backoff_multiplies_every_cap():
    cfg = OmegaConf.create({"hardware": {"max_train_docs_sklearn": 1000, "max_train_docs_spacy": None, "threads": 2}})
    pol = OomPolicy(backoff_factor=0.5, null_cap_docs=20000)
    assert backoff_caps(cfg, pol, None) == ["hardware.max_train_docs_sklearn=500", "hardware.max_train_docs_spacy=10000"]
    # a null cap starts from the train size the run recorded
    assert backoff_caps(cfg, pol, {"n_train": 3000})[1] == "hardware.max_train_docs_spacy=1500"
    assert backoff_caps(OmegaConf.create({"x": 1}), pol, None) is None


def test_quality_flags_need_both_thresholds_and_respect_families(tmp_path):
    es = EarlyStop(enabled=True, min_accuracy=0.5, min_macro_f1=0.4, apply_to_families=["sklearn"])
    metrics = tmp_path / "metrics.json"
    metrics.write_text(json.dumps({"accuracy": 0.3, "macro_f1": 0.2}))
    run = {"models": [
        {"family": "sklearn", "model_id": "svm", "metrics_path": str(metrics)},  # metrics read from the file
        {"family": "sklearn", "model_id": "lr", "accuracy": 0.3, "macro_f1": 0.45},  # only one below
        {"family": "check", "model_id": "majority", "accuracy": 0.1, "macro_f1": 0.1},  # not checked
    ]}
    q = check_quality(run, es)
    assert q.ok is False and q.flags == "svm:low_accuracy,low_macro_f1" and q.metrics_paths == [str(metrics)]
    assert check_quality(run, EarlyStop(enabled=False)).ok is None
    assert check_quality({"models": [{"family": "sklearn", "model_id": "svm", "accuracy": 0.9, "macro_f1": 0.9}]}, es).ok is True


def test_config_cache_derives_exactly_what_composition_gives(monkeypatch, tmp_path):
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra._internal.utils import create_config_search_path
    from hydra.types import RunMode

    from app.orchestrator.plan import ConfigCache

    monkeypatch.setenv("IDEOLAB_CONF", str(tmp_path))  # memory_app is not ideolab
    conf = str(__import__("pathlib").Path(__file__).parent / "apps" / "conf")
    loader = ConfigLoaderImpl(config_search_path=create_config_search_path(conf))
    master = loader.load_configuration("memory_app", overrides=[f"hydra.sweep.dir={tmp_path}"], run_mode=RunMode.MULTIRUN)
    cache = ConfigCache(lambda o: loader.load_sweep_config(master, o), loader.repository)
    jobs = [["size=small", "hold_s=0.5", "seed=1"], ["size=small", "hold_s=1.5", "seed=2"],
            ["size=large", "hold_s=0.5", "seed=3"], ["size=large", "hold_s=2", "seed=4"], ["size=large", "+extra=1"]]
    got = [cache.get(j) for j in jobs]
    assert (cache.composed, cache.derived) == (3, 2)  # a group change or a "+" composes
    for job, cfg in zip(jobs, got):
        assert OmegaConf.to_yaml(cfg) == OmegaConf.to_yaml(loader.load_sweep_config(master, job))


def test_config_cache_derives_beside_fixed_group_and_delete_overrides(monkeypatch, tmp_path):
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra._internal.utils import create_config_search_path
    from hydra.types import RunMode

    from app.orchestrator.plan import ConfigCache

    monkeypatch.setenv("IDEOLAB_CONF", str(tmp_path))
    conf = str(__import__("pathlib").Path(__file__).parent / "apps" / "conf")
    loader = ConfigLoaderImpl(config_search_path=create_config_search_path(conf))
    master = loader.load_configuration("memory_app", overrides=[f"hydra.sweep.dir={tmp_path}"], run_mode=RunMode.MULTIRUN)
    cache = ConfigCache(lambda o: loader.load_sweep_config(master, o), loader.repository)
    jobs = [["size=large", "~models.m1", f"repeat={i}"] for i in range(3)]
    got = [cache.get(j) for j in jobs]
    assert (cache.composed, cache.derived) == (1, 2)
    for job, cfg in zip(jobs, got):
        assert OmegaConf.to_yaml(cfg) == OmegaConf.to_yaml(loader.load_sweep_config(master, job))
