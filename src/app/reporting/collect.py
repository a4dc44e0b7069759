"""A sweep folder -> its grid, its runs, and one row per run × model.

Sources, in order of trust:
- the superior launcher's `runs.tsv` (status, exit code, times, peak RSS of the process tree,
  quality flags, log path) and `plan.tsv` (every planned run), when present;
- each job folder: `.hydra/overrides.yaml` (the run's settings), `.hydra/hydra.yaml` (job number),
  `run.json` (written by every run, failed ones included), `reports/<family>/<model>/metrics.json`
  and `metrics_by_<field>.json` (the numbers themselves: the table copies them, never recomputes);
- `multirun.yaml` at the sweep root: the grid (sweeper params + command-line sweeps) in grid order,
  so runs that never started are known too.

Any launcher leaves the job folders and `multirun.yaml` (Hydra's basic sweeper writes it), so nothing
here depends on superior; its files only add what a launcher alone can know (exit codes, OOM, log).
"""

import csv
import itertools
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from app.errors import UserError

# statuses whose job folder holds valid results (skipped_resume: the run succeeded in an earlier pass)
RESULT_STATUSES = ("success", "skipped_resume")
# axes that repeat a combination rather than change it: results are averaged over them
REPEAT_KEYS = ("seed", "repeat")
HEADLINE_METRICS = ("accuracy", "macro_f1", "weighted_f1")
GROUP_METRICS = ("accuracy", "macro_f1", "weighted_f1", "n")
BASELINE_FAMILY = "check"

STATUS_REASONS = {
    "failed": "the run failed",
    "oom": "stopped above the hard RAM limit",
    "skipped_oom": "skipped: a run of the same combination ran out of memory (oom_policy=skip)",
    "aborted_oom_policy": "not run: the sweep was stopped after an out-of-memory run (oom_policy=stop)",
    "interrupted": "interrupted (Ctrl-C or the orchestrator was stopped)",
    "incomplete": "no run.json: the run was killed or interrupted, or is still running",
    "not_run": "not started: the sweep stopped before this run",
    "skipped_early_stop": "skipped: an earlier repeat of this combination fell under the early_stop thresholds",
    "beyond_max_runs": "not run: beyond hydra.launcher.max_runs",
}

# runs.tsv / plan.tsv column names accepted for each field (first match wins)
_TSV_COLUMNS = {
    "run_id": ("run_id", "run", "id", "job_num", "job_id"),
    "status": ("status",),
    "exit_code": ("exit_code", "returncode", "return_code", "rc"),
    "start": ("start", "started", "start_time", "started_at"),
    "end": ("end", "ended", "end_time", "ended_at", "finished_at"),
    "duration_s": ("duration_s", "duration", "seconds", "elapsed_s"),
    "peak_rss_mb": ("peak_rss_mb", "peak_rss", "rss_mb", "max_rss_mb"),
    "quality_ok": ("quality_ok",),
    "quality_flags": ("quality_flags", "flags"),
    "log_path": ("log_path", "log", "logfile"),
    "job_dir": ("job_dir", "run_dir", "output_dir", "dir"),
    "overrides": ("overrides",),
    "seed": ("seed",),
    "repeat": ("repeat",),
}


@dataclass
class Run:
    run_id: str
    status: str
    overrides: list[str] = field(default_factory=list)
    settings: dict[str, str] = field(default_factory=dict)  # override key -> value, as Hydra wrote it
    job_dir: Path | None = None
    record: dict | None = None  # run.json
    config: dict | None = None  # .hydra/config.yaml, read only when run.json is missing
    log_path: Path | None = None
    reason: str = ""
    exit_code: str = ""
    duration_s: float | None = None
    peak_rss_mb: float | None = None
    start: float | None = None  # epoch seconds
    end: float | None = None
    quality_ok: str = ""
    quality_flags: str = ""
    attempts: int = 1

    @property
    def has_results(self) -> bool:
        return self.status in RESULT_STATUSES


