"""Extractive answers, refusals, cross-pilot lists and citation verification on real corpus chunks."""
from __future__ import annotations

import re
import statistics
import time

import pytest

from rag.answer import (DEFAULT_MIN_SCORE, Answer, ExtractiveAnswerer, quote_lines,
                        verify_citations)
from rag.chain import build_chain
from rag.chunking import chunk_corpus
from rag.config import ROOT
from rag.corpus import load_corpus
from rag.retrieval import Passage, Retrieval
from rag.text import norm

CORPUS = ROOT / "data" / "pilots-batch2.txt"
MARK = re.compile(r"\[(\d+)\]")


@pytest.fixture(scope="module")
def chunks():
    return chunk_corpus(load_corpus([CORPUS]))


@pytest.fixture(scope="module")
def answerer():
    return ExtractiveAnswerer()


def find(chunks, needle, pilot=None):
    """The first real chunk whose text contains `needle` (norm form)."""
    for c in chunks:
        if norm(needle) in norm(c.text) and (pilot is None or c.pilot == pilot):
            return c
    raise AssertionError(f"no chunk contains {needle!r}")


def retrieval(question, chs, **kw) -> Retrieval:
    ps = [Passage(rank=i + 1, chunk=c, score=1.0 - i * 0.05, scores={}) for i, c in enumerate(chs)]
    return Retrieval(question=question, passages=ps, timings_ms={"total": 25.0}, **kw)


def check_citations(ans: Answer):
    """Every marker has a citation and every citation's quote is really in its chunk, on its lines."""
    by_id = {p.chunk.id: p.chunk for p in ans.passages}
    ns = {c.n for c in ans.citations}
    assert set(int(x) for x in MARK.findall(ans.text)) == ns
    assert ns == set(range(1, len(ns) + 1))
    for c in ans.citations:
        chunk = by_id[c.chunk_id]
        assert norm(c.quote) and norm(c.quote) in norm(chunk.text)
        assert chunk.start_line <= c.start_line <= c.end_line <= chunk.end_line
        assert c.pilot == chunk.pilot and c.section == chunk.section
        lines = CORPUS.read_text(encoding="utf-8").splitlines()
        span = norm("".join(lines[c.start_line - 1:c.end_line]))
        assert norm(c.quote) in span, (c.quote, c.start_line, c.end_line)


# ---------------------------------------------------------------------------------------------- single answers


def test_forest_coverage_45_percent(chunks, answerer):
    q = "房山2020年的森林覆盖率目标是多少？"
    chs = [find(chunks, "森林覆盖率达到45%"), find(chunks, "全区土地总面积 1990"),
           find(chunks, "到 2020 年，常住人口城镇化率达到 75%"), find(chunks, "森林覆盖率达到 55%以上")]
    ans = answerer.answer(q, retrieval(q, chs, pilots=["北京市房山区"]))
    assert ans.answerable and ans.grounded
    assert "45%" in ans.text and "北京市房山区" in ans.text
    assert "55%" not in ans.text  # 红河州's figure is another pilot's
    check_citations(ans)
    c = next(c for c in ans.citations if "45%" in c.quote)
    assert (c.start_line, c.end_line) == (91, 91)
    assert c.pilot == "北京市房山区"
    assert set(ans.timings_ms) == {"retrieve", "answer", "total"}


@pytest.mark.parametrize("question,expect,pilot", [
    ("北京市房山区的土地总面积有多大？", "1990", "北京市房山区"),
    ("房山区计划引进培育多少家基金管理机构？", "1500", "北京市房山区"),
    ("天津东丽区总面积是多少？", "478.8", "天津市东丽区"),
])
def test_number_questions(chunks, answerer, question, expect, pilot):
    own = [c for c in chunks if c.pilot == pilot][:6]
    other = [find(chunks, "森林覆盖率达到 55%以上")]
    ans = answerer.answer(question, retrieval(question, own + other, pilots=[pilot]))
    assert ans.answerable, ans.text
    assert expect in ans.text
    check_citations(ans)


