"""Passage vectors shipped with the bundled corpus, so that the first build on a fresh clone embeds nothing.

`data/vectors/<model slug>/` holds `vectors.npy` (float16, one row per text: half the size of float32, and
cosine scores move by less than 1e-3) and `keys.json` (`{"format", "model_id", "dim", "dtype", "rows":
[[key, check], ...]}`). Keys are the embedding cache's (sha256 of model id + NUL + the embedded text), so a
shipped row is used only for exactly the text and model it was computed for: any other corpus, model or
added document misses and is embedded as before. Each row is verified on load like the cache's
(`check` = sha256(key + the row's float16 bytes)[:16]); a row that fails is ignored.

The build prefers a shipped row over the user's cache, so every machine builds the bundled corpus from the
same numbers (a fresh clone and a developer's checkout answer alike). `pilotqa build --ship-vectors` writes
the folder from the built index's texts (a maintainer's step, run when the corpus, the chunking or the model
changes).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np

SHIPPED_FORMAT = 1


def slug(model_id: str) -> str:
    return hashlib.sha256(model_id.encode()).hexdigest()[:16]


def row_check(key: str, vec: np.ndarray) -> str:
    return hashlib.sha256(key.encode("utf-8") + np.ascontiguousarray(vec, dtype=np.float16).tobytes()).hexdigest()[:16]


class ShippedVectors:
    """Read-only float16 vectors keyed like `VectorCache`; rows that fail their check are left out."""

    def __init__(self, root: Path | None, model_id: str):
        self.model_id = model_id
        self.rows: dict[str, int] = {}
        self.vectors = np.zeros((0, 0), dtype=np.float16)
        self.dim = 0
        self.damaged_keys: set[str] = set()  # rows that failed their check (embedded again by the build)
        if root is not None:
            self._load(Path(root) / slug(model_id))

    def _load(self, folder: Path) -> None:
        try:
            meta = json.loads((folder / "keys.json").read_text(encoding="utf-8"))
            vecs = np.load(folder / "vectors.npy", allow_pickle=False)
        except (OSError, ValueError):
            return  # none shipped for this model (or unreadable): everything is embedded
        if not isinstance(meta, dict) or meta.get("format") != SHIPPED_FORMAT or meta.get("model_id") != self.model_id \
                or vecs.dtype != np.float16 or vecs.ndim != 2 or vecs.shape[1] != meta.get("dim"):
            return
        rows = meta.get("rows") or []
        for i, row in enumerate(rows):
            ok = isinstance(row, list) and len(row) == 2 and i < len(vecs) and row[1] == row_check(row[0], vecs[i])
            if ok:
                self.rows[row[0]] = i
            elif isinstance(row, list) and row and isinstance(row[0], str):
                self.damaged_keys.add(row[0])
        self.vectors, self.dim = vecs, int(vecs.shape[1])

    @property
    def damaged(self) -> int:
        return len(self.damaged_keys)

    def __len__(self) -> int:
        return len(self.rows)

    def __contains__(self, key: str) -> bool:
        return key in self.rows

    def get(self, key: str) -> np.ndarray | None:
        i = self.rows.get(key)
        return None if i is None else self.vectors[i].astype(np.float32)


def write_shipped(root: Path, model_id: str, vectors: dict[str, np.ndarray]) -> Path:
    """Write `vectors` (key → vector) as the shipped set for `model_id`, atomically (a directory swap)."""
    folder = Path(root) / slug(model_id)
    keys = sorted(vectors)
    vecs = np.ascontiguousarray(np.vstack([np.asarray(vectors[k], dtype=np.float16).reshape(1, -1) for k in keys]))
    meta = {"format": SHIPPED_FORMAT, "model_id": model_id, "dim": int(vecs.shape[1]), "dtype": "float16",
            "rows": [[k, row_check(k, vecs[i])] for i, k in enumerate(keys)]}
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.with_name(folder.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    np.save(tmp / "vectors.npy", vecs, allow_pickle=False)
    (tmp / "keys.json").write_text(json.dumps(meta, separators=(",", ":")), encoding="utf-8")
    old = folder.with_name(folder.name + f".old{os.getpid()}")
    if folder.exists():
        os.replace(folder, old)
    os.replace(tmp, folder)
    shutil.rmtree(old, ignore_errors=True)
    return folder
