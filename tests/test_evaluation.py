"""Evaluation on a hand-made gold file with a scripted `run` returning hand-made records.

The scripted run is the evaluator's input (records in the stable batch format), so every metric value
below is exact and worked out by hand in the comments.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.evaluation import (
    EvalError,
    compare,
    evaluate,
    format_summary,
    load_gold,
    parse_compare,
    percentile,
    write_report,
)

A, B, C, D = "北京市房山区", "河北省威县", "上海市浦东新区（临港地区）", "湖南省津市市—澧县"
ALIASES = {A: ["房山区", "房山"], B: ["威县", "河北威县"], C: ["浦东新区", "临港"], D: ["津市市", "澧县"]}

GOLD_LINES = [
    # line 1: number — hit at rank 1; gold written fullwidth, corpus/answer halfwidth
    json.dumps({"id": "q-num", "question": "房山区2025年常住人口城镇化率定为多少？", "answers": ["４５％"],
                "pilot": A, "section": "一、总体要求", "evidence": "城镇化率达到４５％", "type": "number"},
               ensure_ascii=False),
    # line 2: fact — hit at rank 3 (rank 1 has the same words but in another pilot's plan)
    json.dumps({"id": "q-fact", "question": "威县计划新增就业多少人？", "answers": ["10万"],
                "pilot": B, "section": None, "evidence": ["新增城镇就业10万人"], "type": "fact"},
               ensure_ascii=False),
    # line 3: malformed JSON
    '{"id": "q-bad", "question": "坏行", ',
    # line 4: number — retrieval miss and a wrong refusal
    json.dumps({"id": "q-miss", "question": "临港地区研发投入强度目标？", "answers": ["4.5%"],
                "pilot": C, "section": None, "evidence": "研发投入强度达到4.5%", "type": "number"},
               ensure_ascii=False),
    "",
    # line 6: missing field `type`
    json.dumps({"id": "q-notype", "question": "没有类型", "answers": []}, ensure_ascii=False),
    # line 7: cross — 2 of 3 evidence strings retrieved; answer names 2 of 3 gold pilots + 1 wrong one
    json.dumps({"id": "q-cross", "question": "哪些试点推广智慧供暖？", "answers": ["智慧供暖"],
                "pilot": [A, B, C], "section": None,
                "evidence": ["房山推广智慧供暖", "威县智慧供暖改造", "临港智慧供暖示范"], "type": "cross"},
               ensure_ascii=False),
    # line 8: unanswerable — correctly refused
    json.dumps({"id": "q-unans", "question": "房山区2040年GDP目标是多少？", "answers": [],
                "pilot": A, "section": None, "evidence": None, "type": "unanswerable"}, ensure_ascii=False),
]


def P(rank, cid, pilot, text, section="一、总体要求", lines=(1, 2), score=1.0):
    return {"rank": rank, "chunk_id": cid, "pilot": pilot, "section": section,
            "start_line": lines[0], "end_line": lines[1], "score": score, "text": text}


def Cit(n, cid, pilot, quote):
    return {"n": n, "chunk_id": cid, "pilot": pilot, "section": "s", "start_line": 1, "end_line": 2,
            "quote": quote}


FILLER = "推进新型城镇化建设，完善基础设施。"

RECORDS = {
    "房山区2025年常住人口城镇化率定为多少？": {
        "answer": "到2025年，常住人口城镇化率达到45%。[1]", "answerable": True,
        "citations": [Cit(1, "a1", A, "常住人口城镇化率达到 45%")],          # valid (whitespace only)
        "passages": [P(1, "a1", A, "到2025年，常住人口城镇化率达到45%，户籍人口城镇化率提高。"),
                     P(2, "a2", A, FILLER)],
        "timings_ms": {"retrieve": 10, "answer": 90, "total": 100},
    },
    "威县计划新增就业多少人？": {
        "answer": "威县计划新增城镇就业10 万人。[1][2]", "answerable": True,
        "citations": [Cit(1, "b3", B, "新增城镇就业１０万人"),                 # valid (fullwidth digits)
                      Cit(2, "b2", B, "这句话不在段落里")],                    # invalid: quote not in passage
        "passages": [P(1, "x1", D, "全县新增城镇就业10万人。"),                # other pilot: not a hit
                     P(2, "b2", B, FILLER),
                     P(3, "b3", B, "“十四五”期间，新增城镇就业 10 万人。")],
        "timings_ms": {"retrieve": 20, "answer": 180, "total": 200},
    },
    "临港地区研发投入强度目标？": {
        "answer": "未在文件中找到相关内容。", "answerable": False, "citations": [],
        "passages": [P(1, "c1", C, FILLER), P(2, "c2", C, "研发投入强度稳步提升。")],
        "timings_ms": {"retrieve": 30, "answer": 270, "total": 300},
    },
    "哪些试点推广智慧供暖？": {
        "answer": "北京市房山区[1]和威县推广智慧供暖；澧县[2]也提到了。", "answerable": True,
        "citations": [Cit(1, "a9", A, "房山推广智慧供暖"),                     # valid
                      Cit(2, "zz", D, "澧县智慧供暖")],                         # invalid: chunk not retrieved
        "passages": [P(1, "a9", A, "房山推广智慧供暖，建设热网。"),
                     P(2, "b9", B, "实施威县智慧供暖改造工程。"),
                     P(3, "d9", D, "临港智慧供暖示范"),                         # right words, wrong pilot
                     P(4, "c9", C, FILLER)],
        "timings_ms": {"retrieve": 40, "answer": 360, "total": 400},
    },
    "房山区2040年GDP目标是多少？": {
        "answer": "文件中没有这方面的内容。", "answerable": False, "citations": [],
        "passages": [P(1, "a1", A, "到2025年，常住人口城镇化率达到45%。")],
        "timings_ms": {"retrieve": 50, "answer": 950, "total": 1000},
    },
}


def scripted_run(question: str, settings: dict) -> dict:
    assert isinstance(settings, dict)
    return json.loads(json.dumps(RECORDS[question]))


@pytest.fixture()
def gold_file(tmp_path) -> Path:
    p = tmp_path / "gold.jsonl"
    p.write_text("\n".join(GOLD_LINES) + "\n", encoding="utf-8")
    return p


@pytest.fixture()
def result(gold_file):
    items, _ = load_gold(gold_file)
    return evaluate(items, scripted_run, {"mode": "hybrid", "k": 5}, progress=False, aliases=ALIASES)


def test_load_gold_reports_malformed_lines_and_keeps_the_rest(gold_file):
    items, problems = load_gold(gold_file)
    assert [i.id for i in items] == ["q-num", "q-fact", "q-miss", "q-cross", "q-unans"]
    assert [i.line for i in items] == [1, 2, 4, 7, 8]
    assert len(problems) == 2
    assert ":3:" in problems[0] and "bad JSON" in problems[0]
    assert ":6:" in problems[1] and "type" in problems[1]
    assert items[1].evidence == ("新增城镇就业10万人",) and items[0].pilots == (A,)
    assert items[4].evidence == () and items[3].pilots == (A, B, C)


def test_load_gold_wrong_types_and_duplicates(tmp_path):
    p = tmp_path / "g.jsonl"
    rows = [
        {"id": "a", "question": "q", "answers": ["x"], "pilot": None, "section": None, "evidence": "e",
         "type": "fact"},
        {"id": "b", "question": "q", "answers": "x", "type": "fact"},          # answers not a list
        {"id": "c", "question": "q", "answers": [], "type": "opinion"},        # unknown type
        {"id": "d", "question": "q", "answers": [], "pilot": 3, "type": "fact"},  # pilot wrong type
        {"id": "a", "question": "q2", "answers": [], "type": "fact"},          # duplicate id
        ["not", "an", "object"],
    ]
    p.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    items, problems = load_gold(p)
    assert [i.id for i in items] == ["a"]
    assert [pr.split(":")[-2] for pr in problems] == ["2", "3", "4", "5", "6"]
    assert "duplicate" in problems[3]


def test_load_gold_missing_or_empty_file(tmp_path):
    with pytest.raises(EvalError, match="not found"):
        load_gold(tmp_path / "nope.jsonl")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n  \n", encoding="utf-8")
    with pytest.raises(EvalError, match="empty"):
        load_gold(empty)
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{nope\n", encoding="utf-8")
    with pytest.raises(EvalError, match="no usable"):
        load_gold(bad)


def test_overall_metrics_exact(result):
    m = result.metrics["overall"]
    assert m["n"] == 5 and m["errors"] == 0
    # single-pilot answerable: q-num first hit rank 1, q-fact rank 3 (rank 1 is another pilot), q-miss none
    assert m["hit@1"] == pytest.approx(1 / 3)
    assert m["hit@5"] == pytest.approx(2 / 3)
    assert m["mrr@10"] == pytest.approx((1 + 1 / 3 + 0) / 3)
    # cross: 2 of 3 evidence strings in the gold pilots' passages (the 3rd is in a wrong pilot's passage)
    assert m["cross_evidence_recall"] == pytest.approx(2 / 3)
    assert m["cross_passages_mean"] == 4
    # "４５％" vs "45%", "10万" vs "10 万": both correct; q-miss refused → incorrect
    assert m["answer_accuracy"] == pytest.approx(2 / 3)
    # named: 北京市房山区 (full), 威县 (alias of B), 澧县 (alias of D, not gold); C missing
    assert m["cross_pilot_recall"] == pytest.approx(2 / 3)
    assert m["cross_pilot_precision"] == pytest.approx(2 / 3)
    # citations: q-num 1/1, q-fact 1/2, q-cross 1/2 → 3/5
    assert m["citations_total"] == 5
    assert m["citation_validity"] == pytest.approx(3 / 5)
    # evidence cited: q-num yes, q-fact yes (b3), q-miss no
    assert m["evidence_citation_share"] == pytest.approx(2 / 3)
    assert m["unanswerable_refused"] == 1.0
    assert m["answerable_wrongly_refused"] == pytest.approx(1 / 4)
    # totals 100,200,300,400,1000: p50 = 300; p95 at position 3.8 → 400 + 0.8*600 = 880
    assert m["total_ms_p50"] == 300 and m["total_ms_p95"] == pytest.approx(880)
    assert m["retrieve_ms_p50"] == 30 and m["retrieve_ms_p95"] == pytest.approx(48)
    assert m["answer_ms_p50"] == 270 and m["answer_ms_p95"] == pytest.approx(360 + 0.8 * 590)


def test_per_type_metrics(result):
    bt = result.metrics["by_type"]
    assert set(bt) == {"number", "fact", "cross", "unanswerable"}
    assert bt["number"]["n"] == 2 and bt["number"]["hit@1"] == 0.5 and bt["number"]["mrr@10"] == 0.5
    assert bt["number"]["answer_accuracy"] == 0.5 and bt["number"]["answerable_wrongly_refused"] == 0.5
    assert bt["fact"]["hit@1"] == 0.0 and bt["fact"]["hit@5"] == 1.0
    assert bt["fact"]["mrr@10"] == pytest.approx(1 / 3) and bt["fact"]["citation_validity"] == 0.5
    assert bt["cross"]["hit@1"] is None and bt["cross"]["answer_accuracy"] is None
    assert bt["cross"]["cross_pilot_recall"] == pytest.approx(2 / 3)
    assert bt["unanswerable"]["unanswerable_refused"] == 1.0
    assert bt["unanswerable"]["answerable_wrongly_refused"] is None
    assert bt["unanswerable"]["citation_validity"] is None      # no citations at all
    assert bt["number"]["cross_evidence_recall"] is None


def test_failures_and_reasons(result):
    fails = {o.item.id: o.reasons for o in result.failures}
    assert set(fails) == {"q-fact", "q-miss", "q-cross"}
    assert any("quote not in passage" in r for r in fails["q-fact"])
    assert any("retrieval miss" in r for r in fails["q-miss"])
    assert "wrongly refused" in fails["q-miss"]
    joined = " ".join(fails["q-cross"])
    assert "not retrieved" in joined and "retrieval miss" in joined
    assert C in joined and "wrong pilots named" in joined and D in joined


def test_unanswerable_not_refused_is_a_failure(tmp_path):
    p = tmp_path / "g.jsonl"
    p.write_text(GOLD_LINES[7] + "\n", encoding="utf-8")
    items, _ = load_gold(p)
    res = evaluate(items, lambda q, s: {**RECORDS[q], "answerable": True, "answer": "大约1000亿元"},
                   {}, progress=False)
    assert res.overall["unanswerable_refused"] == 0.0
    assert res.failures[0].reasons == ["not refused (question is unanswerable)"]


def test_run_error_counts_against_every_metric(gold_file):
    items, _ = load_gold(gold_file)

    def flaky(q, s):
        if q.startswith("房山区2025"):
            raise RuntimeError("LLM down")
        return scripted_run(q, s)

    res = evaluate(items, flaky, {}, progress=False, aliases=ALIASES)
    m = res.overall
    assert m["errors"] == 1
    assert m["hit@1"] == 0.0 and m["answer_accuracy"] == pytest.approx(1 / 3)
    assert m["answerable_wrongly_refused"] == pytest.approx(2 / 4)
    assert m["total_ms_p50"] == 350                                     # errored question has no timing
    err = next(o for o in res.failures if o.item.id == "q-num")
    assert err.reasons == ["run error: RuntimeError: LLM down"]


def test_pilot_mentions_longest_first():
    """`长沙市望城区` must not also count as `长沙市`."""
    from rag.evaluation import GoldItem, score_question

    item = GoldItem("x", "q", (), ("湖南省长沙市望城区", "浙江省嘉兴市"), (), (), "cross")
    rec = {"answer": "湖南省长沙市望城区和嘉兴市都在推进。", "answerable": True, "citations": [], "passages": []}
    o = score_question(item, rec, aliases={"湖南省长沙市": ["长沙市", "长沙"], "浙江省嘉兴市": ["嘉兴市"]},
                       known_pilots=["湖南省长沙市"])
    assert o.pilot_recall == 1.0 and o.pilot_precision == 1.0


def test_province_name_is_not_read_as_a_pilot():
    """`天津市…` names no pilot, even though the pilot 津市 (湖南省津市市—澧县) is inside it."""
    from rag.evaluation import GoldItem, score_question

    item = GoldItem("x", "q", (), ("天津市东丽区",), (), (), "cross")
    rec = {"answer": "天津市东丽区[1]和天津市滨海新区都提到了。", "answerable": True, "citations": [], "passages": []}
    o = score_question(item, rec, aliases={"天津市东丽区": ["东丽区"], "湖南省津市市—澧县": ["津市市", "津市"]})
    assert o.pilot_recall == 1.0 and o.pilot_precision == 1.0


def test_percentile():
    assert percentile([], 50) is None
    assert percentile([7], 95) == 7
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([4, 1, 3, 2], 95) == pytest.approx(3.85)


def test_parse_compare():
    assert parse_compare("mode=dense,bm25,hybrid") == [{"mode": "dense"}, {"mode": "bm25"}, {"mode": "hybrid"}]
    v = parse_compare("mode=dense,bm25; k=5,10", base={"answerer": "extractive", "k": 8})
    assert len(v) == 4
    assert v[0] == {"answerer": "extractive", "k": 5, "mode": "dense"}
    assert v[-1] == {"answerer": "extractive", "k": 10, "mode": "bm25"}
    assert parse_compare("x=0.5,true,none") == [{"x": 0.5}, {"x": True}, {"x": None}]
    for bad in ("", "mode", "mode=", "=a", "k=1;k=2"):
        with pytest.raises(EvalError):
            parse_compare(bad)


def test_compare_and_report(gold_file, tmp_path):
    items, _ = load_gold(gold_file)
    seen = []

    def run(q, s):
        seen.append(dict(s))
        rec = scripted_run(q, s)
        if s["mode"] == "bm25":              # a worse variant: no passages at all
            rec["passages"], rec["citations"] = [], []
        return rec

    variants = parse_compare("mode=hybrid,bm25", base={"k": 5})
    results = compare(items, run, variants, progress=False, aliases=ALIASES)
    assert [r.label for r in results] == ["mode=hybrid", "mode=bm25"]
    assert {"k": 5, "mode": "bm25"} in seen
    assert results[1].overall["hit@5"] == 0.0 and results[1].overall["citation_validity"] is None

    text = format_summary(results)
    assert "mode=hybrid" in text and "mode=bm25" in text and "hit@1" in text and "0.333" in text

    out = tmp_path / "reports"
    paths = write_report(results, out, "smoke")
    assert paths == {"json": out / "smoke.json", "md": out / "smoke.md", "png": out / "smoke.png"}
    assert sorted(x.name for x in out.iterdir()) == ["smoke.json", "smoke.md", "smoke.png"]  # no temp files

    data = json.loads(paths["json"].read_text(encoding="utf-8"))
    assert [v["settings"] for v in data["variants"]] == variants
    v0 = data["variants"][0]
    assert v0["metrics"]["overall"]["hit@1"] == pytest.approx(1 / 3)
    assert set(v0["metrics"]["by_type"]) == {"number", "fact", "cross", "unanswerable"}
    f = {x["id"]: x for x in v0["failures"]}
    assert set(f) == {"q-fact", "q-miss", "q-cross"}
    assert f["q-miss"]["expected"]["answers"] == ["4.5%"] and f["q-miss"]["got"]["answerable"] is False
    assert f["q-fact"]["top_passages"][0]["pilot"] == D and len(f["q-cross"]["top_passages"]) == 3

    md = paths["md"].read_text(encoding="utf-8")
    assert "| 指标 | mode=hybrid | mode=bm25 |" in md
    for row in ("首位命中 hit@1", "前五命中 hit@5", "MRR@10", "跨试点证据召回", "回答准确率", "跨试点：试点召回",
                "跨试点：试点精确率", "引用有效率", "引用含证据", "无答案问题拒答率", "可答问题误拒率",
                "总计 p50（毫秒）", "总计 p95（毫秒）"):
        assert f"| {row} |" in md
    assert "| 首位命中 hit@1 | 0.333 | 0.000 |" in md
    assert "## 分类型" in md and "| 跨试点 |" in md
    fail_part = md.split("## 失败明细", 1)[1]
    for qid in ("q-fact", "q-miss", "q-cross"):
        assert f"**{qid}**" in fail_part
    assert "**q-num**" in fail_part           # fails only in the bm25 variant (no passages)
    assert f"{C} · 一、总体要求 · 第 1-2 行 · " in fail_part

    png = paths["png"].read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 1000


def test_write_report_single_result_and_bad_name(result, tmp_path):
    paths = write_report(result, tmp_path, "one")
    md = paths["md"].read_text(encoding="utf-8")
    assert "| 指标 | mode=hybrid, k=5 |" in md
    assert "**q-num**" not in md.split("## 失败明细", 1)[1]
    with pytest.raises(EvalError):
        write_report(result, tmp_path, "../x")


def test_cross_evidence_aligned_with_pilots():
    """evidence[i] belongs to pilot[i] when the lists have equal length."""
    from rag.evaluation import GoldItem, score_question

    item = GoldItem("x", "q", (), (A, B), (), ("一融双新工程", "一融双新 工程"), "cross")
    rec = {"answer": "", "answerable": True, "citations": [],
           "passages": [P(1, "a", A, "实施“一融双新工程”"), P(2, "d", D, "实施一融双新工程")]}
    assert score_question(item, rec).cross_recall == 0.5
    item3 = GoldItem("y", "q", (), (A, B), (), ("一融双新工程",), "cross")   # unaligned: any gold pilot
    assert score_question(item3, rec).cross_recall == 1.0


# ------------------------------------------------------------------------ the new types, tags and blind reports

E, F = "内蒙古自治区包头市", "山西省孝义市"
ALIASES2 = {**ALIASES, E: ["包头市", "包头"], F: ["孝义市", "孝义"]}

NEW_GOLD = [
    # overview: right when at least half of the gold heading titles are named
    {"id": "ov-ok", "question": "给我讲讲包头市的试点方案", "answers": ["总体目标", "主要任务", "保障措施"],
     "pilot": E, "section": "引言", "evidence": "国境线 88 公里", "type": "overview", "tags": ["overview"]},
    {"id": "ov-short", "question": "孝义市的方案都讲了些什么", "answers": ["总体目标", "主要任务", "保障措施"],
     "pilot": F, "section": "引言", "evidence": "太原都市圈节点城市", "type": "overview", "tags": ["overview"]},
    # count: the gold number as a whole number (59 is not in 159)
    {"id": "cnt-ok", "question": "名单上总共几个试点城市和城镇", "answers": ["59"], "pilot": None, "section": None,
     "evidence": None, "type": "count"},
    {"id": "cnt-bad", "question": "试点名单一共多少个地方", "answers": ["59"], "pilot": None, "section": None,
     "evidence": None, "type": "count"},
    # compare: "" = the pilot's document does not say; it must be marked 文件未提及
    {"id": "cmp-ok", "question": "包头和孝义2020年户籍城镇化率各定了多少", "answers": ["", "65%"],
     "pilot": [E, F], "section": ["", "一、总体目标"], "evidence": ["", "户籍人口城镇化率达到65%以上"],
     "type": "compare"},
    {"id": "cmp-unmarked", "question": "包头孝义两地户籍城镇化率目标对照", "answers": ["", "65%"],
     "pilot": [E, F], "section": ["", "一、总体目标"], "evidence": ["", "户籍人口城镇化率达到65%以上"],
     "type": "compare"},
    {"id": "cmp-uncited", "question": "孝义和包头的常住城镇化率2020年目标", "answers": ["80%", "85%"],
     "pilot": [F, E], "section": ["一、总体目标", "一、总体目标"],
     "evidence": ["常住人口城镇化率达到80%以上", "常住人口城镇化率达到85%"], "type": "compare"},
    # follow-ups: the history goes to `run`; scored like a number / an unanswerable question
    {"id": "fu", "history": ["包头2020年常住城镇化率的目标？"], "question": "那2017年定的是多少？",
     "answers": ["84%"], "pilot": E, "section": "一、总体目标", "evidence": "常住人口城镇化率达到84%",
     "type": "followup"},
    {"id": "fu-no", "history": ["包头2020年常住城镇化率的目标？"], "question": "它在森林覆盖率上定了什么目标？",
     "answers": [], "pilot": E, "section": None, "evidence": None, "type": "followup_unanswerable",
     "tags": ["trap-measure"]},
    # traps: unanswerable questions tagged trap-*; one refused, one answered
    {"id": "trap-y", "question": "包头2030年常住城镇化率计划是多少", "answers": [], "pilot": E, "section": None,
     "evidence": None, "type": "unanswerable", "tags": ["trap-year"]},
    {"id": "trap-q", "question": "包头户籍城镇化率2020年要到几成", "answers": [], "pilot": E, "section": None,
     "evidence": None, "type": "unanswerable", "tags": ["trap-qualifier"]},
    {"id": "plain-no", "question": "上海迪士尼的年接待量是多少", "answers": [], "pilot": None, "section": None,
     "evidence": None, "type": "unanswerable"},
]

BT = "包头市地处祖国北疆，北与蒙古国接壤，国境线 88 公里。"
XY = "到2020年常住人口城镇化率达到80%以上，户籍人口城镇化率达到65%以上。"
BT20 = "到2020年，常住人口城镇化率达到85%。"


def rec(answer, answerable=True, citations=(), passages=()):
    return {"answer": answer, "answerable": answerable, "citations": list(citations), "passages": list(passages),
            "timings_ms": {"retrieve": 1, "answer": 1, "total": 2}}


NEW_RECORDS = {
    "ov-ok": rec("包头市：一、总体目标：…[1]。二、主要任务：…。", citations=[Cit(1, "e1", E, "国境线 88 公里")],
                 passages=[P(1, "e1", E, BT, section="引言")]),
    "ov-short": rec("孝义市：一、总体目标：…。", passages=[P(1, "f1", F, "孝义市是太原都市圈节点城市。", section="引言")]),
    "cnt-ok": rec("文件共列出59个试点：……"),
    "cnt-bad": rec("文件共列出159个试点：……"),
    "cmp-ok": rec(f"{E}：文件未提及。\n{F}：户籍人口城镇化率达到65%以上[1]。",
                  citations=[Cit(1, "f2", F, "户籍人口城镇化率达到65%以上")], passages=[P(1, "f2", F, XY)]),
    "cmp-unmarked": rec(f"{F}：户籍人口城镇化率达到65%以上[1]。",
                        citations=[Cit(1, "f2", F, "户籍人口城镇化率达到65%以上")], passages=[P(1, "f2", F, XY)]),
    "cmp-uncited": rec(f"{F}：常住人口城镇化率达到80%以上[1]。\n{E}：常住人口城镇化率达到85%。",
                       citations=[Cit(1, "f2", F, "常住人口城镇化率达到80%以上")],
                       passages=[P(1, "f2", F, XY), P(2, "e2", E, BT20)]),
    "fu": rec("到2017年，常住人口城镇化率达到84%[1]。", citations=[Cit(1, "e3", E, "常住人口城镇化率达到84%")],
              passages=[P(1, "e3", E, "到2017年，常住人口城镇化率达到84%；" + BT20)]),
    "fu-no": rec("文件中没有找到相关内容。", answerable=False),
    "trap-y": rec("文件中没有找到相关内容。", answerable=False),
    "trap-q": rec("到2020年，常住人口城镇化率达到85%。"),                         # a trap that caught it
    "plain-no": rec("文件中没有找到相关内容。", answerable=False),
}


@pytest.fixture()
def new_gold(tmp_path) -> Path:
    p = tmp_path / "dialog-mini.jsonl"
    p.write_text("\n".join(json.dumps(d, ensure_ascii=False) for d in NEW_GOLD) + "\n", encoding="utf-8")
    return p


@pytest.fixture()
def new_result(new_gold):
    items, problems = load_gold(new_gold)
    assert not problems
    by_question = {it.question: it for it in items}
    calls = []

    def run(question, settings, **extra):
        item = by_question[question]
        calls.append((item.id, extra.get("history")))
        return json.loads(json.dumps(NEW_RECORDS[item.id]))

    res = evaluate(items, run, {}, progress=False, aliases=ALIASES2)
    res.calls = calls
    return res


def test_new_types_are_scored(new_result):
    o = {x.item.id: x for x in new_result.outcomes}
    assert o["ov-ok"].correct is True and o["ov-short"].correct is False          # 2 of 3 titles; 1 of 3
    assert o["cnt-ok"].correct is True and o["cnt-bad"].correct is False          # 159 is not 59
    assert o["cmp-ok"].correct is True
    assert o["cmp-unmarked"].correct is False
    assert any("文件未提及" in r for r in o["cmp-unmarked"].reasons)
    assert o["cmp-uncited"].correct is False
    assert any(f"{E}: not cited" in r for r in o["cmp-uncited"].reasons)
    assert o["fu"].correct is True and o["fu"].hit1 is True
    assert o["fu-no"].refused is True and not o["fu-no"].reasons
    bt = new_result.metrics["by_type"]
    assert bt["overview"]["answer_accuracy"] == 0.5 and bt["count"]["answer_accuracy"] == 0.5
    assert bt["compare"]["compare_accuracy"] == pytest.approx(1 / 3)
    assert bt["followup"]["answer_accuracy"] == 1.0
    assert bt["followup_unanswerable"]["unanswerable_refused"] == 1.0
    m = new_result.overall
    # refusal types: fu-no, trap-y, plain-no refused; trap-q answered → 3/4
    assert m["unanswerable_refused"] == pytest.approx(3 / 4)
    # traps: fu-no (trap-measure) and trap-y refused, trap-q answered → 2/3; plain-no has no trap tag
    assert m["traps_refused"] == pytest.approx(2 / 3)
    assert m["compare_accuracy"] == pytest.approx(1 / 3)


def test_history_reaches_run_only_for_dialogue_items(new_result):
    calls = dict(new_result.calls)
    assert calls["fu"] == ["包头2020年常住城镇化率的目标？"]
    assert calls["fu-no"] == ["包头2020年常住城镇化率的目标？"]
    assert calls["trap-y"] is None and calls["ov-ok"] is None


def test_by_tag_groups(new_result):
    tags = new_result.metrics["by_tag"]
    assert set(tags) == {"overview", "trap-measure", "trap-year", "trap-qualifier"}
    assert tags["overview"]["n"] == 2 and tags["overview"]["answer_accuracy"] == 0.5
    assert tags["trap-qualifier"]["traps_refused"] == 0.0
    assert tags["trap-year"]["traps_refused"] == 1.0


def test_compare_gold_keeps_parallel_empty_entries(new_gold):
    items, _ = load_gold(new_gold)
    cmp = next(i for i in items if i.id == "cmp-ok")
    assert cmp.pilots == (E, F) and cmp.raw_answers == ("", "65%") and cmp.evidence == ("", "户籍人口城镇化率达到65%以上")
    assert cmp.to_dict()["answers"] == ["", "65%"]


def _no_question_text(text: str, items) -> None:
    for it in items:
        assert it.question not in text, it.id
        for h in it.history:
            assert h not in text, it.id


def test_blind_report_has_aggregates_only(new_gold, new_result, tmp_path):
    items, _ = load_gold(new_gold)
    open_paths = write_report(new_result, tmp_path / "open", "dev")
    blind_paths = write_report(new_result, tmp_path / "blind", "dialog-mini", blind=True)
    # the ordinary report names the failing questions (so the check below can fail)
    assert "孝义市的方案都讲了些什么" in open_paths["md"].read_text(encoding="utf-8")
    for kind in ("json", "md"):
        text = blind_paths[kind].read_text(encoding="utf-8")
        _no_question_text(text, items)
        for r in NEW_RECORDS.values():  # no answer either
            assert r["answer"] not in text
    data = json.loads(blind_paths["json"].read_text(encoding="utf-8"))
    assert data["blind"] is True and all("failures" not in v for v in data["variants"])
    assert data["variants"][0]["metrics"]["overall"]["traps_refused"] == pytest.approx(2 / 3)
    md = blind_paths["md"].read_text(encoding="utf-8")
    assert "盲测集" in md and "## 失败明细" not in md and "| 标签 trap-year |" in md


def test_blind_cli_prints_no_question_text(qa, monkeypatch, capsys, tmp_path):
    """`pilotqa eval --blind` on the session's real pipeline: what it prints and stores is aggregates only."""
    import rag.cli.backend
    import rag.cli.main

    gold = tmp_path / "mini-test.jsonl"
    rows = [
        {"id": "b1", "question": "包头市的国境线长多少公里？", "answers": ["88"], "pilot": E, "section": "引言",
         "evidence": "国境线 88 公里", "type": "number"},
        {"id": "b2", "question": "包头2035年常住城镇化率打算到多少？", "answers": [], "pilot": E, "section": None,
         "evidence": None, "type": "unanswerable", "tags": ["trap-year"]},
        {"id": "b3", "history": ["孝义市2020年常住城镇化率打算到多少？"], "question": "换成2017年又是多少？",
         "answers": ["75%"], "pilot": F, "section": "一、总体目标", "evidence": "到2017年常住人口城镇化率达到75%以上",
         "type": "followup"},
    ]
    gold.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n{broken line\n",
                    encoding="utf-8")
    monkeypatch.setattr(rag.cli.backend, "open_pipeline", lambda cfg: qa)
    out_dir = tmp_path / "reports"
    rc = rag.cli.main.main(["eval", "--blind", "--gold", str(gold), "--reports-dir", str(out_dir), "--quiet"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert "盲测" in out and "回答准确率" in out and "陷阱问题拒答率" in out
    assert "a malformed line" in err and "broken" not in err
    items, _ = load_gold(gold)
    stored = [p.read_text(encoding="utf-8") for p in sorted(out_dir.glob("mini-test.*")) if p.suffix != ".png"]
    assert len(stored) == 2
    for text in (out, err, *stored):
        _no_question_text(text, items)
    data = json.loads((out_dir / "mini-test.json").read_text(encoding="utf-8"))
    overall = data["variants"][0]["metrics"]["overall"]
    # the real pipeline: the figure is found, the year trap refused, the follow-up resolved
    assert overall["answer_accuracy"] == 1.0 and overall["traps_refused"] == 1.0