@dataclass
class Sweep:
    dir: Path
    name: str
    axes: dict[str, list[str]]  # axis key -> values in grid order
    runs: list[Run]
    planned: int | None  # runs the grid (or plan.tsv) asked for; None when unknown
    launcher: str = ""
    experiment: str | None = None
    started: float | None = None
    ended: float | None = None
    hooks: Any = None  # analysis_hooks.after_experiment as the sweep was configured
    has_runs_tsv: bool = False
    notes: list[str] = field(default_factory=list)

    def path_rel(self, path: Path | str | None) -> str:
        """A path relative to the sweep folder (the table and the report stay valid if it is moved)."""
        if not path:
            return ""
        path = Path(path)
        try:
            return os.path.relpath(path, self.dir)
        except ValueError:  # another drive (Windows)
            return str(path)

    @property
    def combination_axes(self) -> list[str]:
        """Axes that define a combination (repeat axes excluded)."""
        return [a for a in self.axes if a not in REPEAT_KEYS]


# ----------------------------------------------------------------------------------------------
# the sweep folder


def load_sweep(sweep_dir: Path | str) -> Sweep:
    sweep_dir = Path(sweep_dir).expanduser()
    if not sweep_dir.exists():
        raise UserError(f"sweep folder {sweep_dir} does not exist")
    if not sweep_dir.is_dir():
        raise UserError(f"{sweep_dir} is a file, not a sweep folder")
    sweep_dir = sweep_dir.resolve()
    multirun_path = sweep_dir / "multirun.yaml"
    runs_tsv, plan_tsv = sweep_dir / "runs.tsv", sweep_dir / "plan.tsv"
    job_dirs = find_job_dirs(sweep_dir)
    if not (multirun_path.is_file() or runs_tsv.is_file() or plan_tsv.is_file() or job_dirs):
        if (sweep_dir / ".hydra").is_dir():
            raise UserError(
                f"{sweep_dir} is the folder of a single run, not of a sweep (a sweep folder holds multirun.yaml "
                "and one folder per run); give the folder that `python -m app -m …` created"
            )
        raise UserError(
            f"{sweep_dir} is not a sweep folder: it holds no multirun.yaml, runs.tsv, plan.tsv and no job folder "
            "(<job>/.hydra/overrides.yaml); give the folder that `python -m app -m …` created"
        )

    notes: list[str] = []
    multirun = load_yaml(multirun_path, notes) if multirun_path.is_file() else None
    hydra_cfg = (multirun or {}).get("hydra") or {}
    choices = (hydra_cfg.get("runtime") or {}).get("choices") or {}
    axes, combos = grid_from_multirun(multirun, notes) if multirun else ({}, None)

    jobs = [_read_job(d, notes) for d in job_dirs]
    if runs_tsv.is_file() or plan_tsv.is_file():
        runs = _runs_from_tsv(sweep_dir, runs_tsv, plan_tsv, jobs, notes)
        planned = len(runs) if plan_tsv.is_file() else None
    else:
        runs = jobs
        planned = len(combos) if combos is not None else None
        if combos is not None:
            runs += _missing_runs(combos, axes, jobs)
    runs.sort(key=lambda r: _run_sort_key(r.run_id))

    _add_observed_axes(axes, runs)
    started, ended = _sweep_times(multirun_path, runs)
    experiment = choices.get("experiment")
    name = experiment or "/".join(sweep_dir.parts[-2:])
    return Sweep(
        dir=sweep_dir, name=str(name), axes=axes, runs=runs, planned=planned,
        launcher=str(choices.get("hydra/launcher") or ""),
        experiment=experiment, started=started, ended=ended,
        hooks=(multirun or {}).get("analysis_hooks", {}).get("after_experiment") if multirun else None,
        has_runs_tsv=runs_tsv.is_file(), notes=notes,
    )


def find_job_dirs(sweep_dir: Path, max_depth: int = 12) -> list[Path]:
    """Folders holding `.hydra/overrides.yaml` below the sweep root (job folder names made of
    overrides may contain '/', so a job folder can sit several levels down)."""
    found = []
    root_depth = len(sweep_dir.parts)
    for current, dirs, _files in os.walk(sweep_dir):
        here = Path(current)
        if here != sweep_dir and (here / ".hydra" / "overrides.yaml").is_file():
            found.append(here)
            dirs[:] = []
            continue
        if len(here.parts) - root_depth >= max_depth:
            dirs[:] = []
            continue
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in ("plots", "logs", "reports"))
    return found


