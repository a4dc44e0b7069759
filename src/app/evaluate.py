"""Stage evaluate: each trained model on a job split (its own dataset's, or `eval_dataset_id`'s)."""

import json
import logging
import shutil
from pathlib import Path

from omegaconf import DictConfig

from app.cache import is_complete, write_json
from app.errors import UserError
from app.metrics import compute_metrics, text_report
from app.models import SelectedModel, model_dir
from app.plots import plot_confusion_matrix
from app.prepared import PreparedData
from app.train import run_context

log = logging.getLogger(__name__)


def evaluate_models(
    cfg: DictConfig, prepared: PreparedData, eval_prepared: PreparedData, models: list[SelectedModel], run_dir: Path
) -> list[dict]:
    job = eval_prepared.read_split("job")
    eval_meta = eval_prepared.meta
    compare_by = list(cfg.analysis.compare_by)
    for field in compare_by:
        if field not in job.columns:
            raise UserError(f"analysis.compare_by names {field!r}, which is not a column of the job split "
                            f"(columns: {', '.join(c for c in job.columns if c != 'text')})")
    results = []
    for model in models:
        spec = model.spec
        folder = model_dir(cfg, prepared, model)
        if not is_complete(folder):
            raise UserError(
                f"no trained model {spec.family}/{spec.model_id} for this configuration (expected {folder}); "
                "run stage=train with the same settings first"
            )
        meta_model = json.loads((folder / "meta_model.json").read_text(encoding="utf-8"))
        out = run_dir / "reports" / spec.family / spec.model_id
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        try:
            result = _evaluate_one(cfg, prepared, eval_prepared, model, folder, meta_model, job, compare_by, out)
        except BaseException:
            shutil.rmtree(out, ignore_errors=True)  # no half-written report that looks finished
            raise
        results.append(result)
        log.info("%s/%s on %s: accuracy %.4f, macro-F1 %.4f", spec.family, spec.model_id,
                 eval_meta["dataset_id"], result["accuracy"], result["macro_f1"])
    return results


def ordered_labels(labels: set, order) -> list[str]:
    """The view's label_order first (those present), then the rest alphabetically."""
    first = [lab for lab in order if lab in labels]
    return first + sorted(labels - set(first))


def _evaluate_one(cfg, prepared, eval_prepared, model, folder, meta_model, job, compare_by, out: Path) -> dict:
    spec = model.spec
    ctx = run_context(cfg, prepared, spec.family)
    y_true = job["label"].tolist()
    y_pred = model.family.predict(spec, folder, job["text"].tolist(), ctx)
    labels = ordered_labels(set(prepared.meta["labels"]) | set(y_true), cfg.view.label_order)
    metrics = compute_metrics(y_true, y_pred, labels)
    train_id, eval_id = prepared.meta["dataset_id"], eval_prepared.meta["dataset_id"]
    metrics.update(
        family=spec.family, model_id=spec.model_id, dataset_id=train_id, eval_dataset_id=eval_id,
        view=prepared.meta["view"], n_train=meta_model.get("n_train"), n_job=len(job),
    )
    predictions = job[["doc_id", "corpus_id", "actor", "label"]].copy()
    predictions["predicted"] = y_pred
    predictions.to_csv(out / "predictions.tsv", sep="\t", index=False)
    (out / "classification_report.txt").write_text(
        f"{spec.family}/{spec.model_id} trained on {train_id}, evaluated on {eval_id} (view {prepared.meta['view']})\n\n"
        + text_report(y_true, y_pred, labels),
        encoding="utf-8",
    )
    cm = metrics["confusion_matrix"]
    plot_confusion_matrix(cm["matrix"], cm["labels"], out / "confusion_matrix.png",
                          f"{spec.model_id} — {train_id} → {eval_id}\nmacro-F1 {metrics['macro_f1']:.3f}")
    by_field_paths = {}
    for field in compare_by:
        groups = {}
        for value, idx in job.groupby(field).indices.items():
            groups[str(value)] = compute_metrics([y_true[i] for i in idx], [y_pred[i] for i in idx], labels)
        path = out / f"metrics_by_{field}.json"
        write_json(path, groups)
        by_field_paths[field] = str(path)
    write_json(
        out / "meta_eval.json",
        {
            "family": spec.family, "model_id": spec.model_id, "model_dir": str(folder),
            "dataset_id": train_id, "eval_dataset_id": eval_id,
            "cross_dataset": train_id != eval_id,
            "train_prepared_dir": str(prepared.dir), "eval_prepared_dir": str(eval_prepared.dir),
            "labels": labels, "n_job": len(job), "metrics_by": by_field_paths,
        },
    )
    write_json(out / "metrics.json", metrics)  # last: its presence means the report is complete
    return {
        "family": spec.family, "model_id": spec.model_id, "resource_class": model.family.resource_class,
        "metrics_path": str(out / "metrics.json"), "accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"],
        "weighted_f1": metrics["weighted_f1"], "n_job": len(job), "eval_dataset_id": eval_id,
    }
