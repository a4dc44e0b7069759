# The work behind hydra/launcher=slurm|slurm_local (launcher.py is the thin Hydra side).  Never imported
# by Hydra's plugin scanner (leading underscore); imported once a sweep starts, so submitit and the app
# may be imported here.
#
#   plan      each sweeper job becomes `repeats` runs (seed=/repeat= added as the superior launcher
#             does); each run's config is composed to find its models' families -> resource class
#             -> memory / CPU / time request; plan.tsv is written before anything is submitted
#   submit    one submitit executor per resource class: on SLURM one job array per class, with that
#             class's --mem/--cpus-per-task/--time; locally at most `array_parallelism` jobs at once
#   wait      each job's outcome: its JobReturn, or the scheduler's state when it left none
#             (OUT_OF_MEMORY -> oom); the scheduler's word goes to a verdict record next to the
#             job's own records (app/reporting/job_records.py), runs.tsv is rebuilt from them
#   resume    runs whose records say `success` with the same overrides are not submitted again
import json
import logging
import os
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, filter_overrides
from hydra.errors import CompactHydraException
from omegaconf import DictConfig, OmegaConf

from app.orchestrator.plan import (  # one reading of a grid, one set of seeds and repeats, for both launchers
    CHECK_FAMILY, axis_values_of, derive_config, extra_overrides_for, seed_axis_conflict, seed_for,
)
from hydra_plugins.ideolab_slurm.launcher import SlurmLauncherError

log = logging.getLogger("hydra_plugins.ideolab_slurm")

SEED_STRATEGIES = (None, "fixed", "per_run", "per_repeat")
# BaseQueueConf keys passed to submitit as they are (AutoExecutor's generic parameters)
GENERIC_KEYS = ("timeout_min", "cpus_per_task", "gpus_per_node", "tasks_per_node", "mem_gb", "nodes", "name",
                "stderr_to_stdout")
# SlurmQueueConf keys passed as slurm_<key>
SLURM_KEYS = ("partition", "qos", "comment", "constraint", "exclude", "gres", "cpus_per_gpu", "gpus_per_task",
              "mem_per_gpu", "mem_per_cpu", "account", "signal_delay_s", "additional_parameters", "setup")
# superior settings that have no meaning under submitit (accepted so that its experiments compose)
# scheduler states of a job that has not ended (submitit's own list, and the local executor's)
NOT_FINAL = ("READY", "PENDING", "RUNNING", "UNKNOWN", "REQUEUED", "COMPLETING", "PREEMPTED", "CONFIGURING",
             "SUSPENDED", "")
IGNORED = ("max_ram_gb", "max_weight", "safety", "oom_policy", "preload")


class SweepFailed(CompactHydraException):
    """Some runs did not succeed; every record and the reports are written."""


# ---- settings ------------------------------------------------------------------------------------------


