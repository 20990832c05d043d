"""Hot issues: cluster messages into topics (one problem, one place or group) and rank them by a hot index.

Pipeline (pure, synchronous, no storage imports):
1. Split each text into *place* phrases (A5区, 魅力之城小区, 东风路 …) and the *problem* text left over,
   and build sparse TF-IDF character-bigram vectors of both.
2. Candidate pairs without all pairs: each message is blocked under its heaviest problem and place
   bigrams and compared with its neighbours in SimHash order inside each block (O(n·keys·window)).
3. Two messages are linked when their problems and their places are alike (a closer problem when
   one names no place). Topics are connected components, trimmed to their centroid, then joined.
4. Topics are described (key words, places, citizens, support, growth, recency, concentration)
   and ranked by the hot index documented in docs/analytics.md.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

import numpy as np
import scipy.sparse as sp

from intents.lexicons import read_sections
from intents.tokenize import tokenizer

_SUFFIX = "小区|社区|村|镇|乡|街道|大道|路|街|区|县|花园|广场|公园|学院|大学|中学|小学|医院|新城|家园|苑|湾|园"
PLACE = re.compile(rf"[A-Za-z0-9\u4e00-\u9fff]{{2,10}}?(?:{_SUFFIX})")
_PLACE_WORD = re.compile(rf"^(?:[A-Za-z]\d*[市区县]|.{{2,}}(?:{_SUFFIX})|{_SUFFIX})$")
_CODE = re.compile(r"^[A-Za-z0-9]{1,3}$")
_NOISE = re.compile(r"[\W_]+", re.UNICODE)
_KEEP_LINES = re.compile(r"(?:[^\w\n]|_)+", re.UNICODE)
# The whole city or province names no place; leading verbs are no part of a place's name.
_BROAD = re.compile(
    r"[A-Z]市|[\u4e00-\u9fff]{2}[省市](?=[\u4e00-\u9fffA-Z])|关于|请问|请求|投诉|反映|建议|咨询|举报|问问|恳请"
)
_TIME = re.compile(r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?(?:[ T]+(\d{1,2}):(\d{2})(?::(\d{2}))?)?")


@dataclass(frozen=True)
class Message:
    """One citizen message: an appeal, a board post; ``user`` is who wrote it (None: unknown)."""

    id: Hashable
    title: str
    body: str = ""
    time: datetime | None = None
    user: str | None = None
    likes: int = 0
    dislikes: int = 0


@dataclass(frozen=True)
class HotConfig:
    """Thresholds of the clustering and the hot index (documented in docs/analytics.md)."""

    problem_threshold: float = 0.1  # cosine of problem bigrams for a link (when the places agree)
    place_threshold: float = 0.5  # cosine of place bigrams for a link
    unplaced_threshold: float = 0.25  # problem cosine needed when one side names no place
    centroid_threshold: float = 0.1  # members less like their topic than this are cut off
    merge_threshold: float = 0.2  # topics whose problem centroids are this alike (same place) are one
    keys: int = 4  # each message is blocked under its heaviest problem bigrams …
    place_keys: int = 4  # … and place bigrams …
    window: int = 6  # … and compared with this many neighbours (in SimHash order) in each block
    body_chars: int = 40  # the title and the start of the body carry the matter
    min_citizens: int = 3  # fewer distinct citizens: not a hot issue
    min_messages: int = 3
    half_life_days: float = 30.0  # recency halves every this many days
    window_days: float = 30.0  # growth and concentration window
    seed: int = 7


@dataclass(frozen=True)
class Topic:
    """A hot issue: what it is about, who raised it, how strongly, and the messages behind it."""

    label: str
    keywords: tuple[str, ...]
    places: tuple[str, ...]
    size: int
    citizens: int
    likes: int
    dislikes: int
    support: float
    growth: float
    recency: float
    concentration: float
    hot_index: float
    first: datetime | None
    last: datetime | None
    message_ids: tuple[Hashable, ...]
    examples: tuple[str, ...]


def parse_time(text: str) -> datetime | None:
    """Parse 2019/8/19 11:34:04, 2019-08-19, 2019年8月19日 and similar; None if there is no date."""
    m = _TIME.search(text or "")
    if not m:
        return None
    y, mo, d, h, mi, s = (int(g) if g else 0 for g in m.groups())
    try:
        return datetime(y, mo, d, h, mi, s)
    except ValueError:
        return None


def split_places(text: str) -> tuple[str, str]:
    """Split text into its place phrases (space-joined) and the rest (the problem)."""
    return " ".join(PLACE.findall(text)), PLACE.sub(" ", text)


def _clean(text: str) -> str:
    return _NOISE.sub(" ", _BROAD.sub(" ", unicodedata.normalize("NFKC", text or ""))).strip()


def split_all(texts: Sequence[str]) -> tuple[list[str], list[str]]:
    """Clean and split many texts at once (one pass of each pattern over the joined texts)."""
    joined = "\n".join(t.replace("\n", " ") for t in texts)
    joined = _KEEP_LINES.sub(" ", _BROAD.sub(" ", unicodedata.normalize("NFKC", joined)))
    ends = np.flatnonzero(np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32) == 10)
    found = [(m.start(), m.group()) for m in PLACE.finditer(joined)]
    owners = np.searchsorted(ends, np.array([f[0] for f in found], dtype=np.int64)).tolist()
    places: list[list[str]] = [[] for _ in texts]
    for owner, (_, text) in zip(owners, found, strict=True):
        places[owner].append(text)
    problems = PLACE.sub(" ", joined).split("\n")
    return [" ".join(p) for p in places], problems


def _codes(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Return (document, bigram code) of every in-phrase character bigram, vectorised over all texts."""
    joined = " ".join(texts) + " "  # a space ends every text, so no bigram crosses two texts
    chars = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32)
    doc = np.repeat(np.arange(len(texts)), [len(t) + 1 for t in texts])
    present = np.bincount(chars, minlength=0x110000) > 0
    ids = (np.cumsum(present) - 1).astype(np.int64)
    width = int(present.sum())
    pos = np.flatnonzero((chars[:-1] != 32) & (chars[1:] != 32))
    return doc[pos], ids[chars[pos]] * width + ids[chars[pos + 1]]


