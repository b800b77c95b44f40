"""Follow-up questions through `qa.ask(q, history=[...])` on the session index: what the follow-up is
understood as (`resolved_question`, shown as 理解为…), and the answer to that. Questions written from the
corpus for these tests."""
from __future__ import annotations

import pytest

from rag.text import norm

XIAOYI_2020 = "孝义市2020年常住人口城镇化率目标是多少？"
BAOTOU_2020 = "包头市2020年常住人口城镇化率目标是多少？"
XIAOYI, BAGONG, BAOTOU = "山西省孝义市", "山西省巴公镇", "内蒙古自治区包头市"


def says(resolved: str | None, *parts: str) -> bool:
    """The standalone question names these parts, in this order (its wording around them is free)."""
    pos = 0
    for part in parts:
        pos = (resolved or "").find(part, pos)
        if pos < 0:
            return False
        pos += len(part)
    return True


def follow(qa, history, question):
    ans = qa.ask(question, history=history)
    assert ans.question == question  # the question as asked is kept; the standalone form is beside it
    return ans


def test_qualifier_swap(qa):
    ans = follow(qa, [XIAOYI_2020], "那户籍口径的目标呢？")
    assert says(ans.resolved_question, "孝义", "2020年", "户籍人口城镇化率", "目标"), ans.resolved_question
    assert ans.answerable and ans.pilots == [XIAOYI] and "65%" in ans.text
    assert [c.start_line for c in ans.citations] == [375]
    assert ans.to_dict()["resolved_question"] == ans.resolved_question


def test_the_understanding_is_shown(qa):
    import io

    from rag.cli.output import print_answer

    ans = follow(qa, [XIAOYI_2020], "那户籍口径的目标呢？")
    out = io.StringIO()
    print_answer(ans.to_dict(), out)
    first, *rest = out.getvalue().splitlines()
    assert first == f"理解为：{ans.resolved_question}" and any("65%" in line for line in rest)


def test_year_swap(qa):
    ans = follow(qa, [BAOTOU_2020], "那2017年定的是多少？")
    assert says(ans.resolved_question, "包头", "2017年", "常住人口城镇化率"), ans.resolved_question
    assert ans.answerable and "84%" in ans.text and "85%" not in ans.text


def test_pronoun_and_a_new_measure(qa):
    ans = follow(qa, [BAOTOU_2020], "该市的总面积有多大？")
    assert "包头" in ans.resolved_question and "总面积" in ans.resolved_question
    assert "城镇化率" not in ans.resolved_question
    assert ans.answerable and "27691" in norm(ans.text)


def test_another_pilot_same_ask(qa):
    ans = follow(qa, [XIAOYI_2020], "那么巴公镇呢？")
    assert says(ans.resolved_question, "巴公镇", "2020年", "常住人口城镇化率"), ans.resolved_question
    assert ans.pilots == [BAGONG] and "55.6%" in ans.text


def test_resolution_goes_back_through_earlier_follow_ups(qa):
    ans = follow(qa, [XIAOYI_2020, "那么巴公镇呢？"], "2017年定的目标呢？")
    assert says(ans.resolved_question, "巴公镇", "2017年", "常住人口城镇化率"), ans.resolved_question
    assert ans.pilots == [BAGONG] and "48.7%" in ans.text


def test_compared_with_another_pilot(qa):
    ans = follow(qa, [XIAOYI_2020], "跟包头市比呢？")
    assert says(ans.resolved_question, "孝义", "包头", "2020年", "常住人口城镇化率"), ans.resolved_question
    assert ans.shape == "compare" and [r.pilot for r in ans.rows] == [XIAOYI, BAOTOU]
    assert [r.value for r in ans.rows] == [80.0, 85.0]
    assert [r.start_line for r in ans.rows] == [375, 471]


def test_compared_with_a_pilot_lacking_the_figure(qa):
    ans = follow(qa, [BAOTOU_2020], "和东丽区比呢？")
    assert ans.shape == "compare" and "天津市东丽区：文件未提及。" in ans.text
    assert [r.answer is None for r in ans.rows] == [False, True]


