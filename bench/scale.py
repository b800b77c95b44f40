"""`pilotqa bench --scale 1,10,100`: the store at 1×, 10× and 100× today's chunks, per backend.

SYNTHETIC DATA. Copy 0 of a corpus is the real index (chunks, vectors, tokens, sentence vectors); copies
1…f−1 are clones of every chunk with the pilot names shuffled among the pilots and marked `·合成<copy>`,
new ids, and vectors derived from the real ones (each vector plus Gaussian noise, σ = 0.01 per dimension,
then L2-normalised: cosine ≈ 0.98 to its source) — nothing is embedded, so 95k chunks cost seconds, not
hours. Their BM25 tokens are the source chunk's with the pilot-name tokens swapped for the new pilot's.

For every (factor, variant) one child process synthesises the data and builds the index through the real
backend code (`write_build`), and a fresh one loads it and times queries, so build time, peak RSS (each
child's own VmHWM), RSS after loading and disk size belong to that variant alone. Variants: `faiss-flat`,
`faiss-hnsw` (both forced, whatever `hnsw_min_chunks` says) and `milvus-lite`. Queries are real gold
questions embedded once by the real model; what is timed is the store's part of a query: `dense_scores` + `bm25_scores` + the weighted min-max fusion and top 5 (query
embedding excluded, it does not depend on the store). `recall@10` compares each variant's dense top 10
with exact inner products over the same vectors.

A separate sweep (`crossover`) times one exact flat query (`matvec`, what `FaissIndex.dense_scores`
does on a flat index) on vector-only corpora up to 400k rows, to place the 10 ms crossing that
`Config.hnsw_min_chunks` encodes.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Sequence

import numpy as np

from rag.config import Config

VARIANTS = ("faiss-flat", "faiss-hnsw", "milvus-lite")
NOISE = 0.01
CROSSOVER_SIZES = (50_000, 100_000, 150_000, 200_000, 300_000, 400_000)
LIMIT_MS = 10.0


# --------------------------------------------------------------------------- synthetic data


def _noisy(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    y = x + rng.standard_normal(x.shape, dtype=np.float32) * np.float32(NOISE)
    return (y / np.linalg.norm(y, axis=1, keepdims=True)).astype(np.float32)


def synthetic_data(source, factor: int, seed: int = 0):
    """BuildData with `factor` × the chunks of the loaded index `source` (see the module docstring)."""
    from rag.index.store import BuildData  # the index loads only for a command that needs it
    from rag.index.store.tokens import tokenize  # the index loads only for a command that needs it

    rng = np.random.default_rng(seed)
    n = len(source.chunks)
    vecs = np.load(Path(source.path) / "vectors.npy", allow_pickle=False)  # a FAISS build's chunk vectors
    ids = [c.id for c in source.chunks]
    svec = source.sentence_vectors(ids)
    sent_counts = [len(svec[i]) for i in ids]
    sents = np.vstack([svec[i] for i in ids]) if sum(sent_counts) else np.zeros((0, vecs.shape[1]), np.float32)
    pilots = list(dict.fromkeys(c.pilot for c in source.chunks))
    name_tokens = {p: set(tokenize(p)) for p in pilots}
    chunks, tokens, vectors, svecs, counts = [], [], [], [], []
    for copy in range(factor):
        perm = dict(zip(pilots, rng.permutation(pilots))) if copy else {p: p for p in pilots}
        for c, toks in zip(source.chunks, source.tokens):
            if copy == 0:
                chunks.append(c)
                tokens.append(toks)
                continue
            new = perm[c.pilot]
            cid = hashlib.sha1(f"synthetic|{copy}|{c.id}".encode()).hexdigest()[:12]
            chunks.append(replace(c, id=cid, pilot=f"{new}·合成{copy}"))
            tokens.append([t for t in toks if t not in name_tokens[c.pilot]] + sorted(name_tokens[new]) + [f"合成{copy}"])
        vectors.append(vecs if copy == 0 else _noisy(vecs, rng))
        svecs.append(sents if copy == 0 else _noisy(sents, rng) if len(sents) else sents)
        counts.extend(sent_counts)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    keys = [hashlib.sha256(f"{source.manifest.model_id}|{c.id}".encode()).hexdigest() for c in chunks]
    skeys = [hashlib.sha256(f"{c.id}:{j}".encode()).hexdigest()
             for c, k in zip(chunks, counts) for j in range(k)]
    return BuildData(name="scale", chunks=chunks, vectors=np.vstack(vectors), tokens=tokens, chunk_keys=keys,
                     sentence_vectors=np.vstack(svecs), sentence_offsets=offsets, sentence_keys=skeys,
                     gazetteer=source.gazetteer, model_id=source.manifest.model_id)


# --------------------------------------------------------------------------- one variant (child process)


def _config_for(variant: str, base: Config, work: Path) -> Config:
    cfg = base.with_overrides(index_dir=work / "index", index_name="scale")
    if variant == "milvus-lite":
        return cfg.with_overrides(store="milvus", milvus_uri=str(work / "milvus.db"))
    return cfg.with_overrides(store="faiss", faiss_index=variant.split("-")[1])


def _dir_mb(*paths: Path) -> float:
    total = 0
    for p in paths:
        if p.is_file():
            total += p.stat().st_size
        elif p.is_dir():
            total += sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
    return round(total / 2**20, 1)


def _rss_mb(field: str = "VmRSS") -> float:
    """This process's resident memory (`VmHWM`: its peak). Read here, in the child, because the rusage a
    parent gets from `wait4` starts from the parent's own peak at fork (the kernel carries it over exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def _fuse_top(d: np.ndarray, b: np.ndarray, k: int = 5) -> np.ndarray:
    """The retriever's default fusion (0.6 × min-max dense + 0.4 × min-max BM25) and its top k."""
    def mm(x):
        lo, hi = float(x.min()), float(x.max())
        return (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)
    f = 0.6 * mm(d.astype(np.float64)) + 0.4 * mm(b.astype(np.float64))
    top = np.argpartition(-f, min(k, len(f) - 1))[:k]
    return top[np.argsort(-f[top])]