def test_citation_lines_across_page_break(chunks):
    c = find(chunks, "新型农村社区")
    assert (c.start_line, c.end_line) == (87, 89)
    assert quote_lines(c, "加快构建“新城—小城镇—新型农村社区”体系") == (87, 89)
    assert quote_lines(c, "实现“生产高效、生活幸福、生态宜居”的城镇化建设目标") == (89, 89)
    assert quote_lines(c, "借中关村南部科技创新城发展契机") == (87, 87)
    # a chunk whose source cannot be read still gets lines inside its span
    from dataclasses import replace
    lost = replace(c, source="/nonexistent/file.txt")
    a, b = quote_lines(lost, "实现“生产高效、生活幸福、生态宜居”的城镇化建设目标")
    assert 87 <= a <= b <= 89


# ---------------------------------------------------------------------------------------------- cross-pilot


def test_cross_pilot_list_with_count(chunks, answerer):
    q = "有几个试点提到众创空间？分别是哪些？"
    hits = [c for c in chunks if "众创空间" in norm(c.text)]
    distract = [find(chunks, "森林覆盖率达到45%"), find(chunks, "全区土地总面积 1990")]
    ans = answerer.answer(q, retrieval(q, distract + hits, is_cross=True))
    pilots = list(dict.fromkeys(c.pilot for c in hits))
    assert len(pilots) >= 3
    assert ans.answerable
    assert f"共有{len(pilots)}个试点" in ans.text
    for i, p in enumerate(sorted(pilots, key=lambda p: min(c.start_line for c in hits if c.pilot == p)), 1):
        assert f"{p}[{i}]" in ans.text
    assert len(ans.citations) == len(pilots)
    for c in ans.citations:
        assert "众创空间" in norm(c.quote)
    check_citations(ans)


def test_cross_quoted_term_only_real_mentions(chunks, answerer):
    q = "哪些试点提出实施“一融双新”工程？"
    hits = [c for c in chunks if "一融双新" in c.text]
    near = [c for c in chunks if "工程" in c.text and "一融双新" not in c.text][:5]
    ans = answerer.answer(q, retrieval(q, near + hits, is_cross=True))
    assert ans.answerable
    assert "山东省龙口市" in ans.text and "陕西省韩城市" in ans.text
    assert {c.pilot for c in ans.citations} == {"山东省龙口市", "陕西省韩城市"}
    check_citations(ans)


# ---------------------------------------------------------------------------------------------- refusals


def refused(ans: Answer):
    assert not ans.answerable, ans.text
    assert ans.text.startswith("文件中没有找到")
    assert "最接近的内容：" in ans.text
    assert ans.citations
    check_citations(ans)


def test_refuses_figure_not_in_passages(chunks, answerer):
    q = "房山区的地区生产总值目标是多少？"
    chs = [c for c in chunks if c.pilot == "北京市房山区"][:6]
    refused(answerer.answer(q, retrieval(q, chs, pilots=["北京市房山区"])))


def test_refuses_other_year(chunks, answerer):
    q = "房山区2025年的城镇化率目标是多少？"
    chs = [c for c in chunks if c.pilot == "北京市房山区"][:6]
    refused(answerer.answer(q, retrieval(q, chs, pilots=["北京市房山区"])))


def test_refuses_other_qualifier(chunks, answerer):
    q = "包头市户籍人口城镇化率目标是多少？"
    chs = [c for c in chunks if c.pilot == "内蒙古自治区包头市"][:6]
    refused(answerer.answer(q, retrieval(q, chs, pilots=["内蒙古自治区包头市"])))


def test_refuses_unknown_place(chunks, answerer):
    q = "深圳市的新型城镇化综合试点城镇化率目标是多少？"
    chs = [find(chunks, "到 2020 年，常住人口城镇化率达到 75%"), find(chunks, "森林覆盖率达到45%")]
    ans = answerer.answer(q, retrieval(q, chs, unknown_place="深圳市"))
    refused(ans)
    assert "深圳市" in ans.text


