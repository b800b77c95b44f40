"""Reading documents other than the pilots: a document is named by the places its title opens with, a list
asked for is quoted whole, a year the document never names gets a refusal, a date asked wants a date."""
from __future__ import annotations

from rag.answer import judgment as J
from rag.answer.enumeration import asks_several, named_count, whole_enumeration
from rag.knowledge.gazetteer import title_places

LINE = "重点发展四大主导产业：一是茶叶，二是油茶，三是中药材，四是柑橘。"
TEXT = "（二）产业发展\n" + LINE + "\n1. 全年粮食播种面积稳定在52.6万亩以上。"


def test_a_document_is_named_by_the_places_its_title_opens_with():
    assert title_places("云泽市鹤汀区保障性住房建设三年行动方案") == ["云泽市", "云泽", "鹤汀区", "鹤汀"]
    assert title_places("石沐县人民政府关于印发《石沐县2025年工作任务》的通知") == ["石沐县", "石沐"]
    # a title that opens with words, not a place, names none ("关于推进县" is no county)
    assert title_places("关于推进县城智慧停车设施建设的指导意见") == []
    # a province is no name of one document
    assert "四川" not in title_places("四川省成都市关于推进人才工作的意见")


def test_a_list_asked_for_is_quoted_whole_from_any_of_its_items():
    for item in ("二是油茶", "一是茶叶", "四是柑橘"):
        span, n = whole_enumeration(TEXT, item)
        assert span == LINE and n == 4
    # a sentence outside an enumeration keeps its own quote
    assert whole_enumeration(TEXT, "全年粮食播种面积稳定在52.6万亩以上") is None
    assert asks_several("石沐县的四大主导产业分别是什么") and named_count("四大主导产业分别是什么") == 4
    assert not asks_several("石沐县油茶林面积目标多大")


def test_a_decimal_is_not_an_item_number():
    assert whole_enumeration("总量由86.5万人增加到100.2万人。", "总量由86.5万人增加到100.2万人") is None


class _Info:
    """The few fields the gate reads, for a question whose year the document never names."""
    pilots = ("甲文件",)
    years = ("2028",)
    period = None
    require = None
    measure = None
    qualifier = None
    answer_type = "number"
    asks_figure = True
    key = "2028年保障房筹集目标是多少"
    expansions: dict = {}


class _Chunk:
    pilot = "甲文件"
    top_section = "一、总体要求"


def test_a_year_the_document_never_names_closes_every_sentence_of_it():
    c = J.Candidate(0, 0, "保障性住房占新增住房供应的比例达到30%以上", "保障性住房占新增住房供应的比例达到30%以上", "")
    assert J.gate_of(_Info(), c, _Chunk(), frozenset({"2025", "2027"})) == "year"
    assert J.gate_of(_Info(), c, _Chunk(), frozenset({"2025", "2028"})) is None
