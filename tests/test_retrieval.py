"""Retrieval on the session index (real corpus, default model, FAISS): pilot detection, scoping, modes, the
--pilot filter, the shapes (cross: every qualifying pilot; count: each pilot's heading chunk; overview: each
section's opening chunk; compare: each pilot's own passages), LangChain use, normalisation, suggestions.
Questions written from the corpus for these tests."""
from __future__ import annotations

import statistics
import time

import pytest

from rag.text import norm

FANGSHAN, DONGLI, WEIXIAN, BAOTOU = "北京市房山区", "天津市东丽区", "河北省威县", "内蒙古自治区包头市"


# --------------------------------------------------------------------------- detection (no index needed)


@pytest.fixture(scope="module")
def aliases(corpus):
    from rag.knowledge.gazetteer import all_aliases

    return all_aliases(corpus)


@pytest.mark.parametrize("question, expected", [
    ("北京市房山区的森林覆盖率要提高到多少？", [FANGSHAN]),                   # full name
    ("房山常住人口有多少万？", [FANGSHAN]),                                  # short form
    ("河北威县的户籍人口城镇化率是多少？", [WEIXIAN]),                         # province + place
    ("内蒙古准格尔旗的总面积有多大？", ["内蒙古自治区准格尔旗"]),
    ("临港的主要任务是什么？", ["上海市浦东新区（临港地区）"]),                # part of a parenthesised name
    ("澧县和津市相距多远？", ["湖南省津市市—澧县"]),                          # twin place
    ("房山区和东丽区的面积分别是多少？", [FANGSHAN, DONGLI]),
    ("房山市政设施建设有哪些任务？", [FANGSHAN]),                             # 房山 + the word 市政, not 房山市
    ("临港区位优势是什么？", ["上海市浦东新区（临港地区）"]),                  # 临港 + 区位
])
def test_detect_pilots_names(aliases, question, expected):
    from rag.retrieval.hybrid import detect_pilots

    assert detect_pilots(question, aliases) == expected


def test_detect_pilots_traditional_and_no_match_inside_province(aliases):
    from rag.retrieval.hybrid import detect_pilots

    assert detect_pilots("房山區的森林覆蓋率要提高到多少？", aliases) == [FANGSHAN]
    # `津市` (湖南省津市市—澧县) must not be found inside `天津市`
    assert "湖南省津市市—澧县" not in detect_pilots("天津市的试点推广了什么供暖技术？", aliases)
    # the stem of a pilot + another suffix is another place (`永安镇` is not 永安市)
    assert detect_pilots("永安镇的户籍人口有多少？", aliases) == []


# --------------------------------------------------------------------------- the retriever


@pytest.fixture(scope="module")
def retriever(qa):
    return qa.retriever


def test_single_pilot_question_finds_its_passage(retriever):
    r = retriever.retrieve("包头市的总面积有多大？")
    assert r.pilots == [BAOTOU] and r.scope == [BAOTOU] and not r.is_cross and r.unknown_place is None
    assert r.shape == "single" and r.info is not None and r.info.measure == "总面积"
    assert [p.rank for p in r.passages] == list(range(1, len(r.passages) + 1))
    assert all(p.chunk.pilot == BAOTOU for p in r.passages)
    assert "27691" in r.passages[0].chunk.text
    assert {"dense", "bm25", "fused"} <= set(r.passages[0].scores)
    assert r.timings_ms["total"] >= 0
    # what the judgment needs travels with it: the query vector and each passage's sentence vectors
    assert r.qvec is not None and set(r.sentence_vectors) == {p.chunk.id for p in r.passages}
    assert r.idf and all(v > 0 for v in list(r.idf.values())[:50])


def test_province_scope_with_level_hint(retriever):
    r = retriever.retrieve("山西那个镇的户籍人口城镇化率2020年要到多少？")
    assert r.pilots == ["山西省巴公镇"]
    assert all(p.chunk.pilot == "山西省巴公镇" for p in r.passages)


def test_parent_place_scopes_to_its_pilot(retriever):
    r = retriever.retrieve("佛山那个试点的常住人口城镇化率是多少？")
    assert r.pilots == ["广东省狮山镇"] and {p.chunk.pilot for p in r.passages} == {"广东省狮山镇"}
    assert "96.2%" in r.passages[0].chunk.text


@pytest.mark.parametrize("question, place", [
    ("广州市的新型城镇化试点常住人口城镇化率目标是多少？", "广州市"),
    ("苏州的户籍人口城镇化率有多高？", "苏州"),
    ("浙江省义乌市的试点方案讲了什么？", "义乌市"),
])
def test_non_pilot_place_is_not_forced_onto_a_pilot(retriever, question, place):
    r = retriever.retrieve(question)
    assert r.pilots == []
    assert r.unknown_place == place


