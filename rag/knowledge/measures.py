"""Measures and the figures that state them: a measure's head word (面积, 城镇化率), the modifiers that make it
another quantity (人均GDP, 建成区面积), the units it is written in (`data/measure_units.tsv`), and a figure read
with its scale ("2.02万平方公里" is 20200 平方公里). One place for what the judgment, comparisons and the fact
table all need to know about measures and units."""
from __future__ import annotations

import re
from functools import lru_cache

from rag.knowledge import lexicon

# The heads of a rate or share: a rate is higher or lower and its differences are 个百分点
RATES = ("率", "比重", "比例", "密度", "占比")
RATE_TAIL = re.compile(r"[\u4e00-\u9fff]{0,4}?(?:率|比重|比例|密度|占比)")


def measure_modifier(m: str | None, head: str | None) -> str | None:
    """A word before the measure's head that makes it another quantity (人均 of 人均GDP, 建成区 of 建成区面积;
    `data/measure_modifiers.txt`), or None."""
    if not m or not head or not m.endswith(head):
        return None
    mod = m[: -len(head)]
    return next((w for w in sorted(lexicon.words("measure_modifiers.txt"), key=len, reverse=True) if w in mod), None)


def measure_head(m: str | None) -> str | None:
    """What a sentence must name to speak of the measure: its head word (面积, 总值), or for a one-character
    head (…率) the last four characters (城镇化率 of 户籍人口城镇化率, 覆盖率 of 森林覆盖率)."""
    if not m:
        return None
    for h in sorted(lexicon.words("measure_heads.txt"), key=len, reverse=True):
        if m.endswith(h):
            return h if len(h) >= 2 else (m[-4:] if len(m) >= 4 else m)
    return None


def units_of(head: str | None) -> tuple[str, ...]:
    """The units a measure with this head is written in (面积: 平方公里, 平方米, 亩…), () if none is listed."""
    return lexicon.table("measure_units.tsv").get(head or "", ())


@lru_cache(maxsize=64)
def unit_figure(head: str) -> re.Pattern | None:
    """A figure in one of the head's units ("6.6 万平方公里"), or None when the head has no listed unit."""
    units = units_of(head)
    return re.compile(r"\d[\d.]*\s*[万亿千百]?\s*(?:" + "|".join(map(re.escape, units)) + ")") if units else None


# the units a figure of no known measure is written in (a comparison asked by "地盘", "规模"…)
ANY_UNIT = ("%", "％", "平方公里", "平方千米", "平方米", "公顷", "亩", "公里", "人", "户", "元", "亿元", "万元", "个", "家",
             "项", "所", "座", "天", "吨")
SCALE = {"万": 1e4, "亿": 1e8, "千": 1e3, "百": 1e2}


def read_figure(number: str, after: str, units) -> tuple[float, str]:
    """A number's value with its 万/亿 scale, and the figure as written with its unit ("2.02万平方公里", "45%")."""
    rest = after.lstrip()
    scale = SCALE.get(rest[:1], 1.0)
    tail = (rest[1:] if scale != 1.0 else rest).lstrip()
    unit = next((u for u in sorted(units or ANY_UNIT, key=len, reverse=True) if tail.startswith(u)), "")
    shown = number + (rest[:1] if scale != 1.0 else "") + unit
    return float(number) * scale, shown
