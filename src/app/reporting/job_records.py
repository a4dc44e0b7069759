"""The sweep records of runs launched through submitit (`hydra/launcher=slurm|slurm_local`): runs.tsv.

Written by Hydra callbacks, so that they come from the job itself wherever it runs:

- `on_job_start` (on the node): `<sweep>/.job_records/job_<NNNN>.start.json` — when, where (host,
  SLURM job id, submitit log), which overrides, which attempt (a requeued job starts again);
- `on_job_end` (on the node): `job_<NNNN>.end.json` — status (`success`, `failed`, `oom` for a
  MemoryError), duration, peak RSS as the job measured it (`resource.getrusage`: the job's process
  and its waited-for children), the error; then runs.tsv is rebuilt (live view);
- the launcher adds `job_<NNNN>.verdict.json` when a job has ended for the scheduler: its state
  (`OUT_OF_MEMORY`, `TIMEOUT`, ...) — the only source for a job that SLURM killed, since a killed job
  runs no callback;
- `on_multirun_end` and the launcher rebuild runs.tsv from all of these.

Jobs on different nodes end at the same moment and write to a shared file system, so nothing is
written in place: each job writes only its own files, each file is written whole under a unique
temporary name (host, pid, random) and renamed (atomic), and runs.tsv is a view rebuilt from the
record files the same way.  A rebuild that raced with a record written meanwhile is redone (the
writer re-lists the records after its rename), and the launcher's rebuild after every job has ended
is the final word: no record can be lost, runs.tsv is never half-written.

Status of a run (runs.tsv, same vocabulary as the superior launcher):
- the job's own end record wins: a run that completed is `success` even if SLURM logged an
  oom-kill event in its cgroup (a warning about a child process, noted in `note`);
- no end record: the scheduler's verdict — `OUT_OF_MEMORY` is `oom`, `TIMEOUT`/`FAILED`/`NODE_FAIL`
  are `failed`, `CANCELLED`/`PREEMPTED` are `interrupted`;
- neither: `interrupted` (the job started and never ended, as far as anyone recorded).

Configured in conf/config.yaml, after `sweep_report` (Hydra runs end callbacks in reverse order, so
runs.tsv is then rebuilt before the report reads it):

    hydra:
      callbacks:
        job_records:
          _target_: app.reporting.job_records.JobRecordsCallback

It acts only under the launchers named in `launchers` (substrings of `hydra.launcher._target_`); the
superior launcher writes runs.tsv itself.  This module is imported by every run: nothing heavy at
module level.
"""

import json
import logging
import os
import socket
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)

RECORDS_DIR = ".job_records"
HISTORY_DIR = "history"
SESSION_FILE = "session.json"
KINDS = ("start", "end", "verdict")

# the superior launcher's columns (app/orchestrator/records.py), then what only a cluster knows
PLAN_EXTRA_COLUMNS = ["mem_gb", "cpus_per_task", "timeout_min"]
RUNS_EXTRA_COLUMNS = ["slurm_job_id", "node", "scheduler_state", "mem_gb", "cpus_per_task", "timeout_min"]

# scheduler state (SLURM's sacct, or submitit's local executor) -> status, for a job that left no end record
STATE_STATUS = {
    "OUT_OF_MEMORY": "oom",
    "TIMEOUT": "failed",
    "DEADLINE": "failed",
    "FAILED": "failed",
    "NODE_FAIL": "failed",
    "BOOT_FAIL": "failed",
    "COMPLETED": "failed",  # completed for SLURM but no result: the job exited without running to its end
    "FINISHED": "failed",  # submitit_local: the controller finished, the job left no result
    "CANCELLED": "interrupted",
    "PREEMPTED": "interrupted",
    "REVOKED": "interrupted",
    "INTERRUPTED": "interrupted",  # submitit_local: the job's controller was killed by a signal
}
STATE_NOTES = {
    "OUT_OF_MEMORY": "killed by SLURM: memory above the job's request (--mem)",
    "TIMEOUT": "killed by SLURM: time limit reached",
    "DEADLINE": "killed by SLURM: deadline reached",
    "NODE_FAIL": "the node failed",
    "BOOT_FAIL": "the node failed to boot",
    "CANCELLED": "cancelled (scancel, or the job was stopped)",
    "PREEMPTED": "preempted and not requeued",
}


# the superior launcher's columns as of this writing (used if its module cannot be imported)
_PLAN_COLUMNS = ["run_id", "run_index", "combo", "repeat", "seed", "resource_class", "est_ram_mb", "weight",
                 "plan_status", "axis_values", "overrides"]
