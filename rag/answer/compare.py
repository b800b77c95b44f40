"""Comparisons: one cited row per compared pilot, like with like (the same period where a year is not asked),
each row's figure read in the measure's unit (the fact table's row where the pilot's passages give none), and
the verdict (which is higher, by how much) when it is asked."""
from __future__ import annotations

import re

from rag.answer import judgment as J
from rag.answer.aggregate import quote_for
from rag.answer.citations import make_citation
from rag.answer.types import Citation, Row
from rag.knowledge.domain import is_target_year
from rag.knowledge.measures import measure_head, read_figure, units_of
from rag.query.info import QuestionInfo
from rag.text import YEAR, norm

_NUM_UNIT = re.compile(r"(\d+(?:\.\d+)?)\s*(%|％|万人|万|亿元|亿|平方公里|公里|个|家|人|元|吨|亩)?")


def _period(c: J.Candidate) -> str | None:
    return ("target" if any(is_target_year(y) for y in c.years) else "base") if c.years else None


def like_with_like(info: QuestionInfo, chosen: dict[str, list[J.Candidate]]) -> dict[str, J.Candidate]:
    """One sentence per compared pilot. A figure asked with no year compares like with like: where a pilot's
    best sentence is of the other period (a target beside base-year figures), its best sentence of the period
    most pilots' sentences state."""
    if info.asks_figure and info.measure:
        # a row names what is compared: a sentence naming the measure before one with a figure in its unit only
        named = J.FEATURES.index("measure")
        chosen = {p: sorted(cs, key=lambda c: c.x[named] <= 0) for p, cs in chosen.items()}
    best = {p: cs[0] for p, cs in chosen.items() if cs}
    if info.years or not info.asks_figure or len(best) < 2:
        return best
    if J.asks_target(info):
        # "…目标" with no year: each plan's final target (2020 over 2017), like with like
        for pilot, cs in chosen.items():
            dated = [c for c in cs if _period(c) == "target"]
            if dated:
                best[pilot] = max(dated, key=lambda c: (max(int(y) for y in c.years), c.p))
        return best
    if info.period:
        return best
    votes: dict[str | None, tuple[int, float]] = {}
    for cs in chosen.values():
        for kind in {_period(c) for c in cs}:
            n, p = votes.get(kind, (0, 0.0))
            votes[kind] = (n + 1, p + max(c.p for c in cs if _period(c) == kind))
    kind = max(votes, key=lambda k: votes[k]) if votes else None
    if kind is None:  # most compared sentences state no year: nothing to align
        return best
    for pilot, cs in chosen.items():
        same = [c for c in cs if _period(c) == kind]
        if same and _period(cs[0]) not in (None, kind):  # a target beside base-year figures, or the reverse
            best[pilot] = same[0]
    return best


def _value(quote: str, info: QuestionInfo) -> tuple[float, str] | None:
    """The figure a quote states for the question's measure, as (value, figure as written): the first number after
    the measure's name (else after the quote's start) written as the measure is — a percentage for a rate, a unit
    of the measure (`data/measure_units.tsv`) for an area or a population — else the first number that is not a
    year. The value counts 万/亿 ("2.02万平方公里" is 20200), so a comparison never sets 2.02 against 7140."""
    n = norm(quote)
    start = 0
    for key in (info.measure, (info.measure or "")[-3:]):
        if key and norm(key) in n:
            start = n.index(norm(key))
            break
    head = measure_head(norm(info.measure)) if info.measure else None
    units = units_of(head)
    pct = info.answer_type == "percent"
    fallback = None
    for m in _NUM_UNIT.finditer(n, start):
        if re.fullmatch(YEAR, m.group(1)) and not m.group(2):
            continue
        after = n[m.end(1):m.end(1) + 6]
        if (pct and after.lstrip().startswith(("%", "％"))) or (units and any(after.lstrip().lstrip("万亿千百").startswith(u)
                                                                             for u in units)):
            return read_figure(m.group(1), n[m.end(1):m.end(1) + 12], units)
        if fallback is None:
            fallback = read_figure(m.group(1), n[m.end(1):m.end(1) + 12], units)
        if not (pct or units):
            break
    return fallback


