"""Sweep results people can read: metrics_global.tsv, plots/*.png and report.md.

Real sweeps through the CLI (tiny: demo corpus, check + tfidf_svm_quick) under the basic launcher,
joblib and superior; the files are compared with the runs' own metrics.json, value by value.
"""

import json
import re
import shutil
import statistics
from pathlib import Path
from urllib.parse import unquote

import matplotlib.image as mpimg
import pandas as pd
import pytest

from conftest import REPO, run_app

HOOKS_V55 = ("analysis_hooks.after_experiment=[{type:curves,metrics:[accuracy,macro_f1],x_axis:balance,"
             "group_by:[family,dataset_id]},{type:report_markdown,path:summary/report.md}]")


# ------------------------------------------------------------------------------------------------
# helpers


def sweep(sweep_dir: Path, cache: Path, *args: str):
    return run_app("-m", *args, f"hydra.sweep.dir={sweep_dir}", f"paths.cache_dir={cache}", "progress=false")


def report_stage(sweep_dir: Path, tmp: Path, *args: str):
    return run_app("stage=report", f"report.sweep_dir={sweep_dir}", f"hydra.run.dir={tmp / 'report_run'}", *args)


def ok(proc):
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stderr[-4000:]}"
    return proc


def read_table(sweep_dir: Path) -> pd.DataFrame:
    frame = pd.read_csv(sweep_dir / "metrics_global.tsv", sep="\t")
    assert not any(c.startswith("Unnamed") for c in frame.columns)
    return frame


def metrics_files(sweep_dir: Path) -> dict[tuple[str, str, str], Path]:
    """(job folder relative to the sweep, family, model) -> metrics.json, found on disk."""
    found = {}
    for path in sweep_dir.rglob("reports/*/*/metrics.json"):
        job = path.parents[3]
        found[(str(job.relative_to(sweep_dir)), path.parent.parent.name, path.parent.name)] = path
    return found


def assert_table_agrees(sweep_dir: Path, frame: pd.DataFrame) -> None:
    """Every model of every run is one row, with the numbers of its own metrics.json."""
    on_disk = metrics_files(sweep_dir)
    rows = frame.dropna(subset=["model_id"])
    assert len(rows) == len(on_disk) > 0
    for _, row in rows.iterrows():
        path = on_disk[(row["job_dir"], row["family"], row["model_id"])]
        assert sweep_dir / row["metrics_path"] == path
        metrics = json.loads(path.read_text())
        for key in ("accuracy", "macro_f1", "weighted_f1"):
            assert row[key] == metrics[key], (key, row["run_id"], row["model_id"])
        assert row["n_job"] == metrics["n"]
        for by_path in path.parent.glob("metrics_by_*.json"):
            field = by_path.stem[len("metrics_by_"):]
            for value, group in json.loads(by_path.read_text()).items():
                for key in ("accuracy", "macro_f1", "n"):
                    assert row[f"{key}@{field}={value}"] == group[key], (key, field, value)
        overrides = (sweep_dir / row["job_dir"] / ".hydra" / "overrides.yaml").read_text()
        assert f"- balance={row['balance']}\n" in overrides


def assert_png(path: Path, min_w: int = 500, min_h: int = 300) -> None:
    image = mpimg.imread(path)
    h, w = image.shape[:2]
    assert w >= min_w and h >= min_h, (path, w, h)
    assert w <= 4000 and h <= 4000
    assert image[..., :3].std() > 0.02, f"{path} looks blank"


def assert_links_resolve(report: Path) -> list[str]:
    text = report.read_text()
    targets = re.findall(r"\]\(([^)\s]+)\)", text)
    for target in targets:
        if target.startswith("#"):
            continue
        assert (report.parent / unquote(target)).exists(), target
    return targets


def fmt(values: list[float]) -> str:
    """The report's mean ± sd cell, without the bold."""
    mean = f"{statistics.fmean(values):.3f}"
    return mean + (f" ± {statistics.stdev(values):.3f}" if len(values) > 1 else "")