_RUNS_COLUMNS = ["run_id", "session", "attempt", "job_num", "status", "exit_code", "start", "end", "duration_s",
                 "peak_rss_mb", "resource_class", "est_ram_mb", "seed", "repeat", "axis_values", "quality_ok",
                 "quality_flags", "metrics_paths", "log_path", "job_dir", "overrides", "note"]


def _columns() -> tuple[list[str], list[str]]:
    try:  # one format for both launchers: superior's columns first, then ours
        from app.orchestrator.records import PLAN_COLUMNS, RUNS_COLUMNS
    except ImportError:
        PLAN_COLUMNS, RUNS_COLUMNS = _PLAN_COLUMNS, _RUNS_COLUMNS
    plan = list(PLAN_COLUMNS) + [c for c in PLAN_EXTRA_COLUMNS if c not in PLAN_COLUMNS]
    runs = list(RUNS_COLUMNS) + [c for c in RUNS_EXTRA_COLUMNS if c not in RUNS_COLUMNS]
    return plan, runs


def plan_columns() -> list[str]:
    return _columns()[0]


def runs_columns() -> list[str]:
    return _columns()[1]


# ---- files written whole, under a unique temporary name ----------------------------------------


def atomic_write_text(path: Path, text: str) -> None:
    """Temporary file unique across nodes (host, pid, random), fsync, rename: readers and other
    writers see the old or the new file, never a mix."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{socket.gethostname()}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    try:
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass


def _cell(value: Any) -> str:
    """As the superior launcher writes its TSVs: JSON for lists and dicts, no tabs or newlines."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".") if value == value else ""
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False, sort_keys=isinstance(value, dict))
    return str(value).replace("\t", " ").replace("\n", " ").replace("\r", " ")


# not app.orchestrator.records.write_tsv: its temporary name (pid only) is unsafe across nodes; its cells keep \r
def write_tsv(path: Path, columns: list[str], rows: Iterable[dict[str, Any]]) -> None:
    lines = ["\t".join(columns)]
    lines.extend("\t".join(_cell(row.get(c)) for c in columns) for row in rows)
    atomic_write_text(path, "\n".join(lines) + "\n")


def read_tsv(path: Path) -> list[dict[str, str]]:
    import csv

    if not Path(path).is_file():
        return []
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))


def write_json(path: Path, data: dict[str, Any]) -> None:
    atomic_write_text(path, json.dumps(data, ensure_ascii=False, sort_keys=True, default=str) + "\n")


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _now() -> str:
    return datetime.now().isoformat(timespec="milliseconds")


def _rel(path: Any, sweep_dir: Path) -> str:
    if not path:
        return ""
    try:
        return str(Path(path).absolute().relative_to(sweep_dir))
    except ValueError:
        return str(path)


# ---- where ---------------------------------------------------------------------------------------


def records_dir(sweep_dir: Path) -> Path:
    return Path(sweep_dir) / RECORDS_DIR


def record_path(sweep_dir: Path, job_num: int, kind: str) -> Path:
    return records_dir(sweep_dir) / f"job_{int(job_num):04d}.{kind}.json"


def run_id_of(job_num: int) -> str:
    return f"run_{int(job_num):04d}"


def current_session(sweep_dir: Path) -> int:
    data = read_json(records_dir(sweep_dir) / SESSION_FILE) or {}
    try:
        return int(data.get("session", 1))
    except (TypeError, ValueError):
        return 1


def set_session(sweep_dir: Path, session: int) -> None:
    records_dir(sweep_dir).mkdir(parents=True, exist_ok=True)
    write_json(records_dir(sweep_dir) / SESSION_FILE, {"session": int(session)})


def scan_records(folder: Path) -> dict[int, dict[str, Path]]:
    """job number -> {kind: path} for the record files in `folder`."""
    found: dict[int, dict[str, Path]] = {}
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return found
    for entry in entries:
        name = entry.name
        if not (name.startswith("job_") and name.endswith(".json")):
            continue
        stem = name[len("job_"):-len(".json")]
        num, _, kind = stem.partition(".")
        if kind in KINDS and num.isdigit():
            found.setdefault(int(num), {})[kind] = Path(entry.path)
    return found


# ---- what a job writes (on its node) ---------------------------------------------------------------


