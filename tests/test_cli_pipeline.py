"""The core pipeline through the real CLI: demo corpora and the real 2013 debates."""

import json

import pandas as pd
import pytest

from conftest import run_app


def test_help_and_cfg_job_compose():
    proc = run_app("--help")
    assert proc.returncode == 0 and "profile" in proc.stdout
    proc = run_app("stage=pipeline", "profile=ideo_quick", "--cfg", "job")
    assert proc.returncode == 0, proc.stderr
    assert "dataset_id: web1" in proc.stdout and "strategy: oversample" in proc.stdout


@pytest.mark.parametrize("profile", ["ideo_quick", "ideo_quick_web1_asr1"])
def test_every_profile_composes(profile):
    proc = run_app(f"profile={profile}", "--cfg", "job", "--resolve")
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("dataset", ["web1", "asr1", "web1_asr1", "an2013", "parlamint_fr_2017", "parlamint_fr_sample",
                                     "an2013_parlamint_fr_2017"])
def test_every_dataset_composes_and_resolves(dataset):
    proc = run_app(f"dataset={dataset}", "--cfg", "job", "--resolve")
    assert proc.returncode == 0, proc.stderr
    assert f"dataset_id: {dataset}" in proc.stdout


def test_corpus_path_is_overridable_per_corpus(tmp_path):
    proc = run_app("dataset=web1", f"corpora.web1.path={tmp_path}/elsewhere.xml", "--cfg", "job", "--resolve")
    assert proc.returncode == 0 and f"{tmp_path}/elsewhere.xml" in proc.stdout


def test_demo_pipeline_end_to_end(app_run):
    app_run("stage=pipeline", "profile=ideo_quick_web1_asr1")
    record = app_run.record()
    assert record["status"] == "success" and record["dataset_id"] == "web1_asr1"
    svm = app_run.metrics("sklearn", "tfidf_svm_quick")
    check = app_run.metrics("check", "check_default")
    # learnable but not trivial: the SVM beats the baseline clearly and stays clearly below 1
    assert check["macro_f1"] + 0.3 < svm["macro_f1"] < 0.95
    assert set(svm) >= {"accuracy", "macro_f1", "weighted_f1", "per_class", "confusion_matrix", "n_train", "n_job"}
    by_corpus = json.loads((app_run.run_dir / "reports/sklearn/tfidf_svm_quick/metrics_by_corpus_id.json").read_text())
    assert set(by_corpus) == {"web1", "asr1"}
    assert sum(g["n"] for g in by_corpus.values()) == svm["n_job"]
    png = app_run.run_dir / "reports/sklearn/tfidf_svm_quick/confusion_matrix.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    meta = json.loads((app_run.run_dir / "reports/sklearn/tfidf_svm_quick/meta_eval.json").read_text())
    assert meta["dataset_id"] == meta["eval_dataset_id"] == "web1_asr1"


def test_no_oversampled_text_reaches_the_job_split(app_run):
    app_run("stage=prepare", "profile=ideo_quick")
    prepared = app_run.record()["prepared_dir"]
    train = pd.read_csv(f"{prepared}/train.tsv", sep="\t", dtype=str, keep_default_na=False)
    job = pd.read_csv(f"{prepared}/job.tsv", sep="\t", dtype=str, keep_default_na=False)
    meta = json.loads(open(f"{prepared}/meta_view.json").read())
    assert meta["balance"]["strategy"] == "oversample" and meta["balance"]["duplicated_rows"] > 0
    assert len(set(meta["balance"]["train_after"].values())) == 1  # parity
    assert not set(train["text"]) & set(job["text"])
    assert not set(train["doc_id"]) & set(job["doc_id"])
    assert job["doc_id"].is_unique


def test_same_seed_same_metrics_and_separate_stages_equal_pipeline(app_run, tmp_path):
    args = ("profile=ideo_quick", "model=[tfidf_svm_quick,tfidf_lr_char]")
    app_run("stage=pipeline", *args)
    first = app_run.metrics("sklearn", "tfidf_lr_char")
    # a fresh cache: everything recomputed from scratch with the same seed
    app_run("stage=pipeline", *args, cache=tmp_path / "other_cache")
    assert app_run.metrics("sklearn", "tfidf_lr_char") == first
    for stage in ("prepare", "train", "evaluate"):
        app_run(f"stage={stage}", *args, cache=tmp_path / "staged_cache")
    assert app_run.metrics("sklearn", "tfidf_lr_char") == first
    assert app_run.metrics("sklearn", "tfidf_svm_quick")["macro_f1"] > 0
    # another seed gives another split
    app_run("stage=pipeline", *args, "seed=7")
    assert app_run.metrics("sklearn", "tfidf_lr_char") != first


def test_an2013_speaker_grouped_split_has_no_straddling_actor(app_run):
    app_run("stage=pipeline", "dataset=an2013", "view=wing", "model=tfidf_svm_quick", "split.group_by=actor",
            "balance=class_weights")
    prepared = app_run.record()["prepared_dir"]
    train = pd.read_csv(f"{prepared}/train.tsv", sep="\t", dtype=str, keep_default_na=False)
    job = pd.read_csv(f"{prepared}/job.tsv", sep="\t", dtype=str, keep_default_na=False)
    assert len(train) + len(job) == 5745  # interventions of the six groups with >= 20 words (README)
    assert not set(train["actor"]) & set(job["actor"])
    assert not set(train["text"]) & set(job["text"])
    svm = app_run.metrics("sklearn", "tfidf_svm_quick")
    assert svm["macro_f1"] > 0.6


def test_cross_dataset_evaluation_an2013_to_parlamint(app_run):
    app_run("stage=pipeline", "dataset=an2013", "view=wing", "model=tfidf_svm_quick",
            "eval_dataset_id=parlamint_fr_2017")
    meta = json.loads((app_run.run_dir / "reports/sklearn/tfidf_svm_quick/meta_eval.json").read_text())
    assert meta["dataset_id"] == "an2013" and meta["eval_dataset_id"] == "parlamint_fr_2017"
    assert meta["cross_dataset"] is True
    metrics = app_run.metrics("sklearn", "tfidf_svm_quick")
    assert metrics["eval_dataset_id"] == "parlamint_fr_2017"
    assert set(metrics["per_class"]) == {"left", "right"}
    job = pd.read_csv(f"{meta['eval_prepared_dir']}/job.tsv", sep="\t", dtype=str, keep_default_na=False)
    assert metrics["n_job"] == len(job) and set(job["corpus_id"]) == {"parlamint_fr_2017"}
