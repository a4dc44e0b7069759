"""Extra prepared formats: spaCy DocBin shards and Hugging Face JSONL (app/formats/)."""

import json
from collections import Counter

import numpy as np
import pandas as pd
import pytest

from app.errors import UserError
from app.formats import stratified_prefix_order
from app.formats.spacy_docbin import shard_docs, split_dev
from heavy_runs import SHARD_DOCS, heavy_runs, shared_root


def test_every_prefix_of_the_train_order_keeps_the_label_shares():
    labels = np.array(["a"] * 600 + ["b"] * 300 + ["c"] * 100)
    order = stratified_prefix_order(labels, seed=3)
    assert sorted(order.tolist()) == list(range(1000))
    for n in (10, 37, 100, 250, 999):
        counts = Counter(labels[order[:n]].tolist())
        for lab, share in {"a": 0.6, "b": 0.3, "c": 0.1}.items():
            assert abs(counts[lab] - share * n) <= 1.0, (n, lab, counts)
    assert np.array_equal(order, stratified_prefix_order(labels, seed=3))
    assert not np.array_equal(order, stratified_prefix_order(labels, seed=4))


def test_dev_slice_comes_from_distinct_train_texts_and_loses_no_document():
    texts = [f"t{i}" for i in range(200)] + [f"t{i}" for i in range(200)]  # every text twice ...
    ids = [f"d{i}" for i in range(200)] + [f"d{i}" if i % 2 else f"e{i}" for i in range(200)]
    # ... as an oversampled copy of the same document (odd i) or as a distinct document (even i)
    labels = ["x" if i % 4 else "y" for i in range(200)] * 2
    train_rows, dev_rows = split_dev(texts, labels, ids, seed=1)
    dev_texts = {texts[i] for i in dev_rows}
    assert len(dev_texts) == 20  # 10 % of the distinct texts
    assert Counter(labels[texts.index(t)] for t in dev_texts) == Counter({"x": 15, "y": 5})  # stratified
    assert not dev_texts & {texts[i] for i in train_rows}  # no text on both sides
    assert {ids[i] for i in train_rows} | {ids[i] for i in dev_rows} == set(ids)  # no document lost
    assert len({ids[i] for i in dev_rows}) == len(dev_rows)  # one row per document in dev
    tiny_rows, tiny_dev = split_dev(["a", "b", "c"], ["x", "y", "x"], ["1", "2", "3"], seed=0)
    assert list(tiny_rows) == list(tiny_dev) == [0, 1, 2]  # too small for a slice: dev = train


def test_dev_slice_of_a_grouped_split_holds_whole_groups():
    texts = [f"t{i}" for i in range(400)]
    groups = [f"speaker{i % 40}" for i in range(400)]
    labels = ["left" if i % 40 < 12 else "right" for i in range(400)]
    train_rows, dev_rows = split_dev(texts, labels, texts, seed=2, groups=groups)
    dev_groups, train_groups = {groups[i] for i in dev_rows}, {groups[i] for i in train_rows}
    assert dev_groups and not dev_groups & train_groups  # no speaker on both sides
    assert 40 <= len(dev_rows) <= 80 and len(train_rows) + len(dev_rows) == 400
    assert {labels[i] for i in dev_rows} == {"left", "right"}


def test_grouped_dev_slice_keeps_the_label_mix_when_a_few_groups_are_huge():
    """As in the 2013 debates, where one speaker could fill the slice alone (a dev slice with no 'left'
    document, on which spaCy kept a barely trained checkpoint): every seed keeps the mix within 0.1."""
    rng = np.random.default_rng(0)
    sizes = [("right", int(rng.integers(300, 600))) for _ in range(4)] + [("left", int(rng.integers(150, 300)))]
    sizes += [("right", int(rng.integers(5, 40))) for _ in range(40)] + [("left", int(rng.integers(5, 40))) for _ in range(30)]
    texts, groups, labels = [], [], []
    for s, (label, size) in enumerate(sizes):
        texts += [f"s{s}-{k}" for k in range(size)]
        groups += [f"speaker{s}"] * size
        labels += [label] * size
    share = labels.count("left") / len(labels)
    slices = set()
    for seed in range(10):
        train_rows, dev_rows = split_dev(texts, labels, texts, seed=seed, groups=groups)
        dev_groups = {groups[i] for i in dev_rows}
        assert not dev_groups & {groups[i] for i in train_rows} and len(train_rows) + len(dev_rows) == len(texts)
        assert abs(sum(labels[i] == "left" for i in dev_rows) / len(dev_rows) - share) < 0.1
        assert 0.5 * 0.1 * len(texts) <= len(dev_rows) <= 1.5 * 0.1 * len(texts)
        slices.add(frozenset(dev_groups))
    assert len(slices) > 5  # the seed draws other speakers


