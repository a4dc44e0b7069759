"""Benchmark: `stage=prepare` throughput and peak RSS against a plain lxml parse of the same files.

Generates a large web-style TEI corpus (a teiCorpus of TEI pages, the shape of the demo corpus
web1) at two sizes, then, in the same run:
  - plain `lxml.etree.parse` of every file, single-threaded (the baseline);
  - `python -m app stage=prepare` on the same files (read, label, split, balance, write), as a
    child process whose exact peak RSS comes from os.wait4.
Goals (issue 2): prepare throughput >= plain parse throughput; peak RSS(500 MB) <= 1.3 x peak RSS(100 MB).

`--floor` also measures, on the big corpus, what no prepare built on the streaming reader can go below:
the reader alone (iterparse, moving finished documents out, nothing extracted) and the reader with its
extraction (`read_records`), each over `--threads` processes, and the fixed cost of one `stage=prepare`
run on the tiny demo corpus (interpreter, Hydra, imports).

    python bench/prepare_throughput.py [--big-mb 500] [--small-mb 100] [--workdir bench/out] [--cpus 0,1] [--floor]

`--cpus` pins this process and its children to those CPUs (the 2-core target on a bigger, quieter
machine); on a machine where other work runs, the figures move with its load.
"""

import argparse
import multiprocessing
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

from lxml import etree

REPO = Path(__file__).resolve().parents[1]
ACTORS = {  # the demo view's web1 actors, so `view=ideology_global` maps them
    "far_left": ["front_ouvrier", "collectif_insurge", "revolution_sociale"],
    "left": ["gauche_solidaire", "alliance_ecologique", "socialistes_unis"],
    "centre": ["renouveau_central", "mouvement_equilibre", "democrates_progres"],
    "right": ["union_republicaine", "droite_liberale", "avenir_conservateur"],
    "far_right": ["ligue_patriote", "souverainete_d_abord", "rempart_national"],
}
WORDS = (
    "le la les des une un pour avec dans sur contre nous vous ils elles travail salaire emploi impôt "
    "entreprise école santé hôpital retraite sécurité police frontière immigration nation europe climat "
    "énergie transition écologie logement loyer service public justice liberté égalité solidarité "
    "famille tradition identité souveraineté réforme budget dette croissance marché industrie agriculture"
).split()


def write_corpus(folder: Path, total_mb: int, file_mb: int = 25, seed: int = 0) -> list[Path]:
    """Files of about `file_mb` MB each until `total_mb` is reached (deterministic)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    actors = [(a, c) for c, names in ACTORS.items() for a in names]
    files, written, n = [], 0, 0
    while written < total_mb * 1_000_000:
        path = folder / f"crawl-{len(files):03d}.xml"
        with open(path, "w", encoding="utf-8") as out:
            out.write('<?xml version="1.0" encoding="UTF-8"?>\n<teiCorpus xmlns="http://www.tei-c.org/ns/1.0">\n')
            size = 0
            while size < file_mb * 1_000_000:
                n += 1
                actor, _ = rng.choice(actors)
                paras = "".join(
                    "<p>" + " ".join(rng.choices(WORDS, k=rng.randint(30, 90))) + ".</p>" for _ in range(rng.randint(3, 8))
                )
                page = (
                    f'<TEI xml:id="page{n:08d}"><teiHeader><fileDesc><titleStmt><title>page {n}</title>'
                    f'<author key="{actor}">{actor}</author></titleStmt><publicationStmt>'
                    f'<idno type="site">{actor}.example</idno><idno type="URL">https://{actor}.example/{n}</idno>'
                    f'<date when="2024-01-01">2024</date></publicationStmt></fileDesc></teiHeader>'
                    f"<text><body><div>{paras}</div></body></text></TEI>\n"
                )
                out.write(page)
                size += len(page.encode())
            out.write("</teiCorpus>\n")
        files.append(path)
        written += path.stat().st_size
    return files


def plain_parse(files: list[Path]) -> float:
    t0 = time.perf_counter()
    for path in files:
        tree = etree.parse(str(path))
        del tree
    return time.perf_counter() - t0


def run_prepare(folder: Path, cache: Path, threads: int, glob: str = "*.xml") -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of `stage=prepare`, the process tree's peak from os.wait4."""
    shutil.rmtree(cache, ignore_errors=True)
    cmd = [
        sys.executable, "-m", "app", "stage=prepare", "dataset=web1", "view=ideology_global", "balance=oversample",
        f"corpora.web1.path={folder}", f"corpora.web1.glob={glob}", f"paths.cache_dir={cache}",
        f"hydra.run.dir={cache}/run", f"hardware.threads={threads}", "progress=false",
    ]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"prepare failed: {proc.stderr.read().decode()[-2000:]}")
    return seconds, usage.ru_maxrss / 1024


def _web1_reader(folder: Path):
    """The `web` reader as `dataset=web1` builds it, pointed at `folder`."""
    from omegaconf import OmegaConf

    from app.read_tei import corpus_spec, make_reader

    cfg = OmegaConf.load(REPO / "conf" / "corpus" / "web1.yaml")
    cfg.path = str(folder)
    return make_reader(corpus_spec(cfg))


def _stream_only(path: Path) -> int:
    """The reader's streaming alone: iterparse, finished documents moved into batches (the reader's own
    `document_batches`), no extraction."""
    return sum(len(container) for container, _ in _web1_reader(path.parent).document_batches(path))


