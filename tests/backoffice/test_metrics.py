"""Dialog counters shared by the workers of one server: any scraped worker reports the sum, which never drops."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

from backoffice.metrics import SharedCounters


def test_any_worker_reports_the_sum_and_it_never_drops_when_a_worker_dies(tmp_path: Path) -> None:
    shared = tmp_path / "metrics"
    shared.mkdir()
    live = [Counter(), Counter()]
    workers = [SharedCounters(shared, i, 2, live[i]) for i in range(2)]
    for w in workers:
        w.resume()
    live[0]["steps"] += 3
    live[1]["steps"] += 4
    workers[1].flush()  # its once-a-second write
    seen = [workers[0].total()["steps"]]  # a scrape reaching worker 0
    live[1]["steps"] += 5  # counted by worker 1 after its last write, then it is killed
    seen.append(workers[0].total()["steps"])
    restarted = SharedCounters(shared, 1, 2, Counter())
    restarted.resume()  # continues from its predecessor's file
    seen.append(restarted.total()["steps"])
    restarted.counters["steps"] += 1
    seen.append(workers[0].total()["steps"])  # worker 0 has not seen the restarted worker's write yet
    seen.append(restarted.total()["steps"])
    assert seen == [7, 7, 7, 7, 8]  # never down; the 5 the dead worker never wrote were never reported either
    assert restarted.counters["steps"] == 5


def test_the_counters_survive_their_directory_being_cleaned_away(tmp_path: Path) -> None:
    shared = tmp_path / "metrics"
    shared.mkdir()
    counters = SharedCounters(shared, 0, 1, Counter(steps=2))
    assert counters.total() == {"steps": 2}
    shutil.rmtree(shared)  # e.g. a /tmp cleaner on a server idle for days
    counters.counters["steps"] += 1
    assert counters.total() == {"steps": 3} and (shared / "dialog-0.json").exists()
