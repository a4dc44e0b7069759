"""`python -m app stage=report report.sweep_dir=<sweep folder>`: rebuild a sweep's table, plots and report.

Works on a finished, partial or interrupted sweep, under whatever launcher ran it. The hooks are the
ones the sweep was run with (its multirun.yaml), unless `analysis_hooks.after_experiment` is given
on this command line. Exit status 2 when the folder is not a sweep or a hook is wrong (after writing
everything that could be written).
"""

import logging
from pathlib import Path

from omegaconf import DictConfig

from app.errors import UserError
from app.reporting.build import SWEEP_HOOKS, build_outputs
from app.reporting.hooks import hooks_from_config

log = logging.getLogger(__name__)


def run_report_stage(cfg: DictConfig) -> None:
    sweep_dir = cfg.report.sweep_dir
    if not sweep_dir:
        raise UserError("stage=report needs the sweep folder: python -m app stage=report report.sweep_dir=<folder> "
                        "(quote it: job folder names contain '=' and ',')")
    hooks_raw = hooks_from_config(cfg)
    result = build_outputs(Path(str(sweep_dir)), SWEEP_HOOKS if hooks_raw is None else hooks_raw,
                           context="by `stage=report`")
    sweep = result.sweep
    log.info("sweep %s: %d runs, %d with results; wrote %s", sweep.dir, len(sweep.runs), result.n_with_results,
             ", ".join(sweep.path_rel(p) for p in result.written()))
    for note in result.notes:
        log.info("%s", note)
    if sweep.runs and result.n_with_results == 0:
        log.warning("no run of this sweep has a result: report.md lists why under 'Anomalies'")
    if result.errors:
        written = ", ".join(sweep.path_rel(p) for p in result.written())
        raise UserError("; ".join(result.errors) + f" (written anyway: {written})")
