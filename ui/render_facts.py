"""HTML for the figures: the 指标 tab's table (pilots × measures) and an aggregate answer's table in the chat.

Safety as in ui/render.py: every text (pilot names, figures, notes) goes through `esc()`; the markup is ours.
The chat's bars are drawn by CSS classes only (`pq-w-0` … `pq-w-100`, the bar's width in steps of 5%, defined
in ui/style.css), because the chat's sanitizer drops `style` attributes and no image may be shown there: the
width is a number this module computes, never text from the answer, so nothing from outside becomes CSS.
"""
from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence

from rag.retrieval.facts_wide import PILOT_KEY, PROVINCE_KEY, Column, WideTable

MISSING = "—"
NOTE_MARK = "※"
STEP = 5                  # bar widths in steps of this many percent (pq-w-0, pq-w-5, … pq-w-100)
_MARK = re.compile(r"\[(\d{1,3})\]")
_LISTING = re.compile(r"^\s*(?:\d+\.|-|未计入：)")


def esc(s) -> str:
    """ui/render.py's escaping (that module imports this one, so it is not imported from there)."""
    return html.escape("" if s is None else str(s), quote=True)


def short_name(pilot: str, province: str) -> str:
    """A pilot's name without its province ("北京市房山区" → "房山区"); the whole name when that is all there is."""
    pilot, province = str(pilot or ""), str(province or "")
    rest = pilot[len(province):] if province and pilot.startswith(province) else pilot
    return rest or pilot


def column_label(col: Column) -> str:
    """The column's heading under its measure: "2014年" for the base figures, "2020年目标" for a target."""
    return f"{col.year}年" if col.kind == "base" else f"{col.year}年目标"


def column_title(col: Column) -> str:
    """The heading's tooltip: what the column holds, and how to sort it."""
    what = (f"{col.measure}：基期数字（多数为 {col.year} 年，其他年份在数字后注明）" if col.kind == "base"
            else f"{col.measure}：{col.year} 年目标")
    return f"{what}，{col.count} 个试点给出。点击按此列排序"


def fact_cell(f, col: Column | None = None) -> str:
    """One figure: as the plan writes it, a button that opens its line in 试点浏览; ※ with the note's tooltip."""
    year = f'<span class="pq-fyear">（{int(f.year)}年）</span>' if col is not None and int(f.year) != col.year else ""
    tip = f"第 {int(f.line)} 行 · 点击在试点浏览中查看原文" + (f"\n说明：{f.note}" if f.note else "")
    note = f'<span class="pq-note-mark" title="{esc(f.note)}">{NOTE_MARK}</span>' if f.note else ""
    return (f'<td class="pq-fcell{" pq-fnoted" if f.note else ""}"><button type="button" class="pq-fjump" '
            f'data-pilot="{esc(f.pilot)}" data-start="{int(f.line)}" data-end="{int(f.line)}" title="{esc(tip)}">'
            f"{esc(f.text)}{year}</button>{note}</td>")


def _sort_button(key: str, label: str, title: str, sort_key: str | None, descending: bool) -> str:
    on = key == sort_key
    arrow = ("▼" if descending else "▲") if on else "↕"
    cls = "pq-sort pq-sorted" if on else "pq-sort"
    return (f'<button type="button" class="{cls}" data-sort="{esc(key)}" title="{esc(title)}">{esc(label)}'
            f'<span class="pq-sort-arrow">{arrow}</span></button>')


def _aria(key: str, sort_key: str | None, descending: bool) -> str:
    if key != sort_key:
        return ""
    return f' aria-sort="{"descending" if descending else "ascending"}"'


def facts_table_html(table: WideTable, sort_key: str | None = None, descending: bool = False) -> str:
    """The pilots × measures table: 试点 | 省份 | for each measure its base and target columns. Headers sort
    (the page's script sends `data-sort`), figures open their line (`data-pilot`, `data-start`)."""
    if not table.rows:
        return '<div class="pq-facts-empty">没有符合条件的试点。请调整省份或名称筛选。</div>'
    groups: list[tuple[str, list[Column]]] = []
    for c in table.columns:
        if groups and groups[-1][0] == c.measure:
            groups[-1][1].append(c)
        else:
            groups.append((c.measure, [c]))
    head1 = [(f'<th rowspan="2" class="pq-fpilot-h"{_aria(PILOT_KEY, sort_key, descending)}>'
              f'{_sort_button(PILOT_KEY, "试点", "按试点名称排序", sort_key, descending)}</th>'),
             (f'<th rowspan="2" class="pq-fprov-h"{_aria(PROVINCE_KEY, sort_key, descending)}>'
              f'{_sort_button(PROVINCE_KEY, "省份", "按省份排序", sort_key, descending)}</th>')]
    head2 = []
    for measure, cols in groups:
        head1.append(f'<th colspan="{len(cols)}" class="pq-fmeasure">{esc(measure)}</th>')
        for c in cols:
            head2.append(f'<th class="pq-fcol-h"{_aria(c.key, sort_key, descending)}>'
                         f'{_sort_button(c.key, column_label(c), column_title(c), sort_key, descending)}</th>')
    body = []
    for r in table.rows:
        cells = [f'<th scope="row" class="pq-fpilot" title="{esc(r.pilot)}">{esc(short_name(r.pilot, r.province))}</th>',
                 f'<td class="pq-fprov">{esc(r.province)}</td>']
        for c in table.columns:
            f = r.cells.get(c.key)
            cells.append(fact_cell(f, c) if f is not None else f'<td class="pq-fmissing" title="文件未提及">{MISSING}</td>')
        body.append(f'<tr>{"".join(cells)}</tr>')
    return ('<div class="pq-facts-scroll"><table class="pq-facts">'
            f'<thead><tr>{"".join(head1)}</tr><tr>{"".join(head2)}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')


