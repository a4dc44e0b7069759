"""Step 3 — split: train / job, stratified by label, before any balancing.

Two kinds of leakage are closed here: an actor (or any `split.group_by` field) on both sides, and
the same exact text on both sides.  Both become *units* that are assigned whole: connected
components of "same group value" and "same text" links.
"""

from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold, train_test_split

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
    first = np.full(len(unit_ids), -1)
    for doc, unit in enumerate(unit_index):
        if first[unit] < 0:
            first[unit] = doc
    unit_labels = labels[first]
    _check_class_sizes(unit_labels, "actor group" if groups is not None else "document")

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
    """Union-find over documents linked by the same group value or the same text."""
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for keys in (groups, text_keys):
        if keys is None:
            continue
        seen: dict = {}
        for i, key in enumerate(keys):
            if key is None or key == "":
                continue
            j = seen.setdefault(key, i)
            if j != i:
                a, b = find(i), find(j)
                if a != b:
                    parent[b] = a
    return np.array([find(i) for i in range(n)])


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
