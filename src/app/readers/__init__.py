"""TEI readers, one module per shape, and what they share.

- `web`       — a `teiCorpus` of `TEI` documents (one document per `TEI`, fields from its header);
- `turns`     — speech turns (`sp`, `u`, ...), one document per turn, fields by XPath;
- `parlamint` — ParlaMint `u` resolved through listPerson/listOrg to group and orientation.

A reader is built from a `CorpusSpec` and yields `Document`s one file at a time (`read_file`);
`app.read_tei` lists the files, drives the progress bar and picks the reader.  Field XPaths are
relative to the document element and may use the prefixes `tei` (TEI namespace), `xml`, `xi` and any
declared in `options.namespaces`.  A field is the XPath *string* of its expression (`string(expr)`: the
value of the first attribute or the text content of the first element found); the text XPath keeps
every item it finds.  XPaths are written for namespaced TEI; the same XPaths also work on TEI without
namespace (the `tei:` prefix is dropped for such files).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree

from app.documents import Document
from app.errors import UserError
from app.readers.safe_xml import TEI_NS, XI_NS, included_files


@dataclass(frozen=True)
class CorpusSpec:
    id: str
    reader: str
    path: Path  # a file or a folder, as configured (resolved)
    root_dir: Path  # the corpus folder: `path` itself, or the folder holding the file
    glob: str = "*.xml"
    language: str = "fr"
    actor_field: str = "actor"
    fields: dict[str, str] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)

    def where(self, key: str) -> str:
        return f"corpus {self.id!r}: {key}"

    def option_path(self, key: str, required: bool = True) -> Path | None:
        """A file named in `options.<key>`, relative to the corpus folder, that must stay inside it."""
        value = self.options.get(key)
        if value in (None, ""):
            if required:
                raise UserError(f"{self.where('options.' + key)} is required by reader {self.reader!r}")
            return None
        target = (self.root_dir / str(value)).resolve()
        if not target.is_relative_to(self.root_dir.resolve()):
            raise UserError(f"{self.where('options.' + key)}={value!r} leaves the corpus folder {self.root_dir}")
        if not target.is_file():
            raise UserError(f"{self.where('options.' + key)}={value!r}: file not found ({target})")
        return target


def namespaces_for(spec: CorpusSpec) -> dict[str, str]:
    namespaces = {"tei": TEI_NS, "xi": XI_NS}
    extra = spec.options.get("namespaces") or {}
    if not isinstance(extra, Mapping):
        raise UserError(f"{spec.where('options.namespaces')} must be a mapping prefix -> URI")
    namespaces.update({str(k): str(v) for k, v in extra.items()})
    namespaces.pop("xml", None)  # predefined in XPath; lxml refuses to redeclare it
    return namespaces


_text_of = etree.tostring
_TEI_PREFIX = re.compile(r"(?<![\w.:-])tei:(?=[A-Za-z_*])")


def drop_tei_prefix(expr: str) -> str:
    """The XPath for TEI files without namespace: `tei:p` -> `p`."""
    return _TEI_PREFIX.sub("", expr)


def tag_names(qname: str, namespaces: Mapping[str, str]) -> list[str]:
    """lxml tag filters for a prefixed name: `tei:sp` matches namespaced and namespace-less TEI."""
    if ":" not in qname:
        return [qname, f"{{{TEI_NS}}}{qname}"]
    prefix, local = qname.split(":", 1)
    if prefix not in namespaces:
        raise UserError(f"unknown namespace prefix {prefix!r} in {qname!r} (declare it in options.namespaces)")
    names = [f"{{{namespaces[prefix]}}}{local}"]
    if namespaces[prefix] == TEI_NS:
        names.append(local)
    return names


# every character str.split() splits on, bar the plain space; ASCII ones first (the usual suspects)
_ASCII_SPACES = ("\n", "\t", "\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x1f")
_OTHER_SPACES = tuple(c for c in map(chr, range(128, 0x3001)) if c.isspace())


def normalise_space(text: str) -> str:
    """Whitespace runs collapsed to one space, no space at either end: `" ".join(text.split())`.

    Most texts are already normal (one paragraph, single spaces), and checking costs a handful of
    C-level substring searches where split/join builds a string object per word (5x slower on a
    3 KB page, and this runs for every document of a crawl)."""
    if not text:
        return text
    if "  " in text or text[0] == " " or text[-1] == " ":
        return " ".join(text.split())
    for space in _ASCII_SPACES:
        if space in text:
            return " ".join(text.split())
    if not text.isascii():
        for space in _OTHER_SPACES:
            if space in text:
                return " ".join(text.split())
    return text


def xpath_text(result: Any) -> str | None:
    """An XPath result as one whitespace-normalised string (None when empty).

    Elements give their text content (comments, processing instructions and attributes — where the
    an2013 encoding keeps its stage directions — are not text); several items are joined by a space.
    """
    if result.__class__ is list:  # the common case first: this runs for every field of every document
        parts = []
        for item in result:
            if item.__class__ is str:  # attributes and text nodes (smart_strings=False)
                parts.append(item)
            elif isinstance(item, etree._Element):
                # libxml2's own text walk: same as "".join(itertext()), about twice as fast
                parts.append(_text_of(item, method="text", encoding="unicode", with_tail=False))
            elif isinstance(item, str):
                parts.append(str(item))
        text = normalise_space(" ".join(parts))
        return text or None
    if isinstance(result, str):
        text = normalise_space(result)
        return text or None
    if isinstance(result, bool):
        return "true" if result else "false"
    if isinstance(result, float):
        if math.isnan(result):
            return None
        return str(int(result)) if result.is_integer() else repr(result)
    return None


# joins all fields of a document into one XPath result; a private-use character never met in a corpus
_SEPARATOR = "\ue000"


def _compile(expr: str, namespaces: Mapping[str, str], where: str, shown: str) -> etree.XPath:
    try:
        return etree.XPath(expr, namespaces=dict(namespaces), smart_strings=False)
    except etree.XPathError as err:
        raise UserError(f"{where}: invalid XPath {shown!r}: {err}") from None


def _is_namespaced(elem: etree._Element) -> bool:
    return elem.tag.startswith("{" + TEI_NS)


class FieldXPaths:
    """Named field XPaths, each read as an XPath string: `string(expr)`, i.e. the attribute value or
    the text content of the first node found (or a computed string, e.g. `substring-after(@who, '#')`).

    All fields of a document come from one evaluation, `concat(string(e1), SEP, string(e2), ...)`:
    one XPath call per document instead of one per field matters on a crawl of hundreds of MB.
    Compiled once per flavour (TEI-namespaced or not); a field that yields "" is left out.
    """

    def __init__(self, exprs: Mapping[str, str], namespaces: Mapping[str, str], where: str):
        self._exprs = {str(k): str(v) for k, v in exprs.items()}
        self._names = list(self._exprs)
        self._namespaces = dict(namespaces)
        self._where = where
        self._combined: dict[bool, etree.XPath] = {}
        if self._names:
            self._compile(True)  # report a bad XPath before reading anything

    def _compile(self, namespaced: bool) -> etree.XPath:
        parts = []
        for name, expr in self._exprs.items():
            source = expr if namespaced else drop_tei_prefix(expr)
            _compile(f"string({source})", self._namespaces, f"{self._where}.{name}", expr)  # names the field
            parts.append(f"string({source})")
        combined = parts[0] if len(parts) == 1 else "concat(" + f", '{_SEPARATOR}', ".join(parts) + ")"
        xpath = self._combined[namespaced] = _compile(combined, self._namespaces, self._where, combined)
        return xpath

    def values(self, elem: etree._Element) -> dict[str, str]:
        if not self._names:
            return {}
        namespaced = _is_namespaced(elem)
        xpath = self._combined.get(namespaced) or self._compile(namespaced)
        try:
            raw = xpath(elem)
        except etree.XPathError as err:
            raise UserError(f"{self._where}: XPath failed on line {elem.sourceline}: {err}") from None
        parts = raw.split(_SEPARATOR) if len(self._names) > 1 else [raw]
        if len(parts) != len(self._names):  # a value holding the separator itself: one call per field
            parts = [
                _compile(f"string({e if namespaced else drop_tei_prefix(e)})", self._namespaces, self._where, e)(elem)
                for e in self._exprs.values()
            ]
        out = {}
        for name, part in zip(self._names, parts):
            if part:
                value = normalise_space(part)
                if value:
                    out[name] = value
        return out


class TextXPath:
    """The text XPath of a reader: every item counts (all paragraphs, all `seg/text()` nodes)."""

    def __init__(self, expr: str, namespaces: Mapping[str, str], where: str):
        self._expr = str(expr)
        self._namespaces = dict(namespaces)
        self._where = where
        self._compiled: dict[bool, etree.XPath] = {}
        self._get(True)

    def _get(self, namespaced: bool) -> etree.XPath:
        xpath = self._compiled.get(namespaced)
        if xpath is None:
            source = self._expr if namespaced else drop_tei_prefix(self._expr)
            xpath = self._compiled[namespaced] = _compile(source, self._namespaces, self._where, self._expr)
        return xpath

    def text(self, elem: etree._Element) -> str:
        try:
            return xpath_text(self._get(_is_namespaced(elem))(elem)) or ""
        except etree.XPathError as err:
            raise UserError(f"{self._where}: XPath failed on line {elem.sourceline}: {err}") from None


def strip_rules(spec: CorpusSpec) -> dict[str, str]:
    """`options.strip_trailing: {field: chars}`: characters removed from the end of a field's value."""
    rules = spec.options.get("strip_trailing") or {}
    if not isinstance(rules, Mapping):
        raise UserError(f"{spec.where('options.strip_trailing')} must be a mapping field -> characters")
    return {str(k): str(v) for k, v in rules.items()}