def _meta(base: Config, data, factor: int) -> dict:
    return {"corpus": [{"path": "synthetic", "sha256": "", "n_lines": 0, "kind": "synthetic"}],
            "embed_model": base.embed_model, "chunking": {"synthetic": factor},
            "counts": {"pilots": len({c.pilot for c in data.chunks}), "sources": 0}}


def build_variant(variant: str, factor: int, source_dir: Path, work: Path, queries: Path) -> dict:
    """Child 1: synthesise the data, build it with one backend, and note each query's exact dense top 10."""
    from rag.index.store import Index, write_build  # the index loads only for a command that needs it
    from rag.index.store.faiss_backend import matvec  # the index loads only for a command that needs it

    base = Config.from_env(index_dir=source_dir.parent, index_name=source_dir.name)
    source = Index.load(source_dir)
    data = synthetic_data(source, factor)
    source.close()
    del source
    cfg = _config_for(variant, base, work)
    t0 = time.perf_counter()
    write_build(cfg, data, _meta(base, data, factor))
    build_s = time.perf_counter() - t0
    qv = np.asarray(json.loads(queries.read_text(encoding="utf-8"))["vectors"], dtype=np.float32)
    exact = [np.argpartition(-matvec(data.vectors, v), 10)[:10].tolist() for v in qv]
    (work / "exact_top10.json").write_text(json.dumps(exact), encoding="utf-8")
    return {"variant": variant, "factor": factor, "chunks": len(data.chunks),
            "sentences": int(data.sentence_offsets[-1]), "build_s": round(build_s, 2),
            "build_peak_rss_mb": _rss_mb("VmHWM"),
            "disk_mb": _dir_mb(cfg.index_path.resolve(), Path(cfg.milvus_uri) if variant == "milvus-lite" else work / "-")}


def query_variant(variant: str, factor: int, source_dir: Path, work: Path, queries: Path) -> dict:
    """Child 2, a fresh process: load the built index and time the store's part of each query."""
    from rag.index.store import Index  # the index loads only for a command that needs it

    base = Config.from_env(index_dir=source_dir.parent, index_name=source_dir.name)
    cfg = _config_for(variant, base, work)
    t1 = time.perf_counter()
    idx = Index.load(cfg.index_path)
    load_s = time.perf_counter() - t1
    rss_loaded = _rss_mb()
    q = json.loads(queries.read_text(encoding="utf-8"))
    exact = json.loads((work / "exact_top10.json").read_text(encoding="utf-8"))
    total, dense_t, bm25_t, recall = [], [], [], []
    for text, v, want in zip(q["texts"], np.asarray(q["vectors"], dtype=np.float32), exact):
        a = time.perf_counter()
        d = idx.dense_scores(v)
        b = time.perf_counter()
        s = idx.bm25_scores(text)
        c = time.perf_counter()
        _fuse_top(d, s)
        e = time.perf_counter()
        total.append((e - a) * 1000)
        dense_t.append((b - a) * 1000)
        bm25_t.append((c - b) * 1000)
        recall.append(len(set(want) & set(np.argpartition(-d, 10)[:10].tolist())) / 10)
    out = {"load_s": round(load_s, 2), "rss_after_load_mb": rss_loaded, "query_peak_rss_mb": _rss_mb("VmHWM"),
           "dense_type": (idx.manifest.store.get("dense") or {}).get("type"),
           "retrieval": _summary(total), "dense": _summary(dense_t), "bm25": _summary(bm25_t),
           "dense_recall@10": round(float(np.mean(recall)), 4)}
    idx.close()
    return out


