"""Stage `skeleton`: the actors that actually occur in a dataset, and what the reference says of them.

`python -m app stage=skeleton dataset=an2013` reads the dataset's corpora with the readers `prepare`
uses (`app.read_tei.iter_corpus`) and writes into the run folder:

- `actors_counts_<corpus_id>.tsv`: one row per actor, most documents first — the fields that can place
  it (group, orientation code), documents, words, `usable` (documents that a derived view can label:
  the reference's `keep` filter and `min_words`), first and last date, and the implied placement;
- `ideology_actors_skeleton.yaml`: every actor with the label the reference implies through its group
  or orientation code, or an explicit empty value (`null`) to fill.  After completion it is the
  `ideology.actors` input of `stage=derive_views`.
"""

from __future__ import annotations

import csv
import logging
import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from omegaconf import DictConfig

from app.ideology.reference import EXCLUDE, UNPLACED, Placement, Reference, display_path, load_reference, place_actor
from app.label import count_words

log = logging.getLogger(__name__)

SKELETON_FILE = "ideology_actors_skeleton.yaml"
# fields that can place an actor when the reference names none for the corpus
FALLBACK_PLACING_FIELDS = ("politicalgroup", "group", "party", "orientation")


@dataclass
class ActorCounts:
    documents: int = 0
    words: int = 0
    usable: int = 0
    first_date: str | None = None
    last_date: str | None = None
    combos: Counter = field(default_factory=Counter)  # tuple((field, value), ...) -> documents
    values: dict[str, Counter] = field(default_factory=dict)  # field -> value -> documents

    def add_date(self, date: str | None) -> None:
        if not date:
            return
        if self.first_date is None or date < self.first_date:
            self.first_date = date
        if self.last_date is None or date > self.last_date:
            self.last_date = date


@dataclass
class CorpusActors:
    corpus_id: str
    actor_field: str
    placing_fields: list[str]  # the reference's fields for this corpus, then the fallback ones
    declared: list[str] = field(default_factory=list)  # the reference's fields only (they decide)
    documents: int = 0
    documents_without_actor: int = 0
    actors: dict[str, ActorCounts] = field(default_factory=dict)
    placements: dict[str, Placement] = field(default_factory=dict)

    def ranked(self) -> list[str]:
        """Actors, most documents first (ties: most usable, then by name, for stable files)."""
        return sorted(self.actors, key=lambda a: (-self.actors[a].documents, -self.actors[a].usable, a))

    def columns(self) -> list[str]:
        """Placing fields that occur (reference fields always, fallback ones when seen)."""
        seen = {f for counts in self.actors.values() for f in counts.values}
        return [f for f in self.placing_fields if f in seen or f in self.declared]


def combos_of(entry_by) -> list[tuple[dict[str, str], int]]:
    """The `by` value of an actors-file entry as (values, weight) pairs."""
    if not entry_by:
        return [({}, 1)]
    items = entry_by if isinstance(entry_by, list) else [entry_by]
    return [({str(k): str(v) for k, v in item.items()}, 1) for item in items]


def scan_corpus(corpus_cfg, ref: Reference, progress: bool = False) -> CorpusActors:
    """Stream one corpus (same reader as prepare) into per-actor counts and placements."""
    from app.read_tei import iter_corpus

    corpus_id = str(corpus_cfg.id)
    cref = ref.corpus(corpus_id)
    declared = cref.placing_fields() if cref else []
    placing = declared + [f for f in FALLBACK_PLACING_FIELDS if f not in declared]
    keep = cref.keep if cref else {}
    out = CorpusActors(corpus_id, str(corpus_cfg.get("actor_field") or "actor"), placing, list(declared))
    for doc in iter_corpus(corpus_cfg, progress=progress):
        out.documents += 1
        if not doc.actor:
            out.documents_without_actor += 1
            continue
        counts = out.actors.get(doc.actor)
        if counts is None:
            counts = out.actors[doc.actor] = ActorCounts()
        n_words = count_words(doc.text)
        counts.documents += 1
        counts.words += n_words
        if n_words >= ref.min_words and all(_value(doc, k) in allowed for k, allowed in keep.items()):
            counts.usable += 1
        counts.add_date(doc.fields.get("date"))
        combo = []
        for name in placing:
            value = doc.fields.get(name)
            if value:
                counts.values.setdefault(name, Counter())[value] += 1
                if name in declared or not declared:
                    combo.append((name, value))
        counts.combos[tuple(combo)] += 1
    for actor, counts in out.actors.items():
        out.placements[actor] = place_actor(ref, corpus_id, [(dict(c), n) for c, n in counts.combos.items()])
    return out


