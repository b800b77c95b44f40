"""The Milvus backend on Milvus Lite (a real embedded Milvus, no mocks), against the FAISS backend.

One Milvus build of the default corpus per session (from a copy of the corpus, so that one test can edit a
line); the embedding cache of the session's FAISS index is copied in, so nothing is embedded twice.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pymilvus", reason="the milvus extra is not installed (pip install -e '.[milvus]')")
pytest.importorskip("milvus_lite", reason="the milvus extra is not installed (pip install -e '.[milvus]')")

from rag.config import ROOT  # noqa: E402
from rag.index.store import Index, StoreError, build_index  # noqa: E402

CORPUS = ROOT / "data" / "pilots-batch2.txt"
FOREST_Q = "房山区2020年的森林覆盖率目标是多少？"


@pytest.fixture(scope="session")
def milvus_config(config, built_index, tmp_path_factory):
    root = tmp_path_factory.mktemp("milvus")
    (root / "corpus").mkdir()
    shutil.copy(CORPUS, root / "corpus" / CORPUS.name)
    shutil.copytree(Path(config.index_dir) / ".cache", root / "index" / ".cache")
    return config.with_overrides(store="milvus", index_dir=root / "index", milvus_uri=str(root / "milvus.db"),
                                 corpus=(str(root / "corpus" / CORPUS.name),))


@pytest.fixture(scope="session")
def milvus_index(milvus_config, embedder):
    report = build_index(milvus_config, progress=False, embedder=embedder)
    assert report.embedded == 0 and report.store["sync"]["chunks"]["upserted"] == report.chunks
    return Index.load(milvus_config.index_path, expect=milvus_config)


@pytest.fixture(scope="session")
def gold_questions():
    with open(ROOT / "eval" / "gold.jsonl", encoding="utf-8") as fh:
        return [json.loads(line)["question"] for line in fh if line.strip()][:60]


def test_milvus_scores_equal_faiss(milvus_index, built_index, embedder, gold_questions):
    """Dense and BM25 scores for every chunk agree with FAISS + bm25s on real questions."""
    assert type(milvus_index).__name__ == "MilvusIndex" and milvus_index.manifest.store["backend"] == "milvus"
    assert [c.id for c in milvus_index.chunks] == [c.id for c in built_index.chunks]
    for q, v in zip(gold_questions, embedder.embed_queries(gold_questions)):
        assert np.allclose(milvus_index.dense_scores(v), built_index.dense_scores(v), atol=1e-5), q
        assert np.allclose(milvus_index.bm25_scores(q), built_index.bm25_scores(q), rtol=1e-4, atol=1e-4), q


def test_milvus_and_faiss_retrieve_the_same_passages(milvus_index, built_index, embedder, config, gold_questions):
    from rag.retrieval.hybrid import HybridRetriever

    ra = HybridRetriever.from_config(built_index, embedder, config)
    rb = HybridRetriever.from_config(milvus_index, embedder, config)
    same, questions = 0, gold_questions[::2]  # Milvus Lite is pure Python: ~0.1 s a search
    for q in questions:
        a = [p.chunk.id for p in ra.retrieve(q, k=5).passages]
        b = [p.chunk.id for p in rb.retrieve(q, k=5).passages]
        same += a == b
    assert same == len(questions), f"{same}/{len(questions)} identical top-5"


def test_milvus_pilot_filter(milvus_index, built_index, embedder):
    q = embedder.embed_queries([FOREST_Q])[0]
    pilot = built_index.chunks[int(np.argmax(built_index.dense_scores(q)))].pilot
    rows = [i for i, c in enumerate(built_index.chunks) if c.pilot == pilot]
    others = [i for i, c in enumerate(built_index.chunks) if c.pilot != pilot]
    d = milvus_index.dense_scores(q, pilots=[pilot])
    assert np.allclose(d[rows], built_index.dense_scores(q)[rows], atol=1e-5)
    assert d[others].max() <= d[rows].min()  # not returned: the minimum returned score
    b = milvus_index.bm25_scores(FOREST_Q, pilots=[pilot])
    assert np.allclose(b[rows], built_index.bm25_scores(FOREST_Q)[rows], rtol=1e-4, atol=1e-4)
    assert np.all(milvus_index.dense_scores(q, pilots=["没有这个试点"]) == -1.0)


def test_milvus_sentence_vectors_equal_faiss(milvus_index, built_index):
    ids = [c.id for c in built_index.chunks[::40]]
    a, b = built_index.sentence_vectors(ids), milvus_index.sentence_vectors(ids)
    assert set(a) == set(b) == set(ids)
    assert all(a[i].shape == b[i].shape and np.allclose(a[i], b[i], atol=1e-6) for i in ids)


def test_milvus_incremental_updates(milvus_config, milvus_index, embedder, built_index):
    """Nothing changed: nothing written. One line changed: only the affected ids are upserted/deleted, and
    BM25 over Milvus after the update still equals bm25s over the changed corpus."""
    report = build_index(milvus_config, progress=False, embedder=embedder)
    assert {k: (v["upserted"], v["deleted"]) for k, v in report.store["sync"].items()} == \
        {"chunks": (0, 0), "sentences": (0, 0)}
    path = Path(milvus_config.corpus[0])
    original = path.read_text(encoding="utf-8")
    assert original.count("森林覆盖率达到45%") >= 1
    path.write_text(original.replace("森林覆盖率达到45%", "森林覆盖率达到47%", 1), encoding="utf-8")
    try:
        changed = build_index(milvus_config, progress=False, embedder=embedder)
        chunks = changed.store["sync"]["chunks"]
        assert 1 <= chunks["upserted"] <= 3 and chunks["deleted"] == chunks["upserted"], chunks
        assert chunks["unchanged"] == changed.chunks - chunks["upserted"]
        assert changed.store["sync"]["sentences"]["upserted"] <= 12
        assert changed.store["bm25"]["why"].startswith("kept")  # same avgdl epoch: no other row rewritten
        m = Index.load(milvus_config.index_path, expect=milvus_config)
        faiss_cfg = milvus_config.with_overrides(store="faiss", index_name="changed-faiss")
        build_index(faiss_cfg, progress=False, embedder=embedder)
        f = Index.load(faiss_cfg.index_path, expect=faiss_cfg)
        for q in (FOREST_Q, "森林覆盖率达到47%", "城镇化率"):
            assert np.allclose(m.bm25_scores(q), f.bm25_scores(q), rtol=1e-4, atol=1e-4), q
        top = m.chunks[int(np.argmax(m.bm25_scores("森林覆盖率达到47%")))]
        assert "47%" in top.text
    finally:
        path.write_text(original, encoding="utf-8")
    back = build_index(milvus_config, progress=False, embedder=embedder)
    assert back.store["sync"]["chunks"]["upserted"] == chunks["upserted"]


def test_milvus_missing_collection_is_a_one_line_error(milvus_config, milvus_index, tmp_path):
    mf = milvus_config.index_path.resolve() / "manifest.json"
    data = json.loads(mf.read_text(encoding="utf-8"))
    data["store"]["collections"]["chunks"] = "pilotqa_no_such_collection"
    copy = tmp_path / "default"
    shutil.copytree(milvus_config.index_path.resolve(), copy)
    (copy / "manifest.json").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(StoreError) as e:
        Index.load(copy)
    assert "pilotqa build" in str(e.value) and "\n" not in str(e.value)


def test_milvus_lite_in_use_by_another_process_is_a_one_line_error(milvus_config, milvus_index):
    """This test process holds the Milvus Lite database; a second process says so in one line."""
    env = dict(os.environ, PILOTQA_STORE="milvus", PILOTQA_MILVUS_URI=milvus_config.milvus_uri,
               PILOTQA_INDEX_DIR=str(milvus_config.index_dir), PILOTQA_CORPUS=milvus_config.corpus[0])
    r = subprocess.run([sys.executable, "-m", "rag.cli", "search", FOREST_Q], env=env, cwd=ROOT,
                       capture_output=True, text=True, timeout=180)
    assert r.returncode == 2 and "another process" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_bad_milvus_uri_is_a_one_line_error(config):
    from rag.index.store.milvus_backend import uri_of

    with pytest.raises(StoreError, match="neither"):
        uri_of(config.with_overrides(milvus_uri="/tmp/not-a-db-file"))
    with pytest.raises(StoreError, match="unknown store"):
        build_index(config.with_overrides(store="elastic"), progress=False)
