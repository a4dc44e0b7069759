"""Hugging Face format: one JSON object `{"text", "label"}` per line, per split.

Layout (inside `<prepared>/hf_jsonl/`): `train.jsonl` (stratified prefix order, so the first N lines are
the stratified subsample that `hardware.max_train_docs_hf` asks for), `job.jsonl` (job split order),
`info.json` (labels, counts).  Readable by `datasets.load_dataset("json", …)` as well as line by line.
No heavy import: plain json.
"""

import json
from pathlib import Path

from app.formats import stratified_prefix_order


def write_jsonl(path: Path, texts, labels, doc_ids) -> int:
    n = 0
    with open(path, "w", encoding="utf-8") as f:
        for text, label, doc_id in zip(texts, labels, doc_ids):
            f.write(json.dumps({"text": text, "label": label, "doc_id": doc_id}, ensure_ascii=False) + "\n")
            n += 1
    return n


def read_jsonl(path: Path, limit: int | None = None) -> tuple[list[str], list[str]]:
    """Texts and labels of the first `limit` lines (all when None)."""
    texts, labels = [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if limit is not None and len(texts) >= limit:
                break
            row = json.loads(line)
            texts.append(row["text"])
            labels.append(row["label"])
    return texts, labels


def write_hf_format(prepared, out_dir: Path, cfg) -> dict:
    meta = prepared.meta
    seed = int(meta["split"].get("seed", 0))
    counts = {}
    train = prepared.read_split("train")
    order = stratified_prefix_order(train["label"].tolist(), seed)
    train = train.iloc[order]
    counts["train"] = write_jsonl(out_dir / "train.jsonl", train["text"], train["label"], train["doc_id"])
    del train
    job = prepared.read_split("job")
    counts["job"] = write_jsonl(out_dir / "job.jsonl", job["text"], job["label"], job["doc_id"])
    info = {"labels": list(meta["labels"]), "n_docs": counts, "train_order": "stratified_prefix",
            "fields": ["text", "label", "doc_id"]}
    (out_dir / "info.json").write_text(json.dumps(info, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return {"train": ["train.jsonl"], "job": ["job.jsonl"]}
