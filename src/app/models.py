"""Which models a run trains, and where each trained model lives in the cache."""

from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from app.cache import fingerprint
from app.families import get_family
from app.families.base import Family, ModelSpec
from app.paths import safe_id
from app.prepared import PreparedData

CHECK = ModelSpec(model_id="check_default", family="check", params={}, description="majority-class baseline")


@dataclass
class SelectedModel:
    spec: ModelSpec
    family: Family


def selected_models(cfg: DictConfig) -> list[SelectedModel]:
    """`check` first (always), then every preset in `models`, with `model.*` overrides applied."""
    overrides = {k: v for k, v in OmegaConf.to_container(cfg.model, resolve=True).items() if v is not None}
    specs = [CHECK]
    for model_id, m in cfg.models.items():
        safe_id(model_id, "model")
        params = OmegaConf.to_container(m.params, resolve=True)
        params.update(overrides)
        specs.append(ModelSpec(model_id=model_id, family=m.family, params=params, description=m.description))
    chosen = []
    for spec in specs:
        family = get_family(spec.family, spec.model_id)
        family.validate(spec)
        chosen.append(SelectedModel(spec, family))
    return chosen


def max_train_docs(cfg: DictConfig, family: str) -> int | None:
    return cfg.hardware.get(f"max_train_docs_{family}")


def model_dir(cfg: DictConfig, prepared: PreparedData, model: SelectedModel) -> Path:
    """Keyed by the prepared data and everything that shapes training (not the thread count)."""
    spec = model.spec
    key = fingerprint(
        {
            "prepared": prepared.dir.name,
            "family": spec.family,
            "model_id": spec.model_id,
            "params": spec.params,
            "max_train_docs": max_train_docs(cfg, spec.family),
            "seed": cfg.seed,
        }
    )
    meta = prepared.meta
    return Path(cfg.paths.cache_dir) / "models" / meta["dataset_id"] / meta["view"] / spec.family / spec.model_id / key
