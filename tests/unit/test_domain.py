"""Domain facts (knowledge.domain, knowledge.measures): years, place suffixes, figures read with their scale.
The year constants are checked against the bundled corpus itself (read only)."""
from __future__ import annotations

import re
from collections import Counter

import pytest

from rag.config import ROOT
from rag.knowledge import domain
from rag.knowledge.gazetteer import stem
from rag.knowledge.measures import measure_head, measure_modifier, read_figure
from rag.text import YEAR, years_in


def test_the_year_constants_are_the_corpus_own():
    text = (ROOT / "data" / "pilots-batch2.txt").read_text(encoding="utf-8")
    heads = [m.end() for m in re.finditer(r"工作方案要点\s*\n", text)][1:]
    opening = Counter(y for h in heads for y in years_in(text[h:h + 300]))
    assert int(opening.most_common(1)[0][0]) == domain.BASE_YEAR
    targets = Counter(m.group(1) for m in re.finditer(rf"到\s*({YEAR})\s*年", text))
    assert {int(y) for y, _ in targets.most_common(2)} == set(domain.TARGET_YEARS)
    assert all(domain.is_target_year(y) for y in domain.TARGET_YEARS)
    assert not domain.is_target_year(domain.BASE_YEAR) and not domain.is_target_year(domain.PLAN_YEAR)


@pytest.mark.parametrize("place, level", [
    ("房山区", "区"), ("南昌高新区", "高新区"), ("贵安新区", "新区"), ("芷江侗族自治县", "县"), ("红河州", "州"),
    ("准格尔旗", "旗"), ("白沟镇", "镇"), ("浦东新区（临港地区）", "新区"), ("某某", "其他"),
])
def test_level_of_a_place(place, level):
    assert domain.level_of(place) == level


@pytest.mark.parametrize("place, expected", [("房山区", "房山"), ("南昌高新区", "南昌"), ("临港地区", "临港"), ("威县", "威县")])
def test_stem(place, expected):
    assert stem(place) == expected


def test_short_name_drops_the_parenthesis():
    assert domain.short_name("浦东新区（临港地区）") == "浦东新区"


@pytest.mark.parametrize("number, after, units, value, shown", [
    ("2.02", "万平方公里", ("平方公里",), 20200.0, "2.02万平方公里"),
    ("45", "%以上", (), 45.0, "45%"),
    ("103.6", " 万人，其中", ("人",), 1036000.0, "103.6万人"),
    ("7140", "平方公里", ("平方公里",), 7140.0, "7140平方公里"),
])
def test_a_figure_is_read_with_its_scale(number, after, units, value, shown):
    assert read_figure(number, after, units) == (value, shown)


def test_measure_head_and_modifier():
    assert measure_head("户籍人口城镇化率") == "城镇化率"
    assert measure_head("建成区面积") == "面积"
    assert measure_modifier("建成区面积", "面积") == "建成区"
    assert measure_modifier("土地面积", "面积") is None


def test_year_pattern():
    assert re.findall(YEAR, "2014年到2020年，共3000人") == ["2014", "2020"]
