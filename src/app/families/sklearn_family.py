"""Family `sklearn`: TF-IDF (word or char n-grams) + a linear classifier, as one Pipeline."""

from pathlib import Path

from app.errors import UserError
from app.families.base import Family, ModelSpec, RunContext, cap_train
from app.prepared import PreparedData

CLASSIFIERS = ("linear_svc", "logreg")
VECTORIZERS = ("word", "char", "char_wb")


class SklearnFamily(Family):
    name = "sklearn"
    resource_class = "light"

    def validate(self, spec: ModelSpec) -> None:
        p = spec.params
        if p.get("classifier", "linear_svc") not in CLASSIFIERS:
            raise UserError(f"models.{spec.model_id}.params.classifier={p.get('classifier')!r}: use {CLASSIFIERS}")
        if p.get("vectorizer", "word") not in VECTORIZERS:
            raise UserError(f"models.{spec.model_id}.params.vectorizer={p.get('vectorizer')!r}: use {VECTORIZERS}")

    def build(self, spec: ModelSpec, ctx: RunContext):
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import Pipeline
        from sklearn.svm import LinearSVC

        p = spec.params
        analyzer = p.get("vectorizer", "word")
        vectorizer = TfidfVectorizer(
            analyzer=analyzer,
            ngram_range=tuple(p.get("ngram_range", (1, 2))),
            min_df=p.get("min_df", 1),
            max_features=p.get("max_features"),
            sublinear_tf=p.get("sublinear_tf", True),
            lowercase=True,
        )
        # balance=class_weights: resampling is left out at prepare time, the loss is weighted here
        weights = ctx.class_weights if ctx.balance_strategy == "class_weights" else None
        if p.get("classifier", "linear_svc") == "linear_svc":
            clf = LinearSVC(C=p.get("C", 1.0), class_weight=weights, random_state=ctx.seed)
        else:
            clf = LogisticRegression(
                C=p.get("C", 1.0), class_weight=weights, max_iter=p.get("max_iter", 1000), random_state=ctx.seed
            )
        return Pipeline([("tfidf", vectorizer), ("clf", clf)])

    def train(self, spec: ModelSpec, data: PreparedData, out_dir: Path, ctx: RunContext) -> dict:
        import joblib
        from threadpoolctl import threadpool_limits

        train = cap_train(data.read_split("train"), ctx.max_train_docs, ctx.seed)
        pipeline = self.build(spec, ctx)
        with threadpool_limits(ctx.threads):
            pipeline.fit(train["text"].tolist(), train["label"].tolist())
        joblib.dump(pipeline, out_dir / "pipeline.joblib")
        return {"n_train": int(len(train)), "n_features": int(len(pipeline.named_steps["tfidf"].vocabulary_))}

    def predict(self, spec: ModelSpec, model_dir: Path, texts: list[str], ctx: RunContext) -> list[str]:
        import joblib

        pipeline = joblib.load(model_dir / "pipeline.joblib")
        return [str(y) for y in pipeline.predict(texts)]
