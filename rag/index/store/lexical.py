"""BM25 for the embedded store: bm25s's own precomputed score matrix, saved with the index as arrays.

bm25s (Lucene variant) computes every (token, chunk) score at build time into a sparse column matrix; a
question's score per chunk is the sum of its tokens' columns. The build saves that matrix (`bm25_data.npy`,
`bm25_indices.npy`, `bm25_indptr.npy`) and the vocabulary (`bm25_vocab.json`), and a question process sums
the columns here with numpy, in bm25s's own order, so the scores are bm25s's to the last bit while neither
bm25s nor scipy is imported (most of a cold question's index load).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

FILES = ("bm25_data.npy", "bm25_indices.npy", "bm25_indptr.npy", "bm25_vocab.json")


def write_bm25(tokens: list[list[str]], out: Path) -> None:
    """Fit bm25s on `tokens` (one list per chunk) and save its score matrix and vocabulary into `out`."""
    import bm25s  # bm25s (and scipy) load only to build

    bm = bm25s.BM25()
    bm.index(tokens, show_progress=False)
    if getattr(bm, "nonoccurrence_array", None) is not None:  # pragma: no cover - not for the Lucene variant
        raise ValueError("a BM25 variant with non-occurrence scores cannot be saved as a matrix")
    for name, key in (("bm25_data.npy", "data"), ("bm25_indices.npy", "indices"), ("bm25_indptr.npy", "indptr")):
        np.save(out / name, np.asarray(bm.scores[key]), allow_pickle=False)
    # bm25s adds an empty token after the matrix is built (no column of its own); tokens are never empty
    vocab = {str(k): int(v) for k, v in bm.vocab_dict.items() if k != ""}
    (out / "bm25_vocab.json").write_text(json.dumps({"num_docs": int(bm.scores["num_docs"]), "dtype": str(bm.dtype),
                                                     "vocab": vocab}, ensure_ascii=False), encoding="utf-8")


class MatrixBM25:
    """Scores from the saved matrix: `get_scores(tokens)` as `bm25s.BM25.get_scores` gives them."""

    def __init__(self, folder: Path):
        self.data = np.load(folder / "bm25_data.npy", allow_pickle=False)
        self.indices = np.load(folder / "bm25_indices.npy", allow_pickle=False)
        self.indptr = np.load(folder / "bm25_indptr.npy", allow_pickle=False)
        meta = json.loads((folder / "bm25_vocab.json").read_text(encoding="utf-8"))
        self.vocab: dict[str, int] = meta["vocab"]
        self.num_docs = int(meta["num_docs"])
        self.dtype = np.dtype(meta.get("dtype", "float32"))
        if len(self.indptr) - 1 < max(self.vocab.values(), default=-1) + 1 or len(self.data) != len(self.indices):
            raise ValueError("BM25 arrays do not match their vocabulary")

    def get_scores(self, tokens: list[str]) -> np.ndarray:
        ids = [self.vocab[t] for t in tokens if t in self.vocab]
        scores = np.zeros(self.num_docs, dtype=self.dtype)
        for t in ids:  # token by token, as bm25s adds them
            start, end = self.indptr[t], self.indptr[t + 1]
            np.add.at(scores, self.indices[start:end], self.data[start:end])
        return scores
