"""Stage prepare: TEI → labelled, split, balanced TSVs in a content-keyed cache folder.

Memory stays flat in corpus size: the first pass (files in parallel) writes each kept document's
final TSV row to a spool file and keeps only a few numbers per document for splitting and balancing;
the second pass copies the spooled lines into train.tsv / job.tsv.
"""

import hashlib
import io
import logging
import multiprocessing
import os
import threading
import time
from array import array
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from app.balance import balance_train
from app.cache import build_once, fingerprint, write_json
from app.documents import Document
from app.errors import UserError
from app.label import LabelStats, ViewLabeler
from app.paths import safe_id
from app.prepared import PreparedData
from app.read_tei import corpus_field_names, corpus_files, corpus_reader, list_corpus_files
from app.split import split_train_job
from app.write_formats import ensure_formats, tsv_writer

log = logging.getLogger(__name__)

# bump when the prepared layout, the split/balance semantics or a format written inside the prepared
# folder change: old cache folders stop matching (2: the spaCy dev slice of a grouped split keeps the
# label mix)
PREPARE_VERSION = 2
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
    """What pass 1 keeps of one corpus file: a few values per kept document, the rows in a spool file."""

    # compact (8 bytes per document where it can): a crawl of a million pages keeps these in memory
    spool: Path
    labels: list = field(default_factory=list)  # the view's label strings (shared objects)
    n_words: array = field(default_factory=lambda: array("q"))
    text_keys: bytearray = field(default_factory=bytearray)  # 8-byte digest of each text, end to end
    groups: list = field(default_factory=list)
    row_bytes: array = field(default_factory=lambda: array("q"))  # each spooled row's length: where pass 2 writes it
    stats: LabelStats = field(default_factory=LabelStats)
    n_read: int = 0


def _read_label_file(task: tuple) -> FileChunk:
    """Pass 1 for one file (runs in a worker process when several files are read in parallel).

    Each kept document becomes its final TSV row at once (the columns are fixed before reading), so
    pass 2 only routes lines to train/job.  This loop runs once per document of a crawl: it does no
    more than it must (the text stays UTF-8 bytes from the reader to the row and its duplicate key)."""
    corpus_cfg, view_cfg, path, spool, source_field, group_by, extra = task
    reader = corpus_reader(corpus_cfg)
    corpus_id, actor_field = reader.spec.id, reader.spec.actor_field
    labeler = ViewLabeler(view_cfg)
    chunk = FileChunk(spool=spool, stats=labeler.stats)
    blake2b = hashlib.blake2b
    with open(spool, "wb") as out:
        for doc_id, fields, text in reader.read_records(path):
            chunk.n_read += 1
            # the text is whitespace-normalised UTF-8: its words are its spaces + 1
            n_words = text.count(b" ") + 1 if text else 0
            actor = fields.get(actor_field)
            # the view reads ids and fields only (the word count is given): no need to decode the text
            label = labeler.label(Document(doc_id, "", corpus_id, actor, fields), n_words)
            if label is None:
                continue
            if not fields.get(source_field):
                fields[source_field] = corpus_id
            values = [doc_id, corpus_id, actor or "", label, str(n_words), *[fields.get(c, "") for c in extra]]
            head = "\t".join(values)
            if b'"' in text or '"' in head or head.count("\t") != len(values) - 1 or "\n" in head or "\r" in head:
                row = _row([*values, text.decode()]).encode()
            else:
                row = b"%s\t%s\n" % (head.encode(), text)
            out.write(row)
            chunk.row_bytes.append(len(row))
            chunk.labels.append(label)
            chunk.n_words.append(n_words)
            chunk.text_keys += blake2b(text, digest_size=8).digest()
            if group_by:
                # a document without the grouping value is a group of its own
                value = actor if group_by == "actor" else fields.get(group_by)
                chunk.groups.append(str(value or f"__doc__{corpus_id}:{doc_id}"))
    return chunk


def _needs_cleaning(value: str) -> bool:
    return "\t" in value or "\n" in value or "\r" in value


def _row(values: list[str]) -> str:
    """One TSV line through the csv module (quoting), cells freed of tabs and line breaks.  Rare:
    readers normalise whitespace, and only cells holding a double quote need quoting."""
    line = io.StringIO()
    tsv_writer(line).writerow([" ".join(v.split()) if _needs_cleaning(v) else v for v in values])
    return line.getvalue()


def _map_in_order(func, tasks: list, cfg: DictConfig, desc: str, meanwhile=None) -> list:
    """func over tasks, results in task order, over `hardware.threads` processes, with a progress bar.
    `meanwhile()` runs in a thread of this process once the workers are started (forked)."""
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
                if meanwhile is not None:  # never before the fork: a thread mid-import would fork badly
                    threading.Thread(target=meanwhile, daemon=True).start()
                for result in pool.imap(func, tasks):
                    results.append(result)
                    bar.update(1)
    return results


def _import_split_libraries() -> None:
    """scikit-learn takes ~2 s to import; the split needs it only after pass 1, so this process
    imports it while the workers read (it would otherwise sit idle)."""
    import sklearn.model_selection  # noqa: F401


