"""Benchmark knowledge retrieval: index the government's replies, find each message's own reply.

Usage: .venv/bin/python bench/knowledge.py [--data ../shared/data/teddy2020_replies.csv] [--baseline-queries 100]
Each message (title and body) is a question; its own reply is the one right answer (identical
replies count as one). Figures: recall@1, recall@5 and queries per second of intents.knowledge
(BM25 ranking, and the confidence re-ranking that ``search`` adds), and of a plain rapidfuzz scan
over every reply in the same run (token_set_ratio on jieba words; on a fixed sample of messages
because it is slow, with our recall on the same sample beside it). The last line printed is one
JSON object with all figures.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rapidfuzz import fuzz, process  # noqa: E402

from intents.knowledge import KnowledgeDoc, KnowledgeIndex  # noqa: E402
from intents.tokenize import cut  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "teddy2020_replies.csv"


def load(path: Path) -> tuple[list[str], list[int], list[str]]:
    """Return the messages, the reply number of each message and the distinct replies."""
    messages, answers, replies, number = [], [], [], {}
    with path.open(encoding="utf-8-sig", newline="") as f:
        for row in csv.DictReader(f):
            reply = (row.get("reply") or "").strip()
            message = f"{row.get('title') or ''}。{row.get('body') or ''}".strip()
            if not reply or not message:
                continue
            if reply not in number:
                number[reply] = len(replies)
                replies.append(reply)
            messages.append(message)
            answers.append(number[reply])
    return messages, answers, replies


def recall(ranked: list[list[int]], answers: list[int], k: int) -> float:
    """Return the share of queries whose own reply is among the first k."""
    return sum(a in r[:k] for r, a in zip(ranked, answers, strict=True)) / max(len(answers), 1)


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--baseline-queries", type=int, default=100)
    parser.add_argument("--seed", type=int, default=2020)
    args = parser.parse_args()
    messages, answers, replies = load(args.data)
    cut("预热分词器")  # jieba's one-off start-up is not part of the index

    start = time.perf_counter()
    index = KnowledgeIndex(KnowledgeDoc(i, (), reply) for i, reply in enumerate(replies))
    build_s = time.perf_counter() - start

    start = time.perf_counter()
    ranked = [[d for d, _ in index.rank(m, limit=5)] for m in messages]
    rank_s = time.perf_counter() - start
    start = time.perf_counter()
    searched = [[int(h.article_id) for h in index.search(m, limit=5)] for m in messages]  # type: ignore[call-overload]
    search_s = time.perf_counter() - start

    sample = sorted(random.Random(args.seed).sample(range(len(messages)), min(args.baseline_queries, len(messages))))
    reply_words = [" ".join(cut(r)) for r in replies]
    start = time.perf_counter()
    base_ranked = [
        [i for _, _, i in process.extract(" ".join(cut(messages[q])), reply_words, scorer=fuzz.token_set_ratio,
                                          limit=5)]
        for q in sample
    ]
    base_s = time.perf_counter() - start
    sample_answers = [answers[q] for q in sample]

    result = {
        "messages": len(messages), "replies": len(replies), "build_s": round(build_s, 2),
        "recall_at_1": round(recall(ranked, answers, 1), 4), "recall_at_5": round(recall(ranked, answers, 5), 4),
        "qps": round(len(messages) / rank_s, 1),
        "search_recall_at_1": round(recall(searched, answers, 1), 4),
        "search_recall_at_5": round(recall(searched, answers, 5), 4),
        "search_qps": round(len(messages) / search_s, 1),
        "baseline_queries": len(sample),
        "sample_recall_at_1": round(recall([ranked[q] for q in sample], sample_answers, 1), 4),
        "baseline_recall_at_1": round(recall(base_ranked, sample_answers, 1), 4),
        "baseline_recall_at_5": round(recall(base_ranked, sample_answers, 5), 4),
        "baseline_qps": round(len(sample) / base_s, 2),
    }
    print(f"{len(messages)} messages, {len(replies)} distinct replies; index built in {build_s:.2f} s")
    print(f"BM25 (words+bigrams+chars): R@1 {result['recall_at_1']:.3f}  R@5 {result['recall_at_5']:.3f}  "
          f"{result['qps']} q/s")
    print(f"  + confidence re-rank:     R@1 {result['search_recall_at_1']:.3f}  "
          f"R@5 {result['search_recall_at_5']:.3f}  {result['search_qps']} q/s")
    print(f"rapidfuzz scan ({len(sample)} sampled): R@1 {result['baseline_recall_at_1']:.3f}  "
          f"R@5 {result['baseline_recall_at_5']:.3f}  {result['baseline_qps']} q/s "
          f"(BM25 on the same sample: R@1 {result['sample_recall_at_1']:.3f})")
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
