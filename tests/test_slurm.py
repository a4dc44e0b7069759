"""`hydra/launcher=slurm` and `slurm_local` (hydra-submitit-launcher): per-class requests, records, resume.

- the submitit parameters of each resource class (memory, CPUs, time, partition, requeue, array) are
  checked without a cluster, in-process and through the CLI's dry run (the sbatch scripts submitit
  would submit);
- `slurm_local` runs a small real ideolab grid end to end (submitit's local executor, real
  subprocesses), then resumes it: plan.tsv, runs.tsv, metrics_global.tsv, report.md as under superior;
- `slurm` runs against a fake SLURM (tests/fake_slurm.py: sbatch/srun/sacct on this machine, --mem
  enforced on the process tree): one job array per class, a job killed for memory is `oom`, a job
  that completed with an oom-kill warning in its log is `success`;
- records: concurrent job ends lose nothing; bad input: the extra missing, a class without memory.
"""

import csv
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, run_app

MEMORY_APP = REPO / "tests" / "apps" / "memory_app.py"
RECORDS_CB = "++hydra.callbacks.job_records._target_=app.reporting.job_records.JobRecordsCallback"
REPORT_CB = "++hydra.callbacks.sweep_report._target_=app.reporting.callbacks.SweepReportCallback"

pytest.importorskip("submitit", reason="the `launchers` extra (pip install -e .[launchers])")
pytest.importorskip("hydra_plugins.hydra_submitit_launcher")


def read_tsv(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))


def header(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()[0].split("\t")


def memory_app_env(tmp_path: Path, extra: dict | None = None) -> dict:
    empty_conf = tmp_path / "no_ideolab_conf"
    empty_conf.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    # jobs unpickle the app's callbacks (tests/apps) and ideolab's (src) in a fresh interpreter
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(REPO / "src"), str(REPO / "tests" / "apps"),
                                                   env.get("PYTHONPATH", "")] if p)
    env["IDEOLAB_CONF"] = str(empty_conf)  # memory_app is not ideolab: its own conf only
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def memory_sweep(tmp_path: Path, sweep_dir: Path, launcher: str, *overrides: str, env: dict | None = None,
                 timeout: int = 180) -> subprocess.CompletedProcess:
    # the memory app's conf has no launcher yaml: the structured nodes behind slurm.yaml / slurm_local.yaml
    cmd = [sys.executable, str(MEMORY_APP), "-m", f"hydra/launcher=schema/{launcher}", f"hydra.sweep.dir={sweep_dir}",
           "hydra.launcher.stderr_to_stdout=true", *overrides, REPORT_CB, RECORDS_CB]
    return subprocess.run(cmd, cwd=tmp_path, env=memory_app_env(tmp_path, env), capture_output=True, text=True,
                          timeout=timeout)


# ---- the schema ------------------------------------------------------------------------------------------


def test_schema_holds_every_key_of_submitit_and_of_superior():
    """Any submitit_slurm/submitit_local key works the same; an experiment written for superior composes."""
    from dataclasses import fields

    from hydra_plugins.hydra_submitit_launcher.config import LocalQueueConf, SlurmQueueConf

    from hydra_plugins.ideolab_slurm.config import IdeolabSlurmConf, IdeolabSubmititConf

    slurm = {f.name for f in fields(IdeolabSlurmConf)}
    local = {f.name for f in fields(IdeolabSubmititConf)}
    assert {f.name for f in fields(SlurmQueueConf)} <= slurm
    assert {f.name for f in fields(LocalQueueConf)} <= local
    from hydra_plugins.superior_launcher.config import SuperiorLauncherConf

    superior = {f.name for f in fields(SuperiorLauncherConf)}
    assert superior <= local, f"missing superior keys: {sorted(superior - local)}"
    ours = {f.name: f for f in fields(IdeolabSubmititConf)}
    for f in fields(SuperiorLauncherConf):  # nested settings (safety, oom_policy, early_stop) key by key
        nested = getattr(f.type, "__dataclass_fields__", None)
        if nested:
            assert set(nested) <= set(ours[f.name].type.__dataclass_fields__), f.name


# ---- per-class parameters, no cluster ------------------------------------------------------------------


