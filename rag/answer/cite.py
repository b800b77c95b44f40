"""Checking a quote against the documents: 原文一致, 与原文不一致, or 文件中没有.

`check_quote(text, paragraphs, retrieve)`:

1. verbatim — the quote (normalised: NFKC, simplified, whitespace and outer punctuation removed) occurs in a
   paragraph: every occurrence, with its lines;
2. otherwise the closest source span: the paragraphs of the best retrieved passages are aligned with the quote
   (character alignment, `difflib`), and the span that covers most of the quote is kept. How much of the quote
   the span covers, and how much of the span the quote covers, make `score` (< 1 whenever anything differs);
3. differs — the span covers the quote well enough (`CLOSE_BAR`): the characters and figures that differ are
   returned (`diff`, `changed_figures`) so a changed figure is never called a match;
   absent — nothing covers it: 文件中没有.

A figure is compared as a whole number: 45% against 46% is a changed figure even though only one character
differs, and a quote whose every word is in the source but in another order differs too (its alignment
covers only part of it).
"""
from __future__ import annotations

import difflib
import re
from dataclasses import asdict, dataclass, field
from typing import Callable, Sequence

from rag.text import bigrams, norm, numbers_in, to_simplified

# Share of the quote's characters (aligned, in order) and of its bigrams (any order) a source span must hold
# for the quote to count as a version of it rather than as absent. Measured on the quote table of
# tests/test_cite.py (made-up policy sentences cover at most about half; a one-figure change, most).
CLOSE_BAR = 0.6
# A reordered quote: nearly all its words are in the source (any order) though fewer in order. Made-up policy
# sentences hold at most about half their words in any order (measured on the same table).
REORDER_BAR = 0.8
ORDER_FLOOR = 0.4
LABELS = {"verbatim": "原文一致", "differs": "与原文不一致", "absent": "文件中没有"}
_EDGE = "。；;，,！？!?：:、 \"'“”‘’"


@dataclass
class CiteMatch:
    """Where a quote comes from: a paragraph (verbatim) or the closest span of one."""

    exact: bool
    pilot: str
    section: str
    start_line: int
    end_line: int
    text: str                 # the matching paragraph (original characters)
    context_before: list[tuple[int, str]] = field(default_factory=list)
    context_after: list[tuple[int, str]] = field(default_factory=list)
    score: float = 1.0
    source: str = ""
    span: str = ""            # the closest span of `text` (for a quote that differs)


@dataclass
class CiteResult:
    text: str                                   # the quote as given
    verdict: str                                # "verbatim" | "differs" | "absent"
    matches: list[CiteMatch]
    diff: list[tuple[str, str]] = field(default_factory=list)   # ("same"|"changed"|"extra"|"missing", text)
    changed_figures: list[tuple[str, str]] = field(default_factory=list)  # (in the quote, in the source)
    score: float = 0.0

    @property
    def label(self) -> str:
        return LABELS[self.verdict]

    @property
    def exact(self) -> bool:
        return self.verdict == "verbatim"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["label"] = self.label
        d["diff"] = [list(x) for x in self.diff]
        d["changed_figures"] = [list(x) for x in self.changed_figures]
        return d


def quote_key(text: str) -> str:
    return norm(to_simplified(text or "")).strip(_EDGE)


@dataclass
class Para:
    """A paragraph to search: who it belongs to, where, and its normalised text."""

    pilot: str
    section: str
    start_line: int
    end_line: int
    text: str
    source: str
    key: str


def align(quote: str, span_src: str) -> tuple[list[tuple[str, str]], float]:
    """Character diff of a normalised quote against a normalised source span, and the share of the quote's
    characters matched in order."""
    sm = difflib.SequenceMatcher(None, quote, span_src, autojunk=False)
    diff: list[tuple[str, str]] = []
    same = 0
    for op, a0, a1, b0, b1 in sm.get_opcodes():
        if op == "equal":
            diff.append(("same", quote[a0:a1]))
            same += a1 - a0
        elif op == "replace":
            diff.append(("changed", quote[a0:a1]))
        elif op == "delete":
            diff.append(("extra", quote[a0:a1]))
        else:
            diff.append(("missing", span_src[b0:b1]))
    return diff, same / max(1, len(quote))


