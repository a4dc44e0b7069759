"""Step 2 — label: a view maps each document to a class, or drops it and says why."""

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Mapping

from app.documents import Document


@dataclass
class LabelStats:
    kept: int = 0
    kept_by_label: Counter = field(default_factory=Counter)
    dropped: Counter = field(default_factory=Counter)  # reason -> count
    unmapped_values: Counter = field(default_factory=Counter)  # "field=value" -> count

    @classmethod
    def merged(cls, parts) -> "LabelStats":
        total = cls()
        for part in parts:
            total.kept += part.kept
            total.kept_by_label.update(part.kept_by_label)
            total.dropped.update(part.dropped)
            total.unmapped_values.update(part.unmapped_values)
        return total

    def as_dict(self) -> dict[str, Any]:
        return {
            "kept": self.kept,
            "kept_by_label": dict(sorted(self.kept_by_label.items())),
            "dropped": dict(sorted(self.dropped.items())),
            "dropped_total": sum(self.dropped.values()),
            # the most frequent values that no rule maps: where a researcher looks to extend a view
            "unmapped_values_top": dict(self.unmapped_values.most_common(25)),
        }


class ViewLabeler:
    """Applies one view (conf/view/*.yaml) to documents of any corpus."""

    def __init__(self, view_cfg: Mapping[str, Any]):
        self.name = view_cfg["name"]
        self.min_words = int(view_cfg.get("min_words") or 0)
        self.rules = {k: _plain(v) for k, v in (view_cfg.get("rules") or {}).items()}
        self.stats = LabelStats()

    def rule_for(self, corpus_id: str) -> dict | None:
        return self.rules.get(corpus_id) or self.rules.get("default")

    def label(self, doc: Document, n_words: int | None = None) -> str | None:
        """The document's label, or None (and the reason counted) when the view drops it."""
        rule = self.rule_for(doc.corpus_id)
        if rule is None:
            return self._drop("no_rule_for_corpus")
        for key, allowed in (rule.get("keep") or {}).items():
            if _value(doc, key) not in set(allowed):
                return self._drop(f"filtered_{key}")
        min_words = self.min_words if rule.get("min_words") is None else int(rule["min_words"])
        if min_words and (count_words(doc.text) if n_words is None else n_words) < min_words:
            return self._drop("too_short")
        source = rule.get("field", "actor")
        value = _value(doc, source)
        if not value:
            return self._drop(f"no_{source}")
        label = (rule.get("map") or {}).get(value)
        if label is None:
            self.stats.unmapped_values[f"{source}={value}"] += 1
            return self._drop("unmapped")
        self.stats.kept += 1
        self.stats.kept_by_label[label] += 1
        return label

    def _drop(self, reason: str) -> None:
        self.stats.dropped[reason] += 1
        return None


def count_words(text: str) -> int:
    """Whitespace tokens.  Readers collapse whitespace to single spaces, so counting spaces is exact
    there and an order of magnitude faster than split() on long texts; anything else is split."""
    if not text:
        return 0
    if "  " in text or "\n" in text or "\t" in text or text[0] == " " or text[-1] == " ":
        return len(text.split())
    return text.count(" ") + 1


def _value(doc: Document, key: str) -> str | None:
    if key == "actor":
        return doc.actor
    if key == "corpus_id":
        return doc.corpus_id
    return doc.fields.get(key)


def _plain(rule: Any) -> dict:
    try:
        from omegaconf import OmegaConf

        if OmegaConf.is_config(rule):
            return OmegaConf.to_container(rule, resolve=True)
    except ImportError:  # pragma: no cover
        pass
    return dict(rule)
