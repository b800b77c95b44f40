"""Text normalisation shared by every stage.

Matching (evidence, quotes, citation lookup, scoring) always compares `norm()` forms, so that the PDF's
stray spaces (`10 万` vs `10万`) and full/half-width variants never decide whether two strings match;
the original characters are kept for display.
"""
from __future__ import annotations

import re
import threading
import unicodedata
from functools import lru_cache

_WS = re.compile(r"\s+")
# Sentence ends in Chinese policy text; `；` separates the clauses of long target lists.
_SENT_END = re.compile(r"(?<=[。！？；!?;])")


def norm(s: str) -> str:
    """NFKC and drop all whitespace: the canonical form for matching."""
    return _WS.sub("", unicodedata.normalize("NFKC", s or ""))


@lru_cache(maxsize=1)
def _t2s():
    import opencc  # opencc-python-reimplemented: pure Python, ships its dictionaries

    return opencc.OpenCC("t2s")


def to_simplified(s: str) -> str:
    """Traditional → simplified Chinese, so a traditional-character question still matches."""
    if not s:
        return s
    return _t2s().convert(s)


def split_sentences(text: str) -> list[str]:
    """Split on 。！？； (keeping the terminator) and on line breaks; drop empty pieces."""
    out: list[str] = []
    for line in text.splitlines():
        for piece in _SENT_END.split(line):
            if piece.strip():
                out.append(piece)
    return out


_JIEBA_LOCK = threading.Lock()


@lru_cache(maxsize=1)
def _jieba_unlocked():
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)
    tok = jieba.Tokenizer()  # our own instance: the pilot names we add never leak into other users of jieba
    tok.initialize()
    return tok


def jieba_tokenizer():
    """The one jieba tokenizer of the process (dictionary loaded once, under a lock: loading is not thread-safe)."""
    with _JIEBA_LOCK:
        return _jieba_unlocked()


@lru_cache(maxsize=1)
def jieba_pos_tokenizer():
    """Part-of-speech tagging over the same tokenizer (and so the same added pilot names)."""
    import jieba.posseg as pseg

    return pseg.POSTokenizer(jieba_tokenizer())
