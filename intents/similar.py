"""Near-duplicate search for merging repeat appeals (并单): an inverted index, then rapidfuzz."""

from __future__ import annotations

import json
import math
import random
import re
import unicodedata
from array import array
from collections.abc import Collection, Hashable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from rapidfuzz import fuzz, process

from intents.tokenize import cut

CaseId = Hashable
_DROP = re.compile(r"[\W_]+", re.UNICODE)
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u200e\u200f\u2060\ufeff\u00ad"))
_SYNTH_PATH = Path(__file__).with_name("lexicons") / "synthetic_appeals.json"
_NO_GRAMS = np.zeros(0, dtype=np.int32)


@dataclass(frozen=True, slots=True)
class Match:
    """A possible repeat of the query: its case id, a score in [0, 1] and reasons in Chinese."""

    case_id: CaseId
    score: float
    reasons: tuple[str, ...]


def normalize(text: str) -> str:
    """Fold width and case; turn punctuation, spaces and invisible characters into one space."""
    folded = unicodedata.normalize("NFKC", text or "").lower().translate(_INVISIBLE)
    return _DROP.sub(" ", folded).strip()


def shingles(norm: str) -> set[str]:
    """Return the character bigrams inside each phrase (a lone character if that is all)."""
    grams = {norm[i: i + 2] for i in range(len(norm) - 1)}
    grams = {g for g in grams if " " not in g}
    if not grams and norm.strip():
        grams = {c for c in norm if c != " "}
    return grams


def shared_words(a: str, b: str, limit: int = 4) -> list[str]:
    """List words of `a` (two characters or more) that also occur in `b`, longest first."""
    folded = normalize(b)
    common = [w for w in dict.fromkeys(cut(normalize(a))) if len(w) >= 2 and " " not in w and w in folded]
    return sorted(common, key=len, reverse=True)[:limit]


class _Column:
    """A growable numpy column (amortised doubling), so queries never copy Python lists."""

    def __init__(self, dtype: type, fill: float | bool) -> None:
        self.data = np.full(1024, fill, dtype=dtype)
        self.fill = fill

    def set(self, i: int, value: float | bool) -> None:
        if i >= len(self.data):
            grown = np.full(max(2 * len(self.data), i + 1), self.fill, dtype=self.data.dtype)
            grown[: len(self.data)] = self.data
            self.data = grown
        self.data[i] = value


