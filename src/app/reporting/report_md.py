"""The `report_markdown` hook: `report.md`, a sweep summarised for a researcher.

Sections: summary; what ran (grid, status counts, wall time, peak RSS); best runs per family and per
dataset with their settings; a comparison table per axis (macro-F1 mean ± standard deviation over
the runs sharing that value) and per combination (over repeats); per-group results when
`analysis.compare_by` was set; the plots; anomalies (failed, OOM, skipped, interrupted, quality-flagged
runs, models not above the majority baseline) with the reason and a link to the log. Every link is
relative to the report, so the sweep folder can be moved or shared as a whole.
"""

import os
import statistics
from collections import Counter
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

import pandas as pd

from app.reporting.collect import BASELINE_FAMILY, REPEAT_KEYS, RESULT_STATUSES, Sweep, axis_column
from app.reporting.curves import Plot
from app.reporting.metrics_table import TABLE_NAME, group_columns, split_group_column

STATUS_ORDER = ["success", "skipped_resume", "failed", "oom", "skipped_oom", "aborted_oom_policy", "interrupted",
                "incomplete", "not_run"]


class _Doc:
    """Markdown lines, with links made relative to the report's folder."""

    def __init__(self, sweep: Sweep, report_path: Path):
        self.sweep = sweep
        self.base = report_path.parent
        self.lines: list[str] = []

    def add(self, *lines: str) -> None:
        self.lines.extend(lines)

    def link(self, text: str, path: Path | str | None) -> str:
        if not path:
            return text
        target = Path(path)
        target = target if target.is_absolute() else self.sweep.dir / target
        rel = os.path.relpath(target, self.base)
        return f"[{text}]({quote(rel, safe='/=,.-_~+@')})"

    def image(self, alt: str, path: Path) -> str:
        return "!" + self.link(alt, path)

    def table(self, header: list[str], rows: list[list[str]], align: list[str] | None = None) -> None:
        align = align or ["l"] * len(header)
        rule = {"l": "---", "r": "---:", "c": ":---:"}
        self.add("| " + " | ".join(header) + " |", "|" + "|".join(rule[a] for a in align) + "|")
        for row in rows:
            self.add("| " + " | ".join(_cell(c) for c in row) + " |")
        self.add("")

    def text(self) -> str:
        return "\n".join(self.lines).rstrip() + "\n"


def write_report(sweep: Sweep, frame: pd.DataFrame, plots: list[Plot], report_path: Path, *, notes: list[str],
                 problems: list[str], context: str) -> Path:
    doc = _Doc(sweep, report_path)
    done = frame[frame["status"].isin(RESULT_STATUSES)]
    models = done[(done["family"] != BASELINE_FAMILY) & done["macro_f1"].notna()] if "macro_f1" in done else done.iloc[0:0]
    runs_by_status = Counter(r.status for r in sweep.runs)

    _header(doc, sweep, context, runs_by_status, models, done, problems)
    _what_ran(doc, sweep, frame, runs_by_status)
    if models.empty:
        doc.add("## Results", "")
        doc.add("**No result to compare: no run finished successfully.** The reasons are listed under "
                "[Anomalies](#anomalies).", "")
    else:
        _best_runs(doc, sweep, done, models)
        _per_axis(doc, sweep, done, models)
        _per_combination(doc, sweep, done, models)
        _per_group(doc, sweep, models)
    _plots(doc, plots, notes)
    _anomalies(doc, sweep, frame, models)
    _files(doc, sweep)
    report_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = report_path.with_name(f".{report_path.name}.tmp-{os.getpid()}")
    tmp.write_text(doc.text(), encoding="utf-8")
    os.replace(tmp, report_path)
    return report_path


# ----------------------------------------------------------------------------------------------
# sections


