"""Heavy libraries load only with the family that needs them; the family registry fails cleanly."""

import json
import subprocess
import sys

from conftest import REPO, run_app

HEAVY = ("torch", "spacy", "transformers", "thinc", "tokenizers", "accelerate")

PROBE = """
import atexit, json, runpy, sys
heavy = {heavy!r}
atexit.register(lambda: open({out!r}, "w").write(json.dumps(sorted(m for m in heavy if m in sys.modules))))
sys.argv = ["app", *{args!r}]
runpy.run_module("app", run_name="__main__", alter_sys=True)
"""


def _loaded_after(tmp_path, args: list[str]) -> list[str]:
    out = tmp_path / "modules.json"
    code = PROBE.format(heavy=HEAVY, out=str(out), args=args)
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text())


def test_import_app_loads_no_heavy_library():
    code = f"import sys, app, app.families, app.models, app.write_formats, app.formats; " \
           f"print([m for m in {HEAVY!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_sklearn_only_prepare_loads_neither_torch_nor_spacy(tmp_path):
    args = ["stage=prepare", "model=tfidf_svm_quick", f"paths.cache_dir={tmp_path / 'cache'}",
            f"hydra.run.dir={tmp_path / 'run'}", "progress=false"]
    assert _loaded_after(tmp_path, args) == []
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert record["status"] == "success"


def test_hf_preset_validation_loads_no_heavy_library(tmp_path):
    """Bad input is refused before torch is imported: a wrong max_length costs no multi-second import."""
    args = ["stage=prepare", "model=hf_tiny", "model.max_length=0", f"paths.cache_dir={tmp_path / 'cache'}",
            f"hydra.run.dir={tmp_path / 'run'}", "progress=false"]
    out = tmp_path / "modules.json"
    code = PROBE.format(heavy=HEAVY, out=str(out), args=args)
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "max_length" in proc.stderr
    assert json.loads(out.read_text()) == []


def test_unknown_family_in_a_model_preset(tmp_path):
    conf = tmp_path / "extra_conf" / "model"
    conf.mkdir(parents=True)
    (conf / "bad_family.yaml").write_text(
        "# @package models.bad_family\nfamily: nope\ndescription: a preset naming no known family\nparams: {}\n")
    proc = run_app("stage=pipeline", "model=bad_family", f"hydra.searchpath=[file://{conf.parent}]",
                   f"paths.cache_dir={tmp_path / 'cache'}", f"hydra.run.dir={tmp_path / 'run'}", "progress=false")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "'bad_family'" in proc.stderr and "'nope'" in proc.stderr and "sklearn" in proc.stderr
    assert not list((tmp_path / "cache").rglob(".complete")) if (tmp_path / "cache").exists() else True
