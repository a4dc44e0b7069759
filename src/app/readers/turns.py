"""Reader `turns`: speech turns, one document per turn element (`sp` in the an2013 debates, `u` in the
demo transcripts).  Nothing is specific to one corpus: the corpus config says

- `options.unit`: the turn element (prefixed name, default `tei:sp`);
- `options.text_xpath`: the turn's text, relative to the turn (default `.`, all its text).  Elements
  give their text content; the an2013 stage directions live in attributes of `mpt:interruption` and
  so never reach the text;
- `fields`: name -> XPath relative to the turn (ancestors are still there: `ancestor::tei:div/@n`);
- `options.file_metadata`: optional per-file values from a CSV in the corpus folder, keyed by the
  file name without extension: `{path: metadata.csv, key: id, fields: {date: date}}`;
- `options.strip_trailing`: `{field: chars}` removed from the end of a value (an2013 `auteur` ids).

doc_id = the turn's `@xml:id`, else "<file stem>#<n>" (n = turn number in the file, from 1).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Mapping
from pathlib import Path

from app.documents import Document
from app.errors import UserError
from app.readers import BaseReader, CorpusSpec, TextXPath, tag_names
from app.readers.safe_xml import XML_ID, release, walk

_OPTIONS = {"unit", "text_xpath", "namespaces", "strip_trailing", "file_metadata"}


class TurnsReader(BaseReader):
    name = "turns"

    def __init__(self, spec: CorpusSpec):
        super().__init__(spec)
        unknown = set(spec.options) - _OPTIONS
        if unknown:
            raise UserError(f"{spec.where('options')}: unknown option(s) for reader 'turns': {sorted(unknown)}")
        self.tags = tag_names(str(spec.options.get("unit") or "tei:sp"), self.namespaces)
        text_xpath = spec.options.get("text_xpath") or "."
        self.text_xpath = TextXPath(text_xpath, self.namespaces, spec.where("options.text_xpath"))
        self.metadata_path, self.metadata = self._load_file_metadata()

    def _load_file_metadata(self) -> tuple[Path | None, dict[str, dict[str, str]]]:
        conf = self.spec.options.get("file_metadata")
        if not conf:
            return None, {}
        where = self.spec.where("options.file_metadata")
        if not isinstance(conf, Mapping) or not conf.get("path") or not conf.get("key"):
            raise UserError(f"{where} needs path, key and fields")
        wanted = conf.get("fields") or {}
        if not isinstance(wanted, Mapping):
            raise UserError(f"{where}.fields must be a mapping field -> CSV column")
        path = (self.spec.root_dir / str(conf["path"])).resolve()
        if not path.is_relative_to(self.spec.root_dir.resolve()):
            raise UserError(f"{where}.path={conf['path']!r} leaves the corpus folder")
        if not path.is_file():
            raise UserError(f"{where}.path: file not found: {path}")
        key = str(conf["key"])
        table: dict[str, dict[str, str]] = {}
        try:
            with open(path, newline="", encoding="utf-8-sig") as handle:
                reader = csv.DictReader(handle)
                columns = set(reader.fieldnames or ())
                missing = ({key} | {str(c) for c in wanted.values()}) - columns
                if missing:
                    raise UserError(f"{path}:1: column(s) {sorted(missing)} not found (named in {where})")
                for row in reader:
                    values = {str(name): (row.get(str(col)) or "").strip() for name, col in wanted.items()}
                    table[(row.get(key) or "").strip()] = {k: v for k, v in values.items() if v}
        except (UnicodeDecodeError, csv.Error) as err:
            raise UserError(f"{path}: not a UTF-8 CSV file ({err})") from None
        return path, table

    @classmethod
    def field_names(cls, spec: CorpusSpec) -> list[str]:
        conf = spec.options.get("file_metadata")
        wanted = conf.get("fields") if isinstance(conf, Mapping) else None
        return [*super().field_names(spec), *map(str, wanted if isinstance(wanted, Mapping) else ())]

    def extra_files(self, files: list[Path]) -> list[Path]:
        extra = super().extra_files(files)
        return [self.metadata_path, *extra] if self.metadata_path else extra

    def read_file(self, path: Path) -> Iterator[Document]:
        counter: dict[Path, int] = {}
        for _event, elem, source in walk(path, self.tags, self.spec.root_dir):
            n = counter[source] = counter.get(source, 0) + 1
            values = dict(self.metadata.get(source.stem, ()))
            values.update(self.field_xpaths.values(elem))
            text = self.text_xpath.text(elem)
            doc_id = elem.get(XML_ID) or f"{source.stem}#{n}"
            release(elem)
            yield self.make_document(doc_id, text, values)
