"""Checking a quote against the documents: 原文一致, 与原文不一致, 意思相近（非原文）, or 文件中没有.

`check_quote(text, paragraphs, retrieve, make_match, nearest)`:

1. verbatim — the quote (normalised: NFKC, simplified, whitespace and outer punctuation removed) occurs in a
   paragraph: every occurrence, with its lines;
2. otherwise the closest source span: the paragraphs of the best retrieved passages are aligned with the quote
   (character alignment, `difflib`), and the span that covers most of the quote is kept. How much of the quote
   the span covers, and how much of the span the quote covers, make `score` (< 1 whenever anything differs);
3. differs — the span covers the quote well enough (`CLOSE_BAR`): the characters and figures that differ are
   returned (`diff`, `changed_figures`) so a changed figure is never called a match;
4. paraphrase — no span covers it, but a sentence of the retrieved passages says the same thing in other words:
   `nearest(text)` gives the sentences closest by meaning (the embedding model's cosine of the quote and each
   sentence vector the index stored); the closest one that has a figure of its kind (a year, a percentage, a
   quantity) for every figure of the quote is the paraphrase's source when its similarity reaches
   `PARAPHRASE_BAR`. The figures are read as numbers, Chinese numerals included (六成 = 60%, 七千 = 7000), and each is
   paired with the source's figure in its place: 六成 against 60% is the same figure, against 65% a changed one;
   absent — nothing is close enough: 文件中没有.

A figure is compared as a whole number: 45% against 46% is a changed figure even though only one character
differs, and a quote whose every word is in the source but in another order differs too (its alignment
covers only part of it). `diff` compares normalised text; `diff_display` is the same diff in the characters
as written (the document's for what is the same or missing, the quote's for what it changed or added).
"""
from __future__ import annotations

import difflib
import re
from dataclasses import asdict, dataclass, field
from typing import Callable, Sequence

from rag.text import YEAR, bigrams, norm, numbers_in, to_simplified

# Share of the quote's characters (aligned, in order) and of its bigrams (any order) a source span must hold
# for the quote to count as a version of it rather than as absent. Measured on the quote table of
# tests/test_cite.py (made-up policy sentences cover at most about half; a one-figure change, most).
CLOSE_BAR = 0.6
# A reordered quote: nearly all its words are in the source (any order) though fewer in order. Made-up policy
# sentences hold at most about half their words in any order (measured on the same table).
REORDER_BAR = 0.8
ORDER_FLOOR = 0.4
# Cosine (the index's embedding model: the quote as a query, the stored sentence vectors) a sentence must reach
# for the quote to count as its paraphrase rather than as absent. Measured on 40 paraphrases written from the
# corpus (24 of them reach this step; the other 16 are close enough in wording to be 与原文不一致) and 40 made-up
# statements about the same pilots, in the same policy language (the PARAPHRASED and MADE_UP tables of
# tests/test_cite.py hold a sample of both, `-s` prints every similarity):
#   paraphrases: 0.922–0.959, except two clauses of one long sentence (章丘 0.892, 0.912);
#   made-up: 14 have a figure no close sentence states anything like (every year, share or quantity of its
#   kind missing; up to 0.941 without that rule) and are absent whatever their similarity; of the other 26,
#   25 score 0.872–0.914 and one 0.928 (临港 居住证 …可直接购买两套住房: the same subject as its source).
# The bar is the midpoint of 0.914 and 0.922. e5 similarities are compressed (the median sentence of the
# retrieved passages scores 0.85–0.89), so the two classes are close and the figure rule does part of the work.
PARAPHRASE_BAR = 0.918
LABELS = {"verbatim": "原文一致", "differs": "与原文不一致", "paraphrase": "意思相近（非原文）", "absent": "文件中没有"}
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
    span: str = ""            # the closest span of `text`, normalised (a quote that differs); for a paraphrase,
                              # the sentence of `text` closest in meaning, as written


