"""Structured configs: the schema every composed config is checked against.

Registered in Hydra's ConfigStore as `ideolab_schema` and placed first in `conf/config.yaml`'s
defaults, so a misspelt key (`trian_prop=0.7`) or a wrong type (`seed=abc`) fails at composition,
before any work starts.  Family-specific model settings live in `models.<id>.params` (a free dict
that each family validates itself), since one schema cannot know every family's knobs.
"""

from dataclasses import dataclass
from dataclasses import field as _field  # "field" is also a view-rule key
from typing import Any, Dict, List, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, OmegaConf

from app.paths import project_root

# `${ideolab_root:}` is the repo (or IDEOLAB_CONF's parent): configs locate the demo corpora and the
# cache from it, so runs work from any working directory.
if not OmegaConf.has_resolver("ideolab_root"):
    OmegaConf.register_new_resolver("ideolab_root", lambda: str(project_root()))


@dataclass
class PathsConfig:
    root: str = "${ideolab_root:}"
    # where the real corpora live; IDEOLAB_DATA_ROOT points it at a user's own copy
    data_root: str = "${oc.env:IDEOLAB_DATA_ROOT,${paths.root}/../shared/data}"
    # prepared data and trained models, keyed by content (see app/fingerprint.py)
    cache_dir: str = "${oc.env:IDEOLAB_CACHE,${paths.root}/cache}"


@dataclass
class CorpusConfig:
    id: str = MISSING
    reader: str = MISSING  # web | turns | parlamint
    path: str = MISSING  # a file or a folder
    glob: str = "*.xml"
    language: str = "fr"
    actor_field: str = "actor"
    fields: Dict[str, str] = _field(default_factory=dict)
    options: Dict[str, Any] = _field(default_factory=dict)
    description: str = ""


@dataclass
class ViewRule:
    field: str = "actor"  # document field (or "actor") whose value is mapped to a label
    map: Dict[str, str] = _field(default_factory=dict)
    keep: Dict[str, List[str]] = _field(default_factory=dict)  # field -> allowed values
    min_words: Optional[int] = None  # overrides the view's min_words for this corpus


@dataclass
class ViewConfig:
    name: str = MISSING
    min_words: int = 0
    rules: Dict[str, ViewRule] = _field(default_factory=dict)  # corpus id (or "default") -> rule
    # order of the classes in reports and plots (e.g. far_left … far_right); others follow alphabetically
    label_order: List[str] = _field(default_factory=list)
    description: str = ""


@dataclass
class DataConfig:
    corpus_ids: List[str] = MISSING
    merge_mode: str = "single"  # single | merged | juxtaposed | separate
    source_field: str = "corpus_id"


@dataclass
class AnalysisConfig:
    compare_by: List[str] = _field(default_factory=list)


@dataclass
class SplitConfig:
    # keep every value of this field (e.g. "actor") on one side of the split
    group_by: Optional[str] = None
    # exact duplicate texts are kept on one side (leakage otherwise)
    dedup_exact: bool = True


@dataclass
class BalanceConfig:
    strategy: str = "none"  # none|oversample|undersample|cap_docs|cap_tokens|alpha_total|class_weights
    cap_docs: Optional[int] = None
    cap_tokens: Optional[int] = None
    alpha: float = 0.5
    total: Optional[int] = None  # alpha_total: size of the balanced train split (default: unchanged)


@dataclass
class HardwareConfig:
    name: str = "small"
    threads: int = 2
    max_train_docs_check: Optional[int] = None
    max_train_docs_sklearn: Optional[int] = None
    max_train_docs_spacy: Optional[int] = None
    max_train_docs_hf: Optional[int] = None


@dataclass
class ModelConfig:
    family: str = MISSING
    description: str = ""
    params: Dict[str, Any] = _field(default_factory=dict)


@dataclass
class ModelOverrides:
    """`model.<key>=…` on the command line: applied to every selected model's params."""

    path: Optional[str] = None
    max_length: Optional[int] = None
    epochs: Optional[float] = None
    batch_size: Optional[int] = None
    learning_rate: Optional[float] = None


@dataclass
class IdeologyConfig:
    reference: str = "${paths.root}/conf/ideology/ideology.yaml"
    actors: Optional[str] = None
    out_dir: Optional[str] = None


@dataclass
class ReportConfig:
    sweep_dir: Optional[str] = None


@dataclass
class AnalysisHooksConfig:
    """V5.5 `analysis_hooks`: what the sweep callbacks build at the end of a grid.

    `after_experiment` is a list of hooks such as `{type: curves, metrics: [...], x_axis: ..., group_by: [...]}`
    or `{type: report_markdown, path: report.md}`; null means the defaults (table, one macro-F1 curve
    along the first axis, report).
    """

    after_experiment: Optional[List[Dict[str, Any]]] = None


@dataclass
class IdeolabConfig:
    stage: str = "pipeline"  # prepare | train | evaluate | pipeline | skeleton | derive_views | report
    dataset_id: str = MISSING
    eval_dataset_id: Optional[str] = None
    train_prop: float = 0.8
    seed: int = 42
    repeat: int = 0  # set by the orchestrator for repeated runs; part of no fingerprint
    progress: bool = True
    paths: PathsConfig = _field(default_factory=PathsConfig)
    data: DataConfig = _field(default_factory=DataConfig)
    analysis: AnalysisConfig = _field(default_factory=AnalysisConfig)
    corpora: Dict[str, CorpusConfig] = _field(default_factory=dict)
    view: ViewConfig = _field(default_factory=ViewConfig)
    split: SplitConfig = _field(default_factory=SplitConfig)
    balance: BalanceConfig = _field(default_factory=BalanceConfig)
    hardware: HardwareConfig = _field(default_factory=HardwareConfig)
    models: Dict[str, ModelConfig] = _field(default_factory=dict)
    model: ModelOverrides = _field(default_factory=ModelOverrides)
    ideology: IdeologyConfig = _field(default_factory=IdeologyConfig)
    report: ReportConfig = _field(default_factory=ReportConfig)
    analysis_hooks: AnalysisHooksConfig = _field(default_factory=AnalysisHooksConfig)


def register_configs() -> None:
    cs = ConfigStore.instance()
    cs.store(name="ideolab_schema", node=IdeolabConfig)


register_configs()
