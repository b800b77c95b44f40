"""The naive LangChain peer of `pilotqa bench`: the tutorial pipeline a user would otherwise start from.

RecursiveCharacterTextSplitter(500, 50) over each whole document, the same embedding model as PilotQA,
FAISS IndexFlatIP, dense top 5: no pilot structure, no BM25, no question analysis. Its hit@5 beside
PilotQA's on the same questions (same rule: `bench_common.hit_at_5`) is what the structure buys.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Sequence

import numpy as np

NAIVE_CHUNK, NAIVE_OVERLAP = 500, 50


def naive_chunks(paths: Sequence[str | Path], chunk_size: int = NAIVE_CHUNK, overlap: int = NAIVE_OVERLAP) -> list[str]:
    """The tutorial splitter over each text document (the peer reads files as text, as the tutorial does)."""
    # the naive peer's splitter loads only for the benchmark
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    from rag.corpus import expand_paths  # the evaluation loads only for this command

    splitter = RecursiveCharacterTextSplitter(chunk_size=chunk_size, chunk_overlap=overlap)
    out: list[str] = []
    for p in expand_paths(list(paths)):
        if Path(p).suffix.lower() in (".txt", ".md"):
            out.extend(splitter.split_text(Path(p).read_text(encoding="utf-8")))
    return out


class NaiveRetriever:
    """Dense-only FAISS over the naive chunks, with the bench's embedder (its passage side), top k.

    `cache_root` keeps the peer's vectors between runs (keyed by model and text, verified per row by the
    store's `VectorCache`): embedding them is the peer's build, not something the bench times."""

    def __init__(self, chunks: list[str], embedder, cache_root: Path | None = None):
        import faiss  # faiss loads only with an index

        from rag.index.store.cache import VectorCache  # the index loads only for a command that needs it

        self.chunks, self.embedder = chunks, embedder
        t0 = time.perf_counter()
        cache = VectorCache(Path(cache_root), embedder.model_id, embedder.dim) if cache_root else None
        keys = [cache.key("naive\x00" + t) for t in chunks] if cache else []
        missing = [i for i, k in enumerate(keys) if cache.get(k) is None] if cache else list(range(len(chunks)))
        new = {}
        if missing:
            vecs = embedder.embed_passages([chunks[i] for i in missing])
            new = {i: np.asarray(v, np.float32) for i, v in zip(missing, vecs)}
        if cache:
            vectors = np.vstack([new[i] if i in new else cache.get(k) for i, k in enumerate(keys)])
            cache.save({keys[i]: v for i, v in new.items()})
        else:
            vectors = np.vstack([new[i] for i in range(len(chunks))])
        self.embedded = len(missing)
        self.embed_seconds = round(time.perf_counter() - t0, 2)
        self.index = faiss.IndexFlatIP(vectors.shape[1])
        self.index.add(np.ascontiguousarray(vectors, dtype=np.float32))

    def search(self, question: str, k: int = 5) -> list[str]:
        v = self.embedder.embed_queries([question])
        _, ids = self.index.search(np.asarray(v, np.float32).reshape(1, -1), k)
        return [self.chunks[i] for i in ids[0] if i >= 0]
