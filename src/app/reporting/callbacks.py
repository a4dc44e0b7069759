"""Hydra callbacks: the sweep's table, plots and report, whatever launcher ran the sweep.

Configured in conf/config.yaml:

    hydra:
      callbacks:
        sweep_report:
          _target_: app.reporting.callbacks.SweepReportCallback

- on_multirun_start: the hooks are checked against the grid before any run starts (a curves hook
  along an axis that does not exist is a config mistake: short message, exit status 2, nothing run);
- on_job_end: one progress line per finished run (done / running / pending, elapsed, ETA);
- on_multirun_end: metrics_global.tsv, the hooks' plots and report.md from the sweep folder;
- a sweep that stops early (a run raised, Ctrl-C, the launcher gave up) never reaches
  on_multirun_end, so the same build also runs at interpreter exit for what the folder holds.

Building never raises into Hydra: problems are logged on one line each and what can be written is
written. This module is imported by every run (Hydra instantiates callbacks in RUN mode too), so it
imports nothing heavy at module level.
"""

import atexit
import logging
import sys
import time
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)


class SweepReportCallback(Callback):
    def __init__(self, progress: bool = True) -> None:
        self.progress = progress
        self.sweep_dir: Path | None = None
        self.hooks: Any = None
        self.finished = False
        self.dry_run = False
        self._planned: int | None = None

    # -- multirun -------------------------------------------------------------------------------

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        try:
            self.sweep_dir = Path(str(config.hydra.sweep.dir)).resolve()
            from app.reporting.hooks import hooks_from_config

            self.hooks = hooks_from_config(config)
            self.dry_run = bool(OmegaConf.select(config, "hydra.launcher.dry_run", default=False))
            errors = _check_hooks(config, self.hooks)
        except Exception as err:  # noqa: BLE001  the report is never a reason not to run the sweep
            log.warning("sweep report: could not read the sweep settings (%s: %s); the report will be skipped",
                        type(err).__name__, err)
            self.sweep_dir = None
            return
        if errors:
            message = "; ".join(errors)
            log.error(message)
            print(f"ideolab: error: {message}", file=sys.stderr)
            raise SystemExit(2)  # before any run: fix the experiment's analysis_hooks first
        # Imported now because they cannot be imported at exit: both register with threading's exit
        # hooks, which refuse new entries once the interpreter is shutting down (pandas imports them lazily).
        import concurrent.futures.process  # noqa: F401
        import concurrent.futures.thread  # noqa: F401

        atexit.register(self._build_if_unfinished)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        self._build("at the end of the sweep")

    def _build_if_unfinished(self) -> None:
        if not self.finished:
            log.warning("sweep report: the sweep ended with an error (a failed run, Ctrl-C or the launcher); "
                        "building the report from what it left")
            self._build("after the sweep ended with an error")

    def _build(self, context: str) -> None:
        if self.finished or self.sweep_dir is None:
            return
        self.finished = True
        if self.dry_run:
            log.info("sweep report: dry run, nothing ran: no report")
            return
        if not self.sweep_dir.is_dir():
            log.warning("sweep report: %s does not exist: no run wrote anything, no report", self.sweep_dir)
            return
        try:
            from app.errors import UserError
            from app.reporting.build import build_outputs

            result = build_outputs(self.sweep_dir, self.hooks, context=context)
        except UserError as err:
            log.error("sweep report: %s", err)
            return
        except Exception as err:  # noqa: BLE001  never a traceback after the runs are done
            log.error("sweep report failed (%s: %s); the runs' own results are intact — rebuild with: "
                      "python -m app stage=report report.sweep_dir='%s'", type(err).__name__, err, self.sweep_dir)
            return
        sweep = result.sweep
        log.info("sweep report: %d runs, %d with results → %s", len(sweep.runs), result.n_with_results,
                 ", ".join(str(p) for p in [result.table, *result.reports]) + (
                     f" and {len(result.plots)} plot(s) in {sweep.dir / 'plots'}" if result.plots else ""))
        for note in result.notes:
            log.info("sweep report: %s", note)
        for error in result.errors:
            log.error("sweep report: %s", error)

    # -- progress -------------------------------------------------------------------------------

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        if not self.progress:
            return
        try:
            if OmegaConf.select(config, "hydra.mode") != RunMode.MULTIRUN:
                return
            line = self._progress_line(config)
        except Exception as err:  # noqa: BLE001  a progress line is never worth a failed run
            log.debug("no progress line: %s", err)
            return
        if line:
            log.info(line)

    def _progress_line(self, config: DictConfig) -> str | None:
        from app.reporting.collect import find_job_dirs
        from app.reporting.report_md import format_duration

        sweep_dir = self.sweep_dir or _find_sweep_dir(Path(str(config.hydra.runtime.output_dir)))
        if sweep_dir is None or (sweep_dir / "plan.tsv").exists() or (sweep_dir / "runs.tsv").exists():
            return None  # the superior launcher reports its own progress
        if self._planned is None:
            self._planned = _planned_runs(sweep_dir)
        counts: dict[str, int] = {}
        running = 0
        for job in find_job_dirs(sweep_dir):
            status = _status_of(job / "run.json")
            if status is None:
                running += 1
            else:
                counts[status] = counts.get(status, 0) + 1
        done = sum(counts.values())
        try:
            elapsed = time.time() - (sweep_dir / "multirun.yaml").stat().st_mtime
        except OSError:
            elapsed = None
        parts = [f"{done}/{self._planned} done" if self._planned else f"{done} done"]
        if counts:
            parts[0] += " (" + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) + ")"
        parts.append(f"{running} running")
        if self._planned:
            parts.append(f"{max(self._planned - done - running, 0)} pending")
        if elapsed is not None:
            parts.append(f"elapsed {format_duration(elapsed)}")
            remaining = (self._planned or 0) - done
            if done and remaining > 0:
                parts.append(f"ETA ~{format_duration(elapsed / done * remaining)}")
        return "sweep progress: " + " · ".join(parts)


