"""Answers across pilots, computed from the fact table: rankings, thresholds, counts, lists, a province's pilots,
which of named pilots is higher, and one pilot's differences. Every figure is shown as the plan writes it and
cited to its line; a computed figure (a count, a difference) is shown with the figures it came from; the pilots
that state no such figure are counted ("另有 15 个试点未提出该目标"); figures for part of a pilot or under another
label are named beside the answer, never ranked with it. Pure functions over `FactSelection` rows."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from rag.answer.types import Row
from rag.knowledge.domain import PLAN_YEAR
from rag.query.aggregate import AggregateAsk, default_years
from rag.retrieval.facts import BARE_RATE, FactSelection, is_partial, is_relabelled
from rag.text import candidate_sentences, norm

_RATE = ("常住人口城镇化率", "户籍人口城镇化率")


@dataclass
class Computed:
    """What an aggregate answer says: its lines (with `{cite:i}` placeholders for row i's citation), the rows
    (result first), and the computed figure."""
    head: str
    rows: list = field(default_factory=list)         # [(fact, role)]
    lines: list[str] = field(default_factory=list)
    result: str | None = None
    missing: int = 0                                 # pilots in scope that state no such figure
    answerable: bool = True


def describe(ask: AggregateAsk) -> str:
    """The measure as asked, with its year or period: "<年份><指标>目标", "基期<指标>"."""
    years = default_years(ask)
    when = "、".join(f"{y}年" for y in years) if years else ("基期" if ask.kind == "base" and ask.measure != "面积" else "")
    goal = "目标" if ask.kind == "target" and ask.measure in _RATE + ("常住人口",) else ""
    return f"{when}{ask.measure}{goal}"


def unit_word(fact) -> str:
    return fact.unit


def fmt(v: float) -> str:
    return f"{v:.2f}".rstrip("0").rstrip(".")


def compute(ask: AggregateAsk, sel: FactSelection) -> Computed:
    """The answer's substance for one ask (citations are made by the caller from the rows)."""
    what = describe(ask)
    rows = sel.rows
    stated = {f.pilot for f in rows} | {f.pilot for f, _ in sel.aside}
    missing = len([p for p in sel.pilots if p not in stated])
    order = sorted(rows, key=lambda f: (f.value if ask.lower else -f.value, f.pilot))
    op = ask.op
    if op in ("max", "min", "top", "rank", "among"):
        return _ranking(ask, what, order, missing)
    if op == "filter" or (op == "count" and (ask.lo is not None or ask.hi is not None)):
        return _filtered(ask, what, order, missing)
    if op in ("count", "list"):
        return _stating(ask, what, rows, missing, sel)
    if op == "province":
        return _by_pilot(ask, what, rows, missing, sel)
    if op == "diff":
        return _difference(ask, rows)
    if op == "variants":
        return _variants(ask, rows)
    if op == "mean":
        return _mean((ask.province or "") + what, order, missing)
    return Computed(head="", answerable=False)


def _mean(what: str, order, missing: int) -> Computed:
    """An average over the pilots that state the figure, shown with every figure it came from."""
    if not order:
        return Computed(head=f"文件中没有找到{what}的数字。", answerable=False, missing=missing)
    mean = sum(f.value for f in order) / len(order)
    unit = order[0].unit
    approx = any(re.search(r"以上|左右|约|超过|多", f.text) for f in order)
    head = (f"给出{what}的 {len(order)} 个试点，平均为 {fmt(round(mean, 2))}{unit}"
            + ("（“以上”“左右”等按写明的数字计算）" if approx else "") + "。由以下数字算出：")
    return Computed(head=head, rows=[(f, "result") for f in order], lines=_ranked_lines(order), missing=missing,
                    result=fmt(round(mean, 2)))


def _variants(ask: AggregateAsk, rows) -> Computed:
    """One pilot's rate asked without its qualifier: each variant stated (常住, 户籍), each year with it."""
    if not rows:
        return Computed(head="", answerable=False)
    pilot = ask.pilots[0]
    by_measure: dict[str, list] = {}
    for f in sorted(rows, key=lambda f: (f.measure not in _RATE[:1], f.year)):
        by_measure.setdefault(f.measure, []).append(f)
    goal = "目标" if ask.kind == "target" else ""
    head = f"{pilot}的{ask.word if ask.loose else ask.measure}{goal}，文件写明的有 {len(rows)} 项（{'、'.join(by_measure)}）："
    out_rows, lines = [], []
    for measure, fs in by_measure.items():
        cites = "，".join(f"{base_year_label(f)}{f.text}{{cite:{len(out_rows) + k}}}{_note(f)}" for k, f in enumerate(fs))
        out_rows += [(f, "result") for f in fs]
        lines.append(f"- {measure}：{cites}")
    if ask.loose:  # a variant the plan does not state is said, not left out silently
        lines += [f"- {m}：文件未提及" for m in _RATE if m not in by_measure]
    return Computed(head=head, rows=out_rows, lines=lines)


def _ranking(ask, what, order, missing) -> Computed:
    if not order:
        return Computed(head=f"文件中没有找到{what}的数字。", answerable=False, missing=missing)
    best = "最低" if ask.lower else "最高"
    if ask.measure in ("面积", "常住人口") or ask.measure.endswith(("人口", "面积")):
        best = ("最小" if ask.lower else "最大") if "面积" in ask.measure else ("最少" if ask.lower else "最多")
    if ask.op == "among":
        head = f"{'、'.join(p.split('省')[-1] for p in ask.pilots)}中，{what}{best}的是{order[0].pilot}。"
        if len(order) == 2 and len(ask.pilots) == 2:  # two pilots: the one compared with the other, as said
            a, b = order
            word = {"最大": "大于", "最小": "小于", "最多": "多于", "最少": "少于", "最高": "高于", "最低": "低于"}[best]
            head = (f"{a.pilot}与{b.pilot}的{what}相同。" if a.value == b.value
                    else f"{a.pilot}的{what}（{a.text}）{word}{b.pilot}（{b.text}）。")
        absent = [p for p in ask.pilots if p not in {f.pilot for f in order}]
        if absent and len(order) == 1:  # nothing to compare with: say what is stated and what is not
            head = (f"{order[0].pilot}的{what}是{order[0].text}；{'、'.join(absent)}的方案中没有{what}，"
                    "无法比较。")
        elif absent:
            head += f"（{'、'.join(absent)}的方案中没有{what}。）"
        result = None
        if ask.diff == "among" and len(order) >= 2:
            d = abs(order[0].value - order[1].value)
            unit = "个百分点" if order[0].unit == "%" else order[0].unit
            result = fmt(d)
            head = head[:-1] + f"，比{order[1].pilot}{'低' if ask.lower else '高'} {fmt(d)} {unit}。"
        both = ask.diff == "among"
        rows = [(f, "result" if f is order[0] or both else "context") for f in order]
        return Computed(head=head, rows=rows, lines=_ranked_lines(order), missing=0, result=result)
    if ask.op == "rank":
        k = ask.n
        if k > len(order):
            return Computed(head=f"提出{what}的试点只有 {len(order)} 个，没有第 {k} 名。", answerable=False)
        pick = order[k - 1]
        side = "倒数" if ask.lower else ""
        head = f"{what}{side}排第 {k} 的是{pick.pilot}。"
        rows = [(f, "result" if f is pick else "context") for f in order[:max(k, 3)]]
        return Computed(head=head, rows=rows, lines=_ranked_lines(order[:max(k, 3)]), missing=missing)
    n = ask.n if ask.op == "top" else 1
    top = order[:n]
    ties = [f for f in order[n:] if f.value == top[-1].value]
    top += ties
    if ask.op == "top":
        head = f"{what}{best}的{len(top)}个试点："
    else:
        names = "、".join(f.pilot for f in top)
        head = f"{what}{best}的试点是{names}。"
    # a top N lists those N (and ties); a highest or lowest also shows the next ones, as context
    shown = top if ask.op == "top" else order[:max(len(top), 5)]
    rows = [(f, "result" if f in top else "context") for f in shown]
    return Computed(head=head, rows=rows, lines=_ranked_lines(shown), missing=missing)


def _ranked_lines(order) -> list[str]:
    return [f"{i}. {f.pilot}：{f.text}{{cite:{i - 1}}}{_year_note(f)}" for i, f in enumerate(order, 1)]


def _note(f) -> str:
    """What a listed figure covers when it is not the whole pilot's, or its label when it differs."""
    if is_partial(f) or is_relabelled(f) or f.note.startswith(BARE_RATE):
        return f"（{f.note.split('；')[0]}）"
    return ""


def _when(f) -> str:
    """The year a listed figure is for; an area has none worth saying (it is not a figure of a year)."""
    return "" if f.measure == "面积" else f"{f.year}年"


def _year_note(f) -> str:
    """A ranked figure's own caveats: a base year other than the usual one, a rate the plan leaves unqualified."""
    year = f"（{f.year}年）" if f.kind == "base" and f.year != 2014 else ""
    return year + ("（原文未注明常住/户籍）" if f.note.startswith(BARE_RATE) else "")


def _passes(ask: AggregateAsk, v: float) -> bool:
    if ask.lo is not None and (v < ask.lo or (v == ask.lo and not ask.lo_incl)):
        return False
    if ask.hi is not None and (v > ask.hi or (v == ask.hi and not ask.hi_incl)):
        return False
    return True


def _bound_words(ask: AggregateAsk, unit: str) -> str:
    u = "%" if unit == "%" else unit
    parts = []
    if ask.lo is not None:
        parts.append(f"{'不低于' if ask.lo_incl else '高于'}{fmt(ask.lo)}{u}")
    if ask.hi is not None:
        parts.append(f"{'不超过' if ask.hi_incl else '低于'}{fmt(ask.hi)}{u}")
    return "、".join(parts)


def _filtered(ask, what, order, missing) -> Computed:
    unit = order[0].unit if order else ""
    hits = [f for f in order if _passes(ask, f.value)]
    bound = _bound_words(ask, unit)
    if ask.op == "count":
        head = f"{what}{bound}的试点共有 {len(hits)} 个。"
    elif hits:
        head = f"{what}{bound}的试点共有 {len(hits)} 个："
    else:
        head = f"没有试点的{what}{bound}。"
    rows = [(f, "result") for f in hits]
    lines = [f"{i}. {f.pilot}：{f.text}{{cite:{i - 1}}}{_year_note(f)}" for i, f in enumerate(hits, 1)]
    out = Computed(head=head, rows=rows, lines=lines, missing=missing,
                   result=str(len(hits)) if ask.op == "count" else None)
    out.lines.append(f"（共有 {len(order)} 个试点给出了{what}，其余 {len(order) - len(hits)} 个不在此范围。）")
    return out


def _stating(ask, what, rows, missing, sel) -> Computed:
    by_pilot: dict[str, list] = {}
    for f in rows:
        by_pilot.setdefault(f.pilot, []).append(f)
    if ask.missing_year:
        has = {f.pilot for f in rows if f.year == ask.missing_year}
        by_pilot = {p: [f for f in fs if f.year != ask.missing_year] for p, fs in by_pilot.items() if p not in has}
        by_pilot = {p: fs for p, fs in by_pilot.items() if fs}
    pilots = list(by_pilot)
    verb = "提出了" if ask.kind == "target" else "给出了"
    cond = f"、没有{ask.missing_year}年的" if ask.missing_year else ""
    head = f"{verb}{what}{cond}的试点共有 {len(pilots)} 个" + ("。" if ask.op == "count" else "：")
    out_rows, lines = [], []
    for p in pilots:
        fs = sorted(by_pilot[p], key=lambda f: f.year)
        cites = "，".join(f"{_when(f)}{f.text}{{cite:{len(out_rows) + k}}}{_note(f)}" for k, f in enumerate(fs))
        out_rows += [(f, "result") for f in fs]
        lines.append(f"- {p}：{cites}")
    return Computed(head=head, rows=out_rows, lines=lines, missing=missing,
                    result=str(len(pilots)) if ask.op == "count" else None)


def _by_pilot(ask, what, rows, missing, sel) -> Computed:
    by_pilot: dict[str, list] = {}
    for f in rows:
        by_pilot.setdefault(f.pilot, []).append(f)
    head = f"{ask.province}的{len(sel.pilots)}个试点的{what}："
    out_rows, lines = [], []
    for p in sel.pilots:
        fs = sorted(by_pilot.get(p, []), key=lambda f: f.year)
        if not fs:
            lines.append(f"- {p}：文件未提及")
            continue
        cites = "，".join(f"{_when(f)}{f.text}{{cite:{len(out_rows) + k}}}{_note(f)}" for k, f in enumerate(fs))
        out_rows += [(f, "result") for f in fs]
        lines.append(f"- {p}：{cites}")
    if not out_rows:  # said as such: none of the province's pilots states it
        names = "、".join(sel.pilots)
        return Computed(head=f"{ask.province}的{len(sel.pilots)}个试点（{names}）的方案中都没有{what}。",
                        answerable=False, missing=missing)
    return Computed(head=head, rows=out_rows, lines=lines, missing=missing)


def _difference(ask: AggregateAsk, rows) -> Computed:
    pilot = ask.pilots[0]
    mine = [f for f in rows if f.pilot == pilot]
    if ask.diff == "qualifier":
        # one year, both rates: the other rate's row is not in `rows` (one measure); the caller passes both
        pass
    if len(mine) < 2:
        return Computed(head="", answerable=False)
    a, b = sorted(mine, key=lambda f: (f.year, f.measure != "常住人口城镇化率"))[:2]
    if ask.diff == "qualifier":
        a, b = sorted(mine[:2], key=lambda f: f.measure != "常住人口城镇化率")
    d = round(abs(a.value - b.value), 4)
    unit = "个百分点" if a.unit == "%" else a.unit
    if ask.diff == "qualifier":
        more = "高" if a.value >= b.value else "低"
        head = (f"{pilot}{a.year}年常住人口城镇化率{a.text}{{cite:0}}，户籍人口城镇化率{b.text}{{cite:1}}，"
                f"常住比户籍{more} {fmt(d)} {unit}。")
    else:
        verb = "提高" if b.value >= a.value else "降低"
        head = (f"{pilot}{a.measure}：{a.year}年{a.text}{{cite:0}}，{b.year}年{b.text}{{cite:1}}，"
                f"{'计划' if b.kind == 'target' else ''}{verb} {fmt(d)} {unit}。")
    note = "（两个数字中有约数或“以上”，差值按写明的数字计算。）" if re.search(r"以上|左右|约|超过", a.text + b.text) else ""
    return Computed(head=head, rows=[(a, "result"), (b, "result")], lines=[note] if note else [],
                    result=fmt(d))


def quote_for(chunk, fact) -> str:
    """The words of the chunk that state a fact: its clause (with the clause before it when the measure's name is
    there), cut from the chunk's own text so the citation is verbatim."""
    key = norm(fact.text)
    for sent in candidate_sentences(chunk.text):
        if key not in norm(sent):
            continue
        clauses = re.split(r"(?<=[，,；;])", sent)
        for i, c in enumerate(clauses):
            if key in norm(c):
                piece = c if (fact.label and fact.label in c) or i == 0 else clauses[i - 1] + c
                return piece.strip().rstrip("，,；;。")
        return sent
    return fact.text


def row_of(fact, role: str, n: int | None, quote: str, start: int | None, end: int | None, note: str = "") -> Row:
    return Row(pilot=fact.pilot, answer=fact.text, quote=quote, n=n, start_line=start, end_line=end,
               value=fact.value, figure=fact.text, measure=fact.measure, year=fact.year, kind=fact.kind, role=role,
               note=note or fact.note, unit=fact.unit)


def base_year_label(f) -> str:
    return f"{f.year}年" if f.year <= PLAN_YEAR else f"{f.year}年目标"
