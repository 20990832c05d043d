"""Benchmark analytics: hot-issue clustering and the KPI engine at 10k, 100k and 1M synthetic cases.

Usage: .venv/bin/python bench/analytics.py [--sizes 10000,100000,1000000] [--db-kpi 10000]

Hot issues run on synthetic messages from templates: planted topics (one problem at one estate,
many citizens, paraphrased) in a background of one-off appeals; recall is the share of planted
topics found among the top topics. KPI figures are computed by the pure formulas over synthetic
in-memory timelines (a 1M-case database takes too long to build here); ``--db-kpi N`` also times
the database path (bulk-inserted SQLite events -> storage.analytics.kpi_report) at N cases.
The last line printed is one JSON object with hot_100k_s, growth_ratio and kpi_1m_s.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
import json
import random
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from intents.hot_issues import Message, detect  # noqa: E402
from storage.kpi import CaseHistory, EventRow, assess, load_weights  # noqa: E402

SYLLABLES = ("金银翠华锦绣阳光幸福和平紫荆梧桐枫林湖滨江畔新城盛世碧桂绿地恒大保利万科东方南山北辰西岭"
             "春夏秋冬梅兰竹菊松柏杨柳桃李芙蓉牡丹玉龙凤麒麟白云青石红星黄河长安泰康宁远怡景雅居丰泽")
SUFFIXES = ["小区", "花园", "家园", "社区", "新村", "苑"]
PROBLEMS = [
    ["楼下烧烤店油烟噪音扰民", "底商烧烤摊深夜噪音油烟很大", "烧烤店油烟直排噪音扰民严重"],
    ["附近工地夜间施工噪音扰民", "工地晚上施工太吵影响休息", "建筑工地深夜施工噪音很大"],
    ["电梯经常故障困人", "电梯频繁坏了把人困住", "电梯老是出故障困住居民"],
    ["停水三天没有通知", "突然停水好几天也不通知", "连续停水三天无人说明"],
    ["开发商捆绑销售车位", "买房必须捆绑购买车位", "开发商强制捆绑车位销售"],
    ["垃圾站臭气熏天", "垃圾中转站太臭了", "垃圾站异味很大影响生活"],
    ["物业乱收停车费", "物业擅自收取停车费用", "物业违规乱收停车费"],
    ["路灯坏了很久没人修", "路灯不亮好几个月", "路灯长期损坏无人维修"],
    ["广场舞音响声音太大", "广场舞噪音扰民严重", "跳广场舞音响太吵"],
    ["房屋墙面开裂漏水", "新房墙体开裂渗水", "楼板墙面开裂还漏水"],
]
FILLER = ["希望有关部门尽快处理", "请领导关注一下", "已经反映多次没有解决", "恳请尽快解决", "谢谢"]


def place_names(count: int, rng: random.Random) -> list[str]:
    """Make ``count`` distinct estate names from syllables and a suffix."""
    names: set[str] = set()
    while len(names) < count:
        names.add("".join(rng.choice(SYLLABLES) for _ in range(rng.choice((2, 3, 4)))) + rng.choice(SUFFIXES))
    return sorted(names)


def synthetic_messages(n: int, seed: int = 1) -> tuple[list[Message], list[tuple[str, int]]]:
    """Return n messages with planted topics (2% of traffic each for 10 topics) and what was planted."""
    rng = random.Random(seed)
    places = place_names(max(50, n // 20), rng)
    planted = [(places[i], i % len(PROBLEMS)) for i in range(10)]
    t0 = dt.datetime(2019, 1, 1)
    out = []
    for i in range(n):
        if rng.random() < 0.2:
            place, problem = planted[rng.randrange(len(planted))]
            when = t0 + dt.timedelta(days=300 + rng.uniform(0, 60))
        else:
            place, problem = rng.choice(places), rng.randrange(len(PROBLEMS))
            when = t0 + dt.timedelta(days=rng.uniform(0, 365))
        text = rng.choice(PROBLEMS[problem])
        out.append(Message(i, f"{place}{text}", f"{place}{text}，{rng.choice(FILLER)}。", when,
                           f"u{rng.randrange(n)}", rng.choice((0, 0, 0, 1, 2, 5)), rng.choice((0, 0, 1))))
    return out, planted


def hot_run(n: int) -> dict[str, float]:
    """Time hot-issue detection on n messages and measure recall of the planted topics."""
    messages, planted = synthetic_messages(n)
    gc.collect()
    start = time.perf_counter()
    topics = detect(messages, top=20)
    seconds = time.perf_counter() - start
    found = 0
    for place, problem in planted:
        variants = PROBLEMS[problem]
        if any(place in t.places or any(place in e and any(v in e for v in variants) for e in t.examples)
               for t in topics):
            found += 1
    return {"n": n, "seconds": round(seconds, 2), "topics": len(topics), "recall": found / len(planted)}


def synthetic_histories(n: int, seed: int = 2) -> Iterator[CaseHistory]:
    """Yield n plausible timelines over 40 units: signed, extended, returned, reopened, rated, merged."""
    rng = random.Random(seed)
    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    hour = dt.timedelta(hours=1)
    ratings = ("very_satisfied", "satisfied", "basically_satisfied", "dissatisfied")
    for cid in range(n):
        at = t0 + dt.timedelta(minutes=rng.randrange(0, 60 * 24 * 90))
        unit = f"u{rng.randrange(40)}"
        if rng.random() < 0.05:
            yield CaseHistory(cid, (EventRow("merge", at, {"parent": "x"}),), status="merged",
                              parent_created_at=at - dt.timedelta(days=rng.randrange(60)), parent_unit=unit)
            continue
        events = [EventRow("accept", at), EventRow("dispatch", at + hour, {"lead_unit": unit})]
        if rng.random() < 0.05:
            unit = f"u{rng.randrange(40)}"
            events += [EventRow("return", at + 2 * hour), EventRow("dispatch", at + 3 * hour, {"lead_unit": unit})]
        events.append(EventRow("sign", at + 4 * hour, {"late": rng.random() < 0.1}))
        if rng.random() < 0.1:
            events.append(EventRow("approve_extension", at + 50 * hour))
        events.append(EventRow("approve_reply", at + 100 * hour, {"on_time": rng.random() < 0.95}))
        if rng.random() < 0.7:
            events.append(EventRow("callback", at + 120 * hour, {"rating": rng.choice(ratings),
                                                                  "contacted": rng.random() < 0.97,
                                                                  "solved": rng.random() < 0.9}))
        if rng.random() < 0.05:
            events.append(EventRow("reopen", at + 130 * hour))
        yield CaseHistory(cid, tuple(events), category=f"c{cid % 7}", district=f"d{cid % 9}",
                          status="evaluated", anonymous=rng.random() < 0.1,
                          callback_due_at=at + 150 * hour)


def kpi_run(n: int) -> dict[str, float]:
    """Time the KPI engine (facts, per-unit figures, ranking) over n in-memory timelines."""
    weights = load_weights()
    as_of = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    gc.collect()
    start = time.perf_counter()
    cards = assess(synthetic_histories(n), as_of, weights, by=("unit",))
    seconds = time.perf_counter() - start
    return {"n": n, "seconds": round(seconds, 2), "units": len(cards)}


async def _db_kpi(n: int) -> dict[str, float]:
    from storage import db
    from storage.analytics import kpi_report
    from storage.models import Case, CaseEvent, Channel

    with tempfile.TemporaryDirectory() as tmp:
        await db.migrate(f"sqlite://{tmp}/bench.db")
        await db.init(f"sqlite://{tmp}/bench.db")
        try:
            start = time.perf_counter()
            histories = list(synthetic_histories(n))
            await Case.bulk_create([Case(id=h.case_id + 1, number=f"B-{h.case_id}", tracking_code=f"T{h.case_id}",
                                         text="x", channel=Channel.PHONE, status=h.status) for h in histories],
                                   batch_size=2000)
            await CaseEvent.bulk_create(
                [CaseEvent(case_id=h.case_id + 1, action=e.action, to_status="accepted", actor_role="system",
                           data=dict(e.data), version=1, created_at=e.at) for h in histories for e in h.events],
                batch_size=5000)
            build = time.perf_counter() - start
            start = time.perf_counter()
            cards = await kpi_report(dt.datetime(2026, 6, 1, tzinfo=dt.UTC))
            return {"n": n, "build_s": round(build, 1), "seconds": round(time.perf_counter() - start, 2),
                    "units": len(cards)}
        finally:
            await db.close()


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--db-kpi", type=int, default=0, metavar="N", help="also time kpi_report on an N-case DB")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    result: dict[str, object] = {}
    hot, kpi = {}, {}
    for n in sizes:
        hot[n] = hot_run(n)
        print(f"hot issues  {n:>8,} messages: {hot[n]['seconds']:7.2f} s, {hot[n]['topics']} topics, "
              f"planted-topic recall {hot[n]['recall']:.0%}", flush=True)
    for n in sizes:
        kpi[n] = kpi_run(n)
        print(f"KPI (pure)  {n:>8,} cases:    {kpi[n]['seconds']:7.2f} s, {kpi[n]['units']} units", flush=True)
    if args.db_kpi:
        dbr = asyncio.run(_db_kpi(args.db_kpi))
        result["kpi_db"] = dbr
        print(f"KPI (SQLite) {dbr['n']:>7,} cases:    {dbr['seconds']:7.2f} s (bulk insert {dbr['build_s']} s)")
    growth = None
    if 100_000 in hot and 1_000_000 in hot:
        growth = round(hot[1_000_000]["seconds"] / max(hot[100_000]["seconds"], 1e-9), 2)
        print(f"hot-issue growth 100k -> 1M (10x data): {growth}x time (target <= 12x)")
    result.update({
        "hot_100k_s": hot.get(100_000, {}).get("seconds"), "growth_ratio": growth,
        "kpi_1m_s": kpi.get(1_000_000, {}).get("seconds"),
        "hot": list(hot.values()), "kpi": list(kpi.values()), "kpi_mode": "pure formulas over in-memory timelines",
    })
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
