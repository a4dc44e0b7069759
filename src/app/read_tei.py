"""Step `read`: a corpus config -> a stream of `Document`s (see docs/architecture.md, "Corpus config").

`iter_corpus(corpus_cfg)` picks the reader named by `reader` (web | turns | parlamint) and streams the
corpus file by file; `list_corpus_files(corpus_cfg)` names every file whose content shapes the
documents (the corpus files, XIncluded sittings, metadata side files), for the cache fingerprint.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from app.documents import Document
from app.errors import UserError
from app.readers import BaseReader, CorpusSpec


def _reader_classes() -> dict[str, type[BaseReader]]:
    from app.readers.parlamint import ParlamintReader
    from app.readers.turns import TurnsReader
    from app.readers.web import WebReader

    return {"web": WebReader, "turns": TurnsReader, "parlamint": ParlamintReader}


READERS = ("web", "turns", "parlamint")


def _plain(corpus_cfg: Any) -> dict[str, Any]:
    """A DictConfig (interpolations resolved) or a mapping, as a plain dict."""
    try:
        from omegaconf import DictConfig, OmegaConf

        if isinstance(corpus_cfg, DictConfig):
            try:
                return OmegaConf.to_container(corpus_cfg, resolve=True)  # type: ignore[return-value]
            except Exception as err:  # interpolation errors: a config problem, said in one line
                raise UserError(f"corpus config: {err}".splitlines()[0]) from None
    except ImportError:  # pragma: no cover - omegaconf is a dependency
        pass
    if not isinstance(corpus_cfg, Mapping):
        raise UserError(f"corpus config must be a mapping, got {type(corpus_cfg).__name__}")
    return dict(corpus_cfg)


def corpus_spec(corpus_cfg: Any) -> CorpusSpec:
    cfg = _plain(corpus_cfg)
    corpus_id = str(cfg.get("id") or "")
    if not corpus_id:
        raise UserError("corpus config: missing key 'id'")
    for key in ("reader", "path"):
        if cfg.get(key) in (None, ""):
            raise UserError(f"corpus {corpus_id!r}: missing key '{key}'")
    reader = str(cfg["reader"])
    if reader not in READERS:
        raise UserError(f"corpus {corpus_id!r}: reader={reader!r} is unknown (choose one of {', '.join(READERS)})")
    for key in ("fields", "options"):
        if cfg.get(key) is not None and not isinstance(cfg[key], Mapping):
            raise UserError(f"corpus {corpus_id!r}: '{key}' must be a mapping")
    path = Path(str(cfg["path"])).expanduser()
    if not path.exists():
        raise UserError(f"corpus {corpus_id!r}: path not found: {path}")
    path = path.resolve()
    return CorpusSpec(
        id=corpus_id,
        reader=reader,
        path=path,
        root_dir=path if path.is_dir() else path.parent,
        glob=str(cfg.get("glob") or "*.xml"),
        language=str(cfg.get("language") or "fr"),
        actor_field=str(cfg.get("actor_field") or "actor"),
        fields={str(k): str(v) for k, v in (cfg.get("fields") or {}).items()},
        options=dict(cfg.get("options") or {}),
    )


def _document_files(spec: CorpusSpec) -> list[Path]:
    if spec.path.is_file():
        return [spec.path]
    root = spec.path
    files = sorted(p.resolve() for p in root.glob(spec.glob) if p.is_file())
    for file in files:  # a glob such as "../*.xml" must not reach outside the corpus folder
        if not file.is_relative_to(root):
            raise UserError(f"corpus {spec.id!r}: glob {spec.glob!r} matches {file}, outside {root}")
    if not files:
        raise UserError(f"corpus {spec.id!r}: no file matches glob {spec.glob!r} in {root}")
    return files


def make_reader(spec: CorpusSpec) -> BaseReader:
    return _reader_classes()[spec.reader](spec)


def list_corpus_files(corpus_cfg: Any) -> list[Path]:
    """Sorted absolute paths of every file the corpus is read from (fingerprint input)."""
    spec = corpus_spec(corpus_cfg)
    files = _document_files(spec)
    extra = make_reader(spec).extra_files(files)
    return sorted(set(files) | {Path(p).resolve() for p in extra})


def iter_corpus(corpus_cfg: Any, progress: bool = False) -> Iterator[Document]:
    """Stream the corpus' documents, file by file (a tqdm bar over files on stderr if `progress`)."""
    spec = corpus_spec(corpus_cfg)
    files = _document_files(spec)
    reader = make_reader(spec)
    from tqdm import tqdm

    with tqdm(total=len(files), desc=f"read {spec.id}", unit="file", disable=not progress, leave=False) as bar:
        count = 0
        for path in files:
            for doc in reader.read_file(path):
                count += 1
                yield doc
            bar.update(1)
            bar.set_postfix(docs=count, refresh=False)


def corpus_files(corpus_cfg: Any) -> list[Path]:
    """The document files of a corpus, in reading order (prepare reads them one by one, in parallel)."""
    return _document_files(corpus_spec(corpus_cfg))


def corpus_field_names(corpus_cfg: Any) -> list[str]:
    """Every field the corpus' documents may carry (the reader's `field_names`), without loading a reader."""
    spec = corpus_spec(corpus_cfg)
    return _reader_classes()[spec.reader].field_names(spec)


def corpus_reader(corpus_cfg: Any) -> BaseReader:
    """A reader for the corpus; `reader.read_file(path)` streams one file's documents."""
    return make_reader(corpus_spec(corpus_cfg))
