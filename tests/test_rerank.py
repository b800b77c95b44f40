"""The optional CrossEncoder reranker: loading code exercised on a tiny random BERT built here."""
from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="module")
def tiny_cross_encoder(tmp_path_factory):
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    d = tmp_path_factory.mktemp("tiny-ce")
    chars = list("的是多少城镇化率房山区面积目标人口资金一二三四五六七八九十0123456789")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *dict.fromkeys(chars)]
    (d / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tok = BertTokenizerFast(vocab_file=str(d / "vocab.txt"), tokenize_chinese_chars=True)
    tok.save_pretrained(d)
    cfg = BertConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=32, max_position_embeddings=128, num_labels=1)
    BertForSequenceClassification(cfg).save_pretrained(d)
    return d


def test_no_reranker_configured():
    from rag.retrieval.rerank import load_reranker

    assert load_reranker("") is None and load_reranker(None) is None


def test_load_and_score(tiny_cross_encoder):
    from rag.retrieval.rerank import Reranker, load_reranker

    rr = load_reranker(str(tiny_cross_encoder))
    assert isinstance(rr, Reranker)
    s = rr.score("房山区面积是多少", ["房山区面积1990", "城镇化率目标", "人口"])
    assert s.shape == (3,) and np.isfinite(s).all()
    assert rr.score("q", []).shape == (0,)


def test_missing_reranker_is_a_clear_error(tmp_path):
    from rag.retrieval.rerank import RerankError, load_reranker

    with pytest.raises(RerankError, match="PILOTQA_RERANKER"):
        load_reranker(str(tmp_path / "nope"))


def test_retriever_reranks_its_top_candidates(tiny_cross_encoder, built_index, embedder):
    from rag.retrieval.rerank import load_reranker
    from rag.retrieval.hybrid import HybridRetriever

    rr = load_reranker(str(tiny_cross_encoder))
    r = HybridRetriever(index=built_index, embedder=embedder, k=5, reranker=rr, rerank_top=10)
    out = r.retrieve("房山区的土地总面积有多大？")
    assert len(out.passages) == 5 and [p.rank for p in out.passages] == [1, 2, 3, 4, 5]
    scores = [p.scores["rerank"] for p in out.passages]
    assert scores == sorted(scores, reverse=True)
    assert all(p.chunk.pilot == "北京市房山区" for p in out.passages)