def grid_from_multirun(multirun: dict, notes: list[str]) -> tuple[dict[str, list[str]], list[dict] | None]:
    """Axes (key -> values, grid order) and every combination, as Hydra's basic sweeper expands them
    (sweeper params first, then the command line; a later value for the same key replaces it in place)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    hydra_cfg = multirun.get("hydra") or {}
    sweeper = hydra_cfg.get("sweeper") or {}
    params = sweeper.get("params") or {}
    task = list((hydra_cfg.get("overrides") or {}).get("task") or [])
    args = [f"{k}={_yaml_scalar(v)}" for k, v in params.items()] + [str(t) for t in task]
    values: dict[str, list[str]] = {}
    is_axis: dict[str, bool] = {}
    expandable = str(sweeper.get("_target_", "")).endswith("BasicSweeper")
    try:
        parsed = OverridesParser.create().parse_overrides(args)
    except Exception as err:  # noqa: BLE001 (a grammar error here must not stop the report)
        notes.append(f"could not read the grid from multirun.yaml ({err}); axes are taken from the runs")
        return {}, None
    for override in parsed:
        key = clean_key(override.get_key_element())
        if override.is_sweep_override():
            try:
                vals = list(override.sweep_string_iterator())
            except Exception:  # noqa: BLE001  glob() needs Hydra's config loader, interval() has no list
                vals, expandable = [], False
            values[key] = vals
            is_axis[key] = True
        else:
            values[key] = [override.get_value_element_as_str()]
            is_axis[key] = key in {clean_key(k) for k in params}
    axes = {k: v for k, v in values.items() if is_axis[k] and v}
    if not expandable:
        return axes, None
    combos = [dict(zip(values, combo)) for combo in itertools.product(*values.values())]
    return axes, combos


def clean_key(key: str) -> str:
    return key.lstrip("+~")


def parse_overrides(lines: list[str]) -> dict[str, str]:
    """`key=value` overrides -> {key: value as Hydra prints it}."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        return {clean_key(o.get_key_element()): o.get_value_element_as_str()
                for o in OverridesParser.create().parse_overrides([str(x) for x in lines])}
    except Exception:  # noqa: BLE001  fall back to a plain split (the report must still be written)
        out = {}
        for line in lines:
            key, _, value = str(line).partition("=")
            out[clean_key(key)] = value
        return out


