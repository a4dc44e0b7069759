# The structured configs behind conf/hydra/launcher/slurm.yaml and slurm_local.yaml.
#
# Three kinds of keys, all under `hydra.launcher`:
# 1. hydra-submitit-launcher's own keys (`submitit_slurm` / `submitit_local`), same names and meaning;
#    `mem_gb` and `cpus_per_task` left null are filled per resource class (below);
# 2. the per-class requests: memory from `approx_ram_per_class`, CPUs from `cpus_per_class`, the time
#    limit from `timeout_min_per_class` (else `timeout_min`);
# 3. every key of the `superior` launcher, with the same names and meaning, so that an experiment
#    written for superior (`hydra.launcher.repeats: 3`, `approx_ram_per_class: ...`) composes and keeps
#    its meaning when the user adds `hydra/launcher=slurm`.  Those that make no sense on a cluster
#    (RAM budget, weights, hard limit, OOM policy, early stop, start method) are accepted and ignored
#    (logged once).  tests/test_slurm.py checks that this schema holds every key of both.
#
# No `from __future__ import annotations` and no import of submitit here (Hydra's plugin scanner imports
# this module at every start-up, also where the `launchers` extra is not installed).
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from hydra.core.config_store import ConfigStore


def _classes() -> Dict[str, str]:
    return {"check": "light", "sklearn": "light", "spacy": "heavy", "hf": "heavy"}


# the superior launcher's nested settings, same keys (tests/test_slurm.py compares them)
@dataclass
class SafetyConf:  # no effect here: SLURM enforces each job's --mem
    enable_hard_ram_limit: bool = False
    hard_limit_mb: Optional[int] = None
    poll_interval_s: float = 0.1
    kill_grace_s: float = 0.5


@dataclass
class OomPolicyConf:  # no effect here: a job killed for memory is recorded `oom`, nothing is resubmitted
    on_oom: str = "skip"
    backoff_factor: float = 0.5
    max_retries: int = 2
    null_cap_docs: int = 20000


@dataclass
class EarlyStopConf:  # here: quality flags in runs.tsv and early_stop.log; no pruning (jobs are already queued)
    enabled: bool = False
    min_accuracy: float = 0.0
    min_macro_f1: float = 0.0
    apply_to_families: Optional[List[str]] = field(default_factory=lambda: ["sklearn", "spacy", "hf"])
    prune: bool = False


@dataclass
class IdeolabSubmititConf:
    _target_: str = "hydra_plugins.ideolab_slurm.launcher.IdeolabLocalLauncher"

    # --- hydra-submitit-launcher (BaseQueueConf) ---
    submitit_folder: str = "${hydra.sweep.dir}/.submitit/%j"
    timeout_min: int = 60  # time limit of a job, minutes (classes without timeout_min_per_class)
    cpus_per_task: Optional[int] = None  # null: per class, from cpus_per_class
    gpus_per_node: Optional[int] = None
    tasks_per_node: int = 1
    mem_gb: Optional[float] = None  # null: per class, from approx_ram_per_class; a number: every class
    nodes: int = 1
    name: str = "${hydra.job.name}"
    stderr_to_stdout: bool = False

    # --- per resource class ---
    cpus_per_class: Dict[str, int] = field(default_factory=lambda: {"light": 1, "medium": 2, "heavy": 4})
    # class -> minutes; null: timeout_min (the three classes are listed so that the command line can set
    # hydra.launcher.timeout_min_per_class.heavy=600 without a `+`)
    timeout_min_per_class: Dict[str, Optional[int]] = field(
        default_factory=lambda: {"light": None, "medium": None, "heavy": None}
    )
    # jobs of the sweep running at the same time (per class array on SLURM; in all under slurm_local);
    # null: the experiment's `parallel` when it sets one, else 256 on SLURM and the CPU count locally
    array_parallelism: Optional[int] = None

    # --- shared with the superior launcher (same meaning) ---
    resource_classes: Dict[str, str] = field(default_factory=_classes)
    default_resource_class: str = "light"
    approx_ram_per_class: Dict[str, float] = field(
        default_factory=lambda: {"light": 1.0, "medium": 3.0, "heavy": 6.0}
    )
    repeats: int = 1
    seed_strategy: Optional[str] = None
    base_seed: int = 42
    parallel: Optional[int] = None
    dry_run: bool = False  # write plan.tsv (and on SLURM the sbatch script of each class), submit nothing
    resume: bool = False  # same hydra.sweep.dir: runs that succeeded are not submitted again
    max_runs: Optional[int] = None

    # --- superior settings accepted so that its experiments compose; no effect under submitit
    #     (early_stop: quality flags only) ---
    max_ram_gb: Optional[float] = None
    max_weight: Optional[float] = None
    weights: Dict[str, float] = field(default_factory=lambda: {"light": 1.0, "medium": 2.0, "heavy": 4.0})
    update_estimates: bool = True
    safety: SafetyConf = field(default_factory=SafetyConf)
    oom_policy: OomPolicyConf = field(default_factory=OomPolicyConf)
    early_stop: EarlyStopConf = field(default_factory=EarlyStopConf)
    start_method: str = "forkserver"
    preload: List[str] = field(default_factory=list)
    preload_auto: bool = True
    progress: bool = True
    fail_sweep: bool = True  # when runs failed: reports written, then exit status 1


@dataclass
class IdeolabSlurmConf(IdeolabSubmititConf):
    _target_: str = "hydra_plugins.ideolab_slurm.launcher.IdeolabSlurmLauncher"

    # --- hydra-submitit-launcher (SlurmQueueConf) ---
    partition: Optional[str] = None
    qos: Optional[str] = None
    comment: Optional[str] = None
    constraint: Optional[str] = None
    exclude: Optional[str] = None
    gres: Optional[str] = None
    cpus_per_gpu: Optional[int] = None
    gpus_per_task: Optional[int] = None
    mem_per_gpu: Optional[str] = None
    mem_per_cpu: Optional[str] = None
    account: Optional[str] = None
    signal_delay_s: int = 120
    # resubmissions after a time-out (each restarts the run from scratch: runs keep no checkpoint)
    max_num_timeout: int = 0
    additional_parameters: Dict[str, Any] = field(default_factory=dict)
    setup: Optional[List[str]] = None

    # --- ideolab ---
    requeue: bool = True  # sbatch --requeue: a preempted job goes back to the queue and starts again


ConfigStore.instance().store(
    group="hydra/launcher/schema", name="slurm", node=IdeolabSlurmConf, provider="ideolab_slurm"
)
ConfigStore.instance().store(
    group="hydra/launcher/schema", name="slurm_local", node=IdeolabSubmititConf, provider="ideolab_slurm"
)
