"""Reader `parlamint`: ParlaMint TEI, one document per `u` (utterance).

- text = the `seg`s' own text nodes (`tei:seg/text()`), never `itertext()`: `kinesic`, `vocal` and
  `incident` sit inside `seg` and their `desc` names groups ("Applaudissements sur les bancs du groupe
  GDR"); `note`, `head` and `gap` are outside `u` and never read;
- `u/@who` -> `listPerson/person` -> the `member`/`associateMember` affiliation valid at the sitting
  date whose org is a `parliamentaryGroup` of `listOrg` -> its abbreviation (`group`) and its
  `state[@type="politicalOrientation"]//@ana` code (`orientation`: L, C, CR, LLF, CCR, ...);
- fields: `speaker` (person id, the actor), `role` (`@ana` without `#`: chair/regular/guest in
  ParlaMint 3+, chair/speaker/government/unknown in 2.x), `group`, `orientation`, `date` (the sitting
  date, `teiHeader//setting/date/@when`), `sitting` (the sitting `TEI/@xml:id`), plus any XPaths of
  `fields` (relative to `u`).  A value that cannot be resolved is absent.
- `options.exclude_chair` (default true): drop the turns tagged chair **and every turn of whoever
  chairs that sitting** — the presiding MP is often tagged `#speaker` for procedural turns.  The turns
  of one sitting are therefore held until its `TEI` ends (memory = one sitting, not the corpus).
- `options.list_person`, `options.list_org`: the metadata files, relative to the corpus folder.

The corpus path is either a root `teiCorpus` that XIncludes the sittings (followed one file at a time,
only inside the corpus folder) or a folder of sitting files (`glob`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from app.documents import Document
from app.errors import UserError
from app.readers import BaseReader, CorpusSpec, TextXPath, tag_names
from app.readers.safe_xml import TEI_NS, XML_ID, parse_file, release, walk

_OPTIONS = {"list_person", "list_org", "exclude_chair", "text_xpath", "namespaces", "strip_trailing"}
_GROUP_ROLES = {"member", "associateMember"}
_NS = {"tei": TEI_NS}


@dataclass
class Affiliation:
    ref: str
    start: str
    end: str


@dataclass
class Org:
    abbreviation: str | None
    orientation: str | None


@dataclass
class Sitting:
    sitting_id: str
    date: str | None = None
    pending: list[tuple[Document, str | None, set[str]]] = field(default_factory=list)


def _date_bound(value: str | None, upper: bool) -> str:
    """ISO dates compare as strings once padded: '2017' -> '2017-01-01' (from) / '2017-12-31' (to)."""
    if not value:
        return "9999-12-31" if upper else "0000-01-01"
    value = value.strip()[:10]
    if len(value) == 4:
        return value + ("-12-31" if upper else "-01-01")
    if len(value) == 7:
        return value + ("-31" if upper else "-01")
    return value


def _local(tag: object) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


class ParlamintReader(BaseReader):
    name = "parlamint"

    def __init__(self, spec: CorpusSpec):
        super().__init__(spec)
        unknown = set(spec.options) - _OPTIONS
        if unknown:
            raise UserError(f"{spec.where('options')}: unknown option(s) for reader 'parlamint': {sorted(unknown)}")
        self.exclude_chair = bool(spec.options.get("exclude_chair", True))
        text_xpath = spec.options.get("text_xpath") or "tei:seg/text()"
        self.text_xpath = TextXPath(text_xpath, self.namespaces, spec.where("options.text_xpath"))
        self.person_file = spec.option_path("list_person")
        self.org_file = spec.option_path("list_org")
        self.orgs = self._load_orgs(self.org_file)
        self.affiliations = self._load_persons(self.person_file)
        self.u_tags = tag_names("tei:u", self.namespaces)
        self.tei_tags = tag_names("tei:TEI", self.namespaces)
        self.date_tags = tag_names("tei:date", self.namespaces)

    # -- metadata ---------------------------------------------------------------------------------

    @staticmethod
    def _load_orgs(path: Path) -> dict[str, Org]:
        root = parse_file(path).getroot()
        orgs = {}
        for org in root.iter(f"{{{TEI_NS}}}org", "org"):
            if org.get("role") != "parliamentaryGroup" or not org.get(XML_ID):
                continue
            abbreviation = org.xpath("string(tei:orgName[@full='abb'][1])", namespaces=_NS).strip() or None
            codes = org.xpath("tei:state[@type='politicalOrientation']//@ana", namespaces=_NS)
            orientation = None
            for code in codes:  # "#orientation.CR" -> "CR"
                token = str(code).split()[0].lstrip("#")
                orientation = token.split(".", 1)[1] if "." in token else token
                break
            orgs[org.get(XML_ID)] = Org(abbreviation, orientation)
        if not orgs:
            raise UserError(f"{path}: no org with role='parliamentaryGroup' (is this a ParlaMint listOrg?)")
        return orgs

    def _load_persons(self, path: Path) -> dict[str, list[Affiliation]]:
        root = parse_file(path).getroot()
        persons: dict[str, list[Affiliation]] = {}
        for person in root.iter(f"{{{TEI_NS}}}person", "person"):
            pid = person.get(XML_ID)
            if not pid:
                continue
            found = persons.setdefault(pid, [])
            for aff in person.iter(f"{{{TEI_NS}}}affiliation", "affiliation"):
                ref = (aff.get("ref") or "").lstrip("#")
                # only parliamentary groups count: parliament (ParlaMint-FR-LOWER), government and
                # committees are affiliations too, but carry no political orientation
                if aff.get("role") in _GROUP_ROLES and ref in self.orgs:
                    found.append(
                        Affiliation(ref, _date_bound(aff.get("from"), False), _date_bound(aff.get("to"), True))
                    )
        return persons

    def group_at(self, person: str | None, date: str | None) -> str | None:
        """The listOrg id of the person's parliamentary group on `date` (None if none)."""
        if not person or not date:
            return None
        day = _date_bound(date, False)
        valid = [a for a in self.affiliations.get(person, ()) if a.start <= day <= a.end]
        if not valid:
            return None
        # records are curated to have one group at a time; if two overlap, the latest joined wins
        return max(valid, key=lambda a: (a.start, a.ref)).ref

    @classmethod
    def field_names(cls, spec: CorpusSpec) -> list[str]:
        return [*super().field_names(spec), "speaker", "role", "group", "orientation", "date", "sitting"]

    def extra_files(self, files: list[Path]) -> list[Path]:
        return [self.person_file, self.org_file, *super().extra_files(files)]

    # -- documents --------------------------------------------------------------------------------

    def read_file(self, path: Path) -> Iterator[Document]:
        tags = self.u_tags + self.tei_tags + self.date_tags
        stack: list[Sitting] = []
        for event, elem, source in walk(path, tags, self.spec.root_dir, events=("start", "end")):
            local = _local(elem.tag)
            if local == "TEI":
                if event == "start":
                    stack.append(Sitting(elem.get(XML_ID) or source.stem))
                else:
                    yield from self._flush(stack.pop())
                    release(elem)
            elif event != "end":
                continue
            elif local == "date":
                parent = elem.getparent()
                if stack and stack[-1].date is None and parent is not None and _local(parent.tag) == "setting":
                    stack[-1].date = elem.get("when") or elem.get("from")
            else:  # u
                if not stack:  # a bare `u` outside any TEI: its own file is the sitting
                    stack.append(Sitting(source.stem))
                sitting = stack[-1]
                sitting.pending.append(self._utterance(elem, sitting, len(sitting.pending) + 1))
                release(elem)
        while stack:
            yield from self._flush(stack.pop())

    def _utterance(self, u: etree._Element, sitting: Sitting, n: int) -> tuple[Document, str | None, set[str]]:
        values = self.field_xpaths.values(u)
        who = (u.get("who") or "").strip().lstrip("#") or None
        roles = {token.lstrip("#") for token in (u.get("ana") or "").split()}
        if who:
            values["speaker"] = who
        if roles:
            values["role"] = " ".join(sorted(roles))
        if sitting.date:
            values["date"] = sitting.date
        values["sitting"] = sitting.sitting_id
        group = self.group_at(who, sitting.date)
        if group:
            org = self.orgs[group]
            if org.abbreviation:
                values["group"] = org.abbreviation
            if org.orientation:
                values["orientation"] = org.orientation
        text = self.text_xpath.text(u)
        doc_id = u.get(XML_ID) or f"{sitting.sitting_id}#{n}"
        return self.make_document(doc_id, text, values), who, roles

    def _flush(self, sitting: Sitting) -> Iterator[Document]:
        chairs = {who for _doc, who, roles in sitting.pending if "chair" in roles and who}
        for doc, who, roles in sitting.pending:
            if self.exclude_chair and ("chair" in roles or who in chairs):
                continue
            yield doc
        sitting.pending.clear()
