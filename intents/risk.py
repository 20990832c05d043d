"""Risk warnings (pure): bursts above a key's normal level, collective appeals, extreme-emotion language."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Literal

from scipy.special import pdtrc  # the Poisson tail scipy.stats uses, without loading scipy.stats

from intents.hot_issues import PLACE
from intents.lexicons import LexiconError, read_sections
from intents.urgency import squeeze

Kind = Literal["burst", "collective", "emotion"]
EmotionLevel = Literal["high", "medium", "none"]
_LEVELS = ("high", "medium")


@dataclass(frozen=True)
class RiskWarning:
    """A warning for a supervisor: what, where, when, how strong, and the cases behind it."""

    kind: Kind
    key: str  # the district, topic or place; for emotion the case id
    at: datetime  # start of the bucket or window
    observed: float
    expected: float
    score: float  # burst: -log10 p-value; collective: distinct citizens; emotion: 2 high, 1 medium
    case_ids: tuple[Hashable, ...]
    detail: str = ""

    @property
    def fingerprint(self) -> str:
        """Return a stable key for acknowledging this warning once."""
        return f"{self.kind}:{self.key}:{self.at.isoformat()}"


@dataclass(frozen=True)
class Signal:
    """One case as risk detection needs it; ``place`` is its district, street or estate if known."""

    id: Hashable
    time: datetime
    text: str
    citizen: str | None = None
    place: str | None = None


@dataclass(frozen=True)
class BurstConfig:
    """Baseline and thresholds of burst detection (an EWMA of past counts, a Poisson tail test)."""

    bucket: timedelta = timedelta(days=1)
    alpha: float = 0.2  # weight of the latest bucket in the baseline
    warmup: int = 7  # buckets of history before a key can fire
    p_value: float = 1e-3  # P(X ≥ observed | baseline) below this fires …
    ratio: float = 2.0  # … if observed is also this many times the baseline …
    min_count: int = 5  # … and at least this many
    floor: float = 0.5  # a quiet key's baseline never drops below this


def _bucket_start(moment: datetime, origin: datetime, size: timedelta) -> datetime:
    return origin + size * math.floor((moment - origin) / size)


def bursts(events: Iterable[tuple[datetime, str, Hashable]], config: BurstConfig = BurstConfig(),
           since: datetime | None = None) -> list[RiskWarning]:
    """Find buckets where a key (district, topic …) rose above its normal level; events are (time, key, case id)."""
    rows = list(events)
    if not rows:
        return []
    origin = min(t for t, _, _ in rows).replace(hour=0, minute=0, second=0, microsecond=0)
    last = _bucket_start(max(t for t, _, _ in rows), origin, config.bucket)
    series: dict[str, dict[datetime, list[Hashable]]] = defaultdict(lambda: defaultdict(list))
    for t, key, case_id in rows:
        series[key][_bucket_start(t, origin, config.bucket)].append(case_id)
    out = []
    for key, buckets in sorted(series.items()):
        moment, seen = origin, 0
        baseline = 0.0
        history: list[int] = []
        while moment <= last:
            ids = buckets.get(moment, [])
            count = len(ids)
            if seen >= config.warmup:
                expected = max(baseline, config.floor)
                p = float(pdtrc(count - 1, expected)) if count else 1.0  # P(X ≥ count)
                if (count >= config.min_count and count >= config.ratio * expected and p < config.p_value
                        and (since is None or moment >= since)):
                    out.append(RiskWarning("burst", key, moment, count, round(expected, 3),
                                           round(-math.log10(max(p, 1e-300)), 2), tuple(ids),
                                           f"{count} cases against a normal {expected:.1f}"))
                # A spike moves the baseline only as far as a plausible value, so it stays detectable.
                capped = min(count, expected + 3 * math.sqrt(expected))
                baseline = config.alpha * capped + (1 - config.alpha) * baseline
            else:
                history.append(count)
                baseline = sum(history) / len(history)
            seen += 1
            moment += config.bucket
    return out


@dataclass(frozen=True)
class CollectiveConfig:
    """Many citizens, one place, a short window - fewer when the texts speak of collective action."""

    window: timedelta = timedelta(hours=48)
    min_citizens: int = 10
    min_citizens_with_cue: int = 3


def place_of(signal: Signal) -> str | None:
    """Return the signal's place, or the first place phrase in its text."""
    if signal.place:
        return signal.place
    found = PLACE.findall(squeeze(signal.text))
    return found[0] if found else None


