"""`hydra/launcher=superior` end to end, on tests/apps/memory_app.py (a task that holds N MB for T s).

Each test runs a real multirun in a subprocess and checks the sweep folder: plan.tsv, runs.tsv,
logs, job folders, early_stop.log, and the exit status.
"""

import json
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import psutil
import pytest

from app.orchestrator.records import read_tsv

sys.path.insert(0, str(Path(__file__).parent / "apps"))
from sweep_helpers import app_env, explain, run_sweep, sweep_cmd  # noqa: E402

pytestmark = pytest.mark.slow


def _t(s: str) -> float:
    return datetime.fromisoformat(s).timestamp()


def test_sweep_records_plan_runs_logs_and_measured_peaks(tmp_path):
    s = run_sweep(tmp_path, "hold_mb=30,120", "hold_s=0.3", "hydra.launcher.parallel=2",
                  "hydra.launcher.repeats=2", "hydra.launcher.seed_strategy=per_run", "hydra.launcher.base_seed=10")
    assert s.rc == 0, explain(s)
    plan = s.plan()
    assert [p["run_id"] for p in plan] == ["run_0000", "run_0001", "run_0002", "run_0003"]
    assert [p["seed"] for p in plan] == ["10", "11", "12", "13"] and [p["repeat"] for p in plan] == ["0", "1", "0", "1"]
    assert json.loads(plan[2]["axis_values"]) == {"hold_mb": "120"}
    assert json.loads(plan[1]["overrides"]) == ["hold_mb=30", "hold_s=0.3", "seed=11", "repeat=1"]
    runs = s.runs()
    assert sorted(r["status"] for r in runs) == ["success"] * 4
    for r in runs:
        rec = s.run_json(r)
        assert rec["seed"] == int(r["seed"]) and rec["repeat"] == int(r["repeat"])  # seeds reached the runs
        peak = float(r["peak_rss_mb"])
        assert rec["held_mb"] + 10 < peak < rec["held_mb"] + 150, (r, rec)  # measured, not estimated
        assert (s.dir / r["log_path"]).is_file() and r["log_path"] == f"logs/run_{int(r['job_num']):04d}.log"
        assert r["metrics_paths"].endswith("metrics.json")
    # fixed strategy: every run the same seed
    f = run_sweep(tmp_path, "hold_mb=1,2", "hydra.launcher.seed_strategy=fixed", "hydra.launcher.base_seed=5", name="fixed")
    assert f.rc == 0 and {r["seed"] for r in f.runs()} == {"5"} and {f.run_json(r)["seed"] for r in f.runs()} == {5}
    # one line per change on stderr: 2 per run (start, end) plus plan and summary
    lines = [ln for ln in s.stderr.splitlines() if ln.startswith("[superior")]
    assert 8 <= len(lines) <= 12, s.stderr
    assert (s.dir / "multirun_end.txt").read_text() == "on_multirun_end\n"


def test_budget_never_admits_more_than_allowed(tmp_path):
    # light est 200 MB, heavy est 500 MB, budget 800 MB, parallel 3: no two heavy runs together,
    # a heavy run with at most one light one, three light runs together
    # held: light 150 MB, heavy 400 MB (family_mb in memory_app.yaml), so measured peaks come close
    s = run_sweep(
        tmp_path, "family=sklearn,spacy", "hold_by_family=true", "hold_s=1.0", "hydra.launcher.repeats=3",
        "hydra.launcher.parallel=3", "hydra.launcher.max_ram_gb=0.78125",
        "hydra.launcher.approx_ram_per_class={light:0.1953125,heavy:0.48828125}",
    )
    assert s.rc == 0, explain(s)
    runs = s.runs()
    est = {"light": 200, "heavy": 500}
    events = sorted([(_t(r["start"]), 1, r) for r in runs] + [(_t(r["end"]), -1, r) for r in runs], key=lambda e: (e[0], e[1]))
    live: list = []
    max_est, max_peak, overlapped_heavy_light = 0, 0.0, False
    for _, kind, r in events:
        if kind == 1:
            live.append(r)
            max_est = max(max_est, sum(est[x["resource_class"]] for x in live))
            max_peak = max(max_peak, sum(float(x["peak_rss_mb"]) for x in live))
            classes = [x["resource_class"] for x in live]
            assert classes.count("heavy") <= 1 and len(live) <= 3
            overlapped_heavy_light |= "heavy" in classes and "light" in classes
        else:
            live.remove(r)
    assert max_est <= 800 and max_peak <= 800
    assert overlapped_heavy_light  # light runs filled the gap beside a heavy one


