"""Figures (matplotlib, Agg backend: no display on servers)."""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def plot_confusion_matrix(matrix: Sequence[Sequence[int]], labels: Sequence[str], path: Path, title: str) -> None:
    """Counts and row percentages (share of each true class), labels on both axes."""
    cm = np.asarray(matrix, dtype=float)
    row_sums = cm.sum(axis=1, keepdims=True)
    share = np.divide(cm, row_sums, out=np.zeros_like(cm), where=row_sums > 0)
    size = max(4.5, 0.9 * len(labels) + 2.5)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels=labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels=labels)
    ax.set_xlabel("predicted label")
    ax.set_ylabel("true label")
    ax.set_title(title, fontsize=10)
    for i in range(len(labels)):
        for j in range(len(labels)):
            colour = "white" if share[i, j] > 0.6 else "black"
            ax.text(j, i, f"{int(cm[i, j])}\n{share[i, j]:.0%}", ha="center", va="center", color=colour, fontsize=8)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of true class")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


@dataclass
class CurveSeries:
    """One line of a curve plot: a mean per x position and its spread (min–max over repeats)."""

    label: str
    x: list[float]
    mean: list[float]
    low: list[float]
    high: list[float]
    n: list[int] = field(default_factory=list)
    baseline: bool = False  # the majority-class model: drawn as a grey dashed line


_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")


def plot_metric_curves(series: Sequence[CurveSeries], path: Path, *, title: str, subtitle: str, xlabel: str,
                       ylabel: str, xticks: tuple[Sequence[float], Sequence[str]] | None = None,
                       unit_interval: bool = True) -> None:
    """Mean per x as a line with markers, the min–max spread as a shaded band and error bars; the
    majority-class baseline as grey dashed lines. `xticks` (positions, labels) marks a categorical
    axis: its lines are then dodged sideways so that markers and error bars do not hide each other.
    A baseline far below the models is named in the legend rather than squashing their scale."""
    models = [s for s in series if not s.baseline]
    baselines = [s for s in series if s.baseline]
    n_points = sum(len(s.x) for s in models)
    label_points = n_points <= 16 and len(models) <= 4
    dodge = 0.06 if xticks is not None and len(models) > 1 else 0.0

    model_values = [v for s in models for v in (*s.low, *s.high)]
    low = min(model_values, default=0.0)
    high = max(model_values, default=1.0)
    span = max(high - low, 0.05)
    far = [s for s in baselines if max(s.high) < low - 1.5 * span]  # would take most of the height
    near = [s for s in baselines if s not in far]
    for s in near:
        low, high = min(low, *s.low), max(high, *s.high)

    legend_rows = -(-len(series) // 2)
    fig, ax = plt.subplots(figsize=(8.5, 5.0 + 0.22 * legend_rows))
    colours = plt.get_cmap("tab10").colors
    for i, s in enumerate(models):
        colour = colours[i % len(colours)]
        xs = [x + dodge * (i - (len(models) - 1) / 2) for x in s.x]
        ax.plot(xs, s.mean, marker=_MARKERS[i % len(_MARKERS)], markersize=7, linewidth=2, color=colour,
                label=s.label, zorder=3)
        if any(h > lo for lo, h in zip(s.low, s.high)):
            if len(xs) > 1:
                ax.fill_between(xs, s.low, s.high, color=colour, alpha=0.13, linewidth=0, zorder=1)
            ax.errorbar(xs, s.mean, yerr=[[m - lo for m, lo in zip(s.mean, s.low)],
                                          [h - m for m, h in zip(s.mean, s.high)]],
                        fmt="none", ecolor=colour, elinewidth=1, capsize=4, alpha=0.75, zorder=2)
        if label_points:  # the mean beside its marker: left of the left-dodged line, right otherwise
            left = dodge and i < (len(models) - 1) / 2
            for x, m in zip(xs, s.mean):
                ax.annotate(f"{m:.3f}", (x, m), textcoords="offset points", xytext=(-7 if left else 7, 0),
                            ha="right" if left else "left", va="center", fontsize=8, color=colour,
                            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.7})
    for j, s in enumerate(near):
        ax.plot(s.x, s.mean, linestyle="--", linewidth=1.3, color="0.45", marker="." if len(s.x) == 1 else None,
                label=s.label, zorder=2, alpha=0.9 if j == 0 else 0.6)
    for s in far:
        ax.plot([], [], linestyle="--", linewidth=1.3, color="0.45",
                label=f"{s.label}: {min(s.low):.3f}–{max(s.high):.3f} (below the plot)")

    pad = max(0.02, 0.12 * (high - low))
    bottom, top = low - pad, high + pad * (2.2 if label_points else 1)
    if unit_interval:
        bottom, top = max(0.0, bottom), min(1.0 + pad, top)
    ax.set_ylim(bottom, top)
    if xticks is not None:
        positions, labels = list(xticks[0]), [str(x) for x in xticks[1]]
        ax.set_xticks(positions, labels=labels, rotation=20 if max(map(len, labels), default=0) > 12 else 0)
        ax.set_xlim(min(positions) - 0.5, max(positions) + 0.5)
    else:
        xs_all = sorted({x for s in series for x in s.x})
        ax.set_xticks(xs_all)
        width = (xs_all[-1] - xs_all[0]) or max(abs(xs_all[0]), 1.0)
        ax.set_xlim(xs_all[0] - 0.08 * width, xs_all[-1] + 0.08 * width)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)
    fig.suptitle(title, fontsize=13, fontweight="bold", x=0.02, ha="left")
    ax.set_title(subtitle, fontsize=8.5, color="0.35", loc="left")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2 if len(series) > 1 else 1, fontsize=8.5,
              frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