def _span(window: timedelta) -> tuple[str, str]:
    """Return a window as words (zh-CN, English): "2 天" / "2 days", "6 小时" / "6 hours"."""
    hours = window.total_seconds() / 3600
    if hours >= 24 and hours % 24 == 0:
        return f"{int(hours // 24)} 天", f"{int(hours // 24)} days"
    return f"{hours:g} 小时", f"{hours:g} hours"


def collective(signals: Sequence[Signal], config: CollectiveConfig = CollectiveConfig()) -> list[RiskWarning]:
    """Warn when many distinct citizens raise cases about one place within a short window."""
    by_place: dict[str, list[Signal]] = defaultdict(list)
    for s in signals:
        place = place_of(s)
        if place:
            by_place[place].append(s)
    cues = {id(s) for s in signals if "collective" in emotion(s.text).kinds}
    out = []
    for place, group in sorted(by_place.items()):
        group.sort(key=lambda s: s.time)
        lo, fired_until = 0, None
        for hi in range(len(group)):
            while group[hi].time - group[lo].time > config.window:
                lo += 1
            inside = group[lo: hi + 1]
            citizens = {s.citizen or f"id:{s.id}" for s in inside}
            cue = any(id(s) in cues for s in inside)
            needed = config.min_citizens_with_cue if cue else config.min_citizens
            if len(citizens) >= needed and (fired_until is None or inside[0].time > fired_until):
                zh, en = _span(config.window)
                detail = (f"{len(citizens)} 位市民 {zh}内反映" + ("（联名/聚集）" if cue else "")
                          + f" / {len(citizens)} citizens within {en}" + (" (joint or gathering)" if cue else ""))
                out.append(RiskWarning("collective", place, inside[0].time, len(inside), needed, len(citizens),
                                       tuple(s.id for s in inside), detail))
                fired_until = group[hi].time  # one warning per wave, not one per message
    return out


@dataclass(frozen=True)
class Emotion:
    """How extreme a text's language is, which kinds of it, and the terms found."""

    level: EmotionLevel
    kinds: tuple[str, ...] = ()
    matched: tuple[str, ...] = ()


@lru_cache(maxsize=4)
def emotion_lexicon(path: str | Path = "emotion.txt") -> tuple[tuple[str, str, str], ...]:
    """Load (term, kind, level) triples from the emotion lexicon, validated."""
    terms = []
    for section in read_sections(path):
        if len(section.args) != 1 or section.args[0] not in _LEVELS:
            raise LexiconError(f"{path}: section [{section.name}] needs a level, one of {_LEVELS}")
        for entry, line in zip(section.entries, section.lines, strict=True):
            if len(entry) != 1:
                raise LexiconError(f"{path}:{line}: one term per line, got {' '.join(entry)!r}")
            terms.append((squeeze(entry[0]), section.name, section.args[0]))
    if not terms:
        raise LexiconError(f"{path}: no terms")
    return tuple(terms)


def emotion(text: str) -> Emotion:
    """Find extreme-emotion and collective-action language in a text."""
    folded = squeeze(text)
    hits = [(term, kind, level) for term, kind, level in emotion_lexicon() if term and term in folded]
    if not hits:
        return Emotion("none")
    level: EmotionLevel = "high" if any(h[2] == "high" for h in hits) else "medium"
    return Emotion(level, tuple(dict.fromkeys(h[1] for h in hits)), tuple(dict.fromkeys(h[0] for h in hits)))


def emotions(signals: Iterable[Signal], minimum: EmotionLevel = "high") -> list[RiskWarning]:
    """Warn on each case whose language reaches ``minimum`` (high, or medium and above)."""
    out = []
    for s in signals:
        found = emotion(s.text)
        if found.level == "high" or (minimum == "medium" and found.level == "medium"):
            out.append(RiskWarning("emotion", str(s.id), s.time, len(found.matched), 0.0,
                                   2.0 if found.level == "high" else 1.0, (s.id,),
                                   f"{'/'.join(found.kinds)}: {'、'.join(found.matched)}"))
    return out


def scan(signals: Sequence[Signal], since: datetime | None = None, burst: BurstConfig = BurstConfig(),
         gathering: CollectiveConfig = CollectiveConfig()) -> list[RiskWarning]:
    """Run every detector (bursts per place) and return the warnings at or after ``since``, newest first."""
    found = bursts(((s.time, place_of(s) or "?", s.id) for s in signals), burst, since)
    recent = [s for s in signals if since is None or s.time >= since]
    found += [w for w in collective(signals, gathering) if since is None or w.at >= since]
    found += emotions(recent)
    return sorted(found, key=lambda w: (w.at, w.kind, w.key), reverse=True)
