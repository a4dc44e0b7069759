"""The orchestrator's loop: plan, start runs as the scheduler allows, record them as they end.

One `Orchestrator` per Hydra multirun (the launcher keeps it across sweeper batches).  A *run* is a
sweeper job times a repeat; an *attempt* is one process of a run (backoff queues a run again).
Every attempt gets a new job number (`hydra.job.num`, its folder and `logs/run_<NNNN>.log`); a
run's first attempt gets its run index as job number when that number is still free, so in a
plain sweep run_0003 is job 3, in `3_.../`, logged in `logs/run_0003.log`.
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Sequence

import cloudpickle
from hydra.core.hydra_config import HydraConfig
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from app.orchestrator.child import EXIT_MEMORY_ERROR
from app.orchestrator.errors import RunFailed, SuperiorError, SweepFailed
from app.orchestrator.plan import (
    ConfigCache, RunSpec, axis_values_of, check_seed_axis, extra_overrides_for, families_of, resource_class_of, run_key,
    seed_for,
)
from app.orchestrator.policies import Quality, backoff_caps, check_quality, read_run_json
from app.orchestrator.processes import ForkServerPool, ProcEvent, SpawnPool, signal_tree, tree_rss_mb
from app.orchestrator.progress import Progress, hms
from app.orchestrator.records import (
    FAILED_STATUSES, PLAN_COLUMNS, RUNS_COLUMNS, Journal, append_line, write_tsv,
)
from app.orchestrator.resume import META_DIR, PreviousSweep, archive_previous, sweep_dir_of
from app.orchestrator.scheduler import Scheduler
from app.orchestrator.settings import LauncherSettings


# never preloaded automatically: big frameworks that start threads or hold much memory once
# imported (a light run must not carry them); `hydra.launcher.preload` may still name them
AUTO_PRELOAD_EXCLUDE = frozenset({
    "torch", "torchvision", "tensorflow", "keras", "jax", "jaxlib", "spacy", "thinc", "transformers",
    "accelerate", "tokenizers", "safetensors", "cupy", "numba", "ray", "dask", "distributed",
})


UPGRADE_WAIT_S = 60.0


def _now() -> str:
    return datetime.now().isoformat(timespec="milliseconds")


@dataclass(eq=False)
class Attempt:
    spec: RunSpec
    attempt: int = 1
    cap_overrides: list[str] = field(default_factory=list)
    job_num: int | None = None
    pid: int | None = None
    config: Any = None
    job_dir: Path | None = None
    log_path: Path | None = None
    payload_path: Path | None = None
    return_path: Path | None = None
    start_wall: str = ""
    start_mono: float = 0.0
    polled_peak_mb: float | None = None
    kill_reason: str | None = None
    kill_note: str = ""
    kill_deadline: float | None = None

    # what the scheduler reads
    @property
    def resource_class(self) -> str:
        return self.spec.resource_class

    @property
    def repeat(self) -> int:
        return self.spec.repeat

    @property
    def run_index(self) -> int:
        return self.spec.run_index

    @property
    def overrides(self) -> list[str]:
        return [*self.spec.overrides, *self.cap_overrides]


class Orchestrator:
    def __init__(self, settings: LauncherSettings, config: DictConfig, hydra_context: Any, task_function: Any) -> None:
        self.s = settings
        self.config = config
        self.hydra_context = hydra_context
        self.task_function = task_function
        self.sweep_dir = sweep_dir_of(config)
        self.meta = self.sweep_dir / META_DIR
        self.logs = self.sweep_dir / "logs"
        self.scheduler = Scheduler(settings)
        self.opened = False
        self.plan: list[RunSpec] = []
        self.rows: list[dict[str, Any]] = []
        self.position = 0
        self.combo_counter = 0
        self.planned_to_run = 0
        self.stop_all = False
        self.signal_received: int | None = None
        self.common_path: Path | None = None
        self.pool: Any = None
        self.learn: dict[str, Any] | None = None
        self.recheck_s: float | None = None  # the scheduler holds room for a run about to end
        self.configs = ConfigCache(self._compose, getattr(hydra_context.config_loader, "repository", None))

    # ---- session ---------------------------------------------------------------------------------

    def _open_session(self) -> None:
        self.sweep_dir.mkdir(parents=True, exist_ok=True)
        archived = None
        if self.s.resume:
            prev = PreviousSweep.load(self.sweep_dir)
        else:
            archived = archive_previous(self.sweep_dir)
            prev = PreviousSweep()
        for d in (self.meta, self.logs, self.meta / "payloads", self.meta / "returns"):
            d.mkdir(parents=True, exist_ok=True)
        self.progress = Progress(self.sweep_dir / "superior.log", self.s.progress, self.s.parallel,
                                 self.scheduler.durations)
        self.previous = prev
        self.session = prev.last_session + 1
        self.rows = list(prev.rows)
        self.used_job_nums = prev.job_nums_used()
        self.index_by_key = prev.run_index_by_key()
        self.next_index = max(self.index_by_key.values(), default=-1) + 1
        self.succeeded_before = prev.succeeded()
        self.journal = Journal(self.meta / "journal.jsonl")
        self.opened = True
        if archived is not None:
            self.progress.say(
                f"warning: {self.sweep_dir} held a sweep; its records were moved to {archived} and its job "
                "folders will be overwritten (hydra.launcher.resume=true completes a sweep instead)"
            )
        if self.s.resume:
            if (self.sweep_dir / "plan.tsv").is_file():
                (self.meta / f"plan.s{prev.last_session}.tsv").write_bytes((self.sweep_dir / "plan.tsv").read_bytes())
            dangling = prev.dangling_starts()
            for e in dangling:  # started, never recorded: the orchestrator was killed during the run
                self.rows.append({
                    "run_id": e.get("run_id"), "session": e.get("session"), "attempt": e.get("attempt"),
                    "job_num": e.get("job_num"), "status": "interrupted", "start": e.get("time"),
                    "resource_class": e.get("resource_class"), "seed": e.get("seed"), "repeat": e.get("repeat"),
                    "axis_values": e.get("axis_values"), "log_path": e.get("log_path"),
                    "job_dir": e.get("job_dir"), "overrides": e.get("overrides"),
                    "note": "the orchestrator stopped before this run ended",
                })
            if dangling and not self.s.dry_run:
                self._write_runs()
            self.progress.say(
                f"resume: session {self.session} of {self.sweep_dir}: {len(self.succeeded_before)} runs "
                f"succeeded before" + (f", {len(dangling)} were cut short" if dangling else "")
            )

    # ---- plan ------------------------------------------------------------------------------------

    def _compose(self, overrides: Sequence[str]) -> DictConfig:
        return self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))

    def _build_runs(self, batch: Sequence[Sequence[str]]) -> list[RunSpec]:
        axes = axis_values_of(batch)
        specs: list[RunSpec] = []
        seen = {spec.key for spec in self.plan}
        for job, axis in zip(batch, axes):
            job = list(job)
            check_seed_axis(job, self.s.seed_strategy, self.s.repeats)
            combo = self.combo_counter
            self.combo_counter += 1
            for repeat in range(self.s.repeats):
                position = self.position
                self.position += 1
                seed = seed_for(self.s.seed_strategy, self.s.base_seed, position, repeat)
                extra = extra_overrides_for(seed, repeat, self.s.repeats)
                key = run_key([*job, *extra])
                if key in seen:
                    raise SuperiorError(f"the grid holds the same run twice: {' '.join([*job, *extra])}")
                seen.add(key)
                if key not in self.index_by_key:
                    self.index_by_key[key] = self.next_index
                    self.next_index += 1
                index = self.index_by_key[key]
                cfg = self.configs.get([*job, *extra])
                families = families_of(cfg)
                cls = resource_class_of(families, self.s, where=f" (run_{index:04d}: {' '.join(job)})")
                specs.append(RunSpec(
                    run_index=index, combo=combo, repeat=repeat, seed=seed, job_overrides=job,
                    extra_overrides=extra, axis_values=axis, families=families, resource_class=cls,
                    est_ram_mb=self.scheduler.estimate(cls), weight=self.s.weight(cls), config=cfg,
                ))
        return specs

    def _mark(self, specs: list[RunSpec]) -> None:
        for spec in specs:
            if spec.key in self.succeeded_before:
                spec.plan_status = "skip_resume"
            elif self.s.max_runs is not None and self.planned_to_run >= self.s.max_runs:
                spec.plan_status = "beyond_max_runs"
            else:
                self.planned_to_run += 1
        if self.s.resume:
            old = self.previous.plan_keys()
            new = {spec.key for spec in self.plan} | {spec.key for spec in specs}
            added, removed = len(new - old), len(old - new)
            if added or removed:
                self.progress.say(
                    f"resume: the grid changed since the last session: {added} runs added, {removed} runs of "
                    f"the old grid not in this one (kept in runs.tsv, not run); the old plan is kept in "
                    f"{META_DIR}/plan.s{self.previous.last_session}.tsv"
                )

    def _write_plan(self) -> None:
        write_tsv(self.sweep_dir / "plan.tsv", PLAN_COLUMNS, [s.plan_row() for s in self.plan])

    def _write_runs(self) -> None:
        write_tsv(self.sweep_dir / "runs.tsv", RUNS_COLUMNS, self.rows)

    # ---- entry point -------------------------------------------------------------------------------

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> list[JobReturn]:
        if not self.opened:
            self._open_session()
        if not self.s.dry_run and self.pool is None:
            self.pool = self._make_pool()  # the fork server boots while the plan is composed
        try:
            specs = self._build_runs(job_overrides)
        except BaseException:
            self._close_pool()
            raise
        self._mark(specs)
        self.plan.extend(specs)
        self._write_plan()
        counts = {st: sum(1 for s in specs if s.plan_status == st) for st in ("to_run", "skip_resume", "beyond_max_runs")}
        text = f"plan: {len(specs)} runs ({len(job_overrides)} combinations x {self.s.repeats} repeats)"
        if counts["skip_resume"]:
            text += f", {counts['skip_resume']} succeeded before"
        if counts["beyond_max_runs"]:
            text += f", {counts['beyond_max_runs']} beyond max_runs={self.s.max_runs}"
        self.progress.say(f"{text}; written to {self.sweep_dir / 'plan.tsv'}")
        if self.s.dry_run:
            self.progress.say("dry run: nothing started")
            return []
        try:
            results = self._execute(specs)
        finally:
            # one pool per batch: a sweeper may take long between batches (e.g. an optimiser)
            self._close_pool()
        return self._returns(specs, results)

    def _close_pool(self) -> None:
        if self.pool is not None:
            self.pool.close()
            self.pool = None

    # ---- execution ---------------------------------------------------------------------------------

    def _write_common(self) -> Path:
        if self.common_path is None:
            path = self.meta / f"common.s{self.session}.pkl"
            common = {
                "task_function": self.task_function,
                "hydra_context": self.hydra_context,
                "singleton_state": Singleton.get_state(),
                "preload": list(self.s.preload),
            }
            try:
                data = cloudpickle.dumps(common)
            except Exception as err:
                raise SuperiorError(f"the task function or Hydra's state cannot be pickled for the runs' processes: {err}") from err
            path.write_bytes(data)
            self.common_path = path
        return self.common_path

    def _make_pool(self) -> Any:
        common = self._write_common()
        if self.s.start_method == "forkserver":
            pool = ForkServerPool(common, self.meta / "forkserver.log")
        else:
            pool = SpawnPool(common)
        return pool

    def _execute(self, specs: list[RunSpec]) -> dict[int, tuple[str, JobReturn | None]]:
        results: dict[int, tuple[str, JobReturn | None]] = {}
        for spec in specs:
            if spec.plan_status == "skip_resume":
                old = self.succeeded_before[spec.key]
                row = dict(old)
                row.update(session=self.session, status="skipped_resume",
                           note=f"succeeded in session {old.get('session')} (job {old.get('job_num')})")
                self.rows.append(row)
                results[spec.run_index] = ("skipped_resume", self._old_return(old))
        pending = [Attempt(spec) for spec in specs if spec.plan_status == "to_run"]
        self._write_runs()
        if not pending:
            self._close_pool()
            return results
        self.t0 = time.monotonic()
        running: dict[int, Attempt] = {}
        if self.pool is None:
            self.pool = self._make_pool()
        pool = self.pool
        self._setup_learning(pending, pool)
        pool.wait_ready()
        for failed in pool.preload_failed:
            self.progress.say(f"warning: hydra.launcher.preload: {failed}")
        wake_r = self._install_signals(pool)
        interrupt_done = False
        try:
            while pending or running:
                if self.signal_received and not interrupt_done:
                    interrupt_done = True
                    name = signal.Signals(self.signal_received).name
                    self.progress.say(f"{name}: stopping {len(running)} running runs; {len(pending)} not started")
                    for att in running.values():
                        self._kill(att, "interrupted", f"stopped by {name}")
                    pending.clear()
                # while a fork server with the learned modules boots, runs wait for it (at most
                # UPGRADE_WAIT_S): started on the old one they would import all that themselves
                hold = pool.upgrading and time.monotonic() - (pool.upgrade_started or 0) < UPGRADE_WAIT_S
                self.recheck_s = None
                if not self.signal_received and not self.stop_all and not hold:
                    admission = self.scheduler.admit(pending, running.values())
                    # room held for a run about to end: ask again by then even if nothing ends
                    self.recheck_s = admission.recheck_s
                    for att in admission.over_budget_alone:
                        self.progress.say(
                            f"warning: {att.spec.run_id} is estimated at {self.scheduler.estimate(att.resource_class):.0f} MB, "
                            f"above the budget or weight limit on its own: it runs alone"
                        )
                    for att in admission.start:
                        pending.remove(att)
                        self._start(att, pool)
                        running[att.job_num] = att
                        self._say_status(f"start {self._label(att)}", pending, running)
                for ev in pool.wait(self._timeout(running)):
                    self._on_event(ev, pending, running, results)
                if wake_r is not None:
                    try:
                        while os.read(wake_r, 512):
                            pass
                    except (BlockingIOError, OSError):
                        pass
                self._watch(running)
                if not pool.alive():
                    raise SuperiorError(f"the fork server died; see {self.meta / 'forkserver.log'}")
        finally:
            if running:  # an error in the loop itself: leave no run behind
                for att in running.values():
                    if att.pid:
                        signal_tree(att.pid, signal.SIGKILL)
            self._close_pool()
            self._restore_signals(wake_r)
            self._write_runs()
        self._summary(results)
        if self.signal_received:
            self.progress.say(
                f"interrupted: the sweep can be completed with the same command and "
                f"hydra.sweep.dir={self.sweep_dir} hydra.launcher.resume=true"
            )
            raise SystemExit(128 + self.signal_received)
        return results

    # ---- learned preload -----------------------------------------------------------------------------

    def _setup_learning(self, pending: list[Attempt], pool: Any) -> None:
        self.learn = None
        if not self.s.preload_auto or not hasattr(pool, "upgrade") or len(pending) <= self.s.parallel:
            return
        light = min({a.resource_class for a in pending}, key=self.scheduler.estimate)
        n_light = sum(1 for a in pending if a.resource_class == light)
        self.learn = {"class": light, "need": min(2, n_light), "seen": 0, "modules": None, "done": False}

    def _learn_modules(self, att: Attempt, pending: list[Attempt]) -> None:
        learn = self.learn
        path = self.meta / "returns" / f"{att.job_num:04d}.modules.json"
        if not learn or learn["done"] or not path.is_file():
            return
        try:
            names = json.loads(path.read_text())
        finally:
            path.unlink(missing_ok=True)
        learn["modules"] = names if learn["modules"] is None else [m for m in learn["modules"] if m in set(names)]
        learn["seen"] += 1
        if learn["seen"] < learn["need"]:
            return
        learn["done"] = True
        modules = [m for m in learn["modules"] if not m.startswith("__") and m.split(".")[0] not in AUTO_PRELOAD_EXCLUDE]
        # a new server costs about what a run's imports cost: only worth it with runs left to use it
        if modules and len(pending) >= 2 * self.s.parallel and self.pool is not None and hasattr(self.pool, "upgrade"):
            self.pool.upgrade(modules, self.meta / f"preload.s{self.session}.json")
            self.progress.say(
                f"fork server: preloading the {len(modules)} modules that the first {learn['seen']} "
                f"{learn['class']} runs imported (a new server takes over once ready)"
            )

    def _label(self, att: Attempt) -> str:
        spec = att.spec
        bits = [f"job {att.job_num}", spec.resource_class, f"est {self.scheduler.estimate(spec.resource_class):.0f} MB"]
        if att.attempt > 1:
            bits.insert(1, f"attempt {att.attempt}")
        axes = " ".join(f"{k}={v}" for k, v in spec.axis_values.items())
        extra = " ".join([*spec.extra_overrides, *att.cap_overrides])
        return f"{spec.run_id} ({', '.join(bits)}) {axes} {extra}".rstrip()

    def _say_status(self, head: str, pending: list[Attempt], running: dict[int, Attempt]) -> None:
        this = [r for r in self.rows if r.get("session") == self.session]
        done = len(this)
        bad = sum(1 for r in this if r.get("status") in FAILED_STATUSES)
        now = time.monotonic()
        status = self.progress.status(
            done, bad, [(a.resource_class, now - a.start_mono) for a in running.values()],
            [a.resource_class for a in pending],
        )
        self.progress.say(f"{head} | {status}")

    def _timeout(self, running: dict[int, Attempt]) -> float:
        timeout = 0.2 if getattr(self.pool, "upgrading", False) else 1.0
        if self.s.safety.enable_hard_ram_limit and running:
            timeout = self.s.safety.poll_interval_s
        if self.recheck_s is not None:
            timeout = min(timeout, self.recheck_s)
        now = time.monotonic()
        for att in running.values():
            if att.kill_deadline is not None:
                timeout = min(timeout, max(0.0, att.kill_deadline - now))
        return timeout

    # ---- signals -----------------------------------------------------------------------------------

    def _on_signal(self, signum: int, frame: Any) -> None:
        if self.signal_received:  # a second Ctrl-C: no more grace
            self.s.safety.kill_grace_s = 0.0
        self.signal_received = signum

    def _install_signals(self, pool: Any) -> int | None:
        self._old_handlers: dict[int, Any] = {}
        if threading.current_thread() is not threading.main_thread():
            return None
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._old_handlers[sig] = signal.signal(sig, self._on_signal)
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_r, False)
        os.set_blocking(wake_w, False)
        self._wake_w = wake_w
        self._old_wakeup = signal.set_wakeup_fd(wake_w)
        pool.register_extra(wake_r)
        return wake_r

    def _restore_signals(self, wake_r: int | None) -> None:
        for sig, handler in self._old_handlers.items():
            signal.signal(sig, handler)
        if wake_r is not None:
            signal.set_wakeup_fd(self._old_wakeup)
            os.close(wake_r)
            os.close(self._wake_w)

    # ---- one attempt -------------------------------------------------------------------------------

    def _alloc_job_num(self, att: Attempt) -> int:
        index = att.spec.run_index
        if att.attempt == 1 and index not in self.used_job_nums:
            num = index
        else:
            num = max(self.used_job_nums | {s.run_index for s in self.plan}) + 1
        self.used_job_nums.add(num)
        return num

    def _job_dir(self, cfg: DictConfig) -> Path:
        hc = HydraConfig.instance()
        old = hc.cfg
        try:
            hc.set_config(cfg)
            out = Path(str(OmegaConf.select(cfg, "hydra.sweep.dir"))) / str(OmegaConf.select(cfg, "hydra.sweep.subdir"))
        finally:
            hc.cfg = old
        return out.absolute()

    def _rel(self, path: Any) -> str:
        if not path:
            return ""
        try:
            return str(Path(path).absolute().relative_to(self.sweep_dir))
        except ValueError:
            return str(path)

    def _start(self, att: Attempt, pool: Any) -> None:
        spec = att.spec
        num = self._alloc_job_num(att)
        att.job_num = num
        if att.attempt == 1 and not att.cap_overrides and spec.config is not None:
            cfg = spec.config
        else:
            cfg = self._compose(att.overrides)
        with read_write(cfg.hydra), open_dict(cfg.hydra):
            cfg.hydra.job.num = num
            cfg.hydra.job.id = f"{cfg.hydra.job.name}_{num}"
        att.config = cfg
        att.job_dir = self._job_dir(cfg)
        att.log_path = self.logs / f"run_{num:04d}.log"
        att.payload_path = self.meta / "payloads" / f"{num:04d}.pkl"
        att.return_path = self.meta / "returns" / f"{num:04d}.pkl"
        for stale in (att.return_path, att.log_path):
            if stale.exists():
                stale.unlink()
        payload = {"config": cfg, "return_path": str(att.return_path)}
        learn = self.learn
        if learn and not learn["done"] and spec.resource_class == learn["class"] and att.attempt == 1:
            payload["modules_path"] = str(self.meta / "returns" / f"{num:04d}.modules.json")
        att.payload_path.write_bytes(cloudpickle.dumps(payload))
        att.start_wall = _now()
        self.journal.append({
            "ev": "start", "session": self.session, "run_id": spec.run_id, "job_num": num,
            "attempt": att.attempt, "key": spec.key, "overrides": att.overrides, "time": att.start_wall,
            "resource_class": spec.resource_class, "seed": spec.seed, "repeat": spec.repeat,
            "axis_values": spec.axis_values, "log_path": self._rel(att.log_path), "job_dir": self._rel(att.job_dir),
        })
        att.start_mono = time.monotonic()
        pool.start(num, att.payload_path, att.log_path, os.getcwd())

    def _on_event(self, ev: ProcEvent, pending: list[Attempt], running: dict[int, Attempt], results: dict) -> None:
        att = running.get(ev.key)
        if att is None:
            return
        if ev.kind == "started":
            att.pid = ev.pid
            if att.kill_reason:  # asked to stop before its pid was known
                signal_tree(att.pid, signal.SIGTERM)
                att.kill_deadline = time.monotonic() + self.s.safety.kill_grace_s
            return
        del running[ev.key]
        self._finish(att, ev, pending, running, results)

    def _kill(self, att: Attempt, reason: str, note: str) -> None:
        if att.kill_reason:
            return
        att.kill_reason, att.kill_note = reason, note
        if att.pid:
            signal_tree(att.pid, signal.SIGTERM)
            att.kill_deadline = time.monotonic() + self.s.safety.kill_grace_s

    def _watch(self, running: dict[int, Attempt]) -> None:
        now = time.monotonic()
        safety = self.s.safety
        for att in running.values():
            if att.pid is None:
                continue
            if att.kill_deadline is not None and now >= att.kill_deadline:
                signal_tree(att.pid, signal.SIGKILL)
                att.kill_deadline = None
            if safety.enable_hard_ram_limit and not att.kill_reason:
                rss = tree_rss_mb(att.pid)
                if rss is None:
                    continue
                att.polled_peak_mb = max(att.polled_peak_mb or 0.0, rss)
                if rss > safety.hard_limit_mb:
                    self._kill(att, "oom", f"RSS {rss:.0f} MB above the hard limit of {safety.hard_limit_mb} MB")
                    self.progress.say(f"hard limit: stopping {att.spec.run_id} (job {att.job_num}): {att.kill_note}")

    def _load_return(self, path: Path | None) -> JobReturn | None:
        if path is None or not path.is_file():
            return None
        try:
            with open(path, "rb") as f:
                ret = pickle.load(f)
            return ret if isinstance(ret, JobReturn) else None
        except Exception:
            return None

    def _old_return(self, row: dict) -> JobReturn | None:
        try:
            return self._load_return(self.meta / "returns" / f"{int(row['job_num']):04d}.pkl")
        except (KeyError, ValueError):
            return None

    @staticmethod
    def _log_tail(path: Path | None) -> str:
        if path is None or not path.is_file():
            return ""
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 4096))
            lines = [ln.strip() for ln in f.read().decode("utf-8", "replace").splitlines() if ln.strip()]
        return lines[-1][:300] if lines else ""

    def _classify(self, att: Attempt, ev: ProcEvent, ret: JobReturn | None) -> tuple[str, str]:
        code = ev.exit_code
        completed = ret is not None and ret.status == JobStatus.COMPLETED
        if code == 0 and completed:
            return "success", ""
        if att.kill_reason:
            return att.kill_reason, att.kill_note
        value = ret._return_value if ret is not None else None
        if code == EXIT_MEMORY_ERROR or isinstance(value, MemoryError):
            return "oom", "MemoryError"
        if code is not None and code < 0:
            name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else str(-code)
            if -code == signal.SIGKILL:
                return "oom", "killed by SIGKILL, not by superior (the kernel's OOM killer?)"
            return "failed", f"killed by {name}"
        if isinstance(value, BaseException):
            return "failed", f"{type(value).__name__}: {value}"[:300]
        tail = self._log_tail(att.log_path)
        return "failed", f"exit status {code}" + (f": {tail}" if tail else "")

    def _finish(self, att: Attempt, ev: ProcEvent, pending: list[Attempt], running: dict[int, Attempt], results: dict) -> None:
        spec = att.spec
        duration = time.monotonic() - att.start_mono
        peaks = [p for p in (ev.maxrss_mb, att.polled_peak_mb) if p]
        peak = max(peaks) if peaks else None
        ret = self._load_return(att.return_path)
        status, note = self._classify(att, ev, ret)
        if ret is not None and ret.hydra_cfg is not None:
            out = OmegaConf.select(ret.hydra_cfg, "hydra.runtime.output_dir", default=None)
            if out:
                att.job_dir = Path(str(out))
        run_json = read_run_json(att.job_dir)
        quality = check_quality(run_json, self.s.early_stop) if status == "success" else Quality(
            metrics_paths=check_quality(run_json, self.s.early_stop).metrics_paths if run_json else []
        )
        raised = self.scheduler.observe_peak(spec.resource_class, peak)
        if status == "success":
            # the lookahead's durations, and the ETA's (Progress reads the same record)
            self.scheduler.observe_duration(spec.resource_class, duration)
        self._add_row(att, status, note, exit_code=ev.exit_code, end=_now(), duration=duration, peak=peak, quality=quality)
        results[spec.run_index] = (status, ret)
        if att.payload_path is not None and att.payload_path.exists():
            att.payload_path.unlink()
        head = f"{status} {spec.run_id} (job {att.job_num}) in {duration:.1f} s"
        if peak:
            head += f", peak {peak:.0f} MB"
        if note:
            head += f": {note}"
        if quality.ok is False:
            head += f"; quality flagged: {quality.flags}"
        self._say_status(head, pending, running)
        if raised:
            self.progress.say(f"estimate of class {spec.resource_class} raised to {peak:.0f} MB (measured peak)")
        if status == "success":
            self._learn_modules(att, pending)
        if status == "success" and quality.ok is False:
            self._early_stop(att, quality, pending, results)
        if status == "oom":
            self._oom_policy(att, run_json, pending, running, results)

    def _add_row(self, att: Attempt | None, status: str, note: str, *, spec: RunSpec | None = None,
                 exit_code: int | None = None, end: str = "", duration: float | None = None,
                 peak: float | None = None, quality: Quality | None = None) -> None:
        spec = spec or att.spec
        quality = quality or Quality()
        self.rows.append({
            "run_id": spec.run_id, "session": self.session, "attempt": att.attempt if att else 1,
            "job_num": att.job_num if att else None, "status": status, "exit_code": exit_code,
            "start": att.start_wall if att else "", "end": end, "duration_s": duration,
            "peak_rss_mb": round(peak, 1) if peak else None, "resource_class": spec.resource_class,
            "est_ram_mb": round(self.scheduler.estimate(spec.resource_class)), "seed": spec.seed,
            "repeat": spec.repeat, "axis_values": spec.axis_values, "quality_ok": quality.ok,
            "quality_flags": quality.flags, "metrics_paths": ";".join(quality.metrics_paths),
            "log_path": self._rel(att.log_path) if att else "", "job_dir": self._rel(att.job_dir) if att else "",
            "overrides": att.overrides if att else spec.overrides, "note": note,
        })
        self._write_runs()

    # ---- policies ----------------------------------------------------------------------------------

    def _skip_pending(self, pending: list[Attempt], combo_key: str, status: str, note: str, results: dict) -> int:
        skipped = [p for p in pending if p.spec.combo_key == combo_key]
        for p in skipped:
            pending.remove(p)
            self._add_row(None, status, note, spec=p.spec)
            results[p.spec.run_index] = (status, None)
        return len(skipped)

    def _early_stop(self, att: Attempt, quality: Quality, pending: list[Attempt], results: dict) -> None:
        es = self.s.early_stop
        for m in quality.low_models:
            append_line(
                self.sweep_dir / "early_stop.log",
                f"{_now()}\t{att.spec.run_id}\tjob {att.job_num}\t{m['model_id']} ({m['family']})\t"
                f"accuracy {m['accuracy']:.4f} < {es.min_accuracy}\tmacro_f1 {m['macro_f1']:.4f} < {es.min_macro_f1}\t"
                f"quality_ok=false\t{self._rel(att.job_dir)}",
            )
        if es.prune:
            n = self._skip_pending(pending, att.spec.combo_key, "skipped_early_stop",
                                   f"pruned: {att.spec.run_id} of the same combination scored below the thresholds",
                                   results)
            if n:
                append_line(self.sweep_dir / "early_stop.log",
                            f"{_now()}\t{att.spec.run_id}\tpruned {n} remaining repeats of its combination")
                self.progress.say(f"early stop: {n} remaining repeats of {att.spec.run_id}'s combination pruned")

    def _oom_policy(self, att: Attempt, run_json: dict | None, pending: list[Attempt],
                    running: dict[int, Attempt], results: dict) -> None:
        pol = self.s.oom_policy
        spec = att.spec
        if pol.on_oom == "stop":
            self.stop_all = True
            self.progress.say(f"oom_policy=stop: {spec.run_id} hit OOM; aborting the {len(pending) + len(running)} other runs")
            for p in list(pending):
                pending.remove(p)
                self._add_row(None, "aborted_oom_policy", f"oom_policy=stop after {spec.run_id}", spec=p.spec)
                results[p.spec.run_index] = ("aborted_oom_policy", None)
            for r in running.values():
                self._kill(r, "aborted_oom_policy", f"oom_policy=stop after {spec.run_id}")
            return
        if pol.on_oom == "backoff":
            if att.attempt <= pol.max_retries:
                caps = backoff_caps(att.config, pol, run_json)
                if caps is not None:
                    pending.append(Attempt(spec, attempt=att.attempt + 1, cap_overrides=caps))
                    # the combination's runs that have not started yet start with the reduced caps too
                    for p in pending:
                        if p.spec.combo_key == spec.combo_key and p.attempt == 1:
                            p.cap_overrides = list(caps)
                    self.progress.say(f"oom_policy=backoff: {spec.run_id} queued again (attempt {att.attempt + 1}) with {' '.join(caps)}")
                    return
                self.progress.say(f"oom_policy=backoff: no hardware.max_train_docs_* in {spec.run_id}'s config: nothing to reduce, skipping instead")
            else:
                self.progress.say(f"oom_policy=backoff: {spec.run_id} hit OOM on {att.attempt} attempts; giving up on its combination")
        n = self._skip_pending(pending, spec.combo_key, "skipped_oom", f"{spec.run_id} of the same combination hit OOM", results)
        if n:
            self.progress.say(f"oom_policy: {n} remaining runs of {spec.run_id}'s combination skipped")

    # ---- results -----------------------------------------------------------------------------------

    def _summary(self, results: dict[int, tuple[str, Any]]) -> None:
        counts: dict[str, int] = {}
        for status, _ in results.values():
            counts[status] = counts.get(status, 0) + 1
        parts = ", ".join(f"{n} {st}" for st, n in sorted(counts.items(), key=lambda kv: -kv[1]))
        elapsed = time.monotonic() - getattr(self, "t0", time.monotonic())
        self.progress.say(f"finished: {len(results)} runs in {hms(elapsed)} ({parts}); records in {self.sweep_dir / 'runs.tsv'}")

    def _synthetic_return(self, spec: RunSpec, status: str, note: str) -> JobReturn:
        cfg = spec.config
        ret = JobReturn()
        ret.overrides = list(spec.overrides)
        if cfg is not None:
            task_cfg = OmegaConf.masked_copy(cfg, [k for k in cfg.keys() if k != "hydra"]) if isinstance(cfg, DictConfig) else None
            ret.cfg = task_cfg
            ret.hydra_cfg = OmegaConf.masked_copy(cfg, "hydra")
            ret.task_name = str(OmegaConf.select(cfg, "hydra.job.name", default=""))
        if status in ("skipped_early_stop", "skipped_resume"):
            ret.status = JobStatus.COMPLETED
            ret._return_value = None
        else:
            ret.status = JobStatus.FAILED
            ret._return_value = RunFailed(f"{spec.run_id}: {status}" + (f" ({note})" if note else ""))
        return ret

    def _returns(self, specs: list[RunSpec], results: dict[int, tuple[str, JobReturn | None]]) -> list[JobReturn]:
        bad = [st for st, _ in results.values() if st in FAILED_STATUSES]
        failure = None
        if bad and self.s.fail_sweep:
            counts: dict[str, int] = {}
            for st in bad:
                counts[st] = counts.get(st, 0) + 1
            detail = ", ".join(f"{n} {st}" for st, n in counts.items())
            failure = SweepFailed(
                f"superior: {len(bad)} of {len(results)} runs did not succeed ({detail}); "
                f"see {self.sweep_dir / 'runs.tsv'} and the logs in {self.logs}"
            )
            # Hydra skips on_multirun_end when a sweep fails: the reports must still be written
            try:
                self.hydra_context.callbacks.on_multirun_end(
                    config=self.config, config_name=OmegaConf.select(self.config, "hydra.job.config_name", default=None)
                )
            except Exception as err:  # a report callback failing must not hide the sweep's own outcome
                self.progress.say(f"warning: an on_multirun_end callback failed: {type(err).__name__}: {err}")
        out: list[JobReturn] = []
        for spec in specs:
            if spec.run_index not in results:
                continue
            status, ret = results[spec.run_index]
            if ret is None:
                ret = self._synthetic_return(spec, status, "")
            if status in FAILED_STATUSES:
                ret.status = JobStatus.FAILED
                if failure is not None:
                    ret._return_value = failure
                elif not isinstance(ret._return_value, BaseException):
                    ret._return_value = RunFailed(f"{spec.run_id}: {status}")
            out.append(ret)
        return out