@dataclass
class Settings:
    executor: str  # slurm | local
    choice: str  # slurm | slurm_local (the name users type)
    params: Dict[str, Any]
    resource_classes: Dict[str, str] = field(default_factory=dict)
    default_resource_class: str = "light"
    approx_ram_per_class: Dict[str, Any] = field(default_factory=dict)
    cpus_per_class: Dict[str, Any] = field(default_factory=dict)
    timeout_min_per_class: Dict[str, Any] = field(default_factory=dict)
    repeats: int = 1
    seed_strategy: Optional[str] = None
    base_seed: int = 42
    parallel: Optional[int] = None
    array_parallelism: Optional[int] = None
    dry_run: bool = False
    resume: bool = False
    max_runs: Optional[int] = None
    fail_sweep: bool = True
    progress: bool = True

    @classmethod
    def from_params(cls, params: Dict[str, Any], *, executor: str, choice: str) -> "Settings":
        p = dict(params)
        s = cls(
            executor=executor, choice=choice, params=p,
            resource_classes=dict(p.get("resource_classes") or {}),
            default_resource_class=str(p.get("default_resource_class") or "light"),
            approx_ram_per_class=dict(p.get("approx_ram_per_class") or {}),
            cpus_per_class=dict(p.get("cpus_per_class") or {}),
            timeout_min_per_class=dict(p.get("timeout_min_per_class") or {}),
            repeats=p.get("repeats", 1), seed_strategy=p.get("seed_strategy"), base_seed=p.get("base_seed", 42),
            parallel=p.get("parallel"), array_parallelism=p.get("array_parallelism"),
            dry_run=bool(p.get("dry_run")), resume=bool(p.get("resume")), max_runs=p.get("max_runs"),
            fail_sweep=bool(p.get("fail_sweep", True)), progress=bool(p.get("progress", True)),
        )
        s.validate()
        return s

    def validate(self) -> None:
        def bad(key: str, why: str) -> None:
            raise SlurmLauncherError(f"hydra.launcher.{key}: {why}")

        def positive_int(v: Any) -> bool:
            return isinstance(v, int) and not isinstance(v, bool) and v >= 1

        if not positive_int(self.repeats):
            bad("repeats", f"must be an integer >= 1, got {self.repeats!r}")
        if self.seed_strategy not in SEED_STRATEGIES:
            bad("seed_strategy", f"{self.seed_strategy!r} is unknown; choose fixed, per_run, per_repeat or null")
        if self.max_runs is not None and not (isinstance(self.max_runs, int) and self.max_runs >= 0):
            bad("max_runs", f"must be >= 0 (or null), got {self.max_runs!r}")
        for key in ("parallel", "array_parallelism"):
            v = getattr(self, key)
            if v is not None and not positive_int(v):
                bad(key, f"must be an integer >= 1 (or null), got {v!r}")
        mem = self.params.get("mem_gb")
        if mem is not None and not (isinstance(mem, (int, float)) and mem > 0):
            bad("mem_gb", f"must be a positive number of GB (or null: per resource class), got {mem!r}")
        if not positive_int(self.params.get("timeout_min")):
            bad("timeout_min", f"must be a number of minutes >= 1, got {self.params.get('timeout_min')!r}")
        for name, gb in self.approx_ram_per_class.items():
            if not (isinstance(gb, (int, float)) and not isinstance(gb, bool) and gb > 0):
                bad(f"approx_ram_per_class.{name}", f"must be a positive number of GB (the --mem of its jobs), got {gb!r}")
        for name, n in self.cpus_per_class.items():
            if not positive_int(n):
                bad(f"cpus_per_class.{name}", f"must be an integer >= 1, got {n!r}")
        for name, n in self.timeout_min_per_class.items():
            if n is not None and not positive_int(n):
                bad(f"timeout_min_per_class.{name}", f"must be a number of minutes >= 1, got {n!r}")
        if mem is None:
            for name in self.classes_named():
                if name not in self.approx_ram_per_class:
                    bad("approx_ram_per_class",
                        f"resource class {name!r} has no memory request (known: "
                        f"{', '.join(sorted(self.approx_ram_per_class)) or 'none'}); add "
                        f"hydra.launcher.approx_ram_per_class.{name}=<GB> (the --mem of its jobs)")

    def classes_named(self) -> List[str]:
        return list(dict.fromkeys([self.default_resource_class, *self.resource_classes.values()]))

    def class_of(self, families: Sequence[str], where: str) -> str:
        if not families:
            return self.default_resource_class
        classes = []
        for fam in families:
            if fam not in self.resource_classes:
                raise SlurmLauncherError(
                    f"model family {fam!r}{where} has no resource class: add "
                    f"hydra.launcher.resource_classes.{fam}=<light|heavy|...>")
            classes.append(self.resource_classes[fam])
        for c in classes:
            if self.params.get("mem_gb") is None and c not in self.approx_ram_per_class:
                raise SlurmLauncherError(
                    f"resource class {c!r}{where} has no memory request: add "
                    f"hydra.launcher.approx_ram_per_class.{c}=<GB> (the --mem of its jobs)")
        return max(classes, key=lambda c: (self.mem_gb(c), self.cpus(c)))

    # ---- the requests of a class ----
    def mem_gb(self, cls: str) -> float:
        forced = self.params.get("mem_gb")
        return float(forced if forced is not None else self.approx_ram_per_class.get(cls, 0.0))

    def cpus(self, cls: str) -> int:
        forced = self.params.get("cpus_per_task")
        return int(forced if forced is not None else self.cpus_per_class.get(cls, 1))

    def timeout_min(self, cls: str) -> int:
        minutes = self.timeout_min_per_class.get(cls)
        return int(minutes if minutes is not None else self.params["timeout_min"])

    def concurrency(self) -> int:
        if self.array_parallelism is not None:
            return int(self.array_parallelism)
        if self.parallel is not None:
            return int(self.parallel)
        return 256 if self.executor == "slurm" else max(1, os.cpu_count() or 1)

    def executor_params(self, cls: str) -> Dict[str, Any]:
        """The class's parameters in submitit.AutoExecutor's terms (generic, then slurm_<key>)."""
        p = self.params
        out: Dict[str, Any] = {k: p[k] for k in GENERIC_KEYS if p.get(k) is not None}
        out["mem_gb"] = self.mem_gb(cls)
        out["cpus_per_task"] = self.cpus(cls)
        out["timeout_min"] = self.timeout_min(cls)
        out["name"] = f"{p.get('name') or 'app'}_{cls}"
        if self.executor == "slurm":
            for key in SLURM_KEYS:
                if p.get(key) is not None:
                    out[f"slurm_{key}"] = p[key]
            extra = dict(p.get("additional_parameters") or {})
            if p.get("requeue"):
                extra.setdefault("requeue", True)
            out["slurm_additional_parameters"] = extra
            out["slurm_array_parallelism"] = self.concurrency()
        return out

    def init_params(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {"folder": self.params["submitit_folder"]}
        if self.executor == "slurm":
            out["slurm_max_num_timeout"] = int(self.params.get("max_num_timeout") or 0)
        return out

    def ignored_settings(self) -> List[str]:
        from hydra_plugins.ideolab_slurm.config import IdeolabSubmititConf

        defaults = OmegaConf.to_container(OmegaConf.structured(IdeolabSubmititConf))
        out = [key for key in IGNORED if self.params.get(key) not in (None, {}, [], defaults.get(key))]
        if (self.params.get("early_stop") or {}).get("prune"):
            out.append("early_stop.prune")
        return out

    # ---- early_stop: quality flags, as the superior launcher sets them ----
    def quality(self, run_json: Optional[Dict[str, Any]]) -> tuple:
        """(quality_ok, flags, low models) of a successful run from its run.json; (None, "", []) unchecked."""
        es = dict(self.params.get("early_stop") or {})
        if not es.get("enabled") or not run_json:
            return None, "", []
        families = es.get("apply_to_families")
        flags, low, checked = [], [], False
        for m in run_json.get("models") or []:
            if not isinstance(m, dict) or (families is not None and m.get("family") not in families):
                continue
            acc, f1 = m.get("accuracy"), m.get("macro_f1")
            if acc is None and f1 is None:
                continue
            checked = True
            if acc is not None and f1 is not None and acc < es.get("min_accuracy", 0) and f1 < es.get("min_macro_f1", 0):
                flags.append(f"{m.get('model_id', m.get('family'))}:low_accuracy,low_macro_f1")
                low.append(m)
        if not checked:
            return None, "", []
        return not flags, ";".join(flags), low


def sweep_dir_of(config: DictConfig) -> Path:
    return Path(str(config.hydra.sweep.dir)).absolute()


def check_before_start(settings: Settings, config: DictConfig) -> None:
    """What can be refused before the sweep folder exists (bad input: nothing written, nothing submitted)."""
    sweep_dir = sweep_dir_of(config)
    if settings.resume and not (sweep_dir / "plan.tsv").is_file():
        raise SlurmLauncherError(
            f"resume: {sweep_dir} holds no sweep (no plan.tsv); name the folder of the sweep to resume with "
            "hydra.sweep.dir=<folder>")
    if settings.executor == "slurm" and not settings.dry_run:
        missing = [cmd for cmd in ("sbatch", "srun") if shutil.which(cmd) is None]
        if missing:
            raise SlurmLauncherError(
                f"hydra/launcher=slurm: no {' or '.join(missing)} on this machine: start the sweep on a SLURM "
                "login node (hydra/launcher=slurm_local runs the same jobs here; hydra.launcher.dry_run=true "
                "writes plan.tsv and the sbatch scripts without submitting)")
    callbacks = OmegaConf.select(config, "hydra.callbacks", default=None) or {}
    if not any("JobRecordsCallback" in str(OmegaConf.select(cb, "_target_", default="") or "")
               for cb in callbacks.values()):
        log.warning(
            f"{settings.choice}: hydra.callbacks has no app.reporting.job_records.JobRecordsCallback: runs.tsv will "
            "only hold what the scheduler says (no duration, peak RSS or job folder); see README, cluster section")


def still_running(sweep_dir: Path) -> List[str]:
    """SLURM jobs of the sweep that started (or were submitted) and have not ended, as sacct sees them.

    A resumed sweep would submit their runs a second time, into the same job folders."""
    from app.reporting import job_records as jr

    if shutil.which("sacct") is None:
        return []
    ids = []
    for num, files in sorted(jr.scan_records(jr.records_dir(sweep_dir)).items()):
        if "end" in files or "verdict" in files or "start" not in files:
            continue
        start = jr.read_json(files["start"]) or {}
        if start.get("executor") == "slurm" and start.get("slurm_job_id"):
            ids.append(str(start["slurm_job_id"]))
    if not ids:
        return []
    from submitit.slurm.slurm import SlurmInfoWatcher

    watcher = SlurmInfoWatcher(delay_s=0)
    for job_id in ids:
        watcher.register_job(job_id)
    watcher.update()
    active = [x for x in NOT_FINAL if x not in ("UNKNOWN", "")]  # UNKNOWN: sacct no longer knows the job
    return [j for j in ids if (watcher.get_state(j, mode="cache").split(" ") + [""])[0].upper() in active]


@contextmanager
def _no_srun_check() -> Iterator[None]:
    """Build a SLURM executor where there is no `srun` (dry run: the sbatch scripts, nothing submitted)."""
    from submitit.slurm.slurm import SlurmExecutor

    original = SlurmExecutor.__dict__["affinity"]
    SlurmExecutor.affinity = classmethod(lambda cls: 2)  # type: ignore[assignment]
    try:
        yield
    finally:
        SlurmExecutor.affinity = original  # type: ignore[assignment]


def make_executor(settings: Settings, cls: str, *, check_srun: bool = True) -> Any:
    """The submitit executor of one resource class, built as hydra-submitit-launcher builds its own."""
    import submitit

    init = settings.init_params()
    folder = init.pop("folder")
    if settings.executor == "slurm" and not check_srun:
        with _no_srun_check():
            executor = submitit.AutoExecutor(cluster="slurm", folder=folder, **init)
    else:
        executor = submitit.AutoExecutor(cluster=settings.executor, folder=folder, **init)
    executor.update_parameters(**settings.executor_params(cls))
    return executor


def sbatch_script(settings: Settings, cls: str, n_jobs: int) -> str:
    """The sbatch script submitit writes for a job array of `n_jobs` runs of class `cls`."""
    from submitit.slurm.slurm import _make_sbatch_string

    executor = make_executor(settings, cls, check_srun=False)
    inner = executor._executor
    params = dict(inner.parameters)
    if n_jobs > 1:
        params["map_count"] = n_jobs
    return _make_sbatch_string(command=inner._submitit_command_str, folder=inner.folder, **params)



# ---- repeats and seeds, as the superior launcher makes them (docs: DESIGN.md §5) ---------------------------
# seed_for, extra_overrides_for, seed_axis_conflict and derive_config are app/orchestrator/plan.py's.


def check_seed_axis(s: "Settings", job: Sequence[str]) -> None:
    conflict = seed_axis_conflict(job, s.seed_strategy, s.repeats)
    if conflict is not None:  # plan.check_seed_axis's test, with this launcher's error and wording
        o, key = conflict
        raise SlurmLauncherError(
            f"the override {o!r} conflicts with hydra.launcher.repeats/seed_strategy, which set {key} "
            "themselves: drop one of them")


# not plan.families_of: this one names the run in its error and raises SlurmLauncherError, not SuperiorError
def families_of(cfg: DictConfig, where: str = "") -> List[str]:
    """Model families the composed config trains (`models.<id>.family`), the baseline included."""
    models = OmegaConf.select(cfg, "models", default=None)
    if not isinstance(models, DictConfig):
        return []
    fams: List[str] = []
    for model_id in models:
        node = models[model_id]
        fam = OmegaConf.select(node, "family", default=None) if isinstance(node, DictConfig) else None
        if fam is None:
            raise SlurmLauncherError(f"models.{model_id}{where} names no family")
        if str(fam) not in fams:
            fams.append(str(fam))
    if CHECK_FAMILY not in fams:
        fams.insert(0, CHECK_FAMILY)
    return fams


# ---- runs ------------------------------------------------------------------------------------------------


@dataclass
class Run:
    num: int  # hydra.job.num, its folder, run_<num>
    combo: int
    repeat: int
    seed: Optional[int]
    job_overrides: List[str]
    extra_overrides: List[str]
    axis_values: Dict[str, str]
    families: List[str]
    resource_class: str
    config: Any = None
    plan_status: str = "to_run"  # to_run | skip_resume | beyond_max_runs
    previous: Optional[Dict[str, Any]] = None  # its row in the records of an earlier session

    @property
    def run_id(self) -> str:
        return f"run_{self.num:04d}"

    @property
    def overrides(self) -> List[str]:
        return [*self.job_overrides, *self.extra_overrides]


# not plan.run_key, which drops `repeat=0` (superior's resume matches runs planned with repeats=1): not so here
def _key(overrides: Sequence[str]) -> str:
    return json.dumps(sorted(str(o) for o in overrides), ensure_ascii=False)


class Sweep:
    """One multirun under hydra/launcher=slurm|slurm_local (kept across sweeper batches)."""

    def __init__(self, launcher: Any) -> None:
        self.launcher = launcher
        self.s: Settings = launcher.settings
        self.config: DictConfig = launcher.config
        self.hydra_context = launcher.hydra_context
        self.sweep_dir = sweep_dir_of(self.config)
        self.plan: List[Run] = []
        self.opened = False
        self.position = 0
        self.combos = 0
        self.to_run_count = 0

    # ---- session ----

    def _open(self) -> None:
        from app.reporting import job_records as jr

        self.sweep_dir.mkdir(parents=True, exist_ok=True)
        self.by_key: Dict[str, Dict[str, Any]] = {}  # run key -> latest row of the records
        self.succeeded: Dict[str, Dict[str, Any]] = {}
        used: set = set()
        if self.s.resume:
            rows = jr.previous_runs(self.sweep_dir)
            for row in rows:
                key = _key(row.get("overrides") or [])
                self.by_key[key] = row
                if row.get("status") == "success":
                    self.succeeded[key] = row
                used.add(int(row["job_num"]))
            for row in jr.read_tsv(self.sweep_dir / "plan.tsv"):
                try:
                    used.add(int(str(row.get("run_id", "")).rsplit("_", 1)[-1]))
                    self.by_key.setdefault(_key(json.loads(row.get("overrides") or "[]")),
                                           {"job_num": int(str(row["run_id"]).rsplit("_", 1)[-1])})
                except (ValueError, KeyError):
                    continue
            running = still_running(self.sweep_dir)
            if running:
                raise SlurmLauncherError(
                    f"resume: {len(running)} jobs of the earlier session are still queued or running "
                    f"({', '.join(running[:5])}{' ...' if len(running) > 5 else ''}); wait for them or scancel them, "
                    "then resume")
            last = max([int(r.get("session") or 1) for r in rows] + [jr.current_session(self.sweep_dir)])
            self.session = last + 1
            log.info(f"{self.s.choice}: resume: session {self.session} of {self.sweep_dir}: "
                     f"{len(self.succeeded)} runs succeeded before")
        else:
            archived = self._archive_previous()
            if archived is not None:
                log.warning(f"{self.s.choice}: {self.sweep_dir} held a sweep; its records were moved to {archived} "
                            "(hydra.launcher.resume=true completes a sweep instead)")
            self.session = 1
        self.next_free = max(used, default=-1) + 1
        jr.set_session(self.sweep_dir, self.session)
        ignored = self.s.ignored_settings()
        if ignored:
            log.info(f"{self.s.choice}: the superior settings {', '.join(ignored)} have no effect under submitit "
                     "(the cluster enforces each job's memory request)")
        self.opened = True

    def _archive_previous(self) -> Optional[Path]:
        from app.reporting import job_records as jr

        names = ["plan.tsv", "runs.tsv", jr.RECORDS_DIR]
        if not any((self.sweep_dir / n).exists() for n in names):
            return None
        dest = self.sweep_dir / ".archive" / time.strftime("%Y%m%d-%H%M%S")
        dest.mkdir(parents=True, exist_ok=True)
        for n in names:
            if (self.sweep_dir / n).exists():
                shutil.move(str(self.sweep_dir / n), str(dest / n))
        return dest

    # ---- plan ----

    def _build(self, batch: Sequence[Sequence[str]]) -> List[Run]:
        from hydra.core.override_parser.overrides_parser import OverridesParser

        parser = OverridesParser.create()
        runs: List[Run] = []
        seen = {_key(r.overrides) for r in self.plan}
        for job, axis in zip(batch, axis_values_of(batch)):
            job = list(job)
            check_seed_axis(self.s, job)
            combo = self.combos
            self.combos += 1
            base_cfg = None
            for repeat in range(self.s.repeats):
                position = self.position
                self.position += 1
                seed = seed_for(self.s.seed_strategy, int(self.s.base_seed), position, repeat)
                extra = extra_overrides_for(seed, repeat, self.s.repeats)
                key = _key([*job, *extra])
                if key in seen:
                    raise SlurmLauncherError(f"the grid holds the same run twice: {' '.join([*job, *extra])}")
                seen.add(key)
                previous = self.by_key.get(key)
                if previous is not None and previous.get("job_num") is not None:
                    num = int(previous["job_num"])
                else:
                    num = self.next_free
                    self.next_free += 1
                if base_cfg is None:
                    base_cfg = cfg = self.hydra_context.config_loader.load_sweep_config(self.config, [*job, *extra])
                else:  # repeats differ only in plain values (seed=, repeat=): no need to compose again
                    cfg = derive_config(base_cfg, parser.parse_overrides([*job, *extra]), parser.parse_overrides(extra))
                families = families_of(cfg, f" (run_{num:04d})")
                cls = self.s.class_of(families, f" (run_{num:04d}: {' '.join(job)})")
                runs.append(Run(num=num, combo=combo, repeat=repeat, seed=seed, job_overrides=job,
                                extra_overrides=extra, axis_values=axis, families=families, resource_class=cls,
                                config=cfg, previous=self.succeeded.get(key)))
        for run in runs:
            if run.previous is not None:
                run.plan_status = "skip_resume"
            elif self.s.max_runs is not None and self.to_run_count >= self.s.max_runs:
                run.plan_status = "beyond_max_runs"
            else:
                self.to_run_count += 1
        return runs

    def _plan_row(self, run: Run) -> Dict[str, Any]:
        cls = run.resource_class
        return {
            "run_id": run.run_id, "run_index": run.num, "combo": run.combo, "repeat": run.repeat, "seed": run.seed,
            "resource_class": cls, "est_ram_mb": round(self.s.mem_gb(cls) * 1024), "weight": None,
            "plan_status": run.plan_status, "axis_values": run.axis_values, "overrides": run.overrides,
            "mem_gb": self.s.mem_gb(cls), "cpus_per_task": self.s.cpus(cls), "timeout_min": self.s.timeout_min(cls),
        }

    def _write_plan(self) -> None:
        from app.reporting import job_records as jr

        jr.write_plan(self.sweep_dir, [self._plan_row(r) for r in self.plan])

    # ---- entry point ----

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> List[JobReturn]:
        if not self.opened:
            self._open()
        runs = self._build(job_overrides)
        self.plan.extend(runs)
        self._write_plan()
        to_run = [r for r in runs if r.plan_status == "to_run"]
        by_class: Dict[str, List[Run]] = {}
        for r in to_run:
            by_class.setdefault(r.resource_class, []).append(r)
        counts = {st: sum(r.plan_status == st for r in runs) for st in ("skip_resume", "beyond_max_runs")}
        text = f"{self.s.choice}: plan: {len(runs)} runs ({len(job_overrides)} combinations x {self.s.repeats} repeats)"
        if counts["skip_resume"]:
            text += f", {counts['skip_resume']} succeeded before (not submitted again)"
        if counts["beyond_max_runs"]:
            text += f", {counts['beyond_max_runs']} beyond max_runs={self.s.max_runs}"
        log.info(f"{text}; {self.sweep_dir / 'plan.tsv'}")
        for cls, group in by_class.items():
            log.info(f"{self.s.choice}: class {cls}: {len(group)} runs, {self._describe(cls)}")
        if self.s.dry_run:
            self._dry_run(by_class)
            return []
        results = self._execute(by_class)
        return self._returns(runs, results)

    def _describe(self, cls: str) -> str:
        text = f"mem {self.s.mem_gb(cls):g} GB, {self.s.cpus(cls)} CPUs, time {self.s.timeout_min(cls)} min"
        if self.s.executor == "slurm":
            p = self.s.params
            text += f", partition {p.get('partition') or '(default)'}, at most {self.s.concurrency()} at once"
            if p.get("requeue"):
                text += ", requeued on preemption"
        else:
            text += f" (not enforced locally), at most {self.s.concurrency()} jobs at once"
        return text

    def _dry_run(self, by_class: Dict[str, List[Run]]) -> None:
        from submitit.core.utils import JobPaths

        folder = JobPaths.get_first_id_independent_folder(self.s.params["submitit_folder"]) / "dry_run"
        folder.mkdir(parents=True, exist_ok=True)
        for cls, group in by_class.items():
            params = self.s.executor_params(cls)
            (folder / f"{cls}.params.json").write_text(json.dumps(params, indent=2, sort_keys=True) + "\n")
            if self.s.executor == "slurm":
                (folder / f"{cls}.sbatch").write_text(sbatch_script(self.s, cls, len(group)))
        log.info(f"{self.s.choice}: dry run: nothing submitted; the parameters of each class are in {folder}")

    # ---- execution ----

    def _job_params(self, run: Run) -> tuple:
        return (list(run.overrides), "hydra.sweep.dir", run.num, f"job_id_for_{run.num}", Singleton.get_state())

    def _execute(self, by_class: Dict[str, List[Run]]) -> Dict[int, tuple]:
        from app.reporting import job_records as jr

        if not by_class:
            jr.merge_runs(self.sweep_dir, final=True)
            return {}
        for runs in by_class.values():  # a resubmitted run's old records become its history
            old = [r.num for r in runs if (jr.record_path(self.sweep_dir, r.num, "start").exists()
                                           or jr.record_path(self.sweep_dir, r.num, "verdict").exists())]
            if old:
                jr.archive_records(self.sweep_dir, old)
        for runs in by_class.values():
            for r in runs:
                log.info(f"\t#{r.num} ({r.resource_class}) : {' '.join(filter_overrides(r.overrides))}")
        self.t0 = time.monotonic()
        self.unsettled: Dict[int, tuple] = {}
        results: Dict[int, tuple] = {}
        submitted: Dict[int, tuple] = {}  # num -> (run, job)
        queue: List[Run] = []
        try:
            if self.s.executor == "slurm":
                for cls, runs in by_class.items():
                    self._submit_array(cls, runs, submitted)
            else:
                queue = [r for runs in by_class.values() for r in runs]
                self.executors = {cls: make_executor(self.s, cls) for cls in by_class}
            total = sum(len(v) for v in by_class.values())
            while queue or len(results) < total:
                while queue and len(submitted) - len(results) < self.s.concurrency():
                    run = queue.pop(0)
                    job = self.executors[run.resource_class].submit(self.launcher, *self._job_params(run))
                    submitted[run.num] = (run, job)
                for num, (run, job) in list(submitted.items()):
                    if num in results or not self._ended(job):
                        continue
                    results[num] = self._collect(run, job)
                    self._say(results, total)
                if queue or len(results) < total:
                    time.sleep(0.5)
        except KeyboardInterrupt:
            self._cancel(submitted, results, "KeyboardInterrupt")
            raise
        except BaseException:
            self._cancel(submitted, results, "the launcher failed")
            raise
        self._settle_states()
        jr.merge_runs(self.sweep_dir, final=True)
        return results

    def _settle_states(self, grace_s: float = 20.0) -> None:
        """A job is collected as soon as its result exists, when the scheduler may still say RUNNING:
        ask again (briefly) so that the verdict holds its final state (COMPLETED, or OUT_OF_MEMORY
        when SLURM saw an oom-kill event in a run that still completed)."""
        from app.reporting import job_records as jr

        deadline = time.monotonic() + grace_s
        while self.unsettled and time.monotonic() < deadline:
            for i, (num, (run, job, status, note, extra)) in enumerate(list(self.unsettled.items())):
                state = self._state(job, mode="force" if i == 0 else "cache")
                if state.split(" ")[0].upper() in NOT_FINAL:
                    continue
                del self.unsettled[num]
                try:
                    jr.write_verdict(self.sweep_dir, num, state=state, status=status, note=note, session=self.session,
                                     slurm_job_id=str(job.job_id), log_path=str(job.paths.stdout),
                                     err_path=str(job.paths.stderr), extra=extra)
                except Exception as err:  # noqa: BLE001
                    log.warning(f"{self.s.choice}: could not write the verdict of {run.run_id}: {err}")
            if self.unsettled:
                time.sleep(0.5)

    def _submit_array(self, cls: str, runs: List[Run], submitted: Dict[int, tuple]) -> None:
        executor = make_executor(self.s, cls)
        try:
            jobs = executor.map_array(self.launcher, *zip(*[self._job_params(r) for r in runs]))
        except Exception as err:
            first = str(err).strip().splitlines()
            raise SlurmLauncherError(
                f"submitting the {len(runs)} runs of class {cls!r} failed: "
                f"{first[-1] if first else type(err).__name__}") from err
        for run, job in zip(runs, jobs):
            submitted[run.num] = (run, job)
        array_id = str(jobs[0].job_id).split("_")[0] if jobs else "?"
        log.info(f"{self.s.choice}: class {cls}: {len(runs)} runs submitted as job array {array_id}")

    def _cancel(self, submitted: Dict[int, tuple], results: Dict[int, tuple], why: str) -> None:
        from app.reporting import job_records as jr

        for num, (run, job) in submitted.items():
            if num in results:
                continue
            try:
                job.cancel(check=False)
            except Exception:  # noqa: BLE001
                pass
            try:
                jr.write_verdict(self.sweep_dir, num, state="CANCELLED", status="interrupted", session=self.session,
                                 note=f"cancelled by the launcher ({why})", slurm_job_id=str(job.job_id))
            except Exception:  # noqa: BLE001
                pass
        try:
            jr.merge_runs(self.sweep_dir, final=True)
        except Exception:  # noqa: BLE001
            pass

    def _collect(self, run: Run, job: Any) -> tuple:
        """(status, JobReturn or None) of an ended job; its verdict record written."""
        from app.reporting import job_records as jr

        ret: Optional[JobReturn] = None
        note = ""
        err_kind = ""
        try:
            value = job.result()
            ret = value if isinstance(value, JobReturn) else None
        except Exception as err:  # noqa: BLE001  UncompletedJobError (no result: killed), FailedJobError
            lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
            note = next((ln for ln in reversed(lines) if "Error" in ln or "error" in ln), lines[-1] if lines else "")
            note = note[:300]
            err_kind = type(err).__name__
        state = self._state(job)
        quality_ok, flags = None, ""
        if ret is not None:
            status, note = jr.status_of_return(ret)
            if status == "success":
                quality_ok, flags = self._quality(run, ret)
        elif err_kind == "UncompletedJobError":  # the job left no result: the scheduler's word decides
            status = jr.STATE_STATUS.get(state.split(" ")[0].upper(), "failed")
            note = jr.STATE_NOTES.get(state.split(" ")[0].upper(), "") or (
                f"the job ended without a result (state {state})")
        else:  # the job raised outside the task (its config, a callback): a failure, not a kill
            status = "failed"
        extra = {"quality_ok": quality_ok, "quality_flags": flags}
        if ret is not None and state.split(" ")[0].upper() in NOT_FINAL:
            self.unsettled[run.num] = (run, job, status, note, extra)
        try:
            jr.write_verdict(self.sweep_dir, run.num, state=state, status=status, note=note, session=self.session,
                             slurm_job_id=str(job.job_id), log_path=str(job.paths.stdout),
                             err_path=str(job.paths.stderr), extra=extra)
        except Exception as err:  # noqa: BLE001
            log.warning(f"{self.s.choice}: could not write the verdict of {run.run_id}: {err}")
        return status, ret

    def _quality(self, run: Run, ret: JobReturn) -> tuple:
        """early_stop's flags for a successful run (and a line per low model in early_stop.log)."""
        from app.reporting import job_records as jr

        out = OmegaConf.select(ret.hydra_cfg, "hydra.runtime.output_dir", default=None) if ret.hydra_cfg else None
        if not out:
            return None, ""
        ok, flags, low = self.s.quality(jr.read_json(Path(str(out)) / "run.json"))
        es = self.s.params.get("early_stop") or {}
        for m in low:
            line = (f"{time.strftime('%Y-%m-%dT%H:%M:%S')}\t{run.run_id}\tjob {run.num}\t{m.get('model_id')} "
                    f"({m.get('family')})\taccuracy {m['accuracy']:.4f} < {es.get('min_accuracy')}\tmacro_f1 "
                    f"{m['macro_f1']:.4f} < {es.get('min_macro_f1')}\tquality_ok=false\t{Path(str(out)).name}\n")
            with open(self.sweep_dir / "early_stop.log", "a", encoding="utf-8") as f:
                f.write(line)
        return ok, flags

    @staticmethod
    def _ended(job: Any) -> bool:
        # its result file is written last and whole (submitit renames it into place): the job is over
        # even if its process is still exiting (a local job's done() waits for the process)
        try:
            if job.paths.result_pickle.exists():
                return True
        except Exception:  # noqa: BLE001
            pass
        return bool(job.done())

    @staticmethod
    def _state(job: Any, mode: str = "standard") -> str:
        """The scheduler's state of a job (SLURM: sacct, through submitit's watcher, which asks for all
        the sweep's jobs in one call and at most every few seconds unless `mode` is "force")."""
        try:
            if job.__class__.__name__ == "SlurmJob":
                return str(job.watcher.get_state(job.job_id, mode=mode))
            return str(job.state)
        except Exception:  # noqa: BLE001
            return "UNKNOWN"

    def _say(self, results: Dict[int, tuple], total: int) -> None:
        if not self.s.progress:
            return
        bad = sum(st != "success" for st, _ in results.values())
        elapsed = time.monotonic() - self.t0
        log.info(f"{self.s.choice}: {len(results)}/{total} jobs ended ({bad} not ok), elapsed {elapsed:.0f} s")

    # ---- results ----

    def _synthetic(self, run: Run, status: str, note: str = "") -> JobReturn:
        cfg = run.config
        ret = JobReturn()
        ret.overrides = list(run.overrides)
        if isinstance(cfg, DictConfig):
            ret.cfg = OmegaConf.masked_copy(cfg, [k for k in cfg.keys() if k != "hydra"])
            ret.hydra_cfg = OmegaConf.masked_copy(cfg, "hydra")
            ret.task_name = str(OmegaConf.select(cfg, "hydra.job.name", default=""))
        if status in ("success", "skipped_resume"):
            ret.status = JobStatus.COMPLETED
            ret._return_value = None
        else:
            ret.status = JobStatus.FAILED
            ret._return_value = RuntimeError(f"{run.run_id}: {status}" + (f" ({note})" if note else ""))
        return ret

    def _returns(self, runs: List[Run], results: Dict[int, tuple]) -> List[JobReturn]:
        bad = {num: st for num, (st, _) in results.items() if st != "success"}
        failure: Optional[SweepFailed] = None
        if bad and self.s.fail_sweep:
            counts: Dict[str, int] = {}
            for st in bad.values():
                counts[st] = counts.get(st, 0) + 1
            detail = ", ".join(f"{n} {st}" for st, n in counts.items())
            failure = SweepFailed(
                f"{self.s.choice}: {len(bad)} of {len(results)} runs did not succeed ({detail}); see "
                f"{self.sweep_dir / 'runs.tsv'} and the logs in {self.sweep_dir / '.submitit'}")
            # Hydra skips on_multirun_end when a sweep fails: the records and reports must still be written
            try:
                self.hydra_context.callbacks.on_multirun_end(
                    config=self.config, config_name=OmegaConf.select(self.config, "hydra.job.config_name", default=None))
            except Exception as err:  # noqa: BLE001
                log.warning(f"{self.s.choice}: an on_multirun_end callback failed: {type(err).__name__}: {err}")
        out: List[JobReturn] = []
        for run in runs:
            if run.plan_status == "skip_resume":
                out.append(self._synthetic(run, "skipped_resume"))
                continue
            if run.num not in results:
                continue
            status, ret = results[run.num]
            if ret is None:
                ret = self._synthetic(run, status)
            if status != "success":
                ret.status = JobStatus.FAILED
                if failure is not None:
                    ret._return_value = failure
                elif not isinstance(ret._return_value, BaseException):
                    ret._return_value = RuntimeError(f"{run.run_id}: {status}")
            out.append(ret)
        return out
