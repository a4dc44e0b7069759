"""Stage `derive_views`: the ideology reference + an actors file -> views that `view=` selects directly.

    python -m app stage=derive_views ideology.actors=<skeleton or completed actors file> \
        [ideology.reference=conf/ideology/ideology.yaml] [ideology.out_dir=conf/view]

Each actor gets one placement: the actors file's `global` / `intra` where set (a researcher's decision),
else what the reference implies through the actor's `by` values (group, orientation code).  From the
placements, per corpus of the actors file, a rule `{field: actor, map: {actor: label}, keep: ...}` of:

- `ideology_global`      — the global categories (far_left … far_right);
- `ideology_left_intra`  — the left clusters, for actors on the left side only (others are unmapped);
- `ideology_right_intra` — the right clusters, for actors on the right side only;
- `ideology_actors`      — the final actors map: each actor's cluster (or its category where it has
                           none), with its category and how it was placed in a comment.

Views go to `ideology.out_dir` (else the run folder).  A view file already there is merged, not
replaced: the rules of the corpora derived now are replaced, the others kept with their comments.
Conflicts (an actor placed in two categories, a category nobody uses, an actor left unplaced) go to
`ideology_conflicts.yaml` in the run folder and into one summary line.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from omegaconf import DictConfig

from app.errors import UserError
from app.ideology.reference import (
    EXCLUDE,
    Reference,
    display_path,
    load_reference,
    load_yaml,
    place_actor,
)
from app.ideology.skeleton import combos_of, flow, flow_key, write_text_atomic
from app.paths import safe_id

log = logging.getLogger(__name__)

VIEWS = ("ideology_global", "ideology_left_intra", "ideology_right_intra", "ideology_actors")
CONFLICTS_FILE = "ideology_conflicts.yaml"
_ENTRY_KEYS = {"global", "intra", "by", "documents", "usable", "words", "note"}


def _view_label_order_supported() -> bool:
    """Whether views may say the order of their classes for reports (schema `ViewConfig.label_order`)."""
    from app.config_schema import ViewConfig

    return "label_order" in getattr(ViewConfig, "__dataclass_fields__", {})


def _rule_min_words_supported() -> bool:
    """Whether view rules may carry their own min_words (schema `ViewRule.min_words`)."""
    from app.config_schema import ViewRule

    return "min_words" in getattr(ViewRule, "__dataclass_fields__", {})


# -- the actors file -------------------------------------------------------------------------------------


@dataclass
class ActorEntry:
    actor: str
    global_: str | None
    intra: str | None
    by: object
    documents: int
    usable: int


@dataclass
class Resolved:
    corpus: str
    actor: str
    status: str  # placed | exclude | unplaced
    global_: str | None
    cluster: str | None
    source: str  # "reference" | "actors file"
    why: str
    documents: int
    usable: int

    def finest(self) -> str | None:
        return self.cluster or self.global_


def load_actors(path: str | Path, ref: Reference) -> dict[str, list[ActorEntry]]:
    """corpus id -> actor entries (file order); every label checked against the reference."""
    p = Path(str(path)).expanduser()
    data = load_yaml(p, "actors file")
    where = display_path(p)

    def fail(entry: str, problem: str) -> UserError:
        return UserError(f"{where}: {entry}: {problem}")

    if not isinstance(data, Mapping) or not isinstance(data.get("corpora"), Mapping):
        raise UserError(f"{where}: not an actors file: it needs a 'corpora' mapping (write one with stage=skeleton)")
    unknown = sorted(str(k) for k in data if k not in ("kind", "written_by", "reference", "corpora"))
    if unknown:
        raise fail(unknown[0], "unknown key (known: kind, written_by, reference, corpora)")
    categories = list(ref.categories)
    clusters = ref.clusters()
    out: dict[str, list[ActorEntry]] = {}
    for cid, corpus in data["corpora"].items():
        safe_id(cid, f"{where}: corpora.{cid}")
        centry = f"corpora.{cid}"
        actors = corpus.get("actors") if isinstance(corpus, Mapping) else None
        if actors is None:
            actors = {}
        if not isinstance(actors, Mapping):
            raise fail(f"{centry}.actors", "must map actor ids to {global, intra, by, ...}")
        entries = []
        for actor, value in actors.items():
            aentry = f"{centry}.actors.{actor}"
            if value is None:
                value = {}
            if not isinstance(value, Mapping):
                raise fail(aentry, "must be a mapping {global, intra, by, documents, usable}")
            unknown = sorted(str(k) for k in value if k not in _ENTRY_KEYS)
            if unknown:
                raise fail(f"{aentry}.{unknown[0]}", f"unknown key (known: {', '.join(sorted(_ENTRY_KEYS))})")
            global_, intra = value.get("global"), value.get("intra")
            if global_ is not None and (not isinstance(global_, str) or global_ not in categories + [EXCLUDE]):
                raise fail(f"{aentry}.global", f"{global_!r} is not a category of the reference "
                                               f"{display_path(ref.path)} ({', '.join(categories)}, exclude or null)")
            if intra is not None:
                if not isinstance(intra, str) or intra not in clusters:
                    raise fail(f"{aentry}.intra", f"{intra!r} is not a cluster of the reference "
                                                  f"{display_path(ref.path)} ({', '.join(clusters)} or null)")
                if global_ is not None and ref.side_of_category(global_) != clusters[intra]:
                    raise fail(f"{aentry}.intra", f"cluster {intra!r} belongs to {clusters[intra]}, "
                                                  f"but global {global_!r} is not on that side")
            by = value.get("by")
            items = by if isinstance(by, list) else [by] if by else []
            if not all(isinstance(i, Mapping) for i in items):
                raise fail(f"{aentry}.by", "must be a mapping field -> value, or a list of them")
            entries.append(ActorEntry(str(actor), global_, intra, by, _count(value.get("documents")),
                                      _count(value.get("usable"))))
        out[str(cid)] = entries
    if not out:
        raise UserError(f"{where}: corpora: no corpus in the actors file")
    return out


def _count(value) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


# -- merging reference and actors ------------------------------------------------------------------------


@dataclass
class Derivation:
    resolved: dict[str, list[Resolved]] = field(default_factory=dict)
    two_categories: list[dict] = field(default_factory=list)
    unplaced: list[dict] = field(default_factory=list)
    not_in_intra: list[dict] = field(default_factory=list)


def resolve(ref: Reference, actors: dict[str, list[ActorEntry]]) -> Derivation:
    """One placement per actor: the actors file's values where set, else the reference's; conflicts noted."""
    d = Derivation()
    for cid, entries in actors.items():
        rows = d.resolved[cid] = []
        for e in entries:
            implied = place_actor(ref, cid, combos_of(e.by))
            implied_global = implied.global_ if implied.status in ("placed", EXCLUDE) else None
            implied_global = EXCLUDE if implied.status == EXCLUDE else implied_global
            implied_cluster = implied.cluster if implied.status == "placed" else None
            global_ = e.global_ if e.global_ is not None else implied_global
            side = ref.side_of_category(global_)
            if e.intra is not None:
                cluster = e.intra
            else:
                cluster = implied_cluster if ref.side_of_cluster(implied_cluster) == side else None
            # the file's own decision, as opposed to a skeleton value that repeats the reference
            own = (e.global_ is not None and e.global_ != implied_global) or (
                e.intra is not None and e.intra != implied_cluster)
            conflict = None
            if cluster is not None and global_ not in (None, EXCLUDE) and ref.side_of_cluster(cluster) != side:
                # `intra` set but `global` left to the reference, which puts the actor on the other side
                conflict = (f"intra {cluster} (global empty)", f"{global_} (cluster {cluster} is on the other side: "
                                                               "dropped)")
                cluster = None
            elif own and (implied_global is not None or implied_cluster is not None):
                conflict = (_label(e.global_ or implied_global, e.intra or cluster),
                            _label(global_, cluster) + " (the actors file wins; empty it to follow the reference)")
            elif implied.status == "conflict" and e.global_ is None:
                conflict = (None, "unplaced (set global/intra in the actors file)")
            elif implied.candidates and e.intra is None and global_ == implied_global:
                conflict = (None, f"{global_} without cluster (set intra in the actors file)")
            if conflict:
                reference = implied.why if implied.status == "conflict" or implied.candidates else (
                    _label(implied_global, implied_cluster) + f" ({implied.why})")
                d.two_categories.append({"corpus": cid, "actor": e.actor, "usable": e.usable,
                                         "reference": reference, "actors_file": conflict[0], "kept": conflict[1]})
            if global_ == EXCLUDE:
                status, cluster = EXCLUDE, None
            elif global_ is None:
                status, cluster = "unplaced", None
                reason = "intra set, global empty" if e.intra is not None else implied.why
                d.unplaced.append({"corpus": cid, "actor": e.actor, "usable": e.usable, "documents": e.documents,
                                   "reason": reason})
            else:
                status = "placed"
                if side and cluster is None:
                    d.not_in_intra.append({"corpus": cid, "actor": e.actor, "global": global_, "usable": e.usable,
                                           "view": f"ideology_{side}"})
            why = f"set in the actors file (reference: {implied.why})" if own else implied.why
            rows.append(Resolved(cid, e.actor, status, global_ if status == "placed" else None, cluster,
                                 "actors file" if own else "reference", why, e.documents, e.usable))
    for key in ("two_categories", "unplaced", "not_in_intra"):
        getattr(d, key).sort(key=lambda r: (-r["usable"], r["corpus"], r["actor"]))
    return d


def _label(global_: str | None, cluster: str | None) -> str:
    if global_ is None and cluster is None:
        return "unplaced"
    return f"{global_}/{cluster}" if cluster else str(global_)


def view_maps(ref: Reference, rows: list[Resolved]) -> dict[str, dict[str, str]]:
    """view name -> {actor: label} for one corpus; actors in label order (left to right), most usable first."""
    order = {name: i for i, name in enumerate(label_order(ref))}
    maps: dict[str, dict[str, str]] = {name: {} for name in VIEWS}
    for r in sorted((r for r in rows if r.status == "placed"), key=lambda r: (-r.usable, r.actor)):
        maps["ideology_global"][r.actor] = r.global_
        maps["ideology_actors"][r.actor] = r.finest()
        side = ref.side_of_category(r.global_)
        if side and r.cluster:
            maps[f"ideology_{side}"][r.actor] = r.cluster
    # stable sort: within a label the most usable actors stay first
    return {name: dict(sorted(m.items(), key=lambda kv: order[kv[1]])) for name, m in maps.items()}


def label_order(ref: Reference) -> list[str]:
    """Categories left to right, each side's clusters right after that side's categories."""
    out: list[str] = []
    for category in ref.categories:
        if category in out:
            continue
        side = ref.side_of_category(category)
        out += [category] if side is None else [*ref.sides[side].categories, *ref.sides[side].clusters]
    return out


def class_counts(rows: list[Resolved], mapping: dict[str, str]) -> Counter:
    usable = {r.actor: r.usable for r in rows}
    counts: Counter = Counter()
    for actor, label in mapping.items():
        counts[label] += usable.get(actor, 0)
    return counts


# -- view files ----------------------------------------------------------------------------------------


DESCRIPTIONS = {
    "ideology_global": "global categories ({categories}) derived from the ideology reference",
    "ideology_left_intra": "intra-left clusters ({left}): actors of the left side only",
    "ideology_right_intra": "intra-right clusters ({right}): actors of the right side only",
    "ideology_actors": "final actors map: each actor's cluster, or its global category where it has none",
}


def _describe(name: str, ref: Reference) -> str:
    return DESCRIPTIONS[name].format(
        categories=", ".join(ref.categories),
        left=", ".join(ref.sides["left_intra"].clusters),
        right=", ".join(ref.sides["right_intra"].clusters),
    )


def render_rule_block(cid: str, rule: dict, comment: str, indent: int, notes: dict[str, str] | None = None) -> str:
    pad, pad2, pad3 = " " * indent, " " * (indent + 2), " " * (indent + 4)
    lines = [f"{pad}# {comment}", f"{pad}{flow_key(cid)}:", f"{pad2}field: {flow(rule['field'])}"]
    if rule.get("keep"):
        lines.append(f"{pad2}keep: {flow(rule['keep'])}")
    if "min_words" in rule:
        lines.append(f"{pad2}min_words: {rule['min_words']}")
    if not rule["map"]:
        lines.append(f"{pad2}map: {{}}")
    else:
        lines.append(f"{pad2}map:")
        for actor, label in rule["map"].items():
            note = f"  # {notes[actor]}" if notes and actor in notes else ""
            lines.append(f"{pad3}{flow_key(actor)}: {flow(label)}{note}")
    return "\n".join(lines) + "\n"


def render_view(name: str, header: list[str], min_words: int, description: str, blocks: list[str],
                kept: dict | None = None, order: list[str] | None = None) -> str:
    lines = [f"# {line}" if line else "#" for line in header]
    lines += [f"name: {flow(name)}", f"min_words: {min_words}"]
    if order and _view_label_order_supported():
        lines.append(f"label_order: {flow(list(order))}")
    lines.append(f"description: {flow(description)}")
    text = "\n".join(lines) + "\n"
    if not blocks and not kept:
        return text + "rules: {}\n"
    text += "rules:\n"
    if kept:
        dumped = yaml.safe_dump(kept, allow_unicode=True, sort_keys=False, default_flow_style=False, width=120)
        text += "".join("  " + line if line.strip() else line for line in dumped.splitlines(keepends=True))
    return text + "".join(blocks)


def merge_view_text(text: str, blocks: dict[str, str]) -> str | None:
    """The existing view text with the rules of `blocks`' corpora replaced (in place) or appended.

    Works on lines so that the kept rules keep their comments; None when the layout is not the plain
    block style this handles (the caller then rewrites the file from its parsed content).
    """
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    if not isinstance(root, yaml.MappingNode):
        return None
    rules = next((v for k, v in root.value if getattr(k, "value", None) == "rules"), None)
    if not isinstance(rules, yaml.MappingNode) or rules.flow_style or not rules.value:
        return None
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    indent = rules.value[0][0].start_mark.column
    keys = [k.value for k, _v in rules.value]
    starts = []
    for k, _v in rules.value:
        line = k.start_mark.line
        while line > 0 and lines[line - 1].strip().startswith("#") and _indent_of(lines[line - 1]) == indent:
            line -= 1  # the comment just above a rule belongs to it
        starts.append(line)
    end = rules.end_mark.line if rules.end_mark.column == 0 else rules.end_mark.line + 1
    end = min(end, len(lines))
    tail_start = end
    while tail_start > starts[-1] + 1 and (not lines[tail_start - 1].strip() or _indent_of(lines[tail_start - 1]) == 0):
        tail_start -= 1  # blank lines and top-level comments after the last rule stay after it
    pieces = {}
    for i, key in enumerate(keys):
        stop = starts[i + 1] if i + 1 < len(keys) else tail_start
        pieces[key] = "".join(lines[starts[i]:stop])
    body = []
    for key in keys:
        body.append(_reindent(blocks[key], indent) if key in blocks else pieces[key])
    for key, block in blocks.items():
        if key not in pieces:
            body.append(_reindent(block, indent))
    return "".join(lines[:starts[0]]) + "".join(body) + "".join(lines[tail_start:])


def _indent_of(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _reindent(block: str, indent: int) -> str:
    if indent == 2:
        return block
    return "".join(" " * (indent - 2) + line if line.strip() else line for line in block.splitlines(keepends=True))


# -- the stage -----------------------------------------------------------------------------------------


def run_derive_views_stage(cfg: DictConfig) -> None:
    from app.run_record import current_run_dir

    ref = load_reference(cfg.ideology.reference)
    if not cfg.ideology.actors:
        raise UserError("ideology.actors is not set: give the actors file, e.g. the ideology_actors_skeleton.yaml "
                        "that `python -m app stage=skeleton dataset=<id>` writes")
    actors_path = Path(str(cfg.ideology.actors)).expanduser()
    actors = load_actors(actors_path, ref)
    run_dir = current_run_dir()
    run_dir.mkdir(parents=True, exist_ok=True)
    out_dir = Path(str(cfg.ideology.out_dir)).expanduser() if cfg.ideology.out_dir else run_dir
    result = derive(ref, actors, actors_path, out_dir)
    conflicts_path = run_dir / CONFLICTS_FILE
    write_text_atomic(conflicts_path, yaml.safe_dump(result["conflicts"], allow_unicode=True, sort_keys=False,
                                                     width=120))
    print(f"derived views (reference {display_path(ref.path)}, actors {display_path(actors_path)}):")
    for name, path in result["paths"].items():
        print(f"  {name}: {display_path(path)}")
        for cid, counts in result["classes"][name].items():
            listing = ", ".join(f"{lab} {n}" for lab, n in counts.items()) or "no class"
            print(f"      {cid}: {listing}")
    for warning in result["warnings"]:
        print(f"  warning: {warning}")
    print(f"  conflicts: {display_path(conflicts_path)}")
    if out_dir == run_dir:
        print("  (to select them with view=<name>, derive again with ideology.out_dir=conf/view)")
    print(result["summary"] + f" — see {display_path(conflicts_path)}")


def derive(ref: Reference, actors: dict[str, list[ActorEntry]], actors_path: Path, out_dir: Path) -> dict:
    """Build, check and write the four views; the conflicts report and summary are returned."""
    d = resolve(ref, actors)
    maps = {cid: view_maps(ref, rows) for cid, rows in d.resolved.items()}
    classes: dict[str, dict[str, dict[str, int]]] = {name: {} for name in VIEWS}
    order = label_order(ref)
    for name in VIEWS:
        for cid, rows in d.resolved.items():
            counts = class_counts(rows, maps[cid][name])
            classes[name][cid] = {lab: counts[lab] for lab in order if counts.get(lab)}

    out_dir.mkdir(parents=True, exist_ok=True)
    rule_min_words = _rule_min_words_supported()
    texts: dict[str, str] = {}
    warnings: list[str] = []
    single_class: list[dict] = []
    written_by = load_yaml(actors_path, "actors file").get("written_by")
    source = display_path(actors_path) + (f" (written by `{written_by}`)" if written_by else "")
    for name in VIEWS:
        target = out_dir / f"{name}.yaml"
        existing = load_yaml(target, "existing view") if target.exists() else None
        if existing is not None and not (isinstance(existing, Mapping) and isinstance(existing.get("rules") or {},
                                                                                      Mapping)):
            raise UserError(f"{display_path(target)}: rules: an existing view file must be a mapping with 'rules' "
                            "(move it away or fix it before deriving into this folder)")
        min_words = ref.min_words
        if existing is not None and existing.get("min_words") is not None:
            min_words = int(existing["min_words"])
        rules, blocks = {}, {}
        for cid in d.resolved:
            cref = ref.corpus(cid)
            rule = {"field": "actor"}
            if cref and cref.keep:
                rule["keep"] = {k: list(v) for k, v in cref.keep.items()}
            if min_words != ref.min_words and rule_min_words:
                rule["min_words"] = ref.min_words
            rule["map"] = maps[cid][name]
            rules[cid] = rule
            counts = classes[name][cid]
            listing = ", ".join(f"{lab} {n}" for lab, n in counts.items()) or "none"
            notes = _actor_notes(d.resolved[cid]) if name == "ideology_actors" else None
            counted = "" if min_words == ref.min_words or rule_min_words else f" (counted at >= {ref.min_words} words)"
            blocks[cid] = render_rule_block(cid, rule, f"{cid}: derived by stage=derive_views from {source}; "
                                                       f"usable documents per class{counted}: {listing}", 2, notes)
            if len(counts) < 2:
                single_class.append({"view": name, "corpus": cid, "classes": dict(counts)})
        kept = {k: v for k, v in ((existing or {}).get("rules") or {}).items() if k not in rules}
        if existing is not None and min_words != ref.min_words:
            warnings.append(
                f"{display_path(target)} keeps min_words {min_words} (its other corpora: {', '.join(map(str, kept))})"
                + ("; the derived rules set their own min_words" if rule_min_words else
                   f"; the derived rules therefore use {min_words} words, not the reference's {ref.min_words}")
            )
        # a view needs two classes: the labels with usable documents here, and those of the kept rules
        labels = {lab for cid in d.resolved for lab in classes[name][cid]}
        labels |= {str(lab) for rule in kept.values() if isinstance(rule, Mapping)
                   for lab in (rule.get("map") or {}).values()}
        if len(labels) < 2:
            detail = "; ".join(f"{cid}: {', '.join(f'{k} {v}' for k, v in classes[name][cid].items()) or 'none'}"
                               for cid in d.resolved)
            raise UserError(
                f"{display_path(actors_path)}: view {name} would leave fewer than two classes ({detail} usable "
                f"documents): place more actors in the actors file, derive several corpora together, or derive into a "
                f"folder (ideology.out_dir) whose {name}.yaml has rules for other corpora"
            )
        if existing is None:
            texts[name] = render_view(name, _header(name, ref), min_words, _describe(name, ref), list(blocks.values()),
                                      order=_view_labels(name, ref))
        else:
            text = target.read_text(encoding="utf-8")
            merged = merge_view_text(text, blocks)
            expected = dict(existing)
            expected["rules"] = {**(existing.get("rules") or {}), **rules}
            if merged is None or yaml.safe_load(merged) != expected:
                warnings.append(f"{display_path(target)}: rewritten from its content (its comments are lost)")
                merged = render_view(str(existing.get("name") or name), _header(name, ref), min_words,
                                     str(existing.get("description") or _describe(name, ref)),
                                     list(blocks.values()), kept,
                                     order=existing.get("label_order") or _view_labels(name, ref))
            texts[name] = merged
        # what Hydra will read must be what was meant
        check = yaml.safe_load(texts[name])
        assert {cid: check["rules"][cid]["map"] for cid in rules} == {cid: r["map"] for cid, r in rules.items()}

    paths = {}
    for name, text in texts.items():
        paths[name] = out_dir / f"{name}.yaml"
        write_text_atomic(paths[name], text)

    used = {name: {lab for cid in d.resolved for lab in classes[name][cid]} for name in VIEWS}
    unused = {
        "ideology_global": [c for c in ref.categories if c not in used["ideology_global"]],
        "ideology_left_intra": [c for c in ref.sides["left_intra"].clusters if c not in used["ideology_left_intra"]],
        "ideology_right_intra": [c for c in ref.sides["right_intra"].clusters
                                 if c not in used["ideology_right_intra"]],
    }
    n_rows = [r for rows in d.resolved.values() for r in rows]
    placed = sum(r.status == "placed" for r in n_rows)
    excluded = sum(r.status == EXCLUDE for r in n_rows)
    unplaced_usable = sum(r["usable"] for r in d.unplaced)
    n_unused = sum(len(v) for v in unused.values())
    unused_text = "; ".join(f"{k.removeprefix('ideology_')}: {', '.join(v)}" for k, v in unused.items() if v)
    summary = (
        f"derive_views: {len(n_rows)} actors in {len(d.resolved)} corpora ({', '.join(d.resolved)}): {placed} placed, "
        f"{excluded} excluded, {len(d.unplaced)} unplaced ({unplaced_usable} usable documents); "
        f"{len(d.two_categories)} placed in two categories; {n_unused} unused categories"
        + (f" ({unused_text})" if unused_text else "")
        + f"; {len(d.not_in_intra)} placed actors without a cluster"
    )
    conflicts = {
        "summary": summary,
        "reference": display_path(ref.path),
        "actors": display_path(actors_path),
        "views": {name: display_path(p) for name, p in paths.items()},
        "classes": classes,
        "placed_in_two_categories": d.two_categories,
        "unused_categories": unused,
        "unplaced": d.unplaced,
        "placed_without_cluster": d.not_in_intra,
        "single_class": single_class,
        "warnings": warnings,
    }
    return {"paths": paths, "classes": classes, "summary": summary, "conflicts": conflicts, "warnings": warnings}


def _view_labels(name: str, ref: Reference) -> list[str]:
    """The classes a view can have, left to right (its label_order)."""
    if name == "ideology_global":
        return list(ref.categories)
    if name == "ideology_actors":
        return label_order(ref)
    return list(ref.sides[name.removeprefix("ideology_")].clusters)


def _actor_notes(rows: list[Resolved]) -> dict[str, str]:
    return {r.actor: f"{r.global_}; {r.why}; {r.usable} usable" for r in rows if r.status == "placed"}


def _header(name: str, ref: Reference) -> list[str]:
    lines = [
        f"{name} — DERIVED by `python -m app stage=derive_views` (app/ideology/derive_views.py).",
        f"Do not edit the rules by hand: edit the reference ({display_path(ref.path)}) or the actors file,",
        "then derive again (ideology.out_dir=conf/view).  Rules of corpora not derived are kept as they are.",
        "Each rule maps an actor (field: actor) to a label; unmapped actors' documents are dropped.",
    ]
    if name in ("ideology_left_intra", "ideology_right_intra"):
        side = ref.sides[name.removeprefix("ideology_")]
        lines.append(f"Only actors of the {side.name.split('_')[0]} side ({', '.join(side.categories)}) are mapped: "
                     "the documents of everyone else are dropped.")
    return lines