def test_refuses_when_only_another_pilot_answers(chunks, answerer):
    q = "永安市的森林覆盖率目标是多少？"
    chs = [find(chunks, "森林覆盖率达到45%")] + [c for c in chunks if c.pilot == "福建省永安市"][:4]
    ans = answerer.answer(q, retrieval(q, chs, pilots=["福建省永安市"]))
    refused(ans)
    assert "45%" not in ans.text.split("最接近的内容")[0]


def test_min_score_is_the_bar(chunks):
    q = "包头市北面与哪个国家接壤？"
    chs = [c for c in chunks if c.pilot == "内蒙古自治区包头市"][:5]
    r = retrieval(q, chs, pilots=["内蒙古自治区包头市"])
    assert ExtractiveAnswerer(min_score=0.2).answer(q, r).answerable
    assert not ExtractiveAnswerer(min_score=0.99).answer(q, r).answerable
    assert 0.2 < DEFAULT_MIN_SCORE < 0.8


def test_no_passages(answerer):
    ans = answerer.answer("房山区的面积？", Retrieval(question="房山区的面积？", passages=[]))
    assert not ans.answerable and ans.citations == [] and ans.text.startswith("文件中没有找到")


# ---------------------------------------------------------------------------------------------- output format


def test_to_json_is_the_stable_batch_format(chunks, answerer):
    q = "房山2020年的森林覆盖率目标是多少？"
    ans = answerer.answer(q, retrieval(q, [find(chunks, "森林覆盖率达到45%")], pilots=["北京市房山区"]))
    d = ans.to_json("q004")
    assert list(d) == ["id", "question", "answer", "answerable", "citations", "passages", "timings_ms"]
    assert d["id"] == "q004" and d["answerable"] is True
    assert list(d["citations"][0]) == ["n", "chunk_id", "pilot", "section", "start_line", "end_line", "quote"]
    assert list(d["passages"][0]) == ["rank", "chunk_id", "pilot", "section", "start_line", "end_line", "score", "text"]
    assert d["passages"][0]["text"] == find(chunks, "森林覆盖率达到45%").text
    assert list(d["timings_ms"]) == ["retrieve", "answer", "total"]
    import json
    json.dumps(d, ensure_ascii=False)
    extra = ans.to_dict("q004")
    assert extra["grounded"] is True and "notice" in extra and extra["answerer"] == "extractive"


def test_answering_is_fast(chunks, answerer):
    qs = ["房山2020年的森林覆盖率目标是多少？", "东丽区2017年地区生产总值目标是多少？", "哪些试点提到众创空间？",
          "威县试点领导小组由谁任组长？", "房山区的地区生产总值目标是多少？"]
    pool = chunks[:40]
    answerer.answer(qs[0], retrieval(qs[0], pool[:8]))  # warm (jieba, IDF table)
    times = []
    for i in range(30):
        q = qs[i % len(qs)]
        r = retrieval(q, pool[i % 20: i % 20 + 10], is_cross="哪些" in q)
        t = time.perf_counter()
        answerer.answer(q, r)
        times.append((time.perf_counter() - t) * 1000)
    assert statistics.median(times) < 15, times


# ---------------------------------------------------------------------------------------------- verify_citations


@pytest.fixture(scope="module")
def three(chunks):
    """[1] 房山 forest goal, [2] 房山 intro (area/population), [3] 东丽 intro (area 478.8)."""
    chs = [find(chunks, "森林覆盖率达到45%"), find(chunks, "全区土地总面积 1990"), find(chunks, "总面积 478.8")]
    return retrieval("q", chs).passages


def test_verify_keeps_a_correct_citation(three):
    text, cits, grounded = verify_citations("根据房山区的方案，到2020年，森林覆盖率达到45%[1]。", three)
    assert grounded and text == "根据房山区的方案，到2020年，森林覆盖率达到45%[1]。"
    assert len(cits) == 1 and cits[0].n == 1 and cits[0].chunk_id == three[0].chunk.id
    assert norm(cits[0].quote) in norm(three[0].chunk.text)
    assert (cits[0].start_line, cits[0].end_line) == (91, 91)