# ------------------------------------------------------------------------------------------------
# real sweeps, shared by the tests of this module


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def basic_sweep(tmp_path_factory, cache) -> Path:
    out = tmp_path_factory.mktemp("basic") / "sweep"
    proc = ok(sweep(out, cache, "balance=none,oversample", "dataset=web1"))
    log = proc.stdout + proc.stderr
    assert log.count("sweep progress:") == 2 and "sweep progress: 2/2 done (2 success)" in log  # one line per run
    return out


@pytest.fixture(scope="module")
def joblib_sweep(tmp_path_factory, cache) -> Path:
    out = tmp_path_factory.mktemp("joblib") / "sweep"
    ok(sweep(out, cache, "balance=none,oversample", "dataset=web1_asr1", "hydra/launcher=joblib",
             "hydra.launcher.n_jobs=2"))
    return out


@pytest.fixture
def basic_copy(basic_sweep, tmp_path) -> Path:
    copy = tmp_path / "sweep"
    shutil.copytree(basic_sweep, copy)
    return copy


# ------------------------------------------------------------------------------------------------
# after a sweep: the files exist and agree with the runs


@pytest.mark.slow
def test_basic_launcher_sweep_writes_table_curve_and_report(basic_sweep):
    frame = read_table(basic_sweep)
    assert_table_agrees(basic_sweep, frame)
    assert list(frame.columns[:3]) == ["run_id", "status", "balance"]
    assert set(frame["status"]) == {"success"} and sorted(set(frame["run_id"])) == [0, 1]
    assert frame["macro_f1"].dtype == float and frame["duration_s"].notna().all()
    assert frame.loc[frame["family"] == "sklearn", "beats_baseline"].all()

    png = basic_sweep / "plots" / "macro_f1__vs__balance.png"
    assert_png(png)
    report = basic_sweep / "report.md"
    targets = assert_links_resolve(report)
    assert "plots/macro_f1__vs__balance.png" in targets
    text = report.read_text()
    sk = frame[frame["family"] == "sklearn"].set_index("balance")
    best = sk["macro_f1"].max()
    assert f"**Best macro-F1: {best:.3f}**" in text
    for value in ("none", "oversample"):  # the per-axis table, value by value
        assert re.search(rf"\| `{value}` \| (\*\*)?{sk.loc[value, 'macro_f1']:.3f}(\*\*)? \(n=1\)", text), value
    assert "## Anomalies" in text and "None: every run finished" in text
    assert "2 success" in text and "balance (2) = 2 combinations" in text


@pytest.mark.slow
def test_joblib_sweep_table_has_per_group_metrics_that_agree(joblib_sweep):
    frame = read_table(joblib_sweep)
    assert_table_agrees(joblib_sweep, frame)
    assert {"macro_f1@corpus_id=web1", "macro_f1@corpus_id=asr1", "n@corpus_id=asr1"} <= set(frame.columns)
    assert set(frame["dataset_id"]) == {"web1_asr1"}
    assert_png(joblib_sweep / "plots" / "macro_f1__vs__balance.png")
    report = joblib_sweep / "report.md"
    assert_links_resolve(report)
    text = report.read_text()
    assert "launcher `joblib`" in text
    assert "## Per-group results (`analysis.compare_by`)" in text
    row = frame[(frame["family"] == "sklearn") & (frame["balance"] == "none")].iloc[0]
    assert f"{row['macro_f1@corpus_id=asr1']:.3f} (n=1)" in text


@pytest.mark.slow
def test_stage_report_rebuilds_the_same_table(basic_copy, tmp_path):
    before = (basic_copy / "metrics_global.tsv").read_text()
    for name in ("metrics_global.tsv", "report.md"):
        (basic_copy / name).unlink()
    shutil.rmtree(basic_copy / "plots")
    ok(report_stage(basic_copy, tmp_path))
    assert (basic_copy / "metrics_global.tsv").read_text() == before
    assert_png(basic_copy / "plots" / "macro_f1__vs__balance.png")
    assert "by `stage=report`" in (basic_copy / "report.md").read_text()


