"""BM25 tokens: jieba (search mode) over simplified, normalised text, with the pilots' names in its dictionary.

Both backends score BM25 over exactly these tokens, so a question ranks the same whichever store serves it.
"""
from __future__ import annotations

import re

from rag.text import jieba_tokenizer, norm, to_simplified

# Function words and question scaffolding: they match everywhere and only add noise to BM25.
_STOP = set(
    "的 了 和 与 及 或 等 在 是 为 对 将 把 被 从 以 于 中 其 之 并 而 也 都 有 个 这 那 哪 哪些 什么 多少 几 "
    "吗 呢 啊 怎么 怎样 如何 是否 请问 请 提出 提到 要求 方面 相关 关于 一个 哪个 哪里 多大 多高 ？ ? ， , 。 "
    "、 ； ; ： : “ ” \" ' （ ） ( ) 《 》 — - · ！ !".split()
)
_PUNCT = re.compile(r"^[\W_]+$")


_FREQ = 200000


def add_words(words) -> None:
    """Teach jieba the pilot names and short forms so `房山区`/`威县` stay one token.

    Idempotent: jieba's `add_word` adds the frequency to its dictionary total every time, even for a word it
    has, and the total weighs every other split; without the check each build or index load in a process
    shifted segmentation (`上档` one token or two), so the same text got other BM25 tokens.
    """
    tok = jieba_tokenizer()
    for w in words:
        w = norm(w)
        if len(w) >= 2 and tok.FREQ.get(w) != _FREQ:
            tok.add_word(w, freq=_FREQ)


def tokenize(text: str) -> list[str]:
    """BM25 tokens: simplified, normalised, jieba search-mode segmentation, no stopwords/punctuation."""
    s = norm(to_simplified(text)).lower()
    return [t for t in jieba_tokenizer().lcut_for_search(s) if t not in _STOP and not _PUNCT.match(t)]