def test_hard_limit_stops_the_run_within_a_second(tmp_path):
    # the task climbs 40 MB every 0.1 s towards 600 MB and would then hold it 20 s
    s = run_sweep(
        tmp_path, "hold_mb=600", "ramp_s=1.5", "ramp_steps=15", "hold_s=20",
        "hydra.launcher.safety.enable_hard_ram_limit=true", "hydra.launcher.safety.hard_limit_mb=200",
    )
    assert s.rc == 1, explain(s)
    (r,) = s.runs()
    assert r["status"] == "oom" and "hard limit" in r["note"]
    # crossing 200 MB takes ~0.5 s: stopped well before the ramp (1.5 s) ends
    assert float(r["duration_s"]) < 1.5 + 0.3, r
    assert 200 <= float(r["peak_rss_mb"]) < 400
    assert "did not succeed (1 oom)" in s.stderr and "Traceback" not in s.stderr


def test_oom_policy_skip(tmp_path):
    s = run_sweep(
        tmp_path, "hold_mb=10,400", "hold_s=0.5", "hydra.launcher.repeats=3", "hydra.launcher.parallel=1",
        "hydra.launcher.safety.enable_hard_ram_limit=true", "hydra.launcher.safety.hard_limit_mb=250",
        "hydra.launcher.oom_policy.on_oom=skip",
    )
    assert s.rc == 1, explain(s)
    by_combo = {}
    for r in s.runs():
        by_combo.setdefault(json.loads(r["axis_values"])["hold_mb"], []).append(r["status"])
    assert by_combo == {"10": ["success"] * 3, "400": ["oom", "skipped_oom", "skipped_oom"]}


def test_oom_policy_backoff_halves_the_caps_until_the_run_fits(tmp_path):
    # 0.2 MB per training document, 1000 documents: 200 MB, then 100 MB at cap 500, 50 MB at 250
    s = run_sweep(
        tmp_path, "mb_per_doc=0.2", "n_train=1000", "hardware.max_train_docs_sklearn=1000", "ramp_steps=10",
        "ramp_s=1", "hydra.launcher.safety.enable_hard_ram_limit=true", "hydra.launcher.safety.hard_limit_mb=110",
        "hydra.launcher.oom_policy.on_oom=backoff", "hydra.launcher.oom_policy.backoff_factor=0.5",
    )
    assert s.rc == 0, explain(s)  # the run succeeded in the end
    runs = s.runs()
    assert [(r["run_id"], r["attempt"], r["status"]) for r in runs] == [
        ("run_0000", "1", "oom"), ("run_0000", "2", "oom"), ("run_0000", "3", "success")]
    assert "hardware.max_train_docs_sklearn=250" in json.loads(runs[2]["overrides"])
    assert s.run_json(runs[2])["held_mb"] == 50
    assert len({r["job_num"] for r in runs}) == 3  # each attempt its own job folder and log


def test_oom_policy_backoff_gives_up_after_max_retries(tmp_path):
    s = run_sweep(
        tmp_path, "hold_mb=300", "ramp_steps=10", "ramp_s=1", "hydra.launcher.safety.enable_hard_ram_limit=true",
        "hydra.launcher.safety.hard_limit_mb=150", "hydra.launcher.oom_policy.on_oom=backoff",
        "hydra.launcher.oom_policy.max_retries=1",
    )
    assert s.rc == 1, explain(s)
    assert [r["status"] for r in s.runs()] == ["oom", "oom"]


def test_oom_policy_stop_aborts_the_rest(tmp_path):
    s = run_sweep(
        tmp_path, "hold_mb=400,10,11,12", "hydra.launcher.parallel=1", "ramp_steps=10", "ramp_s=1",
        "hydra.launcher.safety.enable_hard_ram_limit=true", "hydra.launcher.safety.hard_limit_mb=250",
        "hydra.launcher.oom_policy.on_oom=stop",
    )
    assert s.rc == 1, explain(s)
    assert [r["status"] for r in s.runs()] == ["oom", "aborted_oom_policy", "aborted_oom_policy", "aborted_oom_policy"]
    assert len(s.job_dirs()) == 1  # nothing else started


