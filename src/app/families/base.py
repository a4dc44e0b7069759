"""The one interface every model family implements, and what a family is given to work with."""

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.prepared import PreparedData

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class ModelSpec:
    model_id: str
    family: str
    params: dict[str, Any]
    description: str = ""


@dataclass
class RunContext:
    seed: int
    threads: int
    max_train_docs: int | None
    balance_strategy: str
    class_weights: dict[str, float] | None
    labels: list[str]
    progress: bool = True
    cfg: Any = None  # the composed config, for families that need more (e.g. formats settings)
    extra: dict = field(default_factory=dict)


class Family:
    name: str = ""
    resource_class: str = "light"  # "light" | "heavy": read by the orchestrator's budget
    formats: tuple[str, ...] = ()  # prepared formats needed besides the TSVs
    reports_progress: bool = False  # True when training shows its own progress (spaCy, Trainer)

    def validate(self, spec: ModelSpec) -> None:
        """Raise UserError for a bad preset before anything is trained."""

    def train(self, spec: ModelSpec, data: PreparedData, out_dir: Path, ctx: RunContext) -> dict:
        """Train into out_dir; return extra facts for meta_model.json (e.g. n_train)."""
        raise NotImplementedError

    def predict(self, spec: ModelSpec, model_dir: Path, texts: list[str], ctx: RunContext) -> list[str]:
        raise NotImplementedError


def cap_train(df: "pd.DataFrame", cap: int | None, seed: int) -> "pd.DataFrame":
    """`hardware.max_train_docs_<family>`: a stratified subsample of the train split."""
    if not cap or len(df) <= cap:
        return df
    from sklearn.model_selection import train_test_split  # not at import: `stage=prepare` needs no sklearn

    counts = df["label"].value_counts()
    stratify = df["label"] if counts.min() >= 2 and cap >= len(counts) else None
    kept, _ = train_test_split(df, train_size=int(cap), stratify=stratify, random_state=seed)
    return kept.sort_index()
