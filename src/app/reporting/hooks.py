"""`analysis_hooks.after_experiment` (V5.5 §9): what is built at the end of a sweep.

    analysis_hooks:
      after_experiment:
        - type: curves
          metrics: [accuracy, macro_f1]     # any numeric column of metrics_global.tsv
          x_axis: train_prop                # an axis of the grid (override key)
          group_by: [family, dataset_id]    # columns of metrics_global.tsv; one line per group
          baseline: true                    # the majority-class `check` model as a dashed line
        - type: report_markdown
          path: report.md                   # relative to the sweep folder

Per-group metrics are columns too (`macro_f1@corpus_id=web1`); on the command line quote such a name:
`'analysis_hooks.after_experiment=[{type:curves,metrics:["macro_f1@corpus_id=web1"],x_axis:balance}]'`.

`metrics_global.tsv` is always written. null (a plain `-m` on the command line) means the defaults:
one macro-F1 curve along the first axis, grouped by the other axes and the model, and report.md.
"""

from dataclasses import dataclass, field
from typing import Any

from app.errors import UserError

DEFAULT_REPORT = "report.md"


@dataclass
class CurvesHook:
    metrics: list[str] = field(default_factory=lambda: ["macro_f1"])
    x_axis: str | None = None  # None: the grid's first axis
    group_by: list[str] | None = None  # None: the other axes and the model
    baseline: bool = True  # the majority-class `check` model as a dashed line
    type: str = "curves"


@dataclass
class ReportHook:
    path: str = DEFAULT_REPORT
    type: str = "report_markdown"


Hook = CurvesHook | ReportHook
_KEYS = {"curves": {"type", "metrics", "x_axis", "group_by", "baseline"}, "report_markdown": {"type", "path"}}


def default_hooks() -> list[Hook]:
    return [CurvesHook(), ReportHook()]


def parse_hooks(raw: Any) -> tuple[list[Hook], list[str]]:
    """Hooks and the problems found; a broken hook is left out, the others still run."""
    if raw is None:
        return default_hooks(), []
    if not isinstance(raw, (list, tuple)):
        return [], [f"analysis_hooks.after_experiment must be a list of hooks, got {type(raw).__name__}"]
    hooks: list[Hook] = []
    errors: list[str] = []
    for index, entry in enumerate(raw):
        where = f"analysis_hooks.after_experiment[{index}]"
        if not isinstance(entry, dict) or "type" not in entry:
            errors.append(f"{where} must be a mapping with a `type` (curves or report_markdown), got {entry!r}")
            continue
        kind = entry["type"]
        if kind not in _KEYS:
            errors.append(f"{where}: unknown hook type {kind!r}; known types: {', '.join(_KEYS)}")
            continue
        unknown = set(entry) - _KEYS[kind]
        if unknown:
            errors.append(f"{where} ({kind}): unknown key(s) {', '.join(sorted(map(str, unknown)))}; "
                          f"expected {', '.join(sorted(_KEYS[kind] - {'type'}))}")
            continue
        try:
            if kind == "curves":
                hooks.append(CurvesHook(
                    metrics=_str_list(entry.get("metrics", ["macro_f1"]), f"{where}.metrics") or ["macro_f1"],
                    x_axis=None if entry.get("x_axis") is None else str(entry["x_axis"]),
                    group_by=None if entry.get("group_by") is None else _str_list(entry["group_by"], f"{where}.group_by"),
                    baseline=bool(entry.get("baseline", True)),
                ))
            else:
                path = entry.get("path") or DEFAULT_REPORT
                hooks.append(ReportHook(path=str(path)))
        except UserError as err:
            errors.append(str(err))
    return hooks, errors


def _str_list(value: Any, where: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)) and all(isinstance(v, (str, int, float)) for v in value):
        return [str(v) for v in value]
    raise UserError(f"{where} must be a name or a list of names, got {value!r}")


def match_axis(name: str, axes: list[str]) -> str | None:
    """`name` as an axis of the grid: exact, else case-insensitive (V5.5 wrote TRAIN_PROP), else a
    group-override key given with its leading '+'."""
    if name in axes:
        return name
    lowered = {a.lower(): a for a in axes}
    return lowered.get(name.lstrip("+~").lower())


def x_axis_error(hook: CurvesHook, axes: list[str]) -> str | None:
    if hook.x_axis is None or match_axis(hook.x_axis, axes) is not None:
        return None
    listed = ", ".join(axes) if axes else "none: this sweep has no axis"
    return f"curves hook: x_axis {hook.x_axis!r} is not an axis of this sweep (axes: {listed})"


def hooks_from_config(cfg) -> Any:
    """The raw `analysis_hooks.after_experiment` of a composed config, resolved to plain lists/dicts."""
    from omegaconf import OmegaConf

    node = OmegaConf.select(cfg, "analysis_hooks.after_experiment", default=None)
    if node is None:
        return None
    return OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node
