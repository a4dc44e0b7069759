"""Sweeper jobs -> runs: repeats, seeds, resource class and RAM estimate of each run.

Hydra's sweeper expands the grid (the axes in `hydra.sweeper.params` or on the command line); each
of its jobs becomes `repeats` runs here, each with `seed=<...>` (when a seed strategy is set) and
`repeat=<i>` (when repeats > 1) added to its overrides, so an experiment file needs no loop.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Sequence

from omegaconf import DictConfig, OmegaConf

from app.orchestrator.errors import SuperiorError
from app.orchestrator.settings import LauncherSettings

CHECK_FAMILY = "check"  # runs in every ideolab run, besides the models it names


@dataclass
class RunSpec:
    run_index: int
    combo: int  # which sweeper job (combination of axis values) the run repeats
    repeat: int
    seed: int | None
    job_overrides: list[str]  # from the sweeper
    extra_overrides: list[str]  # seed=..., repeat=... added by the launcher
    axis_values: dict[str, str]
    families: list[str]
    resource_class: str
    est_ram_mb: float
    weight: float
    plan_status: str = "to_run"  # to_run | skip_resume | beyond_max_runs
    config: Any = field(default=None, repr=False, compare=False)  # composed sweep config

    @property
    def run_id(self) -> str:
        return f"run_{self.run_index:04d}"

    @property
    def overrides(self) -> list[str]:
        return [*self.job_overrides, *self.extra_overrides]

    @property
    def key(self) -> str:
        """The run's identity across sessions: its overrides, order aside."""
        return run_key(self.overrides)

    @property
    def combo_key(self) -> str:
        return run_key(self.job_overrides)

    def plan_row(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id, "run_index": self.run_index, "combo": self.combo, "repeat": self.repeat,
            "seed": self.seed, "resource_class": self.resource_class, "est_ram_mb": round(self.est_ram_mb),
            "weight": self.weight, "plan_status": self.plan_status, "axis_values": self.axis_values,
            "overrides": self.overrides,
        }


def run_key(overrides: Sequence[str]) -> str:
    """`repeat=0` is the app's default: a sweep resumed with more repeats finds its first runs."""
    return json.dumps(sorted(o for o in overrides if o != "repeat=0"), ensure_ascii=False)


def override_key_value(override: str) -> tuple[str, str]:
    key, _, value = override.partition("=")
    return key.lstrip("+~"), value


def axis_values_of(batch: Sequence[Sequence[str]]) -> list[dict[str, str]]:
    """Per job, the overrides whose value differs between jobs of the batch (the grid's axes)."""
    parsed = [dict(override_key_value(o) for o in job) for job in batch]
    keys: list[str] = []
    for d in parsed:
        keys.extend(k for k in d if k not in keys)
    axes = [k for k in keys if len({d.get(k) for d in parsed}) > 1]
    return [{k: d.get(k, "") for k in axes} for d in parsed]


def seed_for(seed_strategy: str | None, base_seed: int, run_index: int, repeat: int) -> int | None:
    """The seed of a run under `seed_strategy` (shared with hydra/launcher=slurm|slurm_local)."""
    if seed_strategy is None:
        return None
    if seed_strategy == "fixed":
        return base_seed
    if seed_strategy == "per_run":
        return base_seed + run_index
    return base_seed + repeat  # per_repeat


def extra_overrides_for(seed: int | None, repeat: int, repeats: int) -> list[str]:
    """The overrides the launcher adds to a sweeper job: seed= (if any), repeat= (if repeats > 1)."""
    extra = []
    if seed is not None:
        extra.append(f"seed={seed}")
    if repeats > 1:
        extra.append(f"repeat={repeat}")
    return extra


def families_of(cfg: DictConfig) -> list[str]:
    """Model families the composed config trains (empty for a config without `models`)."""
    models = OmegaConf.select(cfg, "models", default=None)
    if not isinstance(models, DictConfig):
        return []
    fams: list[str] = []
    for model_id in models:
        fam = OmegaConf.select(models[model_id], "family", default=None) if isinstance(models[model_id], DictConfig) else None
        if fam is None:
            raise SuperiorError(f"models.{model_id} names no family")
        if fam not in fams:
            fams.append(str(fam))
    if CHECK_FAMILY not in fams:
        fams.insert(0, CHECK_FAMILY)
    return fams


