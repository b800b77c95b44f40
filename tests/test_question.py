"""Question analysis on the real corpus's gazetteer: which pilots a question is about (named, through a parent
place or a province, described), what is not a place, the place no document covers, English questions, the
question's shape, and what it asks for (year, qualifier, measure, answer type).

Every question here was written from data/pilots-batch2.txt for these tests. The analyzer is the session
retriever's (`qa.retriever.analyzer`): the gazetteer and pilot texts the app itself uses."""
from __future__ import annotations

import pytest

import corpus_text  # tests/corpus_text.py: what the tests count in the corpus themselves

MEISHAN, SONGZI, QUANZHOU, SHISHAN = "四川省眉山市", "湖北省松滋市", "广西壮族自治区全州县", "广东省狮山镇"
WEIXIAN, BAOTOU, XIAOYI, BAGONG = "河北省威县", "内蒙古自治区包头市", "山西省孝义市", "山西省巴公镇"
FANGSHAN, DONGLI, LINHAI, YONGAN = "北京市房山区", "天津市东丽区", "吉林省林海镇", "福建省永安市"


@pytest.fixture(scope="module")
def analyze(qa):
    return qa.retriever.analyzer.analyze


@pytest.fixture(scope="module")
def pilot_texts(corpus):
    return corpus_text.pilot_texts(corpus)


def spans(info):
    return [(s.text, s.kind) for s in info.places]


# --------------------------------------------------------------------------- the gazetteer (rag.places)


def test_gazetteer_parents_formal_names_and_pinyin(corpus):
    from rag.knowledge.gazetteer import gazetteer

    g = gazetteer(corpus)
    # "松滋市隶属于湖北省荆州市" → 荆州市 and 荆州 name the pilot's parent
    assert g["pilots"][SONGZI]["parents"] == ["荆州市"]
    assert g["parents"]["荆州"] == [SONGZI] and g["parents"]["荆州市"] == [SONGZI]
    # "义堂镇位于山东省临沂市兰山区": the district of a parent city is a parent too
    assert g["pilots"]["山东省义堂镇"]["parents"] == ["临沂市", "兰山区"]
    # a neighbour named in an intro is no parent ("…是桂林市土地面积最大…的县": 桂林市 contains it)
    assert g["pilots"][QUANZHOU]["parents"] == ["桂林市"]
    assert "荆州" not in g["aliases"][SONGZI]
    # the formal name from the intro, and the pinyin of the stem
    assert "芷江侗族自治县" in g["aliases"]["湖南省芷江县"]
    assert "songzi" in g["pilots"][SONGZI]["pinyin"]
    assert {"lingang", "pudong"} <= set(g["pilots"]["上海市浦东新区（临港地区）"]["pinyin"])
    # every pilot has its short forms; no alias is a province
    assert {"松滋", "松滋市", "湖北松滋"} <= set(g["aliases"][SONGZI])
    assert len(g["aliases"]) == 59 and not any(a in ("北京市", "湖北省") for v in g["aliases"].values() for a in v)


# --------------------------------------------------------------------------- places


def test_parent_place_next_to_its_pilot(analyze):
    info = analyze("荆州松滋2020年常住人口城镇化率目标是多少？")
    assert info.pilots == (SONGZI,) and info.resolved_by == "name"
    assert spans(info) == [("荆州", "parent"), ("松滋", "pilot")]
    assert info.require is None and "荆州" not in "".join(info.terms)  # the parent is the subject, not content
    info = analyze("桂林市的全州县面积多大？")
    assert info.pilots == (QUANZHOU,) and info.measure == "面积" and info.unknown_place is None


def test_parent_place_alone(analyze):
    # "佛山那个试点…": the pilot inside the parent city
    info = analyze("佛山那个试点的常住人口城镇化率是多少？")
    assert info.pilots == (SHISHAN,) and info.resolved_by == "parent" and info.require is None
    # "荆州市的…" asks about the city itself: only a sentence naming 荆州市 can answer
    info = analyze("荆州市的城镇化率是多少？")
    assert info.pilots == (SONGZI,) and info.resolved_by == "parent" and info.require == "荆州市"


