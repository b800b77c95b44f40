"""Questions across all pilots, answered from the fact table: which pilot is highest or lowest, the top N, which
pilots are above or below a threshold, how many state a figure, all of them, each pilot of a province, which of
two or three named pilots is higher, and by how much one pilot's figures differ.

`read_aggregate(info, measures)` reads such a question from the one analysis (`QuestionInfo`: its places, years,
period and words) into an `AggregateAsk`, or None when the question is not one (no measure the table holds, or
nothing asked across pilots). The analysis then gives the question the shape "aggregate".
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from rag.knowledge import lexicon
from rag.knowledge.domain import PLAN_YEAR, TARGET_YEARS
from rag.query.terms import period_of
from rag.text import YEAR, jieba_pos_tokenizer

OPS = ("max", "min", "top", "rank", "filter", "count", "list", "province", "among", "diff", "variants", "mean")
# a rate asked without its qualifier (城镇化率) for one pilot: each variant the table has (常住 and 户籍)
RATE_VARIANTS = ("常住人口城镇化率", "户籍人口城镇化率")


@dataclass(frozen=True)
class AggregateAsk:
    op: str                         # one of OPS
    measure: str                    # the fact table's measure (常住人口城镇化率, 面积, 森林覆盖率…)
    loose: bool = False             # asked by a looser name (城镇化率, 人口): figures under other labels count too
    kind: str | None = None         # "base" | "target" | None (whatever the plan states)
    years: tuple[int, ...] = ()     # the years asked, in the question's order
    lower: bool = False             # the lowest / smallest first (min, bottom N, 倒数第N)
    n: int = 0                      # how many (top N) or which place (rank N)
    lo: float | None = None         # threshold: at least (lo_incl) or above
    lo_incl: bool = True
    hi: float | None = None         # threshold: at most (hi_incl) or below
    hi_incl: bool = False
    province: str | None = None     # only the pilots of this province
    pilots: tuple[str, ...] = ()    # among / diff: the pilots named
    diff: str = ""                  # "qualifier" (常住 vs 户籍) | "years" (one measure, two years)
    missing_year: int | None = None  # "写了<甲年>、没写<乙年>的": stated for `years`, not for this one
    word: str = ""                  # the measure as the question words it


_CN = {"一": 1, "两": 2, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10}
_NUM = r"(\d+|[一两二三四五六七八九十])"
_MAX = re.compile(r"最高|最大|最多|最快|排第一|第一名|居首|最靠前")
_MIN = re.compile(r"最低|最小|最少|最慢|垫底|倒数第一|最靠后")
_TOP = re.compile(rf"(?:排|位居|居)?前{_NUM}(?:名|位|个|强)?|(?:最高|最大|最多|最低|最小|最少|垫底|倒数)的?{_NUM}个")
_RANK = re.compile(rf"(倒数)?第{_NUM}(?:名|位|大|高|多|低|小|少)?")
_AMONG = re.compile(r"哪个|哪一个|谁|哪里|哪座|最|更")
# an average asked ("平均值是多少"), not an average named as a threshold ("高于全国平均水平54.77%")
_MEAN = re.compile(r"(?:平均值|平均数|均值|平均(?:水平|目标|下来)?)(?:是|为|有|在|达到)?(?:多少|几)")
_EACH = re.compile(r"各|分别|都是多少|各自|每个")
_COUNT = re.compile(r"(?:有|共有|一共有)?(?:多少|几)个(?:试点)?|有几个|多少试点")
_LIST = re.compile(r"列出|都列|列一下|列举|所有|全部|哪些|哪几")
DIFF = re.compile(r"(?:高|低|多|少|大|小)(?:出|了)?多少|差(?:了|距)?(?:多少|几)|相差|差距|提高(?:了)?(?:多少|几)|提升(?:了)?(?:多少|几)"
                   r"|增加(?:了)?(?:多少|几)|增长(?:了)?(?:多少|几)|还差|差多少")
_NOT_STATED = re.compile(r"(?:没|没有|未)(?:写|提|给出|提出|设定|定)")
_PERIOD_BASE = re.compile(r"基期|现在|目前|现状|当前|基数")
_TARGET = re.compile(r"目标|规划|计划|要达到|要到|达到多少|定(?:得|在|了)|力争|预期|到20\d\d")
# thresholds: a number with its unit, and the words around it that say which side is wanted
_VALUE = re.compile(r"(\d+(?:\.\d+)?)\s*(万|亿)?\s*(%|％|个百分点|平方公里|平方千米|万人|人)?")
_ABOVE = re.compile(r"高于|超过|大于|多于|以上|及以上|不低于|不少于|至少|达到|在$|突破|逾")
_AT_LEAST = re.compile(r"不低于|不少于|不小于|不下于|不会低于")
_AT_MOST = re.compile(r"不高于|不多于|不大于|不超过|不超出|不会超过")
_BELOW = re.compile(r"低于|不到|小于|少于|不足|以下|以内|不超过|未达到|没到|还不到|不及")
_BETWEEN = re.compile(r"(\d+(?:\.\d+)?)\s*(万)?\s*(?:%|％|平方公里|万人)?\s*(?:到|至|—|-|~)\s*(\d+(?:\.\d+)?)\s*(万)?")


@lru_cache(maxsize=1)
def _labels() -> list[tuple[str, str, bool]]:
    """(label, measure, loose) for every way the fact table's labels name a core measure, longest first."""
    out = []
    for line in lexicon.ordered("fact_labels.tsv"):
        cols = line.split("\t")
        if len(cols) >= 4:
            out.append((cols[0], cols[1], bool(cols[2])))
    return sorted(out, key=lambda t: -len(t[0]))


