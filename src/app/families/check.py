"""Family `check`: label statistics of the train split and a majority-class baseline.

It runs in every run; its score is the floor any real model must beat.
"""

import json
from pathlib import Path

from app.families.base import Family, ModelSpec, RunContext
from app.prepared import PreparedData


class CheckFamily(Family):
    name = "check"
    resource_class = "light"

    def train(self, spec: ModelSpec, data: PreparedData, out_dir: Path, ctx: RunContext) -> dict:
        train = data.read_split("train")
        counts = train["label"].value_counts()
        # ties broken alphabetically, so the baseline is deterministic
        majority = sorted(counts[counts == counts.max()].index)[0]
        stats = {
            "majority_label": majority,
            "n_train": int(len(train)),
            "label_counts": {str(k): int(v) for k, v in counts.sort_index().items()},
            "label_share": {str(k): round(float(v) / len(train), 4) for k, v in counts.sort_index().items()},
            "words_per_doc_mean": round(float(train["n_words"].mean()), 2),
            "actors": int(train["actor"].nunique()),
        }
        (out_dir / "label_stats.json").write_text(json.dumps(stats, indent=2, ensure_ascii=False))
        return {"n_train": stats["n_train"], "majority_label": majority}

    def predict(self, spec: ModelSpec, model_dir: Path, texts: list[str], ctx: RunContext) -> list[str]:
        majority = json.loads((model_dir / "label_stats.json").read_text())["majority_label"]
        return [majority] * len(texts)
