"""`metrics_global.tsv`: one row per run × model, readable with `pandas.read_csv(path, sep="\\t")`.

Columns, left to right: run id and status; one column per axis of the grid (named by its override
key); seed, repeat, dataset, evaluation dataset, view and the other run settings; family and model;
the headline metrics copied from each model's metrics.json; `beats_baseline` (macro-F1 above the
run's majority-class `check` model); per-group metrics flattened as `macro_f1@corpus_id=web1`;
duration, peak RSS, quality flags, the reason a run did not succeed; paths relative to the sweep folder.
"""

import os
import re
from pathlib import Path

import pandas as pd

from app.reporting.collect import HEADLINE_METRICS, Sweep, axis_column

TABLE_NAME = "metrics_global.tsv"
RUN_FIELDS = ["seed", "repeat", "dataset_id", "eval_dataset_id", "view", "balance", "train_prop",
              "split_group_by", "stage"]
MODEL_FIELDS = ["family", "model_id", *HEADLINE_METRICS, "n_job", "n_train", "beats_baseline"]
TAIL_FIELDS = ["duration_s", "peak_rss_mb", "exit_code", "attempts", "quality_ok", "quality_flags", "reason",
               "job_dir", "metrics_path", "confusion_matrix", "log_path", "overrides"]
_GROUP_COLUMN = re.compile(r"^(?P<metric>[^@]+)@(?P<field>[^=]+)=(?P<value>.*)$")
_GROUP_METRIC_ORDER = {"accuracy": 1, "macro_f1": 0, "weighted_f1": 2, "n": 3}


def build_table(sweep: Sweep, rows: list[dict]) -> pd.DataFrame:
    axis_cols = [axis_column(a) for a in sweep.axes]
    present = set().union(*(r.keys() for r in rows)) if rows else set()
    group_cols = sorted((c for c in present if _GROUP_COLUMN.match(c)), key=_group_sort_key)
    columns = ["run_id", "status", *axis_cols]
    columns += [c for c in RUN_FIELDS if c not in columns]
    columns += [f"{c}_effective" for c in RUN_FIELDS if f"{c}_effective" in present]  # see collect_rows
    columns += MODEL_FIELDS + group_cols + TAIL_FIELDS
    extra = sorted(present - set(columns))
    frame = pd.DataFrame(rows, columns=columns + extra)
    numeric = {*HEADLINE_METRICS, "n_job", "n_train", "duration_s", "peak_rss_mb", *group_cols}
    for col in frame.columns:
        if col in numeric:
            frame[col] = pd.to_numeric(frame[col], errors="coerce")
        elif frame[col].dtype == object:
            frame[col] = frame[col].map(_clean_cell)
    return frame


def write_table(frame: pd.DataFrame, path: Path) -> Path:
    """Atomically: a reader (or a second report build) never sees half a table."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    frame.to_csv(tmp, sep="\t", index=False)
    os.replace(tmp, path)
    return path


def group_columns(frame: pd.DataFrame) -> dict[str, dict[str, list[str]]]:
    """{field: {metric: [columns in value order]}} for the flattened per-group metrics."""
    out: dict[str, dict[str, list[str]]] = {}
    for col in frame.columns:
        match = _GROUP_COLUMN.match(col)
        if match:
            out.setdefault(match["field"], {}).setdefault(match["metric"], []).append(col)
    return out


def split_group_column(col: str) -> tuple[str, str, str] | None:
    match = _GROUP_COLUMN.match(col)
    return (match["metric"], match["field"], match["value"]) if match else None


def _group_sort_key(col: str):
    match = _GROUP_COLUMN.match(col)
    return (match["field"], _GROUP_METRIC_ORDER.get(match["metric"], 9), match["metric"], match["value"])


def _clean_cell(value):
    """No tab or line break inside a cell: the file stays one line per row for grep and cut too."""
    if isinstance(value, str):
        return " ".join(value.split())
    return value
