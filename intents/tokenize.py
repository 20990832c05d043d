"""jieba wrapper: one lazily initialised tokenizer with user dictionaries and stop words."""

from __future__ import annotations

import logging
import re
import tempfile
import threading
from collections.abc import Iterable
from functools import lru_cache

import jieba

_LOCK = threading.Lock()
_SPACE = re.compile(r"\s+")


@lru_cache(maxsize=1)
def tokenizer() -> jieba.Tokenizer:
    """Return the process-wide jieba tokenizer, initialised once (about a second)."""
    with _LOCK:
        jieba.setLogLevel(logging.WARNING)
        tok = jieba.Tokenizer()
        tok.tmp_dir = tempfile.gettempdir()
        tok.initialize()
        return tok


def add_words(words: Iterable[str]) -> None:
    """Teach the tokenizer unit names, place names and other domain words."""
    tok = tokenizer()
    for word in words:
        word = word.strip()
        if word:
            tok.add_word(word, freq=50_000)


def cut(text: str, hmm: bool = True) -> list[str]:
    """Split text into words, dropping whitespace-only tokens (hmm=False: dictionary only, faster)."""
    return [t for t in tokenizer().lcut(text or "", HMM=hmm) if not _SPACE.fullmatch(t)]