def _unit_rows(x: sp.spmatrix) -> sp.csr_matrix:
    """Return a copy with each row scaled to length 1 (an empty row stays empty), entries and dtype kept in place."""
    x = sp.csr_matrix(x, copy=True)
    if x.nnz:
        squares = x.data * x.data
        sizes = np.diff(x.indptr)
        sums = np.zeros(x.shape[0], dtype=x.dtype)
        filled = sizes > 0
        sums[filled] = np.add.reduceat(squares, x.indptr[:-1][filled])
        norms = np.sqrt(sums)
        norms[norms == 0] = 1
        x.data /= np.repeat(norms, sizes)
    return x


def _groups(graph: sp.spmatrix) -> np.ndarray:
    """Return the connected component of each node of an undirected graph."""
    from scipy.sparse.csgraph import connected_components  # only where hot issues are detected: ≈ 13 MB

    return connected_components(graph, directed=False)[1]


def _vectors(texts: Sequence[str]) -> sp.csr_matrix:
    """Return l2-normalised TF-IDF (sublinear tf, smooth idf) of in-phrase character bigrams."""
    n = len(texts)
    doc, code = _codes(texts)
    if len(code) == 0:
        return sp.csr_matrix((n, 1), dtype=np.float32)
    space = int(code.max()) + 1
    if space <= 1 << 25:  # a lookup table beats sorting every bigram
        present = np.zeros(space, bool)
        present[code] = True
        column = (np.cumsum(present, dtype=np.int32) - 1)[code]
    else:
        column = np.unique(code, return_inverse=True)[1].ravel()
    counts = sp.csr_matrix((np.ones(len(code), np.float32), (doc, column)), shape=(n, int(column.max()) + 1))
    counts.sum_duplicates()
    df = np.bincount(counts.indices, minlength=counts.shape[1])
    idf = np.log((1 + n) / (1 + df)) + 1
    # Bigrams in over half the messages say nothing in a big corpus; a small one may be all one topic.
    if n >= 200:
        idf[df > 0.5 * n] = 0
    counts.data = ((1 + np.log(counts.data)) * idf[counts.indices]).astype(np.float32)
    counts.eliminate_zeros()
    return _unit_rows(counts).astype(np.float32)