def _header(doc: _Doc, sweep: Sweep, context: str, counts: Counter, models: pd.DataFrame, done: pd.DataFrame,
            problems: list[str]):
    doc.add(f"# Sweep report — {sweep.name}", "")
    launcher = f"launcher `{sweep.launcher}`" if sweep.launcher else "launcher unknown"
    doc.add(f"`{sweep.dir}` · {launcher} · built {datetime.now():%Y-%m-%d %H:%M} {context}", "")
    total = len(sweep.runs)
    ok = sum(counts[s] for s in RESULT_STATUSES)
    if total and ok == 0:
        started = total - counts["not_run"]
        doc.add(f"> **No run succeeded** ({started} of {total} runs started, all without a result). "
                "See [Anomalies](#anomalies) for the reasons.", "")
    elif ok < total:
        doc.add(f"> **{total - ok} of {total} runs have no result** "
                f"({_status_list(counts, exclude=RESULT_STATUSES)}). See [Anomalies](#anomalies).", "")
    for problem in problems:
        doc.add(f"> **Hook problem:** {problem}", "")
    if not models.empty:
        best = models.loc[models["macro_f1"].idxmax()]
        doc.add(f"**Best macro-F1: {best['macro_f1']:.3f}** — `{best['family']}/{best['model_id']}` with "
                f"{_settings(sweep, best)} ({doc.link(_run_name(best['run_id']), best.get('job_dir'))}); "
                f"majority baseline of that run: {_num(_baseline_of(best, done))}.", "")


def _what_ran(doc: _Doc, sweep: Sweep, frame: pd.DataFrame, counts: Counter):
    doc.add("## What ran", "")
    if sweep.axes:
        rows = [[f"`{a}`", ", ".join(f"`{v}`" for v in vals) or "—", str(len(vals))] for a, vals in sweep.axes.items()]
        doc.table(["axis", "values (grid order)", "count"], rows, ["l", "l", "r"])
    else:
        doc.add("No axis: every run used the same settings.", "")
    sizes = {a: len(v) for a, v in sweep.axes.items() if a not in REPEAT_KEYS}
    combos = 1
    for n in sizes.values():
        combos *= max(n, 1)
    planned = sweep.planned if sweep.planned is not None else len(sweep.runs)
    grid = (" × ".join(f"{a} ({n})" for a, n in sizes.items()) + f" = {_plural(combos, 'combination')}"
            if sizes else "1 combination (no axis besides repeats)")
    repeat_axes = [a for a in sweep.axes if a in REPEAT_KEYS]
    per_combination = Counter(tuple(r.settings.get(a) for a in sweep.combination_axes) for r in sweep.runs)
    repeats = max(per_combination.values(), default=1)
    if repeats > 1:
        grid += f" × {repeats} repeats" + (f" (varying {', '.join(repeat_axes)})" if repeat_axes else "")
    facts = [("Grid", grid + f"; {_plural(planned, 'run')} planned")]
    facts.append(("Runs by status", _status_list(counts) or "none"))
    durations = [r.duration_s for r in sweep.runs if r.duration_s is not None]
    # times come from file dates when the launcher kept none: a copied folder loses them
    if sweep.started and sweep.ended and sweep.ended - sweep.started >= 0.9 * max(durations, default=0):
        facts.append(("Wall time", f"{format_duration(sweep.ended - sweep.started)} from the sweep's start to "
                      "its last run's end"))
    if durations:
        facts.append(("Run time", f"{format_duration(sum(durations))} summed over {_plural(len(durations), 'run')}; median "
                      f"{format_duration(statistics.median(durations))}, longest {format_duration(max(durations))}"))
    rss = [(r.peak_rss_mb, r.run_id) for r in sweep.runs if r.peak_rss_mb is not None]
    if rss:
        peak, peak_run = max(rss)
        shared = "" if sweep.has_runs_tsv else (" — as each run measured its own process, which the basic and "
                                               "joblib launchers share between runs")
        facts.append(("Peak RSS", f"{peak:,.0f} MB ({_run_name(peak_run)}); median "
                      f"{statistics.median(p for p, _ in rss):,.0f} MB{shared}"))
    for label, col in (("Datasets", "dataset_id"), ("Evaluated on", "eval_dataset_id"), ("View", "view")):
        col = f"{col}_effective" if f"{col}_effective" in frame.columns else col
        if col in frame.columns:
            vals = [str(v) for v in frame[col].dropna().unique()]
            if vals:
                facts.append((label, ", ".join(f"`{v}`" for v in vals)))
    fams = frame.dropna(subset=["family"]) if "family" in frame else frame.iloc[0:0]
    if not fams.empty:
        pairs = fams[["family", "model_id"]].drop_duplicates().itertuples(index=False)
        facts.append(("Models", ", ".join(f"`{f}/{m}`" + (" (majority baseline)" if f == BASELINE_FAMILY else "")
                                          for f, m in pairs)))
    if sweep.experiment:
        facts.append(("Experiment", f"`{sweep.experiment}`"))
    doc.table(["", ""], [[f"**{k}**", v] for k, v in facts])


