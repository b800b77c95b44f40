"""The persisted index behind one interface, with registered backends (`registry.BACKENDS`).

`build_index(config)` builds and publishes `index/<name>` with the backend `config.store` names;
`Index.load(path, expect=config)` opens a build with the backend its manifest names. Modules:
`tokens` (BM25 tokenisation), `manifest` (what a build records, staleness), `cache` (the verified
embedding cache), `base` (the `Index` interface), `build` (building and atomic publishing), and the
backends `faiss_backend` (embedded default) and `milvus_backend`.
"""
from rag.index.store.base import BuildData, Index
from rag.index.store.build import BuildReport, build_index, publish, write_build
from rag.index.store.cache import VectorCache
from rag.index.store.errors import StoreError
from rag.index.store.manifest import FORMAT_VERSION, Manifest, corpus_fingerprint, settings_of, staleness
from rag.index.store.registry import BACKENDS, backend_for, register_backend
from rag.index.store.tokens import add_words, tokenize

__all__ = [
    "BACKENDS", "BuildData", "BuildReport", "FORMAT_VERSION", "Index", "Manifest", "StoreError", "VectorCache",
    "add_words", "backend_for", "build_index", "corpus_fingerprint", "publish",
    "register_backend", "settings_of", "staleness", "tokenize", "write_build",
]
