"""The embedding cache: vectors keyed by the content hash of (model id, embedded text), verified row by row.

`index/.cache/<model slug>/` holds `vectors.npy` (float32, one row per entry) and `keys.json`
(`{"format", "model_id", "dim", "rows": [[key, check], ...]}`). `key` = sha256(model id + NUL + text) is
stored beside each row, and `check` = sha256(key + the row's bytes)[:16] binds the two: a row that was
moved, overwritten or truncated no longer matches its check and is dropped on load, so the build
re-embeds it (`damaged_keys` says which) instead of silently reusing another text's vector. A cache written
before the checks existed (a plain list of keys) cannot be verified and is treated as empty.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np

CACHE_FORMAT = 2


def row_check(key: str, vec: np.ndarray) -> str:
    return hashlib.sha256(key.encode("utf-8") + np.ascontiguousarray(vec, dtype=np.float32).tobytes()).hexdigest()[:16]


class VectorCache:
    """Vectors keyed by sha256(model id + embedded text); JSON keys + checks + one .npy matrix."""

    def __init__(self, root: Path, model_id: str, dim: int | None):
        """`dim` None: the stored cache's own (a build that finds every vector needs no model to tell it)."""
        slug = hashlib.sha256(model_id.encode()).hexdigest()[:16]
        self.dir = Path(root) / ".cache" / slug
        self.model_id, self.dim = model_id, dim
        self.rows: dict[str, int] = {}
        self.vectors = np.zeros((0, dim or 0), dtype=np.float32)
        self.damaged_keys: set[str] = set()   # keys whose stored row failed its check
        self.unreadable = False               # a cache was there but could not be read at all
        self._dirty = False                   # damaged rows to drop even if nothing new is added
        self._load()

    def _load(self) -> None:
        keys_path, vec_path = self.dir / "keys.json", self.dir / "vectors.npy"
        if not keys_path.exists() and not vec_path.exists():
            return
        try:
            meta = json.loads(keys_path.read_text(encoding="utf-8"))
            vecs = np.load(vec_path, allow_pickle=False)
        except Exception:
            self.unreadable = self._dirty = True  # embed everything; the save replaces the cache
            return
        if not isinstance(meta, dict) or meta.get("format") != CACHE_FORMAT:
            self._dirty = True  # an unverifiable older cache: start over
            return
        rows = meta.get("rows") or []
        if self.dim is None and vecs.ndim == 2 and meta.get("dim") == vecs.shape[1]:
            self.dim = int(vecs.shape[1])
        if meta.get("model_id") != self.model_id or vecs.ndim != 2 or vecs.shape[1] != self.dim:
            self.unreadable = self._dirty = True
            return
        vecs = vecs.astype(np.float32, copy=False)
        good: list[int] = []
        for i, row in enumerate(rows):
            key, check = (row + [None, None])[:2] if isinstance(row, list) else (None, None)
            if not isinstance(key, str):
                self._dirty = True
                continue
            if i < len(vecs) and check == row_check(key, vecs[i]):
                good.append(i)
            else:
                self.damaged_keys.add(key)
        if len(good) != len(rows) or len(vecs) != len(rows):
            self._dirty = True
        self.vectors = vecs[good] if len(good) != len(vecs) else vecs
        self.rows = {rows[i][0]: j for j, i in enumerate(good)}

    def key(self, text: str) -> str:
        return hashlib.sha256((self.model_id + "\x00" + text).encode("utf-8")).hexdigest()

    def get(self, key: str):
        i = self.rows.get(key)
        return None if i is None else self.vectors[i]

    def save(self, new: dict[str, np.ndarray]) -> None:
        """Add `new` (key → vector) and rewrite the cache atomically (a directory swap)."""
        new = {k: v for k, v in new.items() if k not in self.rows}
        if not new and not self._dirty:
            return
        keys = list(self.rows) + list(new)
        parts = [self.vectors] + [np.asarray(v, dtype=np.float32).reshape(1, -1) for v in new.values()]
        vecs = np.ascontiguousarray(np.vstack(parts), dtype=np.float32)
        meta = {"format": CACHE_FORMAT, "model_id": self.model_id, "dim": self.dim,
                "rows": [[k, row_check(k, vecs[i])] for i, k in enumerate(keys)]}
        self.dir.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.dir.with_name(self.dir.name + f".tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        np.save(tmp / "vectors.npy", vecs, allow_pickle=False)
        (tmp / "keys.json").write_text(json.dumps(meta), encoding="utf-8")
        old = self.dir.with_name(self.dir.name + f".old{os.getpid()}")
        if self.dir.exists():
            os.replace(self.dir, old)
        os.replace(tmp, self.dir)
        shutil.rmtree(old, ignore_errors=True)
        self.rows = {k: i for i, k in enumerate(keys)}
        self.vectors, self._dirty, self.damaged_keys = vecs, False, set()


