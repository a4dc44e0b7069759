"""Family `hf`: fine-tuning local checkpoints with transformers.Trainer, end to end through the real CLI."""

import json
import re
from pathlib import Path

import pytest

from conftest import run_app
from heavy_runs import heavy_runs, shared_root


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return heavy_runs(shared_root(tmp_path_factory))


@pytest.mark.slow
def test_hf_tiny_trains_and_evaluates_through_the_cli(runs):
    run = runs["pipeline"]
    model = run.model("hf_tiny")
    assert model["resource_class"] == "heavy" and model["train_seconds"] > 0 and model["train_peak_rss_mb"] > 0
    meta = json.loads((Path(model["model_dir"]) / "meta_model.json").read_text())
    assert meta["checkpoint_source"] == "tiny" and meta["train_steps"] > 0 and meta["max_length"] == 128
    assert meta["n_train"] == 300  # hardware=tiny: max_train_docs_hf
    saved = Path(model["model_dir"]) / "model"
    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"):
        assert (saved / name).is_file(), name
    config = json.loads((saved / "config.json").read_text())
    labels = json.loads((run.prepared / "meta_view.json").read_text())["labels"]
    assert sorted(config["id2label"].values()) == labels
    metrics = run.metrics("hf", "hf_tiny")
    assert metrics["n_job"] == run.metrics("check", "check_default")["n_job"]
    assert 0 <= metrics["macro_f1"] <= 1
    log = (run.run_dir / "app.log").read_text()
    assert "it/s]" not in log and "'loss':" not in log  # no tqdm bars or printed dicts: logged lines


@pytest.mark.slow
def test_evaluate_after_train_finds_the_hf_model_and_same_seed_same_metrics(runs):
    assert runs["train"].model("hf_tiny")["reused"] is False
    meta_eval = json.loads((runs["evaluate"].run_dir / "reports/hf/hf_tiny/meta_eval.json").read_text())
    assert meta_eval["model_dir"] == runs["train"].model("hf_tiny")["model_dir"]
    # tiny model and tokenizer rebuilt and fine-tuned in another process: same seed, same metrics
    assert runs["evaluate"].metrics("hf", "hf_tiny") == runs["pipeline"].metrics("hf", "hf_tiny")


def _fails_short(tmp_path, *args, needles=()):
    cache = tmp_path / "cache"
    proc = run_app("stage=pipeline", *args, "hardware=tiny", f"paths.cache_dir={cache}",
                   f"hydra.run.dir={tmp_path / 'run'}", "progress=false")
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in proc.stderr, (needle, proc.stderr)
    assert len(proc.stderr.strip().splitlines()) <= 4  # a short message, not a dump
    # no model folder that looks finished (nothing was trained: validation runs first)
    assert not [p for p in cache.rglob(".complete") if "hf" in p.parts]
    return proc


def test_hf_local_without_path(tmp_path):
    _fails_short(tmp_path, "model=hf_local", needles=("model.path=",))


def test_hf_local_missing_checkpoint_folder(tmp_path):
    _fails_short(tmp_path, "model=hf_local", f"model.path={tmp_path}/no_such_checkpoint",
                 needles=("no_such_checkpoint", "no checkpoint folder"))


def test_hf_local_folder_that_is_not_a_checkpoint(tmp_path):
    folder = tmp_path / "not_a_model"
    folder.mkdir()
    (folder / "notes.txt").write_text("not a model")
    _fails_short(tmp_path, "model=hf_local", f"model.path={folder}", needles=("not_a_model", "config.json"))


def test_max_length_must_be_positive(tmp_path):
    _fails_short(tmp_path, "model=hf_tiny", "model.max_length=0", needles=("max_length=0",))


@pytest.mark.parametrize("params,needle", [
    ({"source": "tiny", "max_length": -5}, "max_length=-5"),
    ({"source": "tiny", "max_length": 1.5}, "max_length=1.5"),
    ({"source": "tiny", "batch_size": 0}, "batch_size=0"),
    ({"source": "tiny", "learning_rate": "fast"}, "learning_rate='fast'"),
    ({"source": "weird"}, "source='weird'"),
    ({"source": "path", "path": None}, "model.path="),
])
def test_bad_hf_params_are_user_errors(params, needle):
    from app.errors import UserError
    from app.families.base import ModelSpec
    from app.families.hf_family import HfFamily

    with pytest.raises(UserError, match=re.escape(needle)):
        HfFamily().validate(ModelSpec(model_id="m", family="hf", params=params))


def test_checkpoint_checks(tmp_path):
    from app.errors import UserError
    from app.families.hf_family import check_checkpoint

    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(UserError, match="no weights"):
        check_checkpoint(tmp_path, "m")
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(UserError, match="no tokenizer files"):
        check_checkpoint(tmp_path, "m")
    (tmp_path / "tokenizer.json").write_text("{}")
    assert check_checkpoint(tmp_path, "m") == tmp_path
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(UserError, match="not valid JSON"):
        check_checkpoint(tmp_path, "m")
    with pytest.raises(UserError, match="is a file"):
        check_checkpoint(tmp_path / "tokenizer.json", "m")


@pytest.mark.slow
def test_hf_local_fine_tunes_a_checkpoint_folder(runs, tmp_path):
    """hf_tiny's saved model from the shared run stands in for a user's local checkpoint (e.g. CamemBERT)."""
    ckpt = Path(runs["pipeline"].model("hf_tiny")["model_dir"]) / "model"
    cache = tmp_path / "cache"
    proc = run_app("stage=pipeline", "model=hf_local", f"model.path={ckpt}", "model.epochs=1", "hardware=tiny",
                   "hardware.max_train_docs_hf=64", "balance=class_weights", f"paths.cache_dir={cache}",
                   f"hydra.run.dir={tmp_path / 'run'}", "progress=false")
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    hf = next(m for m in record["models"] if m["model_id"] == "hf_local")
    meta = json.loads((Path(hf["model_dir"]) / "meta_model.json").read_text())
    assert meta["checkpoint_source"] == "path" and meta["base_checkpoint"] == str(ckpt)
    assert meta["n_train"] == 64 and meta["params"]["checkpoint_id"]
    assert meta["class_weights_applied"] is True  # balance=class_weights: weighted cross-entropy
    assert (Path(hf["model_dir"]) / "model" / "model.safetensors").is_file()
    assert 0 <= hf["macro_f1"] <= 1