def _pair_cos(x: sp.csr_matrix, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.asarray(x[a].multiply(x[b]).sum(axis=1)).ravel()


def _top_keys(x: sp.csr_matrix, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Return (row, column) of each row's ``k`` heaviest entries."""
    rows = np.repeat(np.arange(x.shape[0]), np.diff(x.indptr))
    order = np.argsort(rows + (1.0 - x.data) * 0.5, kind="stable")  # by row, heaviest first (data in (0, 1])
    keep = order[np.arange(len(order)) - x.indptr[:-1][rows[order]] < k]
    return rows[keep], x.indices[keep]


def _candidates(x: sp.csr_matrix, keyed: Sequence[tuple[sp.csr_matrix, int]],
                config: HotConfig) -> tuple[np.ndarray, np.ndarray]:
    """Return candidate pairs (each once): messages sharing one of their heaviest bigrams, compared with
    their nearest neighbours in SimHash order inside that block - O(n·keys·window), never all pairs."""
    n = x.shape[0]
    rng = np.random.default_rng(config.seed)
    planes = rng.standard_normal((x.shape[1], 64)).astype(np.float32)
    simhash = np.ascontiguousarray(np.packbits(np.asarray(x @ planes) > 0, axis=1)).view(">u8").ravel()
    docs, keys, width = [], [], 0
    for matrix, k in keyed:
        d, key = _top_keys(matrix, k)
        docs.append(d)
        keys.append(key.astype(np.int64) + width)
        width += matrix.shape[1]
    key_doc, key = np.concatenate(docs), np.concatenate(keys)
    if width < 1 << 23:  # one sort on (key, top 41 SimHash bits) instead of a two-key lexsort
        block = np.argsort((key.astype(np.uint64) << np.uint64(41)) | (simhash[key_doc] >> np.uint64(23)))
    else:
        block = np.lexsort((simhash[key_doc], key))
    key_doc, key = key_doc[block], key[block]
    found = []
    for offset in range(1, config.window + 1):
        same = key[:-offset] == key[offset:]
        a, b = key_doc[:-offset][same], key_doc[offset:][same]
        found.append(np.minimum(a, b).astype(np.int64) * n + np.maximum(a, b))
    pairs = np.sort(np.concatenate(found)) if found else np.empty(0, np.int64)
    pairs = pairs[np.r_[True, pairs[1:] != pairs[:-1]]] if len(pairs) else pairs
    pairs = pairs[pairs // n != pairs % n]
    return pairs // n, pairs % n


def cluster(messages: Sequence[Message], config: HotConfig = HotConfig()) -> np.ndarray:
    """Label each message with a topic number (messages alone in a topic get their own number)."""
    n = len(messages)
    if n == 0:
        return np.empty(0, np.int64)
    place_texts, problem_texts = split_all([f"{m.title} {m.title} {m.body[: config.body_chars]}" for m in messages])
    xl = _vectors(place_texts)
    xp = _vectors(problem_texts)
    has_place = np.diff(xl.indptr) > 0
    combined = _unit_rows(sp.hstack([xp, xl * 0.7]))
    a, b = _candidates(combined, [(xp, config.keys), (xl, config.place_keys)], config)
    keep_a, keep_b = [], []
    step = 500_000
    for i in range(0, len(a), step):
        ca, cb = a[i: i + step], b[i: i + step]
        ok = _pair_cos(xp, ca, cb) >= config.problem_threshold
        ca, cb = ca[ok], cb[ok]
        cos = _pair_cos(xp, ca, cb)
        placed = has_place[ca] & has_place[cb]
        ok = np.where(placed, _pair_cos(xl, ca, cb) >= config.place_threshold, cos >= config.unplaced_threshold)
        keep_a.append(ca[ok])
        keep_b.append(cb[ok])
    ea, eb = np.concatenate(keep_a or [a[:0]]), np.concatenate(keep_b or [b[:0]])
    graph = sp.coo_matrix((np.ones(len(ea), np.int8), (ea, eb)), shape=(n, n))
    labels = _groups(graph)
    labels = _trim(xp, labels.astype(np.int64), config)
    return _merge(labels, xp, xl, config)


def _merge(labels: np.ndarray, xp: sp.csr_matrix, xl: sp.csr_matrix, config: HotConfig) -> np.ndarray:
    """Join topics whose centroids are alike in problem and place (one issue split by the linking)."""
    n = len(labels)
    uniq, local = np.unique(labels, return_inverse=True)
    indicator = sp.csr_matrix((np.ones(n, np.float32), (local, np.arange(n))), shape=(len(uniq), n))
    big = np.flatnonzero(np.bincount(local) >= 2)
    if len(big) < 2:
        return labels
    cp, cl = _unit_rows(indicator[big] @ xp), _unit_rows(indicator[big] @ xl)
    a, b = _candidates(_unit_rows(sp.hstack([cp, cl * 0.7])), [(cp, config.keys), (cl, config.place_keys)],
                       config)
    ok = (_pair_cos(cp, a, b) >= config.merge_threshold) & (_pair_cos(cl, a, b) >= config.place_threshold)
    graph = sp.coo_matrix((np.ones(int(ok.sum()), np.int8), (a[ok], b[ok])), shape=(len(big), len(big)))
    joined = _groups(graph)
    target = np.arange(len(uniq))
    target[big] = big[np.unique(joined, return_index=True)[1][joined]]
    return target[local]


def _trim(xp: sp.csr_matrix, labels: np.ndarray, config: HotConfig) -> np.ndarray:
    """Cut members whose problem is far from their topic's centroid (chains drift)."""
    n = len(labels)
    sizes = np.bincount(labels)
    member = sizes[labels] >= 3
    if not member.any():
        return labels
    idx = np.flatnonzero(member)
    uniq, local = np.unique(labels[idx], return_inverse=True)
    indicator = sp.csr_matrix((np.ones(len(idx), np.float32), (local, idx)), shape=(len(uniq), n))
    centroids = _unit_rows(indicator @ xp)
    sims = np.asarray(xp[idx].multiply(centroids[local]).sum(axis=1)).ravel()
    out = labels.copy()
    far = idx[sims < config.centroid_threshold]
    out[far] = labels.max() + 1 + np.arange(len(far))
    return out


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    """Return the words kept out of topic labels (lexicons/hot_stopwords.txt)."""
    return frozenset(e[0] for s in read_sections("hot_stopwords.txt", default="stop") for e in s.entries)


def _words(text: str) -> set[str]:
    stop = stopwords()
    return {w for w in tokenizer().lcut(_clean(text), HMM=False) if len(w) >= 2 and w not in stop}


def _keywords(titles: Sequence[str], background: Counter[str], total: int, limit: int = 6) -> list[str]:
    counts: Counter[str] = Counter()
    for t in titles:
        counts.update(_words(t))
    scored = []
    for word, c in counts.items():
        share = c / len(titles)
        if share >= 0.3:
            scored.append((share * math.log((total + 1) / (background.get(word, 0) + 1)), word))
    chosen: list[str] = []
    for _, word in sorted(scored, reverse=True):
        if not any(word in c or c in word for c in chosen):  # a prefix of a chosen word adds nothing
            chosen.append(word)
    return chosen[:limit]


def _concentration(times: list[datetime], window: timedelta) -> float:
    if not times:
        return 0.0
    times.sort()
    best, lo = 1, 0
    for hi in range(len(times)):
        while times[hi] - times[lo] > window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best / len(times)


def hot_index(citizens: int, likes: Sequence[int], dislikes: int, recency: float, concentration: float) -> float:
    """Return ln(1+citizens)·(1 + ¼·approval·ln(1+Σln(1+likesᵢ)))·(½+½·recency)·(½+½·concentration)."""
    total = sum(likes)
    approval = (total + 1) / (total + dislikes + 2)  # Laplace-smoothed likes against dislikes
    damped = sum(math.log1p(max(0, v)) for v in likes)  # one much-liked message cannot carry a topic
    return (math.log1p(citizens) * (1 + 0.25 * approval * math.log1p(damped))
            * (0.5 + 0.5 * recency) * (0.5 + 0.5 * concentration))


def describe(messages: Sequence[Message], members: Sequence[int], now: datetime, background: Counter[str],
             total: int, config: HotConfig = HotConfig()) -> Topic | None:
    """Describe one cluster as a topic, or None when it is no hot issue (too few citizens, place only)."""
    msgs = [messages[i] for i in members]
    users = {m.user if m.user else f"id:{m.id}" for m in msgs}
    if len(msgs) < config.min_messages or len(users) < config.min_citizens:
        return None
    sample = sorted(msgs, key=lambda m: (-m.likes, str(m.id)))[:40]
    titles = [m.title or m.body[:40] for m in sample]
    words = _keywords(titles, background, total)
    place_counts = Counter(p for m in sample for p in set(PLACE.findall(_clean(m.title))))
    places = tuple(p for p, c in place_counts.most_common(2) if c / len(sample) >= 0.3)
    problem = [w for w in words if not _PLACE_WORD.match(w) and not _CODE.match(w)
               and not any(w in p for p in places)]
    if not problem or (not places and len(problem) < 2):
        return None  # held together only by a place name, or by one broad word
    times = [m.time for m in msgs if m.time is not None]
    window = timedelta(days=config.window_days)
    last = max(times) if times else None
    recency = 0.5 ** ((now - last).total_seconds() / 86400 / config.half_life_days) if last else 0.5
    recent = sum(1 for t in times if now - window < t <= now)
    before = sum(1 for t in times if now - 2 * window < t <= now - window)
    likes, dislikes = [m.likes for m in msgs], sum(m.dislikes for m in msgs)
    concentration = _concentration(list(times), window)
    examples: list[str] = []
    seen_users: set[str | None] = set()
    for m in sample:
        text = m.title or m.body[:40]
        if (m.user not in seen_users or m.user is None) and text not in examples:
            seen_users.add(m.user)
            examples.append(text)
        if len(examples) == 3:
            break
    return Topic(
        label=" ".join(dict.fromkeys([*places, *problem[:4]])), keywords=tuple(problem), places=places,
        size=len(msgs), citizens=len(users), likes=sum(likes), dislikes=dislikes,
        support=(sum(likes) + 1) / (sum(likes) + dislikes + 2), growth=(recent + 1) / (before + 1),
        recency=recency, concentration=concentration,
        hot_index=hot_index(len(users), likes, dislikes, recency, concentration),
        first=min(times) if times else None, last=last, message_ids=tuple(m.id for m in msgs),
        examples=tuple(examples),
    )


def detect(messages: Sequence[Message], top: int = 10, now: datetime | None = None,
           config: HotConfig = HotConfig()) -> list[Topic]:
    """Cluster messages and return the ``top`` hot issues, hottest first."""
    if not messages:
        return []
    labels = cluster(messages, config)
    times = [m.time for m in messages if m.time is not None]
    now = now or (max(times) if times else datetime(1970, 1, 1))
    groups: dict[int, list[int]] = {}
    for i, label in enumerate(labels.tolist()):
        groups.setdefault(label, []).append(i)
    candidates = [g for g in groups.values() if len(g) >= config.min_messages]
    # Rank cheaply by distinct citizens first; key words (jieba) only for the strongest few.
    candidates.sort(key=lambda g: -len({messages[i].user or i for i in g}))
    rng = np.random.default_rng(config.seed)
    pick = rng.choice(len(messages), size=min(len(messages), 3000), replace=False)
    background: Counter[str] = Counter()
    for i in pick.tolist():
        background.update(_words(messages[i].title or messages[i].body[:40]))
    topics = []
    for g in candidates[: max(50, top * 5)]:
        topic = describe(messages, g, now, background, len(pick), config)
        if topic is not None:
            topics.append(topic)
    topics.sort(key=lambda t: (-t.hot_index, -t.citizens, t.label))
    return topics[:top]
