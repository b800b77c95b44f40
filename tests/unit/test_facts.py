"""The fact table (rag.index.facts) and questions across pilots answered from it (rag.query.aggregate,
rag.retrieval.facts, rag.answer.aggregate), on the tiny corpus and on sentences written here."""
from __future__ import annotations

import pytest

from rag.answer.aggregate import compute
from rag.corpus import load_corpus
from rag.index.chunking import ChunkSettings, chunk_corpus
from rag.index.facts import extract_facts
from rag.retrieval.facts import select

QH, LX, YZ = "浙江省青禾县", "浙江省澜溪镇", "四川省云泽市"


def rows(facts, pilot, measure):
    return {(f.kind, f.year): (f.value, f.text) for f in facts if f.pilot == pilot and f.measure == measure}


def test_core_measures_with_years_kinds_and_lines(tiny_facts, tiny_corpus):
    assert rows(tiny_facts, QH, "常住人口城镇化率") == {("base", 2014): (42.5, "42.5%"), ("target", 2017): (48.0, "48%"),
                                                  ("target", 2020): (55.0, "55%")}
    assert rows(tiny_facts, QH, "户籍人口城镇化率") == {("base", 2014): (30.1, "30.1%"), ("target", 2017): (35.0, "35%"),
                                                  ("target", 2020): (42.0, "42%")}
    assert rows(tiny_facts, QH, "常住人口") == {("base", 2014): (45.0, "45 万人")}
    assert rows(tiny_facts, YZ, "面积") == {("base", 2014): (26000.0, "2.6 万平方公里")}  # 万 counted
    lines = tiny_corpus.lines(tiny_corpus.sources[0].path)
    for f in tiny_facts:
        assert f.text.replace(" ", "") in lines[f.line - 1].replace(" ", ""), f
        assert f.chunk_id


def test_other_measures_need_several_plans(tiny_facts):
    # 森林覆盖率 is stated by one plan only: not a measure of the table
    assert not any(f.measure == "森林覆盖率" for f in tiny_facts)


def _facts_of(tmp_path, body: str):
    path = tmp_path / "p.txt"
    path.write_text("浙江省青禾县国家新型城镇化综合试点 工作方案要点\n\n" + body, encoding="utf-8")
    corpus = load_corpus([path])
    return extract_facts(corpus, chunk_corpus(corpus, ChunkSettings()))


def test_respectively_a_bare_rate_a_part_and_another_place(tmp_path):
    facts = _facts_of(tmp_path, "澄州市是浙江省西部中心城市，全市面积 2.6 万平方公里，2014 年常住人口 197.7 万人。"
                                "青禾县总面积 600 平方公里，2014 年总人口 30 万人，镇区常住人口 8 万人，城镇化率 40%。\n"
                                "一、总体目标\n到2017年和2020年，常住人口城镇化率分别达到71%左右和75%左右。\n")
    got = {(f.measure, f.kind, f.year): (f.text, f.note) for f in facts}
    assert got[("常住人口城镇化率", "target", 2017)][0] == "71%左右"
    assert got[("常住人口城镇化率", "target", 2020)][0] == "75%左右"
    assert got[("面积", "base", 2014)][0] == "600 平方公里"          # not the parent city's 2.6 万平方公里
    text, note = got[("常住人口", "base", 2014)]
    assert text == "30 万人" and "总人口" in note                  # the whole pilot's, its label noted
    text, note = got[("常住人口城镇化率", "base", 2014)]
    assert text == "40%" and "未注明" in note                     # a bare 城镇化率


@pytest.mark.parametrize("question, op, pilots, result", [
    ("2020年常住人口城镇化率目标最高的是哪个试点？", "max", [LX], None),
    ("2014年常住人口城镇化率最低的试点是哪个？", "min", [QH], None),
    ("2014年常住人口城镇化率低于50%的试点有哪些？", "filter", [YZ, QH], None),
    ("有多少个试点提出了2017年的户籍人口城镇化率目标？", "count", [QH], "1"),
    ("浙江省的试点2020年户籍人口城镇化率目标各是多少？", "province", [QH, LX], None),
    ("青禾县2014年常住人口城镇化率比户籍人口城镇化率高多少个百分点？", "diff", [QH], "12.4"),
    ("青禾县常住人口城镇化率从2014年到2020年要提高多少个百分点？", "diff", [QH], "12.5"),
])
def test_questions_across_pilots(fact_analyzer, tiny_facts, question, op, pilots, result):
    info = fact_analyzer.analyze(question)
    assert info.shape == "aggregate" and info.aggregate.op == op
    comp = compute(info.aggregate, select(tiny_facts, info.aggregate))
    got = list(dict.fromkeys(f.pilot for f, role in comp.rows if role == "result"))
    assert sorted(got) == sorted(pilots) and comp.result == result


def test_named_pilots_compared_stay_a_comparison(fact_analyzer):
    # the comparison lines up each named pilot's figure itself; the table's ask rides along, to fill a pilot
    # whose passages leave the figure out
    info = fact_analyzer.analyze("青禾和澜溪镇相比，谁的2020年常住人口城镇化率目标更高？")
    assert info.shape == "compare" and info.aggregate.op == "among" and set(info.pilots) == {QH, LX}


def test_a_ranking_never_mixes_qualifiers_or_years(fact_analyzer, tiny_facts):
    info = fact_analyzer.analyze("2017年户籍人口城镇化率目标最高的是哪个试点？")
    sel = select(tiny_facts, info.aggregate)
    assert {(f.measure, f.year) for f in sel.rows} == {("户籍人口城镇化率", 2017)}


def test_a_single_pilot_question_is_not_aggregate(fact_analyzer):
    assert fact_analyzer.analyze("青禾县2020年常住人口城镇化率目标是多少？").shape == "single"
    assert fact_analyzer.analyze("深圳2020年常住人口城镇化率目标各是多少？").shape != "aggregate"


@pytest.mark.parametrize("question, op", [
    ("2014年常住人口城镇化率不低于50%的试点有哪些？", "filter"),
    ("2014年常住人口城镇化率不超过50%的试点有哪些？", "filter"),
    ("各试点2014年常住人口城镇化率的平均值是多少？", "mean"),
    ("青禾县的城镇化率目标是多少？", "variants"),
])
def test_at_least_at_most_an_average_and_every_variant(fact_analyzer, tiny_facts, question, op):
    """不低于 is at least (the 低于 inside it is no upper bound); an average is shown with the figures it came
    from; a rate asked without its qualifier gets each variant the plan states, with its years."""
    info = fact_analyzer.analyze(question)
    assert info.shape == "aggregate" and info.aggregate.op == op, (info.shape, info.aggregate)
    sel = select(tiny_facts, info.aggregate)
    comp = compute(info.aggregate, sel)
    got = [f for f, role in comp.rows if role == "result"]
    if "不低于" in question:
        assert got and all(f.value >= 50 for f in got)
        assert all(f.value < 50 for f in sel.rows if f not in got)
    elif "不超过" in question:
        assert got and all(f.value <= 50 for f in got)
    elif op == "mean":
        assert float(comp.result) == pytest.approx(sum(f.value for f in got) / len(got), abs=0.01)
        assert len(got) >= 2 and "平均为" in comp.head
    else:
        assert {f.measure for f in got} == {"常住人口城镇化率", "户籍人口城镇化率"}
        assert {f.kind for f in got} == {"target"} and len({f.year for f in got}) >= 2
