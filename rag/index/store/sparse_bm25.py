"""BM25 as sparse vectors whose inner product is bm25s's score (Lucene variant, k1 1.5, b 0.75).

bm25s scores a document d for query tokens q₁…qₙ (repeats count) as
    Σᵢ idf(qᵢ) · tf(qᵢ, d) / (tf(qᵢ, d) + k1 · (1 − b + b · |d| / avgdl)),   idf(t) = ln(1 + (N − df + 0.5) / (df + 0.5)).
The document side (`doc_vector`) holds the tf part, the query side (`query_vector`) holds idf × count, so:
- a server only ever computes an exact sparse inner product (Milvus Lite keeps BM25 statistics per segment,
  which drifts after updates; an inner product cannot drift);
- the corpus-wide document frequencies live with the query (the local build's `bm25.json`), so a changed
  chunk changes its own row only. `avgdl` is the exception: it is fixed per "epoch" and a build keeps the
  previous epoch's value while the true average stays within `AVGDL_TOLERANCE` (scores then differ from
  bm25s by far less than that); past it every row is rewritten with the new value.

Term ids are stable 32-bit hashes of the token; tokens whose hashes collide in a vocabulary all move to
salted hashes, so the assignment depends on the vocabulary alone, never on build history.
"""
from __future__ import annotations

import hashlib
import math
from collections import Counter
from typing import Iterable

K1, B = 1.5, 0.75           # bm25s's defaults, so the two stores rank alike
AVGDL_TOLERANCE = 1e-3
_SPACE = 2**32 - 1          # Milvus sparse dimensions are below 2^32 - 1


def _h32(token: str, salt: int = 0) -> int:
    digest = hashlib.blake2b(f"{salt}\x00{token}".encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") % _SPACE


def term_ids(vocab: Iterable[str]) -> dict[str, int]:
    """Token → sparse dimension. Only tokens moved off a collision are returned; the rest use `_h32`."""
    groups: dict[int, list[str]] = {}
    for t in sorted(set(vocab)):
        groups.setdefault(_h32(t), []).append(t)
    taken = set(groups)
    moved: dict[str, int] = {}
    for members in groups.values():
        if len(members) == 1:
            continue
        for t in members:  # every member moves: which one came first must not matter
            salt = 1
            while _h32(t, salt) in taken:
                salt += 1
            taken.add(_h32(t, salt))
            moved[t] = _h32(t, salt)
    return moved


class SparseBM25:
    """The statistics both sides need: document count, df per token, the epoch's avgdl, moved term ids."""

    def __init__(self, n: int, avgdl: float, df: dict[str, int], moved: dict[str, int]):
        self.n, self.avgdl, self.df, self.moved = n, avgdl, df, moved

    @classmethod
    def fit(cls, tokens: list[list[str]], avgdl: float | None = None) -> "SparseBM25":
        df: Counter = Counter()
        for toks in tokens:
            df.update(set(toks))
        real = sum(len(t) for t in tokens) / max(len(tokens), 1)
        return cls(len(tokens), float(avgdl if avgdl else real), dict(df), term_ids(df))

    @staticmethod
    def true_avgdl(tokens: list[list[str]]) -> float:
        return sum(len(t) for t in tokens) / max(len(tokens), 1)

    def term_id(self, token: str) -> int:
        return self.moved.get(token, _h32(token))

    def doc_vector(self, tokens: list[str]) -> dict[int, float]:
        norm = K1 * (1 - B + B * len(tokens) / (self.avgdl or 1.0))
        return {self.term_id(t): tf / (tf + norm) for t, tf in Counter(tokens).items()}

    def query_vector(self, tokens: list[str]) -> dict[int, float]:
        out: dict[int, float] = {}
        for t, count in Counter(tokens).items():
            df = self.df.get(t)
            if df:
                idf = math.log(1 + (self.n - df + 0.5) / (df + 0.5))
                out[self.term_id(t)] = idf * count
        return out

    def to_json(self) -> dict:
        return {"k1": K1, "b": B, "n": self.n, "avgdl": self.avgdl, "df": self.df, "moved": self.moved}

    @classmethod
    def from_json(cls, data: dict) -> "SparseBM25":
        if data.get("k1") != K1 or data.get("b") != B:
            raise ValueError("BM25 parameters changed")
        return cls(int(data["n"]), float(data["avgdl"]), {str(k): int(v) for k, v in data["df"].items()},
                   {str(k): int(v) for k, v in data["moved"].items()})
