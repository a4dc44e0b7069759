"""Results people can read: a sweep folder -> metrics_global.tsv, plots/*.png, report.md.

Everything here reads files only (the sweep's `multirun.yaml`, the job folders' `.hydra/` and
`run.json`, each model's `metrics.json`, and the superior launcher's `runs.tsv` / `plan.tsv` when
present), so the same code serves the Hydra callbacks at the end of a sweep under any launcher and
`python -m app stage=report report.sweep_dir=…` on a finished, partial or interrupted sweep.

    collect.py        sweep folder -> Sweep (grid, runs) and one row per run × model
    metrics_table.py  rows -> metrics_global.tsv
    curves.py         the `curves` hook: plots/<metric>__vs__<x_axis>.png
    report_md.py      the `report_markdown` hook: report.md
    hooks.py          analysis_hooks.after_experiment: parsing, checking, defaults
    build.py          all of the above for one sweep folder (used by callbacks.py and stage.py)
    callbacks.py      Hydra callbacks (hydra.callbacks in conf/config.yaml), live progress
    stage.py          stage=report
"""
