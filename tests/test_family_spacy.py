"""Family `spacy`: textcat trained through spaCy's config system, end to end through the real CLI."""

import json

import pytest

from conftest import REPO, run_app
from heavy_runs import SPACY_CAP, heavy_runs, shared_root


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return heavy_runs(shared_root(tmp_path_factory))


@pytest.mark.slow
def test_spacy_trains_and_evaluates_through_the_cli(runs):
    run = runs["pipeline"]
    model = run.model("spacy_bow_quick")
    assert model["resource_class"] == "heavy" and model["family"] == "spacy"
    assert model["train_seconds"] > 0 and model["train_peak_rss_mb"] > 0
    folder = run.cache / "models" / "web1" / "ideology_global" / "spacy" / "spacy_bow_quick"
    (model_dir,) = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")]
    assert (model_dir / "model-best" / "meta.json").is_file() and (model_dir / "meta_model.json").is_file()
    assert not (model_dir / "model-last").exists() and not (model_dir / "corpus_train").exists()
    meta = json.loads((model_dir / "meta_model.json").read_text())
    # hardware.max_train_docs_spacy=120 is exact, although the capped corpus spans two 64-doc shards
    assert meta["n_train"] == SPACY_CAP and meta["n_dev"] > 0
    assert meta["params"]["config_sha256"] and meta["spacy_config"].endswith("spacy_bow_quick.cfg")
    filled = (model_dir / "config.cfg").read_text()
    assert "seed = 42" in filled and 'lang = "fr"' in filled and "spacy.TextCatBOW.v3" in filled
    log = (model_dir / "train_log.txt").read_text()
    assert "CATS_SCORE" in log and "\x1b[" not in log
    metrics = run.metrics("spacy", "spacy_bow_quick")
    baseline = run.metrics("check", "check_default")
    assert metrics["n_job"] == baseline["n_job"] and metrics["macro_f1"] > baseline["macro_f1"]
    assert set(metrics["per_class"]) <= set(json.loads((run.prepared / "meta_view.json").read_text())["labels"])


@pytest.mark.slow
def test_evaluate_after_train_finds_the_spacy_model_and_same_seed_same_metrics(runs):
    trained = runs["train"].model("spacy_bow_quick")
    assert trained["reused"] is False
    evaluated = runs["evaluate"].model("spacy_bow_quick")
    assert evaluated["metrics_path"].startswith(str(runs["evaluate"].run_dir))
    assert "format spacy: reusing" in runs["evaluate"].proc.stderr + (runs["evaluate"].run_dir / "app.log").read_text()
    # cache B was trained by a separate process from scratch: the same seed gives the same metrics
    assert runs["evaluate"].metrics("spacy", "spacy_bow_quick") == runs["pipeline"].metrics("spacy", "spacy_bow_quick")


def _no_finished_model(cache, model_id):
    folder = cache / "models"
    return not [p for p in folder.rglob(".complete") if model_id in p.parts] if folder.exists() else True


@pytest.mark.slow
def test_cfg_with_unknown_architecture_is_a_short_error(tmp_path):
    cfg = tmp_path / "bad_arch.cfg"
    source = (REPO / "conf" / "spacy" / "spacy_bow_quick.cfg").read_text()
    cfg.write_text(source.replace("spacy.TextCatBOW.v3", "spacy.TextCatBOWW.v3"))
    proc = run_app("stage=pipeline", "model=spacy_bow_quick", f"models.spacy_bow_quick.params.config={cfg}",
                   "hardware=tiny", f"paths.cache_dir={tmp_path / 'cache'}", f"hydra.run.dir={tmp_path / 'run'}",
                   "progress=false")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "spacy.TextCatBOWW.v3" in proc.stderr and "bad_arch.cfg" in proc.stderr
    assert "did you mean 'spacy.TextCatBOW.v3'" in proc.stderr
    assert _no_finished_model(tmp_path / "cache", "spacy_bow_quick")


@pytest.mark.slow
def test_cfg_failing_inside_training_leaves_no_model_folder(tmp_path):
    """A registered architecture with a bad argument passes the early check and fails in spaCy's init:
    the half-built model folder must be gone (build_once), the message short."""
    cfg = tmp_path / "bad_arg.cfg"
    source = (REPO / "conf" / "spacy" / "spacy_bow_quick.cfg").read_text()
    cfg.write_text(source.replace("ngram_size = 2", 'ngram_size = "two"'))
    cache = tmp_path / "cache"
    proc = run_app("stage=train", "model=spacy_bow_quick", f"models.spacy_bow_quick.params.config={cfg}",
                   "hardware=tiny", f"paths.cache_dir={cache}", f"hydra.run.dir={tmp_path / 'run'}", "progress=false")
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr and "ngram_size" in proc.stderr
    spacy_models = cache / "models" / "web1" / "ideology_global" / "spacy"
    assert not spacy_models.exists() or not [p for p in spacy_models.rglob("*") if p.is_dir()
                                             and p.parent.name == "spacy_bow_quick"]


@pytest.mark.slow
def test_checkpoint_last_keeps_the_final_model_and_evaluates_it(tmp_path):
    """params.checkpoint=last: model-last is kept instead of model-best, and prediction loads it."""
    cache = tmp_path / "cache"
    proc = run_app("stage=pipeline", "model=spacy_bow_quick", "dataset=web1", "view=ideology_global", "hardware=tiny",
                   "hardware.max_train_docs_spacy=120", "model.epochs=1", "models.spacy_bow_quick.params.checkpoint=last",
                   f"paths.cache_dir={cache}", f"hydra.run.dir={tmp_path / 'run'}", "progress=false")
    assert proc.returncode == 0, proc.stderr[-3000:]
    (model_dir,) = [p for p in (cache / "models" / "web1" / "ideology_global" / "spacy" / "spacy_bow_quick").iterdir()
                    if p.is_dir() and not p.name.startswith(".")]
    assert (model_dir / "model-last" / "meta.json").is_file() and not (model_dir / "model-best").exists()
    meta = json.loads((model_dir / "meta_model.json").read_text())
    assert meta["checkpoint"] == "model-last" and meta["params"]["checkpoint"] == "last"
    metrics = json.loads((tmp_path / "run" / "reports" / "spacy" / "spacy_bow_quick" / "metrics.json").read_text())
    # model-best is gone, so these predictions came from model-last
    assert metrics["n_train"] == SPACY_CAP and metrics["n_job"] > 0 and 0 < metrics["macro_f1"] <= 1


def test_unknown_checkpoint_is_a_short_error(tmp_path):
    proc = run_app("stage=train", "model=spacy_bow_quick", "models.spacy_bow_quick.params.checkpoint=newest",
                   "hardware=tiny", f"paths.cache_dir={tmp_path / 'cache'}", f"hydra.run.dir={tmp_path / 'run'}",
                   "progress=false")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "models.spacy_bow_quick.params.checkpoint='newest'" in proc.stderr and "best or last" in proc.stderr
    assert _no_finished_model(tmp_path / "cache", "spacy_bow_quick")