def test_another_pilot_keeps_the_users_wording(qa):
    # the ask says more than a measure (…投资引导基金): the question is kept as worded, with the pilot swapped
    ans = follow(qa, ["高台县每年投入多少钱建城镇化投资引导基金？"], "遵义县呢？")
    assert says(ans.resolved_question, "遵义县", "每年投入多少钱", "引导基金")
    assert ans.answerable and "5000 万元" in ans.citations[0].quote


def test_a_carried_year_is_let_go_for_a_measure_stated_in_another_year(qa):
    # 2017 was the earlier turn's; the plan states its GDP for 2014 only, which the quote says
    ans = follow(qa, ["章丘市到2017年户籍人口城镇化率要达到多少？"], "那地区生产总值呢？")
    assert ans.answerable and "2017" not in ans.resolved_question
    assert "2014年" in ans.citations[0].quote and "825亿元" in ans.citations[0].quote


def test_a_question_with_its_own_pilot_starts_a_new_topic(qa):
    ans = follow(qa, [XIAOYI_2020], "东丽区五年内每年整合多少市直专项资金？")
    assert ans.resolved_question is None
    assert ans.pilots == ["天津市东丽区"] and "5亿元" in ans.text


@pytest.mark.parametrize("question, resolved", [
    ("2035年定的目标呢？", ("包头", "2035年", "常住人口城镇化率")),   # a year the plan does not reach
    ("它的森林覆盖率目标呢？", ("包头", "森林覆盖率")),                # a measure the plan never states
])
def test_unanswerable_follow_up_is_refused(qa, question, resolved):
    ans = follow(qa, [BAOTOU_2020], question)
    assert says(ans.resolved_question, *resolved), ans.resolved_question
    assert not ans.answerable and ans.text.startswith("文件中没有找到") and "最接近的内容" in ans.text
    assert "85%" not in ans.text.split("最接近的内容")[0]


def test_no_history_means_no_resolution(qa):
    from rag.query.conversation import resolve

    r = resolve("那么巴公镇呢？", [], qa.retriever.analyzer)
    assert r.changed is False and r.question == "那么巴公镇呢?"  # only normalised (NFKC)
    assert qa.resolve("那么巴公镇呢？", history=["   ", ""]).changed is False
    ans = qa.ask("包头市的国境线长多少公里？", history=[])
    assert ans.resolved_question is None


def test_resolve_offline(qa):
    from rag.query.conversation import resolve

    r = resolve("那么巴公镇呢？", [XIAOYI_2020], qa.retriever.analyzer)
    assert r.changed and says(r.question, "巴公镇", "2020年", "常住人口城镇化率"), r.question
    assert r.info.pilots == (BAGONG,) and r.info.years == ("2020",)


# --------------------------------------------------------------------------- found while writing these tests


def test_pronoun_with_a_word_only_its_pilot_uses(qa):
    ans = follow(qa, [BAOTOU_2020], "它的国境线有多长？")
    assert "国境线" in ans.resolved_question and "88" in ans.text


def test_qualifier_swap_naming_the_population(qa):
    ans = follow(qa, ["威县2020年常住人口城镇化率目标是多少？"], "改成户籍人口口径呢？")
    assert says(ans.resolved_question, "威县", "2020年", "户籍人口城镇化率"), ans.resolved_question


def test_population_asked_after_a_rate(qa):
    ans = follow(qa, [XIAOYI_2020], "该市2014年的常住人口有多少？")
    assert "城镇化率" not in ans.resolved_question and "35万人" in norm(ans.text)


def test_another_pilot_then_compare_words(qa):
    # "<试点>呢？…比较一下": one pilot alone compares with nothing, so the comparison is with the previous one
    ans = follow(qa, [XIAOYI_2020], "包头呢？这两个比较一下")
    assert says(ans.resolved_question, "孝义", "包头", "2020年", "常住人口城镇化率"), ans.resolved_question
    assert ans.shape == "compare" and [r.pilot for r in ans.rows] == [XIAOYI, BAOTOU]
    assert [r.value for r in ans.rows] == [80.0, 85.0]