def _settings(tmp_path: Path, *overrides: str, launcher: str = "slurm"):
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    import app.config_schema  # noqa: F401  (the schema and resolvers of ideolab's conf)
    from hydra_plugins.ideolab_slurm._sweep import Settings

    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=[f"hydra/launcher={launcher}", f"hydra.sweep.dir={tmp_path}", *overrides],
                      return_hydra_config=True)
        params = OmegaConf.to_container(cfg.hydra.launcher, resolve=True)
    executor = "slurm" if launcher == "slurm" else "local"
    return Settings.from_params(params, executor=executor, choice=launcher)


def test_each_resource_class_gets_its_memory_cpus_and_time(tmp_path):
    from hydra_plugins.ideolab_slurm._sweep import make_executor, sbatch_script

    s = _settings(tmp_path, "hydra.launcher.partition=cpu", "hydra.launcher.approx_ram_per_class.medium=2.5",
                  "hydra.launcher.timeout_min_per_class.heavy=480", "hydra.launcher.parallel=3",
                  "hydra.launcher.max_num_timeout=2", "hydra.launcher.account=lab")
    expected = {  # class -> (sbatch --mem, --cpus-per-task, --time)
        "light": ("1GB", 1, 120),
        "medium": ("2560MB", 2, 120),
        "heavy": ("6GB", 4, 480),
    }
    for cls, (mem, cpus, minutes) in expected.items():
        ex = make_executor(s, cls, check_srun=False)  # the executor hydra/launcher=slurm submits with
        p = ex._executor.parameters
        assert (p["mem"], p["cpus_per_task"], p["time"]) == (mem, cpus, minutes), cls
        assert p["partition"] == "cpu" and p["account"] == "lab" and p["job_name"] == f"app_{cls}"
        assert ex._executor.max_num_timeout == 2
        script = sbatch_script(s, cls, 10)
        for line in (f"#SBATCH --mem={mem}", f"#SBATCH --cpus-per-task={cpus}", f"#SBATCH --time={minutes}",
                     "#SBATCH --partition=cpu", "#SBATCH --requeue", "#SBATCH --array=0-9%3"):
            assert line in script.splitlines(), (cls, line, script)
    # mem_gb / cpus_per_task set by hand win over the classes; requeue can be turned off
    forced = _settings(tmp_path, "hydra.launcher.mem_gb=16", "hydra.launcher.cpus_per_task=8",
                       "hydra.launcher.requeue=false")
    for cls in ("light", "heavy"):
        script = sbatch_script(forced, cls, 2).splitlines()
        assert "#SBATCH --mem=16GB" in script and "#SBATCH --cpus-per-task=8" in script
        assert "#SBATCH --requeue" not in script and "#SBATCH --array=0-1%2" in script
    # slurm_local: the same requests, recorded (the local executor does not enforce them)
    local = _settings(tmp_path, "hydra.launcher.timeout_min=30", launcher="slurm_local")
    p = make_executor(local, "heavy")._executor.parameters
    assert (p["mem_gb"], p["cpus_per_task"], p["timeout_min"]) == (6.0, 4, 30)


def test_an_axis_over_seed_or_repeat_is_refused(tmp_path):
    """The launcher sets seed= and repeat= itself (app/orchestrator/plan.py's test, this launcher's error)."""
    # the class _sweep raises: Hydra's plugin scanner may have executed launcher.py again since
    from hydra_plugins.ideolab_slurm._sweep import SlurmLauncherError, check_seed_axis

    s = _settings(tmp_path, "hydra.launcher.seed_strategy=per_run", "hydra.launcher.repeats=2")
    for job, key in ((["dataset=web1", "seed=1"], "seed"), (["+repeat=3"], "repeat")):
        with pytest.raises(SlurmLauncherError, match=f"conflicts with hydra.launcher.repeats/seed_strategy, which set {key}"):
            check_seed_axis(s, job)
    check_seed_axis(s, ["dataset=web1", "train_prop=0.5"])
    check_seed_axis(_settings(tmp_path), ["seed=1", "repeat=1"])  # no seed_strategy, one repeat: the axes are the user's


