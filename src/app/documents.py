"""The record every reader yields and every later step consumes (see docs/architecture.md)."""

from dataclasses import dataclass, field


@dataclass
class Document:
    doc_id: str  # unique within the corpus, stable across runs (xml:id, or "<file stem>#<n>", "<corpus>:<n>")
    text: str  # plain text, whitespace-normalised, no stage directions / notes / incidents
    corpus_id: str
    actor: str | None  # the actor that a view maps to a label (speaker id, site, party)
    # every configured field (group, orientation, date, role, ...) as strings; a field whose value is
    # absent in the XML (no group, no @who) is left out rather than stored as ""
    fields: dict[str, str] = field(default_factory=dict)
