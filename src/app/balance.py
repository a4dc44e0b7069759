"""Step 4 — balance: resample the *train* split only (the job split is never passed here).

A strategy returns a multiplicity per train document (0 = left out, 2 = written twice, …), so the
writer can stream texts once without holding them in memory.
"""

import numpy as np

from app.errors import UserError

STRATEGIES = ("none", "oversample", "undersample", "cap_docs", "cap_tokens", "alpha_total", "class_weights")


def balance_train(labels: np.ndarray, n_words: np.ndarray, cfg, seed: int) -> tuple[np.ndarray, dict]:
    strategy = cfg.strategy
    if strategy not in STRATEGIES:
        raise UserError(f"balance.strategy={strategy!r} is unknown; choose one of: {', '.join(STRATEGIES)}")
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    mult = np.ones(len(labels), dtype=np.int64)
    info: dict = {"strategy": strategy}

    if strategy == "oversample":
        target = counts.max()
        for cls in classes:
            idx = np.flatnonzero(labels == cls)
            extra = rng.choice(idx, size=target - len(idx), replace=True)
            np.add.at(mult, extra, 1)
    elif strategy == "undersample":
        _keep_at_most(mult, labels, classes, {c: counts.min() for c in classes}, rng)
    elif strategy == "cap_docs":
        cap = _positive(cfg.cap_docs, "balance.cap_docs")
        _keep_at_most(mult, labels, classes, {c: cap for c in classes}, rng)
    elif strategy == "cap_tokens":
        cap = _positive(cfg.cap_tokens, "balance.cap_tokens")
        for cls in classes:
            idx = rng.permutation(np.flatnonzero(labels == cls))
            within = np.cumsum(n_words[idx]) <= cap
            within[0] = True  # every class keeps at least one document
            mult[idx[~within]] = 0
    elif strategy == "alpha_total":
        if cfg.alpha < 0:
            raise UserError(f"balance.alpha={cfg.alpha} must be ≥ 0")
        total = int(cfg.total) if cfg.total else int(counts.sum())
        weights = counts.astype(float) ** float(cfg.alpha)
        targets = np.maximum(1, np.round(total * weights / weights.sum())).astype(int)
        for cls, target in zip(classes, targets):
            idx = np.flatnonzero(labels == cls)
            if target <= len(idx):
                _keep_at_most(mult, labels, [cls], {cls: target}, rng)
            else:
                np.add.at(mult, rng.choice(idx, size=target - len(idx), replace=True), 1)
    elif strategy == "class_weights":
        # sklearn's "balanced" formula, recorded so every family uses the same weights
        info["class_weights"] = {str(c): round(float(len(labels) / (len(classes) * n)), 6) for c, n in zip(classes, counts)}

    after = {str(c): int(mult[labels == c].sum()) for c in classes}
    info["train_before"] = {str(c): int(n) for c, n in zip(classes, counts)}
    info["train_after"] = after
    info["n_train_before"] = int(counts.sum())
    info["n_train_after"] = int(sum(after.values()))
    info["duplicated_rows"] = int(np.clip(mult - 1, 0, None).sum())
    info["removed_rows"] = int((mult == 0).sum())
    return mult, info


def _keep_at_most(mult, labels, classes, caps, rng) -> None:
    for cls in classes:
        idx = np.flatnonzero(labels == cls)
        if len(idx) > caps[cls]:
            drop = rng.choice(idx, size=len(idx) - int(caps[cls]), replace=False)
            mult[drop] = 0


def _positive(value, key: str) -> int:
    if value is None or int(value) <= 0:
        raise UserError(f"{key} must be a positive integer (got {value!r})")
    return int(value)
