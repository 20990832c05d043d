"""Command line for the classifier: train, evaluate and classify (`python -m intents` or `appeals`)."""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from intents import classifier, evaluation
from intents.classifier import DEFAULT_MODEL_PATH, Record
from intents.csvfile import open_csv

CORRECTION_WEIGHT = 3.0
_TEXT_COLUMNS = ("title", "body", "text")


class DataError(Exception):
    """A CSV or model file that cannot be used, with a message for the user."""


def read_records(path: str | Path, weight: float = 1.0) -> list[Record]:
    """Read labelled records from a UTF-8 CSV with label and title/body (or text) columns."""
    path = Path(path)
    with open_csv(path, DataError) as reader:
        columns = list(reader.fieldnames or [])
        if "label" not in columns:
            raise DataError(f"{path}: no 'label' column (found: {', '.join(columns)}) / 缺少 label 列")
        if not any(c in columns for c in _TEXT_COLUMNS):
            raise DataError(f"{path}: needs a 'title', 'body' or 'text' column / 缺少文本列")
        records = []
        for row in reader:
            title = (row.get("title") or "").strip()
            body = "\n".join(s for s in ((row.get("body") or "").strip(), (row.get("text") or "").strip()) if s)
            label = (row.get("label") or "").strip()
            if label and (title or body):
                records.append(Record(title, body, label, weight))
    if not records:
        raise DataError(f"{path}: no rows with both text and label / 没有可用的数据行")
    return records


def record_text(record: Record) -> str:
    """Join a record's title and body the way the classifier expects (title on the first line)."""
    return "\n".join(s for s in (record.title, record.body) if s)


def _load_model(path: str | Path) -> classifier.Model:
    try:
        return classifier.load(path)
    except FileNotFoundError:
        raise DataError(f"{path}: model file not found; run `train` first / 模型文件不存在") from None
    except (OSError, ValueError, KeyError) as exc:
        raise DataError(f"{path}: unreadable model file ({exc}) / 模型文件无法读取") from None


def _progress_printer() -> classifier.Progress:
    """Return a callback that prints training progress to stderr at every quarter of each stage."""
    last: dict[str, int] = {}

    def show(stage: str, fraction: float) -> None:
        step = int(fraction * 4 + 1e-9)
        if last.get(stage) != step:
            last[stage] = step
            print(f"[train] {stage} {step * 25}%", file=sys.stderr, flush=True)

    return show


def _split(records: list[Record], share: float, seed: int = 13) -> tuple[list[Record], list[Record]]:
    """Split records into (kept, held out) with no text on both sides."""
    texts = sorted({record_text(r) for r in records})
    random.Random(seed).shuffle(texts)
    held = set(texts[: max(1, round(len(texts) * share))])
    return [r for r in records if record_text(r) not in held], [r for r in records if record_text(r) in held]


def _accuracy(model: classifier.Model, records: list[Record]) -> float:
    if not records:
        return float("nan")
    predicted = model.predict_many([record_text(r) for r in records])
    return evaluation.accuracy([r.label for r in records], predicted)


def _check_corrections(base: list[Record], corrections: list[Record]) -> dict[str, float]:
    """Measure held-out accuracy without and with the corrections, on data neither model saw."""
    base_train, base_held = _split(base, 0.1)
    corr_train, corr_held = _split(corrections, 0.2)
    print("[train] held-out check: training without and with corrections", file=sys.stderr)
    before = classifier.train(base_train)
    after = classifier.train(base_train + corr_train)
    return {
        "corrections_before": _accuracy(before, corr_held),
        "corrections_after": _accuracy(after, corr_held),
        "base_before": _accuracy(before, base_held),
        "base_after": _accuracy(after, base_held),
        "corrections_held_out": len(corr_held),
        "base_held_out": len(base_held),
    }