def test_province_scope_and_level_hint(analyze):
    info = analyze("广东那个镇的常住人口城镇化率是多少？")
    assert info.pilots == (SHISHAN,) and info.resolved_by == "province"
    info = analyze("吉林省镇级试点的林区面积有多大？")
    assert info.scope == (LINHAI,) and info.pilots == (LINHAI,)
    # without a level hint, every pilot of the province is searched and none is picked
    info = analyze("吉林省试点的户籍制度改革有哪些做法？")
    assert info.pilots == () and info.scope == ("吉林省梨树县", "吉林省抚松县", LINHAI)


def test_a_common_word_does_not_pick_one_of_a_provinces_pilots(analyze):
    # "总体目标" is every plan's first heading: it describes none of 吉林's three pilots
    info = analyze("吉林省的试点总体目标是什么？")
    assert info.pilots == () and info.scope == ("吉林省梨树县", "吉林省抚松县", LINHAI), info.described_by


def test_described_pilot(analyze, pilot_texts):
    assert [p for p, t in pilot_texts.items() if "苏东坡" in t] == [MEISHAN]  # only one plan says it
    info = analyze("苏东坡故乡那个试点2020年常住人口城镇化率目标是多少？")
    assert info.pilots == (MEISHAN,) and info.resolved_by == "description"
    assert "苏东坡" in info.described_by and all(t in "苏东坡" for t in info.described_by)
    assert info.measure == "常住人口城镇化率" and info.years == ("2020",)
    # a quoted epithet
    assert [p for p, t in pilot_texts.items() if "九澧门户" in t] == ["湖南省津市市—澧县"]
    info = analyze("素有“九澧门户”之称的试点总面积是多少？")
    assert info.pilots == ("湖南省津市市—澧县",) and "九澧门户" in info.described_by and info.measure == "总面积"


def test_a_phrase_several_plans_share_describes_nobody(analyze, pilot_texts):
    assert sum("智慧供暖" in t for t in pilot_texts.values()) > 1
    info = analyze("推广智慧供暖的那个试点城镇化率目标是多少？")
    assert info.pilots == () and info.resolved_by == ""


@pytest.mark.parametrize("question, word", [
    ("新城建设要投资多少？", "新城"),
    ("开发区的面积是多少？", "开发区"),
    ("园区的主要任务是什么？", "园区"),
    ("老区的扶贫开发怎么做？", "老区"),
])
def test_words_that_are_not_places(analyze, question, word):
    info = analyze(question)
    assert info.pilots == () and info.scope == () and info.unknown_place is None
    assert word in "".join(info.terms)  # kept as content


@pytest.mark.parametrize("question, place", [
    ("广州市的城镇化率目标是多少？", "广州市"),
    ("苏州的户籍人口城镇化率有多高？", "苏州"),
])
def test_a_place_no_document_covers(analyze, question, place):
    info = analyze(question)
    assert info.unknown_place == place and info.pilots == () and info.scope == ()


def test_pilot_stem_with_another_suffix_is_another_place(analyze):
    info = analyze("永安镇的常住人口城镇化率是多少？")
    assert info.unknown_place == "永安镇" and info.pilots == () and spans(info) == [("永安镇", "unknown")]
    assert analyze("房山镇的城镇化率是多少？").unknown_place == "房山镇"
    # the pilot's own suffix, and its stem followed by an ordinary word, are the pilot
    assert analyze("永安市的常住人口城镇化率是多少？").pilots == (YONGAN,)
    assert analyze("房山市政设施建设有哪些任务？").pilots == (FANGSHAN,)
    # a province name is never read as the pilot inside it (津市 in 天津市)
    assert "湖南省津市市—澧县" not in analyze("天津市的试点推广了什么供暖技术？").scope


