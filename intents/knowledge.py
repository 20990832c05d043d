"""Knowledge-base retrieval: a question in Chinese → the best articles with scores, or none.

Each article is indexed as several rows (every question variant, and its answer at a lower
weight). Terms are jieba words, character bigrams and single characters (a typo breaks a word
and two bigrams but leaves most characters); rows are ranked by BM25 over one sparse matrix.
The best candidates are then given a confidence in [0, 1]: the share of the question's IDF
mass that the article's best row covers, blended with rapidfuzz similarity for short questions.
Below ``threshold`` the index refuses: a hotline must not answer a question it did not understand.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections import Counter
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from rapidfuzz import fuzz
from scipy import sparse

from intents.similar import normalize
from intents.tokenize import cut

ArticleId = Hashable
K1 = 1.2
B = 0.75
#: Weight of each kind of term in a query: words, bigrams, single characters.
WORD_WEIGHT, BIGRAM_WEIGHT, CHAR_WEIGHT = 1.0, 1.0, 0.35
ANSWER_WEIGHT = 0.4  # an answer row counts less than a question variant
ANSWER_COVER = 0.6  # a question word found only in the answer covers this much of its weight
MIN_LETTERS = 3  # a question needs this many Chinese characters or Latin letters: "1", "12" or "好的" asks nothing
_LETTER = re.compile(r"[\u3400-\u9fffA-Za-z]")
SHORT_QUESTION = 24  # characters: below this, rapidfuzz similarity joins the confidence
THRESHOLD = 0.38
CANDIDATES = 30
UNKNOWN_SHARE = 0.5  # a question term the base never saw weighs half the rarest known term
_CJK = re.compile(r"[\u4e00-\u9fff]")
#: Words that say "this is a question" but nothing about what is asked.
STOP = frozenset(
    "的 了 吗 呢 吧 啊 呀 么 嘛 是 我 你 您 他 她 们 在 有 和 与 及 或 也 都 就 还 要 想 请 请问 问 问一下 一下 "
    "怎么 怎么样 怎样 如何 什么 哪里 哪儿 哪些 哪个 多少 几 能 能否 可以 可不可以 是否 需要 应该 该 会 "
    "为什么 咨询 了解 知道 一个 这个 那个 这 那 个 去 到 给 让 把 被 对 从 自己 现在 时候 办法 "
    "谁 找谁 找 怎么办 咋办 咋 啥 哪 怎么弄 如何是好 该怎么办 一般".split()
)
_STOP_CHARS = frozenset(t for t in STOP if len(t) == 1)


@dataclass(frozen=True, slots=True)
class KnowledgeDoc:
    """What retrieval needs of one article: its id, question variants, answer and validity dates."""

    article_id: ArticleId
    questions: tuple[str, ...]
    answer: str = ""
    valid_from: dt.date | None = None
    valid_to: dt.date | None = None

    def valid_on(self, day: dt.date) -> bool:
        """Tell whether the article may be served on ``day``."""
        return (self.valid_from is None or self.valid_from <= day) and (self.valid_to is None or day <= self.valid_to)


@dataclass(frozen=True, slots=True)
class Hit:
    """A retrieved article: its id, a confidence in [0, 1] and the variant that matched best."""

    article_id: ArticleId
    score: float
    matched: str


def terms(text: str, words: Sequence[str] | None = None) -> Counter[str]:
    """Return the weighted terms of a text: ``w:`` words, ``b:`` bigrams and ``c:`` characters."""
    norm = normalize(text)
    out: Counter[str] = Counter()
    for word in cut(norm) if words is None else words:
        if word != " " and word not in STOP:
            out["w:" + word] += 1
    for phrase in norm.split():
        for i in range(len(phrase) - 1):
            out["b:" + phrase[i: i + 2]] += 1
        for ch in phrase:
            if _CJK.match(ch) and ch not in _STOP_CHARS:
                out["c:" + ch] += 1
    return out


def core(text: str, words: Sequence[str] | None = None) -> str:
    """Return the text without punctuation and question words, for rapidfuzz comparisons."""
    return "".join(w for w in (cut(normalize(text)) if words is None else words) if w != " " and w not in STOP)


def _kind_weight(term: str) -> float:
    return {"w": WORD_WEIGHT, "b": BIGRAM_WEIGHT, "c": CHAR_WEIGHT}[term[0]]


class KnowledgeIndex:
    """An immutable BM25 index of articles; ``search`` ranks, ``best`` answers or refuses."""

    def __init__(self, docs: Iterable[KnowledgeDoc], threshold: float = THRESHOLD) -> None:
        self.docs = list(docs)
        self.threshold = threshold
        self._row_doc: list[int] = []
        self._row_text: list[str] = []
        self._row_weight: list[float] = []
        bags: list[Counter[str]] = []
        for d, doc in enumerate(self.docs):
            rows = [(q, 1.0) for q in doc.questions if q.strip()]
            if doc.answer.strip():
                rows.append((doc.answer, ANSWER_WEIGHT))
            for text, weight in rows:
                words = cut(normalize(text))
                self._row_doc.append(d)
                self._row_text.append(core(text, words) if weight == 1.0 else "")
                self._row_weight.append(weight)
                bags.append(terms(text, words))
        self.vocab: dict[str, int] = {}
        indptr, indices, counts = [0], [], []
        for bag in bags:
            for term, n in bag.items():
                indices.append(self.vocab.setdefault(term, len(self.vocab)))
                counts.append(n)
            indptr.append(len(indices))
        n_rows, n_terms = len(bags), max(len(self.vocab), 1)
        tf = sparse.csr_matrix((np.asarray(counts, dtype=np.float32), indices, indptr), shape=(n_rows, n_terms))
        df = np.bincount(np.asarray(indices, dtype=np.int64), minlength=n_terms) if indices else np.zeros(n_terms)
        self.idf = np.log(1.0 + (n_rows - df + 0.5) / (df + 0.5)).astype(np.float32)
        self.max_idf = float(math.log(1.0 + (n_rows + 0.5) / 0.5))
        lengths = np.asarray(tf.sum(axis=1)).ravel()
        norm = K1 * (1 - B + B * lengths / max(float(lengths.mean()) if n_rows else 1.0, 1e-9))
        tf = tf.tocoo()
        data = tf.data * (K1 + 1) / (tf.data + norm[tf.row]) * self.idf[tf.col]
        data *= np.asarray(self._row_weight, dtype=np.float32)[tf.row]
        # Columns are what a query selects, so keep the matrix column-major.
        self.matrix = sparse.csc_matrix((data, (tf.row, tf.col)), shape=(n_rows, n_terms))
        # What each article covers: a term in a question variant fully, one in the answer partly.
        weight = np.where(np.asarray(self._row_weight)[tf.row] == 1.0, 1.0, ANSWER_COVER)
        owner = sparse.csr_matrix(
            (np.ones(n_rows, dtype=np.float32), (self._row_doc, np.arange(n_rows))), shape=(len(self.docs), n_rows)
        )
        questions = owner @ sparse.csr_matrix((np.where(weight == 1.0, 1.0, 0.0), (tf.row, tf.col)),
                                              shape=(n_rows, n_terms))
        answers = owner @ sparse.csr_matrix((np.where(weight == 1.0, 0.0, ANSWER_COVER), (tf.row, tf.col)),
                                            shape=(n_rows, n_terms))
        self._cover = sparse.csr_matrix(questions.minimum(1.0).maximum(answers.minimum(ANSWER_COVER)))
        self._row_doc_arr = np.asarray(self._row_doc, dtype=np.int64)
        self._doc_rows: list[list[int]] = [[] for _ in self.docs]
        for row, d in enumerate(self._row_doc):
            self._doc_rows[d].append(row)

    def __len__(self) -> int:
        return len(self.docs)

    def _query(self, question: str) -> tuple[np.ndarray, np.ndarray, float]:
        """Return the known term ids, their query weights and the query's total IDF mass."""
        ids, weights, mass = [], [], 0.0
        for term, n in terms(question).items():
            w = _kind_weight(term) * (1.0 + math.log(n))
            col = self.vocab.get(term)
            mass += w * (self.max_idf * UNKNOWN_SHARE if col is None else float(self.idf[col]))
            if col is not None:
                ids.append(col)
                weights.append(w)
        return np.asarray(ids, dtype=np.int64), np.asarray(weights, dtype=np.float32), mass

    def rank(self, question: str, limit: int = 5, day: dt.date | None = None) -> list[tuple[int, float]]:
        """Return (document position, BM25 score) of the best articles, without a threshold."""
        ids, weights, _ = self._query(question)
        return self._rank(ids, weights, limit, day)

    def _rank(self, ids: np.ndarray, weights: np.ndarray, limit: int, day: dt.date | None) -> list[tuple[int, float]]:
        if not len(ids) or not self.docs:
            return []
        row_scores = self.matrix[:, ids] @ weights
        doc_scores = np.zeros(len(self.docs), dtype=np.float64)
        np.maximum.at(doc_scores, self._row_doc_arr, row_scores)
        if day is not None:
            for d, doc in enumerate(self.docs):
                if not doc.valid_on(day):
                    doc_scores[d] = 0.0
        k = min(limit, len(self.docs))
        top = np.argpartition(-doc_scores, k - 1)[:k]
        top = top[np.argsort(-doc_scores[top], kind="stable")]
        return [(int(d), float(doc_scores[d])) for d in top if doc_scores[d] > 0]

    def search(self, question: str, limit: int = 3, day: dt.date | None = None) -> list[Hit]:
        """Return up to ``limit`` articles valid on ``day`` with confidences, best first (no threshold)."""
        ids, weights, mass = self._query(question)
        if not len(ids) or mass <= 0:
            return []
        candidates = self._rank(ids, weights, CANDIDATES, day)
        if not candidates:
            return []
        docs = [d for d, _ in candidates]
        covered = (self._cover[docs][:, ids].multiply(self.idf[ids]) @ weights) / mass
        core_q = core(question)
        short = len(core_q) <= SHORT_QUESTION
        best: dict[int, tuple[float, str]] = {}
        top_bm25 = candidates[0][1]
        for i, d in enumerate(docs):
            conf, text, text_sim = float(covered[i]), "", -1.0
            for row in self._doc_rows[d]:
                if self._row_weight[row] != 1.0:
                    continue
                # rapidfuzz only for short questions: on long ones it costs time and adds nothing.
                sim = fuzz.ratio(core_q, self._row_text[row]) / 100.0 if short else 0.0
                if short and 0.5 * (conf + sim) > conf:
                    conf = 0.5 * (conf + sim)
                if sim > text_sim:
                    text, text_sim = self._row_text[row], sim
            best[d] = (conf, text)
        bm25 = dict(candidates)
        hits = [
            # Rank mostly by confidence, with BM25 (relative to the best) breaking near-ties.
            Hit(self.docs[d].article_id, round(min(1.0, conf), 4), text)
            for d, (conf, text) in sorted(
                best.items(), key=lambda kv: -(kv[1][0] + 0.15 * bm25[kv[0]] / top_bm25)
            )
        ]
        return hits[:limit]

    def best(self, question: str, day: dt.date | None = None) -> Hit | None:
        """Return the one article to answer with, or None when the best is below the threshold."""
        hits = self.search(question, limit=1, day=day)
        return hits[0] if hits and self.confident(question, hits[0].score) else None

    def confident(self, question: str, score: float) -> bool:
        """Tell whether a hit's score answers the question (a number or a filler word asks nothing, whatever it
        matches: "1" or "好的" covers some article's term fully)."""
        return score >= self.threshold and len(_LETTER.findall(question)) >= MIN_LETTERS


def build(docs: Sequence[KnowledgeDoc], threshold: float = THRESHOLD) -> KnowledgeIndex:
    """Build an index of articles."""
    return KnowledgeIndex(docs, threshold)