def cmd_train(args: argparse.Namespace) -> int:
    """Train a model from CSV files and write it to --out."""
    records: list[Record] = []
    for path in args.csv:
        records += read_records(path)
    corrections = read_records(args.corrections, weight=args.correction_weight) if args.corrections else []
    started = time.perf_counter()
    check = None
    if corrections and not args.no_check:
        if len(corrections) >= 5 and len(records) >= 10:
            check = _check_corrections(records, corrections)
        else:
            print("[train] too few rows for a held-out check; skipped / 数据太少，跳过对比", file=sys.stderr)
    try:
        model = classifier.train(records + corrections, progress=_progress_printer())
    except ValueError as exc:
        raise DataError(f"cannot train: {exc} / 无法训练") from None
    out = model.save(args.out)
    summary = {
        "model": str(out),
        "bytes": out.stat().st_size,
        "records": len(records),
        "corrections": len(corrections),
        "labels": dict(sorted(Counter(r.label for r in records + corrections).items())),
        "seconds": round(time.perf_counter() - started, 2),
    }
    if check is not None:
        summary["held_out_accuracy"] = {k: round(v, 4) if isinstance(v, float) else v for k, v in check.items()}
    print(json.dumps(summary, ensure_ascii=False, indent=2))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Score a model on labelled CSV files and print one JSON object."""
    records: list[Record] = []
    for path in args.csv:
        records += read_records(path)
    model = _load_model(args.model)
    texts = [record_text(r) for r in records]
    model.predict_many(["预热 warm-up"])  # jieba's one-off start-up is not per-message cost
    started = time.perf_counter()
    proba = model.predict_proba_many(texts)
    elapsed = time.perf_counter() - started
    ranked = [[model.labels[i] for i in row.argsort()[::-1][:3]] for row in proba]
    result = evaluation.report([r.label for r in records], ranked)
    result["ms_per_message"] = round(1000 * elapsed / len(texts), 4)
    print(json.dumps(result, ensure_ascii=False))
    return 0


def cmd_classify(args: argparse.Namespace) -> int:
    """Print the top suggestions for one text."""
    text = " ".join(args.text).strip()
    if not text:
        raise DataError("empty text / 文本为空")
    suggestions = _load_model(args.model).suggest(text, limit=args.limit)
    if args.json:
        rows = [{"category": s.category, "score": round(s.score, 4), "evidence": list(s.evidence)} for s in suggestions]
        print(json.dumps(rows, ensure_ascii=False))
    else:
        for rank, s in enumerate(suggestions, 1):
            print(f"{rank}. {s.category}\t{s.score:.3f}\t{'、'.join(s.evidence)}")
    return 0


def _guarded(func):
    def run(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except DataError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2

    run.__doc__ = func.__doc__
    return run


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the train, evaluate and classify subcommands to an argparse subparsers object."""
    p = subparsers.add_parser("train", help="训练分类模型 / train the classifier")
    p.add_argument("--csv", action="append", required=True, metavar="FILE",
                   help="带 title, body, label 列的 UTF-8 CSV，可重复 / UTF-8 CSV with title, body, label; repeatable")
    p.add_argument("--out", default=str(DEFAULT_MODEL_PATH), metavar="PATH",
                   help="模型输出路径 / where to write the model file")
    p.add_argument("--corrections", metavar="FILE",
                   help="人工改派记录 CSV (text,label)，加权训练 / staff corrections CSV (text,label), weighted")
    p.add_argument("--correction-weight", type=float, default=CORRECTION_WEIGHT,
                   help="改派记录的权重 / weight of each correction")
    p.add_argument("--no-check", action="store_true",
                   help="跳过改派前后的留出对比 / skip the before/after held-out check")
    p.set_defaults(func=_guarded(cmd_train))

    p = subparsers.add_parser("evaluate", help="评估分类模型 / evaluate the classifier on labelled CSV")
    p.add_argument("--csv", action="append", required=True, metavar="FILE",
                   help="带 label 列的 UTF-8 CSV / UTF-8 CSV with a label column; repeatable")
    p.add_argument("--model", default=str(DEFAULT_MODEL_PATH), metavar="PATH", help="模型文件 / model file")
    p.set_defaults(func=_guarded(cmd_evaluate))

    p = subparsers.add_parser("classify", help="对一段文本分类 / suggest categories for a text")
    p.add_argument("text", nargs="+", help="诉求文本 / the message text")
    p.add_argument("--model", default=str(DEFAULT_MODEL_PATH), metavar="PATH", help="模型文件 / model file")
    p.add_argument("--limit", type=int, default=3, help="建议数量 / number of suggestions")
    p.add_argument("--json", action="store_true", help="输出 JSON / print JSON")
    p.set_defaults(func=_guarded(cmd_classify))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the classifier command line; return the exit code."""
    parser = argparse.ArgumentParser(prog="python -m intents", description="诉求分类 / appeal classifier")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))