def _read_records(path: Path) -> int:
    """The reader with its extraction: (id, fields, text) of every document, as prepare's workers get them."""
    return sum(1 for _ in _web1_reader(path.parent).read_records(path))


def floor(files: list[Path], workers: int) -> dict[str, float]:
    """Seconds for the reader's own stages over `files` with `workers` processes, and one tiny prepare."""
    times = {}
    for name, func in (("stream only", _stream_only), ("read_records", _read_records)):
        t0 = time.perf_counter()
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            docs = sum(pool.map(func, files, chunksize=1))
        times[name] = time.perf_counter() - t0
        print(f"  floor: {name}, {workers} processes: {times[name]:.1f} s ({docs} documents)")
    demo = REPO / "data" / "demo"
    cache = Path(os.environ.get("TMPDIR", "/tmp")) / f"ideolab_floor_{os.getpid()}"
    times["tiny prepare"], _ = run_prepare(demo, cache, workers, glob="web1.xml")
    shutil.rmtree(cache, ignore_errors=True)
    print(f"  floor: stage=prepare on the demo web1 ({(demo / 'web1.xml').stat().st_size / 1e6:.1f} MB): "
          f"{times['tiny prepare']:.1f} s")
    return times


def size_mb(files: list[Path]) -> float:
    return sum(p.stat().st_size for p in files) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--big-mb", type=int, default=500)
    parser.add_argument("--small-mb", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workdir", type=Path, default=REPO / "bench" / "out" / "prepare_throughput")
    parser.add_argument("--keep", action="store_true", help="keep the generated corpora")
    parser.add_argument("--cpus", help="pin to these CPUs, e.g. 0,1 (children inherit it)")
    parser.add_argument("--floor", action="store_true", help="also time the reader alone and a tiny prepare")
    args = parser.parse_args()
    if args.cpus:
        os.sched_setaffinity(0, {int(c) for c in args.cpus.split(",")})
    print(f"CPUs: {sorted(os.sched_getaffinity(0))}, prepare workers: {args.threads}")

    rows = []
    for label, mb in (("small", args.small_mb), ("big", args.big_mb)):
        folder = args.workdir / f"corpus_{mb}mb"
        t0 = time.perf_counter()
        files = sorted(folder.glob("*.xml")) if folder.is_dir() else write_corpus(folder, mb)
        print(f"[{label}] corpus: {len(files)} files, {size_mb(files):.0f} MB (ready in {time.perf_counter() - t0:.0f} s)")
        parse_s = plain_parse(files)
        prep_s, rss = run_prepare(folder, args.workdir / f"cache_{mb}", args.threads)
        rows.append((label, size_mb(files), parse_s, prep_s, rss))
        if args.floor and label == "big":
            floors = floor(files, args.threads)
        print(f"[{label}] plain parse {parse_s:.1f} s ({size_mb(files) / parse_s:.0f} MB/s); "
              f"prepare {prep_s:.1f} s ({size_mb(files) / prep_s:.0f} MB/s), peak RSS {rss:.0f} MB")
        if not args.keep:
            shutil.rmtree(args.workdir / f"cache_{mb}", ignore_errors=True)

    print("\n| corpus | MB | plain parse MB/s | prepare MB/s | prepare / parse | prepare peak RSS MB |")
    print("|---|---|---|---|---|---|")
    for label, mb, parse_s, prep_s, rss in rows:
        print(f"| {label} | {mb:.0f} | {mb / parse_s:.0f} | {mb / prep_s:.0f} | {parse_s / prep_s:.2f}x | {rss:.0f} |")
    big, small = rows[1], rows[0]
    speed_ratio = big[2] / big[3]
    rss_ratio = big[4] / small[4]
    # what each extra MB costs once the process is up (start-up, config composition and imports are paid
    # once per run): the per-document speed, apart from the fixed cost that a small corpus hides nothing of
    marginal = (big[1] - small[1]) / (big[3] - small[3])
    fixed = small[3] - small[1] / marginal
    print(f"\nprepare, marginal: {marginal:.0f} MB/s = {marginal / (big[1] / big[2]):.2f}x the plain parse; "
          f"fixed cost (start-up, imports, config) ~{fixed:.1f} s per run")
    if args.floor:
        # the best a prepare on this reader could do: the reader with its extraction plus the fixed cost
        best = floors["read_records"] + floors["tiny prepare"]
        print(f"floor on {big[1]:.0f} MB (x the plain parse's speed): streaming alone {big[2] / floors['stream only']:.2f}x, "
              f"streaming + extraction {big[2] / floors['read_records']:.2f}x, that + the fixed cost of a tiny "
              f"prepare ({floors['tiny prepare']:.1f} s) {big[2] / best:.2f}x")
    print(f"throughput prepare/parse on {big[1]:.0f} MB: {speed_ratio:.2f}x (goal >= 1.0): {'OK' if speed_ratio >= 1 else 'MISSED'}")
    print(f"peak RSS {big[1]:.0f} MB / {small[1]:.0f} MB: {rss_ratio:.2f}x (goal <= 1.3): {'OK' if rss_ratio <= 1.3 else 'MISSED'}")
    if not args.keep:
        shutil.rmtree(args.workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