def test_a_swap_after_a_question_about_no_pilot_is_refused_as_that_question(qa):
    # the first turn asks about a city no document covers; "户籍的呢" keeps it, and is refused, not answered
    # with whatever pilot happens to mention 户籍
    ans = follow(qa, ["深圳2020年常住人口城镇化率目标是多少？"], "户籍的呢？")
    assert says(ans.resolved_question, "深圳", "2020年", "户籍人口城镇化率"), ans.resolved_question
    assert not ans.answerable and "深圳不在本批试点之中" in ans.text


def test_base_period_follow_up(qa):
    """"基期呢？" after a target: the plan's base-year figure, not the target."""
    ans = follow(qa, [BAOTOU_2020], "基期呢？")
    assert says(ans.resolved_question, "包头", "基期", "常住人口城镇化率"), ans.resolved_question
    assert ans.answerable and "82.3%" in ans.text and "85%" not in ans.text


def test_a_timeless_measure_drops_the_carried_year(qa):
    """The previous ask's year is carried to a new measure, but an area stated with no year still answers."""
    ans = follow(qa, [BAOTOU_2020], "那里的总面积呢？")
    assert ans.answerable and "27691" in ans.text and "2020" not in (ans.resolved_question or "")


def test_a_carried_year_still_refuses_another_years_figure(qa):
    """A measure stated only for 2020, asked in 2017 through the history: refused, not answered with 2020's."""
    ans = follow(qa, ["房山区2017年常住人口城镇化率目标是多少？"], "它的森林覆盖率呢？")
    assert not ans.answerable and "2017" in ans.resolved_question


def test_these_two_figures(qa):
    ans = follow(qa, ["包头市2017年常住人口城镇化率目标是多少？", "户籍的呢？"], "这两个数2020年分别是多少？")
    assert says(ans.resolved_question, "包头", "2020年", "常住人口城镇化率", "户籍人口城镇化率"), ans.resolved_question


def test_a_narrowed_role(qa):
    ans = follow(qa, ["孝义市领导小组组长是谁？"], "副组长呢？")
    assert says(ans.resolved_question, "孝义", "领导小组副组长"), ans.resolved_question
    assert ans.answerable and "常务副市长" in ans.text


def test_which_is_higher_without_a_measure(qa):
    """"<甲>的高还是<乙>的高？" compares the previous measure, with the verdict."""
    ans = follow(qa, [XIAOYI_2020], "包头的高还是孝义的高？")
    assert ans.shape == "compare" and {r.pilot for r in ans.rows} == {XIAOYI, BAOTOU}
    assert ans.text.splitlines()[-1] == f"比较：{BAOTOU}（85%）高于{XIAOYI}（80%）。"


def test_the_name_the_user_used_is_kept(qa):
    ans = follow(qa, ["临港的区域面积多大？"], "它的常住人口呢？")
    assert ans.resolved_question.startswith("临港"), ans.resolved_question


def test_which_is_lower_after_two_pilots_in_turn(qa):
    ans = follow(qa, ["眉山市2014年常住人口城镇化率是多少？", "绵阳的呢？"], "哪个低一些？")
    assert says(ans.resolved_question, "眉山", "绵阳", "2014年", "常住人口城镇化率", "低"), ans.resolved_question
    assert ans.text.splitlines()[-1] == "比较：四川省眉山市（40.46%）低于四川省绵阳市（46.5%）。"


def test_an_overview_of_the_previous_pilot(qa):
    ans = follow(qa, ["宜都市的面积多大？"], "介绍一下它的试点方案")
    assert ans.resolved_question == "介绍一下宜都市的试点方案" and ans.shape == "overview"
    assert "二、主要任务" in ans.text


def test_farmers_after_urban_residents(qa):
    ans = follow(qa, ["高台县城镇居民人均可支配收入是多少？"], "农民呢？")
    assert says(ans.resolved_question, "高台县", "农民人均可支配收入"), ans.resolved_question
    assert ans.answerable and "农民人均纯收入 9536 元" in ans.citations[0].quote


def test_another_pilot_by_its_description_alone(qa):
    ans = follow(qa, ["房山区2020年常住人口城镇化率目标是多少？"], "苏东坡故乡的呢？")
    assert says(ans.resolved_question, "眉山", "2020年", "常住人口城镇化率"), ans.resolved_question
    assert ans.answerable and "50.3%" in ans.citations[0].quote


