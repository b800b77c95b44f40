"""Smoke tests of the benchmark's pieces (no timing assertions: timings depend on the machine)."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from bench import run as B
from bench import common as C
from bench import naive as N
from bench import report as R
from rag.config import ROOT

CORPUS = ROOT / "data" / "pilots-batch2.txt"


class HashEmbedder:
    """Deterministic stand-in: vectors from text hashes (no model), counting what it embeds."""

    model_id, dim = "hash-embedder", 16

    def __init__(self):
        self.embedded = 0

    def _vec(self, t: str) -> np.ndarray:
        v = np.frombuffer(hashlib.sha256(t.encode()).digest()[:16], dtype=np.uint8).astype(np.float32) + 1
        return v / np.linalg.norm(v)

    def embed_passages(self, texts, progress=False):
        self.embedded += len(texts)
        return np.vstack([self._vec(t) for t in texts])

    def embed_queries(self, texts):
        return np.vstack([self._vec(t) for t in texts])


def test_percentiles_and_summary():
    assert C.pct([], 50) is None
    assert C.pct([1, 2, 3, 4], 50) == 2.5
    s = C.summary([10, 20, 30, 40, 50])
    assert s["n"] == 5 and s["p50"] == 30 and s["p95"] == pytest.approx(48.0) and s["mean"] == 30
    assert C.summary([])["p50"] is None


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path):
    p = tmp_path / "r" / "bench.json"
    B.atomic_write(p, "one")
    B.atomic_write(p, "two")
    assert p.read_text() == "two"
    assert [x.name for x in p.parent.iterdir()] == ["bench.json"]


def test_evidence_hit_is_normalisation_insensitive():
    assert C.evidence_hit(["到2020年，森林覆盖率达到 45%。"], ["森林覆盖率达到45%"])
    assert C.evidence_hit(["ａｂｃ"], ["abc"])  # NFKC
    assert not C.evidence_hit(["森林覆盖率达到40%"], ["森林覆盖率达到45%"])
    assert not C.evidence_hit(["anything"], ["", "  "])


def test_naive_chunks_are_the_tutorial_splitter():
    chunks = N.naive_chunks([CORPUS])
    assert len(chunks) > 100
    assert max(len(c) for c in chunks) <= N.NAIVE_CHUNK
    assert "森林覆盖率达到45%" in "".join(chunks).replace(" ", "")


def test_naive_retriever_caches_vectors(tmp_path):
    chunks = ["房山区森林覆盖率达到45%。", "东丽区总面积478.8平方公里。", "威县城镇化率目标。"]
    e1 = HashEmbedder()
    r1 = N.NaiveRetriever(chunks, e1, cache_root=tmp_path)
    assert e1.embedded == 3 and r1.embedded == 3
    e2 = HashEmbedder()
    r2 = N.NaiveRetriever(chunks, e2, cache_root=tmp_path)
    assert e2.embedded == 0 and r2.embedded == 0  # second run: all from the cache
    assert r2.search(chunks[1], k=1) == [chunks[1]]  # identical text → identical vector → top-1
    assert len(r2.search("x", k=5)) == 3


def test_run_child_reads_the_childs_peak_rss(config, built_index, tmp_path):
    code = "b = bytearray(60 * 1024 * 1024); print('ok')"
    r = C.run_child(["-c", code], dict(os.environ), tmp_path, tmp_path / "c.log", command=[sys.executable])
    assert r["exit"] == 0 and r["output"] == ["ok"] and r["seconds"] >= 0
    # with `peak`, the child is `pilotqa ARGS` run in-process, and its own VmHWM is read back
    r = C.run_child(["pilots", "--json"], C.config_env(config), ROOT, tmp_path / "p.log", peak=True)
    assert r["exit"] == 0 and r["peak_rss_mb"] and r["peak_rss_mb"] > 10


def test_proc_tree_memory_counts_children():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        m = C.proc_tree_memory(os.getpid())
        assert m["processes"] >= 2 and m["rss_mb"] > 0 and m["max_hwm_mb"] >= 0
    finally:
        child.kill()
        child.wait()


def test_config_env_points_a_child_at_the_same_settings(config):
    env = C.config_env(config, PILOTQA_PORT="1234")
    assert env["PILOTQA_INDEX_DIR"] == str(config.index_dir)
    assert env["PILOTQA_CORPUS"].split(os.pathsep) == list(config.corpus)
    assert env["PILOTQA_PORT"] == "1234" and env["PILOTQA_HOST"] == "127.0.0.1"


def _fake_result(answer_p50=30.0, load_errors=0, added=5):
    lat = {"n": 10, "p50": 25.0, "p95": 40.0, "mean": 27.0, "errors": 0, "hit@5": 0.9, "hit_n": 10}
    return {
        "quick": True, "errors": [],
        "env": {"started": "now", "cpu_count": 2, "loadavg_start": [0.1], "loadavg_end": [0.2]},
        "index": {"documents": ["pilots-batch2.txt"], "cold": {"seconds": 80.0, "peak_rss_mb": 900.0, "cpu_seconds": 100.0, "chunks": 952},
                  "rebuild_no_change": {"seconds": 9.0, "embedded": 0, "sentences_embedded": 0}},
        "documents": {"file": "基准测试补充材料.docx", "add": {"seconds": 12.0, "index_update_s": 8.0, "embedded": added, "document_chunks": 5},
                      "remove": {"seconds": 9.0, "embedded": 0}},
        "cli": {"cold_ask": {"p50_s": 1.8, "max_s": 2.0, "answered": 3, "runs": [{"seconds": 1.8}] * 3},
                "wrong_call": {"pilot": "深圳", "p50_s": 0.4, "max_s": 0.5, "refused": 3,
                               "runs": [{"seconds": 0.4}] * 3}},
        "latency": {"variants": {**{n: dict(lat) for n in ("dense", "bm25", "hybrid", "naive")},
                                 "answer": {**lat, "p50": answer_p50}}},
        "followups": {"n": 8, "errors": 0, "resolved": 8, "delta_p50_ms": 3.0,
                      "followup": {"n": 8, "p50": 33.0, "p95": 40.0, "mean": 34.0},
                      "single": {"n": 8, "p50": 30.0, "p95": 38.0, "mean": 31.0}},
        "load_test": {"clients": 32, "requests": 256, "endpoint": "POST /api/ask", "loadavg_start": [0.1],
                      "loadavg_end": [2.0],
                      "variants": {"default": {"env": {}, "throughput_rps": 20.0, "latency_p50": 900.0,
                                               "latency_p95": 1500.0, "latency_max": 1900.0, "errors": load_errors,
                                               "requests": 256, "server_rss_mb": 1400.0}}},
        "naive": {"chunks": 300, "hit@5": 0.6, "hit_n": 10, "p50_ms": 20.0, "p95_ms": 30.0, "pilotqa_hit@5": 0.9,
                  "pilotqa_p50_ms": 25.0, "pilotqa_p95_ms": 40.0},
    }


def _full_result(**kw):
    """`_fake_result` with the figures of issues 20, 21 and 23 (cold builds, facts, aggregates, the mixed load)."""
    res = _fake_result(**{k: kw[k] for k in ("answer_p50", "load_errors", "added") if k in kw})
    res["index"]["cold"].update(seconds=kw.get("cold", 6.0), facts=392, facts_seconds=0.12, shipped=4026)
    res["unshipped"] = {"seconds": 50.0, "peak_rss_mb": kw.get("rss", 700.0), "cpu_seconds": 80.0, "embedded": 952,
                        "sentences_embedded": 3319, "chunks": 952, "facts": 392, "facts_seconds": 0.13}
    res["cli"]["cold_ask"].update(p50_s=kw.get("ask", 1.1), answered=5, runs=[{"seconds": 1.1}] * 5)
    res["aggregate"] = {"n": 69, "p50": kw.get("agg", 20.0), "p95": 40.0, "mean": 22.0, "questions": 69, "rounds": 1,
                        "errors": 0, "gold_figure_stated": 60, "gold_checked": 68}
    run = {"requests": 1000, "ok": 1000, "errors": 0, "mismatches": 0, "throughput_rps": 16.0, "p50_ms": 900.0,
           "p95_ms": 1500.0, "max_ms": 2000.0, "loadavg_start": [2.0], "loadavg_end": [3.0],
           "by_kind": {"single": {"n": 10, "p50": 1.0, "p95": 2.0, "mismatches": 0}}, "mismatch_samples": []}
    hang = {**run, "p95_ms": 1500.0 * kw.get("ratio", 1.5), "mismatches": kw.get("mismatches", 0),
            "outside_document_changes": {"n": 300, "p50_ms": 900.0, "p95_ms": 1600.0}, "documents_pause_s": 7.5,
            "llm": {"requests": 8, "at_endpoint_start": 4, "pending_start": 8, "at_endpoint_end": 4, "pending_end": 8,
                    "answered": kw.get("llm_answered", 8), "fallback": 8},
            "documents": {"ops": [], "added": 2, "removed": 2}}
    res["mixed_load"] = {"clients": 32, "duration_s": 60.0, "llm_hangs": 8, "questions": 61, "document": "x.txt",
                         "by_kind": {"single": 10}, "alone": {"differ_with_document": 0, "differ_after_removal": 0},
                         "baseline": run, "hang": hang, "p95_ratio": kw.get("ratio", 1.5),
                         "p95_ratio_outside_document_changes": 1.07, "errors": []}
    return res


def test_new_figures_and_their_targets_are_reported():
    res = _full_result()
    res["targets"] = R.evaluate_targets(res)
    t = res["targets"]
    for name in ("cold_build_shipped", "cold_build_unshipped", "unshipped_peak_rss", "cold_ask_5", "facts_build",
                 "aggregate_p50", "mixed_errors", "mixed_mismatches", "hang_p95_ratio"):
        assert t[name]["met"] is True, (name, t[name])
    assert t["facts_build"]["value"] == 6.0  # the build as shipped, its fact extraction timed inside it
    table, md = R.format_table(res), R.format_md(res)
    for text in (table, md):
        assert "cold build, no shipped vectors" in text or "without shipped vectors" in text
        assert "aggregate answer" in text.lower() and "fact extraction" in text.lower()
    assert "mixed 32 clients, baseline" in table and "p95 ratio 1.50×" in table and "MISSED" not in table
    assert "Mixed load" in md and "Aggregate answers over all pilots" in md and "`PILOTQA_SHIPPED_VECTORS=0`" in md


@pytest.mark.parametrize("kw,target", [({"rss": 1100.0}, "unshipped_peak_rss"), ({"ask": 1.3}, "cold_ask_5"),
                                       ({"agg": 51.0}, "aggregate_p50"), ({"ratio": 2.1}, "hang_p95_ratio"),
                                       ({"mismatches": 1}, "mixed_mismatches"), ({"llm_answered": 7}, "mixed_errors"),
                                       ({"cold": 10.5}, "cold_build_shipped")])
def test_a_missed_new_target_is_reported(kw, target):
    res = _full_result(**kw)
    t = R.evaluate_targets(res)
    assert t[target]["met"] is False, t[target]
    assert "MISSED" in R.format_table({**res, "targets": t})


def test_cold_ask_target_needs_five_runs():
    res = _full_result()
    res["cli"]["cold_ask"].update(answered=3, runs=[{"seconds": 1.0}] * 3)
    assert R.evaluate_targets(res)["cold_ask_5"]["value"] is None


def test_mixed_questions_are_every_kind_from_dev_files_only():
    from bench import mixed as M

    reqs = M.mixed_requests(ROOT, per_kind=3)
    kinds = {r["kind"] for r in reqs}
    assert kinds == set(M.KINDS)
    assert all(r["history"] for r in reqs if r["kind"] == "followup")
    assert any(r["question"] == M.ISSUE_AGGREGATE for r in reqs)
    files = {r["key"].split(":")[0] for r in reqs}
    assert not any("test" in f for f in files), files
    assert len({r["key"] for r in reqs}) == len(reqs)


def test_hanging_llm_holds_requests_until_released():
    import http.client
    import threading
    import time

    from bench.hanging_llm import HangingLLM

    outcome = {}
    with HangingLLM() as llm:
        port = int(llm.base_url.rsplit(":", 1)[1].split("/")[0])

        def call():
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            try:
                conn.request("POST", "/v1/chat/completions", body=b"{}", headers={"Content-Type": "application/json"})
                outcome["status"] = conn.getresponse().status
            except Exception as exc:  # noqa: BLE001 - the expected end: closed without a reply
                outcome["error"] = type(exc).__name__

        t = threading.Thread(target=call)
        t.start()
        deadline = time.monotonic() + 10
        while llm.hanging < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.3)
        assert llm.hanging == 1 and llm.requests == 1 and t.is_alive()  # accepted, read, not answered
        llm.release()
        t.join(10)
        assert not t.is_alive() and "error" in outcome and llm.hanging == 0


def test_unshipped_build_embeds_everything_and_reports_facts_time(config, tmp_path):
    from bench import build as BB

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "heting-housing.txt").write_bytes((ROOT / "eval" / "docs-dev" / "heting-housing.txt").read_bytes())
    cfg = config.with_overrides(docs_dir=docs, corpus=(str(docs),), index_dir=tmp_path / "index")
    res = BB.bench_unshipped(cfg, tmp_path)
    assert res["exit"] == 0 and res["chunks"] and res["embedded"] == res["chunks"], res
    assert res["peak_rss_mb"] > 50 and res["facts_seconds"] is not None and res["shipped"] == 0
    assert not (tmp_path / "index-unshipped").exists()  # removed afterwards


def test_quick_mixed_load_and_aggregate_run(config, built_index, tmp_path):
    """Real: a private cold build, the mixed load (two short runs, 8 hanging LLM requests, a document added and
    removed through the server's knowledge-base API) and the aggregate answers, in one quick bench run."""
    rc = B.run_bench(config, quick=True, out_dir=tmp_path, parts=["build", "mixed", "aggregate"], mixed_seconds=6)
    data = json.loads((tmp_path / "bench.json").read_text(encoding="utf-8"))
    assert rc == 0, data["errors"]
    assert data["index"]["cold"]["facts_seconds"] is not None and data["index"]["cold"]["facts"] > 0
    m = data["mixed_load"]
    assert set(m["by_kind"]) == {"single", "which", "description", "followup", "compare", "aggregate"}
    for run in (m["baseline"], m["hang"]):
        assert run["requests"] > 0 and run["errors"] == 0 and run["mismatches"] == 0 and run["p95_ms"]
    h = m["hang"]
    assert h["llm"]["pending_end"] == 8 and h["llm"]["answered"] == 8  # hung through the run, answered after
    assert h["documents"]["added"] >= 1 and m["alone"]["differ_after_removal"] == 0
    assert m["p95_ratio"] > 0 and data["aggregate"]["n"] > 0 and data["aggregate"]["errors"] == 0
    t = data["targets"]
    for name in ("mixed_errors", "mixed_mismatches", "hang_p95_ratio", "aggregate_p50", "facts_build",
                 "cold_build_shipped"):
        assert t[name]["value"] is not None, name
    assert t["cold_build_unshipped"]["met"] is None  # not measured in this run
    md = (tmp_path / "bench.md").read_text(encoding="utf-8")
    assert "Mixed load" in md and "Aggregate answers over all pilots" in md


def test_targets_table_and_markdown():
    res = _full_result()
    res["targets"] = R.evaluate_targets(res)
    assert all(t["met"] for t in res["targets"].values()), res["targets"]
    table, md = R.format_table(res), R.format_md(res)
    for text in (table, md):
        assert "cold build" in text and "naive LangChain peer" in text and "32 clients" in text
    assert "MISSED" not in table


@pytest.mark.parametrize("kw,target", [({"answer_p50": 61.0}, "answer_p50"), ({"load_errors": 1}, "load_errors"),
                                       ({"added": 6}, "add_doc_embedded")])
def test_a_missed_target_is_reported(kw, target):
    res = _full_result(**kw)
    t = R.evaluate_targets(res)
    assert t[target]["met"] is False and all(v["met"] for k, v in t.items() if k != target)
    assert "MISSED" in R.format_table({**res, "targets": t})


def test_unmeasured_targets_are_dashes_not_numbers():
    t = R.evaluate_targets({"errors": []})
    assert all(v["value"] is None and v["met"] is None for v in t.values())


def test_run_bench_latency_part_writes_reports(qa, config, tmp_path, capsys):
    rc = B.run_bench(config, quick=True, out_dir=tmp_path, parts=["latency"], index=qa.index, embedder=qa.embedder,
                     limit=4)
    out = capsys.readouterr().out
    assert rc == 0, out
    data = json.loads((tmp_path / "bench.json").read_text(encoding="utf-8"))
    assert set(data["latency"]["variants"]) == {"dense", "bm25", "hybrid", "answer"}
    assert all(v["n"] == 4 and v["errors"] == 0 for v in data["latency"]["variants"].values())
    assert data["targets"]["answer_p50"]["value"] is not None
    assert data["targets"]["cold_build"]["met"] is None  # not measured in this run
    md = (tmp_path / "bench.md").read_text(encoding="utf-8")
    assert md.startswith("# PilotQA 基准测试 / benchmark") and "latency hybrid" in out


def test_unknown_part_is_refused(config, tmp_path):
    with pytest.raises(ValueError, match="unknown bench parts"):
        B.run_bench(config, out_dir=tmp_path, parts=["nope"])


def test_worker_entry_needs_its_arguments():
    r = subprocess.run([sys.executable, "-m", "bench.run"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "pilotqa bench" in r.stderr


def test_cli_part_counts_a_json_answer_and_a_refusal(config, built_index, tmp_path):
    """Real `pilotqa` child processes on the session index: the cold ask's indented JSON is read as an answer,
    the unknown pilot's one-line error (stderr) as a refusal."""
    rc = B.run_bench(config, quick=True, out_dir=tmp_path, parts=["cli"])
    data = json.loads((tmp_path / "bench.json").read_text(encoding="utf-8"))
    assert rc == 0, data["errors"]
    assert data["cli"]["cold_ask"]["answered"] == 1 and data["cli"]["wrong_call"]["refused"] == 1
    assert data["targets"]["cold_ask"]["value"] is not None and data["targets"]["wrong_call"]["value"] is not None
