"""Stage prepare: TEI → labelled, split, balanced TSVs in a content-keyed cache folder.

Memory stays flat in corpus size: texts are streamed to a spool file in the first pass, only a few
numbers per document are kept for splitting and balancing, and the second pass streams the spool
into train.tsv / job.tsv.
"""

import hashlib
import json
import logging
import os
import time
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf

from app.balance import balance_train
from app.cache import build_once, fingerprint, write_json
from app.errors import UserError
from app.label import ViewLabeler, count_words
from app.paths import safe_id
from app.prepared import PreparedData
from app.read_tei import iter_corpus, list_corpus_files
from app.split import split_train_job
from app.write_formats import TsvSplitWriter, ensure_formats

log = logging.getLogger(__name__)

# bump when the prepared layout or the split/balance semantics change: old cache folders stop matching
PREPARE_VERSION = 1
BASE_COLUMNS = ["doc_id", "corpus_id", "actor", "label", "n_words"]


def dataset_corpora(cfg: DictConfig) -> list[DictConfig]:
    safe_id(cfg.dataset_id, "dataset_id")
    safe_id(cfg.view.name, "view.name")
    if cfg.data.merge_mode not in ("single", "merged", "juxtaposed", "separate"):
        raise UserError(f"data.merge_mode={cfg.data.merge_mode!r}: use single, merged, juxtaposed or separate")
    if cfg.data.merge_mode == "separate":
        ids = ",".join(cfg.data.corpus_ids)
        raise UserError(
            "data.merge_mode=separate runs each corpus as its own job: sweep them, e.g. "
            f"python -m app -m dataset={ids}"
        )
    if cfg.data.merge_mode == "single" and len(cfg.data.corpus_ids) != 1:
        raise UserError(f"data.merge_mode=single needs one corpus, data.corpus_ids has {len(cfg.data.corpus_ids)}")
    corpora = []
    for cid in cfg.data.corpus_ids:
        safe_id(cid, "data.corpus_ids")
        if cid not in cfg.corpora:
            raise UserError(f"data.corpus_ids names {cid!r}, which has no corpus config (conf/corpus/{cid}.yaml)")
        corpus = cfg.corpora[cid]
        safe_id(corpus.id, f"corpora.{cid}.id")
        corpora.append(corpus)
    return corpora


def prepared_key(cfg: DictConfig, corpora: list[DictConfig]) -> dict:
    """Everything that shapes the prepared data, and nothing else (not the models, not `repeat`)."""
    files = []
    for corpus in corpora:
        for path in list_corpus_files(corpus):
            st = path.stat()
            files.append([str(path), st.st_size, st.st_mtime_ns])
    return {
        "version": PREPARE_VERSION,
        "dataset_id": cfg.dataset_id,
        "corpora": [OmegaConf.to_container(c, resolve=True) for c in corpora],
        "files": files,
        "data": OmegaConf.to_container(cfg.data, resolve=True),
        "view": OmegaConf.to_container(cfg.view, resolve=True),
        "split": OmegaConf.to_container(cfg.split, resolve=True),
        "balance": OmegaConf.to_container(cfg.balance, resolve=True),
        "train_prop": cfg.train_prop,
        "seed": cfg.seed,
    }


def prepare_dataset(cfg: DictConfig, formats: set[str] = frozenset()) -> PreparedData:
    corpora = dataset_corpora(cfg)
    key = prepared_key(cfg, corpora)
    folder = Path(cfg.paths.cache_dir) / "prepared" / cfg.dataset_id / cfg.view.name / fingerprint(key)
    build_once(folder, lambda tmp: _build(cfg, corpora, key, tmp), f"prepared data {cfg.dataset_id}/{cfg.view.name}")
    prepared = PreparedData(folder)
    if formats:
        ensure_formats(prepared, formats, cfg)
    return prepared