class SimilarIndex:
    """An index of open cases; query() finds likely repeats of a new appeal.

    Candidates come from an inverted index of character bigrams weighted by IDF (one numpy
    bincount per query); only the best `candidates` are rescored with rapidfuzz, so a query costs
    about the same at 100,000 cases as at 1,000.
    """

    def __init__(self, *, candidates: int = 60, max_df: float = 0.1, min_score: float = 0.35) -> None:
        self.candidates = candidates
        self.max_df = max_df
        self.min_score = min_score
        self._reset()

    def _reset(self) -> None:
        self._postings: dict[str, array] = {}
        self._slot_of: dict[CaseId, int] = {}
        self._ids: list[CaseId | None] = []
        self._texts: list[str] = []
        self._norms: list[str] = []
        self._gram_id: dict[str, int] = {}  # bigram -> column of the arrays below
        self._df = _Column(np.int32, 0)  # each bigram's posting count (its document frequency)
        self._doc_grams: list[np.ndarray] = []  # each case's bigram ids, so a query does not cut them again
        self._place_code: dict[str, int] = {}  # district and street names as small ints (0: none), for numpy
        self._place_name: list[str | None] = [None]  # the name of each code
        self._district = _Column(np.int32, 0)
        self._street = _Column(np.int32, 0)
        self._ts = _Column(np.float64, 0.0)
        self._alive = _Column(np.bool_, False)
        self._length = _Column(np.float32, 1.0)
        self._dead = 0

    def __len__(self) -> int:
        return len(self._slot_of)

    def __contains__(self, case_id: object) -> bool:
        return case_id in self._slot_of

    def add(self, case_id: CaseId, text: str, district: str | None = None, street: str | None = None,
            created_at: datetime | None = None) -> None:
        """Add (or replace) an open case."""
        if case_id is None:
            raise ValueError("case_id must not be None")
        if created_at is None or created_at.tzinfo is None:
            raise ValueError(f"case {case_id!r}: created_at must be a timezone-aware datetime")
        if case_id in self._slot_of:
            self.remove(case_id)
        slot = len(self._ids)
        norm = normalize(text)
        grams = shingles(norm)
        ids = np.empty(len(grams), dtype=np.int32)
        for j, gram in enumerate(grams):
            posting = self._postings.get(gram)
            if posting is None:
                posting = self._postings[gram] = array("i")
                self._gram_id[gram] = len(self._gram_id)
            posting.append(slot)
            ids[j] = gid = self._gram_id[gram]
            self._df.set(gid, len(posting))
        self._slot_of[case_id] = slot
        self._ids.append(case_id)
        self._texts.append(text)
        self._norms.append(norm)
        self._doc_grams.append(ids)
        self._district.set(slot, self._code(district))
        self._street.set(slot, self._code(street))
        self._ts.set(slot, created_at.timestamp())
        self._alive.set(slot, True)
        self._length.set(slot, math.sqrt(max(len(grams), 1)))

    def _code(self, name: str | None) -> int:
        """Return the small int of a district or street name (0 for none), adding it if new."""
        if not name:
            return 0
        code = self._place_code.get(name)
        if code is None:
            code = self._place_code[name] = len(self._place_name)
            self._place_name.append(name)
        return code

    def remove(self, case_id: CaseId) -> bool:
        """Remove a case (merged, closed); return whether it was there."""
        slot = self._slot_of.pop(case_id, None)
        if slot is None:
            return False
        self._alive.data[slot] = False
        self._ids[slot] = None
        self._texts[slot] = self._norms[slot] = ""
        self._doc_grams[slot] = _NO_GRAMS
        self._dead += 1
        if self._dead > 1000 and self._dead > len(self._slot_of):
            self._compact()
        return True

    def _compact(self) -> None:
        """Rebuild without removed cases, so postings do not fill up with dead slots."""
        live = [(cid, self._slot_of[cid]) for cid in self._ids if cid is not None]
        texts, names, ts = self._texts, self._place_name, self._ts.data.copy()
        districts, streets = self._district.data.copy(), self._street.data.copy()
        self._reset()
        for cid, slot in live:
            self.add(cid, texts[slot], names[districts[slot]], names[streets[slot]],
                     created_at=datetime.fromtimestamp(float(ts[slot]), UTC))

    def _idf(self, gram: str, n: int) -> float:
        df = len(self._postings.get(gram, ()))
        return float(_inverse_df(df, n)) if df else 0.0

    def query(self, text: str, district: str | None = None, street: str | None = None,
              since: datetime | None = None, until: datetime | None = None, limit: int = 5,
              exclude: Collection[CaseId] = (), explain: bool = True) -> list[Match]:
        """Find the open cases most likely to be the same matter, best first.

        ``explain=False`` leaves out the shared-words reason (a jieba cut per match) for callers
        that show no reasons.
        """
        for bound in (since, until):
            if bound is not None and bound.tzinfo is None:
                raise ValueError("since and until must be timezone-aware datetimes")
        norm = normalize(text)
        grams = shingles(norm)
        total = len(self._ids)
        if not grams or not self._slot_of or limit <= 0:
            return []
        n = len(self._slot_of)
        weights = {g: self._idf(g, n) for g in grams}
        cap = self.max_df * total if n >= 1000 else float("inf")
        present = sorted((g for g in weights if g in self._postings), key=lambda g: -weights[g])
        # Very common bigrams cost the most and tell the least; if nothing else is left, the
        # three rarest still generate candidates.
        chosen = [g for g in present if len(self._postings[g]) <= cap] or present[:3]
        if not chosen:
            return []
        arrays = [np.frombuffer(self._postings[g], dtype=np.int32) for g in chosen]
        values = [np.full(len(self._postings[g]), weights[g], dtype=np.float32) for g in chosen]
        slots = np.concatenate(arrays)
        del arrays  # release the buffer exports so the postings can grow again
        scores = np.bincount(slots, weights=np.concatenate(values), minlength=total)[:total]
        scores = scores / self._length.data[:total]
        mask = self._alive.data[:total].copy()
        if since is not None:
            mask &= self._ts.data[:total] >= since.timestamp()
        if until is not None:
            mask &= self._ts.data[:total] <= until.timestamp()
        scores = np.where(mask, scores, 0.0)
        k = min(self.candidates, int(np.count_nonzero(scores)))
        if k == 0:
            return []
        top = np.argpartition(-scores, k - 1)[:k]
        q_len = math.sqrt(sum(w * w for w in weights.values())) or 1.0
        skip = set(exclude)
        # The cheap parts of every candidate's score first; rapidfuzz's partial ratio (15 % of the text
        # score, the costliest part) only while a candidate could still reach the best ``limit``.
        picked = [slot for slot in map(int, top) if self._ids[slot] not in skip]
        if not picked:
            return []
        cosines = self._cosines(picked, weights, q_len, n)
        ratios = process.cdist([norm], [self._norms[slot] for slot in picked], scorer=fuzz.ratio,
                               dtype=np.float64)[0]
        slots = np.array(picked)
        base = 0.6 * cosines + 0.25 * (ratios / 100)  # + 0.15 × the partial ratio, below
        agreement = self._agreement(slots, district, street)
        place = _place_scores(*agreement)
        partial = np.fromiter((min(len(self._norms[s]), len(norm)) >= 4 for s in picked), bool, len(picked))
        bound = np.minimum(np.maximum(base + np.where(partial, 0.15, 0.0) + place, 0.0), 1.0)
        scored: list[tuple[float, float, int, int]] = []
        for i in np.lexsort((slots, -bound)).tolist():  # best bound first, then the earlier case
            slot, limit_bound = int(slots[i]), float(bound[i])
            if limit_bound < self.min_score or (len(scored) >= limit and limit_bound < scored[limit - 1][0]):
                break  # neither this candidate nor any after it (smaller bounds) can make the list
            text_score = float(base[i]) + (
                0.15 * (fuzz.partial_ratio(norm, self._norms[slot]) / 100) if partial[i] else 0.0)
            scored.append((min(max(text_score + float(place[i]), 0.0), 1.0), text_score, slot, i))
            scored.sort(key=lambda item: (-item[0], item[2]))
        matches = []
        for score, text_score, slot, i in scored[:limit]:
            if score < self.min_score:
                break
            notes = self._place_notes(slot, [bool(a[i]) for a in agreement], district, street)
            reasons = [f"文本相似度 {text_score:.2f}"]
            words = shared_words(text, self._texts[slot]) if explain else []
            if words:
                reasons.append("共同用语：" + "、".join(words))
            created = datetime.fromtimestamp(float(self._ts.data[slot]), UTC)
            reasons += [*notes, f"受理时间：{created:%Y-%m-%d}"]
            matches.append(Match(self._ids[slot], round(score, 4), tuple(reasons)))
        return matches

    def _cosines(self, slots: list[int], weights: dict[str, float], q_len: float, n: int) -> np.ndarray:
        """Return the IDF-weighted cosine of the query with each case, over the bigram ids at once."""
        arrays = [self._doc_grams[slot] for slot in slots]
        sizes = np.fromiter((len(a) for a in arrays), dtype=np.intp, count=len(arrays))
        ids = np.concatenate(arrays)
        owner = np.repeat(np.arange(len(slots)), sizes)
        idf = _inverse_df(self._df.data[ids], n)  # every bigram of a case has a posting
        d_len = np.sqrt(np.bincount(owner, weights=idf * idf, minlength=len(slots)))
        d_len[d_len == 0] = 1.0
        known = [(self._gram_id[g], w * w) for g, w in weights.items() if g in self._gram_id]
        if not known:
            return np.zeros(len(slots))
        q_ids, q_w2 = (np.array(v) for v in zip(*sorted(known), strict=True))
        at = np.minimum(np.searchsorted(q_ids, ids), len(q_ids) - 1)
        shared = np.where(q_ids[at] == ids, q_w2[at], 0.0)
        return np.bincount(owner, weights=shared, minlength=len(slots)) / (q_len * d_len)

    def _agreement(self, slots: np.ndarray, district: str | None,
                   street: str | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return, for each case, whether it is in the query's street, else in its district; and in another district."""
        c_district, c_street = self._district.data[slots], self._street.data[slots]
        none = np.zeros(len(slots), dtype=bool)
        q_district = self._place_code.get(district, -1) if district else 0  # -1: a district no case has
        same_street = (c_street != 0) & (c_street == self._place_code.get(street, -1)) if street else none
        known = (c_district != 0) if district else none
        return same_street, known & (c_district == q_district) & ~same_street, known & (c_district != q_district)

    def _place_notes(self, slot: int, agreement: list[bool], district: str | None, street: str | None) -> list[str]:
        """Return the reasons a case's place agreement gives (see ``_agreement``)."""
        same_street, same_district, other_district = agreement
        notes = [f"同一街道：{street}"] if same_street else [f"同一区：{district}"] if same_district else []
        if other_district:
            notes.append(f"不同区：{self._place_name[self._district.data[slot]]}")
        return notes


def _inverse_df(df: float | np.ndarray, n: int) -> float | np.ndarray:
    """Return the inverse document frequency of a bigram in ``df`` of ``n`` cases (numbers or numpy arrays)."""
    return np.log((n + 1) / (df + 0.5))


def _place_scores(same_street: np.ndarray, same_district: np.ndarray, other_district: np.ndarray) -> np.ndarray:
    """Return the place part of the score: +0.1 same street, else +0.05 same district; −0.2 another district."""
    return np.where(same_street, 0.1, np.where(same_district, 0.05, 0.0)) - np.where(other_district, 0.2, 0.0)


def synthetic_appeals(n: int, seed: int = 7) -> list[tuple[str, str, str, str]]:
    """Generate n template appeals as (case_id, text, district, street), reproducibly."""
    data = json.loads(_SYNTH_PATH.read_text(encoding="utf-8"))
    rng = random.Random(seed)
    out = []
    for i in range(n):
        district, street = rng.choice(data["streets"])
        slots = {key: rng.choice(values) for key, values in data["slots"].items()}
        slots["num"] = str(rng.randint(1, 40))
        text = rng.choice(data["templates"]).format(street=street, **slots)
        out.append((f"S{i:06d}", text, district, street))
    return out


def build_synthetic_index(n: int, seed: int = 7, now: datetime | None = None) -> SimilarIndex:
    """Build an index of n synthetic open cases spread over the 90 days before `now`."""
    now = now or datetime.now(UTC)
    rng = random.Random(seed + 1)
    index = SimilarIndex()
    for case_id, text, district, street in synthetic_appeals(n, seed):
        index.add(case_id, text, district, street, now - timedelta(minutes=rng.randint(0, 90 * 24 * 60)))
    return index
