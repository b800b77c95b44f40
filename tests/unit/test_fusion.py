"""Fusion modes: pure functions over score arrays."""
from __future__ import annotations

import numpy as np

from rag.retrieval.fusion import FUSERS, Fusion, fuse_rrf, fuse_weighted


def test_weighted_fusion_normalises_each_list():
    dense, bm25 = np.array([0.9, 0.5, 0.1]), np.array([0.0, 10.0, 5.0])
    fused = fuse_weighted(dense, bm25, dense_weight=0.6)
    assert np.allclose(fused, [0.6, 0.6 * 0.5 + 0.4, 0.2])


def test_a_constant_list_adds_nothing():
    fused = fuse_weighted(np.array([0.3, 0.3]), np.array([1.0, 2.0]), dense_weight=0.5)
    assert np.allclose(fused, [0.0, 0.5])


def test_rrf_scores_one_for_a_chunk_first_in_both():
    fused = fuse_rrf(np.array([3.0, 1.0, 2.0]), np.array([9.0, 1.0, 5.0]), rrf_k=60.0)
    assert fused[0] == 1.0 and fused[2] > fused[1]


def test_every_mode_is_registered():
    assert set(FUSERS) == set(Fusion)
