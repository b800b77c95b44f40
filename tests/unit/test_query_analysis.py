"""Question analysis on a tiny corpus written in the test: which pilot, shape, year, qualifier, measure, answer
type; names, parent places, descriptions and places that are no pilot."""
from __future__ import annotations

import dataclasses

import pytest

QH, LX, YZ = "浙江省青禾县", "浙江省澜溪镇", "四川省云泽市"


@pytest.mark.parametrize("question, pilots, how", [
    ("青禾县2020年的森林覆盖率目标是多少？", (QH,), "name"),
    ("青禾的面积有多大？", (QH,), "name"),
    ("浙江青禾县的户籍人口城镇化率是多少？", (QH,), "name"),
    ("湖州的澜溪镇常住人口有多少？", (LX,), "name"),
    ("南宋诗人陆某出生地那个县2017年常住人口城镇化率目标是多少？", (QH,), "description"),
])
def test_the_pilot_a_question_is_about(analyzer, question, pilots, how):
    info = analyzer.analyze(question)
    assert info.pilots == pilots and info.resolved_by == how


@pytest.mark.parametrize("question, year, qualifier, measure, answer_type", [
    ("青禾县2020年的森林覆盖率目标是多少？", ("2020",), None, "森林覆盖率", "percent"),
    ("青禾县2017年户籍人口城镇化率要达到多少？", ("2017",), "户籍", "户籍人口城镇化率", "percent"),
    ("云泽市的土地面积有多大？", (), None, "土地面积", "number"),
    ("青禾县试点领导小组的组长是谁？", (), None, None, "person"),
])
def test_year_qualifier_measure_and_answer_type(analyzer, question, year, qualifier, measure, answer_type):
    info = analyzer.analyze(question)
    assert (info.years, info.qualifier, info.measure, info.answer_type) == (year, qualifier, measure, answer_type)


@pytest.mark.parametrize("question, shape", [
    ("哪些试点提出推广智慧供暖？", "cross"),
    ("一共有多少个试点？", "count"),
    ("青禾和澜溪镇2020年常住人口城镇化率哪个更高？", "compare"),
    ("介绍一下云泽市的试点方案", "overview"),
    ("云泽市2020年户籍人口城镇化率是多少？", "single"),
])
def test_shape(analyzer, question, shape):
    assert analyzer.analyze(question).shape == shape


def test_a_which_pilots_question_looks_for_the_term_the_documents_use(analyzer):
    info = analyzer.analyze("哪些试点提出推广智慧供暖？")
    assert info.key_terms == ("智慧供暖",) and analyzer.pilot_df("智慧供暖") == 2


def test_comparison_direction(analyzer):
    assert analyzer.analyze("青禾和云泽2020年常住人口城镇化率哪个更高？").compare_op == "max"
    assert analyzer.analyze("青禾和云泽的面积哪个小？").compare_op == "min"


@pytest.mark.parametrize("question, place", [
    ("深圳市2020年的城镇化率目标是多少？", "深圳市"),
    ("青禾镇的面积有多大？", "青禾镇"),  # a pilot's stem with another suffix is another place
])
def test_a_place_that_is_no_pilot_is_not_matched_to_one(analyzer, question, place):
    info = analyzer.analyze(question)
    assert info.pilots == () and info.unknown_place == place


def test_an_explicit_pilot_wins(analyzer):
    info = analyzer.analyze("2020年的森林覆盖率目标是多少？", pilot=YZ)
    assert info.pilots == (YZ,) and info.resolved_by == "explicit"


def test_the_analysis_is_immutable(analyzer):
    info = analyzer.analyze("青禾县2020年的森林覆盖率目标是多少？")
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.pilots = (LX,)
    assert isinstance(info.pilots, tuple) and isinstance(info.terms, tuple)
    with pytest.raises(TypeError):
        info.expansions["x"] = ("y",)


def test_traditional_characters_and_english_are_read(analyzer):
    assert analyzer.analyze("青禾縣2020年的森林覆蓋率目標是多少？").measure == "森林覆盖率"
    info = analyzer.analyze("What is the forest coverage target of Qinghe for 2020?")
    assert info.lang == "en" and info.pilots == (QH,) and "2020" in info.years


@pytest.mark.parametrize("question, place, province", [
    ("长治市2020年的城镇化率目标是多少？", "长治市", "山西省"),
    ("长治的城镇化率目标是多少？", "长治", "山西省"),
    ("杭州的常住人口有多少？", "杭州", "浙江省"),
    ("首尔的城镇化率目标是多少？", "首尔", "国外"),
])
def test_a_real_place_that_is_no_pilot_is_known_as_such(analyzer, question, place, province):
    info = analyzer.analyze(question)
    assert info.pilots == () and info.unknown_place == place and info.unknown_province == province
    if province == "浙江省":  # the refusal can name that province's pilots
        assert set(info.province_pilots) == {QH, LX}


def test_a_comparison_with_a_place_that_is_no_pilot_keeps_both(analyzer):
    info = analyzer.analyze("比较青禾县和杭州的常住人口城镇化率")
    assert info.shape == "compare" and info.pilots == (QH,) and info.unknown_place == "杭州"


def test_a_which_pilots_question_may_name_a_place_as_its_term(analyzer):
    info = analyzer.analyze("哪些试点提到长三角？")
    assert info.shape == "cross" and info.unknown_place is None
