"""The launcher's settings as plain dataclasses, and the checks that run before anything starts.

The schema users see is `hydra_plugins/superior_launcher/config.py` (Hydra checks key names and
types); this module checks the values.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, fields
from typing import Any

from app.orchestrator.errors import SuperiorError

ON_OOM = ("skip", "backoff", "stop")
SEED_STRATEGIES = (None, "fixed", "per_run", "per_repeat")
START_METHODS = ("forkserver", "spawn")


@dataclass
class Safety:
    enable_hard_ram_limit: bool = False
    hard_limit_mb: int | None = None
    poll_interval_s: float = 0.1
    kill_grace_s: float = 0.5


@dataclass
class OomPolicy:
    on_oom: str = "skip"
    backoff_factor: float = 0.5
    max_retries: int = 2
    null_cap_docs: int = 20000


@dataclass
class EarlyStop:
    enabled: bool = False
    min_accuracy: float = 0.0
    min_macro_f1: float = 0.0
    apply_to_families: list[str] | None = field(default_factory=lambda: ["sklearn", "spacy", "hf"])
    prune: bool = False


@dataclass
class LauncherSettings:
    parallel: int = 1
    max_ram_gb: float | None = None
    max_weight: float | None = None
    resource_classes: dict[str, str] = field(
        default_factory=lambda: {"check": "light", "sklearn": "light", "spacy": "heavy", "hf": "heavy"}
    )
    default_resource_class: str = "light"
    weights: dict[str, float] = field(default_factory=lambda: {"light": 1.0, "medium": 2.0, "heavy": 4.0})
    approx_ram_per_class: dict[str, float] = field(default_factory=lambda: {"light": 1.0, "medium": 3.0, "heavy": 6.0})
    update_estimates: bool = True
    repeats: int = 1
    seed_strategy: str | None = None
    base_seed: int = 42
    safety: Safety = field(default_factory=Safety)
    oom_policy: OomPolicy = field(default_factory=OomPolicy)
    early_stop: EarlyStop = field(default_factory=EarlyStop)
    dry_run: bool = False
    resume: bool = False
    max_runs: int | None = None
    start_method: str = "forkserver"
    preload: list[str] = field(default_factory=list)
    preload_auto: bool = True
    progress: bool = True
    fail_sweep: bool = True

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> LauncherSettings:
        nested = {"safety": Safety, "oom_policy": OomPolicy, "early_stop": EarlyStop}
        known = {f.name for f in fields(cls)}
        kwargs: dict[str, Any] = {}
        for key, value in params.items():
            if key.startswith("_") or key not in known:
                continue  # _target_; Hydra's schema already rejects unknown keys
            if key in nested:
                sub = nested[key]
                sub_known = {f.name for f in fields(sub)}
                value = sub(**{k: v for k, v in dict(value or {}).items() if k in sub_known})
            elif key in ("resource_classes", "weights", "approx_ram_per_class"):
                value = dict(value or {})
            elif key == "preload":
                value = list(value or [])
            kwargs[key] = value
        return cls(**kwargs)

    # ---- checks -------------------------------------------------------------------------------

    def validate(self) -> None:
        """Raise SuperiorError naming the key at fault (bad input: nothing has started yet)."""

        def bad(key: str, why: str) -> None:
            raise SuperiorError(f"hydra.launcher.{key}: {why}")

        if not isinstance(self.parallel, int) or self.parallel < 1:
            bad("parallel", f"must be an integer >= 1, got {self.parallel!r}")
        if self.max_ram_gb is not None and not self.max_ram_gb > 0:
            bad("max_ram_gb", f"the RAM budget must be positive (or null for none), got {self.max_ram_gb!r}")
        if self.max_weight is not None and not self.max_weight > 0:
            bad("max_weight", f"must be positive (or null for none), got {self.max_weight!r}")
        if self.repeats < 1:
            bad("repeats", f"must be >= 1, got {self.repeats!r}")
        if self.seed_strategy not in SEED_STRATEGIES:
            bad("seed_strategy", f"{self.seed_strategy!r} is unknown; choose fixed, per_run, per_repeat or null")
        if self.max_runs is not None and self.max_runs < 0:
            bad("max_runs", f"must be >= 0 (or null), got {self.max_runs!r}")
        if self.start_method not in START_METHODS:
            bad("start_method", f"{self.start_method!r} is unknown; choose {' or '.join(START_METHODS)}")
        if self.start_method == "forkserver" and not hasattr(__import__("os"), "fork"):
            self.start_method = "spawn"  # no fork on this platform
        if not sys.platform.startswith("linux") and self.start_method == "forkserver":
            self.start_method = "spawn"  # the fork server relies on Linux (prctl, wait4 semantics)
        for cls_name, gb in self.approx_ram_per_class.items():
            if gb is None or not gb > 0:
                bad(f"approx_ram_per_class.{cls_name}", f"must be a positive number of GB, got {gb!r}")
        for cls_name in self.classes_named():
            if cls_name not in self.approx_ram_per_class:
                bad(
                    "approx_ram_per_class",
                    f"resource class {cls_name!r} has no RAM estimate "
                    f"(known: {', '.join(sorted(self.approx_ram_per_class)) or 'none'}); add "
                    f"hydra.launcher.approx_ram_per_class.{cls_name}=<GB>",
                )
            if self.max_weight is not None and cls_name not in self.weights:
                bad("weights", f"resource class {cls_name!r} has no weight while max_weight is set")
        for cls_name, w in self.weights.items():
            if w is None or w < 0:
                bad(f"weights.{cls_name}", f"must be >= 0, got {w!r}")
        s = self.safety
        if s.enable_hard_ram_limit:
            if s.hard_limit_mb is None or not s.hard_limit_mb > 0:
                bad("safety.hard_limit_mb", f"must be a positive number of MB when the hard limit is enabled, got {s.hard_limit_mb!r}")
        if not s.poll_interval_s > 0:
            bad("safety.poll_interval_s", f"must be positive, got {s.poll_interval_s!r}")
        if s.kill_grace_s < 0 or s.kill_grace_s > 0.9:
            bad("safety.kill_grace_s", f"must be between 0 and 0.9 s (a run is stopped within a second), got {s.kill_grace_s!r}")
        o = self.oom_policy
        if o.on_oom not in ON_OOM:
            bad("oom_policy.on_oom", f"{o.on_oom!r} is unknown; choose {', '.join(ON_OOM)}")
        if not 0 < o.backoff_factor < 1:
            bad("oom_policy.backoff_factor", f"must be between 0 and 1 (exclusive), got {o.backoff_factor!r}")
        if o.max_retries < 0:
            bad("oom_policy.max_retries", f"must be >= 0, got {o.max_retries!r}")
        if o.null_cap_docs < 1:
            bad("oom_policy.null_cap_docs", f"must be >= 1, got {o.null_cap_docs!r}")
        e = self.early_stop
        for key in ("min_accuracy", "min_macro_f1"):
            v = getattr(e, key)
            if not 0 <= v <= 1:
                bad(f"early_stop.{key}", f"must be between 0 and 1, got {v!r}")

    def classes_named(self) -> list[str]:
        """Every resource class the settings can give a run."""
        names = [self.default_resource_class, *self.resource_classes.values()]
        return list(dict.fromkeys(names))

    # ---- derived values ------------------------------------------------------------------------

    def budget_mb(self) -> float | None:
        return None if self.max_ram_gb is None else self.max_ram_gb * 1024.0

    def estimate_mb(self, resource_class: str) -> float:
        return float(self.approx_ram_per_class[resource_class]) * 1024.0

    def weight(self, resource_class: str) -> float:
        return float(self.weights.get(resource_class, 1.0))