def _summary(xs: Sequence[float]) -> dict:
    return {"n": len(xs), "p50": round(float(np.percentile(xs, 50)), 2), "p95": round(float(np.percentile(xs, 95)), 2)}


# --------------------------------------------------------------------------- the sweep and the whole run


def _timed(fn, *args) -> float:
    t = time.perf_counter()
    fn(*args)
    return (time.perf_counter() - t) * 1000


def crossover(source_dir: Path, sizes: Sequence[int] = CROSSOVER_SIZES, queries: int = 100) -> dict:
    """p50 of one exact flat query (`matvec`, as `FaissIndex.dense_scores` runs it) and of FAISS's own
    `IndexFlatIP.search(k=100)` per size."""
    import faiss  # faiss loads only with an index

    from rag.index.store.faiss_backend import matvec  # the index loads only for a command that needs it

    base = np.load(source_dir / "vectors.npy")
    rng = np.random.default_rng(1)
    rows = []
    for n in sizes:
        reps = -(-n // len(base))
        x = np.vstack([base] + [_noisy(base, rng) for _ in range(reps - 1)])[:n]
        qs = _noisy(base[rng.integers(0, len(base), queries)], rng)
        flat = faiss.IndexFlatIP(x.shape[1])
        flat.add(x)
        mat = [_timed(matvec, x, v) for v in qs]
        srch = [_timed(flat.search, v.reshape(1, -1), 100) for v in qs]
        # right after a multi-threaded OpenMP call, whose threads spin on for a while: what a query pays
        # when its scores follow its embedding (torch, also OpenMP)
        after = [(_timed(flat.search, v.reshape(1, -1), 100), _timed(matvec, x, v))[1] for v in qs]
        rows.append({"n": n, "flat_scores_p50_ms": round(float(np.median(mat)), 2),
                     "flat_scores_after_omp_p50_ms": round(float(np.median(after)), 2),
                     "faiss_search_p50_ms": round(float(np.median(srch)), 2)})
        del x, flat
    over = [r["n"] for r in rows if r["flat_scores_p50_ms"] > LIMIT_MS]
    over_after = [r["n"] for r in rows if r["flat_scores_after_omp_p50_ms"] > LIMIT_MS]
    return {"rows": rows, "limit_ms": LIMIT_MS, "first_size_over_limit": over[0] if over else None,
            "first_size_over_limit_after_omp": over_after[0] if over_after else None}


def run_scale(config: Config, factors: Sequence[int], work: Path, questions: Sequence[str], embedder=None,
              variants: Sequence[str] = VARIANTS, timeout: float = 1800.0, log=print,
              crossover_sizes: Sequence[int] = CROSSOVER_SIZES) -> dict:
    """Every (factor, variant) in its own child process, then the crossover sweep. Needs a built index."""
    from rag.index.store import Index  # the index loads only for a command that needs it

    source = Index.load(config.index_path, expect=config)
    if source.manifest.backend != "faiss":
        raise ValueError("bench --scale derives its data from a FAISS index: build one with --store faiss")
    source_dir = config.index_path.resolve()
    if embedder is None:
        from rag.index.embeddings import load_embedder  # the embedding model loads only to embed

        embedder = load_embedder(config.embed_model, config.model_cache)
    work.mkdir(parents=True, exist_ok=True)
    qfile = work / "scale-queries.json"
    qfile.write_text(json.dumps({"texts": list(questions),
                                 "vectors": embedder.embed_queries(list(questions)).tolist()}), encoding="utf-8")
    res: dict = {"synthetic": "copy 0 = the real index; copies 1…f−1: pilot names shuffled and marked ·合成<n>, "
                              f"vectors = real + N(0, {NOISE}²) noise, renormalised (nothing embedded)",
                 "source_chunks": len(source.chunks), "questions": len(questions), "results": [], "errors": []}
    for factor in factors:
        for variant in variants:
            log(f"[bench] scale {factor}× {variant}…")
            vwork = work / f"scale-{factor}-{variant}"
            out = vwork / "result.json"
            vwork.mkdir(parents=True, exist_ok=True)
            row: dict = {}
            for step in ("build", "query"):
                cmd = [sys.executable, "-m", "bench.scale", "--child", step, variant, str(factor), str(source_dir),
                       str(vwork), str(qfile), str(out)]
                try:
                    with open(vwork / f"{step}.log", "wb") as fh:
                        proc = subprocess.Popen(cmd, cwd=str(config.root), stdout=fh, stderr=subprocess.STDOUT)
                        status = _wait(proc, timeout)
                except TimeoutError:
                    res["errors"].append(f"{factor}× {variant} {step}: timed out after {timeout:.0f} s")
                    break
                if os.waitstatus_to_exitcode(status) != 0 or not out.exists():
                    tail = (vwork / f"{step}.log").read_text(encoding="utf-8", errors="replace").strip().splitlines()[-1:]
                    res["errors"].append(f"{factor}× {variant} {step}: failed ({' '.join(tail)})")
                    break
                row.update(json.loads(out.read_text(encoding="utf-8")))
                out.unlink()
            else:
                res["results"].append(row)
            shutil.rmtree(vwork / "index", ignore_errors=True)
            shutil.rmtree(vwork / "milvus.db", ignore_errors=True)
    log("[bench] flat-search crossover sweep…")
    res["crossover"] = crossover(source_dir, crossover_sizes)
    res["crossover"]["hnsw_min_chunks"] = config.hnsw_min_chunks
    return res


def _wait(proc: subprocess.Popen, timeout: float):
    deadline = time.monotonic() + timeout
    while True:
        pid, status = os.waitpid(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return status
        if time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            raise TimeoutError
        time.sleep(0.2)


# --------------------------------------------------------------------------- report


def table_rows(res: dict) -> list[tuple[str, str]]:
    rows = []
    for r in res.get("results", []):
        rows.append((f"scale {r['factor']}× {r['variant']} ({r['chunks']} chunks)",
                     f"build {r['build_s']} s, disk {r['disk_mb']} MB, RSS loaded {r['rss_after_load_mb']} MB, "
                     f"retrieval p50 {r['retrieval']['p50']} / p95 {r['retrieval']['p95']} ms, "
                     f"recall@10 {r['dense_recall@10']}"))
    co = res.get("crossover")
    if co:
        last = f"> {co['rows'][-1]['n']}"
        rows.append(("flat query passes 10 ms at", f"{co.get('first_size_over_limit') or last} vectors alone, "
                                                   f"{co.get('first_size_over_limit_after_omp') or last} after an "
                                                   f"OpenMP call (hnsw_min_chunks {co.get('hnsw_min_chunks')})"))
    return rows


def format_md(res: dict) -> list[str]:
    lines = ["## Scale (synthetic corpora, `pilotqa bench --scale`)", "",
             f"**Synthetic data:** {res['synthetic']}. Source: {res['source_chunks']} real chunks; "
             f"{res['questions']} real gold questions embedded once. Timed: the store's part of a query "
             "(`dense_scores` + `bm25_scores` + fusion + top 5), query embedding excluded. Each row is its own "
             "pair of child processes: one builds (its peak RSS = VmHWM, synthesis included), a fresh one loads and queries "
             "(RSS loaded = VmRSS after `Index.load`); disk = build folder + Milvus Lite data.", "",
             "| factor | store | chunks | sentences | build s | build peak RSS MB | disk MB | load s | RSS loaded MB "
             "| retrieval p50 ms | p95 ms | dense p50 | BM25 p50 | dense recall@10 |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in res.get("results", []):
        lines.append(f"| {r['factor']}× | {r['variant']} | {r['chunks']} | {r['sentences']} | {r['build_s']} | "
                     f"{r['build_peak_rss_mb']} | {r['disk_mb']} | {r['load_s']} | {r['rss_after_load_mb']} | "
                     f"{r['retrieval']['p50']} | {r['retrieval']['p95']} | {r['dense']['p50']} | {r['bm25']['p50']} | "
                     f"{r['dense_recall@10']} |")
    co = res.get("crossover")
    if co:
        lines += ["", f"Flat-search crossover (one exact query over N vectors; the {co['limit_ms']:g} ms line that "
                      f"`hnsw_min_chunks` = {co.get('hnsw_min_chunks')} encodes):", "",
                  "| vectors | flat `dense_scores` p50 ms, alone | right after an OpenMP call | "
                  "FAISS `IndexFlatIP.search(k=100)` p50 ms |", "|---|---|---|---|"]
        lines += [f"| {r['n']} | {r['flat_scores_p50_ms']} | {r.get('flat_scores_after_omp_p50_ms')} | "
                  f"{r['faiss_search_p50_ms']} |" for r in co["rows"]]
    for e in res.get("errors", []):
        lines.append(f"\n- failed: {e}")
    return lines + [""]


def _child(argv: list[str]) -> None:
    step, variant, factor, source, work, queries, out = argv
    fn = {"build": build_variant, "query": query_variant}[step]
    res = fn(variant, int(factor), Path(source), Path(work), Path(queries))
    Path(out).write_text(json.dumps(res), encoding="utf-8")


if __name__ == "__main__":
    if len(sys.argv) == 9 and sys.argv[1] == "--child":
        _child(sys.argv[2:])
    else:
        sys.exit("usage: pilotqa bench --scale 1,10,100 (this module's --child entry is for the bench itself)")