def _scheduler_env() -> dict[str, Any]:
    """The submitit job this process is (SLURM or local), when it is one."""
    out: dict[str, Any] = {"executor": os.environ.get("SUBMITIT_EXECUTOR", "")}
    if not out["executor"] or "SUBMITIT_FOLDER" not in os.environ:
        return out
    try:
        import submitit

        env = submitit.JobEnvironment()
        out["job_id"] = env.job_id
        paths = env.paths
        out["stdout"] = str(paths.stdout)
        out["stderr"] = str(paths.stderr)
    except Exception as err:  # noqa: BLE001  a record without the log path is still a record
        out["error"] = f"{type(err).__name__}: {err}"
    return out


def peak_rss_mb() -> float:
    """Peak RSS of this process and of its waited-for children, as the kernel counted it (exact)."""
    import resource

    self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return round(max(self_kb, children_kb) / 1024.0, 1)


def status_of_return(job_return: Any) -> tuple[str, str]:
    from hydra.core.utils import JobStatus

    if job_return is None:
        return "failed", "no job return"
    if job_return.status == JobStatus.COMPLETED:
        return "success", ""
    value = getattr(job_return, "_return_value", None)
    if isinstance(value, MemoryError):
        return "oom", "MemoryError"
    if isinstance(value, BaseException):
        return "failed", f"{type(value).__name__}: {value}"[:300]
    return "failed", str(value)[:300] if value is not None else "failed"


def write_start(sweep_dir: Path, job_num: int, config: DictConfig) -> dict[str, Any]:
    sweep_dir = Path(sweep_dir)
    records_dir(sweep_dir).mkdir(parents=True, exist_ok=True)
    path = record_path(sweep_dir, job_num, "start")
    previous = read_json(path) or {}
    sched = _scheduler_env()
    record = {
        "job_num": int(job_num),
        "attempt": int(previous.get("attempt", 0)) + 1,  # a requeued job starts again
        "session": current_session(sweep_dir),
        "start": _now(),
        "start_epoch": time.time(),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "overrides": [str(o) for o in OmegaConf.select(config, "hydra.overrides.task", default=[]) or []],
        "job_dir": str(OmegaConf.select(config, "hydra.runtime.output_dir", default="") or ""),
        "slurm_job_id": sched.get("job_id", ""),
        "executor": sched.get("executor", ""),
        "log_path": sched.get("stdout", ""),
        "err_path": sched.get("stderr", ""),
        "seed": OmegaConf.select(config, "seed", default=None),
        "repeat": OmegaConf.select(config, "repeat", default=None),
    }
    write_json(path, record)
    return record


def write_end(sweep_dir: Path, job_num: int, job_return: Any, started: float | None) -> dict[str, Any]:
    status, note = status_of_return(job_return)
    end_epoch = time.time()
    record = {
        "job_num": int(job_num),
        "status": status,
        "note": note,
        "exit_code": 0 if status == "success" else (1 if status == "failed" else None),
        "end": _now(),
        "end_epoch": end_epoch,
        "duration_s": round(end_epoch - started, 3) if started else None,
        "peak_rss_mb": peak_rss_mb(),
        "host": socket.gethostname(),
    }
    write_json(record_path(sweep_dir, job_num, "end"), record)
    return record


