"""Ideology subsystem: reference, actors skeleton, derived views — on the real corpora, through the real CLI."""

import csv
import json
import shutil
from collections import Counter
from pathlib import Path

import pytest
import yaml

from conftest import REPO, SHARED_DATA, run_app

REFERENCE = REPO / "conf" / "ideology" / "ideology.yaml"
VIEW_DIR = REPO / "conf" / "view"
DERIVED = ("ideology_global", "ideology_left_intra", "ideology_right_intra", "ideology_actors")
PARLAMINT = ("parlamint_fr_2017", "parlamint_fr_sample")


# -- helpers -------------------------------------------------------------------------------------------


def cli(tmp: Path, *args: str, ok: bool = True, env: dict | None = None):
    """`python -m app` with run folder and cache under `tmp`; the run folder is returned with the process."""
    run_dir = tmp / f"run{len(list(tmp.glob('run*')))}"
    proc = run_app(*args, f"hydra.run.dir={run_dir}", f"paths.cache_dir={tmp / 'cache'}", "progress=false", env=env)
    if ok and proc.returncode != 0:
        raise AssertionError(f"python -m app {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc, run_dir


def assert_short_failure(proc, *needles):
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr, proc.stderr
    for needle in needles:
        assert needle in proc.stderr, f"{needle!r} not in:\n{proc.stderr}"


def compose(dataset: str):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    import app.config_schema  # noqa: F401  (schema + resolver)

    with initialize_config_dir(str(REPO / "conf"), version_base="1.3"):
        return hydra_compose("config", overrides=[f"dataset={dataset}", f"paths.data_root={SHARED_DATA}"])


def read_tsv(path: Path) -> dict[str, dict]:
    with open(path, encoding="utf-8", newline="") as handle:
        return {row["actor"]: row for row in csv.DictReader(handle, delimiter="\t")}


def conf_copy(tmp: Path) -> tuple[Path, dict]:
    """A copy of conf/ (to derive views into) and the env that makes `python -m app` use it."""
    conf = tmp / "conf"
    shutil.copytree(REPO / "conf", conf)
    return conf, {"IDEOLAB_CONF": str(conf), "IDEOLAB_DATA_ROOT": str(SHARED_DATA)}


def view_labeler(path: Path):
    from app.label import ViewLabeler

    return ViewLabeler(yaml.safe_load(path.read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def skeletons(tmp_path_factory):
    """stage=skeleton through the CLI, once per dataset the module needs: dataset -> run folder."""
    tmp = tmp_path_factory.mktemp("skeletons")
    cache: dict[str, Path] = {}

    def get(dataset: str) -> Path:
        if dataset not in cache:
            proc, run_dir = cli(tmp, "stage=skeleton", f"dataset={dataset}")
            assert "ideology_actors_skeleton.yaml" in proc.stdout
            cache[dataset] = run_dir
        return cache[dataset]

    return get


# -- the reference -------------------------------------------------------------------------------------


def test_committed_reference_loads_with_every_parlamint_code():
    from app.ideology.reference import load_reference

    ref = load_reference(REFERENCE)
    assert list(ref.categories) == ["far_left", "left", "centre", "right", "far_right"]
    codes = {"L", "C", "R", "FL", "FR", "CL", "CR", "CCL", "CCR", "CLL", "CRR", "LLF", "RRF"}
    assert codes <= {c for c, p in ref.codes.items() if p.status == "placed"}
    assert ref.codes["BT"].status == "unplaced"
    # the left-right order of the codes is kept: no code lands on the wrong side of another
    rank = {c: i for i, c in enumerate(ref.categories)}
    order = ["FL", "LLF", "L", "CLL", "CL", "CCL", "C", "CCR", "CR", "CRR", "R", "RRF", "FR"]
    ranks = [rank[ref.codes[c].global_] for c in order]
    assert ranks == sorted(ranks)


@pytest.mark.parametrize("corpus_id", PARLAMINT)
def test_every_parlamint_orientation_code_resolves_as_the_reference_says(corpus_id):
    """Each document's code (read by the real reader) lands where the reference file says that code goes."""
    from app.ideology.reference import load_reference
    from app.read_tei import iter_corpus

    raw = yaml.safe_load(REFERENCE.read_text(encoding="utf-8"))["orientation_codes"]
    ref = load_reference(REFERENCE)
    cfg = compose(corpus_id)
    seen = Counter()
    for doc in iter_corpus(cfg.corpora[corpus_id]):
        code = doc.fields.get("orientation")
        if not code:
            continue
        seen[code] += 1
        expected = raw[code]["global"] if isinstance(raw[code], dict) else None
        placement = ref.place(corpus_id, doc.fields)
        assert placement.global_ == expected, (doc.doc_id, code, placement)
        # the sample's and 2017's groups all carry a cluster on the side of their code (centre: none)
        side = ref.side_of_category(expected)
        assert (placement.cluster is not None) == (side is not None), (doc.fields.get("group"), placement)
    assert seen, "no orientation code read"
    if corpus_id == "parlamint_fr_sample":
        assert set(seen) == {"C", "CR", "CLL"}
    else:
        assert set(seen) == {"C", "CR", "L", "LLF", "CCR"}


# -- stage=skeleton ------------------------------------------------------------------------------------


def test_skeleton_counts_on_an2013_agree_with_the_reader(skeletons):
    from app.label import count_words
    from app.read_tei import iter_corpus

    run_dir = skeletons("an2013")
    rows = read_tsv(run_dir / "actors_counts_an2013.tsv")
    expected: dict[str, Counter] = {}
    dates: dict[str, set] = {}
    groups: dict[str, Counter] = {}
    for doc in iter_corpus(compose("an2013").corpora.an2013):
        c = expected.setdefault(doc.actor, Counter())
        c["documents"] += 1
        c["words"] += count_words(doc.text)
        c["usable"] += doc.fields.get("interventiontype") == "intervention" and count_words(doc.text) >= 20
        dates.setdefault(doc.actor, set()).add(doc.fields["date"])
        if doc.fields.get("politicalgroup"):
            groups.setdefault(doc.actor, Counter())[doc.fields["politicalgroup"]] += 1
    assert set(rows) == set(expected)
    for actor, c in expected.items():
        row = rows[actor]
        assert (int(row["documents"]), int(row["words"]), int(row["usable"])) == (
            c["documents"], c["words"], c["usable"]), actor
        assert (row["first_date"], row["last_date"]) == (min(dates[actor]), max(dates[actor]))
        assert row["politicalgroup"] == "|".join(g for g, _ in groups.get(actor, Counter()).most_common())
    # most documents first
    docs = [int(r["documents"]) for r in rows.values()]
    assert docs == sorted(docs, reverse=True)
    # the README's table: 7,584 interventions; groups UMP 4,075 ... at >= 20 words
    usable_by_group = Counter()
    for row in rows.values():
        usable_by_group[row["politicalgroup"]] += int(row["usable"])
    assert abs(usable_by_group["UMP"] - 4075) < 15 and abs(usable_by_group["SRC"] - 1164) < 10

    skeleton = yaml.safe_load((run_dir / "ideology_actors_skeleton.yaml").read_text(encoding="utf-8"))
    actors = skeleton["corpora"]["an2013"]["actors"]
    assert list(actors) == list(rows)  # same actors, same order
    assert actors["Christian_Jacob"]["global"] == "right" and actors["Christian_Jacob"]["intra"] == "conservative"
    assert actors["Marie-George_Buffet"]["global"] == "left"
    assert actors["Marie-George_Buffet"]["intra"] == "radical_left"
    assert actors["Christiane_Taubira"]["global"] == "exclude"  # GVT
    # NI deputies and group-less speakers: an explicit empty value to fill
    for actor in ("Jean_Lassalle", "Jacques_Bompard", "Corinne_Narassiguin", "le_président"):
        assert actors[actor]["global"] is None and "global" in actors[actor], actor


# -- stage=derive_views --------------------------------------------------------------------------------


@pytest.mark.slow
def test_views_derived_from_an2013_skeleton_run_the_pipeline(skeletons, tmp_path):
    skeleton = skeletons("an2013") / "ideology_actors_skeleton.yaml"
    conf, env = conf_copy(tmp_path)
    proc, run_dir = cli(tmp_path, "stage=derive_views", f"ideology.reference={REFERENCE}",
                        f"ideology.actors={skeleton}", f"ideology.out_dir={conf / 'view'}")
    summary = [line for line in proc.stdout.splitlines() if line.startswith("derive_views:")]
    assert len(summary) == 1 and "unused categories" in summary[0] and "unplaced" in summary[0]
    conflicts = yaml.safe_load((run_dir / "ideology_conflicts.yaml").read_text(encoding="utf-8"))
    assert {"placed_in_two_categories", "unused_categories", "unplaced"} <= set(conflicts)
    assert "far_left" in conflicts["unused_categories"]["ideology_global"]
    assert any(u["actor"] == "Jean_Lassalle" for u in conflicts["unplaced"])
    predicted = conflicts["classes"]

    left = yaml.safe_load((conf / "view" / "ideology_left_intra.yaml").read_text(encoding="utf-8"))
    assert left["rules"]["an2013"]["keep"] == {"interventiontype": ["intervention"]}
    assert left["min_words"] == 20 and left["rules"]["an2013"]["field"] == "actor"
    assert set(left["rules"]["an2013"]["map"].values()) == {"radical_left", "green", "social_democratic"}
    # the colleague's demo rules survive the merge into the existing ideology_global
    merged = yaml.safe_load((conf / "view" / "ideology_global.yaml").read_text(encoding="utf-8"))
    original = yaml.safe_load((VIEW_DIR / "ideology_global.yaml").read_text(encoding="utf-8"))
    for corpus in ("web1", "asr1"):
        assert merged["rules"][corpus] == original["rules"][corpus]

    # the left view speaker-grouped, end to end; the others prepared: labels as derive_views predicted
    for view, stage in (("ideology_left_intra", "pipeline"), ("ideology_right_intra", "prepare")):
        extra = ["model=tfidf_svm_quick", "split.group_by=actor"] if stage == "pipeline" else []
        _proc, run_dir = cli(tmp_path, f"stage={stage}", "dataset=an2013", f"view={view}", *extra, env=env)
        record = json.loads((run_dir / "run.json").read_text())
        assert record["status"] == "success" and record["view"] == view
        meta = json.loads((Path(record["prepared_dir"]) / "meta_view.json").read_text())
        assert meta["labelling"]["kept_by_label"] == predicted[view]["an2013"], view
        if stage == "pipeline":
            svm = [m for m in record["models"] if m["model_id"] == "tfidf_svm_quick"][0]
            assert svm["macro_f1"] > 0.34  # above the 3-class majority baseline's 0.30


@pytest.mark.slow
def test_views_derived_for_parlamint_work_for_2017_and_the_sample(skeletons, tmp_path):
    """Skeletons of 2017 and of the sample derived into one folder (the second merges into the first)."""
    from app.ideology.reference import load_reference
    from app.read_tei import iter_corpus

    conf, env = conf_copy(tmp_path)
    for dataset in PARLAMINT:
        cli(tmp_path, "stage=derive_views", f"ideology.actors={skeletons(dataset) / 'ideology_actors_skeleton.yaml'}",
            f"ideology.out_dir={conf / 'view'}")
    views = {name: yaml.safe_load((conf / "view" / f"{name}.yaml").read_text(encoding="utf-8")) for name in DERIVED}
    for name in DERIVED:
        assert set(PARLAMINT) <= set(views[name]["rules"]), name
    left = views["ideology_left_intra"]["rules"]["parlamint_fr_2017"]["map"]
    assert set(left.values()) == {"radical_left", "social_democratic"}

    # every sample document is labelled as the reference places its speaker (or dropped for its length)
    ref = load_reference(REFERENCE)
    labeler = view_labeler(conf / "view" / "ideology_global.yaml")
    labelled = 0
    for doc in iter_corpus(compose("parlamint_fr_sample").corpora.parlamint_fr_sample):
        label = labeler.label(doc)
        if len(doc.text.split()) >= 20:
            assert label == ref.place("parlamint_fr_sample", doc.fields).global_, doc.doc_id
            labelled += 1
    assert labelled >= 3

    _proc, run_dir = cli(tmp_path, "stage=pipeline", "dataset=parlamint_fr_2017", "view=ideology_right_intra",
                         "model=tfidf_svm_quick", env=env)
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "success"
    meta = json.loads((Path(record["prepared_dir"]) / "meta_view.json").read_text())
    assert set(meta["labelling"]["kept_by_label"]) == {"conservative", "liberal_right"}


def test_committed_views_are_derived_from_the_committed_reference():
    """conf/view/ideology_*.yaml = derive_views(reference, skeletons of an2013, 2017, sample), demo rules kept."""
    from app.ideology.derive_views import derive, load_actors
    from app.ideology.reference import load_reference
    from app.ideology.skeleton import render_actors_file, scan_corpus

    ref = load_reference(REFERENCE)
    committed = {name: yaml.safe_load((VIEW_DIR / f"{name}.yaml").read_text(encoding="utf-8")) for name in DERIVED}
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        scans = []
        for dataset in ("an2013", *PARLAMINT):
            cfg = compose(dataset)
            scans.append(scan_corpus(cfg.corpora[dataset], ref))
        actors_file = tmp / "actors.yaml"
        actors_file.write_text(render_actors_file(scans, ref, "test"), encoding="utf-8")
        derive(ref, load_actors(actors_file, ref), actors_file, tmp / "views")
        for name in DERIVED:
            fresh = yaml.safe_load((tmp / "views" / f"{name}.yaml").read_text(encoding="utf-8"))
            for corpus in ("an2013", *PARLAMINT):
                # a rule's own min_words, else its view's: merged files keep other corpora's view-level value
                mine = {"min_words": committed[name]["min_words"], **committed[name]["rules"][corpus]}
                theirs = {"min_words": fresh["min_words"], **fresh["rules"][corpus]}
                assert mine == theirs, (name, corpus)
    assert {"web1", "asr1"} <= set(committed["ideology_global"]["rules"])


def _actors_file(path: Path, actors: dict, corpus: str = "an2013") -> Path:
    path.write_text(yaml.safe_dump({"kind": "ideology_actors", "corpora": {corpus: {"actors": actors}}},
                                   allow_unicode=True), encoding="utf-8")
    return path


# an existing view of other corpora, in the shape of the demo's conf/view/ideology_global.yaml
DEMO_VIEW = """# Ideology classes for the demo corpora: a comment the merge must keep.
name: ideology_global
min_words: 10
label_order: [far_left, left, centre, right, far_right]
description: "5 classes on the demo corpora"
rules:
  web1:
    field: actor            # the organisation behind the site
    map:
      front_ouvrier: far_left   # kept too
      ligue_patriote: far_right
  asr1:
    field: actor
    map: {louise_marchand: far_left, bruno_castaing: far_right}
"""


def test_merge_into_an_existing_view_keeps_other_rules_and_their_comments(tmp_path):
    from app.ideology.derive_views import derive, load_actors
    from app.ideology.reference import load_reference

    ref = load_reference(REFERENCE)
    out = tmp_path / "views"
    out.mkdir()
    original = DEMO_VIEW
    (out / "ideology_global.yaml").write_text(original, encoding="utf-8")
    actors = _actors_file(tmp_path / "a.yaml", {
        "Mme_A": {"by": {"politicalgroup": "SRC"}, "usable": 10},
        "M_B": {"by": {"politicalgroup": "UMP"}, "usable": 12},
        "M_C": {"by": {"politicalgroup": "UDI"}, "usable": 3},
        "M_D": {"by": {"politicalgroup": "ECOLO"}, "usable": 4},
    })
    derive(ref, load_actors(actors, ref), actors, out)
    first = (out / "ideology_global.yaml").read_text(encoding="utf-8")
    # the demo rules are kept line for line (comments included); an2013 is added after them
    assert first.startswith(original.rstrip("\n") + "\n")
    assert yaml.safe_load(first)["rules"]["an2013"]["map"] == {"Mme_A": "left", "M_D": "left", "M_B": "right",
                                                               "M_C": "right"}
    # deriving again replaces the an2013 rule in place: same text
    derive(ref, load_actors(actors, ref), actors, out)
    assert (out / "ideology_global.yaml").read_text(encoding="utf-8") == first
    # a changed actors file replaces only the an2013 rule
    _actors_file(actors, {"M_B": {"by": {"politicalgroup": "UMP"}, "usable": 1},
                          "Mme_A": {"global": "far_left", "intra": "radical_left", "usable": 1},
                          "M_C": {"by": {"politicalgroup": "UDI"}, "usable": 3},
                          "M_D": {"by": {"politicalgroup": "ECOLO"}, "usable": 4}})
    derive(ref, load_actors(actors, ref), actors, out)
    third = yaml.safe_load((out / "ideology_global.yaml").read_text(encoding="utf-8"))
    assert third["rules"]["an2013"]["map"] == {"Mme_A": "far_left", "M_D": "left", "M_B": "right", "M_C": "right"}
    assert third["rules"]["web1"] == yaml.safe_load(original)["rules"]["web1"]
    assert third["min_words"] == yaml.safe_load(original)["min_words"]  # the existing file's value is kept


def test_conflicts_are_listed_and_summarised(tmp_path):
    actors = _actors_file(tmp_path / "completed.yaml", {
        # the actors file overrides the reference: UMP implies right, the researcher says far_right
        "M_Override": {"global": "far_right", "intra": "national_right", "by": {"politicalgroup": "UMP"}, "usable": 5},
        "Mme_Left": {"by": {"politicalgroup": "SRC"}, "usable": 7},
        "M_Right": {"by": {"politicalgroup": "UMP"}, "usable": 9},
        "M_Udi": {"by": {"politicalgroup": "UDI"}, "usable": 2},
        "Mme_Green": {"by": {"politicalgroup": "ECOLO"}, "usable": 3},
        # completed by hand: an NI deputy placed, another left to fill
        "M_Lassalle": {"global": "centre", "by": {"politicalgroup": "NI"}, "usable": 4},
        "M_Ni": {"global": None, "intra": None, "by": {"politicalgroup": "NI"}, "usable": 6},
        # documents under two groups that the reference places on different sides
        "M_Turncoat": {"by": [{"politicalgroup": "SRC"}, {"politicalgroup": "UMP"}], "usable": 8},
        "Mme_Minister": {"by": {"politicalgroup": "GVT"}, "usable": 11},
    })
    proc, run_dir = cli(tmp_path, "stage=derive_views", f"ideology.actors={actors}")
    summary = [line for line in proc.stdout.splitlines() if line.startswith("derive_views:")]
    assert len(summary) == 1
    assert "6 placed, 1 excluded, 2 unplaced (14 usable documents)" in summary[0]
    assert "2 placed in two categories" in summary[0]
    conflicts = yaml.safe_load((run_dir / "ideology_conflicts.yaml").read_text(encoding="utf-8"))
    two = {c["actor"]: c for c in conflicts["placed_in_two_categories"]}
    assert set(two) == {"M_Override", "M_Turncoat"}
    assert "far_right" in two["M_Override"]["kept"] and "right" in two["M_Override"]["reference"]
    assert {u["actor"] for u in conflicts["unplaced"]} == {"M_Ni", "M_Turncoat"}
    assert conflicts["unused_categories"]["ideology_global"] == ["far_left"]
    assert conflicts["unused_categories"]["ideology_left_intra"] == ["radical_left"]
    views = {name: yaml.safe_load((run_dir / f"{name}.yaml").read_text(encoding="utf-8")) for name in DERIVED}
    rule = views["ideology_global"]["rules"]["an2013"]
    assert rule["map"]["M_Override"] == "far_right" and rule["map"]["M_Lassalle"] == "centre"
    assert "Mme_Minister" not in rule["map"] and "M_Ni" not in rule["map"]
    # an intra view keeps its side only
    assert set(views["ideology_right_intra"]["rules"]["an2013"]["map"]) == {"M_Override", "M_Right", "M_Udi"}
    assert set(views["ideology_left_intra"]["rules"]["an2013"]["map"]) == {"Mme_Left", "Mme_Green"}
    assert views["ideology_actors"]["rules"]["an2013"]["map"]["M_Lassalle"] == "centre"


# -- bad input -----------------------------------------------------------------------------------------


def test_reference_that_is_not_valid_yaml(tmp_path):
    bad = tmp_path / "broken_reference.yaml"
    bad.write_text("global:\n  categories: {left: a, right: b\ncorpora: {}\n")
    proc, _ = cli(tmp_path, "stage=derive_views", f"ideology.reference={bad}", "ideology.actors=whatever.yaml",
                  ok=False)
    assert_short_failure(proc, "broken_reference.yaml:3", "not valid YAML")


@pytest.mark.parametrize("section", ["orientation_codes", "right_intra", "corpora"])
def test_reference_missing_a_required_section(tmp_path, section):
    data = yaml.safe_load(REFERENCE.read_text(encoding="utf-8"))
    del data[section]
    bad = tmp_path / "short_reference.yaml"
    bad.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    proc, _ = cli(tmp_path, "stage=skeleton", "dataset=web1", f"ideology.reference={bad}", ok=False)
    assert_short_failure(proc, "short_reference.yaml", section, "missing")


def test_reference_entry_naming_an_unknown_category(tmp_path):
    text = REFERENCE.read_text(encoding="utf-8").replace("UMP: {code: CR, cluster: conservative}",
                                                         "UMP: {global: droite, cluster: conservative}")
    bad = tmp_path / "typo_reference.yaml"
    bad.write_text(text, encoding="utf-8")
    proc, _ = cli(tmp_path, "stage=derive_views", f"ideology.reference={bad}", "ideology.actors=x.yaml", ok=False)
    assert_short_failure(proc, "typo_reference.yaml", "corpora.an2013.groups.UMP.global", "droite")


def test_actors_file_naming_a_category_the_reference_lacks(tmp_path):
    actors = _actors_file(tmp_path / "actors_typo.yaml", {
        "M_A": {"global": "right"}, "Mme_B": {"global": "extreme_droite"}, "M_C": {"global": "left"}})
    proc, _ = cli(tmp_path, "stage=derive_views", f"ideology.actors={actors}", ok=False)
    assert_short_failure(proc, "actors_typo.yaml", "corpora.an2013.actors.Mme_B.global", "extreme_droite")
    assert not (tmp_path / "run0" / "ideology_global.yaml").exists()


def test_actors_file_naming_an_unknown_cluster(tmp_path):
    actors = _actors_file(tmp_path / "actors_cluster.yaml", {"M_A": {"global": "left", "intra": "gaulliste"}})
    proc, _ = cli(tmp_path, "stage=derive_views", f"ideology.actors={actors}", ok=False)
    assert_short_failure(proc, "actors_cluster.yaml", "corpora.an2013.actors.M_A.intra", "gaulliste")


def test_derived_view_with_fewer_than_two_classes(tmp_path):
    # everyone on the right, and only in one cluster: the left view would be empty
    actors = _actors_file(tmp_path / "one_side.yaml", {
        "M_A": {"by": {"politicalgroup": "UMP"}, "usable": 30}, "M_B": {"by": {"politicalgroup": "UDI"}, "usable": 5}})
    proc, run_dir = cli(tmp_path, "stage=derive_views", f"ideology.actors={actors}", ok=False)
    assert_short_failure(proc, "one_side.yaml", "fewer than two classes")
    assert not list(run_dir.glob("ideology_*.yaml"))  # nothing written


def test_actors_file_with_an_actor_twice(tmp_path):
    actors = tmp_path / "twice.yaml"
    actors.write_text("corpora:\n  an2013:\n    actors:\n      M_A: {global: left}\n      M_B: {global: right}\n"
                      "      M_A: {global: right}\n", encoding="utf-8")
    proc, _ = cli(tmp_path, "stage=derive_views", f"ideology.actors={actors}", ok=False)
    assert_short_failure(proc, "twice.yaml:6", "duplicate key 'M_A'")


def test_derive_views_without_an_actors_file(tmp_path):
    proc, _ = cli(tmp_path, "stage=derive_views", ok=False)
    assert_short_failure(proc, "ideology.actors")
