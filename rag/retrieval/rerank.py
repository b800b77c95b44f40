"""Optional CrossEncoder reranking (sentence-transformers), used when `Config.reranker` is set.

`load_reranker(name)` takes a local directory or a Hugging Face id already in the local cache (never
downloads). The retriever reranks its top `rerank_top` candidates with `Reranker.score(query, texts)`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np


class RerankError(Exception):
    """The reranker could not be loaded; the message is one line and says what to do."""


class Reranker:
    """A loaded CrossEncoder: higher score = more relevant."""

    def __init__(self, model, name: str = ""):
        self.model = model
        self.name = name

    def __repr__(self) -> str:
        return f"Reranker({self.name!r})"

    def score(self, query: str, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros(0, dtype=np.float32)
        out = np.asarray(self.model.predict([(query, t) for t in texts], show_progress_bar=False), dtype=np.float32)
        if out.ndim == 2:  # several labels: the last one is "relevant"
            out = out[:, -1]
        return out.reshape(len(texts))


def load_reranker(name: str | Path | None) -> Reranker | None:
    """None/"" → no reranking; a directory or a locally cached HF id → a `Reranker`."""
    if not name:
        return None
    from sentence_transformers import CrossEncoder  # sentence-transformers (torch) loads only when a model is loaded

    name = str(name)
    path = Path(name).expanduser()
    try:
        if path.is_dir():
            model = CrossEncoder(str(path), device="cpu")
        else:
            model = CrossEncoder(name, device="cpu", local_files_only=True)
    except Exception as exc:
        raise RerankError(f"reranker {name!r} could not be loaded ({type(exc).__name__}: {str(exc)[:120]}); "
                          "set PILOTQA_RERANKER to a local CrossEncoder directory or a cached model id, "
                          "or leave it empty") from None
    return Reranker(model, name)
