"""Category classifier: hashed word + character n-gram TF-IDF and a linear SVM, shipped as npz + json.

The model file holds only numbers (int8 coefficients with per-label scales, float16 IDF weights) and a
JSON header with the labels and feature parameters, so loading it runs no pickle and no training text
is stored: features are hashed, never listed. A loaded model keeps the int8 coefficients as they are
(5.5 MB, not 44 MB of float32 copies) and needs no scikit-learn: that is imported only to train.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

import mmh3
import numpy as np
import scipy.sparse as sp

from intents.tokenize import cut

DEFAULT_MODEL_PATH = Path(__file__).parent / "models" / "classifier.npz"
FORMAT = "intents.classifier/1"

Progress = Callable[[str, float], None]

_SPACE = re.compile(r"\s+")
_TITLE_MAX = 80  # a first line longer than this is not a title
_SPACED_BODY_MIN = 60  # "title body" joined by a space: only long texts, so chat stays whole
_FIRST_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Record:
    """One labelled message; either text may be empty, weight scales its influence."""

    title: str
    body: str
    label: str
    weight: float = 1.0


@dataclass(frozen=True)
class Suggestion:
    """One ranked category for a text, with the n-grams that pushed it up most."""

    category: str
    score: float
    evidence: tuple[str, ...] = ()


@dataclass(frozen=True)
class Params:
    """Feature and training parameters; stored in the model file."""

    word_ngrams: tuple[int, int] = (1, 2)
    char_ngrams: tuple[int, int] = (1, 3)
    title_repeat: int = 3
    word_chars: int = 100
    jieba_hmm: bool = False  # dictionary-only cutting: ~20 % faster, no loss measured
    char_chars: int = 1000
    word_bits: int = 18
    char_bits: int = 19
    title_space: bool = True
    solver: str = "sgd+nbsvm"  # "+"-joined: svm (LinearSVC), sgd (modified Huber), nbsvm (NB-SVM)
    C: float = 1.0
    nb_alpha: float = 1.0
    alpha: float = 2e-5
    epochs: int = 60
    temperature: float = 0.6
    # Multiplies the fitted intercepts before they are stored: 0.0 drops them, 1.0 keeps them. One-vs-rest
    # intercepts are priors that favour the big labels; without them macro-F1 gains +0.004 in grouped
    # 5-fold CV (docs/classifier.md, tables F3 and G). Applied at training, so the file format is unchanged.
    intercept_scale: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)


def normalize(text: str) -> str:
    """Fold width and case and drop whitespace, as done for training text."""
    return _SPACE.sub("", unicodedata.normalize("NFKC", text or "")).lower()


def split_text(text: str) -> tuple[str, str]:
    """Split text into (title, body): a short first line, or a short head before a long body, is a title.

    Callers should pass "title\nbody"; a title joined to a long body by a space is recognised too,
    while short chat text stays one body.
    """
    text = (text or "").strip()
    head, sep, rest = text.partition("\n")
    if sep and rest.strip() and len(head.strip()) <= _TITLE_MAX:
        return head, rest
    parts = _FIRST_SPACE.split(text, maxsplit=1)
    if len(parts) == 2 and len(parts[0]) <= _TITLE_MAX and len(parts[1]) >= _SPACED_BODY_MIN:
        return parts[0], parts[1]
    return "", text


def _ngrams(seq: Sequence[str], lo: int, hi: int, joiner: str) -> list[str]:
    out: list[str] = []
    for n in range(lo, hi + 1):
        out.extend(joiner.join(seq[i : i + n]) for i in range(len(seq) - n + 1))
    return out


def word_features(title: str, body: str, params: Params) -> list[str]:
    """Return jieba word n-grams of the title (repeated, and title-marked) and the start of the body."""
    lo, hi = params.word_ngrams
    feats: list[str] = []
    if title:
        grams = _ngrams(cut(title, params.jieba_hmm), lo, hi, " ")
        feats = grams * params.title_repeat
        if params.title_space:
            feats += ["T:" + g for g in grams]
    if body:
        feats += _ngrams(cut(body[: params.word_chars], params.jieba_hmm), lo, hi, " ")
    return feats


def char_grams(text: str, params: Params) -> list[str]:
    """Return the character n-grams of a text (used to explain a score)."""
    lo, hi = params.char_ngrams
    return _ngrams(text, lo, hi, "")


_P = np.uint64(1_000_003)
_M1 = np.uint64(0xFF51AFD7ED558CCD)
_M2 = np.uint64(0xC4CEB9FE1A85EC53)
_TITLE_SALT = np.uint64(0x5F3759DF)


def _mix(h: np.ndarray) -> np.ndarray:
    """Scramble 64-bit hashes (murmur3's finalizer) so the top bits are well spread."""
    h = h ^ (h >> np.uint64(33))
    h = h * _M1
    h = h ^ (h >> np.uint64(33))
    h = h * _M2
    return h ^ (h >> np.uint64(33))


def _char_hashes(codes: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Return (start positions, 64-bit hashes) of all n-grams of a 0-separated code array."""
    length = len(codes) - n + 1
    if length <= 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.uint64)
    h = np.full(length, np.uint64(n))
    for k in range(n):
        h = h * _P + codes[k : k + length]
    zeros = np.concatenate([[0], np.cumsum(codes == 0)])
    valid = np.flatnonzero(zeros[n : n + length] - zeros[:length] == 0)
    return valid, h[valid]


def char_bucket(gram: str, bits: int, title: bool = False) -> int:
    """Return the hash bucket of one character n-gram (title=True for the title namespace)."""
    codes = np.frombuffer(gram.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    _, h = _char_hashes(codes, len(gram))
    if title:
        h = h ^ _TITLE_SALT
    return int(_mix(h)[0] >> np.uint64(64 - bits))


def bucket(feature: str, bits: int) -> int:
    """Return the hash bucket of a word feature: the one scikit-learn's FeatureHasher gives it (MurmurHash3)."""
    return abs(mmh3.hash(feature, 0)) % (1 << bits)


class _Featurizer:
    """Turn (title, body) pairs into hashed count matrices, one per feature family."""

    def __init__(self, params: Params) -> None:
        self.params = params

    def counts(self, pairs: Sequence[tuple[str, str]]) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        """Return word and character count matrices for normalized (title, body) pairs."""
        return self.words(pairs), self.chars(pairs)

    def words(self, pairs: Sequence[tuple[str, str]]) -> sp.csr_matrix:
        """Count hashed word features of each pair (what FeatureHasher(alternate_sign=False) builds)."""
        p, hash32 = self.params, mmh3.hash
        size = 1 << p.word_bits
        columns: list[int] = []
        ends = [0]
        for title, body in pairs:
            columns.extend(abs(hash32(f, 0)) % size for f in word_features(title, body, p))
            ends.append(len(columns))
        matrix = sp.csr_matrix((np.ones(len(columns), dtype=np.float64), np.array(columns, dtype=np.int32), ends),
                               shape=(len(pairs), size))
        matrix.sum_duplicates()
        return matrix

    def chars(self, pairs: Sequence[tuple[str, str]]) -> sp.csr_matrix:
        """Count hashed character n-grams of all pairs at once, vectorised over one code array."""
        rows, cols, vals = self.char_triplets(pairs)
        matrix = sp.csr_matrix((vals, (rows, cols)), shape=(len(pairs), 1 << self.params.char_bits))
        matrix.sum_duplicates()
        return matrix

    def char_triplets(self, pairs: Sequence[tuple[str, str]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return (row, column, count) of every character n-gram occurrence, duplicates not summed."""
        p = self.params
        segments: list[str] = []
        for title, body in pairs:
            segments.append(title.replace("\0", ""))
            segments.append(body[: p.char_chars].replace("\0", ""))
        joined = "\0".join(segments) + "\0"
        codes = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
        seps = np.flatnonzero(codes == 0)  # the end of each segment
        segment_of = np.zeros(len(codes), dtype=np.int64)
        segment_of[seps[:-1] + 1] = 1
        segment_of = np.cumsum(segment_of)
        rows, cols, vals = [], [], []
        shift = np.uint64(64 - p.char_bits)
        lo, hi = p.char_ngrams
        for n in range(lo, hi + 1):
            start, h = _char_hashes(codes, n)
            seg = segment_of[start]
            is_title = seg % 2 == 0
            rows.append(seg // 2)
            cols.append(_mix(h) >> shift)
            vals.append(np.where(is_title, float(p.title_repeat), 1.0))
            if p.title_space and is_title.any():
                rows.append(seg[is_title] // 2)
                cols.append(_mix(h[is_title] ^ _TITLE_SALT) >> shift)
                vals.append(np.ones(int(is_title.sum())))
        return (np.concatenate(rows), np.concatenate(cols).astype(np.int64),
                np.concatenate(vals).astype(np.float32))

    def one(self, title: str, body: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Return (word columns, word counts, char columns, char counts) of one message, without scipy."""
        bits = self.params.word_bits
        words = np.fromiter((bucket(f, bits) for f in word_features(title, body, self.params)), dtype=np.int64)
        w_cols, w_counts = np.unique(words, return_counts=True)
        _, cols, vals = self.char_triplets([(title, body)])
        c_cols, inverse = np.unique(cols, return_inverse=True)
        c_counts = np.bincount(inverse, weights=vals, minlength=len(c_cols))
        return w_cols, w_counts.astype(np.float32), c_cols, c_counts.astype(np.float32)


def _sublinear(counts: np.ndarray, idf_at: np.ndarray) -> np.ndarray:
    """Return the weight of each feature: (1 + log count) × its idf, in float32 (batch and single alike)."""
    return (np.log(counts.astype(np.float32, copy=False)) + np.float32(1.0)) * idf_at.astype(np.float32, copy=False)


def _tfidf(counts: sp.csr_matrix, idf: np.ndarray) -> sp.csr_matrix:
    """Sublinear tf × idf, each row scaled to unit length (its non-zeros scaled in place)."""
    x = sp.csr_matrix(counts, dtype=np.float32, copy=True)
    x.sum_duplicates()
    x.data = _sublinear(x.data, idf[x.indices])
    sizes = np.diff(x.indptr)
    rows = np.repeat(np.arange(x.shape[0]), sizes)
    norms = np.sqrt(np.bincount(rows, weights=x.data * x.data, minlength=x.shape[0]))
    norms[norms == 0] = 1.0
    x.data /= norms[rows].astype(np.float32)
    return x


def _idf(counts: sp.csr_matrix, weights: np.ndarray | None = None) -> np.ndarray:
    n = counts.shape[0]
    df = np.bincount(counts.indices, minlength=counts.shape[1]).astype(np.float64)
    return (np.log((1.0 + n) / (1.0 + df)) + 1.0).astype(np.float32)


def _softmax(scores: np.ndarray, temperature: float) -> np.ndarray:
    z = scores / max(temperature, 1e-6)
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _quantize(coef: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scale = np.abs(coef).max(axis=1) / 127.0
    scale[scale == 0] = 1.0
    q = np.clip(np.rint(coef / scale[:, None]), -127, 127).astype(np.int8)
    return q, scale.astype(np.float32)


class Model:
    """A trained classifier: labels, IDF weights and linear coefficients over hashed n-grams."""

    def __init__(
        self,
        labels: Sequence[str],
        params: Params,
        idf_word: np.ndarray,
        idf_char: np.ndarray,
        coef: np.ndarray,
        intercept: np.ndarray,
        info: dict | None = None,
        *,
        scale: np.ndarray | None = None,
    ) -> None:
        """``coef``: one row of weights per label, quantized here to int8; already int8 when ``scale`` is given."""
        self.labels = tuple(labels)
        self.params = params
        self.idf_word = np.asarray(idf_word, dtype=np.float32)
        self.idf_char = np.asarray(idf_char, dtype=np.float32)
        q, scale = (np.asarray(coef, dtype=np.int8), np.asarray(scale, dtype=np.float32)) if scale is not None \
            else _quantize(np.asarray(coef, dtype=np.float32))
        self._q_t = np.ascontiguousarray(q.T)  # one row of int8 weights per feature: a message gathers its rows
        self._scale = scale  # per label: weight = int8 × scale, as saved, so what is evaluated is what ships
        self.intercept = np.asarray(intercept, dtype=np.float32)
        self.info = dict(info or {})
        self._featurizer = _Featurizer(params)

    @property
    def coef(self) -> np.ndarray:
        """The weights as float32, one row per label (a new array of every feature: for inspection, not scoring)."""
        return self._q_t.T * self._scale[:, None]

    def _matrix(self, pairs: Sequence[tuple[str, str]]) -> sp.csr_matrix:
        words, chars = self._featurizer.counts(pairs)
        return sp.hstack([_tfidf(words, self.idf_word), _tfidf(chars, self.idf_char)], format="csr")

    def decision(self, texts: Sequence[str]) -> np.ndarray:
        """Return raw linear scores, one row per text and one column per label."""
        pairs = [tuple(map(normalize, split_text(t))) for t in texts]
        if len(pairs) == 1:  # the dialog's case: scipy's per-matrix overhead would be most of the cost
            return self._decision_one(*pairs[0])[None, :]
        x = self._matrix(pairs)
        used, at = np.unique(x.indices, return_inverse=True)  # only the weight rows these texts use, as float32
        narrow = sp.csr_matrix((x.data, at.astype(np.int32), x.indptr), shape=(x.shape[0], len(used)))
        return np.asarray(narrow @ self._q_t[used].astype(np.float32)) * self._scale + self.intercept

    def _vector_one(self, title: str, body: str) -> tuple[np.ndarray, np.ndarray]:
        """Return (columns, tf-idf values) of one normalized message with numpy alone, as the batch matrix has them."""
        w_cols, w_counts, c_cols, c_counts = self._featurizer.one(title, body)
        columns, values = [], []
        for cols, counts, idf, start in ((w_cols, w_counts, self.idf_word, 0),
                                         (c_cols, c_counts, self.idf_char, 1 << self.params.word_bits)):
            if not len(cols):
                continue
            x = _sublinear(counts, idf[cols])
            norm = float(np.sqrt(np.dot(x, x)))
            if norm:
                columns.append(cols + start)
                values.append(x / np.float32(norm))
        if not columns:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        return np.concatenate(columns), np.concatenate(values)

    def _decision_one(self, title: str, body: str) -> np.ndarray:
        """Score one normalized message with numpy alone: the same sums as the sparse product."""
        cols, values = self._vector_one(title, body)
        return (values @ self._q_t[cols].astype(np.float32)) * self._scale + self.intercept

    def predict_proba_many(self, texts: Sequence[str]) -> np.ndarray:
        """Return label probabilities (columns in `labels` order) for many texts."""
        if not texts:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        return _softmax(self.decision(texts), self.params.temperature)

    def predict_many(self, texts: Sequence[str]) -> list[str]:
        """Return the most likely label of each text."""
        proba = self.predict_proba_many(texts)
        return [self.labels[i] for i in proba.argmax(axis=1)]

    def suggest(self, text: str, limit: int = 3) -> list[Suggestion]:
        """Rank the labels for one text, best first, each with its strongest evidence."""
        proba = self.predict_proba_many([text])[0]
        order = np.argsort(-proba)[: max(limit, 0)]
        title, body = (normalize(s) for s in split_text(text))
        contrib = self._contributions(title, body)
        return [
            Suggestion(self.labels[i], float(proba[i]), _evidence(contrib, self._q_t[:, i])) for i in order
        ]

    def _contributions(self, title: str, body: str) -> dict[str, dict[int, float]]:
        """Map each word or word pair of a text to the columns it fired and their tf-idf values."""
        p = self.params
        values = dict(zip(*(part.tolist() for part in self._vector_one(title, body)), strict=True))
        fired = set(word_features(title, body, p))
        offset = 1 << p.word_bits
        lo, hi = p.char_ngrams
        out: dict[str, dict[int, float]] = {}
        for text in (title, body[: p.char_chars]):
            for gram in _ngrams(cut(text, p.jieba_hmm), *p.word_ngrams, " "):
                shown = gram.replace(" ", "")
                if shown in out or not all(any(ch.isalnum() for ch in w) for w in gram.split(" ")):
                    continue
                cols = [bucket(f, p.word_bits) for f in (gram, "T:" + gram) if f in fired]
                if lo <= len(shown) <= hi:
                    cols.append(offset + char_bucket(shown, p.char_bits))
                    if p.title_space and shown in title:
                        cols.append(offset + char_bucket(shown, p.char_bits, title=True))
                found = {c: values[c] for c in cols if c in values}
                if found:
                    out[shown] = found
        return out

    def save(self, path: str | Path) -> Path:
        """Write the model as a compressed npz with a JSON header; return the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        header = {"format": FORMAT, "labels": list(self.labels), "params": asdict(self.params), "info": self.info}
        with path.open("wb") as fh:
            np.savez_compressed(
                fh,
                header=np.frombuffer(json.dumps(header, ensure_ascii=False).encode("utf-8"), dtype=np.uint8),
                idf_word=self.idf_word.astype(np.float16),
                idf_char=self.idf_char.astype(np.float16),
                coef=self._q_t.T,
                scale=self._scale,
                intercept=self.intercept,
            )
        return path


def _evidence(contrib: dict[str, dict[int, float]], weights: np.ndarray, top: int = 5) -> tuple[str, ...]:
    """Return the n-grams that add most to a label's score (its weights up to the label's positive scale)."""
    scored = sorted(
        ((sum(v * float(weights[c]) for c, v in cols.items()), shown) for shown, cols in contrib.items()),
        reverse=True,
    )
    picked: list[str] = []
    for score, shown in scored:
        if score <= 0 or len(picked) >= top:
            break
        if len(shown) < 2 or any(shown in p or p in shown for p in picked):
            continue  # single characters and overlapping n-grams explain little
        picked.append(shown)
    return tuple(picked)


def read_model(path: str | Path) -> Model:
    """Read a model file written by `Model.save` (no pickle involved)."""
    with np.load(Path(path), allow_pickle=False) as z:
        header = json.loads(z["header"].tobytes().decode("utf-8"))
        if header.get("format") != FORMAT:
            raise ValueError(f"{path}: not a classifier model file ({header.get('format')!r})")
        raw = dict(header["params"])
        raw.setdefault("intercept_scale", 1.0)  # files written before the field kept their intercepts
        params = Params(
            **{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items() if k in Params.__dataclass_fields__}
        )
        return Model(header["labels"], params, z["idf_word"], z["idf_char"], z["coef"], z["intercept"],
                     header.get("info"), scale=z["scale"])


@lru_cache(maxsize=4)
def _cached(path: str, mtime: float) -> Model:
    return read_model(path)


def load(path: str | Path = DEFAULT_MODEL_PATH) -> Model:
    """Load a model file, reusing the loaded model while the file is unchanged."""
    path = Path(path)
    return _cached(str(path.resolve()), path.stat().st_mtime)


def record_pair(record: Record) -> tuple[str, str]:
    """Return the normalized (title, body) of a record; a lone title counts as body-free text."""
    return normalize(record.title), normalize(record.body)


def _one_per_label(coef: np.ndarray, intercept: np.ndarray, n_labels: int) -> tuple[np.ndarray, np.ndarray]:
    """Expand sklearn's single binary row into one row per label."""
    if n_labels == 2 and coef.shape[0] == 1:
        return np.vstack([-coef[0] / 2, coef[0] / 2]), np.array([-intercept[0] / 2, intercept[0] / 2])
    return coef, intercept


def _fit_nbsvm(
    x: sp.csr_matrix, y: np.ndarray, weights: np.ndarray, n_labels: int, params: Params, report: Progress
) -> tuple[np.ndarray, np.ndarray]:
    """Fit NB-SVM: one-vs-rest SVMs on features scaled by naive-Bayes log-count ratios, folded into one matrix."""
    from sklearn.svm import LinearSVC  # training only: a server that loads a model never imports scikit-learn

    present = x.copy()
    present.data[:] = 1.0
    coef = np.zeros((n_labels, x.shape[1]), dtype=np.float64)
    intercept = np.zeros(n_labels)
    for label in range(n_labels):
        mine = y == label
        p = present.T @ (weights * mine) + params.nb_alpha
        q = present.T @ (weights * ~mine) + params.nb_alpha
        ratio = np.log(p / p.sum()) - np.log(q / q.sum())
        svm = LinearSVC(C=params.C, max_iter=5000).fit(x @ sp.diags(ratio), mine.astype(int), sample_weight=weights)
        coef[label] = svm.coef_[0] * ratio  # (x * r) . w == x . (r * w): still one linear scorer
        intercept[label] = svm.intercept_[0]
        report("fit", (label + 1) / (n_labels + 1))
    return coef, intercept


def _fit(
    x: sp.csr_matrix, y: np.ndarray, weights: np.ndarray, n_labels: int, params: Params, report: Progress
) -> tuple[np.ndarray, np.ndarray]:
    """Fit the linear scorers the solver names; sum them, each scaled to unit spread of training scores."""
    from sklearn.linear_model import SGDClassifier  # training only, as above
    from sklearn.svm import LinearSVC

    used = np.unique(x.indices)  # fit on the hash buckets that occur: far fewer for small training sets
    full_width = x.shape[1]
    x = x[:, used]
    parts: list[tuple[np.ndarray, np.ndarray]] = []
    for solver in params.solver.split("+"):
        if solver == "sgd":
            sgd = SGDClassifier(
                loss="modified_huber", alpha=params.alpha, max_iter=params.epochs, tol=None, random_state=0
            ).fit(x, y, sample_weight=weights)
            parts.append(_one_per_label(sgd.coef_, sgd.intercept_, n_labels))
        elif solver == "svm":
            svm = LinearSVC(C=params.C, max_iter=5000).fit(x, y, sample_weight=weights)
            parts.append(_one_per_label(svm.coef_, svm.intercept_, n_labels))
        elif solver == "nbsvm":
            parts.append(_fit_nbsvm(x, y, weights, n_labels, params, report))
        else:
            raise ValueError(f"unknown solver {solver!r}")
    coef = np.zeros((n_labels, x.shape[1]), dtype=np.float64)
    intercept = np.zeros(n_labels)
    for w, b in parts:
        spread = float(np.std(np.asarray(x @ w.T) + b)) or 1.0
        coef += w / spread
        intercept += b / spread
    wide = np.zeros((n_labels, full_width), dtype=np.float32)
    wide[:, used] = coef
    # Scaled after the members are summed (their spreads include the intercepts), as measured in table F3.
    return wide, (intercept * params.intercept_scale).astype(np.float32)


def train(
    records: Iterable[Record],
    params: Params | None = None,
    progress: Progress | None = None,
) -> Model:
    """Train a model on labelled records, reporting (stage, fraction done) to progress."""
    params = params or Params()
    report = progress or (lambda stage, fraction: None)
    records = [r for r in records if (r.title or r.body) and r.label]
    labels = sorted({r.label for r in records})
    if len(labels) < 2:
        raise ValueError("training needs at least two labels with text")
    featurizer = _Featurizer(params)
    pairs = [record_pair(r) for r in records]
    chunk = max(1, math.ceil(len(pairs) / 20))
    words, chars = [], []
    for start in range(0, len(pairs), chunk):
        w, c = featurizer.counts(pairs[start : start + chunk])
        words.append(w)
        chars.append(c)
        report("features", min(1.0, (start + chunk) / len(pairs)))
    word_counts, char_counts = sp.vstack(words, format="csr"), sp.vstack(chars, format="csr")
    idf_word, idf_char = _idf(word_counts), _idf(char_counts)
    # Round through float16 so training sees exactly the IDF the saved file will hold.
    idf_word, idf_char = idf_word.astype(np.float16).astype(np.float32), idf_char.astype(np.float16).astype(np.float32)
    x = sp.hstack([_tfidf(word_counts, idf_word), _tfidf(char_counts, idf_char)], format="csr")
    y = np.array([labels.index(r.label) for r in records])
    weights = np.array([r.weight for r in records], dtype=np.float64)
    report("fit", 0.0)
    coef, intercept = _fit(x, y, weights, len(labels), params, report)
    report("fit", 1.0)
    info = {"records": len(records), "per_label": {lab: int((y == i).sum()) for i, lab in enumerate(labels)}}
    return Model(labels, params, idf_word, idf_char, coef, intercept, info)