def test_traditional_characters(analyze):
    info = analyze("包頭市的國境線長多少公里？")
    assert info.text == "包头市的国境线长多少公里?" and info.pilots == (BAOTOU,)


# --------------------------------------------------------------------------- English


def test_english_question_rendered_in_chinese(analyze):
    info = analyze("How large is the total area of Baotou?")
    assert info.lang == "en" and info.pilots == (BAOTOU,)
    assert "包头" in info.text and "总面积" in info.text and info.measure == "总面积"
    assert info.answer_type == "number"
    # a pinyin name written in two words
    info = analyze("How large is the total area of Fang Shan?")
    assert info.pilots == (FANGSHAN,) and info.text == "多大总面积房山" and info.measure == "总面积"
    info = analyze("Which pilots mention smart heating?")
    assert info.shape == "cross" and info.key_terms == ("智慧供暖",)
    assert analyze("How many pilots are there?").shape == "count"


# --------------------------------------------------------------------------- shapes


@pytest.mark.parametrize("question, shape, pilots", [
    ("哪些试点提到物联网？", "cross", []),
    ("提到村镇银行的试点都有哪些？", "cross", []),
    ("第二批试点一共有多少个？", "count", []),
    ("河北有几个试点？", "count", []),
    ("孝义市的主要任务一共有多少项？", "count", [XIAOYI]),
    ("房山区的保障措施有几条？", "count", [FANGSHAN]),
    ("介绍一下东丽区的试点方案", "overview", [DONGLI]),
    ("包头市的试点方案主要内容是什么？", "overview", [BAOTOU]),
    ("房山区和东丽区的总面积对比一下", "compare", [FANGSHAN, DONGLI]),
    ("威县、孝义市和包头市2020年户籍人口城镇化率目标哪个最高？", "compare", [WEIXIAN, XIAOYI, BAOTOU]),
    ("包头市的国境线长多少公里？", "single", [BAOTOU]),
])
def test_shapes(analyze, question, shape, pilots):
    info = analyze(question)
    assert info.shape == shape, (info.shape, info.pilots)
    assert list(info.pilots) == pilots


def test_shape_needs_its_pilots(analyze):
    # an overview of no pilot, and a comparison of one, are single questions
    assert analyze("介绍一下试点方案的总体情况").shape == "single"
    assert analyze("对比一下包头市2017年和2020年的常住人口城镇化率").shape == "single"


def test_count_scope(analyze):
    info = analyze("河北有几个试点？")
    assert info.shape == "count" and info.scope == (WEIXIAN, "河北省白沟镇")
    assert analyze("第二批试点一共有多少个？").scope == ()


def test_cross_terms_from_explanations_and_shared_objects(analyze):
    # a parenthesis that lists what is done with the term explains it; verbs sharing one object are no terms
    assert analyze("提到城中村（改造或整治）的试点有哪些？").key_terms == ("城中村",)
    assert analyze("哪些试点提出编制或推行权力清单？").key_terms == ("权力清单",)


def test_cross_key_terms(analyze):
    assert analyze("哪些试点提到物联网？").key_terms == ("物联网",)
    assert analyze("哪些试点提到“一融双新”？").key_terms == ("一融双新",)
    # alternatives: any qualifies a pilot
    assert analyze("哪些试点提到村镇银行或小额贷款公司？").key_terms == ("村镇银行", "小额贷款公司")
    info = analyze("在保障措施里提到绿色通道的试点有哪些？")
    assert info.key_terms == ("绿色通道",) and info.within == "保障"
    # within a province
    info = analyze("山东省有哪些试点提到智慧供暖？")
    assert info.shape == "cross" and len(info.scope) == 4 and all(p.startswith("山东省") for p in info.scope)


def test_compare_direction(analyze):
    assert analyze("房山区和东丽区哪个面积更大？").compare_op == "max"
    assert analyze("孝义和巴公镇2020年户籍人口城镇化率谁更低？").compare_op == "min"
    assert analyze("房山区和东丽区的总面积分别是多少？").compare_op is None


# --------------------------------------------------------------------------- what is asked