def apply_strip(values: dict[str, str], rules: Mapping[str, str]) -> None:
    for name, chars in rules.items():
        value = values.get(name)
        if value is not None:
            value = value.rstrip(chars)
            if value:
                values[name] = value
            else:
                del values[name]


class BaseReader:
    """One corpus shape.  Subclasses implement `read_file`; `extra_files` name side files (metadata)."""

    name = ""

    def __init__(self, spec: CorpusSpec):
        self.spec = spec
        self.namespaces = namespaces_for(spec)
        self.field_xpaths = FieldXPaths(spec.fields, self.namespaces, spec.where("fields"))
        self.strip = strip_rules(spec)

    @classmethod
    def field_names(cls, spec: CorpusSpec) -> list[str]:
        """Every field a document of this corpus may carry: the prepared TSV gets a column for each,
        decided before reading, so that rows are written in their final form as they are read.  A
        property of the config: no reader (and none of its side files) is loaded for it."""
        return list(spec.fields)

    def extra_files(self, files: list[Path]) -> list[Path]:
        """Files besides the listed ones whose content shapes the documents (for fingerprints):
        XIncluded files here, plus what a reader reads on the side (metadata, listPerson...)."""
        extra: list[Path] = []
        for path in files:
            extra.extend(included_files(path, self.spec.root_dir))
        return extra

    def read_file(self, path: Path) -> Iterator[Document]:
        raise NotImplementedError

    def read_records(self, path: Path) -> Iterator[tuple[str, dict[str, str], bytes]]:
        """(doc_id, fields, text as UTF-8) per document of `path`: what `stage=prepare` consumes.  This
        default encodes `read_file`'s documents; a reader with a faster batch path overrides it."""
        for doc in self.read_file(path):
            yield doc.doc_id, doc.fields, doc.text.encode()

    def make_document(self, doc_id: str, text: str, values: dict[str, str]) -> Document:
        """A document from raw field values (`options.strip_trailing` applied here).  `text` must be
        whitespace-normalised (`normalise_space`): later steps count words by counting spaces."""
        apply_strip(values, self.strip)
        return self.document(doc_id, text, values)

    def document(self, doc_id: str, text: str, values: dict[str, str]) -> Document:
        return Document(
            doc_id=doc_id,
            text=text,
            corpus_id=self.spec.id,
            actor=values.get(self.spec.actor_field),
            fields=values,
        )
