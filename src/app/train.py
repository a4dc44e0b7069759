"""Stage train: every selected model, each into its own content-keyed cache folder."""

import json
import logging
import resource
import time
from pathlib import Path

from omegaconf import DictConfig

from app.cache import build_once, write_json
from app.families.base import RunContext
from app.models import SelectedModel, max_train_docs, model_dir
from app.prepared import PreparedData

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


def peak_rss_mb() -> float:
    # ru_maxrss is in KiB on Linux: the process's peak so far
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def train_models(cfg: DictConfig, prepared: PreparedData, models: list[SelectedModel]) -> list[dict]:
    results = []
    for model in models:
        spec, family = model.spec, model.family
        folder = model_dir(cfg, prepared, model)
        ctx = run_context(cfg, prepared, spec.family)

        def build(tmp: Path) -> None:
            log.info("training %s/%s on %s", spec.family, spec.model_id, prepared.dir.name)
            t0 = time.perf_counter()
            facts = family.train(spec, prepared, tmp, ctx)
            seconds = time.perf_counter() - t0
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
                    "train_peak_rss_mb": peak_rss_mb(),
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
