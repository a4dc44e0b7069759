"""Bad input: a short message naming what is wrong, a non-zero exit, no traceback, nothing finished."""

import pytest

from conftest import run_app

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<teiCorpus xmlns="http://www.tei-c.org/ns/1.0"><TEI><teiHeader/><text><body><p>&lol4;</p></body></text></TEI></teiCorpus>
"""


def assert_short_failure(proc, *needles):
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr, proc.stderr
    for needle in needles:
        assert needle in proc.stderr, f"{needle!r} not in:\n{proc.stderr}"


def nothing_finished(cache):
    """No prepared or model folder that looks finished (a `.complete` marker)."""
    return not list(cache.rglob(".complete")) if cache.exists() else True


def test_missing_corpus_path(app_run, tmp_path):
    proc = app_run("stage=prepare", "dataset=web1", f"corpora.web1.path={tmp_path}/nowhere.xml", ok=False)
    assert_short_failure(proc, "nowhere.xml", "web1")
    assert nothing_finished(app_run.cache)


def test_malformed_xml_names_file_line_and_column(app_run, tmp_path):
    bad = tmp_path / "broken.xml"
    bad.write_text('<teiCorpus xmlns="http://www.tei-c.org/ns/1.0">\n<TEI><teiHeader>\n</TEI></teiCorpus>\n')
    proc = app_run("stage=prepare", "dataset=web1", f"corpora.web1.path={bad}", ok=False)
    assert_short_failure(proc, "broken.xml:3:")
    assert nothing_finished(app_run.cache)


def test_external_entity_is_never_read(app_run, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-VALUE")
    evil = tmp_path / "evil.xml"
    evil.write_text(
        f'<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY xxe SYSTEM "file://{secret}">]>\n'
        '<teiCorpus xmlns="http://www.tei-c.org/ns/1.0"><TEI><teiHeader/><text><body><p>&xxe;</p></body></text></TEI>'
        "</teiCorpus>\n"
    )
    proc = app_run("stage=prepare", "dataset=web1", f"corpora.web1.path={evil}", ok=False)
    assert_short_failure(proc, "evil.xml")
    assert "TOP-SECRET-VALUE" not in proc.stdout + proc.stderr
    assert not any("TOP-SECRET-VALUE" in p.read_text(errors="ignore") for p in app_run.tmp.rglob("*") if p.is_file()
                   and p != secret)


def test_billion_laughs_is_refused(app_run, tmp_path):
    bomb = tmp_path / "bomb.xml"
    bomb.write_text(BILLION_LAUGHS)
    proc = app_run("stage=prepare", "dataset=web1", f"corpora.web1.path={bomb}", ok=False, timeout=60)
    assert_short_failure(proc, "bomb.xml")


@pytest.mark.parametrize(
    "override,needle",
    [
        ("profile=nope", "profile"),
        ("dataset=nope", "dataset"),
        ("view=nope", "view"),
        ("trian_prop=0.7", "trian_prop"),
        ("seed=abc", "seed"),
        ("model=nope", "model"),
    ],
)
def test_unknown_options_and_keys_fail_at_composition(app_run, override, needle):
    proc = app_run("stage=prepare", override, ok=False)
    assert_short_failure(proc, needle)
    assert nothing_finished(app_run.cache)


def test_view_that_leaves_no_document(app_run):
    proc = app_run("stage=prepare", "dataset=an2013", "view=orientation", ok=False)
    assert_short_failure(proc, "leaves no document", "an2013")
    assert nothing_finished(app_run.cache)


def tiny_web_corpus(path, actors):
    """A teiCorpus in the web1 shape: one page per actor in `actors` (repeat an actor for more pages)."""
    pages = "".join(
        f'<TEI xml:id="p{i}"><teiHeader><fileDesc><titleStmt><title>t</title><author key="{actor}">{actor}</author>'
        f"</titleStmt></fileDesc></teiHeader><text><body><p>page {i} of {actor} with enough words to be kept by the"
        f" view filters of the demo configuration here</p></body></text></TEI>"
        for i, actor in enumerate(actors)
    )
    path.write_text(f'<teiCorpus xmlns="http://www.tei-c.org/ns/1.0">{pages}</teiCorpus>')
    return path


def test_class_too_small_to_split(app_run, tmp_path):
    corpus = tiny_web_corpus(tmp_path / "tiny.xml", ["front_ouvrier"] * 10 + ["ligue_patriote"])
    proc = app_run("stage=prepare", "dataset=web1", f"corpora.web1.path={corpus}", ok=False)
    assert_short_failure(proc, "class too small", "far_right")
    assert nothing_finished(app_run.cache)


@pytest.mark.parametrize("override", ["dataset_id=../x", "dataset_id=a/b", "corpora.web1.id=../../etc"])
def test_unsafe_ids_are_refused(app_run, override):
    proc = app_run("stage=prepare", "dataset=web1", override, ok=False)
    assert_short_failure(proc, "not a safe id")
    assert not (app_run.tmp / "x").exists()
    assert nothing_finished(app_run.cache)


def test_full_traceback_on_request(app_run, tmp_path):
    proc = app_run("stage=prepare", "dataset=web1", f"corpora.web1.path={tmp_path}/nowhere.xml", ok=False,
                   env={"HYDRA_FULL_ERROR": "1"})
    assert proc.returncode != 0 and "Traceback" in proc.stderr