def _build(cfg: DictConfig, corpora: list[DictConfig], key: dict, out: Path) -> None:
    t0 = time.perf_counter()
    labeler = ViewLabeler(cfg.view)
    source_field = cfg.data.source_field
    group_by = cfg.split.group_by
    labels, groups, text_keys, n_words = [], [], [], []
    field_names: set[str] = set()
    read_counts = {}
    spool_path = out / "spool.jsonl"
    # pass 1: read + label; texts go to the spool, a few values per document stay in memory
    with open(spool_path, "w", encoding="utf-8") as spool:
        for corpus in corpora:
            n_read = 0
            for doc in iter_corpus(corpus, progress=cfg.progress):
                n_read += 1
                label = labeler.label(doc)
                if label is None:
                    continue
                row = {**doc.fields, "doc_id": doc.doc_id, "corpus_id": doc.corpus_id, "actor": doc.actor or ""}
                row[source_field] = row.get(source_field) or doc.corpus_id
                row["label"] = label
                row["n_words"] = count_words(doc.text)
                row["text"] = doc.text
                field_names.update(doc.fields)
                spool.write(json.dumps(row, ensure_ascii=False) + "\n")
                labels.append(label)
                n_words.append(row["n_words"])
                text_keys.append(hashlib.blake2b(doc.text.encode(), digest_size=8).digest())
                if group_by:
                    # a document without the grouping value is a group of its own
                    groups.append(str(row.get(group_by) or f"__doc__{doc.corpus_id}:{doc.doc_id}"))
            read_counts[corpus.id] = n_read
    stats = labeler.stats.as_dict()
    if not labels:
        raise UserError(
            f"view {cfg.view.name!r} leaves no document of dataset {cfg.dataset_id!r} "
            f"(read {sum(read_counts.values())}; dropped by reason: {stats['dropped']})"
        )
    labels_arr = np.array(labels)
    split = split_train_job(
        labels_arr,
        cfg.train_prop,
        cfg.seed,
        groups=np.array(groups) if group_by else None,
        text_keys=np.array(text_keys, dtype=object) if cfg.split.dedup_exact else None,
    )
    # balance sees the train split only: an oversampled copy can never reach job
    train_idx = np.flatnonzero(split.is_train)
    mult_train, balance_info = balance_train(labels_arr[train_idx], np.array(n_words)[train_idx], cfg.balance, cfg.seed)
    multiplicity = np.ones(len(labels), dtype=np.int64)
    multiplicity[train_idx] = mult_train

    extra = sorted(f for f in field_names | {source_field} if f not in BASE_COLUMNS and f != "text")
    writer = TsvSplitWriter(out, BASE_COLUMNS + extra + ["text"])
    # pass 2: stream the spool into the splits
    with open(spool_path, encoding="utf-8") as spool:
        for i, line in enumerate(spool):
            if split.is_train[i]:
                if multiplicity[i]:
                    writer.write("train", json.loads(line), multiplicity[i])
            else:
                writer.write("job", json.loads(line))
    writer.close()
    os.remove(spool_path)

    meta = {
        "dataset_id": cfg.dataset_id,
        "view": cfg.view.name,
        "source_corpora": [c.id for c in corpora],
        "merge_mode": cfg.data.merge_mode,
        "source_field": source_field,
        "compare_by": list(cfg.analysis.compare_by),
        "fingerprint": fingerprint(key),
        "read_by_corpus": read_counts,
        "labelling": stats,
        "labels": sorted(set(labels)),
        "split": {**split.summary(labels_arr), "group_by": group_by, "dedup_exact": cfg.split.dedup_exact,
                  "train_prop": cfg.train_prop, "seed": cfg.seed},
        "balance": balance_info,
        "columns": writer.columns,
        "seconds": round(time.perf_counter() - t0, 3),
        "key": key,
    }
    write_json(out / "meta_view.json", meta)
    write_json(out / "meta_formats.json", {"tsv": {"train": ["train.tsv"], "job": ["job.tsv"]}})
    log.info(
        "prepared %s/%s: %d documents kept (%s), train %d → %d after %s, job %d",
        cfg.dataset_id, cfg.view.name, len(labels), dict(stats["kept_by_label"]),
        balance_info["n_train_before"], balance_info["n_train_after"], balance_info["strategy"],
        meta["split"]["n_job"],
    )