def _yaml_scalar(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return ",".join(_yaml_scalar(v) for v in value)
    return str(value)


def load_yaml(path: Path, notes: list[str]) -> Any:
    try:
        with path.open(encoding="utf-8") as fh:
            return yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (OSError, yaml.YAMLError) as err:
        notes.append(f"could not read {path.name}: {err}")
        return None


def _load_json(path: Path, notes: list[str] | None = None) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        if notes is not None:
            notes.append(f"could not read {path}: {err}")
        return None


def _read_job(job_dir: Path, notes: list[str]) -> Run:
    overrides = [str(x) for x in (load_yaml(job_dir / ".hydra" / "overrides.yaml", notes) or [])]
    run_id = _job_num(job_dir, notes)
    record = _load_json(job_dir / "run.json", notes)
    run = Run(run_id=run_id, status="incomplete", overrides=overrides, settings=parse_overrides(overrides),
              job_dir=job_dir, record=record, log_path=_job_log(job_dir))
    _apply_record(run, notes)
    return run


def _apply_record(run: Run, notes: list[str]) -> None:
    """Fill a run's status, reason, duration and peak RSS from its run.json (or its config when none)."""
    rec = run.record
    if rec is None:
        if run.job_dir is not None:
            run.config = load_yaml(run.job_dir / ".hydra" / "config.yaml", notes)
        return
    run.status = str(rec.get("status") or "incomplete")
    if run.status == "running":  # never written by RunRecord, but be safe with other writers
        run.status = "incomplete"
    if run.status == "interrupted":  # the error is a bare "KeyboardInterrupt:"
        run.reason = STATUS_REASONS["interrupted"]
    elif rec.get("error"):
        run.reason = str(rec["error"])
    run.duration_s = _float((rec.get("durations_s") or {}).get("total"))
    run.peak_rss_mb = _float(rec.get("peak_rss_mb"))
    try:
        run.end = (run.job_dir / "run.json").stat().st_mtime if run.job_dir else None
    except OSError:
        pass


def _job_num(job_dir: Path, notes: list[str]) -> str:
    hydra_yaml = load_yaml(job_dir / ".hydra" / "hydra.yaml", notes) or {}
    num = ((hydra_yaml.get("hydra") or {}).get("job") or {}).get("num")
    if num is not None:
        return str(num)
    match = re.match(r"(\d+)", job_dir.name)
    return match.group(1) if match else job_dir.name


def _job_log(job_dir: Path) -> Path | None:
    logs = sorted(job_dir.glob("*.log"))
    return logs[0] if logs else None


def _missing_runs(combos: list[dict], axes: dict[str, list[str]], jobs: list[Run]) -> list[Run]:
    """Combinations of the grid that no job folder ran (the sweep stopped early)."""
    keys = list(axes)
    seen = {tuple(j.settings.get(k) for k in keys) for j in jobs}
    missing = []
    taken = {j.run_id for j in jobs}
    for index, combo in enumerate(combos):
        if tuple(combo.get(k) for k in keys) in seen:
            continue
        run_id = str(index) if str(index) not in taken else f"planned-{index}"
        overrides = [f"{k}={v}" for k, v in combo.items()]
        missing.append(Run(run_id=run_id, status="not_run", overrides=overrides, settings=dict(combo),
                           reason=STATUS_REASONS["not_run"]))
    return missing


def _add_observed_axes(axes: dict[str, list[str]], runs: list[Run]) -> None:
    """Keys that vary across runs without being in the grid (a launcher's own repeats or seeds, or
    every axis when the grid is unknown); values the grid did not list are appended to its axes."""
    seen: dict[str, list[str]] = {}
    for run in runs:
        for key, value in run.settings.items():
            seen.setdefault(key, [])
            if value not in seen[key]:
                seen[key].append(value)
    for key, values in seen.items():
        if key in axes:
            axes[key] += [v for v in values if v not in axes[key]]
        elif len(values) > 1 and all(key in r.settings for r in runs if r.status != "not_run"):
            axes[key] = sort_values(values)


def sort_values(values: list[str]) -> list[str]:
    """Numeric values in numeric order, others as given."""
    if values and all(is_number(v) for v in values):
        return sorted(values, key=float)
    return list(values)


def is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    try:
        float(value)
        return True
    except (TypeError, ValueError):
        return False


def _run_sort_key(run_id: str):
    match = re.search(r"\d+", run_id)
    return (0, int(match.group()), run_id) if match else (1, 0, run_id)


def _float(value: Any) -> float | None:
    try:
        if value is None or value == "":
            return None
        return float(value)
    except (TypeError, ValueError):
        return None


def _sweep_times(multirun_path: Path, runs: list[Run]) -> tuple[float | None, float | None]:
    starts = [r.start for r in runs if r.start is not None]
    ends = [r.end for r in runs if r.end is not None]
    started = min(starts) if starts else None
    if started is None:
        try:
            started = multirun_path.stat().st_mtime  # the basic sweeper writes it before any job
        except OSError:
            config_times = []
            for r in runs:
                try:
                    config_times.append((r.job_dir / ".hydra" / "config.yaml").stat().st_mtime)
                except (OSError, TypeError):
                    pass
            started = min(config_times) if config_times else None
    return started, (max(ends) if ends else None)


# ----------------------------------------------------------------------------------------------
# superior's runs.tsv / plan.tsv


def read_tsv(path: Path, notes: list[str]) -> list[dict[str, str]]:
    """Rows of a TSV with normalised column names (tolerant of the writer's exact names)."""
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh, delimiter="\t"))
    except OSError as err:
        notes.append(f"could not read {path.name}: {err}")
        return []
    out = []
    for row in rows:
        lowered = {str(k).strip().lower().replace(" ", "_"): (v or "").strip() for k, v in row.items() if k}
        norm = dict(lowered)
        for name, aliases in _TSV_COLUMNS.items():
            for alias in aliases:
                if alias in lowered and lowered[alias] != "":
                    norm[name] = lowered[alias]
                    break
        out.append(norm)
    return out