def measure_of(key: str, measures: frozenset[str]) -> tuple[str, bool, str] | None:
    """The table measure a question names, whether it names it loosely, and the words it uses."""
    rate_q = re.search(r"(户籍|常住)(?:人口)?(?:的|口径)?(?:人口)?城镇化(?:率|水平)", key)
    if rate_q:
        measure = "户籍人口城镇化率" if rate_q.group(1) == "户籍" else "常住人口城镇化率"
        return measure, False, rate_q.group(0)
    for name in sorted(measures, key=len, reverse=True):  # the corpus's own measure names (森林覆盖率…)
        if len(name) >= 3 and name in key and name not in {lab for lab, _, _ in _labels()}:
            return name, False, name
    for label, measure, loose in _labels():
        if label in key:
            return measure, loose, label
    if re.search(r"体量|人口数|多少人|人最多|人最少", key):
        return "常住人口", True, "人口"
    if re.search(r"地盘|占地|多大的地方|国土", key):
        return "面积", False, "面积"
    return None


# a quantity of its own that is the measure's change: <指标>年均增速 (a rate the plan states, not a difference)
_CHANGE_OF = re.compile(r"(?:的)?[^，,。？?]{0,6}?(?:增速|增长率|增幅|增长速度|提高幅度|提升幅度)")
# the change asked, not the level: 涨/提高/增加 without 到 (提高到 names the level reached)
_CHANGE_ASKED = re.compile(r"(?:涨|提高|提升|增加|增长)(?![到至])")


def _another_quantity(text: str, word: str) -> bool:
    """A bare 面积 or 人口 right after a noun of its own (林区面积, 耕地面积, 户籍人口) names another quantity than
    the table's; the pilots themselves (试点面积), a period (基期人口) or an area word of the plans (全域面积,
    镇区人口) do not change it."""
    at = text.find(word)
    if at >= 0 and _CHANGE_OF.match(text[at + len(word):]):
        return True  # <指标>年均增速, <指标>增长率: the change of the measure, not the measure
    if word not in ("面积", "人口"):
        return False
    if at <= 0:
        return False
    toks = jieba_pos_tokenizer().lcut(text[max(0, at - 8):at])
    if not toks or not toks[-1].flag.startswith("n") or toks[-1].flag == "ns":
        return False
    before = toks[-1].word
    areas = {line.split("\t")[0] for line in lexicon.ordered("area_words.tsv")}
    return not (before.endswith("试点") or before in areas or period_of(before) is not None)


