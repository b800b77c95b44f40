"""The terms of a which-pilots question ("哪些试点提到X？"): the phrases the user typed (`terms.cross_terms`) become

- **key terms**: what the documents state verbatim — a phrase two or more pilots state, an alternative of a
  list that any pilot states, or else the most specific part of the phrase the documents state. A chunk that
  contains a key term qualifies its pilot (`rag.retrieval.cross`).
- **related terms**: a part of a key term that more pilots state (同工同酬 of <某类职工>同工同酬, 大部门制 of
  大部门制改革), and the other parts of a phrase nobody states. A related term is a weaker clue — 清单 is part
  of 负面清单 but says nothing of it — so it qualifies a pilot only through a sentence close in meaning to the
  question (`rag.retrieval.cross.evidence`, with the bar `pilotqa fit` fits).

`df(term)` (in how many pilots' texts a term occurs) is the analyzer's; nothing here reads the index.
"""
from __future__ import annotations

import re
from collections.abc import Callable

from rag.knowledge import lexicon
from rag.query.terms import cross_frame
from rag.text import jieba_tokenizer

COMMON = 0.25     # a part stated by more than this share of the pilots says nothing about one question
_UNIVERSAL = 0.8  # a phrase stated by more than this share is no alternative beside others


def strip_frame(phrase: str, df: Callable[[str], int]) -> str:
    """jieba may glue a framing character to the term (搞园|镇|合一): when no document states the phrase but one
    states it without a leading or trailing framing word, that word goes."""
    if df(phrase) > 0:
        return phrase
    for w in sorted(cross_frame(), key=len, reverse=True):
        if phrase.startswith(w) and len(phrase) - len(w) >= 2 and df(phrase[len(w):]) > 0:
            return phrase[len(w):]
        if phrase.endswith(w) and len(phrase) - len(w) >= 2 and df(phrase[: -len(w)]) > 0:
            return phrase[: -len(w)]
    return phrase


def parts(phrase: str, df: Callable[[str], int], n: int) -> list[tuple[int, int, str, int]]:
    """The parts of a phrase the documents state and few pilots do: (end, start, part, pilots) for every run of
    jieba words without a framing word, and a single word's dictionary sub-words (百强 of 百强县), never arbitrary
    pieces of a word (镇合一)."""
    frame = cross_frame()
    tok = jieba_tokenizer()
    words = [w for w in tok.lcut(phrase) if w.strip()]
    found = []
    for j in range(len(words), 0, -1):
        for i in range(j - 1, -1, -1):
            span = words[i:j]
            if any(w in frame for w in span):
                break
            term = "".join(span)
            subs = [term] + ([x for x in tok.lcut_for_search(term) if x != term and tok.FREQ.get(x, 0) > 0]
                             if i == j - 1 else [])
            for t in subs:
                if len(t) < 2 or re.fullmatch(r"[\d.%]+", t):
                    continue
                d = df(t)
                if 1 <= d <= COMMON * n:
                    found.append((j, i, t, d))
    return found


def key_terms_of(phrase: str, df: Callable[[str], int], n: int) -> list[str]:
    """The corpus terms a which-pilots phrase is about: the phrase itself when two or more pilots state it;
    otherwise (the phrase, when one pilot states it, and) its most specific part that two or more pilots state
    (the fewest pilots; the longer on a tie) — measured on the dev which-pilots questions against "the rightmost
    part" and "the most pilots"; for a phrase one pilot states, only a part that keeps two thirds of it."""
    d = df(phrase)
    if n <= 0 or d >= 2:
        return [phrase]
    found = parts(phrase, df, n)
    if not found:
        return [phrase]
    two = [f for f in found if f[3] >= 2] or found
    best = min(two, key=lambda f: (f[3], -len(f[2])))
    if d == 1:
        # a part that keeps most of the phrase (生态移民 of 生态移民搬迁) still names its concept; a short piece of
        # it (建市 of 撤县建市) may name another, and is left to the related terms' check by meaning
        return [phrase, best[2]] if 3 * len(best[2]) >= 2 * len(phrase) else [phrase]
    return [best[2]]


def choose_terms(phrases: list[str], df: Callable[[str], int], n: int,
                 kinds: list[str] | None = None) -> tuple[list[str], list[str]]:
    """(key terms, related terms) of a which-pilots question's phrases (see the module docstring); `kinds` are
    phrases that only describe the kind of thing asked ("A、B这类<kind>"): related terms, unless nothing else is
    asked."""
    kinds = [strip_frame(k, df) for k in (kinds or [])]
    if not phrases:
        phrases, kinds = kinds, []
    phrases = list(dict.fromkeys(strip_frame(p, df) for p in phrases))
    # a word nearly every plan uses (融资, 改革) names no group of pilots: not an alternative beside others
    phrases = [p for p in phrases if df(p) <= _UNIVERSAL * n] or phrases
    stated = [p for p in phrases if df(p) >= 1]
    # alternatives the documents state are the terms; one nobody states describes them ("…这类管理"): its parts
    # are related terms, checked by meaning
    asked = stated if len(phrases) > 1 and stated else phrases
    keys = list(dict.fromkeys(t for p in asked for t in key_terms_of(p, df, n))) or phrases
    generic = lexicon.words("cross_generic.txt")
    related: list[str] = []
    for p in phrases:
        if p not in keys and df(p) == 0:
            related += [f[2] for f in parts(p, df, n)]
    for k in kinds:  # the kind itself, where the documents name it (its parts are too loose a clue)
        related += [k] if 1 <= df(k) <= COMMON * n else []
    for t in keys:
        d = df(t)
        related += [f[2] for f in parts(t, df, n) if f[3] > d]
    keep = []
    for r in dict.fromkeys(related):
        if r in keys or r in generic or any(r in k and df(r) <= df(k) for k in keys):
            continue
        keep.append(r)
    return keys, keep