def test_place_only_the_corpus_mentions_is_a_loose_reference(retriever, built_index):
    # `白城市` is a parent of 林海镇; named alone and asked about, its pilot is searched and the city required
    where = {c.pilot for c in built_index.chunks if "白城市" in norm(c.text)}
    assert where == {"吉林省林海镇"}
    r = retriever.retrieve("白城市的幅员面积有多大？")
    assert r.pilots == ["吉林省林海镇"] and r.unknown_place is None and r.info.require == "白城市"
    assert any("2.6万平方公里" in norm(p.chunk.text) for p in r.passages[:3])


def test_empty_question_returns_nothing(retriever):
    for q in ("", "   ", "\n\t"):
        r = retriever.retrieve(q)
        assert r.passages == [] and r.pilots == []


def test_traditional_question_still_finds_the_passage(retriever):
    r = retriever.retrieve("包頭市的國境線長多少公里？")
    assert r.question == "包头市的国境线长多少公里?"  # simplified + NFKC (full-width ？ → ?)
    assert r.pilots == [BAOTOU]
    assert any("国境线" in p.chunk.text for p in r.passages[:3])


def test_english_question_is_searched_in_chinese_too(retriever):
    r = retriever.retrieve("How large is the total area of Baotou?")
    assert r.pilots == [BAOTOU] and r.info.lang == "en"
    assert "27691" in r.passages[0].chunk.text


def test_modes_differ_and_are_validated(retriever):
    questions = ["哪里提到了地能热冷一体化？", "城镇化投融资机制如何创新？", "农村宅基地管理有什么改革？",
                 "包头市的国境线长多少公里？"]
    differ = 0
    for q in questions:
        runs = {m: retriever.retrieve(q, k=5, mode=m) for m in ("dense", "bm25", "hybrid")}
        assert all(r.mode == m for m, r in runs.items())
        ids = {m: [p.chunk.id for p in r.passages] for m, r in runs.items()}
        differ += ids["dense"] != ids["bm25"]
        assert "dense" in runs["dense"].passages[0].scores
        assert "bm25" in runs["bm25"].passages[0].scores
    assert differ >= 1
    with pytest.raises(ValueError):
        retriever.retrieve("包头的面积", mode="sparse")


def test_pilot_filter_restricts_results(retriever):
    r = retriever.retrieve("常住人口城镇化率目标是多少？", k=5, pilot="威县")
    assert r.pilots == [WEIXIAN] and len(r.passages) == 5
    assert {p.chunk.pilot for p in r.passages} == {WEIXIAN}
    # the filter wins over a pilot named in the question
    r = retriever.retrieve("包头的总面积有多大？", pilot="河北省威县")
    assert {p.chunk.pilot for p in r.passages} == {WEIXIAN}


def test_unknown_pilot_raises_with_suggestions(retriever):
    with pytest.raises(ValueError) as exc:
        retriever.retrieve("城镇化率是多少？", pilot="房山县")
    assert FANGSHAN in str(exc.value)
    assert FANGSHAN in exc.value.suggestions


def test_suggestions_by_pinyin(retriever):
    from rag.retrieval.hybrid import suggest_pilots

    analyzer = retriever.analyzer
    assert suggest_pilots("baotou", analyzer.aliases, analyzer.gaz)[0] == BAOTOU
    assert suggest_pilots("包投", analyzer.aliases, analyzer.gaz)[0] == BAOTOU  # same sound, other characters
    assert suggest_pilots("", analyzer.aliases, analyzer.gaz) == []


# --------------------------------------------------------------------------- shapes


@pytest.mark.parametrize("question, term", [
    ("哪些试点提到物联网？", "物联网"),
    ("哪些试点的方案写了“负面清单”？", "负面清单"),
    ("有几个试点提到村镇银行？分别是哪些？", "村镇银行"),
])
def test_cross_question_returns_every_pilot_with_the_term(retriever, built_index, question, term):
    expected = {c.pilot for c in built_index.chunks if term in norm(c.text)}
    assert len(expected) >= 2  # a distinctive term several pilots share
    r = retriever.retrieve(question)
    assert r.is_cross and r.shape == "cross" and r.pilots == [] and r.key_terms == [term]
    got = {p.chunk.pilot for p in r.passages}
    assert expected <= got
    # every pilot's supporting passage is among them, ranked; the first passages are one per pilot
    firsts = [p.chunk.pilot for p in r.passages[: len(expected)]]
    assert len(set(firsts)) == len(firsts)
    assert {p.chunk.pilot for p in r.passages if p.scores.get("term", 0) > 0} >= expected
    for p in r.passages:
        text = norm(p.chunk.section + p.chunk.text)
        if "related" in p.scores:  # a weaker clue (a part of the term), never before the qualifying pilots
            assert any(t in text for t in r.info.related_terms) and p.rank > len(expected)
        else:
            assert term in text


