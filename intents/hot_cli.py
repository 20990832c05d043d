"""`appeals hot-issues --csv FILE [--top N]`: hot-issue detection on an external CSV of messages."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from intents.csvfile import open_csv
from intents.hot_issues import HotConfig, Message, Topic, detect, parse_time

_TEXT = ("title", "body")


class CsvError(Exception):
    """A CSV that cannot be used, with a message for the user."""


def _count(value: str | None, column: str, line: int) -> int:
    text = (value or "").strip()
    if not text:
        return 0
    try:
        number = int(float(text))
    except ValueError:
        raise CsvError(f"line {line}: {column} {text[:20]!r} is not a number / {column} 不是数字") from None
    if number < 0:
        raise CsvError(f"line {line}: {column} must not be negative / {column} 不能为负数")
    return number


def read_messages(path: str | Path) -> tuple[list[Message], int]:
    """Read messages from a UTF-8 CSV (title, body, time; optional id, user, likes, dislikes).

    Return the messages and how many had no readable time.
    """
    path = Path(path)
    messages: list[Message] = []
    undated = 0
    with open_csv(path, CsvError) as reader:
        columns = list(reader.fieldnames or [])
        if not any(c in columns for c in _TEXT):
            raise CsvError(f"{path}: needs a 'title' or 'body' column (found: {', '.join(columns)}) / 缺少文本列")
        if "time" not in columns:
            raise CsvError(f"{path}: needs a 'time' column (found: {', '.join(columns)}) / 缺少 time 列")
        for row in reader:
            line = reader.line_num
            title, body = (row.get("title") or "").strip(), (row.get("body") or "").strip()
            if not title and not body:
                continue
            when = parse_time(row.get("time") or "")
            undated += when is None
            messages.append(Message(
                id=(row.get("id") or "").strip() or f"line{line}", title=title, body=body, time=when,
                user=(row.get("user") or "").strip() or None,
                likes=_count(row.get("likes"), "likes", line),
                dislikes=_count(row.get("dislikes"), "dislikes", line),
            ))
    if not messages:
        raise CsvError(f"{path}: no rows with text / 没有可用的数据行")
    return messages, undated


def _day(topic: Topic, which: str) -> str:
    moment = topic.first if which == "first" else topic.last
    return moment.date().isoformat() if moment else "?"


def print_topics(topics: Sequence[Topic], total: int, seconds: float, out: TextIO) -> None:
    """Print ranked topics with their sizes and example titles."""
    print(f"热点问题 / hot issues: {len(topics)} topics from {total} messages ({seconds:.1f} s)", file=out)
    if not topics:
        print("没有发现热点问题 / no hot issue found (a topic needs 3 or more distinct citizens)", file=out)
    for rank, t in enumerate(topics, start=1):
        print(f"{rank:>2}. {t.label}", file=out)
        print(f"    热度 hot index {t.hot_index:.2f} · {t.size} 条 messages · {t.citizens} 人 citizens · "
              f"赞 {t.likes} / 踩 {t.dislikes} · 增长 growth ×{t.growth:.1f} · {_day(t, 'first')} – {_day(t, 'last')}",
              file=out)
        for example in t.examples:
            print(f"    - {example[:60]}", file=out)


def _as_json(t: Topic) -> dict[str, Any]:
    return {
        "label": t.label, "keywords": list(t.keywords), "places": list(t.places), "size": t.size,
        "citizens": t.citizens, "likes": t.likes, "dislikes": t.dislikes, "support": round(t.support, 4),
        "growth": round(t.growth, 4), "recency": round(t.recency, 4), "concentration": round(t.concentration, 4),
        "hot_index": round(t.hot_index, 4), "first": t.first.isoformat() if t.first else None,
        "last": t.last.isoformat() if t.last else None, "examples": list(t.examples),
        "message_ids": [str(i) for i in t.message_ids],
    }


def cmd_hot_issues(args: argparse.Namespace) -> int:
    """Detect and print the hot issues of a CSV; exit 2 on an unusable file."""
    try:
        messages, undated = read_messages(args.csv)
    except CsvError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    if undated:
        print(f"注意 / note: {undated} rows have no readable time; they count without recency", file=sys.stderr)
    start = time.perf_counter()
    topics = detect(messages, top=args.top, config=HotConfig(min_citizens=args.min_citizens))
    seconds = time.perf_counter() - start
    if args.json:
        print(json.dumps([_as_json(t) for t in topics], ensure_ascii=False, indent=1))
    else:
        print_topics(topics, len(messages), seconds, sys.stdout)
    return 0


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number / 应为整数") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1 / 至少为 1")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the hot-issues subcommand to an argparse subparsers object."""
    p = subparsers.add_parser("hot-issues", help="从留言 CSV 发现热点问题 / find hot issues in a CSV of messages")
    p.add_argument("--csv", required=True, metavar="FILE",
                   help="UTF-8 CSV: title, body, time; 可选/optional id, user, likes, dislikes")
    p.add_argument("--top", type=_positive, default=5, metavar="N", help="显示前 N 个 / show the top N (default 5)")
    p.add_argument("--min-citizens", type=_positive, default=3, metavar="N",
                   help="热点至少的不同留言人数 / distinct citizens a hot issue needs (default 3)")
    p.add_argument("--json", action="store_true", help="输出 JSON / print JSON")
    p.set_defaults(func=cmd_hot_issues)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the hot-issues command line on its own; return the exit code."""
    parser = argparse.ArgumentParser(prog="hot-issues", description="热点问题 / hot issues")
    register(parser.add_subparsers(dest="command", required=True))
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse already printed its message
        return int(exc.code or 0)
    return int(args.func(args))
