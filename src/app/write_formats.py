"""Step 5 — write: the TSV splits, and per-family formats (spaCy DocBin shards, HF JSONL) on demand.

Extra formats live inside the prepared folder (`spacy/`, `hf/`), each built once and listed in
`meta_formats.json`, so asking again reuses them.
"""

import csv
import importlib
import json
import logging
from pathlib import Path
from typing import Iterable

from filelock import FileLock

from app.cache import build_once, write_json
from app.prepared import PreparedData

log = logging.getLogger(__name__)

# format name -> "module:function(prepared, out_dir, cfg) -> {split: [relative files]}"
FORMAT_WRITERS = {
    "spacy": "app.formats.spacy_docbin:write_spacy_format",
    "hf_jsonl": "app.formats.hf_jsonl:write_hf_format",
}


def tsv_writer(file):
    """The one TSV dialect of prepared splits (pandas reads it with sep="\\t", quoting minimal)."""
    return csv.writer(file, delimiter="\t", quoting=csv.QUOTE_MINIMAL, lineterminator="\n")


def ensure_formats(prepared: PreparedData, formats: Iterable[str], cfg) -> dict:
    """Make sure each format exists in the prepared folder; returns meta_formats."""
    meta_path = prepared.dir / "meta_formats.json"
    for fmt in sorted(set(formats)):
        if fmt not in FORMAT_WRITERS:
            raise ValueError(f"no writer for format {fmt!r}")
        module, func = FORMAT_WRITERS[fmt].split(":")
        writer = getattr(importlib.import_module(module), func)
        files: dict = {}

        def build(tmp: Path, writer=writer, files=files) -> None:
            files.update(writer(prepared, tmp, cfg))
            write_json(tmp / "files.json", files)

        build_once(prepared.dir / fmt, build, f"format {fmt}")
        with FileLock(str(meta_path) + ".lock"):
            meta = prepared.formats
            listed = json.loads((prepared.dir / fmt / "files.json").read_text())
            meta[fmt] = {split: [f"{fmt}/{p}" for p in paths] for split, paths in listed.items()}
            write_json(meta_path, meta)
    return prepared.formats
