"""Stage prepare: TEI → labelled, split, balanced TSVs in a content-keyed cache folder.

Memory stays flat in corpus size: texts are streamed to a spool file in the first pass, only a few
numbers per document are kept for splitting and balancing, and the second pass streams the spool
into train.tsv / job.tsv.
"""

import hashlib
import json
import logging
import multiprocessing
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from app.balance import balance_train
from app.cache import build_once, fingerprint, write_json
from app.errors import UserError
from app.label import LabelStats, ViewLabeler, count_words
from app.paths import safe_id
from app.prepared import PreparedData
from app.read_tei import corpus_files, corpus_reader, list_corpus_files
from app.split import split_train_job
from app.write_formats import concat_tsv, ensure_formats, tsv_writer

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


@dataclass
class FileChunk:
    """What pass 1 keeps of one corpus file: a few values per kept document, texts in a spool file."""

    spool: Path
    labels: list = field(default_factory=list)
    n_words: list = field(default_factory=list)
    text_keys: list = field(default_factory=list)
    groups: list = field(default_factory=list)
    field_names: set = field(default_factory=set)
    stats: LabelStats = field(default_factory=LabelStats)
    n_read: int = 0


def _read_label_file(task: tuple) -> FileChunk:
    """Pass 1 for one file (runs in a worker process when several files are read in parallel)."""
    corpus_cfg, view_cfg, path, spool, source_field, group_by = task
    reader = corpus_reader(corpus_cfg)
    labeler = ViewLabeler(view_cfg)
    chunk = FileChunk(spool=spool, stats=labeler.stats)
    dumps = json.JSONEncoder(ensure_ascii=False).encode
    with open(spool, "w", encoding="utf-8") as out:
        # one line per kept document: base columns, the other fields as JSON, the text last — pass 2
        # copies the text without parsing it
        for doc in reader.read_file(path):
            chunk.n_read += 1
            n_words = count_words(doc.text)
            label = labeler.label(doc, n_words)
            if label is None:
                continue
            fields = dict(doc.fields)
            fields[source_field] = fields.get(source_field) or doc.corpus_id
            chunk.field_names.update(fields)
            out.write("\t".join(map(_cell, (doc.doc_id, doc.corpus_id, doc.actor or "", label, str(n_words),
                                             dumps(fields), doc.text))) + "\n")
            chunk.labels.append(label)
            chunk.n_words.append(n_words)
            chunk.text_keys.append(hashlib.blake2b(doc.text.encode(), digest_size=8).digest())
            if group_by:
                # a document without the grouping value is a group of its own
                value = doc.actor if group_by == "actor" else fields.get(group_by)
                chunk.groups.append(str(value or f"__doc__{doc.corpus_id}:{doc.doc_id}"))
    return chunk


def _map_in_order(func, tasks: list, cfg: DictConfig, desc: str) -> list:
    """func over tasks, results in task order, over `hardware.threads` processes, with a progress bar."""
    workers = max(1, min(int(cfg.hardware.threads), len(tasks)))
    results = []
    with tqdm(total=len(tasks), desc=desc, unit="file", disable=not cfg.progress, leave=False) as bar:
        if workers == 1:
            for task in tasks:
                results.append(func(task))
                bar.update(1)
        else:
            # fork: workers inherit the imported modules, so starting them costs milliseconds
            with multiprocessing.get_context("fork").Pool(workers) as pool:
                for result in pool.imap(func, tasks):
                    results.append(result)
                    bar.update(1)
    return results


def _cell(value: str) -> str:
    # spool and TSV cells never hold a tab or a line break (readers normalise whitespace already)
    if "\t" in value or "\n" in value or "\r" in value:
        return " ".join(value.split())
    return value


def _write_chunk(task: tuple) -> tuple[Path, Path]:
    """Pass 2 for one spool file: its rows into a train part and a job part (no header)."""
    spool, is_train, multiplicity, columns = task
    parts = (spool.with_suffix(".train.tsv"), spool.with_suffix(".job.tsv"))
    with open(spool, encoding="utf-8") as rows, open(parts[0], "w", encoding="utf-8", newline="") as train_file, \
            open(parts[1], "w", encoding="utf-8", newline="") as job_file:
        files = (train_file, job_file)
        writers = (tsv_writer(train_file), tsv_writer(job_file))
        extra = columns[len(BASE_COLUMNS):-1]
        for i, line in enumerate(rows):
            if is_train[i] and not multiplicity[i]:
                continue
            *base, fields, text = line.rstrip("\n").split("\t", len(BASE_COLUMNS) + 1)
            fields = json.loads(fields)
            values = base + [fields.get(c, "") for c in extra] + [text]
            times = int(multiplicity[i]) if is_train[i] else 1
            side = 0 if is_train[i] else 1
            if any('"' in v for v in values):  # csv quoting needed (rare); else written as is, much faster
                writers[side].writerows([values] * times)
            else:
                files[side].write(("\t".join(values) + "\n") * times)
    os.remove(spool)
    return parts


def _read_all(cfg: DictConfig, corpora: list[DictConfig], out: Path) -> tuple[list[FileChunk], dict]:
    """Pass 1 over every file of every corpus, in file order; files in parallel over `hardware.threads`."""
    view = OmegaConf.to_container(cfg.view, resolve=True)
    tasks = []
    for corpus in corpora:
        plain = OmegaConf.to_container(corpus, resolve=True)
        for path in corpus_files(corpus):
            spool = out / f"spool-{len(tasks):05d}.jsonl"
            tasks.append((plain, view, path, spool, cfg.data.source_field, cfg.split.group_by))
    chunks = _map_in_order(_read_label_file, tasks, cfg, f"read {cfg.dataset_id}")
    read_counts: dict = {}
    for task, chunk in zip(tasks, chunks):
        read_counts[task[0]["id"]] = read_counts.get(task[0]["id"], 0) + chunk.n_read
    return chunks, read_counts


def _build(cfg: DictConfig, corpora: list[DictConfig], key: dict, out: Path) -> None:
    t0 = time.perf_counter()
    source_field = cfg.data.source_field
    group_by = cfg.split.group_by
    chunks, read_counts = _read_all(cfg, corpora, out)
    labels = [x for c in chunks for x in c.labels]
    n_words = [x for c in chunks for x in c.n_words]
    text_keys = [x for c in chunks for x in c.text_keys]
    groups = [x for c in chunks for x in c.groups]
    field_names = set().union(*(c.field_names for c in chunks))
    label_stats = LabelStats.merged(c.stats for c in chunks)
    stats = label_stats.as_dict()
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
    columns = BASE_COLUMNS + extra + ["text"]
    # pass 2: each spool file into train/job parts (in parallel), then the parts joined in order
    tasks, start = [], 0
    for chunk in chunks:
        end = start + len(chunk.labels)
        tasks.append((chunk.spool, split.is_train[start:end], multiplicity[start:end], columns))
        start = end
    parts = _map_in_order(_write_chunk, tasks, cfg, f"write {cfg.dataset_id}")
    for index, split_name in enumerate(("train", "job")):
        concat_tsv(out / f"{split_name}.tsv", columns, [p[index] for p in parts])

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
        "columns": columns,
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

