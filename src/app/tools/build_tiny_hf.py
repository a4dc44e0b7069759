"""Build a tiny random BERT checkpoint and a WordPiece tokenizer trained on a corpus.

`hf_tiny` (family `hf`) calls `build_tiny_checkpoint` on the train split of each run, so tests and the
demo fine-tune a real `transformers` model in seconds without any download.  Also usable by hand:

    python -m app.tools.build_tiny_hf --texts cache/prepared/.../hf_jsonl/train.jsonl --out /tmp/tiny_bert

(`--texts`: a JSONL file with a "text" field, a TSV with a "text" column, or a plain text file.)
"""

import argparse
import json
import os
from pathlib import Path
from typing import Iterable

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
DEFAULTS = {
    "vocab_size": 4000,
    "hidden_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 128,
    "max_position_embeddings": 512,
}


def train_wordpiece(texts: Iterable[str], vocab_size: int, lowercase: bool = True):
    """A BERT-style WordPiece tokenizer (`tokenizers`), trained on `texts`; deterministic for a given input."""
    from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import WordPiece
    from tokenizers.trainers import WordPieceTrainer

    tok = Tokenizer(WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=lowercase, strip_accents=False, clean_text=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = WordPieceTrainer(vocab_size=vocab_size, min_frequency=2, special_tokens=SPECIAL_TOKENS,
                               show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    tok.decoder = decoders.WordPiece(prefix="##")
    return tok


def build_tiny_checkpoint(texts: list[str], out_dir: Path, labels: list[str], seed: int = 0,
                          lowercase: bool = True, **sizes) -> Path:
    """Write a tiny random `BertForSequenceClassification` + its tokenizer into `out_dir` (save_pretrained)."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    settings = {**DEFAULTS, **{k: v for k, v in sizes.items() if v is not None}}
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    raw = train_wordpiece(texts, int(settings["vocab_size"]), lowercase)
    tokenizer = BertTokenizerFast(tokenizer_object=raw, do_lower_case=lowercase, unk_token="[UNK]",
                                  pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]",
                                  model_max_length=int(settings["max_position_embeddings"]))
    config = BertConfig(
        vocab_size=raw.get_vocab_size(),
        hidden_size=int(settings["hidden_size"]),
        num_hidden_layers=int(settings["num_hidden_layers"]),
        num_attention_heads=int(settings["num_attention_heads"]),
        intermediate_size=int(settings["intermediate_size"]),
        max_position_embeddings=int(settings["max_position_embeddings"]),
        pad_token_id=raw.token_to_id("[PAD]"),
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={lab: i for i, lab in enumerate(labels)},
    )
    torch.manual_seed(seed)  # the random weights depend on the seed only
    model = BertForSequenceClassification(config)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir


def _read_texts(path: Path) -> list[str]:
    if path.suffix == ".jsonl":
        with open(path, encoding="utf-8") as f:
            return [json.loads(line)["text"] for line in f if line.strip()]
    if path.suffix == ".tsv":
        import pandas as pd

        return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)["text"].tolist()
    return [line.rstrip("\n") for line in open(path, encoding="utf-8") if line.strip()]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--texts", type=Path, required=True, help="JSONL (text field), TSV (text column) or .txt")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--labels", default="a,b", help="comma-separated class labels of the head")
    parser.add_argument("--seed", type=int, default=0)
    for key, value in DEFAULTS.items():
        parser.add_argument(f"--{key.replace('_', '-')}", type=int, default=value)
    args = parser.parse_args(argv)
    sizes = {k: getattr(args, k) for k in DEFAULTS}
    out = build_tiny_checkpoint(_read_texts(args.texts), args.out, args.labels.split(","), args.seed, **sizes)
    print(out)


if __name__ == "__main__":
    main()