def _best_runs(doc: _Doc, sweep: Sweep, done: pd.DataFrame, models: pd.DataFrame):
    doc.add("## Best runs", "")
    doc.add("The single best run (by macro-F1) of each family, and of each dataset; *baseline* is the "
            "majority-class `check` model of the same run.", "")
    header = ["model", "macro-F1", "accuracy", "weighted F1", "baseline", "settings", "run"]
    align = ["l", "r", "r", "r", "r", "l", "l"]
    doc.add("### Per family", "")
    rows = []
    best_by_family = []
    for family, part in models.groupby("family", sort=False):
        best = part.loc[part["macro_f1"].idxmax()]
        best_by_family.append(best)
        rows.append([f"`{family}`"] + _best_row(doc, sweep, best, done))
    doc.table(["family"] + header, rows, ["l"] + align)
    doc.add("### Per dataset", "")
    rows = []
    keys = [f"{k}_effective" if f"{k}_effective" in models.columns else k for k in ("dataset_id", "eval_dataset_id")]
    keys = keys if set(keys) <= set(models.columns) else []
    for key, part in (models.groupby(keys, sort=False, dropna=False) if keys else [(("—", "—"), models)]):
        train, evaluated = key if isinstance(key, tuple) else (key, key)
        name = f"`{train}`" if train == evaluated or pd.isna(evaluated) else f"`{train}` → `{evaluated}`"
        best = part.loc[part["macro_f1"].idxmax()]
        rows.append([name] + _best_row(doc, sweep, best, done))
    doc.table(["dataset"] + header, rows, ["l"] + align)
    images = [(b, b.get("confusion_matrix")) for b in best_by_family[:3] if isinstance(b.get("confusion_matrix"), str)
              and b.get("confusion_matrix")]
    if images:
        doc.add("Confusion matrices of these best runs (counts and share of each true class):", "")
        for best, cm in images:
            doc.add(f"**`{best['family']}/{best['model_id']}`**, {_run_name(best['run_id'])}", "",
                    doc.image(f"confusion matrix, {best['model_id']}, {_run_name(best['run_id'])}", cm), "")


def _best_row(doc: _Doc, sweep: Sweep, best: pd.Series, done: pd.DataFrame) -> list[str]:
    baseline = _baseline_of(best, done)
    return [
        f"`{best['model_id']}`", f"**{best['macro_f1']:.3f}**", _num(best.get("accuracy")),
        _num(best.get("weighted_f1")), _num(baseline), _settings(sweep, best, with_seed=True),
        doc.link(str(best["run_id"]), best.get("job_dir")) + (" · " + doc.link("metrics", best.get("metrics_path"))
                                                              if best.get("metrics_path") else ""),
    ]