@dataclass
class CiteResult:
    text: str                                   # the quote as given
    verdict: str                                # "verbatim" | "differs" | "paraphrase" | "absent"
    matches: list[CiteMatch]
    diff: list[tuple[str, str]] = field(default_factory=list)   # ("same"|"changed"|"extra"|"missing", text)
    changed_figures: list[tuple[str, str]] = field(default_factory=list)  # (in the quote, in the source)
    score: float = 0.0
    # the same diff in the characters as written: the document's (full-width ，。 and all) where the quote is the
    # same or lacks something, the quote's where it changed or added something
    diff_display: list[tuple[str, str]] = field(default_factory=list)
    similarity: float | None = None             # cosine of the quote and its closest sentence by meaning (when
                                                # that was looked for: not verbatim, not a close version)

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
        d["diff_display"] = [list(x) for x in self.diff_display]
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


# --------------------------------------------------------------------------- figures read as numbers

@dataclass(frozen=True)
class Figure:
    """A figure of a normalised text, read as a number: 六成 is 60 (a percentage), 5亿 is 5e8."""

    text: str     # as written ("六成", "60%", "5亿", "2020")
    value: float
    kind: str     # "year" | "pct" | "num"
    start: int
    year: str     # the year stated last before it ("" for none): in 到2020年…达到60%, 60%'s year is 2020
    unit: str = ""  # a quantity's unit when one follows it (人, 亩, 平方公里…)


_CN = "零〇一二两三四五六七八九十百千万亿"
_CN_RUN = f"[{_CN}][{_CN}点]*"
_FIGURE = re.compile(
    rf"(?P<year>{YEAR})(?=年|[—–\-~～至到]{YEAR})|(?P<cnyear>[零〇一二三四五六七八九]{{4}})(?=年)"
    rf"|百分之(?P<pctof>\d+(?:\.\d+)?|{_CN_RUN})|(?P<pct>\d+(?:\.\d+)?)%"
    rf"|(?P<cheng>[一二三四五六七八九])成(?P<tenth>[一二三四五六七八九])?"
    rf"|(?P<num>\d+(?:\.\d+)?)(?P<scale>[万亿])?|(?P<cn>{_CN_RUN})")
_CN_VALUE = dict(zip("零〇一二两三四五六七八九", (0, 0, 1, 2, 2, 3, 4, 5, 6, 7, 8, 9)))
_PLAN = re.compile(r"十[一二三四五]五")   # 十二五 is a plan period, not 125
_SCALE = {"万": 1e4, "亿": 1e8}
_UNIT = re.compile(r"平方公里|平方千米|平方米|公顷|公里|[人户元亩个家所座项条次倍张吨辆台名位套]")


def _cn_number(run: str) -> float | None:
    """A run of Chinese numerals as a number (cn2an), or None when it is no figure: a lone small count
    (一个, 三产 — too common in running text to compare), digits read one by one (一二三), a plan (十二五)."""
    run = run.rstrip("点")
    if not run or _PLAN.fullmatch(run) or not re.search("[零〇一二两三四五六七八九十]", run):
        return None
    if len(run) > 1 and not re.search("[十百千万亿点]", run):
        return None
    import cn2an  # read only for a text with Chinese numerals: importing it costs a cold start 0.25 s

    try:
        value = float(cn2an.cn2an(run, "smart"))
    except (ValueError, KeyError, TypeError):
        return None
    return value if value >= 10 or re.search("[百千万亿点]", run) else None


def figures(s: str) -> list[Figure]:
    """The figures of a normalised string, in order: years, percentages (45%, 百分之四十五, 四成五) and other
    quantities (Arabic or Chinese numerals, with 万/亿), each with the year stated last before it."""
    out: list[Figure] = []
    year = ""
    for m in _FIGURE.finditer(s):
        kind, value = "num", None
        if m.group("year") or m.group("cnyear"):
            digits = m.group("year") or "".join(str(_CN_VALUE[c]) for c in m.group("cnyear"))
            kind, value = "year", float(digits)
        elif m.group("pctof") is not None:
            x = m.group("pctof")
            kind, value = "pct", float(x) if x[0].isdigit() else _cn_number(x) if x != "百" else 100.0
        elif m.group("pct") is not None:
            kind, value = "pct", float(m.group("pct"))
        elif m.group("cheng"):
            tenth = m.group("tenth")
            kind, value = "pct", 10.0 * _CN_VALUE[m.group("cheng")] + (_CN_VALUE[tenth] if tenth else 0)
        elif m.group("num") is not None and s[m.end():m.end() + 1] not in ("月", "日"):  # a date is no figure
            value = float(m.group("num")) * _SCALE.get(m.group("scale") or "", 1.0)
        elif m.group("cn") and s[max(0, m.start() - 1):m.start()] != "第":  # 第一 is an order, not a figure
            value = _cn_number(m.group("cn"))
        if value is None:
            continue
        unit = _UNIT.match(s, m.end()) if kind == "num" else None
        out.append(Figure(m.group().rstrip("点"), value, kind, m.start(), "" if kind == "year" else year,
                          unit.group() if unit else ""))
        if kind == "year":
            year = m.group()
    return out


