"""`oom_policy` backoff caps and `early_stop` quality checks (V5.5 §8.5, §8.6, made real).

Both read what a run leaves in its job folder, `run.json` (see docs/architecture.md): its `models`
list ({family, model_id, metrics_path, accuracy, macro_f1, ...}) and, when the app records it, the
size of its train split (`n_train`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from app.orchestrator.settings import EarlyStop, OomPolicy

CAP_PREFIX = "max_train_docs_"
TRAIN_SIZE_KEYS = ("n_train", "train_docs", "n_train_docs")


def read_run_json(job_dir: Path | None) -> dict[str, Any] | None:
    if job_dir is None:
        return None
    path = Path(job_dir) / "run.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def train_size_of(run_json: dict[str, Any] | None) -> int | None:
    """The run's train split size, from run.json (top level, else the largest of its models')."""
    if not run_json:
        return None
    sizes = [run_json.get(k) for k in TRAIN_SIZE_KEYS]
    sizes += [m.get(k) for m in run_json.get("models") or [] if isinstance(m, dict) for k in TRAIN_SIZE_KEYS]
    sizes = [v for v in sizes if isinstance(v, int) and v > 0]
    return max(sizes) if sizes else None


def backoff_caps(cfg: DictConfig, policy: OomPolicy, run_json: dict[str, Any] | None) -> list[str] | None:
    """Overrides that multiply every `hardware.max_train_docs_*` by the backoff factor.

    A null cap (no cap) has no number to multiply: it starts from the run's train size when the
    run recorded it (`n_train` in run.json), else from `oom_policy.null_cap_docs`.  None when the
    config has no such caps (nothing to back off).
    """
    hardware = OmegaConf.select(cfg, "hardware", default=None)
    if not isinstance(hardware, DictConfig):
        return None
    keys = [str(k) for k in hardware if str(k).startswith(CAP_PREFIX)]
    if not keys:
        return None
    n_train = train_size_of(run_json)
    caps = []
    for key in keys:
        value = hardware[key]
        base = int(value) if value is not None else (n_train or policy.null_cap_docs)
        caps.append(f"hardware.{key}={max(1, int(base * policy.backoff_factor))}")
    return caps


@dataclass
class Quality:
    ok: bool | None = None  # None: not checked (disabled, no run.json, no model of the families)
    flags: str = ""
    metrics_paths: list[str] = field(default_factory=list)
    low_models: list[dict[str, Any]] = field(default_factory=list)


def _metric(model: dict[str, Any], name: str) -> float | None:
    value = model.get(name)
    if value is None and model.get("metrics_path"):
        try:
            value = json.loads(Path(model["metrics_path"]).read_text(encoding="utf-8")).get(name)
        except (OSError, ValueError, AttributeError):
            value = None
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def check_quality(run_json: dict[str, Any] | None, early_stop: EarlyStop) -> Quality:
    q = Quality()
    if not run_json:
        return q
    models = [m for m in run_json.get("models") or [] if isinstance(m, dict)]
    q.metrics_paths = [str(m["metrics_path"]) for m in models if m.get("metrics_path")]
    if not early_stop.enabled:
        return q
    families = early_stop.apply_to_families
    checked = False
    flags = []
    for m in models:
        if families is not None and m.get("family") not in families:
            continue
        acc, f1 = _metric(m, "accuracy"), _metric(m, "macro_f1")
        if acc is None and f1 is None:
            continue
        checked = True
        if acc is not None and f1 is not None and acc < early_stop.min_accuracy and f1 < early_stop.min_macro_f1:
            flags.append(f"{m.get('model_id', m.get('family'))}:low_accuracy,low_macro_f1")
            q.low_models.append({"model_id": m.get("model_id"), "family": m.get("family"), "accuracy": acc, "macro_f1": f1})
    if checked:
        q.ok = not flags
        q.flags = ";".join(flags)
    return q