def test_cross_related_term_reaches_pilots_that_word_it_shorter(retriever, built_index):
    """A question's compound term (<某类职工>同工同酬) is stated by a few pilots; others state only its core
    (同工同酬). Those are returned too, marked as reached by the related term."""
    whole, core = "城镇职工同工同酬", "同工同酬"
    texts = {}
    for c in built_index.chunks:
        texts[c.pilot] = texts.get(c.pilot, "") + norm(c.text)
    stating = {p for p, t in texts.items() if whole in t}
    only_core = {p for p, t in texts.items() if core in t and whole not in t}
    assert len(stating) >= 2 and only_core  # the corpus fact the test stands on
    r = retriever.retrieve("要求农民工和城镇职工同工同酬的试点有哪些？")
    assert r.info.key_terms == (whole,) and core in r.info.related_terms
    got = {p.chunk.pilot for p in r.passages[:20]}
    assert stating | only_core <= got
    assert all("related" in p.scores for p in r.passages if p.chunk.pilot in only_core)
    assert all(p.rank < min(q.rank for q in r.passages if q.chunk.pilot in only_core)
               for p in r.passages if p.chunk.pilot in stating and p.scores.get("term") == 2
               and p == next(x for x in r.passages if x.chunk.pilot == p.chunk.pilot))


def test_cross_within_a_section_kind(retriever, built_index):
    r = retriever.retrieve("在保障措施里提到绿色通道的试点有哪些？")
    assert r.info.within == "保障"
    assert r.passages and all("保障" in p.chunk.top_section for p in r.passages)
    assert all("绿色通道" in norm(p.chunk.text) for p in r.passages if "related" not in p.scores)


def test_count_returns_each_pilots_heading_chunk(retriever, corpus):
    r = retriever.retrieve("第二批试点一共有多少个？")
    assert r.shape == "count"
    assert [p.chunk.pilot for p in r.passages] == [p.name for p in corpus.pilots]
    assert all(p.chunk.start_line == pl.start_line for p, pl in zip(r.passages, corpus.pilots))
    r = retriever.retrieve("河北有几个试点？")
    assert [p.chunk.pilot for p in r.passages] == [WEIXIAN, "河北省白沟镇"]


def test_overview_returns_each_sections_opening_chunk(retriever, corpus):
    r = retriever.retrieve("介绍一下东丽区的试点方案")
    assert r.shape == "overview" and r.pilots == [DONGLI]
    opening = [p for p in r.passages if p.scores.get("overview")]
    sections = [p.chunk.section for p in opening]
    assert len(sections) == len(set(sections)) and sections[0] == "引言"
    assert [p.chunk.start_line for p in opening] == sorted(p.chunk.start_line for p in opening)
    pilot = corpus.pilot(DONGLI)
    for path, sec in pilot.iter_sections():  # every top section and item with text has its opening chunk
        if sec.paragraphs and len(path) <= 2:
            assert " > ".join(path) in sections, sec.title
    assert all(p.chunk.pilot == DONGLI for p in r.passages)


def test_compare_gives_each_pilot_its_own_passages(retriever):
    r = retriever.retrieve("房山区、东丽区和威县的总面积分别是多少？", k=5)
    assert r.shape == "compare" and r.pilots == [FANGSHAN, DONGLI, WEIXIAN]
    assert len(r.passages) >= 9  # room for each pilot's own answer
    assert [p.chunk.pilot for p in r.passages[:3]] == [FANGSHAN, DONGLI, WEIXIAN]  # interleaved
    for pilot, figure in ((FANGSHAN, "1990"), (DONGLI, "478.8")):
        assert any(figure in p.chunk.text for p in r.passages if p.chunk.pilot == pilot)


def test_usable_in_a_langchain_chain(retriever):
    from langchain_core.runnables import RunnableLambda

    def format_docs(docs):
        return "\n\n".join(d.page_content for d in docs)

    lc = retriever.as_langchain()  # the LangChain BaseRetriever over the same retriever
    chain = lc | RunnableLambda(format_docs)
    text = chain.invoke("包头市的总面积有多大？")
    assert isinstance(text, str) and "27691" in text
    docs = lc.invoke("包头市的总面积有多大？")
    assert len(docs) == retriever.k
    assert [d.metadata["chunk_id"] for d in docs] == [p.chunk.id for p in retriever.retrieve("包头市的总面积有多大？").passages]
    md = docs[0].metadata
    for key in ("chunk_id", "pilot", "province", "section", "start_line", "end_line", "rank", "scores"):
        assert key in md
    assert md["pilot"] == BAOTOU and md["rank"] == 1
    assert md["start_line"] <= md["end_line"]


def test_retrieval_without_embedding_is_fast(retriever):
    """Everything but the query embedding (analysis, BM25, fusion, ranking, sentence vectors) stays in budget."""
    qs = ["包头市的总面积有多大？", "哪些试点提到物联网？", "广州市的城镇化率目标是多少？",
          "威县2020年户籍人口城镇化率目标是多少？", "东丽区五年内每年整合多少市直专项资金？"]
    for q in qs:
        retriever.retrieve(q)  # warm (jieba, embedding cache)
    times = []
    for _ in range(3):
        for q in qs:
            t = time.perf_counter()
            retriever.retrieve(q, mode="bm25")
            times.append((time.perf_counter() - t) * 1000)
    assert statistics.median(times) < 60, times
