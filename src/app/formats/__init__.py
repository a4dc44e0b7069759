"""Extra prepared formats (spaCy DocBin shards, Hugging Face JSONL), written at prepare time.

Each writer is `write_<fmt>_format(prepared, out_dir, cfg) -> {split: [paths relative to out_dir]}`,
registered in `app.write_formats.FORMAT_WRITERS` and run once per prepared folder (`build_once`).
Writers import their heavy libraries themselves: this package must stay cheap to import.

Train files are written in a *stratified prefix order*: any prefix of the train file is (close to) a
stratified sample of the train split.  A family capped by `hardware.max_train_docs_<family>` takes the
first N documents and gets the same stratified subsample that `cap_train` would give the TSV families,
without reading the whole split.
"""

from collections.abc import Sequence

import numpy as np


def dataset_language(cfg) -> str:
    """The language of the dataset's corpora (`corpora.<id>.language`); "xx" when they differ."""
    if cfg is None:
        return "xx"
    langs = {str(cfg.corpora[cid].get("language") or "xx") for cid in cfg.data.corpus_ids if cid in cfg.corpora}
    return langs.pop() if len(langs) == 1 else "xx"


def stratified_prefix_order(labels: Sequence[str], seed: int) -> np.ndarray:
    """A permutation of range(len(labels)) whose every prefix keeps the label shares.

    Each class is shuffled on its own; its i-th document gets the key (i + u) / n_class (u uniform in
    [0, 1)), and documents are sorted by key: the first N hold about N * share of every class.
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    keys = np.empty(len(labels), dtype=np.float64)
    for cls in sorted(set(labels.tolist())):
        idx = np.flatnonzero(labels == cls)
        idx = idx[rng.permutation(len(idx))]
        keys[idx] = (np.arange(len(idx)) + rng.random(len(idx))) / len(idx)
    return np.argsort(keys, kind="stable")