@pytest.mark.slow
def test_stage_report_with_v55_hooks(basic_copy, tmp_path):
    """curves over two metrics grouped by family and dataset, and the report at another path."""
    ok(report_stage(basic_copy, tmp_path, HOOKS_V55))
    for metric in ("accuracy", "macro_f1"):
        assert_png(basic_copy / "plots" / f"{metric}__vs__balance.png")
    report = basic_copy / "summary" / "report.md"
    targets = assert_links_resolve(report)
    assert "../plots/accuracy__vs__balance.png" in targets


# ------------------------------------------------------------------------------------------------
# partial and interrupted sweeps


@pytest.mark.slow
def test_stage_report_on_an_interrupted_sweep(basic_copy, tmp_path):
    jobs = sorted(p for p in basic_copy.iterdir() if (p / ".hydra").is_dir())
    assert len(jobs) == 2
    (jobs[1] / "run.json").unlink()  # killed before it finished
    ok(report_stage(basic_copy, tmp_path))
    frame = read_table(basic_copy)
    status = frame.drop_duplicates("run_id").set_index("run_id")["status"]
    assert status.to_dict() == {0: "success", 1: "incomplete"}
    text = (basic_copy / "report.md").read_text()
    assert "1 of 2 runs have no result" in text and "**incomplete**" in text
    assert_png(basic_copy / "plots" / "macro_f1__vs__balance.png")

    # a failed run, and a run the sweep never started (its folder is missing)
    record = json.loads((jobs[0] / "run.json").read_text())
    record.update(status="failed", error="MemoryError: cannot allocate", models=[])
    (jobs[0] / "run.json").write_text(json.dumps(record))
    shutil.rmtree(jobs[1])
    ok(report_stage(basic_copy, tmp_path))
    frame = read_table(basic_copy)
    assert frame.set_index("run_id")["status"].to_dict() == {0: "failed", 1: "not_run"}
    assert "MemoryError: cannot allocate" in frame.loc[0, "reason"]
    text = (basic_copy / "report.md").read_text()
    assert "No run succeeded" in text and "not started" in text
    assert "[log](" in text  # the failed run's log, linked
    assert_links_resolve(basic_copy / "report.md")
    assert not list((basic_copy / "plots").glob("*.png"))  # no plot with empty axes, no stale plot


# ------------------------------------------------------------------------------------------------
# bad input