def test_early_stop_flags_and_prunes(tmp_path):
    s = run_sweep(
        tmp_path, "accuracy=0.9,0.2", "macro_f1=0.1", "hydra.launcher.repeats=3", "hydra.launcher.parallel=1",
        "hydra.launcher.early_stop.enabled=true", "hydra.launcher.early_stop.min_accuracy=0.3",
        "hydra.launcher.early_stop.min_macro_f1=0.25", "hydra.launcher.early_stop.prune=true",
    )
    assert s.rc == 0, explain(s)
    rows = {(json.loads(r["axis_values"])["accuracy"], r["repeat"]): r for r in s.runs()}
    assert [rows[("0.9", str(i))]["quality_ok"] for i in range(3)] == ["true"] * 3  # one metric low: not flagged
    low = rows[("0.2", "0")]
    assert low["status"] == "success" and low["quality_ok"] == "false"
    assert low["quality_flags"] == "m1:low_accuracy,low_macro_f1"
    assert [rows[("0.2", str(i))]["status"] for i in (1, 2)] == ["skipped_early_stop"] * 2
    log = (s.dir / "early_stop.log").read_text()
    assert "run_0003" in log and "accuracy 0.2000 < 0.3" in log and "pruned 2 remaining repeats" in log


def test_failed_runs_make_the_multirun_fail_after_every_record(tmp_path):
    s = run_sweep(tmp_path, "fail=false,true", "exit_code=0,2", "hydra.launcher.parallel=2")
    assert s.rc == 1, explain(s)
    st = sorted((json.loads(r["axis_values"])["fail"].lower(), json.loads(r["axis_values"])["exit_code"], r["status"], r["exit_code"]) for r in s.runs())
    assert st == [("false", "0", "success", "0"), ("false", "2", "failed", "2"), ("true", "0", "failed", "1"), ("true", "2", "failed", "1")]
    notes = " ".join(r["note"] for r in s.runs())
    assert "RuntimeError: simulated failure" in notes and "simulated bad input" in notes
    assert "Traceback" not in s.stderr and "3 of 4 runs did not succeed" in s.stderr
    assert "RuntimeError: simulated failure" in (s.dir / "logs" / "run_0002.log").read_text()  # traceback kept in the log
    assert (s.dir / "multirun_end.txt").is_file()  # reports still written


def test_dry_run_and_max_runs(tmp_path):
    d = run_sweep(tmp_path, "hold_mb=1,2,3", "hydra.launcher.repeats=2", "hydra.launcher.dry_run=true", name="dry")
    assert d.rc == 0, explain(d)
    assert len(d.plan()) == 6 and d.job_dirs() == [] and d.runs() == []
    m = run_sweep(tmp_path, "hold_mb=1,2,3", "hydra.launcher.max_runs=2", name="max")
    assert m.rc == 0, explain(m)
    assert [p["plan_status"] for p in m.plan()] == ["to_run", "to_run", "beyond_max_runs"]
    assert [r["run_id"] for r in m.runs()] == ["run_0000", "run_0001"]
    # resume without the limit completes the sweep
    r = run_sweep(tmp_path, "hold_mb=1,2,3", "hydra.launcher.resume=true", name="max")
    assert r.rc == 0, explain(r)
    assert [(x["run_id"], x["session"], x["status"]) for x in r.runs()] == [
        ("run_0000", "1", "success"), ("run_0001", "1", "success"),
        ("run_0000", "2", "skipped_resume"), ("run_0001", "2", "skipped_resume"), ("run_0002", "2", "success")]


def test_spawn_start_method(tmp_path):
    s = run_sweep(tmp_path, "hold_mb=40,80", "hydra.launcher.start_method=spawn", "hydra.launcher.parallel=2")
    assert s.rc == 0, explain(s)
    for r in s.runs():
        assert s.run_json(r)["held_mb"] + 10 < float(r["peak_rss_mb"])


@pytest.mark.parametrize(
    "overrides, message, folder_made",
    [
        (["size=small,enormous"], "Could not find 'size/enormous'", True),
        (["hold_mb=1,2", "hydra.launcher.parallel=0"], "hydra.launcher.parallel: must be an integer >= 1", False),
        (["hold_mb=1,2", "hydra.launcher.max_ram_gb=-2"], "the RAM budget must be positive", False),
        (["hold_mb=1,2", "hydra.launcher.resource_classes.sklearn=gigantic"], "resource class 'gigantic' has no RAM estimate", False),
        (["hold_mb=1,2", "hydra.launcher.resume=true"], "holds no superior sweep", False),
    ],
    ids=["unknown_option", "parallel_0", "negative_budget", "class_without_estimate", "resume_no_sweep"],
)
def test_bad_input_is_refused_before_anything_starts(tmp_path, overrides, message, folder_made):
    log = tmp_path / "executions.log"
    s = run_sweep(tmp_path, f"executions_log={log}", *overrides)
    assert s.rc != 0
    assert message in s.stderr and "Traceback" not in s.stderr and len(s.stderr.splitlines()) <= 20, s.stderr
    assert not log.exists() and not (s.dir / "runs.tsv").exists() and not (s.dir / "plan.tsv").exists()
    # settings are refused before Hydra's sweeper makes the sweep folder; a grid error right after
    assert s.dir.exists() == folder_made


