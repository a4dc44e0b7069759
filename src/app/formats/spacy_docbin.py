"""spaCy format: DocBin shards per split, written once into the prepared folder.

Layout (inside `<prepared>/spacy/`)::

    train/part-0001.spacy …   train split minus the dev slice, in stratified prefix order
    dev/part-0001.spacy …     a held-out slice of the TRAIN split (spaCy keeps `model-best` on it)
    job/part-0001.spacy …     the job split (for `spacy evaluate`; ideolab evaluates from job.tsv)
    info.json                 language, labels, shard size, document counts

Every doc carries `cats` one-hot over the dataset's labels and its `doc_id` in `user_data`.  Docs are
made by a blank, tokenizer-only pipeline of the dataset's language (`spacy.blank`, built once per
process: it costs seconds).

Shard size (documents per `.spacy` file, so that no DocBin grows past spaCy's msgpack limits): the
config key `formats.spacy_shard_docs` when the schema has it, else the environment variable
`IDEOLAB_SPACY_SHARD_DOCS`, else 2,000.  A shard is also closed early once it holds 20 M characters.
The shard size is not part of the prepared-data key: changing it does not rebuild existing shards.
"""

import json
import logging
import os
from collections import Counter
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from app.errors import UserError
from app.formats import dataset_language, stratified_prefix_order

log = logging.getLogger(__name__)

SHARD_DOCS_DEFAULT = 2000
SHARD_DOCS_ENV = "IDEOLAB_SPACY_SHARD_DOCS"
SHARD_MAX_CHARS = 20_000_000
# the dev slice: 10 % of the train split's distinct texts, at most 1,000 documents
DEV_SHARE = 0.1
DEV_MAX_DOCS = 1000

_BLANK: dict = {}


def blank_nlp(lang: str):
    """A tokenizer-only pipeline, cached per process (`spacy.blank("fr")` takes seconds)."""
    if lang not in _BLANK:
        import spacy

        try:
            _BLANK[lang] = spacy.blank(lang)
        except ImportError as err:  # spaCy raises ImportError (E048) for an unknown language code
            raise UserError(f"corpus language {lang!r} is not a language spaCy knows ({err})") from None
    return _BLANK[lang]


def shard_docs(cfg) -> int:
    value = OmegaConf.select(cfg, "formats.spacy_shard_docs", default=None) if cfg is not None else None
    where = "formats.spacy_shard_docs"
    if value is None and os.environ.get(SHARD_DOCS_ENV):
        value, where = os.environ[SHARD_DOCS_ENV], SHARD_DOCS_ENV
    if value is None:
        return SHARD_DOCS_DEFAULT
    try:
        n = int(value)
    except (TypeError, ValueError):
        n = 0
    if n < 1:
        raise UserError(f"{where}={value!r}: the spaCy shard size must be a positive number of documents")
    return n