def _same(a: Figure, b: Figure) -> bool:
    return abs(a.value - b.value) <= 1e-9 * max(1.0, abs(a.value))


def pair_figures(quote: str, source: str, within: str = "") -> list[tuple[Figure, Figure | None]]:
    """Each figure of the quote with the source's figure in its place: of the same kind (and unit, when both
    have one), after the same words (the ten characters before it) and under the same year, the same value
    breaking a tie; None when the source states no figure of that kind. With `within` (a sentence of
    `source`), only that sentence's figures count, and the year in force where it starts."""
    theirs = figures(source)
    at = source.find(within) if within else -1
    if at >= 0:
        before = [g for g in theirs if g.kind == "year" and g.start < at]
        theirs = before[-1:] + [g for g in theirs if at <= g.start < at + len(within)]
    out = []
    for f in figures(quote):
        mine = bigrams(quote[max(0, f.start - 10):f.start])
        fits = [(len(mine & bigrams(source[max(0, g.start - 10):g.start])) / max(1, len(mine))
                 + (0.5 if f.year and f.year == g.year else 0.0), _same(f, g), -i, g)
                for i, g in enumerate(theirs)
                if g.kind == f.kind and (f.unit == g.unit or not f.unit or not g.unit)]
        out.append((f, max(fits, key=lambda x: x[:3])[3] if fits else None))
    return out


def figure_changes(pairs: Sequence[tuple[Figure, Figure | None]]) -> list[tuple[str, str]]:
    """(the quote's figure, the source's in its place or "") for every pair whose values differ."""
    return [(f.text, g.text if g else "") for f, g in pairs if g is None or not _same(f, g)]


_CN_FIGURE = re.compile("[零〇一二两三四五六七八九十百千]")


def _chinese(f: Figure) -> bool:
    """A figure written with Chinese numerals (百分之六十, 六成, 七千), which `changed_figures` does not read."""
    return _CN_FIGURE.search(f.text) is not None


# --------------------------------------------------------------------------- the diff in the characters as written

def _key_map(text: str, strip: bool) -> tuple[str, list[int]] | None:
    """`text`'s key (norm of its simplified form, outer punctuation stripped when `strip`) and, for each key
    character, its index in `text`; None when the key cannot be traced back character by character."""
    chars: list[str] = []
    where: list[int] = []
    for i, ch in enumerate(text):
        for c in norm(ch):
            chars.append(c)
            where.append(i)
    joined = "".join(chars)
    key = to_simplified(joined)
    if len(key) != len(joined) or key != norm(to_simplified(text)):
        return None
    if strip:
        lead = len(key) - len(key.lstrip(_EDGE))
        key = key.strip(_EDGE)
        where = where[lead:lead + len(key)]
    return key, where


def _written(text: str, where: list[int], a: int, b: int) -> str:
    """The characters of `text` behind key characters a..b (whitespace between them dropped)."""
    return "".join(text[i] for i in dict.fromkeys(where[a:b]))


