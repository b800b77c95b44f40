"""Follow-ups to an answer across pilots: the earlier ask changed by what the follow-up says, or a question about
the pilots it named.

After "<年份><指标>最高的是哪个试点？":
- "那<另一年份>的呢" / "<另一口径>的呢" / "最<低>的呢" / "排第<N>的呢" / "低于<阈值>的呢" change the year, the measure,
  the direction, the rank or the threshold of the same ask;
- "它/这个镇/排第<N>的那个，<问>" asks <问> of the pilot the answer put there;
- "它们/这些试点<问>" asks <问> of every pilot it named, and "这些试点里…最大的" ranks them.
After a difference of one pilot, "那<试点>呢？" asks the same difference of another pilot.

Which pilots an answer named is the pipeline's to compute (`results(ask)`, from the fact table); this module only
reads the follow-up's words. `render(ask)` writes an ask back as a standalone question, shown as 理解为.
"""
from __future__ import annotations

import re
from dataclasses import replace
from typing import Callable, Sequence

from rag.knowledge.domain import PLAN_YEAR

from rag.query.aggregate import DIFF, AggregateAsk, measure_of

Results = Callable[[AggregateAsk], list[str]]

_RANK = re.compile(r"(倒数)?第\s*(\d+|[一两二三四五六七八九十])\s*(?:名|位|个|大|高|多|低|小|少)?|排(?:在)?第\s*(\d+|[一两二三四五六七八九十])")
_CN = {"一": 1, "两": 2, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10}
_IT = re.compile(r"^(?:那)?(?:它|其|这个(?:试点|县|市|区|镇|旗|地方)?|该(?:试点|县|市|区|镇|旗)|那个(?:试点|县|市|区|镇|旗))")
_THEY = re.compile(r"^(?:那)?(?:它们|这些(?:试点|地方)?|这几个(?:试点|地方)?|上述试点)")
_FLIP_MAX = re.compile(r"最高|最大|最多|前")
_FLIP_MIN = re.compile(r"最低|最小|最少|垫底|倒数")
_ASK_WORDS = re.compile(r"多少|多大|多高|几|哪|谁|什么|是否|有没有")
_PICK = re.compile(r"第\s*(?:\d+|[一两二三四五六七八九十])\s*(?:名|位|个)?的?那个")


def _n(s: str) -> int:
    return int(s) if s.isdigit() else _CN.get(s, 0)


def render(ask: AggregateAsk, names: Sequence[str] = ()) -> str:
    """An ask as a standalone question (理解为…)."""
    years = "、".join(f"{y}年" for y in ask.years)
    when = years or ("基期" if ask.kind == "base" and ask.measure != "面积" else "")
    goal = "目标" if ask.kind == "target" and "城镇化率" in ask.measure else ""
    what = f"{when}{ask.measure}{goal}"
    big = "面积" in ask.measure or ask.measure.endswith("人口")
    hi, lo = ("最大", "最小") if "面积" in ask.measure else (("最多", "最少") if big else ("最高", "最低"))
    if ask.op == "max" or ask.op == "min":
        return f"{what}{lo if ask.lower else hi}的试点是哪个？"
    if ask.op == "top":
        return f"{what}{lo if ask.lower else hi}的{ask.n}个试点是哪些？"
    if ask.op == "rank":
        return f"{what}{'倒数' if ask.lower else ''}排第{ask.n}的试点是哪个？"
    if ask.op == "filter" or ask.op == "count":
        bound = []
        unit = "%" if "率" in ask.measure else ("万人" if ask.measure.endswith("人口") else "平方公里")
        if ask.lo is not None:
            bound.append(f"{'不低于' if ask.lo_incl else '高于'}{ask.lo:g}{unit}")
        if ask.hi is not None:
            bound.append(f"{'不超过' if ask.hi_incl else '低于'}{ask.hi:g}{unit}")
        tail = "有多少个？" if ask.op == "count" else "有哪些？"
        lead = "提出" if ask.kind == "target" else "给出"
        return f"{what}{'、'.join(bound)}的试点{tail}" if bound else f"{lead}了{what}的试点{tail}"
    if ask.op == "province":
        return f"{ask.province}的试点{what}各是多少？"
    if ask.op == "list":
        if names:
            return f"{'、'.join(names)}的{what}各是多少？"
        return f"列出所有给出了{what}的试点。"
    if ask.op == "among":
        return f"{'、'.join(names or ask.pilots)}中，{what}{lo if ask.lower else hi}的是哪个？"
    if ask.op == "variants":
        measure = ask.word if ask.loose else ask.measure
        return f"{(names or ask.pilots)[0]}{years}的{measure}{'目标' if ask.kind == 'target' else ''}是多少？"
    if ask.op == "diff":
        pilot = (names or ask.pilots)[0]
        if ask.diff == "qualifier":
            return f"{pilot}{years}常住人口城镇化率比户籍人口城镇化率高多少个百分点？"
        span = "到".join(f"{y}年" for y in ask.years) if len(ask.years) > 1 else f"从基期到{years}"
        return f"{pilot}{ask.measure}{span}提高多少？"
    return f"{what}？"