def split_dev(texts: list[str], labels: list[str], doc_ids: list[str], seed: int,
              groups: list[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the train split kept for training, and rows of the dev slice.

    The slice is drawn among distinct texts, stratified by label — or, when the split is grouped
    (`split.group_by`, e.g. the speaker), among whole groups, so that dev scores unseen speakers like the
    job split does and model-best is not picked on leaked speakers; each label fills its share of the
    slice with groups of its own (`_grouped_dev`), since a slice of one label cannot pick a checkpoint
    (in the 2013 debates one speaker can fill it alone).  Every row with a dev text leaves the training
    rows, so dev never scores a text seen in training; dev keeps one row per document (an oversampled copy
    is the same doc_id), so distinct documents that share a text all stay, none is lost.
    With too few documents for a slice, dev is the training rows themselves (logged).
    """
    first: dict[str, int] = {}
    for i, t in enumerate(texts):
        first.setdefault(t, i)
    unique_rows = np.fromiter(first.values(), dtype=np.int64, count=len(first))
    n_classes = len(set(labels))
    n_dev = max(n_classes, min(DEV_MAX_DOCS, int(round(DEV_SHARE * len(unique_rows)))))
    all_rows = np.arange(len(texts))
    if len(unique_rows) - n_dev < max(n_classes, 2 * n_dev):
        log.warning("train split too small for a dev slice (%d distinct texts): dev = train", len(unique_rows))
        return all_rows, all_rows
    if groups is None:
        order = stratified_prefix_order([labels[i] for i in unique_rows], seed + 1)
        dev_texts = {texts[i] for i in unique_rows[order[:n_dev]]}
    else:
        dev_texts = {texts[i] for i in unique_rows[_grouped_dev(unique_rows, labels, groups, n_dev, seed + 1)]}
    in_dev = np.array([t in dev_texts for t in texts], dtype=bool)
    seen: set[str] = set()
    dev_rows = []
    for i in np.flatnonzero(in_dev):
        if doc_ids[i] not in seen:
            seen.add(doc_ids[i])
            dev_rows.append(i)
    return np.flatnonzero(~in_dev), np.array(dev_rows, dtype=np.int64)


def _grouped_dev(rows: np.ndarray, labels: list[str], groups: list[str], n_dev: int, seed: int) -> np.ndarray:
    """Positions in `rows` of a dev slice of whole groups, about `n_dev` rows with the label mix of `rows`.

    Each label gets its quota of the slice (its share of `rows`), filled with whole groups of that
    majority label in a seeded random order; a group that would overshoot the quota by more than half
    is passed over, unless the label would otherwise get no group at all (then its smallest group, if
    the label keeps another one for training).  scikit-learn's StratifiedGroupKFold does not fit here:
    with a few groups holding hundreds of rows, its folds keep neither the size nor the label mix.
    """
    rng = np.random.default_rng(seed)
    members: dict[str, list[int]] = {}
    row_labels = []
    for pos, i in enumerate(rows.tolist()):
        members.setdefault(groups[i], []).append(pos)
        row_labels.append(labels[i])
    by_label: dict[str, list[str]] = {}
    for name in sorted(members):
        majority = Counter(row_labels[p] for p in members[name]).most_common(1)[0][0]
        by_label.setdefault(majority, []).append(name)
    share = Counter(row_labels)
    chosen: list[int] = []
    for label in sorted(by_label):
        quota = n_dev * share[label] / len(rows)
        names = [by_label[label][k] for k in rng.permutation(len(by_label[label]))]
        taken = 0
        for name in names:
            if taken >= quota:
                break
            if taken + len(members[name]) <= 1.5 * quota:
                chosen += members[name]
                taken += len(members[name])
        if not taken and len(names) > 1:
            chosen += min((members[n] for n in names), key=len)
    return np.array(sorted(chosen), dtype=np.int64)


class DocBinShards:
    """Writes docs into `<folder>/<split>/part-0001.spacy`, `part-0002.spacy`, … of bounded size."""

    def __init__(self, folder: Path, split: str, max_docs: int, max_chars: int = SHARD_MAX_CHARS):
        self.folder, self.split = folder, split
        self.max_docs, self.max_chars = max_docs, max_chars
        (folder / split).mkdir(parents=True, exist_ok=True)
        self.files: list[str] = []
        self.n_docs = 0
        self._bin = None
        self._docs = self._chars = 0

    def add(self, doc) -> None:
        from spacy.tokens import DocBin

        if self._bin is None:
            # ORTH and SPACY are always stored (the text round-trips exactly); no other token attribute
            self._bin = DocBin(attrs=[], store_user_data=True)
        self._bin.add(doc)
        self._docs += 1
        self._chars += len(doc.text)
        self.n_docs += 1
        if self._docs >= self.max_docs or self._chars >= self.max_chars:
            self._flush()

    def _flush(self) -> None:
        if self._bin is None:
            return
        rel = f"{self.split}/part-{len(self.files) + 1:04d}.spacy"
        self._bin.to_disk(self.folder / rel)
        self.files.append(rel)
        self._bin, self._docs, self._chars = None, 0, 0

    def close(self) -> list[str]:
        self._flush()
        return self.files


def write_docs(nlp, folder: Path, split: str, texts, labels, doc_ids, all_labels, max_docs: int) -> list[str]:
    shards = DocBinShards(folder, split, max_docs)
    for doc, label, doc_id in zip(nlp.tokenizer.pipe(texts, batch_size=256), labels, doc_ids):
        doc.cats = {lab: float(lab == label) for lab in all_labels}
        doc.user_data["doc_id"] = doc_id
        shards.add(doc)
    return shards.close()


def write_spacy_format(prepared, out_dir: Path, cfg) -> dict:
    meta = prepared.meta
    all_labels = list(meta["labels"])
    seed = int(meta["split"].get("seed", 0))
    lang = dataset_language(cfg)
    size = shard_docs(cfg)
    nlp = blank_nlp(lang)
    files: dict[str, list[str]] = {}
    counts: dict[str, int] = {}

    train = prepared.read_split("train")
    texts, labels, ids = train["text"].tolist(), train["label"].tolist(), train["doc_id"].tolist()
    group_by = meta["split"].get("group_by")
    groups = None
    if group_by and group_by in train.columns:
        # as prepare does: a document without the grouping value is a group of its own
        groups = [g or f"__doc__{d}" for g, d in zip(train[group_by].tolist(), ids)]
    train_rows, dev_rows = split_dev(texts, labels, ids, seed, groups)
    dev_is_train = len(train_rows) == len(texts)
    # stratified prefix order: the first N training docs are a stratified sample (hardware caps)
    train_rows = train_rows[stratified_prefix_order([labels[i] for i in train_rows], seed)]
    for split, rows in (("train", train_rows), ("dev", dev_rows)):
        files[split] = write_docs(nlp, out_dir, split, (texts[i] for i in rows), [labels[i] for i in rows],
                                  [ids[i] for i in rows], all_labels, size)
        counts[split] = int(len(rows))
    del train, texts
    job = prepared.read_split("job")
    files["job"] = write_docs(nlp, out_dir, "job", job["text"].tolist(), job["label"].tolist(),
                              job["doc_id"].tolist(), all_labels, size)
    counts["job"] = int(len(job))

    info = {
        "lang": lang,
        "labels": all_labels,
        "shard_docs": size,
        "n_docs": counts,
        "dev": {"from": "train", "share": DEV_SHARE, "max_docs": DEV_MAX_DOCS, "grouped_by": group_by if groups else None,
                "dev_is_train": dev_is_train},
        "train_order": "stratified_prefix",
    }
    (out_dir / "info.json").write_text(json.dumps(info, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    log.info("spaCy DocBin shards (%d docs per shard): %s", size,
             ", ".join(f"{s} {counts[s]} docs in {len(files[s])} file(s)" for s in files))
    return files