def _columns(corpora: list[DictConfig], source_field: str) -> list[str]:
    """The prepared TSV's columns: the base ones, every field a reader may give (sorted), the text."""
    names = {source_field}
    for corpus in corpora:
        names.update(corpus_field_names(corpus))
    return BASE_COLUMNS + sorted(n for n in names if n not in BASE_COLUMNS and n != "text") + ["text"]


def _read_all(cfg: DictConfig, corpora: list[DictConfig], columns: list[str], out: Path) -> tuple[list[FileChunk], dict]:
    """Pass 1 over every file of every corpus, in file order; files in parallel over `hardware.threads`."""
    view = OmegaConf.to_container(cfg.view, resolve=True)
    extra = columns[len(BASE_COLUMNS):-1]
    tasks = []
    for corpus in corpora:
        plain = OmegaConf.to_container(corpus, resolve=True)
        for path in corpus_files(corpus):
            spool = out / f"spool-{len(tasks):05d}.tsv"
            tasks.append((plain, view, path, spool, cfg.data.source_field, cfg.split.group_by, extra))
    chunks = _map_in_order(_read_label_file, tasks, cfg, f"read {cfg.dataset_id}", meanwhile=_import_split_libraries)
    read_counts: dict = {}
    for task, chunk in zip(tasks, chunks):
        read_counts[task[0]["id"]] = read_counts.get(task[0]["id"], 0) + chunk.n_read
    return chunks, read_counts


def _write_splits(chunks: list[FileChunk], is_train: np.ndarray, multiplicity: np.ndarray, columns: list[str],
                  out: Path, cfg: DictConfig) -> None:
    """Pass 2: the spooled rows, in reading order, into train.tsv (each as many times as balancing says,
    possibly 0) and job.tsv.  Every row's length is known, so each spool file's share of both files is
    known too: the files are sized first and the spools copied into their places in parallel."""
    header = _row(columns).encode()
    copies = np.where(is_train, multiplicity, -1)  # per row: copies in train, or -1 for job
    row_bytes = np.concatenate([np.frombuffer(c.row_bytes, dtype=np.int64) for c in chunks])
    train_bytes = np.where(copies > 0, copies, 0) * row_bytes
    job_bytes = np.where(copies < 0, row_bytes, 0)
    paths = (out / "train.tsv", out / "job.tsv")
    tasks, start, offsets = [], 0, [len(header), len(header)]
    for chunk in chunks:
        end = start + len(chunk.row_bytes)
        sizes = (int(train_bytes[start:end].sum()), int(job_bytes[start:end].sum()))
        tasks.append((chunk.spool, copies[start:end].tolist(), paths, tuple(offsets), sizes))
        offsets = [offsets[0] + sizes[0], offsets[1] + sizes[1]]
        start = end
    for path, size in zip(paths, offsets):
        with open(path, "wb") as handle:
            handle.write(header)
            handle.truncate(size)
    _map_in_order(_copy_rows, tasks, cfg, f"write {cfg.dataset_id}")


def _copy_rows(task: tuple) -> None:
    """Pass 2 for one spool file: its rows to their places in train.tsv and job.tsv (lines copied as bytes)."""
    spool, copies, paths, offsets, sizes = task
    with open(spool, "rb") as rows, open(paths[0], "r+b") as train_file, open(paths[1], "r+b") as job_file:
        train_file.seek(offsets[0])
        job_file.seek(offsets[1])
        for line, n in zip(rows, copies):
            if n < 0:
                job_file.write(line)
            elif n:
                train_file.write(line if n == 1 else line * n)
        if (train_file.tell(), job_file.tell()) != (offsets[0] + sizes[0], offsets[1] + sizes[1]):
            raise RuntimeError(f"pass 2 wrote {spool.name} to the wrong place")  # a bug, never bad input
    os.remove(spool)


def _build(cfg: DictConfig, corpora: list[DictConfig], key: dict, out: Path) -> None:
    t0 = time.perf_counter()
    source_field = cfg.data.source_field
    group_by = cfg.split.group_by
    columns = _columns(corpora, source_field)
    chunks, read_counts = _read_all(cfg, corpora, columns, out)
    labels = [x for c in chunks for x in c.labels]
    n_words = np.concatenate([np.frombuffer(c.n_words, dtype=np.int64) for c in chunks])
    text_keys = np.frombuffer(b"".join(c.text_keys for c in chunks), dtype=np.uint64)
    groups = [x for c in chunks for x in c.groups]
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
        text_keys=text_keys if cfg.split.dedup_exact else None,
    )
    # balance sees the train split only: an oversampled copy can never reach job
    train_idx = np.flatnonzero(split.is_train)
    mult_train, balance_info = balance_train(labels_arr[train_idx], n_words[train_idx], cfg.balance, cfg.seed)
    multiplicity = np.ones(len(labels), dtype=np.int64)
    multiplicity[train_idx] = mult_train
    _write_splits(chunks, split.is_train, multiplicity, columns, out, cfg)

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