def _per_axis(doc: _Doc, sweep: Sweep, done: pd.DataFrame, models: pd.DataFrame):
    axes = [a for a in sweep.combination_axes if axis_column(a) in models.columns]
    if not axes:
        return
    doc.add("## Comparison per axis", "")
    doc.add("Macro-F1 for each value of an axis: mean ± standard deviation over every run with that value "
            "(its repeats and the other axes' values), *n* runs; the best mean of each model in bold.", "")
    model_ids = list(dict.fromkeys(models["model_id"]))
    baseline = done[done["family"] == BASELINE_FAMILY]
    for axis in axes:
        col = axis_column(axis)
        doc.add(f"### `{axis}`", "")
        cells: dict[str, dict[str, list[float]]] = {}
        for model_id in model_ids:
            part = models[models["model_id"] == model_id]
            cells[model_id] = {str(v): part.loc[part[col].astype(str) == str(v), "macro_f1"].tolist()
                               for v in sweep.axes[axis]}
        rows = []
        for value in sweep.axes[axis]:
            row = [f"`{value}`"]
            for model_id in model_ids:
                vals = cells[model_id][str(value)]
                means = [statistics.fmean(v) for v in cells[model_id].values() if v]
                best = bool(vals) and len(means) > 1 and statistics.fmean(vals) == max(means)
                row.append(_spread(vals, bold=best))
            base_vals = baseline.loc[baseline[col].astype(str) == str(value), "macro_f1"].dropna().tolist() \
                if col in baseline.columns else []
            row.append(_num(statistics.fmean(base_vals)) if base_vals else "—")
            rows.append(row)
        doc.table([axis] + [f"`{m}`" for m in model_ids] + ["baseline"], rows, ["l"] + ["r"] * (len(model_ids) + 1))


def _per_combination(doc: _Doc, sweep: Sweep, done: pd.DataFrame, models: pd.DataFrame):
    axes = [a for a in sweep.combination_axes if axis_column(a) in models.columns]
    repeated = any(n > 1 for n in models.groupby([axis_column(a) for a in axes] + ["model_id"], dropna=False)
                   .size()) if axes else len(models) > models["model_id"].nunique()
    if len(axes) < 2 and not repeated:
        return  # the per-axis tables already show every combination
    doc.add("## Every combination", "")
    doc.add("One row per combination × model: macro-F1 mean ± standard deviation over its repeats, min–max, "
            "accuracy (mean), *n* runs.", "")
    cols = [axis_column(a) for a in axes]
    rows = []
    order = {a: {str(v): i for i, v in enumerate(sweep.axes[a])} for a in axes}
    groups = list(models.groupby(cols + ["model_id"], sort=False, dropna=False)) if cols else \
        list(models.groupby(["model_id"], sort=False))
    groups.sort(key=lambda kv: [order[a].get(str(v), 999) for a, v in zip(axes, kv[0])])
    best_mean = max(statistics.fmean(part["macro_f1"]) for _, part in groups)
    for key, part in groups:
        key = key if isinstance(key, tuple) else (key,)
        vals = part["macro_f1"].tolist()
        mean = statistics.fmean(vals)
        rows.append([f"`{v}`" for v in key[:len(axes)]] + [f"`{key[-1]}`", _spread(vals, bold=mean == best_mean, n=False),
                     f"{min(vals):.3f}–{max(vals):.3f}", _num(part["accuracy"].mean()), str(len(vals))])
    doc.table(axes + ["model", "macro-F1", "min–max", "accuracy", "n"], rows,
              ["l"] * (len(axes) + 1) + ["r", "r", "r", "r"])


