"""The `curves` hook: `plots/<metric>__vs__<x_axis>.png`, one line per group, spread over repeats.

Each point is the mean of every successful run × model at that x value in that group (repeats, and
any axis left out of `group_by`), with its min–max as a band. Numeric axes are placed at their
values, in numeric order; categorical axes in grid order. The majority-class `check` model is drawn
as a dashed baseline: the floor every model must beat.
"""

import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from app.reporting.collect import BASELINE_FAMILY, RESULT_STATUSES, Sweep, axis_column, is_number
from app.reporting.hooks import CurvesHook, match_axis, x_axis_error
from app.reporting.metrics_table import split_group_column

PLOTS_DIR = "plots"
_MODEL_KEYS = ("family", "model_id")


@dataclass
class Plot:
    path: Path
    metric: str
    x_axis: str
    group_by: list[str]
    title: str
    series: list = field(default_factory=list, repr=False)  # app.plots.CurveSeries, as drawn
    xticks: tuple | None = None  # (positions, labels) of a categorical axis


@dataclass
class CurvesResult:
    plots: list[Plot] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # why a plot was not drawn (not an error)
    errors: list[str] = field(default_factory=list)  # a hook the user must fix


def metric_label(metric: str) -> str:
    names = {"macro_f1": "macro-F1", "weighted_f1": "weighted F1", "accuracy": "accuracy", "n": "documents"}
    split = split_group_column(metric)
    if split:
        name, group_field, value = split
        return f"{names.get(name, name)} ({group_field} = {value})"
    return names.get(metric, metric)


def default_x_axis(sweep: Sweep) -> str | None:
    axes = sweep.combination_axes or list(sweep.axes)
    return axes[0] if axes else None


def default_group_by(sweep: Sweep, x_axis: str) -> list[str]:
    # a `model` axis (group option) is already told apart by model_id
    return [a for a in sweep.combination_axes if a not in (x_axis, "model")] + ["model_id"]


def plot_curves(sweep: Sweep, frame: pd.DataFrame, hook: CurvesHook, used_names: set[str]) -> CurvesResult:
    from app.plots import CurveSeries, plot_metric_curves

    result = CurvesResult()
    axes = list(sweep.axes)
    error = x_axis_error(hook, axes)
    if error:
        result.errors.append(error)
        return result
    x_axis = match_axis(hook.x_axis, axes) if hook.x_axis else default_x_axis(sweep)
    if x_axis is None:
        result.notes.append("no curve: the sweep has no axis (every run used the same settings)")
        return result
    x_col = axis_column(x_axis)
    group_by = list(hook.group_by) if hook.group_by is not None else default_group_by(sweep, x_axis)
    group_cols = [axis_column(g) if g in sweep.axes else g for g in group_by]
    missing = [g for g, c in zip(group_by, group_cols) if c not in frame.columns]
    if missing:
        result.errors.append(
            f"curves hook: group_by names {', '.join(map(repr, missing))}, not a column of metrics_global.tsv "
            f"(use an axis or one of: {', '.join(_groupable(frame))})"
        )
        return result
    done = frame[frame["status"].isin(RESULT_STATUSES)]
    if done.empty:
        result.notes.append(f"no curve along {x_axis}: no run succeeded")
        return result

    values = [str(v) for v in sweep.axes[x_axis]]
    numeric = bool(values) and all(is_number(v) for v in values)
    if numeric:
        position = {v: float(v) for v in values}
        xticks = None
    else:
        position = {v: float(i) for i, v in enumerate(values)}
        xticks = (list(position.values()), values)

    for metric in hook.metrics:
        if metric not in frame.columns or not pd.api.types.is_numeric_dtype(frame[metric]):
            result.errors.append(
                f"curves hook: metric {metric!r} is not a numeric column of metrics_global.tsv "
                f"(metrics: {', '.join(_metric_columns(frame))})"
            )
            continue
        rows = done[done[metric].notna() & done[x_col].notna()].copy()
        rows["_x"] = rows[x_col].astype(str).map(position)
        rows = rows[rows["_x"].notna()]
        models = rows[rows["family"] != BASELINE_FAMILY]
        if models.empty:
            result.notes.append(f"no curve of {metric} along {x_axis}: no model has a value")
            continue
        series = [CurveSeries(label=_label(group_by, key), **_points(part, metric))
                  for key, part in _groups(models, group_cols)]
        if hook.baseline:
            base_keys = [(g, c) for g, c in zip(group_by, group_cols) if g not in _MODEL_KEYS]
            baseline_rows = rows[rows["family"] == BASELINE_FAMILY]
            parts = list(_groups(baseline_rows, [c for _, c in base_keys]))
            for key, part in parts:
                suffix = _label([g for g, _ in base_keys], key) if len(parts) > 1 else ""
                series.append(CurveSeries(label="majority baseline (check)" + (f" · {suffix}" if suffix else ""),
                                          baseline=True, **_points(part, metric)))
        name = _file_name(metric, x_axis, group_by, used_names)
        path = sweep.dir / PLOTS_DIR / name
        path.parent.mkdir(parents=True, exist_ok=True)
        counts = [n for s in series if not s.baseline for n in s.n]
        runs_per_point = f"{min(counts)}" if min(counts) == max(counts) else f"{min(counts)}–{max(counts)}"
        title = f"{metric_label(metric)} vs {x_axis}"
        plural = "s" if max(counts) > 1 else ""
        subtitle = (f"{sweep.name} · line: mean, band: min–max over the runs at each point "
                    f"({runs_per_point} run{plural} per point) · one line per {', '.join(group_by) or 'sweep'}")
        tmp = path.with_name(f".{path.stem}.tmp.png")
        plot_metric_curves(series, tmp, title=title, subtitle=subtitle, xlabel=x_axis, ylabel=metric_label(metric),
                           xticks=xticks, unit_interval=not metric.startswith("n@"))
        tmp.replace(path)
        result.plots.append(Plot(path=path, metric=metric, x_axis=x_axis, group_by=group_by, title=title,
                                 series=series, xticks=xticks))
    return result