def _n(s: str) -> int:
    return int(s) if s.isdigit() else _CN.get(s, 0)


def _scaled(num: str, wan: str | None, unit: str | None, measure: str) -> float:
    """A threshold in the measure's unit: 1万平方公里 → 10000, 100万 (people) → 100 (万人)."""
    v = float(num)
    if measure == "常住人口":
        return v if wan or unit == "万人" else v / 1e4
    if wan:
        v *= 1e4
    return v


def _thresholds(key: str, measure: str, years: tuple[int, ...]) -> tuple[float | None, bool, float | None, bool]:
    m = _BETWEEN.search(key)
    if m and re.search(r"之间|介于|到.*(?:之间|范围)", key):
        lo = _scaled(m.group(1), m.group(2), None, measure)
        hi = _scaled(m.group(3), m.group(4), None, measure)
        return lo, True, hi, True
    lo = hi = None
    lo_incl, hi_incl = True, False
    for m in _VALUE.finditer(key):
        num = m.group(1)
        if re.fullmatch(YEAR, num) and not m.group(3) or int(float(num)) in years and not m.group(3):
            continue
        if not (m.group(2) or m.group(3)) and measure != "常住人口":
            continue
        value = _scaled(num, m.group(2), m.group(3), measure)
        # the comparison word may stand before a named reference (高于全国平均水平54.77%)
        before, after = key[max(0, m.start() - 12):m.start()], key[m.end():m.end() + 4]
        before = re.split(r"[\d，,。；;]", before)[-1]
        if _AT_LEAST.search(before):  # 不低于 / 不少于: at least, whatever 低于 inside it says
            lo, lo_incl = value, True
        elif _AT_MOST.search(before):  # 不高于 / 不多于: at most
            hi, hi_incl = value, True
        elif _BELOW.search(before) or re.match(r"以下|以内|之下", after):
            hi, hi_incl = value, bool(re.match(r"及以下|以内", after)) or "不超过" in before
        elif _ABOVE.search(before) or re.match(r"以上|及以上|之上", after):
            lo = value
            lo_incl = not re.search(r"高于|超过|大于|多于|突破|逾", before) or bool(re.match(r"及以上", after))
    return lo, lo_incl, hi, hi_incl