def verdict(rows: list[Row], info: QuestionInfo) -> str:
    """"A（x）高于B（y）" when the question asks which is higher or lower and every answered row has a figure."""
    valued = [r for r in rows if r.answer and r.value is not None]
    if info.compare_op is None or len(valued) < 2:
        return ""
    valued.sort(key=lambda r: -r.value)
    hi, lo = valued[0], valued[-1]
    if hi.value == lo.value:
        return f"比较：{hi.pilot}与{lo.pilot}相同。"
    top = hi if info.compare_op == "max" else lo
    other = [r for r in valued if r is not top]
    rate = info.answer_type == "percent"  # a rate is higher or lower; an area, a population or a sum larger
    rel = ("高于" if rate else "大于") if info.compare_op == "max" else ("低于" if rate else "小于")
    text = f"比较：{top.pilot}（{top.figure}）{rel}" + "、".join(f"{r.pilot}（{r.figure}）" for r in other)
    return text + _difference(hi, lo, info) + "。"


_HOW_MUCH_MORE = re.compile(r"(?:大|高|多|少|低|小)(?:了)?多少|相差|差多少|差距|差了?几")


def _difference(hi: Row, lo: Row, info: QuestionInfo) -> str:
    """"，相差 N<单位>" when the question asks by how much and the two figures are in one unit (万 counted);
    a difference of rates is in 个百分点."""
    if not _HOW_MUCH_MORE.search(info.key) or not hi.figure or not lo.figure:
        return ""
    units = {re.sub(r"^[\d.]+[万亿千百]?", "", f) for f in (hi.figure, lo.figure)}
    if len(units) != 1:
        return ""
    unit = units.pop()
    diff = round(hi.value - lo.value, 4)
    return f"，相差{diff:g}个百分点" if unit in ("%", "％") else f"，相差{diff:g}{unit}"


def row_figure(quote: str, info: QuestionInfo) -> dict:
    v = _value(quote, info)
    return {"value": v[0], "figure": v[1]} if v else {}


def fill_from_table(info: QuestionInfo, rows: list[Row], cits: list[Citation], numbers: dict[int, int],
                     retrieval) -> None:
    """A compared pilot whose passages gave no figure gets the fact table's row for the asked measure and year
    (its plan may say 总人口 where the question says 人口), cited from the line that states it."""
    sel = getattr(retrieval, "facts", None)
    if sel is None:
        return
    by_pilot = {}
    for f in [*sel.rows, *(f for f, _ in sel.aside)]:  # a figure of part of the pilot is shown, not compared
        by_pilot.setdefault(f.pilot, f)
    partial = {id(f) for f, _ in sel.aside}
    index = {p.chunk.id: i for i, p in enumerate(retrieval.passages)}
    for i, r in enumerate(rows):
        f = by_pilot.get(r.pilot)
        if f is None or (r.answer and r.value is not None) or f.chunk_id not in index:
            continue
        pi = index[f.chunk_id]
        chunk = retrieval.passages[pi].chunk
        n = numbers.get(pi, len(numbers) + 1)
        cit = make_citation(n, chunk, quote_for(chunk, f))
        if cit is None:
            continue
        numbers[pi] = n
        cits.append(cit)
        figure = row_figure(f.text, info) or {"value": f.value, "figure": f.text.replace(" ", "")}
        note = ""
        if id(f) in partial:
            figure, note = {"value": None, "figure": figure["figure"]}, "仅为试点的一部分"
        rows[i] = Row(pilot=r.pilot, answer=cit.quote, quote=cit.quote, n=n, start_line=cit.start_line,
                      end_line=cit.end_line, note=note, **figure)
