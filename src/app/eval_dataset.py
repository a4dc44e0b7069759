"""`eval_dataset_id`: the other dataset's config, composed with the same settings as this run."""

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import MissingConfigException
from omegaconf import DictConfig

from app.errors import UserError
from app.paths import project_root, safe_id

# overrides that must not carry over: they name the training dataset or the stage
_NOT_CARRIED = {"dataset", "eval_dataset_id", "stage", "profile", "experiment"}


def compose_eval_config(cfg: DictConfig) -> DictConfig:
    eval_id = safe_id(cfg.eval_dataset_id, "eval_dataset_id")
    task_overrides = list(HydraConfig.get().overrides.task)
    kept = [o for o in task_overrides if o.split("=", 1)[0].lstrip("+~") not in _NOT_CARRIED]
    # profile/experiment choices are kept as group choices so the same view, split and seed apply
    choices = HydraConfig.get().runtime.choices
    for group in ("profile", "experiment"):
        if choices.get(group) not in (None, "null"):
            kept.insert(0, f"{group}={choices[group]}")
    overrides = kept + [f"dataset={eval_id}", "eval_dataset_id=null"]
    if not GlobalHydra.instance().is_initialized():
        initialize_config_dir(config_dir=str(project_root() / "conf"), version_base="1.3")
    try:
        return compose(config_name="config", overrides=overrides)
    except MissingConfigException as err:
        raise UserError(f"eval_dataset_id={eval_id!r} is not a dataset (no conf/dataset/{eval_id}.yaml)") from err
