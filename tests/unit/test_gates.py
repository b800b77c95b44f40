"""The answer judgment's gates and the extractive answer, on passages built from the tiny corpus (no index, no
model: the sentence similarity falls back to the passage's own score)."""
from __future__ import annotations

import pytest

from rag.answer import judgment as J
from rag.answer.extractive import ExtractiveAnswerer
from rag.index.chunking import Chunk
from rag.retrieval.hybrid import Passage, Retrieval

QH, LX, YZ = "浙江省青禾县", "浙江省澜溪镇", "四川省云泽市"


@pytest.fixture(scope="module")
def passages(tiny_corpus):
    """Every paragraph of the tiny corpus as a passage (one chunk each)."""
    out = []
    for p in tiny_corpus.pilots:
        sections = [("引言", "引言", p.intro)] + [(" > ".join(t), t[0], s.paragraphs) for t, s in p.iter_sections()]
        for section, top, paras in sections:
            for para in paras:
                chunk = Chunk(id=f"{p.name}:{para.start_line}", pilot=p.name, province=p.province, section=section,
                              top_section=top, start_line=para.start_line, end_line=para.end_line, text=para.text,
                              source="pilots.txt")
                out.append(chunk)
    return out


def retrieval(analyzer, passages, question, pilot=None):
    info = analyzer.analyze(question)
    chosen = [c for c in passages if not info.pilots or c.pilot in info.pilots]
    ps = [Passage(rank=i + 1, chunk=c, score=1.0 / (i + 1), scores={"dense": 0.8}) for i, c in enumerate(chosen)]
    return Retrieval(question=question, passages=ps, pilots=list(info.pilots), info=info)


def gates(analyzer, passages, question):
    r = retrieval(analyzer, passages, question)
    return {c.text: c.gate for c in J.candidates(r.info, r)}


def test_a_sentence_of_another_year_cannot_answer(analyzer, passages):
    g = gates(analyzer, passages, "青禾县2020年常住人口城镇化率目标是多少？")
    assert g["到 2017 年，常住人口城镇化率达到 48%，户籍人口城镇化率达到 35%"] == "year"
    assert g["到 2020 年，常住人口城镇化率达到 55%，户籍人口城镇化率达到 42%，森林覆盖率达到 61%"] is None


def test_the_base_year_is_not_a_target(analyzer, passages):
    g = gates(analyzer, passages, "青禾县的常住人口城镇化率目标是多少？")
    base = next(t for t in g if t.startswith("2014 年，全县常住人口"))
    assert g[base] == "year"


def test_another_qualifier_cannot_answer(analyzer, passages):
    r = retrieval(analyzer, passages, "澜溪镇2014年户籍人口城镇化率是多少？")
    cands = J.candidates(r.info, r)
    stated = [c for c in cands if "常住人口城镇化率 58%" in c.text]
    assert stated and all(c.gate == "qualifier" for c in stated)


def test_a_figure_asked_needs_a_figure(analyzer, passages):
    g = gates(analyzer, passages, "青禾县有多少个特色小镇？")
    assert g["成立以县长为组长的试点工作领导小组，办公室设在县发改局"] == "type"


@pytest.fixture(scope="module")
def answerer():
    return ExtractiveAnswerer()


def test_the_answer_quotes_the_sentence_and_cites_its_lines(analyzer, passages, answerer):
    r = retrieval(analyzer, passages, "青禾县2020年森林覆盖率要达到多少？")
    ans = answerer.answer(r.question, r)
    assert ans.answerable and "61%" in ans.text
    cit = ans.citations[0]
    assert cit.pilot == QH and cit.quote in next(p.chunk.text for p in r.passages if p.chunk.id == cit.chunk_id)


def test_a_year_the_plan_does_not_state_is_refused(analyzer, passages, answerer):
    r = retrieval(analyzer, passages, "澜溪镇2017年户籍人口城镇化率目标是多少？")
    ans = answerer.answer(r.question, r)
    assert not ans.answerable and "没有找到" in ans.text


def test_a_comparison_gives_a_row_per_pilot_and_the_higher_one(analyzer, passages, answerer):
    r = retrieval(analyzer, passages, "青禾县和云泽市2020年常住人口城镇化率哪个更高？")
    ans = answerer.answer(r.question, r)
    rows = {row.pilot: row.figure for row in ans.rows}
    assert rows == {QH: "55%", YZ: "60%"}
    assert "云泽市" in ans.text.splitlines()[-1] and "高于" in ans.text


def test_a_place_that_is_no_pilot_is_refused_saying_so(analyzer, passages, answerer):
    r = retrieval(analyzer, passages, "杭州的常住人口有多少？")
    ans = answerer.answer(r.question, r)
    assert not ans.answerable and "杭州不在本批试点之中" in ans.text and "浙江省的试点有" in ans.text
    assert "45 万人" not in ans.text.split("最接近的内容")[0]


def test_in_a_comparison_the_place_that_is_no_pilot_gets_its_own_row(analyzer, passages, answerer):
    r = retrieval(analyzer, passages, "比较青禾县和杭州的2014年常住人口城镇化率")
    ans = answerer.answer(r.question, r)
    lines = ans.text.splitlines()
    assert any(l.startswith("浙江省青禾县") and "42.5%" in l for l in lines)
    assert "杭州：不在本批试点之中。" in lines
