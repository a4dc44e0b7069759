"""The four core stages (prepare, train, evaluate, pipeline) and the run record they share.

Each stage re-derives what it needs from the configuration (prepared folder and model folders are
content-keyed), so `stage=prepare`, `stage=train`, `stage=evaluate` run one after another give the
same metrics as `stage=pipeline`.
"""

import logging

from omegaconf import DictConfig

from app.models import selected_models
from app.prepare import prepare_dataset
from app.prepared import PreparedData
from app.run_record import RunRecord
from app.train import train_models

log = logging.getLogger(__name__)


def _formats(models) -> set[str]:
    return {fmt for m in models for fmt in m.family.formats}


def _prepare(cfg: DictConfig, rec: RunRecord, models) -> PreparedData:
    with rec.timed("prepare"):
        prepared = prepare_dataset(cfg, _formats(models))
    rec.data["prepared_dir"] = str(prepared.dir)
    return prepared


def _eval_prepared(cfg: DictConfig, rec: RunRecord, models, prepared: PreparedData) -> PreparedData:
    if not cfg.eval_dataset_id or cfg.eval_dataset_id == cfg.dataset_id:
        return prepared
    from app.eval_dataset import compose_eval_config

    eval_cfg = compose_eval_config(cfg)
    with rec.timed("prepare_eval"):
        eval_prepared = prepare_dataset(eval_cfg, _formats(models))
    rec.data["eval_prepared_dir"] = str(eval_prepared.dir)
    return eval_prepared


def run_prepare_stage(cfg: DictConfig):
    with RunRecord(cfg) as rec:
        models = selected_models(cfg)
        prepared = _prepare(cfg, rec, models)
        rec.data["prepared"] = {k: prepared.meta[k] for k in ("labels", "split", "balance")}


def run_train_stage(cfg: DictConfig):
    with RunRecord(cfg) as rec:
        models = selected_models(cfg)
        prepared = _prepare(cfg, rec, models)
        with rec.timed("train"):
            rec.set_models(train_models(cfg, prepared, models))


def run_evaluate_stage(cfg: DictConfig):
    from app.evaluate import evaluate_models

    with RunRecord(cfg) as rec:
        models = selected_models(cfg)
        prepared = _prepare(cfg, rec, models)
        eval_prepared = _eval_prepared(cfg, rec, models, prepared)
        with rec.timed("evaluate"):
            rec.set_models(evaluate_models(cfg, prepared, eval_prepared, models, rec.run_dir))
        return rec.headline()


def run_pipeline_stage(cfg: DictConfig):
    from app.evaluate import evaluate_models

    with RunRecord(cfg) as rec:
        models = selected_models(cfg)
        prepared = _prepare(cfg, rec, models)
        with rec.timed("train"):
            rec.set_models(train_models(cfg, prepared, models))
        eval_prepared = _eval_prepared(cfg, rec, models, prepared)
        with rec.timed("evaluate"):
            rec.set_models(evaluate_models(cfg, prepared, eval_prepared, models, rec.run_dir))
        return rec.headline()
