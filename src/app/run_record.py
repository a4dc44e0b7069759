"""`<run dir>/run.json`: what a run used, how long each stage took, its peak RSS, its results.

Written at the end of every run, failed ones included (status `failed` and the error), so the
orchestrator and the report callbacks read one file whatever the launcher.
"""

import logging
import time
from contextlib import contextmanager
from pathlib import Path

from omegaconf import DictConfig

from app.cache import write_json

log = logging.getLogger(__name__)


def current_run_dir() -> Path:
    from hydra.core.hydra_config import HydraConfig

    return Path(HydraConfig.get().runtime.output_dir)


class RunRecord:
    def __init__(self, cfg: DictConfig):
        self.cfg = cfg
        self.run_dir = current_run_dir()
        self.t0 = time.perf_counter()
        self.data: dict = {
            "status": "running",
            "stage": cfg.stage,
            "dataset_id": cfg.dataset_id,
            "eval_dataset_id": cfg.eval_dataset_id or cfg.dataset_id,
            "view": cfg.view.name,
            "balance": cfg.balance.strategy,
            "seed": cfg.seed,
            "repeat": cfg.repeat,
            "train_prop": cfg.train_prop,
            "group_by": cfg.split.group_by,
            "hardware": cfg.hardware.name,
            "durations_s": {},
            "models": [],
        }

    def __enter__(self) -> "RunRecord":
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            self.data["status"] = "success"
        else:
            self.data["status"] = "interrupted" if exc_type is KeyboardInterrupt else "failed"
            self.data["error"] = f"{exc_type.__name__}: {exc}"
        self.data["durations_s"]["total"] = round(time.perf_counter() - self.t0, 3)
        from app.progress import peak_rss_mb
        from app.train import RUN_PEAK_MB

        # VmHWM may have been reset per model (train.py); the run's peak is the max over those spans
        self.data["peak_rss_mb"] = max(peak_rss_mb(), RUN_PEAK_MB[0])
        write_json(self.run_dir / "run.json", self.data)
        return False

    @contextmanager
    def timed(self, stage: str):
        t = time.perf_counter()
        yield
        self.data["durations_s"][stage] = round(time.perf_counter() - t, 3)

    def set_models(self, results: list[dict]) -> None:
        """Merge per-model facts (train, then evaluate) into one entry per model."""
        by_key = {(m["family"], m["model_id"]): m for m in self.data["models"]}
        for r in results:
            by_key.setdefault((r["family"], r["model_id"]), {}).update(r)
        self.data["models"] = list(by_key.values())

    def headline(self) -> float | None:
        """The value Hydra sweepers optimise: macro-F1 of the first non-baseline model."""
        for m in self.data["models"]:
            if m["family"] != "check" and "macro_f1" in m:
                return m["macro_f1"]
        return None