def test_shard_size_setting(monkeypatch):
    monkeypatch.delenv("IDEOLAB_SPACY_SHARD_DOCS", raising=False)
    assert shard_docs(None) == 2000
    monkeypatch.setenv("IDEOLAB_SPACY_SHARD_DOCS", "64")
    assert shard_docs(None) == 64
    for bad in ("0", "-3", "many"):
        monkeypatch.setenv("IDEOLAB_SPACY_SHARD_DOCS", bad)
        with pytest.raises(UserError, match="IDEOLAB_SPACY_SHARD_DOCS"):
            shard_docs(None)


@pytest.mark.slow
def test_shard_writer_and_exact_cap_lose_no_document(tmp_path):
    spacy = pytest.importorskip("spacy")
    from spacy.tokens import Doc, DocBin

    from app.families.spacy_family import capped_corpus
    from app.formats.spacy_docbin import DocBinShards

    vocab = spacy.vocab.Vocab()
    shards = DocBinShards(tmp_path, "train", max_docs=100)
    for i in range(250):
        doc = Doc(vocab, words=[f"w{i}", "mot", "."])
        doc.user_data["doc_id"] = f"d{i}"
        shards.add(doc)
    files = shards.close()
    assert files == ["train/part-0001.spacy", "train/part-0002.spacy", "train/part-0003.spacy"]
    sizes = [len(DocBin().from_disk(tmp_path / f)) for f in files]
    assert sizes == [100, 100, 50]
    ids = [d.user_data["doc_id"] for f in files for d in DocBin(store_user_data=True).from_disk(tmp_path / f)
           .get_docs(vocab)]
    assert ids == [f"d{i}" for i in range(250)]
    # hardware.max_train_docs_spacy: exactly the first N documents, across shard boundaries
    assert capped_corpus(tmp_path / "train", tmp_path / "capped", 150) == 150
    capped = sorted((tmp_path / "capped").iterdir())
    assert [p.name for p in capped] == ["part-0001.spacy", "part-0002.spacy"] and capped[0].is_symlink()
    ids = [d.user_data["doc_id"] for p in capped for d in DocBin(store_user_data=True).from_disk(p).get_docs(vocab)]
    assert ids == [f"d{i}" for i in range(150)]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return heavy_runs(shared_root(tmp_path_factory))


@pytest.mark.slow
def test_prepared_formats_from_the_cli_lose_no_document(runs):
    from spacy.tokens import DocBin
    from spacy.vocab import Vocab

    prepared = runs["pipeline"].prepared
    meta_formats = json.loads((prepared / "meta_formats.json").read_text())
    assert set(meta_formats) == {"tsv", "spacy", "hf_jsonl"}
    for fmt, splits in meta_formats.items():
        for split, files in splits.items():
            assert files and all((prepared / f).is_file() for f in files), (fmt, split)
    read = lambda split: pd.read_csv(prepared / f"{split}.tsv", sep="\t", dtype=str, keep_default_na=False)
    labels = json.loads((prepared / "meta_view.json").read_text())["labels"]
    vocab = Vocab()
    docs = {}
    for split, files in meta_formats["spacy"].items():
        assert all(len(DocBin().from_disk(prepared / f)) <= SHARD_DOCS for f in files)
        docs[split] = [d for f in files for d in DocBin(store_user_data=True).from_disk(prepared / f).get_docs(vocab)]
    assert len(meta_formats["spacy"]["train"]) >= 4  # ~300 train docs in shards of 64
    train, job = read("train"), read("job")
    for split, frame in (("train", train), ("job", job)):
        expected = Counter(zip(frame["doc_id"], frame["text"], frame["label"]))
        got = Counter((d.user_data["doc_id"], d.text, max(d.cats, key=d.cats.get))
                      for s in ((["train", "dev"]) if split == "train" else ["job"]) for d in docs[s])
        assert got == expected, split  # texts round-trip exactly; no document lost or added
    for d in docs["train"][:20] + docs["job"][:20]:
        assert sorted(d.cats) == labels and sorted(d.cats.values()) == [0.0] * (len(labels) - 1) + [1.0]
    assert not {d.text for d in docs["dev"]} & {d.text for d in docs["train"]}
    # HF JSONL: every document, train in stratified prefix order
    rows = {s: [json.loads(line) for line in open(prepared / "hf_jsonl" / f"{s}.jsonl", encoding="utf-8")]
            for s in ("train", "job")}
    assert Counter((r["doc_id"], r["text"], r["label"]) for r in rows["train"]) == Counter(
        zip(train["doc_id"], train["text"], train["label"]))
    assert [r["doc_id"] for r in rows["job"]] == job["doc_id"].tolist()
    first = Counter(r["label"] for r in rows["train"][:100])
    share = train["label"].value_counts(normalize=True)
    assert all(abs(first[lab] - 100 * share[lab]) <= 1 for lab in share.index)


@pytest.mark.slow
def test_formats_are_part_of_the_prepared_cache(runs):
    log = (runs["evaluate"].run_dir / "app.log").read_text()
    assert "format spacy: reusing" in log and "format hf_jsonl: reusing" in log
    assert runs["evaluate"].prepared == runs["train"].prepared
