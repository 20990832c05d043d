"""Classification metrics computed by hand: accuracy, per-label precision/recall/F1, macro-F1, top-k."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class LabelScores:
    """Precision, recall, F1 and support of one label."""

    precision: float
    recall: float
    f1: float
    support: int


def accuracy(y_true: Sequence[str], y_pred: Sequence[str]) -> float:
    """Return the share of predictions equal to the truth (0.0 for no items)."""
    _check(y_true, y_pred)
    return sum(t == p for t, p in zip(y_true, y_pred, strict=True)) / len(y_true) if y_true else 0.0


def top_k_accuracy(y_true: Sequence[str], ranked: Sequence[Sequence[str]], k: int = 3) -> float:
    """Return the share of items whose truth is among the first k ranked labels."""
    _check(y_true, ranked)
    return sum(t in list(r)[:k] for t, r in zip(y_true, ranked, strict=True)) / len(y_true) if y_true else 0.0


def per_label(
    y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str] | None = None
) -> dict[str, LabelScores]:
    """Return precision, recall, F1 and support for every label (0.0 where undefined)."""
    _check(y_true, y_pred)
    names = list(labels) if labels is not None else sorted(set(y_true) | set(y_pred))
    out: dict[str, LabelScores] = {}
    for name in names:
        tp = sum(t == name and p == name for t, p in zip(y_true, y_pred, strict=True))
        predicted = sum(p == name for p in y_pred)
        support = sum(t == name for t in y_true)
        precision = tp / predicted if predicted else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out[name] = LabelScores(precision, recall, f1, support)
    return out


def macro_f1(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str] | None = None) -> float:
    """Return the unweighted mean F1 over labels (all labels seen in truth or prediction by default)."""
    scores = per_label(y_true, y_pred, labels)
    return sum(s.f1 for s in scores.values()) / len(scores) if scores else 0.0


def report(
    y_true: Sequence[str],
    ranked: Sequence[Sequence[str]],
    labels: Sequence[str] | None = None,
) -> dict:
    """Return n, accuracy, macro_f1, top3_accuracy and per_label as one JSON-ready dict."""
    y_pred = [r[0] if r else "" for r in ranked]
    names = labels if labels is not None else sorted(set(y_true) | set(y_pred))
    scores = per_label(y_true, y_pred, names)
    return {
        "n": len(y_true),
        "accuracy": accuracy(y_true, y_pred),
        "macro_f1": sum(s.f1 for s in scores.values()) / len(scores) if scores else 0.0,
        "top3_accuracy": top_k_accuracy(y_true, ranked, 3),
        "per_label": {
            name: {"precision": s.precision, "recall": s.recall, "f1": s.f1, "support": s.support}
            for name, s in scores.items()
        },
    }


def _check(a: Sequence, b: Sequence) -> None:
    if len(a) != len(b):
        raise ValueError(f"length mismatch: {len(a)} truths, {len(b)} predictions")
