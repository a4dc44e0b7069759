"""Reader `web`: a `teiCorpus` of `TEI` documents, one document per `TEI` (one crawled page).

Header fields come from `fields` (XPaths relative to the `TEI` element, e.g. the site or party in
`tei:teiHeader/...`), the text from `options.text_xpath` (default: the paragraphs of `text/body`).
doc_id = the `TEI/@xml:id`, else "<corpus id>:<file stem>#<n>" (n counts documents within the file, so
files can be read in any order or in parallel and keep their ids).
`options.document` names another document element if needed (default `tei:TEI`).  `xi:include`s of
files inside the corpus folder are followed where they stand.

Built for size (hundreds of MB in one file): `iterparse` only reports `TEI` ends, the XPaths are
compiled once, and each `TEI` is released (with what precedes it) as soon as it is read.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from app.documents import Document
from app.errors import UserError
from app.readers import BaseReader, CorpusSpec, TextXPath, tag_names
from app.readers.safe_xml import XML_ID, release, walk

DEFAULT_TEXT_XPATH = "tei:text/tei:body//tei:p"


class WebReader(BaseReader):
    name = "web"

    def __init__(self, spec: CorpusSpec):
        super().__init__(spec)
        unknown = set(spec.options) - {"text_xpath", "document", "namespaces", "strip_trailing"}
        if unknown:
            raise UserError(f"{spec.where('options')}: unknown option(s) for reader 'web': {sorted(unknown)}")
        text_xpath = spec.options.get("text_xpath") or DEFAULT_TEXT_XPATH
        self.text_xpath = TextXPath(text_xpath, self.namespaces, spec.where("options.text_xpath"))
        self.tags = tag_names(spec.options.get("document") or "tei:TEI", self.namespaces)

    def read_file(self, path: Path) -> Iterator[Document]:
        corpus_id = self.spec.id
        count = 0
        for _event, elem, _file in walk(path, self.tags, self.spec.root_dir):
            count += 1
            values = self.field_xpaths.values(elem)
            text = self.text_xpath.text(elem)
            doc_id = elem.get(XML_ID) or f"{corpus_id}:{path.stem}#{count}"
            release(elem)
            yield self.make_document(doc_id, text, values)