def best_span(quote: str, para_key: str) -> tuple[str, float]:
    """The window of a paragraph most like the quote (windows the quote's length, a little either way)."""
    if len(para_key) <= len(quote) + 8:
        return para_key, difflib.SequenceMatcher(None, quote, para_key, autojunk=False).ratio()
    qb = bigrams(quote)
    L = len(quote)
    best, best_s = para_key[:L], -1.0
    step = max(1, L // 8)
    for i in range(0, max(1, len(para_key) - L + 1), step):
        win = para_key[i:i + L]
        s = len(qb & bigrams(win)) / max(1, len(qb))
        if s > best_s:
            best, best_s, at = win, s, i
    # refine: let the window grow or shrink around the best start
    lo = max(0, at - step)
    cands = [para_key[a:b] for a in range(lo, min(len(para_key), at + step + 1))
             for b in (a + L - 4, a + L, a + L + 4) if b > a]
    best = max(cands, key=lambda w: difflib.SequenceMatcher(None, quote, w, autojunk=False).ratio())
    return best, difflib.SequenceMatcher(None, quote, best, autojunk=False).ratio()


def changed_figures(quote: str, span: str) -> list[tuple[str, str]]:
    """Numbers of the quote that the span does not state, each paired with the number the span has in its
    place (found by aligning the two texts; "" when the span has none there)."""
    num = re.compile(r"\d+(?:\.\d+)?")
    have = numbers_in(span)
    sm = difflib.SequenceMatcher(None, quote, span, autojunk=False)
    out = []
    for m in num.finditer(quote):
        x = m.group()
        if x in have:
            continue
        # where the figure's characters land in the span, widened to whole numbers there
        place = ""
        for op, a0, a1, b0, b1 in sm.get_opcodes():
            if a0 <= m.start() < a1 or (a0 < m.end() <= a1):
                if op != "delete":
                    lo = b0 + max(0, m.start() - a0) if op == "equal" else b0
                    for n in num.finditer(span):
                        if n.start() <= lo + (m.end() - m.start()) and n.end() >= lo:
                            place = n.group()
                            break
                if place:
                    break
        out.append((x, place))
    return out


def check_quote(text: str, paragraphs: Sequence[Para], retrieve: Callable[[str], Sequence[Para]],
                make_match: Callable[[Para, bool, float, str], CiteMatch]) -> CiteResult:
    """The verdict for one quote (see the module docstring). `retrieve(text)` gives candidate paragraphs
    for a quote that is not verbatim; `make_match` turns a paragraph into a `CiteMatch` with context."""
    key = quote_key(text)
    if len(key) >= 4:
        exact = [p for p in paragraphs if key in p.key]
        if exact:
            return CiteResult(text, "verbatim", [make_match(p, True, 1.0, key) for p in exact],
                              diff=[("same", key)], score=1.0)
    best: tuple[float, Para, str] | None = None
    qb = bigrams(key)
    for p in retrieve(text):
        span, _ = best_span(key, p.key)
        _, covered = align(key, span)
        any_order = len(qb & bigrams(p.key)) / max(1, len(qb))
        # closest = the paragraph holding most of the quote's words (a reordered quote is still closest to its
        # source), then the one holding them most in order
        s = (round(any_order, 3), covered)
        if best is None or s > best[0]:
            best = (s, p, span)
    if best is None:
        return CiteResult(text, "absent", [])
    (any_order, covered), p, span = best
    diff, covered = align(key, span)
    score = round(min(0.999, (any_order + covered) / 2), 3)  # a quote that is not verbatim never scores 1
    # differs: the source holds the quote's words (most of them, in order; or nearly all, reordered)
    if (covered >= CLOSE_BAR and any_order >= CLOSE_BAR) or (any_order >= REORDER_BAR and covered >= ORDER_FLOOR):
        # figures are checked against the whole paragraph (a reordered quote's figures are all there), and a
        # changed one is paired with the paragraph's figure in its place
        return CiteResult(text, "differs", [make_match(p, False, score, span)], diff=diff,
                          changed_figures=changed_figures(key, p.key), score=score)
    return CiteResult(text, "absent", [make_match(p, False, score, span)], diff=diff, score=score)


__all__ = ["CiteMatch", "CiteResult", "Para", "check_quote", "quote_key", "align", "best_span", "LABELS",
           "CLOSE_BAR"]
