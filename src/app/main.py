"""Stage dispatch: one function per `stage=…`, imported lazily so heavy libraries load only when used."""

import importlib
import logging
import os
import sys

from omegaconf import DictConfig

from app.errors import UserError

log = logging.getLogger(__name__)

# stage -> "module:function"; each function takes the composed config
STAGES = {
    "prepare": "app.pipeline:run_prepare_stage",
    "train": "app.pipeline:run_train_stage",
    "evaluate": "app.pipeline:run_evaluate_stage",
    "pipeline": "app.pipeline:run_pipeline_stage",
    "skeleton": "app.ideology.skeleton:run_skeleton_stage",
    "derive_views": "app.ideology.derive_views:run_derive_views_stage",
    "report": "app.reporting.stage:run_report_stage",
}


def run_stage(cfg: DictConfig):
    stage = cfg.stage
    if stage not in STAGES:
        _fail(f"stage={stage!r} is unknown; choose one of: {', '.join(STAGES)}")
    module_name, func_name = STAGES[stage].split(":")
    try:
        func = getattr(importlib.import_module(module_name), func_name)
        return func(cfg)
    except UserError as err:
        if os.environ.get("HYDRA_FULL_ERROR") == "1" or _in_sweep():
            # in a sweep the launcher records this run as failed and goes on with the others
            log.error(str(err))
            raise
        _fail(str(err))


def _in_sweep() -> bool:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def _fail(message: str) -> None:
    log.error(message)
    print(f"ideolab: error: {message}", file=sys.stderr)
    # exit status 2 = bad input, like argparse; SystemExit passes through Hydra without a traceback
    sys.exit(2)
