"""Fusion of dense and BM25 scores: the modes as an enum, each a short pure function over score arrays."""
from __future__ import annotations

from enum import Enum
from typing import Any

import numpy as np



class Fusion(str, Enum):
    WEIGHTED = "weighted"   # min-max normalised scores, dense share `dense_weight`
    RRF = "rrf"             # reciprocal rank fusion


def _minmax(x: np.ndarray) -> np.ndarray:
    lo, hi = float(x.min()), float(x.max())
    return (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)


def _ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks, higher score → rank 1."""
    order = np.argsort(-x, kind="stable")
    r = np.empty(len(x), dtype=np.float64)
    r[order] = np.arange(1, len(x) + 1)
    return r


def fuse_weighted(dense: np.ndarray, bm25: np.ndarray, *, dense_weight: float, **_: Any) -> np.ndarray:
    return dense_weight * _minmax(dense) + (1 - dense_weight) * _minmax(bm25)


def fuse_rrf(dense: np.ndarray, bm25: np.ndarray, *, rrf_k: float, **_: Any) -> np.ndarray:
    fused = 1.0 / (rrf_k + _ranks(dense)) + 1.0 / (rrf_k + _ranks(bm25))
    return fused * (rrf_k + 1) / 2  # 1.0 for a chunk first in both


FUSERS = {Fusion.WEIGHTED: fuse_weighted, Fusion.RRF: fuse_rrf}
FUSIONS = tuple(f.value for f in Fusion)