def _value(doc, key: str) -> str | None:
    if key == "actor":
        return doc.actor
    if key == "corpus_id":
        return doc.corpus_id
    return doc.fields.get(key)


# -- writing -------------------------------------------------------------------------------------------


TSV_TAIL = ["documents", "words", "usable", "first_date", "last_date", "global", "intra", "status", "why"]


def write_counts_tsv(scan: CorpusActors, path: Path) -> None:
    columns = scan.columns()
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(["actor", *columns, *TSV_TAIL])
        for actor in scan.ranked():
            c, p = scan.actors[actor], scan.placements[actor]
            row = [actor]
            for name in columns:  # several values over time (NG then SOC): most frequent first
                row.append("|".join(v for v, _n in (c.values.get(name) or Counter()).most_common()))
            row += [c.documents, c.words, c.usable, c.first_date or "", c.last_date or "",
                    p.global_ or "", p.cluster or "", _status(p), p.why]
            writer.writerow(row)


def _status(p: Placement) -> str:
    return "to_fill" if p.status in (UNPLACED, "conflict") else p.status


def flow(value) -> str:
    """One YAML value on one line (flow style), quoted wherever YAML needs it."""
    if not isinstance(value, (dict, list)):  # a bare scalar would get a "..." document end marker
        return flow([value])[1:-1]
    return yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=1 << 30, sort_keys=False).strip()


def flow_key(key: str) -> str:
    """A mapping key on one line: `[key]` in flow style, brackets removed, keeps the needed quotes."""
    return flow([key])[1:-1]


def actor_entry(p: Placement, counts: ActorCounts, declared: Iterable[str]) -> dict:
    """The skeleton entry of one actor: label fields first, then how it was placed, then counts."""
    global_ = p.global_ if p.status == "placed" else (EXCLUDE if p.status == EXCLUDE else None)
    by = [dict(c) for c, _n in counts.combos.most_common() if c]
    declared = set(declared)
    if declared:
        by = [{k: v for k, v in c.items() if k in declared} for c in by]
        by = [c for c in by if c]
    entry = {"global": global_, "intra": p.cluster if p.status == "placed" else None}
    entry["by"] = by[0] if len(by) == 1 else (by or {})
    entry["documents"] = counts.documents
    entry["usable"] = counts.usable
    return entry