def _check_hooks(config: DictConfig, hooks_raw: Any) -> list[str]:
    """Hook mistakes that can be seen before any run: unknown types and keys, an x_axis not in the grid."""
    from app.reporting.collect import REPEAT_KEYS, grid_from_multirun
    from app.reporting.hooks import CurvesHook, parse_hooks, x_axis_error

    hooks, errors = parse_hooks(hooks_raw)
    sweeper = OmegaConf.to_container(config.hydra.sweeper, resolve=False)
    task = [str(t) for t in config.hydra.overrides.task]
    notes: list[str] = []
    axes, _ = grid_from_multirun({"hydra": {"sweeper": sweeper, "overrides": {"task": task}}}, notes)
    if notes:  # a grid this code cannot read: check at the end instead
        return errors
    allowed = list(axes) + [k for k in REPEAT_KEYS if k not in axes]  # a launcher may vary seeds and repeats
    for hook in hooks:
        if isinstance(hook, CurvesHook) and x_axis_error(hook, allowed):
            errors.append(x_axis_error(hook, list(axes)))
    return errors


def _find_sweep_dir(job_dir: Path) -> Path | None:
    for parent in job_dir.parents:
        if (parent / "multirun.yaml").is_file():
            return parent
    return None


def _planned_runs(sweep_dir: Path) -> int | None:
    from app.reporting.collect import grid_from_multirun, load_yaml

    notes: list[str] = []
    multirun = load_yaml(sweep_dir / "multirun.yaml", notes)
    if not multirun:
        return None
    _, combos = grid_from_multirun(multirun, notes)
    return len(combos) if combos is not None else None


def _status_of(run_json: Path) -> str | None:
    import json

    try:
        return str(json.loads(run_json.read_text(encoding="utf-8")).get("status", "unknown"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return "unknown"