def test_the_two_districts_compared(qa):
    ans = follow(qa, ["房山区2020年常住人口城镇化率目标是多少？", "东丽区的呢？"], "两个区谁高？")
    assert says(ans.resolved_question, "房山区", "东丽区", "2020年", "常住人口城镇化率", "高"), ans.resolved_question
    assert ans.shape == "compare"


def test_two_pilots_asked_the_same_thing(qa):
    ans = follow(qa, ["白沟镇2017年常住人口城镇化率目标是多少？"], "那前阳镇和巴公镇呢？")
    assert says(ans.resolved_question, "前阳镇", "巴公镇", "2017年", "常住人口城镇化率"), ans.resolved_question
    rows = {r.pilot: r for r in ans.rows}
    assert "68%" in rows["辽宁省前阳镇"].answer and "48.7%" in rows["山西省巴公镇"].answer


def test_a_qualifier_with_a_new_ask_is_not_a_swap(qa):
    # 城区 is a qualifier, but "空气优良的天数" is an ask of its own, not the previous measure's 城区 form
    ans = follow(qa, ["韩城市森林覆盖率目标是多少？"], "城区一年里空气优良的天数要达到多少？")
    assert "森林覆盖率" not in ans.resolved_question
    assert ans.answerable and "292天" in ans.citations[0].quote


def test_a_rate_asked_without_its_qualifier_gets_each_variant_and_a_follow_up_keeps_year_and_target(qa):
    """"城镇化率目标" names no qualifier: 常住 and 户籍, each year the plan states, in rows; "那户籍人口的呢？"
    is the rate's qualifier (户籍人口城镇化率), keeping the year and the target, not the 户籍人口 population."""
    ans = qa.ask("孝义市的城镇化率目标是多少？")
    got = {(r.measure, r.year) for r in ans.rows}
    assert {("常住人口城镇化率", 2017), ("常住人口城镇化率", 2020), ("户籍人口城镇化率", 2020)} <= got, ans.text
    assert all(r.kind == "target" and r.n is not None for r in ans.rows)
    assert "2017年" in ans.text and "2020年" in ans.text
    ans = follow(qa, ["孝义市2020年的城镇化率目标是多少？"], "那户籍人口的呢？")
    assert says(ans.resolved_question, "孝义", "2020年", "户籍人口城镇化率", "目标"), ans.resolved_question
    assert "65%" in ans.text and "万人" not in ans.text


def test_a_province_after_a_ranking_lists_that_provinces_pilots(qa):
    """"山东省的呢？" after a ranking across all pilots: the same measure and year, for each of its pilots;
    a top N lists exactly N."""
    first = qa.ask("2014年户籍人口城镇化率最低的五个试点是哪些？")
    assert len([r for r in first.rows if r.role == "result"]) == 5 and "6." not in first.text
    ans = follow(qa, ["2014年户籍人口城镇化率最低的五个试点是哪些？"], "山东省的呢？")
    assert says(ans.resolved_question, "山东省", "2014年", "户籍人口城镇化率"), ans.resolved_question
    assert {r.pilot for r in ans.rows} <= {p for p in qa.pilots_by_province()["山东省"]}
    assert "龙口" in ans.text and "60.4%" in ans.text


def test_a_ranking_turned_round_after_a_question_about_its_first_pilot(qa):
    """"最小的呢？" after asking about the pilot a ranking named: the ranking, the other way round; "它们的
    面积" after a ranking of a year's rates carries no year into the area."""
    ans = follow(qa, ["面积最大的试点是哪个？", "它的常住人口是多少？"], "最小的呢？")
    assert says(ans.resolved_question, "面积最小"), ans.resolved_question
    assert ans.rows and ans.rows[0].role == "result" and ans.rows[0].measure == "面积"
    ans = follow(qa, ["2014年常住人口城镇化率最高的三个试点是哪些？"], "它们的面积各是多少？")
    assert "2014" not in (ans.resolved_question or "") and all(r.measure == "面积" for r in ans.rows)
    assert len([r for r in ans.rows if r.role == "result"]) >= 2
