"""The embedded default store: FAISS for chunk vectors, bm25s's score matrix, sentence vectors as `.npy`.

Files it adds to a build: `vectors.npy` (chunk vectors, the backend-independent copy), `dense.faiss`,
`sentences.npy` (every chunk's candidate-sentence vectors, chunk after chunk), `sentence_offsets.npy` and the
BM25 matrix (`rag.index.store.lexical`; a build made before it was saved fits bm25s at load instead).

Flat or HNSW: exact inner product (`IndexFlatIP`) costs linear time per query; past `Config.hnsw_min_chunks`
chunks (where a flat query passes 10 ms on a 2-core machine, measured by `pilotqa bench --scale`) the build
switches to `IndexHNSWFlat` and the manifest says so and why. `faiss_index=flat|hnsw` forces either.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Sequence

import numpy as np

from rag.config import Config
from rag.index.store.base import FIX, BuildData, Index, fill_missing
from rag.index.store.errors import StoreError
from rag.index.store.lexical import FILES as BM25_FILES
from rag.index.store.lexical import MatrixBM25, write_bm25
from rag.index.store.manifest import Manifest
from rag.index.store.tokens import tokenize

FLAT_LIMIT_MS = 10.0
FILES = ("vectors.npy", "dense.faiss", "sentences.npy", "sentence_offsets.npy")


def choose_index(n: int, config: Config) -> dict:
    """Which FAISS index a build of `n` chunks gets, and the reason recorded in the manifest."""
    forced = str(config.faiss_index or "auto")
    limit = int(config.hnsw_min_chunks)
    if forced in ("flat", "hnsw"):
        return {"type": forced, "why": f"faiss_index={forced} was configured"}
    if forced != "auto":
        raise StoreError(f"unknown faiss_index {forced!r} (choose auto, flat, hnsw)")
    if limit > 0 and n >= limit:
        return {"type": "hnsw", "why": f"{n} chunks >= hnsw_min_chunks {limit}: above that size a flat query "
                                       f"passes {FLAT_LIMIT_MS:g} ms on 2 cores (pilotqa bench --scale)"}
    return {"type": "flat", "why": f"{n} chunks < hnsw_min_chunks {limit}: exact flat search stays under "
                                   f"{FLAT_LIMIT_MS:g} ms per query"}


def matvec(x: np.ndarray, q: np.ndarray) -> np.ndarray:
    """`x @ q` on one thread. numpy's `@` hands a matrix-vector product of a few thousand rows to OpenBLAS's
    threads, which under concurrent queries on 2 cores wait for each other: measured 12-14 ms for 2-10k
    rows against 0.05-0.35 ms for this single-threaded SIMD loop. A server gets its parallelism from
    concurrent requests, not from splitting one product."""
    return np.einsum("ij,j->i", x, q)


def flat_probe_ms(vectors: np.ndarray, queries: int = 5) -> float:
    """Median time of one exact query over `vectors` (the matrix-vector product a flat index costs)."""
    rng = np.random.default_rng(0)
    picks = vectors[rng.integers(0, len(vectors), size=min(queries, len(vectors)))]
    times = []
    for q in picks:
        t = time.perf_counter()
        _ = matvec(vectors, q)
        times.append((time.perf_counter() - t) * 1000)
    return round(float(np.median(times)), 3) if times else 0.0


def _storage_view(dense) -> np.ndarray:
    """The float32 rows a flat or HNSW-flat index stores, as a numpy view (no copy)."""
    import faiss  # faiss loads only with an index

    flat = faiss.downcast_index(dense.storage) if hasattr(dense, "hnsw") else dense
    return faiss.rev_swig_ptr(flat.get_xb(), dense.ntotal * dense.d).reshape(dense.ntotal, dense.d)


class FaissIndex(Index):
    """Chunks, the FAISS index (`dense`), a bm25s model and the sentence vectors, all in this process."""

    backend = "faiss"

    def __init__(self, path: Path, manifest: Manifest, chunks, tokens, gazetteer, dense, sentences: np.ndarray,
                 offsets: np.ndarray, build_id: str = "", bm25=None):
        super().__init__(path, manifest, chunks, tokens, gazetteer, build_id)
        self.dense = dense  # kept public: older callers reconstruct the matrix from it
        self._vecs = _storage_view(dense)
        self._hnsw = hasattr(dense, "hnsw")
        if self._hnsw:
            dense.hnsw.efSearch = int((manifest.store.get("dense") or {}).get("ef_search", 256))
        self._sentences, self._offsets = sentences, offsets
        if bm25 is None:  # an index built before the matrix was saved
            import bm25s  # bm25s loads only for such an index

            bm25 = bm25s.BM25()
            bm25.index(tokens, show_progress=False)
        self.bm25 = bm25

    # ------------------------------------------------------------------ build side

    @classmethod
    def write(cls, data: BuildData, out: Path, config: Config) -> dict:
        import faiss  # faiss loads only with an index

        n, d = data.vectors.shape
        vectors = np.ascontiguousarray(data.vectors, dtype=np.float32)
        np.save(out / "vectors.npy", vectors, allow_pickle=False)
        choice = choose_index(n, config)
        t = time.perf_counter()
        if choice["type"] == "hnsw":
            m = int(config.hnsw_m)
            dense = faiss.IndexHNSWFlat(d, m, faiss.METRIC_INNER_PRODUCT)
            dense.hnsw.efConstruction = int(config.hnsw_ef_construction)
            choice.update(m=m, ef_construction=dense.hnsw.efConstruction,
                          ef_search=int(config.hnsw_ef_search))
        else:
            dense = faiss.IndexFlatIP(d)
        dense.add(vectors)
        choice.update(n=n, index_seconds=round(time.perf_counter() - t, 2), flat_probe_ms=flat_probe_ms(vectors),
                      hnsw_min_chunks=int(config.hnsw_min_chunks))
        faiss.write_index(dense, str(out / "dense.faiss"))
        np.save(out / "sentences.npy", np.ascontiguousarray(data.sentence_vectors, dtype=np.float32), allow_pickle=False)
        np.save(out / "sentence_offsets.npy", np.asarray(data.sentence_offsets, dtype=np.int64), allow_pickle=False)
        write_bm25(data.tokens, out)
        return {"backend": cls.backend, "dense": choice}

    # ------------------------------------------------------------------ load side

    @classmethod
    def _open(cls, link, real, manifest, chunks, tokens, gazetteer, build_id):
        import faiss  # faiss loads only with an index

        missing = [f for f in FILES if f not in manifest.files]
        if missing:
            raise StoreError(f"The index at {link} does not list {missing[0]} in its manifest: {FIX} again.")
        try:
            dense = faiss.read_index(str(real / "dense.faiss"))
            # only the header is read here: the check is of the shape, the data stays on disk
            vectors = np.load(real / "vectors.npy", allow_pickle=False, mmap_mode="r")
            sentences = np.load(real / "sentences.npy", allow_pickle=False)
            offsets = np.load(real / "sentence_offsets.npy", allow_pickle=False)
            bm25 = MatrixBM25(real) if all(f in manifest.files for f in BM25_FILES) else None
        except Exception as exc:
            raise StoreError(f"索引已损坏，无法读取：{link}，请重新运行 `pilotqa build`（The index at {link} could not be read ({type(exc).__name__}): {FIX} again.）") from None
        n, dim = len(chunks), manifest.dim
        if dense.d != dim or vectors.shape[1:] != (dim,) or sentences.ndim != 2 or sentences.shape[1] != dim:
            raise StoreError(f"The index at {link} holds {dense.d}-dim vectors but its manifest says {dim} "
                             f"(model {manifest.model_id}): {FIX} again.")
        if not (dense.ntotal == n == len(vectors)) or offsets.shape != (n + 1,) or int(offsets[-1]) != len(sentences) \
                or (n and (int(offsets[0]) != 0 or np.any(np.diff(offsets) < 0))):
            raise StoreError(f"索引已损坏（内容前后不一致）：{link}，请重新运行 `pilotqa build`（The index at {link} is inconsistent: {FIX} again.）")
        if bm25 is not None and bm25.num_docs != n:
            raise StoreError(f"索引已损坏（内容前后不一致）：{link}，请重新运行 `pilotqa build`（The index at {link} is inconsistent: {FIX} again.）")
        return cls(link, manifest, chunks, tokens, gazetteer, dense, sentences, offsets, build_id=build_id, bm25=bm25)

    # ------------------------------------------------------------------ scoring

    def dense_scores(self, qvec: np.ndarray, pilots: list[str] | None = None) -> np.ndarray:
        q = self._query(qvec)
        if not self._hnsw:
            return matvec(self._vecs, q)  # exact for every chunk, cheaper than any restriction at this size
        rows = self._rows(pilots)
        if rows is not None:  # a pilot's few chunks: exact, straight from the stored rows
            return fill_missing(len(self.chunks), rows, matvec(self._vecs[rows], q))
        top = min(len(self.chunks), int((self.manifest.store.get("dense") or {}).get("ef_search", 256)))
        scores, ids = self.dense.search(q.reshape(1, -1), top)
        keep = ids[0] >= 0
        return fill_missing(len(self.chunks), ids[0][keep], scores[0][keep])

    def bm25_scores(self, query: str, pilots: list[str] | None = None) -> np.ndarray:
        # bm25s scores every chunk at once; the pilot restriction is applied by the caller's candidates
        toks = tokenize(query)
        if not toks:
            return np.zeros(len(self.chunks), dtype=np.float32)
        return np.asarray(self.bm25.get_scores(toks), dtype=np.float32)

    def sentence_vectors(self, chunk_ids: Sequence[str]) -> dict[str, np.ndarray]:
        return self._sentence_slices(self._sentences, self._offsets, chunk_ids)