def render_actors_file(scans: list[CorpusActors], ref: Reference, command: str) -> str:
    cats = ", ".join(ref.categories)
    lines = [
        f"# ideolab actors skeleton — written by `{command}`",
        f"# reference: {display_path(ref.path)}",
        "#",
        "# One entry per actor, most documents first.  Complete it, then derive the views:",
        "#   python -m app stage=derive_views ideology.actors=<this file> [ideology.out_dir=conf/view]",
        f"# global: a category ({cats}), `exclude` (never labelled), or null (to fill).",
    ]
    for side in ref.sides.values():
        lines.append(
            f"# intra:  on the {side.name.split('_')[0]} side ({', '.join(side.categories)}): "
            f"{', '.join(side.clusters)}; null elsewhere."
        )
    lines += [
        "# Filled values are what the reference implies through `by` (the group / orientation code of the",
        "# actor's documents; the comment says how).  A value you change overrides the reference (derive_views",
        "# lists it as a conflict); a null value follows the reference.",
        f"# documents: all the actor's documents; usable: those a derived view can label (keep filter, >= "
        f"{ref.min_words} words).",
        "kind: ideology_actors",
        f"written_by: {flow(command)}",
        f"reference: {flow(display_path(ref.path))}",
        "corpora:",
    ]
    for scan in scans:
        placed = sum(1 for p in scan.placements.values() if p.status == "placed")
        excluded = sum(1 for p in scan.placements.values() if p.status == EXCLUDE)
        to_fill = len(scan.actors) - placed - excluded
        lines += [
            f"  {flow_key(scan.corpus_id)}:",
            f"    # {len(scan.actors)} actors: {placed} placed by the reference, {excluded} excluded, "
            f"{to_fill} to fill",
            f"    actor_field: {flow(scan.actor_field)}",
            f"    documents: {scan.documents}",
            f"    documents_without_actor: {scan.documents_without_actor}",
        ]
        if not scan.actors:
            lines.append("    actors: {}")
            continue
        lines.append("    actors:")
        for actor in scan.ranked():
            p, counts = scan.placements[actor], scan.actors[actor]
            entry = actor_entry(p, counts, scan.declared)
            note = p.why if p.status in ("placed", EXCLUDE) else f"TO FILL: {p.why}"
            lines.append(f"      {flow_key(actor)}: {flow(entry)}  # {_one_line(note)}")
    return "\n".join(lines) + "\n"


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


# -- the stage -----------------------------------------------------------------------------------------


def run_skeleton_stage(cfg: DictConfig) -> None:
    ref = load_reference(cfg.ideology.reference)  # first: a bad reference fails before any import or read
    from app.prepare import dataset_corpora  # the dataset's corpora exactly as prepare picks them
    from app.run_record import current_run_dir

    corpora = dataset_corpora(cfg)
    run_dir = current_run_dir()
    run_dir.mkdir(parents=True, exist_ok=True)
    scans, tsvs = [], []
    for corpus in corpora:
        if ref.corpus(corpus.id) is None:
            log.warning("the reference has no entry for corpus %s (nor 'default'): its actors are all to fill",
                        corpus.id)
        scan = scan_corpus(corpus, ref, progress=cfg.progress)
        tsv = run_dir / f"actors_counts_{scan.corpus_id}.tsv"
        write_counts_tsv(scan, tsv)
        scans.append(scan)
        tsvs.append(tsv)
    command = f"python -m app stage=skeleton dataset={cfg.dataset_id}"
    text = render_actors_file(scans, ref, command)
    # the file must read back as what was meant (quoting of odd actor ids): check before writing
    loaded = yaml.safe_load(text)
    for scan in scans:
        assert set(loaded["corpora"][scan.corpus_id]["actors"] or {}) == set(scan.actors), scan.corpus_id
    skeleton = run_dir / SKELETON_FILE
    write_text_atomic(skeleton, text)

    print(f"skeleton of dataset {cfg.dataset_id} (reference {display_path(ref.path)}):")
    for scan, tsv in zip(scans, tsvs):
        placed = sum(1 for p in scan.placements.values() if p.status == "placed")
        excluded = sum(1 for p in scan.placements.values() if p.status == EXCLUDE)
        to_fill = len(scan.actors) - placed - excluded
        usable_to_fill = sum(scan.actors[a].usable for a, p in scan.placements.items()
                             if p.status not in ("placed", EXCLUDE))
        print(f"  {scan.corpus_id}: {scan.documents} documents, {len(scan.actors)} actors — {placed} placed, "
              f"{excluded} excluded, {to_fill} to fill ({usable_to_fill} usable documents)"
              + (f"; {scan.documents_without_actor} documents without actor" if scan.documents_without_actor else ""))
        print(f"    counts:   {display_path(tsv)}")
    print(f"  skeleton: {display_path(skeleton)}")
    print(f"next: python -m app stage=derive_views ideology.actors={display_path(skeleton)}")