def follow(info, prev: AggregateAsk, results: Results | None, short: Callable[[str], str],
           measures: frozenset[str]) -> tuple[str, AggregateAsk | None] | None:
    """(the standalone question, its ask when it is still one across pilots) for a follow-up `info` to an
    aggregate ask `prev`; None when the follow-up does not lean on it."""
    key = info.key
    refers = bool(_THEY.match(key) or _IT.match(key) or _PICK.search(key))
    if info.shape == "aggregate" and info.aggregate is not None and measure_of(key, measures) and not refers:
        return None  # a whole question of its own
    shown = (results(prev) if results else []) or list(prev.pilots)
    rank = _RANK.search(key)
    own_measure = measure_of(key, measures)
    # a pilot the answer named: "它…", "排第三的那个，…", "这个镇…"
    picked = None
    if rank and shown and _PICK.search(key):
        # "排第三的那个，<问>": the pilot the answer put there
        k = _n(rank.group(2) or rank.group(3) or "")
        if 1 <= k <= len(shown):
            picked = shown[k - 1]
    elif _IT.match(key) and not _THEY.match(key) and shown:
        picked = shown[0]
    if picked:
        rest = _RANK.sub("", _IT.sub("", key)).lstrip("的那个，,")
        rest = re.sub(r"^(?:那个|的那个)[，,]?", "", rest)
        if not own_measure and re.search(r"目标|多少|几", rest) and (info.years or "目标" in rest):
            # "排第N的那个，<年份>目标是多少？": the ranking's measure, of that pilot
            kind, years = _when(info, prev.measure, prev)
            when = "、".join(f"{y}年" for y in years)
            goal = "目标" if kind == "target" else ""
            return f"{short(picked)}{when}{prev.measure}{goal}是多少？", None
        return f"{short(picked)}{rest}", None
    if _THEY.match(key) and shown:
        rest = _THEY.sub("", key)
        sub = measure_of(rest, measures)
        if sub is None:
            return None
        measure, loose, word = sub
        new = AggregateAsk("list", measure, loose, *_when(info, measure, prev), pilots=tuple(shown), word=word)
        if re.search(r"最高|最大|最多|最低|最小|最少", rest):
            new = replace(new, op="among", lower=bool(re.search(r"最低|最小|最少", rest)))
        return render(new, [short(p) for p in shown]), new
    if shown and 2 <= len(shown) <= 5 and re.search(r"哪个|哪一个|谁", key) \
            and re.search(r"高|低|大|小|多|少", key) and not own_measure and prev.op in ("province", "list", "filter"):
        # "哪个高？高出多少？" after a province's (or a short list's) figures: those pilots compared
        lower = bool(re.search(r"低|小|少", key)) and not re.search(r"高|大|多", key)
        new = replace(prev, op="among", pilots=tuple(shown), lower=lower, diff="among" if DIFF.search(key) else "")
        return render(new, [short(p) for p in shown]), new
    provinces = [s.pilots[0] for s in info.places if s.kind == "province"]
    if len(provinces) == 1 and not own_measure and prev.op != "diff":
        # "<省>的呢？": the same measure and year, for that province's pilots
        new = replace(prev, op="province", province=provinces[0], pilots=(), n=0, lo=None, hi=None)
        return render(new), new
    # the same ask, changed
    new = prev
    if prev.op == "diff" and info.pilots and not own_measure:
        return render(replace(prev, pilots=tuple(info.pilots[:1])), [short(info.pilots[0])]), \
            replace(prev, pilots=tuple(info.pilots[:1]))
    if own_measure and own_measure[0] != prev.measure:
        new = replace(new, measure=own_measure[0], loose=own_measure[1], word=own_measure[2])
    if own_measure and own_measure[0] in ("常住人口", "户籍人口") and "城镇化率" in prev.measure \
            and not re.search(r"多少人|人最多|人最少|规模|体量", key):
        new = prev  # "按常住人口算的呢": the rate's qualifier, not the population
    if re.search(r"户籍", key) and (new.measure == "常住人口城镇化率" or new.loose) and "城镇化率" in prev.measure:
        new = replace(new, measure="户籍人口城镇化率", word="户籍人口城镇化率", loose=False)
    elif re.search(r"常住", key) and (new.measure == "户籍人口城镇化率" or new.loose) and "城镇化率" in prev.measure:
        new = replace(new, measure="常住人口城镇化率", word="常住人口城镇化率", loose=False)
    if info.years:
        years = tuple(int(y) for y in info.years)
        new = replace(new, years=years, kind="target" if all(y > PLAN_YEAR for y in years) else "base")
    elif info.period == "base" or re.search(r"基期|现在|目前", key):
        new = replace(new, years=(), kind="base")
    elif re.search(r"目标", key) and new.kind != "target":
        new = replace(new, kind="target")
    if rank:
        # "第四名呢" keeps the ranking's direction; "倒数第二" counts from the bottom
        k = _n(rank.group(2) or rank.group(3) or "")
        new = replace(new, op="rank", n=k, lower=True if rank.group(1) else prev.lower)
    elif _FLIP_MIN.search(key) and not prev.lower and prev.op in ("max", "top", "among", "rank"):
        new = replace(new, op="min" if prev.op != "among" else "among", lower=True)
    elif _FLIP_MAX.search(key) and prev.lower and prev.op in ("min", "top", "among", "rank"):
        new = replace(new, op="max" if prev.op != "among" else "among", lower=False)
    if re.search(r"\d+\s*(?:%|％|万|平方公里)", key) and re.search(r"高于|低于|超过|不到|以上|以下|达到", key):
        from_q = info.aggregate
        if from_q is not None:
            new = replace(new, op="filter", lo=from_q.lo, lo_incl=from_q.lo_incl, hi=from_q.hi, hi_incl=from_q.hi_incl)
    if new == prev:
        return None
    return render(new, [short(p) for p in new.pilots]), new


def _when(info, measure: str, prev: AggregateAsk) -> tuple[str | None, tuple[int, ...]]:
    """(kind, years) a follow-up asks: its own year or period, else the earlier ask's; an area has none."""
    if measure == "面积":
        return None, ()
    if info.years:
        years = tuple(int(y) for y in info.years)
        return ("target" if all(y > PLAN_YEAR for y in years) else "base"), years
    if info.period == "base":
        return "base", ()
    if re.search(r"目标", info.key):
        return "target", ()
    return prev.kind, prev.years
