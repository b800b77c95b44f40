"""The fact-table rows an aggregate question is about (`rag.query.aggregate.AggregateAsk`), split into the rows that
answer it and the rows only mentioned beside it (a figure for part of a pilot, or under another label than the
one asked). Retrieval returns their chunks as the passages; the answerer computes the answer from the rows."""
from __future__ import annotations

from dataclasses import dataclass, field

from rag.knowledge.domain import PLAN_YEAR
from rag.query.aggregate import RATE_VARIANTS, AggregateAsk, default_years

PART = "试点的一部分"
JOINT = "联合区域"


@dataclass
class FactSelection:
    rows: list = field(default_factory=list)      # the figures that answer (one per pilot and year)
    aside: list = field(default_factory=list)     # figures of the measure not counted, each with why
    pilots: list = field(default_factory=list)    # the pilots in scope (all pilots of the table, or those named)


def is_partial(f) -> bool:
    return PART in f.note or JOINT in f.note


def is_relabelled(f) -> bool:
    """A figure under another label than the measure's own (总人口 for 常住人口). A bare 城镇化率 is not: as
    everywhere else (the judgment reads a bare 城镇化率 as 常住), it is the 常住 rate, ranked with its note shown."""
    return bool(f.note) and not is_partial(f) and not f.note.startswith(("年份", "现状")) \
        and not f.note.startswith(BARE_RATE)


BARE_RATE = "城镇化率（未注明常住/户籍）"  # the note rag/knowledge/data/fact_labels.tsv gives a bare 城镇化率


def select(facts: list, ask: AggregateAsk, pilots_of_province: dict[str, list[str]] | None = None) -> FactSelection:
    """The rows of `facts` an ask is about."""
    all_pilots = list(dict.fromkeys(f.pilot for f in facts if f.province))
    scope = all_pilots
    if ask.pilots:
        scope = list(ask.pilots)
    elif ask.province:
        scope = [p for p in all_pilots if any(f.province == ask.province for f in facts if f.pilot == p)]
    in_scope = set(scope)
    # every variant: each year stated (a target asked means every target year, not only the last)
    years = set(ask.years) if ask.op == "variants" else \
        set(default_years(ask)) | ({ask.missing_year} if ask.missing_year else set())
    measures = {ask.measure} | (set(RATE_VARIANTS) if ask.diff == "qualifier" or (ask.op == "variants" and ask.loose) else set())
    mine = [f for f in facts if f.pilot in in_scope and f.measure in measures]
    if ask.op == "diff":
        return _for_difference(ask, mine, scope)
    if ask.kind:
        mine = [f for f in mine if f.kind == ask.kind]
    if years and ask.measure != "面积":  # an area is the pilot's, whatever year the question carries
        mine = [f for f in mine if f.year in years or (ask.kind == "base" and not ask.years)]
    elif ask.kind == "base":
        # each plan's own base year: the latest year up to the plan year it states the measure for
        latest: dict[str, int] = {}
        for f in mine:
            if f.year <= PLAN_YEAR:
                latest[f.pilot] = max(latest.get(f.pilot, 0), f.year)
        mine = [f for f in mine if latest.get(f.pilot) == f.year]
    sel = FactSelection(pilots=scope)
    listing = ask.op in ("list", "province", "variants") or (ask.op == "count" and ask.lo is None and ask.hi is None)
    for f in mine:
        if listing:
            sel.rows.append(f)  # a list shows every figure stated, its note saying what it covers
        elif is_partial(f):
            sel.aside.append((f, "仅为试点的一部分"))
        elif is_relabelled(f) and not ask.loose:
            sel.aside.append((f, f"口径为“{f.note.split('；')[0]}”"))
        else:
            sel.rows.append(f)
    return sel


def _for_difference(ask: AggregateAsk, mine: list, scope: list) -> FactSelection:
    """A difference of one pilot: both rates of one year, or one measure in two years (a year named once is set
    against the plan's base year)."""
    whole = [f for f in mine if not is_partial(f)]
    if ask.diff == "qualifier":
        years = ask.years or tuple(sorted({f.year for f in whole if f.kind == (ask.kind or "base")}))[-1:]
        rows = [f for f in whole if f.year in years]
    else:
        years = list(ask.years)
        if len(years) == 1:
            base = [f.year for f in whole if f.year <= PLAN_YEAR]
            years = ([max(base)] if base else []) + years
        rows = [f for f in whole if f.year in years]
    return FactSelection(rows=sorted(rows, key=lambda f: (f.year, f.measure)), pilots=scope)


def filter_facts(facts: list, *, measure: str | None = None, year: int | None = None, pilot: str | None = None,
                 kind: str | None = None) -> list:
    """The rows of the table that match every filter given (`pilotqa facts`, `/api/facts`, the 指标 tab)."""
    out = []
    for f in facts:
        if measure and f.measure != measure:
            continue
        if year and f.year != int(year):
            continue
        if pilot and f.pilot != pilot:
            continue
        if kind and f.kind != kind:
            continue
        out.append(f)
    return out
