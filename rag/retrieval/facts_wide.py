"""The fact table pivoted for reading: one row per pilot, one column per measure and year (the 指标 tab).

Columns: for each measure, one base column (each pilot's base-year figure: most plans state 2014, some 2013 or
2015, so the column names the year most of its figures are for and each cell keeps its own year), then one
column per target year stated for it, in year order. Rows: every pilot given, in the order given, with or
without figures, so a missing figure is seen as missing. Pure functions over `Fact` rows: no index, no model.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from rag.index.facts import CORE
from rag.knowledge.domain import BASE_YEAR, PLAN_YEAR

PILOT_KEY = "pilot"
PROVINCE_KEY = "province"


@dataclass(frozen=True)
class Column:
    measure: str
    kind: str        # "base" | "target"
    year: int        # the target year; for the base column, the year most of its figures are for
    count: int       # pilots with a figure in this column

    @property
    def key(self) -> str:
        """A stable id of the column (sorting, the page's buttons): "面积|base", "常住人口|target|2020"."""
        return f"{self.measure}|base" if self.kind == "base" else f"{self.measure}|target|{self.year}"


@dataclass
class WideRow:
    pilot: str
    province: str
    cells: dict = field(default_factory=dict)   # column key -> Fact


@dataclass
class WideTable:
    columns: list[Column]
    rows: list[WideRow]

    def column(self, key: str) -> Column | None:
        return next((c for c in self.columns if c.key == key), None)


def measure_order(facts: Iterable) -> list[str]:
    """The measures of the table: the four core measures first, then the others by how many pilots state them."""
    pilots: dict[str, set] = {}
    for f in facts:
        pilots.setdefault(f.measure, set()).add(f.pilot)
    core = [m for m in CORE if m in pilots]
    rest = sorted((m for m in pilots if m not in CORE), key=lambda m: (-len(pilots[m]), m))
    return core + rest


def _base_pick(current, f):
    """Of two base figures of one pilot and measure: the plan's present (≤ PLAN_YEAR, latest) over the others."""
    if current is None:
        return f

    def rank(x):
        return x.year <= PLAN_YEAR, x.year

    return f if rank(f) > rank(current) else current


def pivot(facts: Sequence, pilots: Sequence[tuple[str, str]] | None = None,
          measures: Sequence[str] | None = None) -> WideTable:
    """The wide table of `facts` for `pilots` ((pilot, province) pairs, in display order; default: the pilots of
    `facts` in their order) and `measures` (in this order; default: `measure_order`)."""
    if pilots is None:
        pilots = list(dict.fromkeys((f.pilot, f.province) for f in facts))
    order = list(measures) if measures is not None else measure_order(facts)
    wanted = set(order)
    rows = {p: WideRow(pilot=p, province=prov) for p, prov in pilots}
    base_years: dict[str, Counter] = {}
    target_years: dict[str, Counter] = {}
    for f in facts:
        row = rows.get(f.pilot)
        if row is None or f.measure not in wanted:
            continue
        if f.kind == "base":
            key = f"{f.measure}|base"
            row.cells[key] = _base_pick(row.cells.get(key), f)
        else:
            row.cells[f"{f.measure}|target|{f.year}"] = f
    for row in rows.values():
        for key, f in row.cells.items():
            (base_years if f.kind == "base" else target_years).setdefault(f.measure, Counter())[f.year] += 1
    columns = []
    for m in order:
        if m in base_years:
            year = max(base_years[m].items(), key=lambda kv: (kv[1], kv[0] == BASE_YEAR, kv[0]))[0]
            columns.append(Column(m, "base", year, sum(base_years[m].values())))
        for year in sorted(target_years.get(m, {})):
            columns.append(Column(m, "target", year, target_years[m][year]))
    return WideTable(columns=columns, rows=list(rows.values()))


def filter_rows(table: WideTable, *, province: str | None = None, text: str | None = None) -> WideTable:
    """The rows of one province and/or whose pilot (or province) name contains `text`; the columns are kept."""
    text = "".join(str(text or "").split())
    rows = [r for r in table.rows
            if (not province or r.province == province) and (not text or text in r.pilot or text in r.province)]
    return WideTable(columns=table.columns, rows=rows)


def sort_rows(table: WideTable, key: str | None, descending: bool = False) -> WideTable:
    """Rows sorted by a column's value (or by pilot / province name); rows without a figure there stay last,
    whichever the direction; ties keep the given order."""
    if not key:
        return table
    if key == PILOT_KEY:
        return WideTable(columns=table.columns, rows=sorted(table.rows, key=lambda r: r.pilot, reverse=descending))
    if key == PROVINCE_KEY:  # provinces in the order the rows list them (the pilots' official order)
        first = {p: i for i, p in reversed(list(enumerate(r.province for r in table.rows)))}
        rows = sorted(table.rows, key=lambda r: first[r.province], reverse=descending)
        return WideTable(columns=table.columns, rows=rows)
    have = [r for r in table.rows if key in r.cells]
    missing = [r for r in table.rows if key not in r.cells]
    have.sort(key=lambda r: r.cells[key].value, reverse=descending)
    return WideTable(columns=table.columns, rows=have + missing)


def table_facts(facts: Sequence, table: WideTable, measures: Sequence[str] | None = None) -> list:
    """The fact rows behind a (filtered) wide table, in the fact table's own order: every figure of its pilots
    for its measures (`measures`, default: those of its columns) — the rows `pilotqa facts --csv` prints."""
    pilots = {r.pilot for r in table.rows}
    keep = set(measures) if measures is not None else {c.measure for c in table.columns}
    return [f for f in facts if f.pilot in pilots and f.measure in keep]