def resource_class_of(families: list[str], settings: LauncherSettings, where: str = "") -> str:
    if not families:
        return settings.default_resource_class
    classes = []
    for fam in families:
        if fam not in settings.resource_classes:
            raise SuperiorError(
                f"model family {fam!r}{where} has no resource class: add "
                f"hydra.launcher.resource_classes.{fam}=<light|heavy|...>"
            )
        classes.append(settings.resource_classes[fam])
    for c in classes:
        if c not in settings.approx_ram_per_class:
            raise SuperiorError(
                f"resource class {c!r}{where} has no RAM estimate: add hydra.launcher.approx_ram_per_class.{c}=<GB>"
            )
    return max(classes, key=lambda c: (settings.estimate_mb(c), settings.weight(c)))


def seed_axis_conflict(job_overrides: Sequence[str], seed_strategy: str | None, repeats: int) -> tuple[str, str] | None:
    """The launcher adds seed= and repeat=; an axis over the same key would be silently replaced:
    the first override of the job that would be, and its key (None if there is none)."""
    for o in job_overrides:
        key = override_key_value(o)[0]
        if (key == "seed" and seed_strategy is not None) or (key == "repeat" and repeats > 1):
            return o, key
    return None


def check_seed_axis(job_overrides: Sequence[str], seed_strategy: str | None, repeats: int) -> None:
    conflict = seed_axis_conflict(job_overrides, seed_strategy, repeats)
    if conflict is not None:
        o, key = conflict
        raise SuperiorError(
            f"the override {o!r} conflicts with the launcher's repeats/seed_strategy, which set "
            f"{key} themselves: drop one of them"
        )


class ConfigCache:
    """Composes the runs' configs, deriving them from an earlier one where that is exact.

    Composition is most of the planning time (0.1-0.5 s per run for ideolab).  Runs that differ from
    an already composed run only in the values of plain keys (`seed=`, `repeat=`, `train_prop=`...:
    no config group, no `+`/`~`, scalar values, every key already in the config), all their other
    overrides being the same, get a copy of it with those values set, and `hydra.overrides.task` and
    `hydra.job.override_dirname` as Hydra would set them.  A new group choice (`dataset=`,
    `model=`...) composes.
    """

    def __init__(self, compose: Any, repository: Any = None) -> None:
        from hydra.core.override_parser.overrides_parser import OverridesParser

        self.compose = compose
        self.repository = repository
        self.parser = OverridesParser.create()
        self.templates: dict[Any, DictConfig] = {}
        self.derived = 0
        self.composed = 0
        self._groups: dict[str, bool] = {}

    def is_group(self, key: str) -> bool:
        if key not in self._groups:
            self._groups[key] = bool(self.repository.group_exists(key))
        return self._groups[key]

    def _is_value(self, o: Any) -> bool:
        """A plain `key=scalar` change of a key that is not a config group."""
        return (o.package is None and not (o.is_delete() or o.is_add() or o.is_force_add() or o.is_sweep_override())
                and not self.is_group(o.key_or_group) and isinstance(o.value(), (str, int, float, bool, type(None))))

    def _signature(self, parsed: list) -> Any:
        """Runs with the same signature differ only in the values of the same plain keys: every
        other override (group choice, `+`, `~`, ...) is part of the signature, word for word."""
        if self.repository is None:
            return None
        fixed = sorted(o.input_line for o in parsed if not self._is_value(o))
        keys = sorted(o.key_or_group for o in parsed if self._is_value(o))
        return (tuple(fixed), tuple(keys))

    def get(self, overrides: Sequence[str]) -> DictConfig:
        parsed = self.parser.parse_overrides(list(overrides))
        sig = self._signature(parsed)
        template = self.templates.get(sig) if sig is not None else None
        values = [o for o in parsed if sig is not None and self._is_value(o)]
        if template is not None and all(OmegaConf.select(template, o.key_or_group, default=_ABSENT) is not _ABSENT
                                        for o in values):
            self.derived += 1
            return derive_config(template, parsed, values)
        cfg = self.compose(list(overrides))
        self.composed += 1
        if sig is not None and sig not in self.templates:
            self.templates[sig] = cfg
        return cfg


_ABSENT = object()


def derive_config(base_cfg: DictConfig, parsed: list, values: list) -> DictConfig:
    """A copy of base_cfg with these value overrides applied as Hydra applies them."""
    import copy

    from hydra._internal.config_loader_impl import get_overrides_dirname
    from omegaconf import read_write

    cfg = copy.deepcopy(base_cfg)
    with read_write(cfg):
        for o in values:
            OmegaConf.update(cfg, o.key_or_group, o.value(), merge=True)
        od = cfg.hydra.job.config.override_dirname
        cfg.hydra.overrides.task = [o.input_line for o in parsed]
        cfg.hydra.job.override_dirname = get_overrides_dirname(
            overrides=parsed, kv_sep=od.kv_sep, item_sep=od.item_sep, exclude_keys=od.exclude_keys
        )
    return cfg
