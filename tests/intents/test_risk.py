"""Risk warnings: a burst fires on an injected spike and stays silent on steady traffic; gatherings; emotion."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from intents.lexicons import LexiconError
from intents.risk import (
    CollectiveConfig,
    Signal,
    bursts,
    collective,
    emotion,
    emotion_lexicon,
    emotions,
    scan,
)

T0 = datetime(2026, 1, 1)


def steady(key: str = "东湖区", rate: float = 10, days: int = 60, seed: int = 1) -> list[tuple[datetime, str, int]]:
    rng = np.random.default_rng(seed)
    out = []
    for day in range(days):
        for j in range(int(rng.poisson(rate))):
            out.append((T0 + timedelta(days=day, hours=8 + j % 10), key, day * 1000 + j))
    return out


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_steady_traffic_stays_silent(seed: int) -> None:
    assert bursts(steady(seed=seed) + steady("西山区", rate=3, seed=seed + 10)) == []


def test_an_injected_spike_fires_once_with_its_cases() -> None:
    spike = [(T0 + timedelta(days=50, hours=1 + i % 20), "东湖区", 90_000 + i) for i in range(40)]
    found = bursts(steady() + steady("西山区", rate=3, seed=9) + spike)
    assert [(w.key, w.at) for w in found] == [("东湖区", T0 + timedelta(days=50))]
    warning = found[0]
    assert warning.observed >= 40 and 5 < warning.expected < 20
    assert set(range(90_000, 90_040)) <= set(warning.case_ids)
    assert warning.fingerprint == "burst:东湖区:2026-02-20T00:00:00"


def test_a_quiet_key_waking_up_fires_but_not_during_warm_up() -> None:
    quiet = [(T0 + timedelta(days=d), "石桥镇", d) for d in range(0, 30, 10)]
    wake = [(T0 + timedelta(days=40, hours=i), "石桥镇", 100 + i) for i in range(8)]
    assert [w.at for w in bursts(quiet + wake)] == [T0 + timedelta(days=40)]
    early = [(T0 + timedelta(days=2, hours=i), "石桥镇", 200 + i) for i in range(30)]
    assert bursts(quiet + early) == []


def test_since_limits_the_report() -> None:
    spike = [(T0 + timedelta(days=50, hours=1), "东湖区", 90_000 + i) for i in range(40)]
    assert bursts(steady() + spike, since=T0 + timedelta(days=51)) == []
    assert bursts([]) == []


def sig(i: int, text: str, hours: float, citizen: str | None, place: str | None = "幸福里小区") -> Signal:
    return Signal(i, T0 + timedelta(hours=hours), text, citizen, place)


def test_many_citizens_at_one_place_in_a_short_window_is_collective() -> None:
    wave = [sig(i, "小区停水三天了", i, f"c{i}") for i in range(12)]
    found = collective(wave)
    assert len(found) == 1
    assert found[0].key == "幸福里小区" and found[0].score == 10 and found[0].case_ids == tuple(range(10))
    assert found[0].detail.startswith("10 位市民 ") and "0:00:00" not in found[0].detail  # words, not a timedelta


def test_spread_out_or_single_person_traffic_is_not_collective() -> None:
    spread = [sig(i, "小区停水", i * 72, f"c{i}") for i in range(12)]
    one_person = [sig(100 + i, "小区停水", i, "same") for i in range(30)]
    assert collective(spread + one_person) == []


def test_collective_language_lowers_the_bar_and_places_come_from_text() -> None:
    cue = [sig(i, "我们全体业主准备联名反映停水", i, f"c{i}", place=None) for i in range(2)]
    cue.append(sig(5, "幸福里小区停水，业主联名", 3, "c5", place=None))
    cue = [Signal(s.id, s.time, "幸福里小区" + s.text, s.citizen) for s in cue]
    found = collective(cue, CollectiveConfig(min_citizens=10, min_citizens_with_cue=3))
    assert [w.key for w in found] == ["幸福里小区"]
    assert "联名" in found[0].detail


@pytest.mark.parametrize(
    ("text", "level", "kind"),
    [
        ("再不解决我就跳楼", "high", "despair"),
        ("真的不 想 活 了", "high", "despair"),
        ("逼急了就同归于尽", "high", "violence"),
        ("大家准备集体上访", "medium", "collective"),
        ("已经走投无路了", "medium", "distress"),
        ("小区路灯坏了请修一下", "none", None),
    ],
)
def test_extreme_emotion_language(text: str, level: str, kind: str | None) -> None:
    found = emotion(text)
    assert found.level == level
    assert (kind in found.kinds) if kind else found.kinds == ()


def test_emotion_warnings_and_scan() -> None:
    signals = [sig(1, "再不解决我就跳楼", 1, "a"), sig(2, "已经走投无路了", 2, "b"), sig(3, "路灯坏了", 3, "c")]
    assert [w.case_ids for w in emotions(signals)] == [(1,)]
    assert [w.case_ids for w in emotions(signals, minimum="medium")] == [(1,), (2,)]
    kinds = {w.kind for w in scan(signals + [sig(10 + i, "停水", 5, f"x{i}") for i in range(10)])}
    assert kinds == {"emotion", "collective"}


def test_bad_emotion_lexicon_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.txt"
    path.write_text("[anger extreme]\n砸了\n", encoding="utf-8")
    with pytest.raises(LexiconError, match="needs a level"):
        emotion_lexicon(str(path))
    path.write_text("[anger high]\n砸了 店\n", encoding="utf-8")
    with pytest.raises(LexiconError, match="one term per line"):
        emotion_lexicon(str(path))