@pytest.mark.parametrize("question, years, qualifier, measure, answer_type", [
    ("威县2020年户籍人口城镇化率目标是多少？", ["2020"], "户籍", "户籍人口城镇化率", "percent"),
    ("孝义市2017年的常住人口城镇化率目标定为多少？", ["2017"], "常住", "常住人口城镇化率", "percent"),
    ("包头市的总面积有多大？", [], None, "总面积", "number"),
    ("东丽区到2017年要实现多少地区生产总值？", ["2017"], None, "地区生产总值", "number"),
    ("谁担任房山区领导小组的组长？", [], None, None, "person"),
    ("威县的主要任务包括哪些？", [], None, None, "list"),
    ("包头市推广智慧供暖用的是什么技术？", [], None, None, "fact"),
])
def test_what_is_asked(analyze, question, years, qualifier, measure, answer_type):
    info = analyze(question)
    assert (list(info.years), info.qualifier, info.measure, info.answer_type) == (years, qualifier, measure, answer_type)


def test_content_terms_leave_out_places_years_and_question_words(analyze):
    info = analyze("威县2020年户籍人口城镇化率目标是多少？")
    assert info.terms == ("户籍人口城镇化率目标",)
    info = analyze("包头市推广智慧供暖用的是什么技术？")
    assert "智慧供暖" in "".join(info.terms) and not any("包头" in t for t in info.terms)


def test_explicit_pilot_wins(analyze):
    info = analyze("常住人口城镇化率目标是多少？", pilot=WEIXIAN)
    assert info.pilots == info.scope == (WEIXIAN,) and info.resolved_by == "explicit"


def test_compare_of_a_named_and_a_described_pilot(analyze):
    info = analyze("九澧门户和孝义，常住人口城镇化率目标哪个更高？")
    assert info.shape == "compare" and set(info.pilots) == {"山西省孝义市", "湖南省津市市—澧县"}
    assert info.described_by == ("九澧门户",) and info.compare_op == "max"
    # a comparison with something that is no pilot stays a question about the one pilot
    info = analyze("孝义和全国平均水平比，常住人口城镇化率目标高吗？")
    assert info.shape == "single" and info.pilots == ("山西省孝义市",)


def test_a_measure_is_cut_at_its_qualifier_so_the_words_before_still_describe(analyze):
    info = analyze("湖南那个九澧门户常住人口多少？")
    assert info.pilots == ("湖南省津市市—澧县",) and info.measure == "常住人口", (info.pilots, info.measure)


def test_which_pilots_terms_from_a_parenthesis_and_a_kind(analyze, pilot_texts):
    """A parenthesis's other name is an alternative where the documents use it; the words after "这类" only say
    what kind of thing is asked, and a word nearly every plan uses is no alternative."""
    def df(t):
        return sum(t in x for x in pilot_texts.values())

    assert df("公共租赁住房") >= 1 and df("公租房") >= 1
    info = analyze("哪些试点提到公租房（公共租赁住房）？")
    assert info.shape == "cross" and info.key_terms == ("公租房", "公共租赁住房")
    info = analyze("哪些试点提到物联网、云计算这类新一代信息技术？")
    assert info.key_terms == ("物联网", "云计算") and "新一代信息技术" in info.related_terms
    assert df("融资") > 0.8 * len(pilot_texts)
    info = analyze("哪些试点打算用资产证券化或者融资租赁来融资？")
    assert "融资" not in info.key_terms and "资产证券化" in info.key_terms


def test_period_words(analyze):
    assert analyze("包头市基期的常住人口城镇化率是多少？").period == "base"
    assert analyze("包头市到时候常住人口城镇化率要达到多少？").period == "target"
    assert analyze("包头市现在定的常住人口城镇化率目标是多少？").period is None  # a target, as of now
    assert analyze("这一点体现在哪些方面？").period is None  # 现在 of 体现在
    assert analyze("包头市现在的常住人口城镇化率是多少？").measure == "常住人口城镇化率"