def write_verdict(sweep_dir: Path, job_num: int, *, state: str, status: str | None = None, note: str = "",
                  slurm_job_id: str = "", log_path: str = "", err_path: str = "",
                  session: int | None = None, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """What the scheduler says of an ended job (written by the launcher, never by the job); `extra`:
    what the launcher concluded besides (quality_ok, quality_flags of early_stop)."""
    record = {
        "job_num": int(job_num),
        "session": int(session) if session is not None else current_session(sweep_dir),
        "state": state,
        "status": status or STATE_STATUS.get(state.split(" ")[0].upper(), "failed"),
        "note": note or STATE_NOTES.get(state.split(" ")[0].upper(), ""),
        "time": _now(),
        "slurm_job_id": slurm_job_id,
        "log_path": log_path,
        "err_path": err_path,
        **(extra or {}),
    }
    records_dir(sweep_dir).mkdir(parents=True, exist_ok=True)
    write_json(record_path(sweep_dir, job_num, "verdict"), record)
    return record


# ---- runs.tsv: a view of the records -----------------------------------------------------------------


def classify(end: dict | None, verdict: dict | None) -> tuple[str, str]:
    """(status, note) of a run from its end record (the job's word) and the scheduler's verdict."""
    state = str((verdict or {}).get("state") or "").split(" ")[0].upper()
    if end is not None:
        status, note = str(end.get("status") or "failed"), str(end.get("note") or "")
        if state == "OUT_OF_MEMORY" and status == "success":
            note = ("SLURM reported an oom-kill event in the job's cgroup (a child process?); the run itself "
                    "completed").strip()
        return status, note
    if verdict is not None:
        return str(verdict.get("status") or STATE_STATUS.get(state, "failed")), str(verdict.get("note") or "")
    return "interrupted", "the job started and left no end record (killed, or still running?)"


def _run_json_metrics(job_dir: Path | None) -> list[str]:
    if job_dir is None:
        return []
    data = read_json(job_dir / "run.json") or {}
    return [str(m["metrics_path"]) for m in data.get("models") or [] if isinstance(m, dict) and m.get("metrics_path")]


def build_row(sweep_dir: Path, job_num: int, files: dict[str, Path], plan_row: dict[str, str] | None,
              session: int) -> dict[str, Any] | None:
    start = read_json(files["start"]) if "start" in files else None
    end = read_json(files["end"]) if "end" in files else None
    verdict = read_json(files["verdict"]) if "verdict" in files else None
    if start is None and end is None and verdict is None:
        return None
    status, note = classify(end, verdict)
    plan_row = plan_row or {}
    start = start or {}
    job_dir = Path(start["job_dir"]) if start.get("job_dir") else None
    log_path = start.get("log_path") or (verdict or {}).get("log_path") or ""

    def plan(key: str) -> Any:
        value = plan_row.get(key)
        if value in (None, ""):
            return None
        if key == "axis_values":
            try:
                return json.loads(value)
            except ValueError:
                return value
        return value

    overrides = start.get("overrides")
    if overrides is None and plan_row.get("overrides"):
        try:
            overrides = json.loads(plan_row["overrides"])
        except ValueError:
            overrides = None
    if end is None and status == "oom" and plan("mem_gb") is not None:
        note = f"{note} (request: {plan('mem_gb')} GB)".strip()
    duration = (end or {}).get("duration_s")  # a killed job's own duration is unknown (no end record)
    session = start.get("session") or (verdict or {}).get("session") or session
    return {
        "run_id": run_id_of(job_num), "session": session, "attempt": start.get("attempt", 1),
        "job_num": job_num, "status": status, "exit_code": (end or {}).get("exit_code"),
        "start": start.get("start", ""), "end": (end or {}).get("end") or (verdict or {}).get("time", ""),
        "duration_s": duration, "peak_rss_mb": (end or {}).get("peak_rss_mb"),
        "resource_class": plan("resource_class"), "est_ram_mb": plan("est_ram_mb"),
        "seed": plan("seed") if plan("seed") is not None else start.get("seed"),
        "repeat": plan("repeat") if plan("repeat") is not None else start.get("repeat"),
        "axis_values": plan("axis_values") or {}, "quality_ok": (verdict or {}).get("quality_ok"),
        "quality_flags": (verdict or {}).get("quality_flags") or None,
        "metrics_paths": ";".join(_run_json_metrics(job_dir)) if status == "success" else "",
        "log_path": _rel(log_path, sweep_dir), "job_dir": _rel(job_dir, sweep_dir), "overrides": overrides or [],
        "note": note, "slurm_job_id": start.get("slurm_job_id") or (verdict or {}).get("slurm_job_id", ""),
        "node": start.get("host", ""), "scheduler_state": (verdict or {}).get("state", ""),
        "mem_gb": plan("mem_gb"), "cpus_per_task": plan("cpus_per_task"), "timeout_min": plan("timeout_min"),
    }


def _history_sessions(sweep_dir: Path) -> list[tuple[int, Path]]:
    base = records_dir(sweep_dir) / HISTORY_DIR
    out = []
    if base.is_dir():
        for d in base.iterdir():
            if d.is_dir() and d.name.startswith("s") and d.name[1:].isdigit():
                out.append((int(d.name[1:]), d))
    return sorted(out)


def collect_rows(sweep_dir: Path, *, final: bool) -> tuple[list[dict[str, Any]], set[str]]:
    """Rows of runs.tsv, and the names of the record files they were built from.

    `final=False` (a live rebuild by a job): runs still running (a start record only) are left out,
    as the superior launcher adds a run to runs.tsv when it ends.  `final=True` (every job has ended):
    they are `interrupted`.
    """
    sweep_dir = Path(sweep_dir)
    plan = {r.get("run_id", ""): r for r in read_tsv(sweep_dir / "plan.tsv")}
    rows: list[dict[str, Any]] = []
    used: set[str] = set()
    for session, folder in _history_sessions(sweep_dir):
        for num, files in sorted(scan_records(folder).items()):
            row = build_row(sweep_dir, num, files, plan.get(run_id_of(num)), session)
            if row is not None:
                rows.append(row)
    session = current_session(sweep_dir)
    for num, files in sorted(scan_records(records_dir(sweep_dir)).items()):
        if not final and "end" not in files and "verdict" not in files:
            continue
        used.update(p.name for k, p in files.items() if k != "start")
        row = build_row(sweep_dir, num, files, plan.get(run_id_of(num)), session)
        if row is not None:
            rows.append(row)
    return rows, used


def merge_runs(sweep_dir: Path, *, final: bool, max_rounds: int = 20) -> Path | None:
    """Rebuild `<sweep>/runs.tsv` from the record files (see the module doc for why nothing is lost)."""
    sweep_dir = Path(sweep_dir)
    if not records_dir(sweep_dir).is_dir():
        return None
    path = sweep_dir / "runs.tsv"
    for _ in range(max_rounds):
        rows, used = collect_rows(sweep_dir, final=final)
        write_tsv(path, runs_columns(), rows)
        # a record that appeared since we listed them: its writer may have renamed runs.tsv before us
        now = {p.name for files in scan_records(records_dir(sweep_dir)).values() for k, p in files.items() if k != "start"}
        if now <= used:
            break
    return path


def write_plan(sweep_dir: Path, rows: list[dict[str, Any]]) -> Path:
    path = Path(sweep_dir) / "plan.tsv"
    write_tsv(path, plan_columns(), rows)
    return path


# ---- resume ------------------------------------------------------------------------------------------


def previous_runs(sweep_dir: Path) -> list[dict[str, Any]]:
    """Every run the sweep folder's records know, current session last (for resume)."""
    rows, _ = collect_rows(sweep_dir, final=True)
    return rows


def archive_records(sweep_dir: Path, job_nums: Iterable[int]) -> None:
    """Move the record files of runs about to be submitted again into history/s<their session>/ (their
    rows stay in runs.tsv, under that session)."""
    folder = records_dir(sweep_dir)
    found = scan_records(folder)
    for num in job_nums:
        files = found.get(int(num)) or {}
        session = None
        for kind in ("start", "verdict"):
            if kind in files:
                session = (read_json(files[kind]) or {}).get("session") or session
        dest = folder / HISTORY_DIR / f"s{int(session or 1)}"
        for path in files.values():
            dest.mkdir(parents=True, exist_ok=True)
            os.replace(path, dest / path.name)


# ---- the callback --------------------------------------------------------------------------------------


class JobRecordsCallback(Callback):
    """Per-job records and runs.tsv for sweeps launched through submitit (see the module doc).

    launchers: substrings of `hydra.launcher._target_` under which the callback acts.
    live: rebuild runs.tsv as each job ends (else only at the end of the sweep).
    """

    def __init__(self, launchers: Any = ("ideolab_slurm", "hydra_submitit_launcher"), live: bool = True) -> None:
        self.launchers = [str(x) for x in (launchers or [])]
        self.live = bool(live)
        self._started: float | None = None

    def _active(self, config: DictConfig) -> bool:
        from hydra.types import RunMode

        try:
            if OmegaConf.select(config, "hydra.mode") != RunMode.MULTIRUN:
                return False
            target = str(OmegaConf.select(config, "hydra.launcher._target_", default="") or "")
        except Exception:  # noqa: BLE001
            return False
        return any(s == "*" or s in target for s in self.launchers)

    @staticmethod
    def _sweep_dir(config: DictConfig) -> Path:
        return Path(str(config.hydra.sweep.dir)).absolute()

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        if not self._active(config):
            return
        self._started = time.time()
        try:
            write_start(self._sweep_dir(config), int(config.hydra.job.num), config)
        except Exception as err:  # noqa: BLE001  a record is never worth a failed run
            log.warning("job records: could not write the start record: %s: %s", type(err).__name__, err)

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        if not self._active(config):
            return
        sweep_dir = self._sweep_dir(config)
        try:
            write_end(sweep_dir, int(config.hydra.job.num), job_return, self._started)
            if self.live:
                merge_runs(sweep_dir, final=False)
        except Exception as err:  # noqa: BLE001
            log.warning("job records: could not write the end record: %s: %s", type(err).__name__, err)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if not self._active(config):
            return
        try:
            path = merge_runs(self._sweep_dir(config), final=True)
        except Exception as err:  # noqa: BLE001
            log.warning("job records: could not rebuild runs.tsv: %s: %s", type(err).__name__, err)
            return
        if path is not None:
            log.info("job records: %s", path)