def _per_group(doc: _Doc, sweep: Sweep, models: pd.DataFrame):
    groups = group_columns(models.dropna(axis=1, how="all"))
    if not groups:
        return
    doc.add("## Per-group results (`analysis.compare_by`)", "")
    doc.add("Macro-F1 on each group of the job split, mean ± standard deviation over the runs; *all* is the "
            "whole job split.", "")
    axes = [a for a in sweep.combination_axes if axis_column(a) in models.columns]
    cols = [axis_column(a) for a in axes]
    for field_name, by_metric in groups.items():
        value_cols = by_metric.get("macro_f1", [])
        if not value_cols:
            continue
        doc.add(f"### `{field_name}`", "")
        rows = []
        keyed = list(models.groupby(cols + ["model_id"], sort=False, dropna=False)) if cols else \
            list(models.groupby(["model_id"], sort=False))
        for key, part in keyed:
            key = key if isinstance(key, tuple) else (key,)
            row = [f"`{v}`" for v in key[:len(axes)]] + [f"`{key[-1]}`", _spread(part["macro_f1"].tolist())]
            for col in value_cols:
                row.append(_spread(part[col].dropna().tolist()))
            rows.append(row)
        names = [f"{field_name}={split_group_column(c)[2]}" for c in value_cols]
        doc.table(axes + ["model", "all"] + names, rows, ["l"] * (len(axes) + 1) + ["r"] * (len(value_cols) + 1))


def _plots(doc: _Doc, plots: list[Plot], notes: list[str]):
    doc.add("## Plots", "")
    if not plots:
        doc.add("No plot was drawn" + (": " + "; ".join(notes) + "." if notes else "."), "")
        return
    for plot in plots:
        doc.add(f"### {plot.title}", "", doc.image(plot.title, plot.path), "")
    for note in notes:
        doc.add(f"*{note}.*", "")


def _anomalies(doc: _Doc, sweep: Sweep, frame: pd.DataFrame, models: pd.DataFrame):
    doc.add("## Anomalies", "")
    found = False
    bad = [r for r in sweep.runs if r.status not in RESULT_STATUSES]
    if bad:
        found = True
        doc.add(f"### Runs without a result ({len(bad)})", "")
        rows = []
        for run in bad:
            reason = frame.loc[frame["run_id"] == run.run_id, "reason"]
            text = next((str(v) for v in reason if isinstance(v, str) and v), run.reason or run.status)
            rows.append([doc.link(run.run_id, run.job_dir) if run.job_dir else run.run_id, f"**{run.status}**",
                         _settings_of_run(sweep, run), _short(text, 240),
                         doc.link("log", run.log_path) if run.log_path and Path(run.log_path).exists() else "—"])
        doc.table(["run", "status", "settings", "reason", "log"], rows)
    flagged = [r for r in sweep.runs if r.quality_flags or str(r.quality_ok).lower() in ("false", "0", "no")]
    if flagged:
        found = True
        doc.add(f"### Quality flags ({len(flagged)})", "")
        doc.add("Runs whose scores fell under the experiment's `early_stop` thresholds"
                + (f" (see {doc.link('early_stop.log', sweep.dir / 'early_stop.log')})"
                   if (sweep.dir / "early_stop.log").is_file() else "") + ".", "")
        rows = [[doc.link(r.run_id, r.job_dir) if r.job_dir else r.run_id, r.status, _settings_of_run(sweep, r),
                 f"`{r.quality_flags or 'quality_ok=false'}`", doc.link("log", r.log_path) if r.log_path else "—"]
                for r in flagged]
        doc.table(["run", "status", "settings", "flags", "log"], rows)
    retried = [r for r in sweep.runs if r.attempts > 1]
    if retried:
        found = True
        doc.add(f"### Runs retried ({len(retried)})", "")
        doc.add(", ".join(f"{_run_name(r.run_id)} ({r.attempts} attempts, last: {r.status})" for r in retried), "")
    if "beats_baseline" in models.columns:
        weak = models[models["beats_baseline"].astype(str).str.lower() == "false"]
        if not weak.empty:
            found = True
            doc.add(f"### Not above the majority baseline ({len(weak)})", "")
            rows = [[doc.link(str(r["run_id"]), r.get("job_dir")), f"`{r['model_id']}`", _num(r["macro_f1"]),
                     _num(_baseline_of(r, frame)), _settings(sweep, r, with_seed=True)] for _, r in weak.iterrows()]
            doc.table(["run", "model", "macro-F1", "baseline", "settings"], rows, ["l", "l", "r", "r", "l"])
    if not found:
        doc.add("None: every run finished with a result, and every model scored above the majority baseline.", "")


