"""Benchmark near-duplicate search: build time, memory, query latency and recall at 100k cases.

Usage: .venv/bin/python bench/similar.py [--n 100000] [--queries 500]
The baseline, measured in the same run, is a brute-force rapidfuzz scan over every text.
The last line printed is one JSON object with all figures.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rapidfuzz import fuzz, process  # noqa: E402

from intents.similar import build_synthetic_index, synthetic_appeals  # noqa: E402
from intents.tokenize import cut  # noqa: E402


def rss_mb() -> float:
    """Read this process's resident memory in MB from /proc."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def perturb(text: str, rng: random.Random) -> str:
    """Rewrite an appeal the way a repeat caller would: drop a clause, add filler words."""
    clauses = [c for c in text.replace("。", "，").split("，") if c]
    if len(clauses) > 2:
        clauses.pop(rng.randrange(1, len(clauses)))
    filler = rng.choice(["又", "还是", "再次反映，", "上次说过了，", "到现在"])
    clauses.insert(rng.randrange(0, len(clauses)), filler)
    return "，".join(clauses) + rng.choice(["。", "！", "，谢谢。"])


def percentile(values: list[float], q: float) -> float:
    """Return the q-quantile (0..1) of values."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--baseline-queries", type=int, default=20)
    args = parser.parse_args()
    now = datetime(2026, 11, 26, tzinfo=UTC)
    cut("预热分词器")  # jieba's one-off start-up is not part of the index

    gc.collect()
    before = rss_mb()
    start = time.perf_counter()
    index = build_synthetic_index(args.n, now=now)
    build_s = time.perf_counter() - start
    gc.collect()
    memory_mb = rss_mb() - before

    cases = synthetic_appeals(args.n)
    # Templates repeat: a case with the very same text as the source is an equally right answer.
    text_of = {cid: text for cid, text, _, _ in cases}
    rng = random.Random(11)
    picks = [cases[rng.randrange(len(cases))] for _ in range(args.queries)]
    queries = [(cid, perturb(text, rng), district, street) for cid, text, district, street in picks]
    fresh = [text for _, text, _, _ in synthetic_appeals(args.queries, seed=12345)]

    latencies, hits = [], 0
    for cid, text, district, street in queries:
        t0 = time.perf_counter()
        matches = index.query(text, district=district, street=street, since=now - timedelta(days=90))
        latencies.append((time.perf_counter() - t0) * 1000)
        hits += any(m.case_id == cid or text_of[m.case_id] == text_of[cid] for m in matches)
    fresh_lat = []
    for text in fresh:
        t0 = time.perf_counter()
        index.query(text)
        fresh_lat.append((time.perf_counter() - t0) * 1000)

    texts = [text for _, text, _, _ in cases]
    base_lat, base_hits = [], 0
    for cid, text, _, _ in queries[: args.baseline_queries]:
        t0 = time.perf_counter()
        found = process.extract(text, texts, scorer=fuzz.ratio, limit=5)
        base_lat.append((time.perf_counter() - t0) * 1000)
        base_hits += any(cases[i][0] == cid or cases[i][1] == text_of[cid] for _, _, i in found)

    result = {
        "bench": "similar",
        "cases": args.n,
        "build_s": round(build_s, 2),
        "memory_mb": round(memory_mb, 1),
        "query_ms_median": round(statistics.median(latencies), 2),
        "query_ms_p95": round(percentile(latencies, 0.95), 2),
        "fresh_query_ms_median": round(statistics.median(fresh_lat), 2),
        "fresh_query_ms_p95": round(percentile(fresh_lat, 0.95), 2),
        "repeat_recall_at_5": round(hits / len(queries), 3),
        "baseline_scan_ms_median": round(statistics.median(base_lat), 2),
        "baseline_recall_at_5": round(base_hits / max(len(base_lat), 1), 3),
        "target_ms": 20,
        "meets_target": percentile(latencies, 0.95) <= 20,
    }
    print(f"built {args.n} cases in {build_s:.1f} s, +{memory_mb:.0f} MB RSS")
    print(f"repeat queries: median {result['query_ms_median']} ms, p95 {result['query_ms_p95']} ms, "
          f"recall@5 {result['repeat_recall_at_5']}")
    print(f"brute-force rapidfuzz scan: median {result['baseline_scan_ms_median']} ms")
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
