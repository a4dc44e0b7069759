"""What one fresh process per run costs: `superior` against joblib and the basic launcher.

N trivial runs (the check family alone on the demo corpus web1, prepared data and model already in
the cache, so a run is ~0.5 s of work) as one multirun, with

- hydra/launcher=superior, parallel 2 (fork server; after the first runs, the modules they
  imported are preloaded: `preload_auto`);
- the same with the app's pipeline modules named in `preload` (as conf/experiment/*.yaml do), so
  that the fork server imports them while the plan is made;
- the same with preload_auto=false (every run imports the app's libraries itself);
- hydra/launcher=joblib, n_jobs 2 (loky workers, reused across jobs: memory is not returned);
- the basic launcher (one process, runs one after the other).

It prints the wall time of each whole command, the ratios (computed in this run), and the start-up
of one run: a fresh interpreter importing Hydra and the app's pipeline, and, from superior's
records, each run's duration minus the work the run itself reports (run.json durations_s.total).

    python bench/sweep_overhead.py               # 24 runs
    python bench/sweep_overhead.py --runs 8 --launchers superior,joblib
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
from app.orchestrator.records import read_tsv  # noqa: E402

LAUNCHERS = {
    "superior": ["hydra/launcher=superior", "hydra.launcher.parallel=2"],
    "superior_preload": ["hydra/launcher=superior", "hydra.launcher.parallel=2",
                         "hydra.launcher.preload=[app.pipeline,app.prepare,app.train,app.evaluate]"],
    "superior_no_preload": ["hydra/launcher=superior", "hydra.launcher.parallel=2", "hydra.launcher.preload_auto=false"],
    "joblib": ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"],
    "basic": [],
}


def env() -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    e["PYTHONPATH"] = os.pathsep.join(p for p in [str(REPO / "src"), e.get("PYTHONPATH", "")] if p)
    return e


def app(*args: str, cwd: Path) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "app", *args], cwd=cwd, env=env(), capture_output=True, text=True)
    return time.monotonic() - t0, proc


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=24)
    ap.add_argument("--launchers", default=",".join(LAUNCHERS), help="comma-separated, from: " + ", ".join(LAUNCHERS))
    args = ap.parse_args()
    names = [n for n in args.launchers.split(",") if n]
    tmp = Path(tempfile.mkdtemp(prefix="superior_overhead_"))
    common = ["stage=pipeline", "dataset=web1", "~model", f"paths.cache_dir={tmp / 'cache'}", "progress=false"]

    # warm the cache (prepared data, check model) so every launcher's runs do the same small work
    t_one, proc = app(*common, f"hydra.run.dir={tmp / 'warmup'}", cwd=REPO)
    if proc.returncode != 0:
        print(proc.stderr[-3000:], file=sys.stderr)
        return 1
    # start-up of one run: a fresh interpreter importing what a run imports
    t0 = time.monotonic()
    subprocess.run([sys.executable, "-c", "import hydra, app.pipeline, app.evaluate, app.train, app.prepare"],
                   env=env(), cwd=REPO, check=True)
    t_imports = time.monotonic() - t0
    work = json.loads((tmp / "warmup" / "run.json").read_text())["durations_s"]["total"]

    walls: dict[str, float] = {}
    startup: dict[str, list[float]] = {}
    for name in names:
        sweep_dir = tmp / name
        wall, proc = app("-m", *common, f"repeat=range(0,{args.runs})", f"hydra.sweep.dir={sweep_dir}",
                         *LAUNCHERS[name], cwd=REPO)
        jobs = [p for p in sweep_dir.iterdir() if p.is_dir() and (p / "run.json").is_file()]
        ok = [p for p in jobs if json.loads((p / "run.json").read_text()).get("status") == "success"]
        if proc.returncode != 0 or len(ok) != args.runs:
            print(f"{name}: exit {proc.returncode}, {len(ok)}/{args.runs} runs succeeded\n{proc.stderr[-3000:]}", file=sys.stderr)
            return 1
        walls[name] = wall
        if (sweep_dir / "runs.tsv").is_file():
            rows = sorted(read_tsv(sweep_dir / "runs.tsv"), key=lambda r: r["start"])
            startup[name] = [
                float(r["duration_s"]) - json.loads((sweep_dir / r["job_dir"] / "run.json").read_text())["durations_s"]["total"]
                for r in rows
            ]
        print(f"  {name:20s} {wall:7.2f} s", flush=True)

    print(f"\nsweep overhead: {args.runs} trivial runs (check family on web1, cached), 2 cores ({os.cpu_count()} CPUs seen)")
    print(f"  one run alone (python -m app, cached):     {t_one:6.2f} s wall, of which the run's own work {work:.2f} s")
    print(f"  fresh interpreter + imports of a run:       {t_imports:6.2f} s")
    for name, rows in startup.items():
        if len(rows) > 2:
            first, rest = rows[:2], rows[2:]
            print(f"  {name}: per-run start-up (duration - own work): first 2 runs {statistics.median(first):.2f} s, "
                  f"the others {statistics.median(rest):.2f} s (median)")
    print("  wall time of the whole multirun:")
    for name, wall in walls.items():
        print(f"    {name:20s} {wall:7.2f} s")
    if "joblib" in walls:
        for name in ("superior", "superior_preload", "superior_no_preload", "basic"):
            if name in walls:
                print(f"  ratio {name} / joblib: {walls[name] / walls['joblib']:.2f}")
        if "superior" in walls:
            print(f"  goal superior <= 1.3 x joblib: {'met' if walls['superior'] <= 1.3 * walls['joblib'] else 'NOT met'}")
    if "basic" in walls and "superior" in walls:
        print(f"  ratio superior / basic: {walls['superior'] / walls['basic']:.2f}")
    import shutil

    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