def display_diff(quote: str, key: str, span: str, para: Para) -> list[tuple[str, str]]:
    """`align(key, span)`'s diff in the characters as written: the paragraph's own where the quote is the same
    or lacks something, the quote's where it changed or added something; the normalised diff when either
    cannot be traced back."""
    q = _key_map(quote, strip=True)
    src = _key_map(para.text, strip=False)
    at = para.key.find(span) if span else -1
    if q is None or src is None or q[0] != key or src[0] != para.key or at < 0:
        return align(key, span)[0]
    diff = []
    for op, a0, a1, b0, b1 in difflib.SequenceMatcher(None, key, span, autojunk=False).get_opcodes():
        if op == "equal":
            diff.append(("same", _written(para.text, src[1], at + b0, at + b1)))
        elif op == "insert":
            diff.append(("missing", _written(para.text, src[1], at + b0, at + b1)))
        else:
            diff.append(("changed" if op == "replace" else "extra", _written(quote, q[1], a0, a1)))
    return diff


def check_quote(text: str, paragraphs: Sequence[Para], retrieve: Callable[[str], Sequence[Para]],
                make_match: Callable[[Para, bool, float, str], CiteMatch],
                nearest: Callable[[str], Sequence[tuple[float, Para, str]]] | None = None) -> CiteResult:
    """The verdict for one quote (see the module docstring). `retrieve(text)` gives candidate paragraphs
    for a quote that is not verbatim; `make_match` turns a paragraph into a `CiteMatch` with context;
    `nearest(text)` gives the sentences of the retrieved passages closest by meaning, as (cosine, paragraph,
    sentence as written), best first (none: no paraphrase is looked for)."""
    key = quote_key(text)
    if len(key) >= 4:
        exact = [p for p in paragraphs if key in p.key]
        if exact:
            return CiteResult(text, "verbatim", [make_match(p, True, 1.0, key) for p in exact],
                              diff=[("same", key)], score=1.0, diff_display=[("same", _as_written(exact[0], key))])
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
    score = 0.0
    if best is not None:
        (any_order, covered), p, span = best
        diff, covered = align(key, span)
        score = round(min(0.999, (any_order + covered) / 2), 3)  # a quote that is not verbatim never scores 1
        # differs: the source holds the quote's words (most of them, in order; or nearly all, reordered)
        if (covered >= CLOSE_BAR and any_order >= CLOSE_BAR) or (any_order >= REORDER_BAR and covered >= ORDER_FLOOR):
            # figures are checked against the whole paragraph (a reordered quote's figures are all there), and a
            # changed one is paired with the paragraph's figure in its place; figures written in Chinese are read
            changed = changed_figures(key, p.key)
            if _CN_FIGURE.search(key):
                changed += figure_changes([x for x in pair_figures(key, p.key) if _chinese(x[0])])
            return CiteResult(text, "differs", [make_match(p, False, score, span)], diff=diff,
                              changed_figures=changed, score=score, diff_display=display_diff(text, key, span, p))
    similarity = None
    # a paraphrase says what its source says: the sentence closest in meaning among those that have a figure of
    # its kind for every figure of the quote (a figure the sentence has nothing like is a claim it does not
    # make), if it is close enough
    for sim, sp, sentence in nearest(text) if nearest and len(key) >= 4 else []:
        pairs = pair_figures(key, sp.key, quote_key(sentence))
        stated = all(g is not None for _, g in pairs)
        if similarity is None or stated:  # reported: the closest sentence that states them, else the closest
            similarity = round(float(sim), 3)
        if stated:
            if similarity >= PARAPHRASE_BAR:
                return CiteResult(text, "paraphrase", [make_match(sp, False, similarity, sentence)],
                                  changed_figures=figure_changes(pairs), score=score, similarity=similarity)
            break
    if best is None:
        return CiteResult(text, "absent", [], similarity=similarity)
    return CiteResult(text, "absent", [make_match(p, False, score, span)], diff=diff, score=score,
                      diff_display=display_diff(text, key, span, p), similarity=similarity)


def _as_written(para: Para, key: str) -> str:
    """The paragraph's own characters where `key` occurs in its key (`key` itself when it cannot be traced)."""
    src = _key_map(para.text, strip=False)
    at = para.key.find(key)
    if src is None or src[0] != para.key or at < 0:
        return key
    return _written(para.text, src[1], at, at + len(key))


__all__ = ["CiteMatch", "CiteResult", "Para", "Figure", "check_quote", "quote_key", "align", "best_span",
           "figures", "pair_figures", "figure_changes", "display_diff", "LABELS", "CLOSE_BAR", "PARAPHRASE_BAR"]
