"""The ideology reference (`conf/ideology/ideology.yaml`): load, check, and place actors with it.

The reference says, once for every corpus, which global categories exist (far_left … far_right), which
clusters split each side (`left_intra`, `right_intra`), what each ParlaMint orientation code means, and
per corpus which field holds the parliamentary group and where each group sits.  `Reference.place`
answers for one document's values (group, orientation code); `place_actor` for all of an actor's
documents at once (an actor whose documents point to two categories is a conflict, not a guess).

Every problem in the file is a `UserError` naming the file and the entry (`corpora.an2013.groups.UMP`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from app.errors import UserError

UNPLACED = "unplaced"  # the reference does not place it: the actor gets an empty label to fill
EXCLUDE = "exclude"  # never labelled (ministers, chair): not a conflict, not to fill
SIDES = ("left_intra", "right_intra")
REQUIRED_SECTIONS = ("global", "left_intra", "right_intra", "orientation_codes", "corpora")
OPTIONAL_SECTIONS = ("version", "min_words")
_LABEL = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*$")


# -- YAML ------------------------------------------------------------------------------------------


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys: a second `UMP:` silently winning hides a mistake."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    loader.flatten_mapping(node)
    seen: dict[Any, int] = {}
    for key_node, _value in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(
                None, None, "a mapping key must be a scalar", key_node.start_mark
            ) from None
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first on line {seen[key] + 1})", key_node.start_mark
            )
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def display_path(path: str | os.PathLike) -> str:
    """A path as users typed it, relative to the working directory when it lies inside it."""
    p = Path(path)
    try:
        return str(p.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(p)


def load_yaml(path: str | os.PathLike, what: str) -> Any:
    """Parse a YAML file; a missing file or bad YAML is a UserError naming the file (and line)."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise UserError(f"{what} not found: {display_path(p)}")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(f"{display_path(p)}: cannot read {what}: {err}") from None
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{display_path(p)}:{mark.line + 1}" if mark is not None else display_path(p)
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise UserError(f"{where}: {what} is not valid YAML: {problem}") from None


# -- the reference -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Placement:
    """Where the reference (or an actors file) puts something.

    status: `placed` (global set, cluster maybe), `exclude`, `unplaced` (to fill), `conflict`
    (documents of one actor point to different categories).
    """

    status: str
    global_: str | None = None
    cluster: str | None = None
    why: str = ""
    candidates: tuple[tuple[str, int], ...] = ()  # conflict: ("left/green", n documents), ...


@dataclass(frozen=True)
class GroupEntry:
    status: str = "placed"  # placed | unplaced | exclude
    code: str | None = None
    global_: str | None = None
    cluster: str | None = None


@dataclass
class CorpusRef:
    group_field: str | None = None
    orientation_field: str | None = None
    keep: dict[str, list[str]] = field(default_factory=dict)
    groups: dict[str, GroupEntry] = field(default_factory=dict)

    def placing_fields(self) -> list[str]:
        return [f for f in (self.group_field, self.orientation_field) if f]


@dataclass
class Side:
    name: str
    categories: list[str]
    clusters: dict[str, str]