def test_info_plugins_lists_the_launcher(tmp_path):
    proc = subprocess.run([sys.executable, str(Path(__file__).parent / "apps" / "memory_app.py"), "--info", "plugins"],
                          capture_output=True, text=True, env=app_env(tmp_path), cwd=tmp_path, timeout=60)
    assert proc.returncode == 0 and "SuperiorLauncher" in proc.stdout


def _wait_for(pred, timeout: float) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _executions(log: Path) -> list[dict]:
    return [json.loads(ln) for ln in log.read_text().splitlines()] if log.exists() else []


@pytest.mark.parametrize("how", ["sigkill", "sigint"])
def test_resume_after_the_orchestrator_is_stopped(tmp_path, how):
    log = tmp_path / "executions.log"
    sweep_dir = tmp_path / "sweep"
    args = ["hold_mb=5,6,7,8,9,10", "hold_s=0.8", f"executions_log={log}", "hydra.launcher.parallel=2"]
    proc = subprocess.Popen(sweep_cmd(sweep_dir, *args), env=app_env(tmp_path), cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    runs_tsv = sweep_dir / "runs.tsv"
    # stop it once two runs are recorded and two more are running
    _wait_for(lambda: runs_tsv.exists() and runs_tsv.read_text().count("\tsuccess\t") >= 2 and len(_executions(log)) >= 4, 60)
    proc.send_signal(signal.SIGKILL if how == "sigkill" else signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    pids = [e["pid"] for e in _executions(log)]
    assert proc.returncode == (-9 if how == "sigkill" else 130), err
    # no run is left behind: they die with the orchestrator
    _wait_for(lambda: not any(_alive(p) for p in pids), 5)
    before = {r["run_id"]: r["status"] for r in read_tsv(runs_tsv)}
    done_before = {k for k, v in before.items() if v == "success"}
    if how == "sigint":
        assert "interrupted" in before.values() and "resume=true" in err
    r = run_sweep(tmp_path, *args, "hydra.launcher.resume=true")
    assert r.rc == 0, explain(r)
    rows = r.runs()
    session2 = [x for x in rows if x["session"] == "2"]
    assert sorted(x["run_id"] for x in session2) == [f"run_{i:04d}" for i in range(6)]  # every run once
    for x in session2:
        assert x["status"] == ("skipped_resume" if x["run_id"] in done_before else "success")
    # no run that completed was run again; job numbers never reused
    runs_by_overrides: dict = {}
    for e in _executions(log):
        runs_by_overrides.setdefault(tuple(e["overrides"]), []).append(e["job_num"])
    for x in rows:
        if x["run_id"] in done_before and x["session"] == "1":
            assert len(runs_by_overrides[tuple(json.loads(x["overrides"]))]) == 1
    nums = [e["job_num"] for e in _executions(log)]
    assert len(nums) == len(set(nums))
    # the runs cut short (started in session 1, per the journal, and not finished) are recorded, once
    journal = [json.loads(ln) for ln in (sweep_dir / ".superior" / "journal.jsonl").read_text().splitlines()]
    started_1 = {e["run_id"] for e in journal if e["session"] == 1}
    cut = [x["run_id"] for x in rows if x["status"] == "interrupted"]
    assert sorted(cut) == sorted(started_1 - done_before)


def test_resume_reports_a_changed_grid_and_a_new_sweep_keeps_old_records(tmp_path):
    first = run_sweep(tmp_path, "hold_mb=1,2")
    assert first.rc == 0, explain(first)
    grown = run_sweep(tmp_path, "hold_mb=1,2,3", "hydra.launcher.resume=true")
    assert grown.rc == 0, explain(grown)
    assert "the grid changed since the last session: 1 runs added, 0 runs of the old grid" in grown.stderr
    assert [(r["run_id"], r["session"], r["status"]) for r in grown.runs()] == [
        ("run_0000", "1", "success"), ("run_0001", "1", "success"),
        ("run_0000", "2", "skipped_resume"), ("run_0001", "2", "skipped_resume"), ("run_0002", "2", "success")]
    assert (grown.dir / ".superior" / "plan.s1.tsv").is_file()  # the old grid is kept
    # a new sweep (no resume) in the same folder: the old records are moved aside, not mixed in
    again = run_sweep(tmp_path, "hold_mb=5")
    assert again.rc == 0, explain(again)
    assert "its records were moved to" in again.stderr
    assert [(r["run_id"], r["session"]) for r in again.runs()] == [("run_0000", "1")]
    archived = list((again.dir / ".superior" / "archive").glob("*/runs.tsv"))
    assert len(archived) == 1 and archived[0].read_text().count("\n") == 6