def test_dry_run_plans_each_run_and_writes_each_class_sbatch(tmp_path):
    """Through the CLI: the runs' classes come from their models' families; nothing is submitted."""
    sweep = tmp_path / "sweep"
    proc = run_app("-m", "dataset=web1", "model=tfidf_svm_quick,spacy_cnn_quick", "balance=none,oversample",
                   "hydra/launcher=slurm", "hydra.launcher.dry_run=true", "hydra.launcher.partition=cpu",
                   "hydra.launcher.repeats=2", "hydra.launcher.seed_strategy=per_run",
                   f"hydra.sweep.dir={sweep}", f"paths.cache_dir={tmp_path / 'cache'}", RECORDS_CB, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    plan = read_tsv(sweep / "plan.tsv")
    assert len(plan) == 8 and [r["seed"] for r in plan] == [str(42 + i) for i in range(8)]
    by_model = {}
    for r in plan:
        model = next(o.split("=", 1)[1] for o in json.loads(r["overrides"]) if o.startswith("model="))
        by_model.setdefault(model, set()).add((r["resource_class"], r["mem_gb"], r["cpus_per_task"]))
    assert by_model == {"tfidf_svm_quick": {("light", "1", "1")}, "spacy_cnn_quick": {("heavy", "6", "4")}}
    dry = sweep / ".submitit" / "dry_run"
    heavy, light = (dry / "heavy.sbatch").read_text().splitlines(), (dry / "light.sbatch").read_text().splitlines()
    assert "#SBATCH --mem=6GB" in heavy and "#SBATCH --cpus-per-task=4" in heavy and "#SBATCH --array=0-3%4" in heavy
    assert "#SBATCH --mem=1GB" in light and "#SBATCH --cpus-per-task=1" in light and "#SBATCH --partition=cpu" in light
    assert not list(sweep.glob("*/.hydra")) and not list((sweep / ".job_records").glob("*.start.json"))


# ---- bad input ----------------------------------------------------------------------------------------------

BLOCKER = '''# makes these modules look not installed (the `launchers` extra missing)
import os, sys
_BLOCKED = tuple(x for x in os.environ.get("BLOCK_IMPORTS", "").split(",") if x)
for _name in _BLOCKED:
    sys.modules[_name] = None  # import raises ModuleNotFoundError; Hydra's plugin scanner skips it
class _Blocker:
    def find_spec(self, name, path=None, target=None):
        if any(name.startswith(b + ".") for b in _BLOCKED):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, _Blocker())
'''


@pytest.mark.parametrize("launcher, blocked", [
    ("slurm", "submitit"),
    ("slurm_local", "submitit,hydra_plugins.hydra_submitit_launcher,"
                    "hydra_plugins.hydra_submitit_launcher.submitit_launcher,hydra_plugins.hydra_submitit_launcher.config"),
])
def test_without_the_extra_the_message_names_it(tmp_path, launcher, blocked):
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(BLOCKER)
    sweep = tmp_path / "sweep"
    proc = run_app("-m", "dataset=web1", "balance=none,oversample", f"hydra/launcher={launcher}",
                   f"hydra.sweep.dir={sweep}", f"paths.cache_dir={tmp_path / 'cache'}",
                   env={"PYTHONPATH": str(site), "BLOCK_IMPORTS": blocked}, timeout=120)
    assert proc.returncode != 0
    assert f"hydra/launcher={launcher} needs the `launchers` extra" in proc.stderr
    assert "pip install -e .[launchers]" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not sweep.exists()  # nothing planned, nothing submitted


@pytest.mark.parametrize("overrides, message", [
    (["hydra.launcher.resource_classes.sklearn=gigantic"],
     "resource class 'gigantic' has no memory request (known: heavy, light, medium); add "
     "hydra.launcher.approx_ram_per_class.gigantic=<GB>"),
    (["hydra.launcher.approx_ram_per_class.heavy=0"], "hydra.launcher.approx_ram_per_class.heavy: must be a positive"),
    (["hydra.launcher.resume=true"], "holds no sweep (no plan.tsv)"),
    ([], "hydra/launcher=slurm: no sbatch or srun on this machine"),
], ids=["class-without-memory", "zero-memory", "resume-nothing", "no-sbatch"])
def test_bad_input_is_refused_before_anything_is_written(tmp_path, overrides, message):
    if not overrides and shutil.which("sbatch"):
        pytest.skip("a real sbatch is installed here")
    sweep = tmp_path / "sweep"
    proc = run_app("-m", "dataset=web1", "balance=none,oversample", "hydra/launcher=slurm", *overrides,
                   f"hydra.sweep.dir={sweep}", f"paths.cache_dir={tmp_path / 'cache'}", timeout=120)
    assert proc.returncode != 0
    assert message in proc.stderr, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) <= 6
    assert not sweep.exists()  # nothing planned, nothing submitted