def _groups(rows: pd.DataFrame, cols: list[str]):
    if rows.empty:
        return []
    if not cols:
        return [((), rows)]
    keyed = rows.assign(**{f"_g{i}": rows[c].fillna("—").astype(str) for i, c in enumerate(cols)})
    keys = [f"_g{i}" for i in range(len(cols))]
    return [((k,) if not isinstance(k, tuple) else k, part) for k, part in keyed.groupby(keys, sort=False)]


def _points(part: pd.DataFrame, metric: str) -> dict:
    stats = part.groupby("_x")[metric].agg(["mean", "min", "max", "count"]).sort_index()
    return {"x": stats.index.tolist(), "mean": stats["mean"].tolist(), "low": stats["min"].tolist(),
            "high": stats["max"].tolist(), "n": [int(c) for c in stats["count"]]}


def _label(group_by: list[str], key: tuple) -> str:
    parts = [str(v) if g in _MODEL_KEYS else f"{g}={v}" for g, v in zip(group_by, key)]
    return " · ".join(parts) if parts else "all runs"


def _file_name(metric: str, x_axis: str, group_by: list[str], used: set[str]) -> str:
    def safe(text: str) -> str:
        return re.sub(r"[^A-Za-z0-9_.@=+-]+", "_", text)

    name = f"{safe(metric)}__vs__{safe(x_axis)}.png"
    if name in used:  # a second curves hook on the same metric and axis, grouped differently
        name = f"{safe(metric)}__vs__{safe(x_axis)}__by_{safe('_'.join(group_by))}.png"
    used.add(name)
    return name


def _metric_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c in ("accuracy", "macro_f1", "weighted_f1") or split_group_column(c)]


def _groupable(frame: pd.DataFrame) -> list[str]:
    skip = {"run_id", "accuracy", "macro_f1", "weighted_f1", "n_job", "n_train", "duration_s", "peak_rss_mb",
            "reason", "job_dir", "metrics_path", "confusion_matrix", "log_path", "overrides", "exit_code", "attempts"}
    return [c for c in frame.columns if c not in skip and not split_group_column(c)]