@dataclass
class Reference:
    path: Path
    min_words: int
    categories: dict[str, str]  # ordered left -> right; name -> description
    sides: dict[str, Side]
    codes: dict[str, Placement]
    corpora: dict[str, CorpusRef]

    # -- lookups --

    def corpus(self, corpus_id: str) -> CorpusRef | None:
        return self.corpora.get(corpus_id) or self.corpora.get("default")

    def clusters(self) -> dict[str, str]:
        return {c: side.name for side in self.sides.values() for c in side.clusters}

    def side_of_category(self, category: str | None) -> str | None:
        for side in self.sides.values():
            if category in side.categories:
                return side.name
        return None

    def side_of_cluster(self, cluster: str | None) -> str | None:
        return self.clusters().get(cluster) if cluster else None

    def where(self, entry: str) -> str:
        return f"{display_path(self.path)}: {entry}"

    # -- placing --

    def place(self, corpus_id: str, values: Mapping[str, str]) -> Placement:
        """Placement of one document (or of a set of documents sharing these values)."""
        cref = self.corpus(corpus_id)
        if cref is None:
            return Placement(UNPLACED, why=f"the reference has no entry for corpus {corpus_id!r}")
        gf, of = cref.group_field, cref.orientation_field
        group = values.get(gf) if gf else None
        entry = cref.groups.get(group) if group else None
        steps = [f"{gf}={group}"] if group else []
        if entry is not None and entry.status == EXCLUDE:
            return Placement(EXCLUDE, why=f"{gf}={group}: excluded by the reference")
        if entry is not None and entry.status == UNPLACED:
            return Placement(UNPLACED, why=f"{gf}={group}: left unplaced by the reference (decide per actor)")
        global_ = entry.global_ if entry else None
        cluster = entry.cluster if entry else None
        if global_ is None:
            code = entry.code if entry and entry.code else (values.get(of) if of else None)
            if code:
                steps.append(code if entry and entry.code else f"{of}={code}")
                coded = self.codes.get(code)
                if coded is None:
                    why = " -> ".join(steps) + ": code not in the reference's orientation_codes"
                    return Placement(UNPLACED, why=why)
                if coded.status != "placed":
                    return Placement(coded.status, why=" -> ".join(steps) + f": {coded.status} by the reference")
                global_ = coded.global_
                cluster = cluster or coded.cluster
        if global_ is None:
            if group:
                return Placement(UNPLACED, why=f"{gf}={group}: not in the reference's groups, and no orientation code")
            return Placement(UNPLACED, why="no group or orientation code")
        steps.append(global_)
        note = ""
        if cluster and self.side_of_cluster(cluster) != self.side_of_category(global_):
            # e.g. a group given a right cluster whose documents carry a centre code: the code wins
            note = f" (cluster {cluster} dropped: not on the side of {global_})"
            cluster = None
        if cluster:
            steps.append(cluster)
        return Placement("placed", global_, cluster, " -> ".join(steps) + note)


def place_actor(ref: Reference, corpus_id: str, combos: Iterable[tuple[Mapping[str, str], int]]) -> Placement:
    """One actor's placement from the (values, document count) pairs of its documents.

    Only combinations the reference places (or excludes) decide; when they disagree on the global
    category the actor is a conflict (label left empty), when they agree on it but not on the cluster the
    cluster is left empty.
    """
    decided: dict[tuple[str, str | None, str | None], int] = {}
    whys: dict[tuple[str, str | None, str | None], str] = {}
    fallback: tuple[int, Placement] | None = None
    for values, n in combos:
        p = ref.place(corpus_id, values)
        if p.status in ("placed", EXCLUDE):
            key = (p.status, p.global_, p.cluster)
            decided[key] = decided.get(key, 0) + n
            whys.setdefault(key, p.why)
        elif fallback is None or n > fallback[0]:
            fallback = (n, p)
    if not decided:
        return fallback[1] if fallback else Placement(UNPLACED, why="no group or orientation code")
    if len(decided) == 1:
        (key, _n), = decided.items()
        return Placement(key[0], key[1], key[2], whys[key])
    ranked = sorted(decided.items(), key=lambda kv: -kv[1])
    candidates = tuple((_label_of(k), n) for k, n in ranked)
    globals_ = {(k[0], k[1]) for k in decided}
    listing = ", ".join(f"{lab} ({n} documents)" for lab, n in candidates)
    if len(globals_) == 1:
        status, global_ = next(iter(globals_))
        return Placement(status, global_, None, f"documents point to several clusters: {listing}", candidates)
    return Placement("conflict", None, None, f"documents point to several categories: {listing}", candidates)


def _label_of(key: tuple[str, str | None, str | None]) -> str:
    status, global_, cluster = key
    if status == EXCLUDE:
        return EXCLUDE
    return f"{global_}/{cluster}" if cluster else str(global_)


# -- loading and checking -----------------------------------------------------------------------------