def _runs_from_tsv(sweep_dir: Path, runs_tsv: Path, plan_tsv: Path, jobs: list[Run], notes: list[str]) -> list[Run]:
    by_num = {j.run_id: j for j in jobs}
    by_dir = {j.job_dir.resolve(): j for j in jobs if j.job_dir}
    by_overrides = {tuple(sorted(j.overrides)): j for j in jobs}
    plan = read_tsv(plan_tsv, notes) if plan_tsv.is_file() else []
    attempts = read_tsv(runs_tsv, notes) if runs_tsv.is_file() else []
    last: dict[str, dict] = {}
    count: dict[str, int] = {}
    for row in attempts:  # one row per attempt (OOM backoff retries): the last one tells the outcome
        rid = _norm_id(row.get("run_id", ""))
        last[rid] = row
        count[rid] = count.get(rid, 0) + 1
    plan_by_id = {_norm_id(r.get("run_id", "")): r for r in plan}
    runs = []
    for rid in [*plan_by_id, *(rid for rid in last if rid not in plan_by_id)]:
        row = last.get(rid) or plan_by_id.get(rid) or {}
        overrides = _split_overrides(row.get("overrides") or plan_by_id.get(rid, {}).get("overrides", ""))
        job = _match_job(sweep_dir, row, rid, overrides, by_dir, by_num, by_overrides)
        if job is not None:
            run = job
            run.run_id = rid or job.run_id
            if overrides and not run.overrides:
                run.overrides, run.settings = overrides, parse_overrides(overrides)
        else:
            run = Run(run_id=rid, status="not_run", overrides=overrides, settings=parse_overrides(overrides))
            for key in REPEAT_KEYS:
                if row.get(key) and key not in run.settings:
                    run.settings[key] = row[key]
        if rid in last:
            _apply_tsv_row(run, row, sweep_dir)
            run.attempts = count[rid]
        elif job is None:
            planned_as = plan_by_id.get(rid, {}).get("plan_status", "")
            run.status = "not_run"
            run.reason = STATUS_REASONS.get(planned_as, STATUS_REASONS["not_run"])
        # a planned run whose job folder exists but is not in runs.tsv yet keeps its run.json status
        runs.append(run)
    return runs


def _norm_id(value: str) -> str:
    value = str(value).strip()
    return str(int(value)) if value.isdigit() else value


def _split_overrides(text: str) -> list[str]:
    text = (text or "").strip()
    if not text:
        return []
    if text.startswith("["):
        try:
            return [str(x) for x in json.loads(text)]
        except ValueError:
            pass
    import shlex

    try:
        return shlex.split(text)
    except ValueError:
        return text.split()


def _match_job(sweep_dir, row, rid, overrides, by_dir, by_num, by_overrides) -> Run | None:
    if row.get("job_dir"):
        path = Path(row["job_dir"])
        path = (path if path.is_absolute() else sweep_dir / path).resolve()
        if path in by_dir:
            return by_dir[path]
    if overrides and tuple(sorted(overrides)) in by_overrides:
        return by_overrides[tuple(sorted(overrides))]
    return by_num.get(rid)


def _apply_tsv_row(run: Run, row: dict, sweep_dir: Path) -> None:
    status = row.get("status") or run.status
    run.status = status
    run.exit_code = row.get("exit_code", "")
    run.duration_s = _float(row.get("duration_s")) if row.get("duration_s") else run.duration_s
    run.peak_rss_mb = _float(row.get("peak_rss_mb")) if row.get("peak_rss_mb") else run.peak_rss_mb
    run.start = _time(row.get("start")) or run.start
    run.end = _time(row.get("end")) or run.end
    run.quality_ok = row.get("quality_ok", "")
    run.quality_flags = row.get("quality_flags", "")
    if row.get("log_path"):
        path = Path(row["log_path"])
        run.log_path = path if path.is_absolute() else sweep_dir / path
    if status not in RESULT_STATUSES and not run.reason:
        run.reason = STATUS_REASONS.get(status, status)
        if status == "oom" and run.peak_rss_mb:
            run.reason += f" (peak {run.peak_rss_mb:.0f} MB)"
        if run.exit_code not in ("", "0") and status == "failed":
            run.reason += f" (exit code {run.exit_code})"
        if row.get("note"):
            run.reason += f" — {row['note']}"


