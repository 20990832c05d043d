"""Back-office latency: queue pages and search at 10k and 1M cases, on SQLite and PostgreSQL.

For each database and size, builds a fresh database with the demo's kind of cases (bulk insert,
statuses in a live city's mix, every unit with its assignments), serves the real application on
loopback in this process, signs in as a supervisor and as a unit handler, and times HTTP requests:
queue pages (first page and a keyset next page, with the sidebar counts) and searches (a common
word, a place, a case number, a word that matches nothing). Prints p50 and p95 per kind and size; the last
line is one JSON object with p95_ms_10k, p95_ms_1m and ratio per database (target: p95 ≤ 100 ms,
ratio ≤ 2).

    .venv/bin/python bench/backoffice.py [--sizes 10000,1000000] [--requests 40]
        [--postgres postgres://postgres@127.0.0.1:54331/postgres]   # omit to run SQLite only
        [--databases postgres]                                      # one of them only
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp
from tortoise import connections

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from backoffice import totp  # noqa: E402
from backoffice.app import create_app  # noqa: E402
from backoffice.keys import SUGGESTER  # noqa: E402
from backoffice.suggest import Suggester  # noqa: E402
from storage import db  # noqa: E402
from storage.accounts import hash_password  # noqa: E402
from storage.deadlines import ensure_default_policies  # noqa: E402
from storage.lifecycle import CaseStatus, Role  # noqa: E402
from storage.models import Case, CaseAssignment, Channel, Staff, Unit, UnitKind  # noqa: E402
from storage.settings import Settings  # noqa: E402
from tests.support.server import serving  # noqa: E402

PASSWORD = "bench password 1"
PLACES = ("东湖区幸福里小区", "西山区人民路", "南港区港湾大道", "东湖区东风路", "西山区矿山新村", "北岸区滨江花园")
PROBLEMS = ("路灯不亮", "下水道堵塞", "夜间施工噪音", "垃圾无人清运", "占道经营", "共享单车乱停", "供暖不热",
            "物业乱收费")
DISTRICTS = ("东湖区", "西山区", "南港区", "北岸区")
MIX = {CaseStatus.SUBMITTED: 6, CaseStatus.ACCEPTED: 4, CaseStatus.DISPATCHED: 8, CaseStatus.RETURNED: 3,
       CaseStatus.IN_PROGRESS: 15, CaseStatus.PENDING_REVIEW: 7, CaseStatus.RESOLVED: 13,
       CaseStatus.EVALUATED: 20, CaseStatus.ARCHIVED: 20, CaseStatus.REJECTED: 2, CaseStatus.MERGED: 2}
UNASSIGNED = {CaseStatus.SUBMITTED, CaseStatus.ACCEPTED, CaseStatus.REJECTED, CaseStatus.MERGED}
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
NOWHERE = "地铁站"  # a word no bench case holds


async def fill(size: int, seed: int = 8890) -> None:
    """Create 20 units, two accounts and ``size`` cases in bulk."""
    await ensure_default_policies()
    units = [await Unit.create(code=f"u{i}", name_zh=f"单位{i}", kind=UnitKind.BUREAU) for i in range(20)]
    hashed = hash_password(PASSWORD)
    await Staff.create(username="sup", display_name="督办", password_hash=hashed, roles=[Role.SUPERVISOR.value],
                       totp_secret=totp.seal(TOTP_SECRET, None), totp_confirmed_at=dt.datetime.now(dt.UTC))
    await Staff.create(username="hdl", display_name="承办", password_hash=hashed, roles=[Role.HANDLER.value],
                       unit=units[0])
    rng = random.Random(seed)
    statuses = [s for s, n in MIX.items() for _ in range(n)]
    now = dt.datetime.now(dt.UTC)
    batch = 5000
    for start in range(0, size, batch):
        cases = []
        for i in range(start, min(size, start + batch)):
            status = rng.choice(statuses)
            created = now - dt.timedelta(minutes=(size - i) * 5)
            place, problem = rng.choice(PLACES), rng.choice(PROBLEMS)
            unit = None if status in UNASSIGNED else rng.choice(units)
            cases.append(Case(
                number=f"8890-{created:%Y%m%d}-{i:07d}", tracking_code=uuid.uuid4().hex[:16],
                title=f"{place}{problem}", text=f"{place}{problem}，已经持续{rng.randint(2, 30)}天，请尽快处理。",
                category="城乡建设", status=status, channel=rng.choice(list(Channel)),
                district=rng.choice(DISTRICTS), lead_unit_id=unit.id if unit else None, created_at=created,
                due_at=created + dt.timedelta(days=10) if unit else None,
            ))
        await Case.bulk_create(cases, batch_size=1000)
        made = await Case.filter(id__gt=start).order_by("id").limit(batch).values_list("id", "lead_unit_id")
        await CaseAssignment.bulk_create(
            [CaseAssignment(case_id=cid, unit_id=uid, lead=True, created_at=now) for cid, uid in made if uid],
            batch_size=1000,
        )


async def login(http: aiohttp.ClientSession, base: str, username: str) -> None:
    """Sign in through the form."""
    async with http.get(f"{base}/login") as r:
        token = CSRF.search(await r.text()).group(1)  # type: ignore[union-attr]
    async with http.post(f"{base}/login", data={"username": username, "password": PASSWORD,
                                                 "csrf_token": token}) as r:
        text = await r.text()
        assert r.status == 200, text
    if 'name="step" value="code"' in text:  # supervisors have a second factor (TOTP)
        token = CSRF.search(text).group(1)  # type: ignore[union-attr]
        code = totp.totp(totp.secret_bytes(TOTP_SECRET), time.time())
        async with http.post(f"{base}/login", data={"step": "code", "code": code, "csrf_token": token}) as r:
            text = await r.text()
    assert "工作队列" in text, text[:300]  # signed in: the page shows the queues


async def timed(http: aiohttp.ClientSession, url: str) -> tuple[float, str]:
    """GET a page; return milliseconds and the body."""
    start = time.perf_counter()
    async with http.get(url) as r:
        body = await r.text()
        assert r.status == 200 and not r.history, (url, r.status, r.history)  # no redirect to the login page
    return (time.perf_counter() - start) * 1000, body


async def measure(url: str, size: int, requests: int) -> dict[str, list[float]]:
    """Fill a database and time queue pages and searches over HTTP."""
    await db.migrate(url)
    await db.init(url)
    try:
        started = time.perf_counter()
        await fill(size)
        print(f"  filled {size:,} cases in {time.perf_counter() - started:.1f} s", flush=True)
        if not url.startswith("sqlite"):
            # What autovacuum does after a bulk load: merge GIN's pending list, gather statistics.
            started = time.perf_counter()
            await connections.get("default").execute_script("VACUUM ANALYZE")
            print(f"  VACUUM ANALYZE in {time.perf_counter() - started:.1f} s", flush=True)
        app = create_app(Settings.from_env({"APPEALS_DATABASE_URL": url}), manage_orm=False, background=False)
        app[SUGGESTER] = Suggester(enabled=False)
        numbers = [n for (n,) in await Case.all().order_by("-id").limit(200).values_list("number")]
        out: dict[str, list[float]] = {"queue": [], "search": []}
        async with serving(app) as base:
            jar = aiohttp.CookieJar(unsafe=True)
            async with aiohttp.ClientSession(cookie_jar=jar) as sup, \
                    aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as hdl:
                await login(sup, base, "sup")
                await login(hdl, base, "hdl")
                for warm in ("/queues/all", "/queues/mine"):
                    await timed(sup if warm.endswith("all") else hdl, base + warm)
                rng = random.Random(7)
                for _ in range(requests):
                    queue = rng.choice(["all", "in_progress", "overdue", "to_sign", "review"])
                    ms, body = await timed(sup, f"{base}/queues/{queue}")
                    out["queue"].append(ms)
                    nxt = re.search(r'<a href="\?([^"]+)" rel="next">', body)
                    if nxt:
                        out["queue"].append((await timed(sup, f"{base}/queues/{queue}?"
                                                         f"{nxt.group(1).replace('&amp;', '&')}"))[0])
                    out["queue"].append((await timed(hdl, f"{base}/queues/mine"))[0])
                    term = rng.choice(["路灯", "幸福里", rng.choice(numbers), NOWHERE])
                    out["search"].append((await timed(sup, f"{base}/queues/all?q={term}"))[0])
                    out["search"].append((await timed(hdl, f"{base}/queues/mine?q={term}"))[0])
        return out
    finally:
        await db.close()


def pct(values: list[float], q: float) -> float:
    """Return the q-quantile of values."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def pg_database(admin_url: str) -> tuple[str, str]:
    """Create a throw-away PostgreSQL database; return its URL and name."""
    import asyncpg

    name = f"appeals_bench_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(admin_url)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    return admin_url.rsplit("/", 1)[0] + f"/{name}", name