def test_verify_removes_wrong_citation(three):
    # a claim about 东丽 (passage 3) citing 房山's forest goal (passage 1)
    text, cits, grounded = verify_citations("东丽区总面积478.8平方公里[1]。", three)
    assert "[1]" not in text and not cits and not grounded
    # the same claim citing the right passage is kept, and renumbered to [1]
    text, cits, grounded = verify_citations("东丽区总面积478.8平方公里[3]。", three)
    assert grounded and text == "东丽区总面积478.8平方公里[1]。"
    assert cits[0].chunk_id == three[2].chunk.id and "478.8" in cits[0].quote


def test_verify_wrong_number_is_wrong(three):
    text, cits, grounded = verify_citations("房山区全区土地总面积2000平方公里[2]。", three)
    assert not cits and not grounded and "[2]" not in text


def test_verify_out_of_range_and_none(three):
    text, cits, grounded = verify_citations("房山区森林覆盖率达到45%[7]。", three)
    assert "[7]" not in text and not cits and not grounded
    text, cits, grounded = verify_citations("房山区森林覆盖率达到45%。", three)
    assert not cits and not grounded


def test_verify_fullwidth_and_grouped_markers(three):
    raw = "到2020年，森林覆盖率达到45%［1］。房山区常住人口103.6万人【2】。东丽区总面积478.8平方公里[2,3]。"
    text, cits, grounded = verify_citations(raw, three)
    assert grounded
    assert text == "到2020年，森林覆盖率达到45%[1]。房山区常住人口103.6万人[2]。东丽区总面积478.8平方公里[3]。"
    assert [c.n for c in cits] == [1, 2, 3]
    assert cits[2].chunk_id == three[2].chunk.id
    for c in cits:
        assert norm(c.quote) in norm(next(p.chunk.text for p in three if p.chunk.id == c.chunk_id))


def test_verify_marker_after_full_stop_and_adjacent(three):
    text, cits, grounded = verify_citations("到2020年，森林覆盖率达到45%。[1][3]", three)
    assert grounded and [c.chunk_id for c in cits] == [three[0].chunk.id]
    assert text == "到2020年，森林覆盖率达到45%。[1]"


# ---------------------------------------------------------------------------------------------- chain


class KeywordRetriever:
    """A small real retriever over the real chunks (bigram overlap), standing in for HybridRetriever."""

    def __init__(self, chunks):
        self.chunks = chunks

    def retrieve(self, question, k=None, pilot=None, mode=None):
        from rag.answer import _bigrams

        qb = _bigrams(norm(question))
        pool = [c for c in self.chunks if pilot is None or c.pilot == pilot]
        ranked = sorted(pool, key=lambda c: -len(qb & _bigrams(norm(c.embed_text))))[: k or 5]
        return Retrieval(question=question, passages=[Passage(i + 1, c, 1.0 / (i + 1)) for i, c in enumerate(ranked)],
                         pilots=[pilot] if pilot else [], mode=mode or "hybrid")


def test_chain_invoke_and_stream(chunks):
    chain = build_chain(KeywordRetriever(chunks), ExtractiveAnswerer())
    ans = chain.invoke({"question": "房山2020年的森林覆盖率目标是多少？", "k": 5, "pilot": "北京市房山区"})
    assert isinstance(ans, Answer) and "45%" in ans.text
    assert set(ans.timings_ms) == {"retrieve", "answer", "total"}
    assert ans.timings_ms["total"] >= ans.timings_ms["retrieve"]
    items = list(chain.stream("北京市房山区的森林覆盖率目标是多少？"))
    assert all(isinstance(x, str) for x in items[:-1]) and isinstance(items[-1], Answer)
    assert "".join(items[:-1]) == items[-1].text
    with pytest.raises(ValueError):
        chain.invoke("   ")