# ---- records --------------------------------------------------------------------------------------------------


def _job_ends_at_once(sweep_dir: str, num: int, barrier) -> None:
    from hydra.core.utils import JobReturn, JobStatus
    from omegaconf import OmegaConf

    from app.reporting import job_records as jr

    cfg = OmegaConf.create({"seed": num, "repeat": 0, "hydra": {"overrides": {"task": [f"x={num}"]},
                                                                "runtime": {"output_dir": f"{sweep_dir}/{num}"}}})
    jr.write_start(Path(sweep_dir), num, cfg)
    ret = JobReturn()
    ret.status = JobStatus.COMPLETED
    ret._return_value = None
    barrier.wait()  # every job ends at the same moment
    jr.write_end(Path(sweep_dir), num, ret, started=None)
    jr.merge_runs(Path(sweep_dir), final=False)  # each rebuilds runs.tsv, as on_job_end does


def test_jobs_ending_at_the_same_moment_lose_no_record(tmp_path):
    from app.reporting import job_records as jr

    n = 24
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(n)
    procs = [ctx.Process(target=_job_ends_at_once, args=(str(tmp_path), i, barrier)) for i in range(n)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    rows = read_tsv(tmp_path / "runs.tsv")  # the last live rebuild, before any final merge
    assert sorted(int(r["job_num"]) for r in rows) == list(range(n))
    assert all(r["status"] == "success" for r in rows)
    assert not [p for p in tmp_path.rglob("*.tmp")]
    jr.merge_runs(tmp_path, final=True)
    assert len(read_tsv(tmp_path / "runs.tsv")) == n


def test_a_killed_job_is_oom_a_warning_is_not():
    from app.reporting.job_records import classify

    end_ok = {"status": "success"}
    assert classify(None, {"state": "OUT_OF_MEMORY", "status": "oom"})[0] == "oom"
    status, note = classify(end_ok, {"state": "OUT_OF_MEMORY", "status": "success"})  # oom-kill event, run completed
    assert status == "success" and "oom-kill event" in note
    assert classify(None, {"state": "TIMEOUT", "status": "failed"})[0] == "failed"
    assert classify(None, {"state": "CANCELLED by 1234", "status": "interrupted"})[0] == "interrupted"
    assert classify({"status": "oom", "note": "MemoryError"}, {"state": "COMPLETED"})[0] == "oom"
    assert classify(None, None)[0] == "interrupted"


def test_resume_refuses_while_jobs_of_the_sweep_still_run(tmp_path, monkeypatch):
    """Resuming would submit a still-running job's run a second time, into the same folder."""
    sys.path.insert(0, str(REPO / "tests"))
    import fake_slurm

    from omegaconf import OmegaConf

    from app.reporting import job_records as jr
    from hydra_plugins.ideolab_slurm._sweep import still_running

    for key, value in fake_slurm.install(tmp_path / "bin", tmp_path / "slurm").items():
        monkeypatch.setenv(key, value)
    sweep = tmp_path / "sweep"
    for num, state in ((0, "RUNNING"), (1, "COMPLETED"), (2, "PENDING")):
        monkeypatch.setenv("SUBMITIT_EXECUTOR", "")
        record = jr.write_start(sweep, num, OmegaConf.create({"hydra": {"overrides": {"task": [f"x={num}"]}}}))
        record.update(executor="slurm", slurm_job_id=f"1000_{num}")
        jr.write_json(jr.record_path(sweep, num, "start"), record)
        (tmp_path / "slurm" / "state").mkdir(parents=True, exist_ok=True)
        (tmp_path / "slurm" / "state" / f"1000_{num}").write_text(state)
    assert still_running(sweep) == ["1000_0", "1000_2"]


# ---- end to end ----------------------------------------------------------------------------------------------


def _metrics(sweep: Path, job_dir: str, family: str, model: str) -> dict:
    return json.loads((sweep / job_dir / "reports" / family / model / "metrics.json").read_text())


@pytest.mark.slow
def test_slurm_local_real_grid_end_to_end_then_resume(tmp_path):
    from app.orchestrator.records import PLAN_COLUMNS, RUNS_COLUMNS

    sweep, cache = tmp_path / "sweep", tmp_path / "cache"
    args = ["-m", "dataset=web1", "model=tfidf_svm_quick", "balance=none,oversample", "hydra/launcher=slurm_local",
            f"hydra.sweep.dir={sweep}", f"paths.cache_dir={cache}", "progress=false", RECORDS_CB]
    first = run_app(*args, "hydra.launcher.max_runs=1", timeout=240)
    assert first.returncode == 0, first.stderr[-3000:]
    plan = read_tsv(sweep / "plan.tsv")
    assert [r["plan_status"] for r in plan] == ["to_run", "beyond_max_runs"]
    assert header(sweep / "plan.tsv")[:len(PLAN_COLUMNS)] == PLAN_COLUMNS  # superior's format, then ours
    assert header(sweep / "runs.tsv")[:len(RUNS_COLUMNS)] == RUNS_COLUMNS
    runs = read_tsv(sweep / "runs.tsv")
    assert [(r["run_id"], r["status"]) for r in runs] == [("run_0000", "success")]
    start0 = json.loads((sweep / ".job_records" / "job_0000.start.json").read_text())
    assert float(runs[0]["peak_rss_mb"]) > 50 and float(runs[0]["duration_s"]) > 0
    assert (sweep / runs[0]["log_path"]).is_file() and runs[0]["slurm_job_id"]

    second = run_app(*args, "hydra.launcher.resume=true", timeout=240)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "1 succeeded before (not submitted again)" in second.stdout + second.stderr
    assert [r["plan_status"] for r in read_tsv(sweep / "plan.tsv")] == ["skip_resume", "to_run"]
    assert json.loads((sweep / ".job_records" / "job_0000.start.json").read_text()) == start0  # not run again
    runs = {r["run_id"]: r for r in read_tsv(sweep / "runs.tsv")}
    assert {k: (r["status"], r["session"]) for k, r in runs.items()} == {
        "run_0000": ("success", "1"), "run_0001": ("success", "2")}

    # the report callback's files, from these records, agree with the runs' own metrics
    table = read_tsv(sweep / "metrics_global.tsv")
    svm = {r["run_id"]: r for r in table if r["family"] == "sklearn"}
    assert set(svm) == {"run_0000", "run_0001"}
    for run_id, row in svm.items():
        m = _metrics(sweep, runs[run_id]["job_dir"], "sklearn", "tfidf_svm_quick")
        assert float(row["macro_f1"]) == pytest.approx(m["macro_f1"])
        assert row["status"] == "success" and row["balance"] in ("none", "oversample")
    report = (sweep / "report.md").read_text()
    assert "2 success" in report and "slurm_local" in report
    before = (sweep / "metrics_global.tsv").read_text()
    rebuilt = run_app("stage=report", f"report.sweep_dir={sweep}", f"hydra.run.dir={tmp_path / 'report_run'}",
                      timeout=120)
    assert rebuilt.returncode == 0, rebuilt.stderr[-2000:]
    assert (sweep / "metrics_global.tsv").read_text() == before


@pytest.mark.slow
def test_slurm_local_records_success_failure_memory_error_and_peak_rss(tmp_path):
    sweep = tmp_path / "sweep"
    proc = memory_sweep(tmp_path, sweep, "slurm_local", "hold_mb=150", "fail=false,true",
                        "raise_memory_error=false,true", "hydra.launcher.array_parallelism=4", "accuracy=0.2",
                        "macro_f1=0.2", "hydra.launcher.early_stop.enabled=true",
                        "hydra.launcher.early_stop.min_accuracy=0.3", "hydra.launcher.early_stop.min_macro_f1=0.25")
    assert proc.returncode != 0
    assert "slurm_local: 3 of 4 runs did not succeed (" in proc.stderr, proc.stderr[-3000:]
    assert "2 oom" in proc.stderr and "1 failed" in proc.stderr
    runs = {r["run_id"]: r for r in read_tsv(sweep / "runs.tsv")}
    assert {k: r["status"] for k, r in runs.items()} == {
        "run_0000": "success", "run_0001": "oom", "run_0002": "failed", "run_0003": "oom"}
    assert runs["run_0001"]["note"] == "MemoryError" and "simulated failure" in runs["run_0002"]["note"]
    assert float(runs["run_0000"]["peak_rss_mb"]) >= 150  # measured in the job (getrusage)
    # early_stop flags, as under superior (no pruning: every job is queued at once)
    assert (runs["run_0000"]["quality_ok"], runs["run_0000"]["quality_flags"]) == ("false", "m1:low_accuracy,low_macro_f1")
    assert "run_0000" in (sweep / "early_stop.log").read_text()
    statuses = {r["run_id"]: r["status"] for r in read_tsv(sweep / "metrics_global.tsv")}
    assert statuses == {k: r["status"] for k, r in runs.items()}  # the report read these records
    assert "oom" in (sweep / "report.md").read_text()


@pytest.mark.slow
def test_slurm_arrays_per_class_and_oom_kill_on_a_fake_cluster(tmp_path):
    sys.path.insert(0, str(REPO / "tests"))
    import fake_slurm

    env = fake_slurm.install(tmp_path / "bin", tmp_path / "slurm")
    env["FAKE_SLURM_WARN_MB"] = "200"
    sweep = tmp_path / "sweep"
    # check and sklearn are light (one array, 400 MB), spacy heavy (450 MB); spacy holds 500 MB: killed;
    # sklearn holds 180 MB: above the warning threshold, below its request: completes with a warning
    proc = memory_sweep(tmp_path, sweep, "slurm", "family=check,sklearn,spacy", "hold_by_family=true",
                        "family_mb={check:10,sklearn:180,spacy:500}", "hold_s=1.5",
                        "hydra.launcher.approx_ram_per_class={light:0.4,heavy:0.45}", "hydra.launcher.partition=cpu",
                        "hydra.launcher.timeout_min=20", env=env)
    assert proc.returncode != 0
    assert "slurm: 1 of 3 runs did not succeed (1 oom)" in proc.stderr, proc.stderr[-3000:]
    scripts = sorted((tmp_path / "slurm" / "submitted").glob("*.sbatch"))
    assert len(scripts) == 2  # one submission per class
    light, heavy = (s.read_text().splitlines() for s in scripts)
    assert "#SBATCH --array=0-1%2" in light and "#SBATCH --mem=409MB" in light and "#SBATCH --cpus-per-task=1" in light
    assert "#SBATCH --mem=460MB" in heavy and "#SBATCH --cpus-per-task=4" in heavy
    for script in (light, heavy):
        assert "#SBATCH --partition=cpu" in script and "#SBATCH --time=20" in script and "#SBATCH --requeue" in script
    runs = {r["run_id"]: r for r in read_tsv(sweep / "runs.tsv")}
    assert {k: r["status"] for k, r in runs.items()} == {"run_0000": "success", "run_0001": "success",
                                                         "run_0002": "oom"}
    warned = runs["run_0001"]
    assert "oom-kill event" in (sweep / warned["log_path"]).read_text()  # the log warns ...
    assert warned["scheduler_state"] == "OUT_OF_MEMORY" and "completed" in warned["note"]  # ... the run completed
    killed = runs["run_0002"]
    assert killed["scheduler_state"] == "OUT_OF_MEMORY" and "--mem" in killed["note"]
    assert killed["slurm_job_id"] and killed["peak_rss_mb"] == ""
    assert runs["run_0000"]["slurm_job_id"].endswith("_0") and runs["run_0001"]["slurm_job_id"].endswith("_1")
    table = {r["run_id"]: r["status"] for r in read_tsv(sweep / "metrics_global.tsv")}
    assert table == {k: r["status"] for k, r in runs.items()}