def _time(value: str | None) -> float | None:
    if not value:
        return None
    number = _float(value)
    if number is not None:
        return number
    from datetime import datetime

    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return None


# ----------------------------------------------------------------------------------------------
# rows: one per run × model


def last_error_line(log_path: Path | None, max_bytes: int = 65536) -> str:
    """The last line of a log that names an error (for runs that left no run.json)."""
    if not log_path or not log_path.is_file():
        return ""
    try:
        with log_path.open("rb") as fh:
            fh.seek(max(0, log_path.stat().st_size - max_bytes))
            lines = fh.read().decode("utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    for line in reversed(lines):
        if re.search(r"error|exception|killed|memory", line, re.IGNORECASE) and line.strip():
            return line.strip()[:300]
    return ""


def _model_entries(run: Run) -> list[dict]:
    """Models of a run: run.json's list, or the metrics.json files its job folder holds."""
    entries = list((run.record or {}).get("models") or [])
    if run.job_dir is not None:
        known = {(m.get("family"), m.get("model_id")) for m in entries}
        for path in sorted((run.job_dir / "reports").glob("*/*/metrics.json")):
            key = (path.parent.parent.name, path.parent.name)
            if key not in known:
                entries.append({"family": key[0], "model_id": key[1], "metrics_path": str(path)})
    return entries


def _metrics_file(run: Run, entry: dict) -> Path | None:
    """The model's metrics.json: in the job folder first (the sweep may have been moved)."""
    if run.job_dir is not None and entry.get("family") and entry.get("model_id"):
        local = run.job_dir / "reports" / str(entry["family"]) / str(entry["model_id"]) / "metrics.json"
        if local.is_file():
            return local
    path = entry.get("metrics_path")
    if path and Path(path).is_file():
        return Path(path)
    return None


def _run_fields(run: Run) -> dict:
    """dataset, view, seed… from run.json, else from the job's composed config."""
    rec = run.record
    if rec is not None:
        return {
            "seed": rec.get("seed"), "repeat": rec.get("repeat"), "dataset_id": rec.get("dataset_id"),
            "eval_dataset_id": rec.get("eval_dataset_id"), "view": rec.get("view"), "balance": rec.get("balance"),
            "train_prop": rec.get("train_prop"), "split_group_by": rec.get("group_by"), "stage": rec.get("stage"),
        }
    cfg = run.config or {}
    fields = {
        "seed": cfg.get("seed"), "repeat": cfg.get("repeat"), "dataset_id": cfg.get("dataset_id"),
        "eval_dataset_id": cfg.get("eval_dataset_id") or cfg.get("dataset_id"),
        "view": (cfg.get("view") or {}).get("name"), "balance": (cfg.get("balance") or {}).get("strategy"),
        "train_prop": cfg.get("train_prop"), "split_group_by": (cfg.get("split") or {}).get("group_by"),
        "stage": cfg.get("stage"),
    }
    for key in ("seed", "repeat", "train_prop", "dataset_id", "eval_dataset_id", "stage"):
        if fields.get(key) is None and key in run.settings:
            fields[key] = run.settings[key]
    return fields


def collect_rows(sweep: Sweep) -> list[dict]:
    """One row per run × model (a run without any model still gets one row, with its status)."""
    rows = []
    shadowed: dict[str, list[tuple[dict, Any]]] = {}  # run field that is also an axis -> (row, run's value)
    for run in sweep.runs:
        base: dict[str, Any] = {"run_id": run.run_id, "status": run.status}
        for axis in sweep.axes:
            base[axis_column(axis)] = run.settings.get(axis)
        fields = _run_fields(run)
        for key, value in fields.items():
            if key not in sweep.axes:
                base[key] = value
        run_tail = {
            "duration_s": run.duration_s, "peak_rss_mb": run.peak_rss_mb, "exit_code": run.exit_code,
            "attempts": run.attempts, "quality_ok": run.quality_ok, "quality_flags": run.quality_flags,
            "reason": reason_of(run), "job_dir": sweep.path_rel(run.job_dir), "log_path": sweep.path_rel(run.log_path),
            "overrides": " ".join(run.overrides),
        }
        model_rows = []
        for entry in _model_entries(run):
            row = dict(base)
            row.update(family=entry.get("family"), model_id=entry.get("model_id"))
            metrics_path = _metrics_file(run, entry)
            metrics = _load_json(metrics_path, sweep.notes) if metrics_path else None
            for key in HEADLINE_METRICS:
                row[key] = (metrics or {}).get(key, entry.get(key) if metrics is None else None)
            row["n_job"] = (metrics or {}).get("n", entry.get("n_job"))
            row["n_train"] = (metrics or {}).get("n_train", entry.get("n_train"))
            if metrics_path is not None:
                row.update(_group_metrics(metrics_path.parent, sweep.notes))
                cm = metrics_path.parent / "confusion_matrix.png"
                row["confusion_matrix"] = sweep.path_rel(cm) if cm.is_file() else ""
            row["metrics_path"] = sweep.path_rel(metrics_path)
            model_rows.append(row)
        baseline = next((r["macro_f1"] for r in model_rows if r["family"] == BASELINE_FAMILY
                         and r.get("macro_f1") is not None), None)
        for row in model_rows:
            if row["family"] != BASELINE_FAMILY and baseline is not None and row.get("macro_f1") is not None:
                row["beats_baseline"] = bool(row["macro_f1"] > baseline)
            row.update(run_tail)
        if not model_rows:
            model_rows.append({**base, "family": None, "model_id": None, **run_tail})
        rows += model_rows
        for key in fields.keys() & sweep.axes.keys():
            shadowed.setdefault(key, []).extend((row, fields[key]) for row in model_rows)
    _add_effective_values(shadowed)
    return rows


def _add_effective_values(shadowed: dict[str, list[tuple[dict, Any]]]) -> None:
    """An axis that is also a run field (eval_dataset_id=null,parlamint_fr_2017) keeps the grid's value in its
    column; where a run used another value (null -> its own dataset), `<field>_effective` tells it."""
    for key, pairs in shadowed.items():
        if any(value is not None and not _same_value(row.get(axis_column(key)), value) for row, value in pairs):
            for row, value in pairs:
                row[f"{key}_effective"] = value


def _same_value(grid_value: Any, run_value: Any) -> bool:
    if str(grid_value) == str(run_value):
        return True
    return is_number(grid_value) and is_number(run_value) and float(grid_value) == float(run_value)


def axis_column(axis: str) -> str:
    """Column name for an axis; prefixed where it would shadow a column the table computes itself."""
    reserved = {"run_id", "status", "family", "model_id", *HEADLINE_METRICS, "n_job", "n_train", "reason",
                "job_dir", "log_path", "metrics_path", "overrides", "duration_s", "peak_rss_mb"}
    return f"axis.{axis}" if axis in reserved else axis


def _group_metrics(report_dir: Path, notes: list[str]) -> dict:
    """metrics_by_<field>.json -> {"macro_f1@corpus_id=web1": …} (compare_by)."""
    out = {}
    for path in sorted(report_dir.glob("metrics_by_*.json")):
        field_name = path.stem[len("metrics_by_"):]
        groups = _load_json(path, notes) or {}
        for value, metrics in groups.items():
            for key in GROUP_METRICS:
                if isinstance(metrics, dict) and key in metrics:
                    out[f"{key}@{field_name}={value}"] = metrics[key]
    return out


def reason_of(run: Run) -> str:
    if run.has_results:
        return ""
    reason = run.reason or STATUS_REASONS.get(run.status, run.status)
    if run.status in ("failed", "incomplete") and not (run.record or {}).get("error"):
        line = last_error_line(run.log_path)
        if line:
            reason = f"{reason} — log: {line}"
    return " ".join(reason.split())[:400]
