"""Fields and text of many documents in one libxslt call (the `web` reader's extraction).

On a crawl of hundreds of MB, evaluating the field XPaths and the text XPath document by document from
Python costs several times the XML parse itself.  Here the corpus' XPaths become one XSLT stylesheet;
the reader moves a batch of finished document elements into a small tree of their own and transforms
it in C, getting one record per document:

    xml:id TAB field_1 TAB ... field_k TAB text RS

Fields are `normalize-space(expr)` (the XPath string of the expression, as `FieldXPaths` reads it);
the text is every item the text XPath selects (elements: their text content; attributes and text
nodes: their value; comments and processing instructions skipped), each after one space.  Python then
only finishes whitespace normalisation where XPath's `normalize-space` stops (Unicode spaces, line
breaks inside the text) — the same result as `" ".join(value.split())`, checked by tests against the
per-document XPath path.  RS is a private-use character; a document holding it falls back to a
transform of its own (see `extract`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from lxml import etree

from app.errors import UserError
from app.readers import drop_tei_prefix, normalise_space

XSL_NS = "http://www.w3.org/1999/XSL/Transform"
RECORD_END = "\ue001"
_RECORD_END = RECORD_END.encode()
# the non-ASCII spaces whose UTF-8 starts with E2 (U+2000-U+200A, U+2028, U+2029, U+202F, U+205F)
_E2_SPACES = re.compile(rb"\xe2(\x80[\x80-\x8a\xa8\xa9\xaf]|\x81\x9f)")


def _xsl(parent: etree._Element, name: str, text: str | None = None, **attrs: str) -> etree._Element:
    elem = etree.SubElement(parent, f"{{{XSL_NS}}}{name}", **attrs)
    if text is not None:
        elem.text = text
    return elem


def build_stylesheet(fields: list[str], text_xpath: str, namespaces: Mapping[str, str]) -> etree._Element:
    """The stylesheet (built as a tree, so XPaths holding quotes or `<` need no escaping)."""
    root = etree.Element(f"{{{XSL_NS}}}stylesheet", nsmap={"xsl": XSL_NS, **namespaces}, version="1.0")
    _xsl(root, "output", method="text", encoding="UTF-8")
    template = _xsl(root, "template", match="/")
    each = _xsl(template, "for-each", select="/*/*")
    _xsl(each, "value-of", select="@xml:id")
    for expr in fields:
        _xsl(each, "text", "\t")
        _xsl(each, "value-of", select=f"normalize-space({expr})")
    _xsl(each, "text", "\t")
    items = _xsl(each, "for-each", select=f"({text_xpath})[not(self::comment() or self::processing-instruction())]")
    _xsl(items, "text", " ")  # before every item: the record's text starts with one space, dropped in Python
    _xsl(items, "value-of", select=".")
    _xsl(each, "text", RECORD_END)
    return root


def normalise_text(text: bytes) -> bytes:
    """`" ".join(text.split())` on UTF-8 bytes, without decoding when there is nothing to do (the usual
    case; the single-byte searches are memchr-fast, a three-byte search on a page costs microseconds)."""
    if b"\n" in text or b"\t" in text or b"\r" in text or b"  " in text or text[:1] == b" " or text[-1:] == b" ":
        text = b" ".join(text.split())
    if not text.isascii() and may_hold_other_space(text):
        return normalise_space(text.decode()).encode()
    return text


def may_hold_other_space(data: bytes) -> bool:
    """Whether UTF-8 `data` may hold a non-ASCII space (no-break space C2 A0, NEL C2 85, U+1680,
    U+2000-U+200A, U+2028/9, U+202F, U+205F, U+3000).  French text is full of C3 (accents) and E2
    (’ …), so E2 is looked at closely; the one-byte searches are memchr-fast, the two-byte ones run
    only where C2 occurs at all."""
    return (b"\xe1" in data or b"\xe3" in data
            or (b"\xc2" in data and (b"\xc2\x85" in data or b"\xc2\xa0" in data))
            or (b"\xe2" in data and _E2_SPACES.search(data) is not None))


class BatchExtractor:
    """`extract(container)` -> [(xml:id or "", {field: value}, text as UTF-8 bytes)] for its children."""

    def __init__(self, fields: Mapping[str, str], text_xpath: str, namespaces: Mapping[str, str], where: str):
        self.names = list(fields)
        self._where = where
        self._exprs = [str(e) for e in fields.values()]
        self._text_xpath = str(text_xpath)
        self._namespaces = dict(namespaces)
        self._transforms: dict[bool, etree.XSLT] = {}
        self._transform(True)  # a bad XPath is reported before any file is read

    def _transform(self, namespaced: bool) -> etree.XSLT:
        transform = self._transforms.get(namespaced)
        if transform is None:
            fields = self._exprs if namespaced else [drop_tei_prefix(e) for e in self._exprs]
            text = self._text_xpath if namespaced else drop_tei_prefix(self._text_xpath)
            try:
                transform = etree.XSLT(build_stylesheet(fields, text, self._namespaces))
            except etree.XSLTParseError as err:
                raise UserError(f"{self._where}: an XPath of the fields or options.text_xpath is invalid: {err}") from None
            self._transforms[namespaced] = transform
        return transform

    def extract(self, container: etree._Element, namespaced: bool, where: str) -> list[tuple[str, dict, bytes]]:
        out = self._run(container, namespaced, where)
        records = out.split(_RECORD_END)
        if len(records) != len(container) + 1:
            # a text holds the record mark itself: one document at a time, where the output is exactly
            # one record followed by the mark
            records = []
            for elem in list(container):
                single = etree.Element("batch")
                single.append(elem)
                records.append(self._run(single, namespaced, where)[: -len(_RECORD_END)])
            records.append(b"")
            out = b""  # (no batch-wide shortcut below)
        # one look at the whole batch usually shows that no text needs normalising: no line break, no
        # double space (which also catches an empty or space-led item after the separator), no space
        # before a record end, no tab but the separators, no non-ASCII space
        clean = (bool(out) and b"\n" not in out and b"\r" not in out and b"  " not in out and b" " + _RECORD_END not in out
                 and out.count(b"\t") == (len(self.names) + 1) * len(container) and not may_hold_other_space(out))
        return [self._record(r, clean) for r in records[:-1]]

    def _run(self, container: etree._Element, namespaced: bool, where: str) -> bytes:
        try:
            return bytes(self._transform(namespaced)(container))
        except etree.XSLTApplyError as err:
            raise UserError(f"{where}: {self._where}: the XPaths failed ({err}); options.text_xpath must select "
                            "nodes (elements, text or attributes)") from None

    def _record(self, record: bytes, clean: bool) -> tuple[str, dict, bytes]:
        text = record.split(b"\t", len(self.names) + 1)[-1]
        # the head (id and fields, normalize-space()d: no tab inside) decoded at once
        head_bytes = record[: len(record) - len(text) - 1]
        head = head_bytes.decode().split("\t")
        if head_bytes.isascii():
            values = {name: value for name, value in zip(self.names, head[1:]) if value}
        else:  # normalize-space() leaves Unicode spaces (no-break, ...)
            values = {name: value for name, value in zip(self.names, map(normalise_space, head[1:])) if value}
        return head[0], values, text[1:] if clean else normalise_text(text[1:])
