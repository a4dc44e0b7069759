"""Everything for one sweep folder: metrics_global.tsv, the hooks' plots, report.md.

Shared by the Hydra callbacks (end of a sweep, any launcher) and `stage=report`. The table is
written first and always; a broken hook is reported (in the result and in report.md) while the
others still run, so a mistake in one hook never costs the rest.
"""

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.reporting.collect import RESULT_STATUSES, Sweep, collect_rows, load_sweep
from app.reporting.curves import PLOTS_DIR, Plot, plot_curves
from app.reporting.hooks import CurvesHook, ReportHook, parse_hooks
from app.reporting.metrics_table import TABLE_NAME, build_table, write_table
from app.reporting.report_md import write_report

log = logging.getLogger(__name__)

SWEEP_HOOKS = object()  # "use the hooks the sweep itself was configured with" (multirun.yaml)


@dataclass
class BuildResult:
    sweep: Sweep
    table: Path
    plots: list[Plot] = field(default_factory=list)
    reports: list[Path] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # hooks the user must fix
    notes: list[str] = field(default_factory=list)  # plots not drawn, and why

    @property
    def n_with_results(self) -> int:
        return sum(r.status in RESULT_STATUSES for r in self.sweep.runs)

    def written(self) -> list[Path]:
        return [self.table, *(p.path for p in self.plots), *self.reports]


def build_outputs(sweep_dir: Path | str, hooks_raw: Any = SWEEP_HOOKS, *, context: str = "") -> BuildResult:
    """Raises UserError only when `sweep_dir` is not a sweep; hook problems are in `.errors`."""
    sweep = load_sweep(sweep_dir)
    hooks, errors = parse_hooks(sweep.hooks if hooks_raw is SWEEP_HOOKS else hooks_raw)
    frame = build_table(sweep, collect_rows(sweep))
    result = BuildResult(sweep=sweep, table=write_table(frame, sweep.dir / TABLE_NAME), errors=errors)

    used_names: set[str] = set()
    for hook in (h for h in hooks if isinstance(h, CurvesHook)):
        try:
            curves = plot_curves(sweep, frame, hook, used_names)
        except Exception as err:  # noqa: BLE001  one broken plot must not cost the report
            log.exception("curves hook failed")
            result.errors.append(f"curves hook ({', '.join(hook.metrics)} vs {hook.x_axis or 'first axis'}) "
                                 f"failed: {type(err).__name__}: {err}")
            continue
        result.plots += curves.plots
        result.notes += curves.notes
        result.errors += curves.errors
    _remove_stale_plots(sweep.dir / PLOTS_DIR, {p.path.name for p in result.plots})

    for hook in (h for h in hooks if isinstance(h, ReportHook)):  # last: they embed the plots
        path = Path(hook.path).expanduser()
        path = path if path.is_absolute() else sweep.dir / path
        result.reports.append(write_report(sweep, frame, result.plots, path, notes=result.notes,
                                           problems=result.errors, context=context))
    return result


def _remove_stale_plots(plots_dir: Path, keep: set[str]) -> None:
    """Curves from an earlier build that this one did not draw (a changed hook) would mislead."""
    if not plots_dir.is_dir():
        return
    for path in plots_dir.glob("*__vs__*.png"):
        if path.name not in keep:
            path.unlink(missing_ok=True)
