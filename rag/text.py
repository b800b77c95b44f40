"""Text normalisation shared by every stage.

Matching (evidence, quotes, citation lookup, scoring) always compares `norm()` forms, so that the PDF's
stray spaces (`10 万` vs `10万`) and full/half-width variants never decide whether two strings match;
the original characters are kept for display.
"""
from __future__ import annotations

import logging
import re
import threading
import unicodedata
from functools import lru_cache

from rag.wordfreq import attach

# A year as the plans and questions write it (1900–2099): the one year pattern of the project.
YEAR = r"(?:19|20)\d{2}"
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
    import jieba  # jieba's dictionary loads on first use, not on import

    jieba.setLogLevel(logging.WARNING)
    tok = jieba.Tokenizer()  # our own instance: the pilot names we add never leak into other users of jieba
    if not attach(tok):  # the table from a memory-mapped trie (rag.wordfreq), else jieba's own load
        tok.initialize()
    return tok


def jieba_tokenizer():
    """The one jieba tokenizer of the process (dictionary loaded once, under a lock: loading is not thread-safe)."""
    with _JIEBA_LOCK:
        return _jieba_unlocked()


@lru_cache(maxsize=1)
def jieba_pos_tokenizer():
    """Part-of-speech tagging over the same tokenizer (and so the same added pilot names)."""
    import jieba.posseg as pseg  # jieba's dictionary loads on first use, not on import

    return pseg.POSTokenizer(jieba_tokenizer())


_LEAD_DASH = re.compile(r"^[—\-–]+")


def strip_quote(s: str) -> str:
    """A sentence as quoted: outer whitespace, leading dashes and trailing separators removed."""
    s = _LEAD_DASH.sub("", s.strip()).strip()
    return s.rstrip("，,；;、。 ").strip()


def candidate_sentences(text: str) -> list[str]:
    """The sentences of a chunk that an answer may quote, in order (line by line, then 。！？；).

    One definition for the whole project: the index embeds exactly these strings at build time and the
    answer judgment scores exactly these, so row i of a chunk's sentence vectors is sentence i here.
    Pieces under four characters (stray numbering, a lone dash) are not sentences.
    """
    out: list[str] = []
    for line in text.split("\n"):
        for piece in split_sentences(line):
            s = strip_quote(piece)
            if len(norm(s)) >= 4:
                out.append(s)
    return out


# --------------------------------------------------------------------------- figures and bigrams

_BIGRAM_SKIP = set("，。、；：？！“”‘’（）《》【】,.;:?!\"'()[] ")
_YEAR_CTX = re.compile(rf"({YEAR})(?=\s*(?:年|[—–\-~～至到]\s*{YEAR}))")
_DIGIT = re.compile(r"\d")
_ITEM_NO = re.compile(r"^\s*[（(]?\d{1,2}\s*[.、．)）](?!\d)")  # "1.健全…": an item's number, no quantity
_CN_QTY = re.compile(r"(?:第[一二两三四五六七八九十百]+|[一二两三四五六七八九十百千]+(?:[个家位批项条次倍所座万亿]|分之))")
_NUM_TOKEN = re.compile(r"\d+(?:\.\d+)?")
_PERCENT = re.compile(r"\d\s*[%％]|百分之")


def bigrams(s: str) -> set[str]:
    """Character bigrams of a normalised string, skipping any that contain punctuation."""
    return {s[i:i + 2] for i in range(len(s) - 1) if s[i] not in _BIGRAM_SKIP and s[i + 1] not in _BIGRAM_SKIP}


def years_in(s: str) -> set[str]:
    """Years a text states as years (`2020年`, `2015—2020`), not every four-digit number."""
    return set(_YEAR_CTX.findall(s))


def has_figure(s: str) -> bool:
    """A quantity other than a bare year ("到 2020 年" alone is no answer to "多少")."""
    s = _ITEM_NO.sub("", _YEAR_CTX.sub("", s))
    return bool(_DIGIT.search(s) or _CN_QTY.search(s))


def has_percent(s: str) -> bool:
    return bool(_PERCENT.search(s))


def numbers_in(s: str) -> set[str]:
    """Numeric tokens of a normalised string (years included)."""
    return set(_NUM_TOKEN.findall(s))


def contains_number(hay: str, num: str) -> bool:
    """`num` occurs in `hay` as a whole number (45 is not in 145 or 45.5)."""
    return re.search(r"(?<![\d.])" + re.escape(num) + r"(?![\d])(?!\.\d)", hay) is not None


def lines_label(start: int | None, end: int | None) -> str:
    """"第 143 行" for one line, "第 143–145 行" for a span."""
    if start is None:
        return ""
    return f"第 {start} 行" if end in (None, start) else f"第 {start}–{end} 行"