def facts_summary(table: WideTable, total_pilots: int, figures: int) -> str:
    """The line above the table: how much is shown, and how to use it."""
    shown = len(table.rows)
    scope = f"{shown} 个试点" if shown == total_pilots else f"{shown} 个试点（共 {total_pilots} 个）"
    return (f'<div class="pq-facts-summary"><b>{scope}</b> · {len(table.columns)} 列 · {figures} 个数字。'
            f"点击列标题排序，点击数字在“试点浏览”中查看原文所在行；{NOTE_MARK} 表示该数字有说明"
            "（如仅为试点的一部分、口径不同），鼠标悬停可见；“—”表示文件未提及。</div>")


def missing_html(names: Sequence[str], what: str) -> str:
    """The pilots a chart leaves out: 未提出 with their names (none: nothing is said)."""
    if not names:
        return f'<div class="pq-chart-missing pq-chart-all">所选试点都给出了{esc(what)}。</div>'
    return (f'<div class="pq-chart-missing"><b>未提出（{len(names)} 个试点）：</b>'
            f'{esc("、".join(names))}</div>')


# --------------------------------------------------------------------------- aggregate answers in the chat


def bar_class(value, scale: float) -> str:
    """`pq-w-N`: the bar's width as a share of `scale`, in steps of STEP percent (a positive value shows at
    least one step; no value, none)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "pq-w-0"
    if scale <= 0 or v <= 0:
        return "pq-w-0"
    pct = min(100, max(STEP, round(v / scale * 100 / STEP) * STEP))
    return f"pq-w-{pct}"


def _scales(rows: Sequence[Mapping]) -> dict[str, float]:
    """The full bar's value per unit: 100 for percentages (a rate's bar is its share), else the largest value."""
    out: dict[str, float] = {}
    for r in rows:
        if r.get("value") is None:
            continue
        unit = str(r.get("unit") or "")
        out[unit] = max(out.get(unit, 0.0), float(r["value"]))
    return {u: (max(100.0, v) if u in ("%", "％") else v) for u, v in out.items()}


def _when(r: Mapping) -> str:
    if r.get("year") is None:
        return "—"
    return f"{int(r['year'])}年" + ("目标" if r.get("kind") == "target" else "")


def aggregate_table(ans: Mapping) -> str:
    """试点 | (指标) | (年份) | 数字 [n] | a bar: one row per figure of an aggregate answer. The answer itself
    is bold, the rest of a ranking plain, a figure left out of it (part of a pilot, another label) grey with why.
    指标 and 年份 are shown when the rows differ in them."""
    rows = [r for r in ans.get("rows") or [] if r.get("answer") is not None]
    scales = _scales(rows)
    many_measures = len({r.get("measure") for r in rows}) > 1
    many_years = len({(r.get("year"), r.get("kind")) for r in rows}) > 1
    head = ["试点"] + (["指标"] if many_measures else []) + (["年份"] if many_years else []) + ["数字", "对比"]
    body = []
    for r in rows:
        role = str(r.get("role") or "result")
        n = r.get("n")
        marker = f'<sup class="cite-n cite-n-{int(n)}">[{int(n)}]</sup>' if n is not None else ""
        note = str(r.get("note") or "")
        why = (f'<div class="pq-agg-note">{"未计入：" if role == "aside" else ""}{esc(note)}</div>' if note
               else ('<div class="pq-agg-note">未计入</div>' if role == "aside" else ""))
        cells = [f'<td class="pq-pilot-cell">{esc(r.get("pilot"))}</td>']
        if many_measures:
            cells.append(f'<td class="pq-agg-measure">{esc(r.get("measure"))}</td>')
        if many_years:
            cells.append(f'<td class="pq-agg-year">{_when(r)}</td>')
        figure = r.get("figure") or r.get("answer")
        cells.append(f'<td class="pq-figure">{esc(figure)}{marker}{why}</td>')
        bar = bar_class(r.get("value"), scales.get(str(r.get("unit") or ""), 0.0))
        cells.append(f'<td class="pq-agg-bar"><span class="pq-bar-track"><span class="pq-bar {bar}"></span></span></td>')
        body.append(f'<tr class="pq-agg-{esc(role)}">{"".join(cells)}</tr>')
    ths = "".join(f'<th class="pq-agg-bar-h">{h}</th>' if h == "对比" else f"<th>{h}</th>" for h in head)
    return (f'<table class="pq-compare pq-agg"><thead><tr>{ths}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table>')


def split_aggregate_text(ans: Mapping) -> tuple[list[str], list[str]]:
    """The answer's lines around its table: (before, after), without the lines the table shows — a listing
    line ("1. 试点：数字[n]", "- …", "未计入：…") whose every [n] is a row of the table."""
    in_table = {int(r["n"]) for r in ans.get("rows") or [] if r.get("n") is not None and r.get("answer") is not None}
    before: list[str] = []
    after: list[str] = []
    seen_listing = False
    for line in str(ans.get("answer") or "").split("\n"):
        if not line.strip():
            continue
        marks = {int(m) for m in _MARK.findall(line)}
        if _LISTING.match(line) and marks and marks <= in_table:
            seen_listing = True
            continue
        (after if seen_listing else before).append(line)
    return before, after


def is_aggregate(ans: Mapping) -> bool:
    """An answer computed from the fact table, with rows to show as a table."""
    return ans.get("shape") == "aggregate" and ans.get("answerable", True) \
        and any(r.get("answer") is not None for r in ans.get("rows") or [])
