"""Smoke tests of the benchmark's pieces (no timing assertions: timings depend on the machine)."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from rag import bench as B
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
    assert B.pct([], 50) is None
    assert B.pct([1, 2, 3, 4], 50) == 2.5
    s = B.summary([10, 20, 30, 40, 50])
    assert s["n"] == 5 and s["p50"] == 30 and s["p95"] == pytest.approx(48.0) and s["mean"] == 30
    assert B.summary([])["p50"] is None


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path):
    p = tmp_path / "r" / "bench.json"
    B.atomic_write(p, "one")
    B.atomic_write(p, "two")
    assert p.read_text() == "two"
    assert [x.name for x in p.parent.iterdir()] == ["bench.json"]


def test_evidence_hit_is_normalisation_insensitive():
    assert B.evidence_hit(["到2020年，森林覆盖率达到 45%。"], ["森林覆盖率达到45%"])
    assert B.evidence_hit(["ａｂｃ"], ["abc"])  # NFKC
    assert not B.evidence_hit(["森林覆盖率达到40%"], ["森林覆盖率达到45%"])
    assert not B.evidence_hit(["anything"], ["", "  "])


def test_same_results():
    a = {"q1": ["a", "b", "c"], "q2": ["a", "b", "c"], "q3": ["x"]}
    b = {"q1": ["a", "b", "c"], "q2": ["b", "a", "d"]}
    r = B.same_results(a, b)
    assert r["questions"] == 2 and r["identical_top5_share"] == 0.5 and r["identical_top5_set_share"] == 0.5
    assert r["mean_top5_overlap"] == pytest.approx((1 + 2 / 3) / 2, abs=1e-3)


def test_naive_chunks_are_the_tutorial_splitter():
    chunks = B.naive_chunks([CORPUS])
    assert len(chunks) > 100
    assert max(len(c) for c in chunks) <= B.NAIVE_CHUNK
    assert "森林覆盖率达到45%" in "".join(chunks).replace(" ", "")


def test_naive_retriever_caches_vectors(tmp_path):
    chunks = ["房山区森林覆盖率达到45%。", "东丽区总面积478.8平方公里。", "威县城镇化率目标。"]
    e1 = HashEmbedder()
    r1 = B.NaiveRetriever(chunks, e1, cache_root=tmp_path)
    assert e1.embedded == 3 and r1.embedded == 3
    e2 = HashEmbedder()
    r2 = B.NaiveRetriever(chunks, e2, cache_root=tmp_path)
    assert e2.embedded == 0 and r2.embedded == 0  # second run: all from the cache
    assert r2.search(chunks[1], k=1) == [chunks[1]]  # identical text → identical vector → top-1
    assert len(r2.search("x", k=5)) == 3


def test_run_timed_reads_the_childs_peak_rss(tmp_path):
    code = "b = bytearray(60 * 1024 * 1024); print('ok')"
    r = B.run_timed([sys.executable, "-c", code], dict(os.environ), tmp_path, tmp_path / "c.log")
    assert r["exit"] == 0 and r["output_tail"] == ["ok"]
    assert r["peak_rss_mb"] >= 60 and r["seconds"] >= 0


def test_proc_tree_memory_counts_children():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        m = B.proc_tree_memory(os.getpid())
        assert m["processes"] >= 2 and m["rss_mb"] > 0 and m["max_hwm_mb"] >= 0
    finally:
        child.kill()
        child.wait()


def test_config_env_points_a_child_at_the_same_settings(config):
    env = B.config_env(config, PILOTQA_PORT="1234")
    assert env["PILOTQA_INDEX_DIR"] == str(config.index_dir)
    assert env["PILOTQA_CORPUS"].split(os.pathsep) == list(config.corpus)
    assert env["PILOTQA_PORT"] == "1234" and env["PILOTQA_HOST"] == "127.0.0.1"


def _fake_result(fast_p50=20.0, fast_hit=0.9, overlap=0.99):
    def qp(p50, hit, ov):
        return {"torch_threads": 1, "load_s": 1.0, "embed": {"p50": p50 / 2, "p95": p50}, "hybrid": {"p50": p50, "p95": p50},
                "answer": {"p50": p50 + 5, "p95": p50 + 9}, "hybrid_hit@5": hit, "dense_hit@5": hit,
                "hybrid_vs_st": {"identical_top5_share": ov, "identical_top5_set_share": ov, "mean_top5_overlap": ov,
                                 "questions": 10}}
    return {
        "quick": True, "errors": [],
        "env": {"started": "now", "cpu_count": 2, "loadavg_start": [0.1], "loadavg_end": [0.2]},
        "build": {"cold": {"seconds": 80.0, "peak_rss_mb": 900.0, "cpu_seconds": 100.0},
                  "rebuild_no_change": {"seconds": 9.0, "embedded": 0}},
        "load": {"model_load_s": 3.0, "index_load_first_s": 1.0, "index_load_again_s": 0.2},
        "latency": {"variants": {n: {"n": 10, "p50": 25.0, "p95": 40.0, "mean": 27.0, "errors": 0, "hit@5": 0.9,
                                     "hit_n": 10} for n in ("dense", "bm25", "hybrid", "answer", "naive")}},
        "query_paths": {"questions": 10, "errors": [],
                        "variants": {"st": qp(40.0, 0.9, 1.0), "fast": qp(fast_p50, fast_hit, overlap)}},
        "naive": {"chunks": 300, "hit@5": 0.6, "p50_ms": 20.0, "p95_ms": 30.0, "pilotqa_hit@5": 0.9,
                  "pilotqa_p50_ms": 25.0, "pilotqa_p95_ms": 40.0, "hit_ratio": 1.5, "latency_ratio": 1.25},
        "serve": {"ready_s": 20.0, "memory": {"peak_sampled_rss_mb": 1500.0},
                  "levels": {str(n): {"requests": 24, "ok": 24, "errors": 0, "throughput_rps": 5.0,
                                      "latency_p50": 200.0, "latency_p95": 400.0} for n in (1, 4, 8)}},
    }


def test_targets_table_markdown_and_recommendation():
    res = _fake_result()
    res["targets"] = B.evaluate_targets(res)
    assert all(t["met"] for t in res["targets"].values())
    res["recommendation"] = B.recommend(res)
    assert "`fast`" in res["recommendation"]
    table, md = B.format_table(res), B.format_md(res)
    for text in (table, md):
        assert "cold" in text and "naive" in text and "8 concurrent" in text
    assert "**Recommendation:**" in md

    slow = _fake_result()
    slow["latency"]["variants"]["hybrid"]["p50"] = 31.0
    slow["serve"]["levels"]["8"]["errors"] = 1
    t = B.evaluate_targets(slow)
    assert t["retrieval_p50"]["met"] is False and t["concurrency_8"]["met"] is False
    assert "MISSED" in B.format_table({**slow, "targets": t})


@pytest.mark.parametrize("kw", [{"fast_hit": 0.8}, {"overlap": 0.9}, {"fast_p50": 50.0}])
def test_recommendation_keeps_default_unless_same_results_and_faster(kw):
    res = _fake_result(**kw)
    assert B.recommend(res).startswith("keep the default")


def test_run_bench_latency_part_writes_reports(qa, config, tmp_path, capsys):
    rc = B.run_bench(config, quick=True, out_dir=tmp_path, parts=["latency"], index=qa.index, embedder=qa.embedder,
                     limit=4)
    out = capsys.readouterr().out
    assert rc == 0, out
    data = json.loads((tmp_path / "bench.json").read_text(encoding="utf-8"))
    assert set(data["latency"]["variants"]) == {"dense", "bm25", "hybrid", "answer"}
    assert all(v["n"] == 4 and v["errors"] == 0 for v in data["latency"]["variants"].values())
    assert data["targets"]["retrieval_p50"]["value"] is not None
    assert data["targets"]["cold_build"]["met"] is None  # not measured in this run
    md = (tmp_path / "bench.md").read_text(encoding="utf-8")
    assert "# PilotQA benchmark" in md and "latency hybrid" in out


def test_unknown_part_is_refused(config, tmp_path):
    with pytest.raises(ValueError, match="unknown bench parts"):
        B.run_bench(config, out_dir=tmp_path, parts=["nope"])


def test_worker_entry_needs_its_arguments():
    r = subprocess.run([sys.executable, "-m", "rag.bench"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "pilotqa bench" in r.stderr
