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
    json.dumps({"id": "q-num", "question": "房山区2025年常住人口城镇化率目标是多少？", "answers": ["４５％"],
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
    "房山区2025年常住人口城镇化率目标是多少？": {
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
    assert "| metric | mode=hybrid | mode=bm25 |" in md
    for row in ("hit@1", "hit@5", "MRR@10", "cross evidence recall", "answer accuracy", "cross pilot recall",
                "cross pilot precision", "citation validity", "evidence cited", "unanswerable refused",
                "answerable wrongly refused", "total p50 (ms)", "total p95 (ms)"):
        assert f"| {row} |" in md
    assert "| hit@1 | 0.333 | 0.000 |" in md
    assert "## Per question type" in md and "| cross |" in md
    fail_part = md.split("## Failures", 1)[1]
    for qid in ("q-fact", "q-miss", "q-cross"):
        assert f"**{qid}**" in fail_part
    assert "**q-num**" in fail_part           # fails only in the bm25 variant (no passages)
    assert f"{C} · 一、总体要求 · lines 1-2 · " in fail_part

    png = paths["png"].read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 1000


def test_write_report_single_result_and_bad_name(result, tmp_path):
    paths = write_report(result, tmp_path, "one")
    md = paths["md"].read_text(encoding="utf-8")
    assert "| metric | mode=hybrid, k=5 |" in md
    assert "**q-num**" not in md.split("## Failures", 1)[1]
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
