"""Benchmark the category classifier against a TF-IDF + LinearSVC baseline on one honest split.

Usage: .venv/bin/python bench/classifier.py [--data ../shared/data] [--test-share 0.2] [--seed 0]

Test messages are whole messages of train.csv, grouped so that messages sharing a title or a body
fall on one side; every title or body of a test message is also removed from train_titles.csv and
train_bodies.csv, so no text is on both sides. Both models train on the same rows and are scored
on the same messages. The last line printed is one JSON object with all figures.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("OMP_NUM_THREADS", "1")  # single-threaded figures
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from scipy.sparse import hstack  # noqa: E402
from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: E402
from sklearn.svm import LinearSVC  # noqa: E402

from intents import classifier, evaluation  # noqa: E402
from intents.classifier import Record  # noqa: E402
from intents.tokenize import cut  # noqa: E402

_SPACE = re.compile(r"\s+")


def read(path: Path) -> list[dict[str, str]]:
    """Read a UTF-8 CSV into row dicts."""
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def squeeze(text: str | None) -> str:
    """Drop whitespace, as upstream did for the titles and bodies files."""
    return _SPACE.sub("", text or "")


def split(data: Path, share: float, seed: int) -> tuple[list[Record], list[Record]]:
    """Return (train, test): grouped test messages from train.csv, no shared text with train."""
    full = [Record(squeeze(r["title"]), squeeze(r["body"]), r["label"]) for r in read(data / "train.csv")]
    parent = list(range(len(full)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first: dict[tuple[str, str], int] = {}
    for i, r in enumerate(full):
        for key in (("t", r.title), ("b", r.body)):
            if key[1]:
                parent[root(i)] = root(first.setdefault(key, i))
    groups = sorted({root(i) for i in range(len(full))})
    random.Random(seed).shuffle(groups)
    held = set(groups[: round(len(groups) * share)])
    test = [r for i, r in enumerate(full) if root(i) in held]
    seen = {t for r in test for t in (r.title, r.body) if t}
    train = [r for i, r in enumerate(full) if root(i) not in held]
    train += [Record(t, "", row["label"]) for row in read(data / "train_titles.csv")
              if (t := squeeze(row["title"])) and t not in seen]
    train += [Record("", b, row["label"]) for row in read(data / "train_bodies.csv")
              if (b := squeeze(row["body"])) and b not in seen]
    return train, test


def text_of(r: Record) -> str:
    """Join title and body as callers do: title on the first line."""
    return "\n".join(s for s in (r.title, r.body) if s)


def baseline(train: list[Record], test: list[Record]) -> tuple[float, float]:
    """Fit jieba word 1-2 + char 1-3 TF-IDF with LinearSVC; return (macro-F1, seconds)."""
    start = time.perf_counter()
    words = TfidfVectorizer(analyzer=lambda s: (t := cut(s)) + [a + b for a, b in zip(t, t[1:], strict=False)],
                            sublinear_tf=True)
    chars = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True)
    texts = [r.title + r.body for r in train]
    x = hstack([words.fit_transform(texts), chars.fit_transform(texts)]).tocsr()
    svm = LinearSVC().fit(x, [r.label for r in train])
    seconds = time.perf_counter() - start
    tests = [r.title + r.body for r in test]
    predicted = svm.predict(hstack([words.transform(tests), chars.transform(tests)]).tocsr())
    return evaluation.macro_f1([r.label for r in test], list(predicted)), seconds


def cold_load(path: Path) -> float:
    """Return seconds for a fresh interpreter to import intents.classifier and load a model."""
    code = "import time; t = time.perf_counter(); from intents import classifier; " \
           f"classifier.load({str(path)!r}); print(time.perf_counter() - t)"
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    return float(done.stdout.strip())


def similar_ms(n: int) -> float | None:
    """Return the median query ms of intents.similar over n synthetic cases, or None if absent."""
    try:
        from intents.similar import build_synthetic_index, synthetic_appeals
    except ImportError:
        return None
    index = build_synthetic_index(n, now=datetime(2026, 11, 26, tzinfo=UTC))
    rng = random.Random(3)
    queries = [text for _, text, _, _ in synthetic_appeals(200, seed=99)]
    latencies = []
    for text in queries:
        t0 = time.perf_counter()
        index.query(text[: rng.randrange(20, 200)] if rng.random() < 0.5 else text)
        latencies.append((time.perf_counter() - t0) * 1000)
    return round(statistics.median(latencies), 2)


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--test-share", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--similar-cases", type=int, default=100_000)
    args = parser.parse_args()
    cut("预热分词器")  # jieba's one-off start-up is not part of any figure

    train, test = split(args.data, args.test_share, args.seed)
    print(f"split: {len(train)} training rows, {len(test)} held-out whole messages", file=sys.stderr)
    start = time.perf_counter()
    model = classifier.train(train)
    train_s = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        path = model.save(Path(tmp) / "m.npz")
        size = path.stat().st_size
        start = time.perf_counter()
        model = classifier.read_model(path)
        load_s = time.perf_counter() - start
        cold_load_s = cold_load(path)

    texts = [text_of(r) for r in test]
    truth = [r.label for r in test]
    model.predict_many(texts[:5])
    start, cpu = time.perf_counter(), time.process_time()
    proba = model.predict_proba_many(texts)
    predict_s, predict_cpu = time.perf_counter() - start, time.process_time() - cpu
    ranked = [[model.labels[i] for i in row.argsort()[::-1]] for row in proba]
    ours = evaluation.report(truth, ranked)
    base_f1, base_s = baseline(train, test)
    sim = similar_ms(args.similar_cases)

    print(f"ours:     macro-F1 {ours['macro_f1']:.4f}  accuracy {ours['accuracy']:.4f}  "
          f"top-3 {ours['top3_accuracy']:.4f}  train {train_s:.1f} s  model {size / 1e6:.2f} MB")
    print(f"baseline: macro-F1 {base_f1:.4f}  train {base_s:.1f} s")
    print(f"predict:  {len(texts) / predict_cpu:.0f} msgs/s per CPU-second, {len(texts) / predict_s:.0f} wall "
          f"(mean {statistics.mean(len(t) for t in texts):.0f} chars)  load {load_s:.3f} s "
          f"(fresh interpreter with imports {cold_load_s:.2f} s)")
    sim_text = f"median {sim:.2f} ms" if sim is not None else "intents.similar not available (null)"
    print(f"similar:  {sim_text}")
    print(json.dumps({
        "macro_f1": round(ours["macro_f1"], 4),
        "baseline_macro_f1": round(base_f1, 4),
        "accuracy": round(ours["accuracy"], 4),
        "top3_accuracy": round(ours["top3_accuracy"], 4),
        "train_s": round(train_s, 2),
        "baseline_train_s": round(base_s, 2),
        "msgs_per_s": round(len(texts) / predict_cpu),
        "msgs_per_s_wall": round(len(texts) / predict_s),
        "load_s": round(load_s, 3),
        "cold_load_s": round(cold_load_s, 3),
        "model_bytes": size,
        "similar_ms": sim,
        "n_test": len(test),
        "n_train": len(train),
        "per_label_f1": {k: round(v["f1"], 4) for k, v in ours["per_label"].items()},
    }, ensure_ascii=False))


if __name__ == "__main__":
    main()