def test_stage_report_on_a_folder_that_is_not_a_sweep(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = report_stage(empty, tmp_path)
    assert proc.returncode == 2 and "is not a sweep folder" in proc.stderr and "Traceback" not in proc.stderr
    assert not (empty / "metrics_global.tsv").exists()

    proc = report_stage(tmp_path / "missing", tmp_path)
    assert proc.returncode == 2 and "does not exist" in proc.stderr

    single = tmp_path / "single_run"
    (single / ".hydra").mkdir(parents=True)
    proc = report_stage(single, tmp_path)
    assert proc.returncode == 2 and "single run" in proc.stderr

    proc = run_app("stage=report", f"hydra.run.dir={tmp_path / 'r'}")
    assert proc.returncode == 2 and "report.sweep_dir" in proc.stderr


@pytest.mark.slow
def test_curves_hook_along_an_axis_that_is_not_in_the_grid(basic_copy, tmp_path, cache):
    # stage=report: the message, exit 2, and every other file still written
    hooks = ("analysis_hooks.after_experiment=[{type:curves,x_axis:nope},{type:curves,metrics:[accuracy]},"
             "{type:report_markdown,path:report.md}]")
    (basic_copy / "report.md").unlink()
    proc = report_stage(basic_copy, tmp_path, hooks)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "x_axis 'nope' is not an axis of this sweep (axes: balance)" in proc.stderr
    assert (basic_copy / "metrics_global.tsv").is_file()
    assert_png(basic_copy / "plots" / "accuracy__vs__balance.png")
    assert "x_axis 'nope'" in (basic_copy / "report.md").read_text()

    # in a sweep: refused before any run starts
    out = tmp_path / "bad_hook_sweep"
    proc = sweep(out, cache, "balance=none,oversample", "dataset=web1", hooks)
    assert proc.returncode == 2 and "x_axis 'nope' is not an axis" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists()  # nothing ran


@pytest.mark.slow
def test_sweep_in_which_every_run_failed(tmp_path, cache):
    out = tmp_path / "sweep"
    proc = sweep(out, cache, "seed=1,2", "dataset=web1", "view=wing")  # the view maps no web1 actor
    assert proc.returncode != 0
    assert "sweep report: 2 runs, 0 with results" in proc.stdout + proc.stderr
    frame = read_table(out)
    assert list(frame["status"]) == ["failed", "failed"]
    assert frame["reason"].str.contains("view 'wing' leaves no document").all()
    text = (out / "report.md").read_text()
    assert "No run succeeded" in text and "No result to compare" in text
    assert "No plot was drawn" in text
    assert not (out / "plots").exists() or not list((out / "plots").glob("*.png"))
    assert_links_resolve(out / "report.md")
    # rebuilding it is not an error: the report describes the sweep
    ok(report_stage(out, tmp_path))


# ------------------------------------------------------------------------------------------------
# the superior launcher: its runs.tsv adds exit codes, logs, peak RSS of the process tree


@pytest.mark.slow
def test_superior_sweep_with_repeats_and_v55_hooks(tmp_path, cache):
    out = tmp_path / "sweep"
    ok(sweep(out, cache, "balance=none,oversample", "dataset=web1", "hydra/launcher=superior",
             "hydra.launcher.repeats=2", "hydra.launcher.seed_strategy=per_repeat", "hydra.launcher.parallel=2",
             HOOKS_V55))
    frame = read_table(out)
    assert_table_agrees(out, frame)
    runs = pd.read_csv(out / "runs.tsv", sep="\t").set_index("run_id")
    per_run = frame.drop_duplicates("run_id").set_index("run_id")
    assert set(per_run.index) == set(runs.index) and len(runs) == 4
    for run_id, row in per_run.iterrows():
        assert row["status"] == runs.loc[run_id, "status"] == "success"
        assert row["log_path"] == runs.loc[run_id, "log_path"]
        assert row["peak_rss_mb"] == runs.loc[run_id, "peak_rss_mb"]
    assert set(frame["seed"]) == {42, 43}
    for metric in ("accuracy", "macro_f1"):
        assert_png(out / "plots" / f"{metric}__vs__balance.png")
    report = out / "summary" / "report.md"
    assert_links_resolve(report)
    text = report.read_text()
    assert "launcher `superior`" in text and "[runs.tsv](../runs.tsv)" in text
    sk = frame[frame["family"] == "sklearn"]
    for value in ("none", "oversample"):  # mean ± sd over the two repeats, in the per-axis table
        mean, sd = fmt(sk.loc[sk["balance"] == value, "macro_f1"].tolist()).split(" ± ")
        assert re.search(rf"\| `{value}` \| (\*\*)?{mean}(\*\*)? ± {sd} \(n=2\)", text), value

    # runs.tsv is the launcher's word on a run's fate: an OOM kill, and a run it never started
    lines = (out / "runs.tsv").read_text().splitlines()
    header = lines[0].split("\t")
    cells = [line.split("\t") for line in lines[1:]]
    for row in cells:
        if row[header.index("run_id")] == "run_0001":
            row[header.index("status")], row[header.index("note")] = "oom", "killed above 300 MB"
    cells = [row for row in cells if row[header.index("run_id")] != "run_0003"]
    shutil.rmtree(out / runs.loc["run_0003", "job_dir"])
    (out / "runs.tsv").write_text("\n".join("\t".join(r) for r in [header, *cells]) + "\n")
    ok(report_stage(out, tmp_path))
    frame = read_table(out)
    status = frame.drop_duplicates("run_id").set_index("run_id")["status"].to_dict()
    assert status == {"run_0000": "success", "run_0001": "oom", "run_0002": "success", "run_0003": "not_run"}
    oom = frame[frame["run_id"] == "run_0001"].iloc[0]
    assert "stopped above the hard RAM limit" in oom["reason"] and "killed above 300 MB" in oom["reason"]
    text = report.read_text()
    assert "**oom**" in text and "[log](../logs/run_0001.log)" in text and "**not_run**" in text


# ------------------------------------------------------------------------------------------------
# curves: axis order and spread (synthetic table, no run needed)


def test_curve_points_numeric_axis_sorted_categorical_in_grid_order(tmp_path):
    from app.reporting.collect import Sweep
    from app.reporting.curves import plot_curves
    from app.reporting.hooks import CurvesHook

    rows = []
    for prop, base in (("0.8", 0.70), ("0.6", 0.60), ("0.7", 0.65)):
        for balance in ("oversample", "none"):
            for seed, delta in ((1, -0.02), (2, 0.02)):
                common = dict(run_id=f"{prop}{balance}{seed}", status="success", train_prop=prop, balance=balance,
                              seed=seed)
                rows.append({**common, "family": "sklearn", "model_id": "svm", "macro_f1": base + delta})
                rows.append({**common, "family": "check", "model_id": "check_default", "macro_f1": 0.1})
    frame = pd.DataFrame(rows)
    sweep_ = Sweep(dir=tmp_path, name="synthetic", runs=[], planned=None,
                   axes={"train_prop": ["0.8", "0.6", "0.7"], "balance": ["oversample", "none"], "seed": ["1", "2"]})

    result = plot_curves(sweep_, frame, CurvesHook(x_axis="train_prop"), set())
    assert not result.errors
    (plot,) = result.plots
    assert plot.group_by == ["balance", "model_id"] and plot.xticks is None
    line = next(s for s in plot.series if s.label == "balance=none · svm")
    assert line.x == [0.6, 0.7, 0.8]
    assert line.mean == pytest.approx([0.60, 0.65, 0.70])
    assert line.low == pytest.approx([0.58, 0.63, 0.68]) and line.high == pytest.approx([0.62, 0.67, 0.72])
    assert line.n == [2, 2, 2]
    assert any(s.baseline for s in plot.series)
    assert_png(plot.path)

    result = plot_curves(sweep_, frame, CurvesHook(x_axis="balance", group_by=["model_id"], baseline=False), set())
    (plot,) = result.plots
    assert plot.xticks[1] == ["oversample", "none"]  # grid order, not alphabetical
    (line,) = plot.series
    assert line.n == [6, 6]

    result = plot_curves(sweep_, frame, CurvesHook(x_axis="train_prop", group_by=["nope"]), set())
    assert result.errors and "group_by names 'nope'" in result.errors[0]


def test_grid_read_like_hydras_basic_sweeper():
    from app.reporting.collect import grid_from_multirun

    multirun = {"hydra": {"sweeper": {"_target_": "hydra._internal.core_plugins.basic_sweeper.BasicSweeper",
                                      "params": {"balance": "none,oversample", "train_prop": "0.6,0.8"}},
                          "overrides": {"task": ["train_prop=0.5,0.7,0.9", "dataset=web1", "+extra=1,2"]}}}
    axes, combos = grid_from_multirun(multirun, [])
    assert axes == {"balance": ["none", "oversample"], "train_prop": ["0.5", "0.7", "0.9"], "extra": ["1", "2"]}
    assert len(combos) == 12 and combos[0] == {"balance": "none", "train_prop": "0.5", "dataset": "web1", "extra": "1"}


def test_axis_that_is_also_a_run_setting_keeps_grid_value_and_tells_the_effective_one(tmp_path):
    """eval_dataset_id=null,asr1: the axis column says `null` (as the grid), the run evaluated on web1."""
    from app.reporting.collect import Run, Sweep, collect_rows

    def run(run_id, value, effective):
        record = {"status": "success", "dataset_id": "web1", "eval_dataset_id": effective, "seed": 42, "models": []}
        return Run(run_id=run_id, status="success", settings={"eval_dataset_id": value, "seed": "42"}, record=record)

    sweep_ = Sweep(dir=tmp_path, name="x", axes={"eval_dataset_id": ["null", "asr1"]}, planned=2,
                   runs=[run("0", "null", "web1"), run("1", "asr1", "asr1")])
    rows = collect_rows(sweep_)
    assert [(r["eval_dataset_id"], r["eval_dataset_id_effective"]) for r in rows] == [("null", "web1"), ("asr1", "asr1")]
    sweep_.axes = {"seed": ["42"]}
    rows = collect_rows(sweep_)
    assert "seed_effective" not in rows[0]  # 42 == "42": nothing to tell
