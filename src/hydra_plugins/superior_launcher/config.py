# The structured config of `hydra/launcher=superior`, registered in Hydra's ConfigStore like the
# launchers that ship with Hydra (joblib, submitit, ray).  Every key is documented here; the meaning
# of each follows the V5.5 orchestrator (`configs/superior/*.yml`); the full reference is
# src/app/orchestrator/README.md.
# No `from __future__ import annotations`: OmegaConf reads these annotations at run time.
from dataclasses import dataclass, field
from typing import Dict, List, Optional

from hydra.core.config_store import ConfigStore


@dataclass
class SafetyConf:
    # hard per-run limit: the RSS of the run's whole process tree is polled and the run is stopped
    # (SIGTERM to its process group, SIGKILL after kill_grace_s) and recorded `oom` above it
    enable_hard_ram_limit: bool = False
    hard_limit_mb: Optional[int] = None
    poll_interval_s: float = 0.1
    kill_grace_s: float = 0.5


@dataclass
class OomPolicyConf:
    # skip: the remaining runs of the same combination are recorded `skipped_oom`
    # backoff: the run is queued again with every hardware.max_train_docs_* multiplied by
    #          backoff_factor (a null cap starts from the train size the run recorded, else from
    #          null_cap_docs), at most max_retries times; then as `skip`
    # stop: every run not finished is recorded `aborted_oom_policy` and the sweep ends
    on_oom: str = "skip"
    backoff_factor: float = 0.5
    max_retries: int = 2
    null_cap_docs: int = 20000


@dataclass
class EarlyStopConf:
    # a successful run whose models (of these families) score below BOTH thresholds gets
    # quality_ok=false in runs.tsv and a line in early_stop.log; prune skips the remaining
    # repeats of that combination (status `skipped_early_stop`).  apply_to_families: null = all
    enabled: bool = False
    min_accuracy: float = 0.0
    min_macro_f1: float = 0.0
    apply_to_families: Optional[List[str]] = field(default_factory=lambda: ["sklearn", "spacy", "hf"])
    prune: bool = False


@dataclass
class SuperiorLauncherConf:
    _target_: str = "hydra_plugins.superior_launcher.superior_launcher.SuperiorLauncher"

    # --- scheduler (soft limits: they decide when a run starts, they never stop one) ---
    parallel: int = 1  # runs at the same time, at most
    max_ram_gb: Optional[float] = None  # sum of the running runs' estimated RAM; null = no budget
    max_weight: Optional[float] = None  # sum of the running runs' weights; null = no limit
    # model family -> resource class; a run's class is the heaviest among its models' families
    resource_classes: Dict[str, str] = field(
        default_factory=lambda: {"check": "light", "sklearn": "light", "spacy": "heavy", "hf": "heavy"}
    )
    default_resource_class: str = "light"  # runs whose config names no `models`
    weights: Dict[str, float] = field(default_factory=lambda: {"light": 1.0, "medium": 2.0, "heavy": 4.0})
    # GB per run, per class; a run's measured peak RSS raises its class's estimate for later runs
    approx_ram_per_class: Dict[str, float] = field(
        default_factory=lambda: {"light": 1.0, "medium": 3.0, "heavy": 6.0}
    )
    update_estimates: bool = True

    # --- repeats and seeds: each sweeper job becomes `repeats` runs ---
    repeats: int = 1
    # null: seed untouched; fixed: seed=base_seed; per_run: seed=base_seed+run index;
    # per_repeat: seed=base_seed+repeat (the same splits for every combination)
    seed_strategy: Optional[str] = None
    base_seed: int = 42

    safety: SafetyConf = field(default_factory=SafetyConf)
    oom_policy: OomPolicyConf = field(default_factory=OomPolicyConf)
    early_stop: EarlyStopConf = field(default_factory=EarlyStopConf)

    # --- sweep control ---
    dry_run: bool = False  # write plan.tsv and stop
    resume: bool = False  # same hydra.sweep.dir: runs that succeeded are not run again
    max_runs: Optional[int] = None  # run at most this many planned runs (debugging)
    # forkserver: runs are forked from a server that has imported Hydra, the task's module and
    # `preload` (a fresh process per run all the same); spawn: a new interpreter per run
    start_method: str = "forkserver"
    preload: List[str] = field(default_factory=list)
    # forkserver: after the first runs of the lightest class, the modules they all imported are
    # preloaded by a new fork server (torch, spaCy, TensorFlow... never), so that later runs skip
    # those imports; measured peaks are unchanged (a run that imports them counts them either way)
    preload_auto: bool = True
    progress: bool = True  # one line on stderr per run started / ended
    # when runs failed: run the on_multirun_end callbacks (Hydra skips them when a sweep fails),
    # then end the multirun with a one-line summary and exit status 1
    fail_sweep: bool = True


ConfigStore.instance().store(
    group="hydra/launcher",
    name="superior",
    node=SuperiorLauncherConf,
    provider="superior_launcher",
)
