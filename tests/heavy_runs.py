"""The few real CLI runs that the spaCy, HF and format tests share (a heavy run costs tens of seconds).

Three processes in all, on the demo corpus with `hardware=tiny` (1 thread, a few hundred documents):

1. `stage=pipeline` in cache A — spaCy shards of 64 documents (IDEOLAB_SPACY_SHARD_DOCS), the spaCy
   train split capped at 120 documents (across two shards), hf_tiny for 2 epochs;
2. `stage=train` in a fresh cache B, same settings;
3. `stage=evaluate` in cache B: must find the models of run 2 (and reuse the formats), and give the
   metrics of run 1 (same seed, two separate trainings).
"""

import json
from functools import lru_cache
from pathlib import Path

from conftest import run_app

MODELS = "model=[spacy_bow_quick,hf_tiny]"
SETTINGS = ("dataset=web1", "view=ideology_global", "hardware=tiny", "hardware.max_train_docs_spacy=120",
            "model.epochs=2", "progress=false")
SHARD_DOCS = 64
SPACY_CAP = 120


class Run:
    def __init__(self, proc, run_dir: Path, cache: Path):
        self.proc, self.run_dir, self.cache = proc, run_dir, cache
        assert proc.returncode == 0, f"run failed ({proc.returncode}):\n{proc.stderr[-4000:]}"
        self.record = json.loads((run_dir / "run.json").read_text())

    def metrics(self, family: str, model_id: str) -> dict:
        return json.loads((self.run_dir / "reports" / family / model_id / "metrics.json").read_text())

    def model(self, model_id: str) -> dict:
        return next(m for m in self.record["models"] if m["model_id"] == model_id)

    @property
    def prepared(self) -> Path:
        return Path(self.record["prepared_dir"])


def _run(root: Path, name: str, stage: str, cache: str) -> Run:
    run_dir = root / name
    proc = run_app(f"stage={stage}", MODELS, *SETTINGS, f"paths.cache_dir={root / cache}",
                   f"hydra.run.dir={run_dir}", env={"IDEOLAB_SPACY_SHARD_DOCS": str(SHARD_DOCS)})
    return Run(proc, run_dir, root / cache)


@lru_cache(maxsize=None)
def heavy_runs(root: Path) -> dict[str, Run]:
    runs = {"pipeline": _run(root, "pipeline", "pipeline", "cache_a")}
    runs["train"] = _run(root, "train", "train", "cache_b")
    runs["evaluate"] = _run(root, "evaluate", "evaluate", "cache_b")
    return runs


def shared_root(tmp_path_factory) -> Path:
    # one folder per pytest session, whichever test module asks first
    return tmp_path_factory.getbasetemp() / "heavy_runs"
