"""The `superior` orchestrator: runs a Hydra sweep's jobs as fresh processes under a RAM budget.

The Hydra plugin (`hydra_plugins/superior_launcher/`) is a thin shell around this package:

    settings.py    launcher settings, checked before anything starts
    plan.py        sweeper jobs -> runs (repeats, seeds, resource class, RAM estimate); plan.tsv
    scheduler.py   which pending run may start now (parallel, budget, weights, estimates)
    processes.py   fork server / spawn, per-run log, exact peak RSS (wait4), hard-limit kill
    child.py       what runs inside a run's process (Hydra's run_job)
    policies.py    oom_policy (skip, backoff, stop) and early_stop (quality flags, pruning)
    records.py     plan.tsv, runs.tsv (atomic rewrite), journal (fsynced), early_stop.log
    resume.py      what an earlier session of the same sweep folder already did
    progress.py    one status line per change
    orchestrate.py the loop tying these together

Nothing is imported here so that a run's process (child.py) starts fast.
"""
