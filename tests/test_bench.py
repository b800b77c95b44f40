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


def test_targets_table_and_markdown():
    res = _fake_result()
    res["targets"] = R.evaluate_targets(res)
    assert all(t["met"] for t in res["targets"].values()), res["targets"]
    table, md = R.format_table(res), R.format_md(res)
    for text in (table, md):
        assert "cold build" in text and "naive LangChain peer" in text and "32 clients" in text
    assert "MISSED" not in table


@pytest.mark.parametrize("kw,target", [({"answer_p50": 61.0}, "answer_p50"), ({"load_errors": 1}, "load_errors"),
                                       ({"added": 6}, "add_doc_embedded")])
def test_a_missed_target_is_reported(kw, target):
    res = _fake_result(**kw)
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