def read_aggregate(info, measures: frozenset[str], pilots_named: tuple[str, ...]) -> AggregateAsk | None:
    """The aggregate question `info` (a QuestionInfo or draft) asks, or None."""
    key = info.key
    found = measure_of(key, measures)
    if found is None:
        return None
    measure, loose, word = found
    if _another_quantity(getattr(info, "unplaced", "") or key, word):
        return None  # 林区面积, 户籍人口: not the table's 面积 or 常住人口
    if measure == "常住人口城镇化率" and loose and info.qualifier == "户籍":
        measure, loose = "户籍人口城镇化率", False  # the rate "按<口径>算"
    years = tuple(dict.fromkeys(int(y) for y in info.years))
    kind = None
    rest = key.replace(word, "|")  # the measure's own words (规划面积) say nothing of base or target
    if info.period == "base" or _PERIOD_BASE.search(rest):
        kind = "base"
    elif years and all(y > PLAN_YEAR for y in years) or (_TARGET.search(rest) and not years):
        kind = "target"
    elif years and all(y <= PLAN_YEAR for y in years):
        kind = "base"
    provinces = [s.pilots[0] for s in info.places if s.kind == "province"]
    province = provinces[0] if len(provinces) == 1 else None
    rank_like = bool(_MAX.search(key) or _MIN.search(key) or _TOP.search(key) or _RANK.search(key) or _MEAN.search(key))
    if kind is None and not years and rank_like:
        kind = "base"  # "常住人口最少的": the plans' present, never a base figure ranked with a 2020 target
    lo, lo_incl, hi, hi_incl = _thresholds(key, measure, years)
    common = dict(measure=measure, loose=loose, kind=kind, years=years, province=province, word=word)
    n_pilots = len(pilots_named)
    if n_pilots == 1:
        if not DIFF.search(key):
            if measure in RATE_VARIANTS and loose and not info.qualifier and not _CHANGE_ASKED.search(key) \
                    and all(m in measures for m in RATE_VARIANTS):
                # "<试点>的城镇化率目标": 常住 and 户籍, for each year the plan states, not the first one found
                return AggregateAsk("variants", pilots=pilots_named, **common)
            return None
        both = bool(re.search(r"常住", key)) and bool(re.search(r"户籍", key))
        if both:
            return AggregateAsk("diff", diff="qualifier", pilots=pilots_named, **common)
        if len(years) >= 2 or (_PERIOD_BASE.search(key) and years) or re.search(r"从.{0,8}到", key):
            return AggregateAsk("diff", diff="years", pilots=pilots_named, **common)
        return None
    if n_pilots >= 2:
        if not _AMONG.search(key):
            return None
        return AggregateAsk("among", lower=bool(_MIN.search(key) or re.search(r"更低|更小|更少|低一些|小一些", key)),
                            pilots=pilots_named, **common)
    absent = None
    m_not = _NOT_STATED.search(key)
    if m_not:
        after = [y for y in (int(x) for x in re.findall(YEAR, key[m_not.start():])) if y in years]
        if after and len(years) >= 2:
            absent = after[0]
            common["years"] = tuple(y for y in years if y != absent)
    rank = _RANK.search(key)
    if rank and re.match(r"的?那个", key[rank.end():]):
        rank = None  # "排第三的那个，…": a pilot an earlier answer named, not a rank asked
    if rank and _n(rank.group(2)) >= 2 and not _TOP.search(key):
        return AggregateAsk("rank", n=_n(rank.group(2)), lower=bool(rank.group(1)) or bool(_MIN.search(key)), **common)
    top = _TOP.search(key)
    if top and (_MAX.search(key) or _MIN.search(key) or re.search(r"排|前", top.group(0))):
        n = _n(top.group(1) or top.group(2))
        if n >= 2:
            return AggregateAsk("top", n=n, lower=bool(_MIN.search(key)), **common)
    if _MEAN.search(key) and lo is None and hi is None:
        return AggregateAsk("mean", **common)
    if _COUNT.search(key) and not re.search(r"多少(?!个)", key.replace("多少个", "")):
        return AggregateAsk("count", lo=lo, lo_incl=lo_incl, hi=hi, hi_incl=hi_incl, missing_year=absent, **common)
    if lo is not None or hi is not None:
        return AggregateAsk("filter", lo=lo, lo_incl=lo_incl, hi=hi, hi_incl=hi_incl, **common)
    if _MAX.search(key) and not _MIN.search(key):
        return AggregateAsk("max", **common)
    if _MIN.search(key):
        return AggregateAsk("min", lower=True, **common)
    if province and (_EACH.search(key) or re.search(r"多少|多大|多高", key)):
        return AggregateAsk("province", **common)
    if _LIST.search(key) and re.search(r"试点|地方|城市|哪些|所有|全部|列出", key):
        return AggregateAsk("list", missing_year=absent, **common)
    return None


def default_years(ask: AggregateAsk) -> tuple[int, ...]:
    """The years an ask means: those it names; a target with no year means the final target year."""
    if ask.years:
        return ask.years
    if ask.kind == "target":
        return (max(TARGET_YEARS),)
    return ()