def load_reference(path: str | os.PathLike) -> Reference:
    p = Path(str(path)).expanduser()
    data = load_yaml(p, "ideology reference")
    where = display_path(p)

    def fail(entry: str, problem: str) -> UserError:
        return UserError(f"{where}: {entry}: {problem}")

    if not isinstance(data, Mapping):
        sections = ", ".join(REQUIRED_SECTIONS)
        raise UserError(f"{where}: the ideology reference must be a mapping with sections {sections}")
    missing = [s for s in REQUIRED_SECTIONS if s not in data or data[s] is None]
    if missing:
        raise fail(missing[0], f"required section missing (a reference needs {', '.join(REQUIRED_SECTIONS)})")
    unknown = sorted(str(k) for k in data if k not in REQUIRED_SECTIONS + OPTIONAL_SECTIONS)
    if unknown:
        raise fail(unknown[0], f"unknown section (known: {', '.join(REQUIRED_SECTIONS + OPTIONAL_SECTIONS)})")

    min_words = data.get("min_words", 0)
    if min_words is None:
        min_words = 0
    if not isinstance(min_words, int) or isinstance(min_words, bool) or min_words < 0:
        raise fail("min_words", f"must be a non-negative integer, got {min_words!r}")

    # global categories
    glob = data["global"]
    cats = glob.get("categories") if isinstance(glob, Mapping) else None
    if not isinstance(cats, Mapping) or len(cats) < 2:
        raise fail("global.categories", "must map at least two category names to descriptions (left to right)")
    categories = {}
    for name, desc in cats.items():
        _check_label(fail, f"global.categories.{name}", name)
        categories[str(name)] = "" if desc is None else str(desc)

    # sides and clusters
    sides: dict[str, Side] = {}
    owner: dict[str, str] = {}  # category or cluster -> side
    for side_name in SIDES:
        section = data[side_name]
        if not isinstance(section, Mapping):
            raise fail(side_name, "must be a mapping with 'categories' (a list) and 'clusters' (a mapping)")
        side_cats = section.get("categories")
        if not isinstance(side_cats, list) or not side_cats:
            raise fail(f"{side_name}.categories", "must be a non-empty list of global categories")
        for cat in side_cats:
            if cat not in categories:
                raise fail(f"{side_name}.categories", f"{cat!r} is not a global category ({', '.join(categories)})")
            if cat in owner:
                raise fail(f"{side_name}.categories", f"{cat!r} is already on side {owner[cat]}")
            owner[cat] = side_name
        clusters = section.get("clusters")
        if not isinstance(clusters, Mapping) or not clusters:
            raise fail(f"{side_name}.clusters", "must map at least one cluster name to a description")
        for cluster in clusters:
            _check_label(fail, f"{side_name}.clusters.{cluster}", cluster)
            if cluster in categories:
                raise fail(f"{side_name}.clusters.{cluster}", "a cluster must not be named like a global category")
            if cluster in owner:
                raise fail(f"{side_name}.clusters.{cluster}", f"already a cluster of {owner[cluster]}")
            owner[cluster] = side_name
        sides[side_name] = Side(
            side_name, [str(c) for c in side_cats], {str(k): "" if v is None else str(v) for k, v in clusters.items()}
        )

    def check_cluster(entry: str, global_: str | None, cluster: Any) -> str | None:
        if cluster is None:
            return None
        if cluster not in owner or cluster in categories:
            known = ", ".join(c for c in owner if c not in categories)
            raise fail(entry, f"{cluster!r} is not a cluster of left_intra or right_intra ({known})")
        if global_ is not None and owner.get(global_) != owner[cluster]:
            raise fail(entry, f"cluster {cluster!r} is on side {owner[cluster]}, but {global_!r} is not")
        return str(cluster)

    # orientation codes
    codes_section = data["orientation_codes"]
    if not isinstance(codes_section, Mapping) or not codes_section:
        raise fail("orientation_codes", "must map ParlaMint codes (L, C, R, ...) to {global: ...} or 'unplaced'")
    codes: dict[str, Placement] = {}
    for code, value in codes_section.items():
        entry = f"orientation_codes.{code}"
        if value in (UNPLACED, EXCLUDE):
            codes[str(code)] = Placement(str(value))
            continue
        if not isinstance(value, Mapping) or "global" not in value:
            raise fail(entry, "must be {global: <category>[, cluster: <cluster>]}, 'unplaced' or 'exclude'")
        _check_keys(fail, entry, value, {"global", "cluster"})
        global_ = value["global"]
        if global_ not in categories:
            raise fail(f"{entry}.global", f"{global_!r} is not a global category ({', '.join(categories)})")
        cluster = check_cluster(f"{entry}.cluster", global_, value.get("cluster"))
        codes[str(code)] = Placement("placed", str(global_), cluster)

    # corpora
    corpora_section = data["corpora"]
    if not isinstance(corpora_section, Mapping) or not corpora_section:
        raise fail("corpora", "must map corpus ids (or 'default') to {group_field, orientation_field, keep, groups}")
    corpora: dict[str, CorpusRef] = {}
    for cid, value in corpora_section.items():
        entry = f"corpora.{cid}"
        if not isinstance(value, Mapping):
            raise fail(entry, "must be a mapping {group_field, orientation_field, keep, groups}")
        _check_keys(fail, entry, value, {"group_field", "orientation_field", "keep", "groups"})
        cref = CorpusRef()
        for key in ("group_field", "orientation_field"):
            if value.get(key) is not None:
                if not isinstance(value[key], str) or not value[key]:
                    raise fail(f"{entry}.{key}", "must be a field name")
                setattr(cref, key, value[key])
        keep = value.get("keep") or {}
        if not isinstance(keep, Mapping):
            raise fail(f"{entry}.keep", "must map a field to the list of values to keep")
        for fname, allowed in keep.items():
            if not isinstance(allowed, list) or not all(isinstance(a, (str, int)) for a in allowed):
                raise fail(f"{entry}.keep.{fname}", "must be a list of values")
            cref.keep[str(fname)] = [str(a) for a in allowed]
        groups = value.get("groups") or {}
        if not isinstance(groups, Mapping):
            raise fail(f"{entry}.groups", "must map group names to {code, global, cluster}, 'unplaced' or 'exclude'")
        if groups and not cref.group_field:
            raise fail(f"{entry}.groups", "needs group_field (the document field holding the group)")
        for group, gvalue in groups.items():
            gentry = f"{entry}.groups.{group}"
            if gvalue in (UNPLACED, EXCLUDE):
                cref.groups[str(group)] = GroupEntry(status=str(gvalue))
                continue
            if not isinstance(gvalue, Mapping) or not ({"code", "global", "cluster"} & set(gvalue)):
                raise fail(gentry, "must be {code: <orientation code>, global: <category>, cluster: <cluster>} "
                                   "(at least one), 'unplaced' or 'exclude'")
            _check_keys(fail, gentry, gvalue, {"code", "global", "cluster"})
            code, global_ = gvalue.get("code"), gvalue.get("global")
            if code is not None and str(code) not in codes:
                raise fail(f"{gentry}.code", f"{code!r} is not in orientation_codes")
            if global_ is not None and global_ not in categories:
                raise fail(f"{gentry}.global", f"{global_!r} is not a global category ({', '.join(categories)})")
            implied = global_ if global_ is not None else (codes[str(code)].global_ if code is not None else None)
            cluster = check_cluster(f"{gentry}.cluster", implied, gvalue.get("cluster"))
            cref.groups[str(group)] = GroupEntry(
                code=None if code is None else str(code),
                global_=None if global_ is None else str(global_),
                cluster=cluster,
            )
        corpora[str(cid)] = cref
    return Reference(p, min_words, categories, sides, codes, corpora)


def _check_label(fail, entry: str, name: Any) -> None:
    if not isinstance(name, str) or not _LABEL.match(name) or name in (UNPLACED, EXCLUDE):
        raise fail(entry, f"{name!r} is not a usable label (letters, digits, '_', '.', '-'; not 'unplaced'/'exclude')")


def _check_keys(fail, entry: str, value: Mapping, allowed: set[str]) -> None:
    unknown = sorted(str(k) for k in value if k not in allowed)
    if unknown:
        raise fail(f"{entry}.{unknown[0]}", f"unknown key (known: {', '.join(sorted(allowed))})")
