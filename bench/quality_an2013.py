"""Benchmark: model quality and cost on the 2013 Assemblée nationale debates (issues 2 and 3).

For each model, through the real CLI (`python -m app stage=pipeline dataset=an2013 view=wing …`, one child
process per run, exact peak RSS from os.wait4):

- macro-F1 on a stratified split (`split.group_by=null`) and on a speaker-grouped split
  (`split.group_by=actor`: no speaker on both sides — the honest figure);
- cross-dataset: the model trained on the stratified an2013 split, evaluated on ParlaMint-FR 2017
  (`eval_dataset_id=parlamint_fr_2017`; the trained model is reused from the cache, only prediction runs);
- training seconds, training seconds per 1,000 documents, peak RSS of the run.

Balance: `class_weights` for every model (the DESIGN's measured setup for the sklearn baselines; the hf
family weights its loss, spaCy's textcat has no class weights and ignores it) unless `--balance
MODEL=STRATEGY` says otherwise.  Heavy families are capped by `hardware=bench` (conf/hardware/bench.yaml).

    python bench/quality_an2013.py                               # everything (tens of minutes on 2 cores)
    python bench/quality_an2013.py --models tfidf_svm_quick,spacy_bow_quick --splits grouped
    python bench/quality_an2013.py --models hf_minilm --override hf_minilm=model.max_length=128
    python bench/quality_an2013.py --models tfidf_svm_quick,spacy_cnn_sm --splits grouped --cross none --seeds 1,2,3

`--seeds` repeats every run with `seed=N` (the split, the balancing and the model's own randomness): one
speaker-grouped split of this corpus moves macro-F1 by about ±0.015 (a few speakers hold hundreds of
documents each), as much as the gaps between families, so a comparison should rest on several.  The
seed table gives each model's macro-F1 per seed, its mean and standard deviation, and its paired
difference from tfidf_svm_quick on the same seeds.

Results: a table on stdout, `bench/out/quality_an2013/results.json` and `results.md`, run folders and logs
under `bench/out/quality_an2013/runs/`.  The model cache (`--cache`) is kept between invocations, so a
re-run only evaluates.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MODELS = ["check", "tfidf_svm_quick", "tfidf_lr_char", "spacy_bow_quick", "spacy_cnn_quick", "hf_minilm"]
SPLITS = {"stratified": "null", "grouped": "actor"}
CROSS_DATASET = "parlamint_fr_2017"
# the transformer on 2 CPU cores: 1,000 docs (hardware=bench), 128 tokens (about 15 minutes per split)
DEFAULT_OVERRIDES = {"hf_minilm": ["model.max_length=128"]}


def run_cli(args: list[str], log_path: Path, timeout: float) -> tuple[int, float, float]:
    """Run `python -m app …`; returns (exit status, wall seconds, exact peak RSS in MB from os.wait4)."""
    t0 = time.perf_counter()
    with open(log_path, "w", encoding="utf-8") as log:
        proc = subprocess.Popen([sys.executable, "-m", "app", *args], cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        deadline = t0 + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.2)
        proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, time.perf_counter() - t0, usage.ru_maxrss / 1024


def one_run(name: str, model: str, split: str, balance: str, extra: list[str], out: Path, cache: Path,
            hardware: str, threads: int | None, timeout: float, cross: bool = False) -> dict:
    run_dir = out / "runs" / name
    args = ["stage=pipeline", "dataset=an2013", "view=wing", f"model={'[]' if model == 'check' else model}",
            f"split.group_by={SPLITS[split]}", f"balance={balance}", f"hardware={hardware}",
            f"paths.cache_dir={cache}", f"hydra.run.dir={run_dir}", "progress=false", *extra]
    if threads:
        args.append(f"hardware.threads={threads}")
    if cross:
        args.append(f"eval_dataset_id={CROSS_DATASET}")
    run_dir.mkdir(parents=True, exist_ok=True)
    code, wall, rss = run_cli(args, out / "runs" / f"{name}.log", timeout)
    result = {"name": name, "model": model, "split": split, "balance": balance, "cross": cross, "exit": code,
              "wall_s": round(wall, 1), "peak_rss_mb": round(rss, 1), "args": args}
    record_path = run_dir / "run.json"
    if code != 0 or not record_path.is_file():
        tail = (out / "runs" / f"{name}.log").read_text(errors="replace").strip().splitlines()[-3:]
        result["error"] = " | ".join(tail)
        return result
    record = json.loads(record_path.read_text())
    model_id = "check_default" if model == "check" else model
    entry = next(m for m in record["models"] if m["model_id"] == model_id)
    result.update(
        family=entry["family"], macro_f1=entry.get("macro_f1"), accuracy=entry.get("accuracy"),
        n_train=entry.get("n_train"), n_job=entry.get("n_job"), train_seconds=entry.get("train_seconds"),
        reused=entry.get("reused"), metrics_path=entry.get("metrics_path"),
    )
    if entry.get("train_seconds") is not None and entry.get("n_train"):
        result["train_s_per_1k_docs"] = round(1000 * entry["train_seconds"] / entry["n_train"], 2)
    return result


def fmt(value, spec=".3f") -> str:
    return "—" if value is None else format(value, spec)


def seed_table(results: list[dict], split: str, reference: str = "tfidf_svm_quick") -> str:
    """Macro-F1 per seed for the runs made with --seeds (one split), mean ± sd, and the paired difference
    from `reference` over the seeds both have."""
    runs = [r for r in results if r.get("seed") is not None and r["split"] == split and not r["cross"]
            and r.get("macro_f1") is not None]
    if not runs:
        return ""
    seeds = sorted({r["seed"] for r in runs})
    score = {(r["model"], r.get("variant", ""), r["seed"]): r["macro_f1"] for r in runs}
    ref = {sd: f for (m, v, sd), f in score.items() if m == reference and v == ""}
    rows = sorted({(r["model"], r.get("variant", "")) for r in runs})
    lines = [f"| model ({split}) | " + " | ".join(f"seed {sd}" for sd in seeds)
             + f" | mean | sd | mean diff vs {reference} (seeds, wins) |",
             "|" + "|".join("---" for _ in range(len(seeds) + 4)) + "|"]
    for m, v in rows:
        values = {sd: score[(m, v, sd)] for sd in seeds if (m, v, sd) in score}
        vals = list(values.values())
        paired = [values[sd] - ref[sd] for sd in values if sd in ref]
        diff = (f"{statistics.mean(paired):+.3f} ({len(paired)}, {sum(d > 0 for d in paired)} won)"
                if paired and (m, v) != (reference, "") else "—")
        lines.append(f"| {m}{f' ({v})' if v else ''} | " + " | ".join(fmt(values.get(sd)) for sd in seeds)
                     + f" | {statistics.mean(vals):.3f} | {fmt(statistics.stdev(vals) if len(vals) > 1 else None)} | {diff} |")
    return "\n".join(lines)


def table(results: list[dict], models: list[tuple[str, str]]) -> str:
    results = [r for r in results if r.get("seed") is None]  # the --seeds runs have a table of their own
    by = {(r["model"], r.get("variant", ""), r["split"], r["cross"]): r for r in results}
    head = ("| model | family | balance | macro-F1 stratified | macro-F1 speaker-grouped | macro-F1 an2013→ParlaMint "
            "| n train | train s | train s / 1k docs | peak RSS MB |")
    lines = [head, "|" + "|".join("---" for _ in range(10)) + "|"]
    for m, v in models:
        s, g, c = (by.get((m, v, "stratified", False)), by.get((m, v, "grouped", False)),
                   by.get((m, v, "stratified", True)))
        main = g or s or {}
        costly = [r for r in (s, g) if r and r.get("train_seconds") is not None and not r.get("reused")]
        cost = max(costly, key=lambda r: r["n_train"] or 0) if costly else main
        rss = max((r.get("peak_rss_mb") or 0) for r in (s, g) if r) if (s or g) else None
        err = next((r["error"] for r in (s, g, c) if r and r.get("error")), None)
        lines.append(
            f"| {m}{f' ({v})' if v else ''} | {main.get('family', '?')} | {main.get('balance', '?')} | {fmt((s or {}).get('macro_f1'))} "
            f"| {fmt((g or {}).get('macro_f1'))} | {fmt((c or {}).get('macro_f1'))} | {fmt(cost.get('n_train'), 'd')} "
            f"| {fmt(cost.get('train_seconds'), '.1f')} | {fmt(cost.get('train_s_per_1k_docs'), '.1f')} "
            f"| {fmt(rss, '.0f')} |" + (f" error: {err}" if err else "")
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(MODELS), help=f"comma-separated (default {','.join(MODELS)})")
    parser.add_argument("--splits", default="stratified,grouped", help="stratified, grouped or both")
    parser.add_argument("--cross", default="all", help="models also evaluated on ParlaMint 2017: all, none, or a list")
    parser.add_argument("--balance", action="append", default=[], metavar="MODEL=STRATEGY",
                        help="balance for one model (default class_weights for all)")
    parser.add_argument("--override", action="append", default=[], metavar="MODEL=KEY=VALUE",
                        help="an extra CLI override for one model's runs (repeatable)")
    parser.add_argument("--hardware", default="bench")
    parser.add_argument("--threads", type=int, default=None, help="hardware.threads (default: the preset's)")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "quality_an2013")
    parser.add_argument("--cache", type=Path, default=None, help="model/prepared cache (default <out>/cache)")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per run")
    parser.add_argument("--seeds", default="", help="comma-separated seeds: every run once per seed (seed=N)")
    parser.add_argument("--variant", default="", help="a name for this setting (e.g. 'epochs=6'): its rows are kept "
                        "beside the default rows of the same models")
    args = parser.parse_args(argv)

    models = [m for m in args.models.split(",") if m]
    splits = [s for s in args.splits.split(",") if s]
    unknown = [s for s in splits if s not in SPLITS]
    if unknown:
        parser.error(f"unknown split {unknown}; use {list(SPLITS)}")
    cross = models if args.cross == "all" else [] if args.cross == "none" else args.cross.split(",")
    balance = {m: "class_weights" for m in models}
    balance.update(dict(b.split("=", 1) for b in args.balance))
    # per model: key -> override; --override replaces a default for the same key
    extra_by_key = {m: {o.split("=", 1)[0]: o for o in DEFAULT_OVERRIDES.get(m, [])} for m in models}
    for o in args.override:
        m, kv = o.split("=", 1)
        extra_by_key.setdefault(m, {})[kv.split("=", 1)[0]] = kv
    extra = {m: list(kv.values()) for m, kv in extra_by_key.items()}
    out = args.out
    cache = args.cache or out / "cache"
    out.mkdir(parents=True, exist_ok=True)

    results_path = out / "results.json"
    previous = json.loads(results_path.read_text())["results"] if results_path.is_file() else []
    results = []
    seeds = [int(sd) for sd in args.seeds.split(",") if sd] or [None]
    plan = ([(m, s, False, sd) for sd in seeds for m in models for s in splits]
            + [(m, "stratified", True, sd) for sd in seeds for m in cross if m in models])
    for i, (model, split, is_cross, seed) in enumerate(plan, 1):
        # run folder names: no "=" or "," (Hydra's override grammar would need quoting)
        tag = "".join(c if c.isalnum() or c in "._-" else "-" for c in args.variant)
        name = (f"{model}__{split}" + ("__cross" if is_cross else "") + (f"__{tag}" if tag else "")
                + (f"__seed{seed}" if seed is not None else ""))
        print(f"[{i}/{len(plan)}] {name} …", file=sys.stderr, flush=True)
        r = one_run(name, model, split, balance[model], extra.get(model, []) + ([f"seed={seed}"] if seed is not None else []),
                    out, cache, args.hardware, args.threads, args.timeout, cross=is_cross)
        r["variant"], r["seed"] = args.variant, seed
        print(f"    {'ok' if 'error' not in r else 'FAILED'}: macro-F1 {fmt(r.get('macro_f1'))}, "
              f"train {fmt(r.get('train_seconds'), '.1f')} s, wall {r['wall_s']} s, peak RSS {r['peak_rss_mb']} MB"
              + (f" — {r['error']}" if "error" in r else ""), file=sys.stderr, flush=True)
        results.append(r)

    # keep earlier results of models/splits not re-run now (the table covers everything measured)
    key = lambda r: (r["model"], r.get("variant", ""), r["split"], r["cross"], r.get("seed"))  # noqa: E731
    done = {key(r) for r in results}
    merged = [r for r in previous if key(r) not in done] + results
    order = {m: i for i, m in enumerate(MODELS + sorted({r["model"] for r in merged} - set(MODELS)))}
    all_models = sorted({(r["model"], r.get("variant", "")) for r in merged if r.get("seed") is None}, key=lambda mv: (order[mv[0]], mv[1]))
    tables = [table(merged, all_models)] if all_models else []
    text = "\n\n".join(t for t in tables + [seed_table(merged, sp) for sp in SPLITS] if t)
    meta = {"hardware": args.hardware, "threads": args.threads, "cpus": os.cpu_count(),
            "load_avg_at_end": os.getloadavg(), "date": time.strftime("%Y-%m-%d %H:%M")}
    results_path.write_text(json.dumps({"meta": meta, "results": merged}, indent=2) + "\n")
    (out / "results.md").write_text(
        f"# Quality on an2013 (view wing)\n\n{json.dumps(meta)}\n\n{text}\n", encoding="utf-8")
    print(text)
    return 0 if all("error" not in r for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