async def pg_drop(admin_url: str, name: str) -> None:
    """Drop a throw-away database."""
    import asyncpg

    conn = await asyncpg.connect(admin_url)
    await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await conn.close()


def run_one(database: str, size: int, requests: int, admin_url: str) -> dict[str, list[float]]:
    """Measure one database and size in a child process (Tortoise caches SQL per dialect)."""
    cmd = [sys.executable, __file__, "--one", database, "--sizes", str(size), "--requests", str(requests),
           "--postgres", admin_url]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    sys.stdout.write("".join(line + "\n" for line in done.stdout.splitlines()[:-1]))
    return json.loads(done.stdout.splitlines()[-1])


async def one(database: str, size: int, requests: int, admin_url: str) -> None:
    """Measure in this process and print the timings as the last line."""
    if database == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            result = await measure(f"sqlite://{tmp}/bench.db", size, requests)
    else:
        url, name = await pg_database(admin_url)
        try:
            result = await measure(url, size, requests)
        finally:
            await pg_drop(admin_url, name)
    print(json.dumps(result))


def main() -> None:
    """Run the benchmark and print the table and the JSON summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,1000000")
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--postgres", default="", help="admin URL of a PostgreSQL server (omit: SQLite only)")
    parser.add_argument("--databases", default="", help="sqlite,postgres (default: both with --postgres)")
    parser.add_argument("--one", choices=("sqlite", "postgres"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.one:
        asyncio.run(one(args.one, sizes[0], args.requests, args.postgres))
        return
    summary: dict[str, dict[str, object]] = {}
    databases = args.databases.split(",") if args.databases else ["sqlite"] + (["postgres"] if args.postgres else [])
    for database in databases:
        p95: dict[int, float] = {}
        for size in sizes:
            print(f"{database} {size:,} cases", flush=True)
            result = run_one(database, size, args.requests, args.postgres)
            for kind, values in result.items():
                print(f"  {kind:<7} n={len(values):<4} p50 {statistics.median(values):7.1f} ms   "
                      f"p95 {pct(values, 0.95):7.1f} ms", flush=True)
            p95[size] = pct(result["queue"] + result["search"], 0.95)
        small, large = min(sizes), max(sizes)
        summary[database] = {"p95_ms_10k": round(p95[small], 1), "p95_ms_1m": round(p95[large], 1),
                             "ratio": round(p95[large] / p95[small], 2), "sizes": [small, large]}
    print(json.dumps(summary, ensure_ascii=False))


if __name__ == "__main__":
    main()