def _files(doc: _Doc, sweep: Sweep):
    doc.add("## Files", "")
    items = [f"- {doc.link(TABLE_NAME, sweep.dir / TABLE_NAME)} — one row per run × model (settings, metrics, "
             "per-group metrics, duration, peak RSS, paths); `pandas.read_csv(path, sep='\\t')`"]
    for name, what in (("runs.tsv", "the launcher's record of each run"), ("plan.tsv", "the planned runs"),
                       ("early_stop.log", "early-stop warnings"), ("multirun.yaml", "the sweep's configuration")):
        if (sweep.dir / name).is_file():
            items.append(f"- {doc.link(name, sweep.dir / name)} — {what}")
    items.append("- each run's folder: `run.json`, and per model `reports/<family>/<model>/` with `metrics.json`, "
                 "`classification_report.txt`, `confusion_matrix.png`, `predictions.tsv`")
    items.append("- rebuild this report: `python -m app stage=report report.sweep_dir='<this folder>'`")
    doc.add(*items, "")
    for note in sweep.notes[:20]:
        doc.add(f"*Note: {note}*", "")


# ----------------------------------------------------------------------------------------------
# formatting


def _cell(value) -> str:
    return " ".join(str(value).split()).replace("|", "\\|")


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _num(value) -> str:
    try:
        if value is None or pd.isna(value):
            return "—"
        return f"{float(value):.3f}"
    except (TypeError, ValueError):
        return "—"


def _spread(values: list[float], bold: bool = False, n: bool = True) -> str:
    values = [float(v) for v in values if v is not None and not pd.isna(v)]
    if not values:
        return "—"
    mean = statistics.fmean(values)
    text = f"{mean:.3f}"
    if bold:
        text = f"**{text}**"
    if len(values) > 1:
        text += f" ± {statistics.stdev(values):.3f}"
    if n:
        text += f" (n={len(values)})"
    return text


def format_duration(seconds: float) -> str:
    seconds = float(seconds)
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    minutes, sec = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {sec:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _run_name(run_id) -> str:
    """`run 3` for Hydra's job numbers; superior's ids (`run_0003`) already say it."""
    text = str(run_id)
    return f"run {text}" if text.isdigit() else text


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _status_list(counts: Counter, exclude=()) -> str:
    keys = [s for s in STATUS_ORDER if counts.get(s)] + sorted(s for s in counts if s not in STATUS_ORDER)
    return ", ".join(f"{counts[s]} {s}" for s in keys if s not in exclude)


def _settings(sweep: Sweep, row: pd.Series, with_seed: bool = False) -> str:
    parts = []
    for axis in sweep.combination_axes:
        col = axis_column(axis)
        if col in row.index and not _missing(row[col]):
            parts.append(f"`{axis}={row[col]}`")
    if with_seed:
        for key in REPEAT_KEYS:
            col = axis_column(key)
            if col in row.index and not _missing(row[col]) and (key == "seed" or key in sweep.axes):
                parts.append(f"{key} {row[col]}")
    return ", ".join(parts) or "—"


def _settings_of_run(sweep: Sweep, run) -> str:
    parts = [f"`{a}={run.settings[a]}`" for a in sweep.combination_axes if a in run.settings]
    for key in REPEAT_KEYS:
        if key in run.settings:
            parts.append(f"{key} {run.settings[key]}")
    return ", ".join(parts) or "—"


def _missing(value) -> bool:
    try:
        return value is None or bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _baseline_of(row: pd.Series, frame: pd.DataFrame):
    same = frame[(frame["run_id"] == row["run_id"]) & (frame["family"] == BASELINE_FAMILY)]
    return same["macro_f1"].iloc[0] if not same.empty and "macro_f1" in same else None

