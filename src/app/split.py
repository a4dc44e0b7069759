"""Step 3 — split: train / job, stratified by label, before any balancing.

Two kinds of leakage are closed here: an actor (or any `split.group_by` field) on both sides, and
the same exact text on both sides.  Both become *units* that are assigned whole: connected
components of "same group value" and "same text" links.
"""

from dataclasses import dataclass

import numpy as np

from app.errors import UserError


@dataclass
class SplitResult:
    is_train: np.ndarray  # bool per document
    n_units: int
    method: str

    def summary(self, labels: np.ndarray) -> dict:
        train_labels, job_labels = labels[self.is_train], labels[~self.is_train]
        return {
            "method": self.method,
            "n_units": int(self.n_units),
            "n_train": int(self.is_train.sum()),
            "n_job": int((~self.is_train).sum()),
            "train_prop_actual": round(float(self.is_train.mean()), 4),
            "train_by_label": _counts(train_labels),
            "job_by_label": _counts(job_labels),
        }


def split_train_job(
    labels: np.ndarray,
    train_prop: float,
    seed: int,
    groups: np.ndarray | None = None,
    text_keys: np.ndarray | None = None,
) -> SplitResult:
    if not 0.0 < train_prop < 1.0:
        raise UserError(f"train_prop={train_prop} must be strictly between 0 and 1")
    units = _units(len(labels), groups, text_keys)
    unit_ids, unit_index = np.unique(units, return_inverse=True)
    # a unit's label for stratification: the label of its first document
    _, first = np.unique(unit_index, return_index=True)
    unit_labels = labels[first]
    _check_class_sizes(unit_labels, "actor group" if groups is not None else "document")

    # scikit-learn is imported here, not with the module: its import costs seconds, and `stage=prepare`
    # imports it in the background while the files are read (app.prepare)
    from sklearn.model_selection import train_test_split

    if groups is None:
        # every unit is one text (or a set of identical texts): a plain stratified split
        train_units, _ = train_test_split(
            np.arange(len(unit_ids)), train_size=train_prop, stratify=unit_labels, random_state=seed
        )
        is_train_unit = np.zeros(len(unit_ids), dtype=bool)
        is_train_unit[train_units] = True
        method = "stratified"
    else:
        is_train_unit = _grouped(unit_labels, train_prop, seed, len(unit_ids), labels, unit_index)
        method = "stratified_group_kfold"
    return SplitResult(is_train=is_train_unit[unit_index], n_units=len(unit_ids), method=method)


def _grouped(unit_labels, train_prop, seed, n_units, labels, unit_index) -> np.ndarray:
    """StratifiedGroupKFold over documents, units as groups; the fold nearest 1-train_prop is job.

    Group sizes differ, so the job share is only close to 1-train_prop; the actual share is
    recorded in meta_view.json.
    """
    from sklearn.model_selection import StratifiedGroupKFold

    n_splits = max(2, int(round(1.0 / (1.0 - train_prop))))
    smallest = min(np.unique(unit_labels, return_counts=True)[1])
    n_splits = min(n_splits, max(2, int(smallest)))
    cv = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    target = (1.0 - train_prop) * len(labels)
    best = None
    for _, job_idx in cv.split(np.zeros(len(labels)), labels, groups=unit_index):
        gap = abs(len(job_idx) - target)
        if best is None or gap < best[0]:
            best = (gap, job_idx)
    is_train_unit = np.ones(n_units, dtype=bool)
    is_train_unit[np.unique(unit_index[best[1]])] = False
    return is_train_unit


def _units(n: int, groups: np.ndarray | None, text_keys: np.ndarray | None) -> np.ndarray:
    """Documents linked by the same group value or the same text, as units: a unit id per document.

    Union-find where each set's root is its most recently linked document, so a unit id is the index of
    one of its documents (with one kind of link: the last one with that key).  Done with numpy, which a
    crawl of a million pages needs: only documents whose text repeats an earlier one go through the
    Python loop, and only when groups are linked too."""
    parent = np.arange(n)
    if groups is not None:
        valid = np.array([g is not None and g != "" for g in groups], dtype=bool)
        parent = _last_with_same_key(np.asarray(groups), valid)
    if text_keys is not None:
        text_keys = np.asarray(text_keys)
        if groups is None:
            parent = _last_with_same_key(text_keys, np.ones(n, dtype=bool))
        else:
            _, first, inverse = np.unique(text_keys, return_index=True, return_inverse=True)
            first_of = first[inverse]
            for i in np.flatnonzero(first_of != np.arange(n)).tolist():
                a, b = _root(parent, i), _root(parent, int(first_of[i]))
                if a != b:
                    parent[b] = a
    while True:  # every pointer to its root (pointer jumping)
        jumped = parent[parent]
        if np.array_equal(jumped, parent):
            return parent
        parent = jumped


def _last_with_same_key(keys: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Per document, the index of the last document holding the same key (itself if its key is missing)."""
    index = np.arange(len(keys))
    chosen = np.flatnonzero(valid)
    if len(chosen):
        _, inverse = np.unique(keys[chosen], return_inverse=True)
        last = np.zeros(inverse.max() + 1, dtype=np.int64)
        np.maximum.at(last, inverse, chosen)
        index[chosen] = last[inverse]
    return index


def _root(parent: np.ndarray, i: int) -> int:
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = int(parent[i])
    return i


def _check_class_sizes(unit_labels: np.ndarray, what: str) -> None:
    values, counts = np.unique(unit_labels, return_counts=True)
    if len(values) < 2:
        raise UserError(f"only one class ({values[0] if len(values) else 'none'}) after labelling: nothing to classify")
    small = {str(v): int(c) for v, c in zip(values, counts) if c < 2}
    if small:
        detail = ", ".join(f"{k} ({c} {what})" for k, c in small.items())
        raise UserError(f"class too small to split into train and job: {detail}; drop it from the view or add data")


def _counts(values: np.ndarray) -> dict:
    uniq, counts = np.unique(values, return_counts=True)
    return {str(u): int(c) for u, c in zip(uniq, counts)}
