"""Reader `web`: a `teiCorpus` of `TEI` documents, one document per `TEI` (one crawled page).

Header fields come from `fields` (XPaths relative to the `TEI` element, e.g. the site or party in
`tei:teiHeader/...`), the text from `options.text_xpath` (default: the paragraphs of `text/body`).
doc_id = the `TEI/@xml:id`, else "<corpus id>:<file stem>#<n>" (n counts documents within the file, so
files can be read in any order or in parallel and keep their ids).
`options.document` names another document element if needed (default `tei:TEI`).  `xi:include`s of
files inside the corpus folder are followed where they stand.

Built for size (hundreds of MB in one file): `iterparse` only reports document ends; finished
documents are moved, a batch at a time, into a small tree of their own and their fields and text are
extracted in C by one XSLT call per batch (app.readers.xslt_batch), so memory holds one batch and
Python does a few operations per document.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from lxml import etree

from app.documents import Document
from app.errors import UserError
from app.readers import BaseReader, CorpusSpec, TextXPath, apply_strip, tag_names
from app.readers.safe_xml import TEI_NS, drop_preceding, walk
from app.readers.xslt_batch import BatchExtractor

DEFAULT_TEXT_XPATH = "tei:text/tei:body//tei:p"
# documents per XSLT call: enough to make the call's cost vanish, few enough to keep memory small
BATCH_SIZE = 256


class WebReader(BaseReader):
    name = "web"

    def __init__(self, spec: CorpusSpec):
        super().__init__(spec)
        unknown = set(spec.options) - {"text_xpath", "document", "namespaces", "strip_trailing"}
        if unknown:
            raise UserError(f"{spec.where('options')}: unknown option(s) for reader 'web': {sorted(unknown)}")
        text_xpath = spec.options.get("text_xpath") or DEFAULT_TEXT_XPATH
        TextXPath(text_xpath, self.namespaces, spec.where("options.text_xpath"))  # names a bad XPath
        self.extractor = BatchExtractor(spec.fields, text_xpath, self.namespaces, spec.where("fields"))
        self.tags = tag_names(spec.options.get("document") or "tei:TEI", self.namespaces)

    def read_records(self, path: Path) -> Iterator[tuple[str, dict, bytes]]:
        fallback = f"{self.spec.id}:{path.stem}#"
        count = 0
        for batch in self._batches(path):
            for doc_id, values, text in batch:
                count += 1
                apply_strip(values, self.strip)
                yield doc_id or f"{fallback}{count}", values, text

    def read_file(self, path: Path) -> Iterator[Document]:
        for doc_id, values, text in self.read_records(path):
            yield self.document(doc_id, text.decode(), values)

    def _batches(self, path: Path) -> Iterator[list[tuple[str, dict, bytes]]]:
        """The documents of `path` (and of the files it XIncludes, where they stand), in order, extracted a
        batch at a time."""
        for container, namespaced in self.document_batches(path):
            yield self.extractor.extract(container, namespaced, str(path))

    def document_batches(self, path: Path) -> Iterator[tuple[etree._Element, bool]]:
        """(container, namespaced): the finished document elements of `path`, up to BATCH_SIZE at a time
        and all in the TEI namespace or all outside it.  Each finished document leaves the parsed tree for
        the batch's own, with whatever preceded it in its parent (the corpus header...): the parsed tree
        never grows."""
        container, namespaced = etree.Element("batch"), True
        for _event, elem, source in walk(path, self.tags, self.spec.root_dir):
            flavour = elem.tag.startswith("{" + TEI_NS)
            if len(container) and (flavour != namespaced or len(container) >= BATCH_SIZE):
                yield container, namespaced
                container = etree.Element("batch")
            namespaced = flavour
            drop_preceding(elem)
            container.append(elem)
        if len(container):
            yield container, namespaced
