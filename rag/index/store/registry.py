"""Store backends by name. `Config.store` (`PILOTQA_STORE`, `--store`) picks one for a build; a built index
names its backend in its manifest, and `Index.load` opens it with that backend.

Backends are imported on first use, so the FAISS default never imports pymilvus.
"""
from __future__ import annotations

import importlib

from rag.index.store.errors import StoreError

# name -> "module:class" (relative to this package); `register_backend` adds more
BACKENDS: dict[str, str] = {
    "faiss": ".faiss_backend:FaissIndex",
    "milvus": ".milvus_backend:MilvusIndex",
}


def register_backend(name: str, target: str) -> None:
    """Make `target` ("package.module:Class", an `Index` subclass) available as store `name`."""
    BACKENDS[name] = target


def backend_for(name: str):
    """The `Index` subclass of store `name`; an unknown name is a one-line StoreError."""
    target = BACKENDS.get(str(name or "faiss"))
    if target is None:
        raise StoreError(f"unknown store {name!r} (choose {', '.join(BACKENDS)})")
    module, _, cls = target.partition(":")
    mod = importlib.import_module(module, package=__package__) if module.startswith(".") else importlib.import_module(module)
    return getattr(mod, cls)
