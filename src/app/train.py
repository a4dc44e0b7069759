"""Stage train: every selected model, each into its own content-keyed cache folder."""

import json
import logging
import time
from pathlib import Path

from omegaconf import DictConfig

from app.cache import build_once, write_json
from app.families.base import RunContext
from app.models import SelectedModel, max_train_docs, model_dir
from app.prepared import PreparedData
from app.progress import elapsed_bar, peak_rss_mb, reset_peak_rss

log = logging.getLogger(__name__)


def run_context(cfg: DictConfig, prepared: PreparedData, family: str) -> RunContext:
    meta = prepared.meta
    return RunContext(
        seed=cfg.seed,
        threads=cfg.hardware.threads,
        max_train_docs=max_train_docs(cfg, family),
        balance_strategy=meta["balance"]["strategy"],
        class_weights=meta["balance"].get("class_weights"),
        labels=meta["labels"],
        progress=cfg.progress,
        cfg=cfg,
    )


# peaks seen before a reset of the kernel counter, so the run's own peak stays exact (run_record.py)
RUN_PEAK_MB = [0.0]


def train_models(cfg: DictConfig, prepared: PreparedData, models: list[SelectedModel]) -> list[dict]:
    results = []
    for model in models:
        spec, family = model.spec, model.family
        folder = model_dir(cfg, prepared, model)
        ctx = run_context(cfg, prepared, spec.family)

        def build(tmp: Path) -> None:
            log.info("training %s/%s on %s", spec.family, spec.model_id, prepared.dir.name)
            # the run's peak so far is kept in run.json; here the counter restarts for this model alone
            run_peak = peak_rss_mb()
            reset_peak_rss()
            t0 = time.perf_counter()
            with elapsed_bar(f"train {spec.family}/{spec.model_id}", cfg.progress and not family.reports_progress):
                facts = family.train(spec, prepared, tmp, ctx)
            seconds = time.perf_counter() - t0
            model_peak = peak_rss_mb()
            RUN_PEAK_MB[0] = max(RUN_PEAK_MB[0], run_peak, model_peak)
            write_json(
                tmp / "meta_model.json",
                {
                    "family": spec.family,
                    "model_id": spec.model_id,
                    "description": spec.description,
                    "params": spec.params,
                    "resource_class": family.resource_class,
                    "dataset_id": prepared.meta["dataset_id"],
                    "view": prepared.meta["view"],
                    "prepared_dir": str(prepared.dir),
                    "seed": cfg.seed,
                    "max_train_docs": ctx.max_train_docs,
                    "train_seconds": round(seconds, 3),
                    "train_peak_rss_mb": model_peak,
                    **facts,
                },
            )
            log.info("trained %s/%s in %.1f s", spec.family, spec.model_id, seconds)

        reused = build_once(folder, build, f"model {spec.family}/{spec.model_id}")
        meta = json.loads((folder / "meta_model.json").read_text(encoding="utf-8"))
        results.append({**_summary(meta, folder), "reused": reused})
    return results


def _summary(meta: dict, folder: Path) -> dict:
    keys = ("family", "model_id", "resource_class", "train_seconds", "train_peak_rss_mb", "n_train")
    return {**{k: meta.get(k) for k in keys}, "model_dir": str(folder)}
