"""The Milvus store: chunk vectors, BM25 and sentence vectors in Milvus; chunks, tokens and gazetteer local.

`Config.milvus_uri` is a local Milvus Lite file (`….db`; empty = `<index_dir>/milvus.db`) or a server
(`http://host:19530`); the same pymilvus client code serves both. Two collections per index name:

- `<base>_chunks`: `id` (chunk id), `row_hash`, the chunk metadata as scalar fields, `dense` (FLOAT_VECTOR,
  inner product) and `bm25` (SPARSE_FLOAT_VECTOR, inner product): BM25 precomputed from OUR jieba tokens
  (`tokenize`) by `sparse_bm25`, so that the inner product with the query's sparse vector IS bm25s's score.
  (Milvus's built-in BM25 function was tried first: with every token written as one ASCII word it matched
  bm25s to 1e-6 on a fresh collection, but Milvus Lite keeps its statistics per segment, so after an
  incremental update the changed chunk scored 1.1 where bm25s gives 13.6.) The document frequencies go
  to the local build's `bm25.json`, with the query side.
- `<base>_sentences`: `id` (`<chunk id>:<i>`), `chunk_id`, `idx`, `row_hash`, `vec`.

Builds are incremental by id: the build reads the ids and row hashes Milvus holds, upserts the rows whose
hash differs and deletes the ids that are gone, so a rebuild with nothing changed writes nothing. Milvus is
updated in place before the local build is published; a server still on the previous build then finds
some of its ids missing (they score as not returned) until it reloads.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import re
import threading
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from rag.config import Config
from rag.index.store.base import FIX, BuildData, Index, fill_missing
from rag.index.store.errors import StoreError
from rag.index.store.manifest import Manifest
from rag.index.store.sparse_bm25 import AVGDL_TOLERANCE, SparseBM25
from rag.index.store.tokens import tokenize

MAX_HITS = 16384                # Milvus's cap on one search's limit
BATCH = 1000
_INSTALL = "the milvus store needs pymilvus and milvus-lite: pip install -e '.[milvus]'"
_CLIENTS: dict[str, object] = {}
_LOCK = threading.Lock()


def uri_of(config: Config) -> str:
    uri = str(config.milvus_uri or "").strip()
    if not uri:
        return str((Path(config.index_dir) / "milvus.db").resolve())
    if re.match(r"^(https?|tcp|grpc|unix)://", uri, re.I):
        return uri
    if not uri.endswith(".db"):
        raise StoreError(f"PILOTQA_MILVUS_URI {uri!r} is neither a Milvus Lite file ending in .db nor http://host:port")
    return str(Path(uri).expanduser().resolve())


def shown_uri(uri: str) -> str:
    """The address without credentials, for manifests and messages."""
    return re.sub(r"//[^/@]*@", "//", uri)


def collection_base(index_name: str) -> str:
    """Milvus names allow letters, digits and `_`: a readable slug plus a hash keeps names distinct."""
    slug = re.sub(r"[^0-9A-Za-z_]", "_", index_name)[:40]
    return f"pilotqa_{slug}_{hashlib.sha1(index_name.encode('utf-8')).hexdigest()[:8]}"


def connect(uri: str):
    """One client per address per process (Milvus Lite serves a .db to a single process)."""
    with _LOCK:
        if uri in _CLIENTS:
            return _CLIENTS[uri]
        try:
            from pymilvus import MilvusClient  # pymilvus loads only for the Milvus store
        except ImportError:
            raise StoreError(_INSTALL) from None
        # pymilvus configures its loggers on import and logs every failed call with a traceback; every
        # failure here becomes a one-line StoreError instead, so its log is kept to critical messages.
        for name in ("pymilvus", "pymilvus.milvus_client"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
        local = not re.match(r"^[a-z]+://", uri, re.I)
        if local:
            _check_not_locked(uri)
            # Milvus Lite's in-process gRPC server does not implement AllocTimestamp, which pymilvus's query
            # iterator asks for and then does without; the server would log each refusal with a traceback
            logging.getLogger("grpc._server").setLevel(logging.CRITICAL)
        try:
            client = MilvusClient(uri=uri)
        except Exception as exc:
            raise StoreError(f"Could not open Milvus at {shown_uri(uri)} ({_why(exc)}).") from None
        _CLIENTS[uri] = client
        return client


def _check_not_locked(uri: str) -> None:
    """Milvus Lite holds a lock on its folder; say so plainly instead of pymilvus's traceback."""
    Path(uri).parent.mkdir(parents=True, exist_ok=True)
    lock = Path(uri) / "LOCK"
    if not lock.exists():
        return
    with open(lock, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(fh, fcntl.LOCK_UN)
        except OSError:
            raise StoreError(f"The Milvus Lite database {uri} is open in another process (Milvus Lite serves one "
                             f"process at a time): stop it, or set PILOTQA_MILVUS_URI to a Milvus server.") from None


def _why(exc: Exception) -> str:
    msg = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return " ".join(str(msg).split())[:200]


def _call(what: str, fn: Callable, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except StoreError:
        raise
    except Exception as exc:
        raise StoreError(f"Milvus {what} failed ({_why(exc)}).") from None


def _in(field: str, values: Sequence[str]) -> str:
    # pymilvus filter templates are not supported by Milvus Lite: a JSON list is a valid Milvus literal
    return f"{field} in {json.dumps(list(values), ensure_ascii=False)}"


# --------------------------------------------------------------------------- collections


def _chunk_schema(client, dim: int):
    from pymilvus import DataType  # pymilvus loads only for the Milvus store

    s = client.create_schema(auto_id=False, enable_dynamic_field=False)
    s.add_field("id", DataType.VARCHAR, is_primary=True, max_length=64)
    s.add_field("row_hash", DataType.VARCHAR, max_length=64)
    for name, size in (("pilot", 512), ("province", 256), ("section", 4096), ("top_section", 1024),
                       ("source", 2048), ("text", 65535)):
        s.add_field(name, DataType.VARCHAR, max_length=size)
    s.add_field("start_line", DataType.INT64)
    s.add_field("end_line", DataType.INT64)
    s.add_field("bm25", DataType.SPARSE_FLOAT_VECTOR)
    s.add_field("dense", DataType.FLOAT_VECTOR, dim=dim)
    return s


def _sentence_schema(client, dim: int):
    from pymilvus import DataType  # pymilvus loads only for the Milvus store

    s = client.create_schema(auto_id=False, enable_dynamic_field=False)
    s.add_field("id", DataType.VARCHAR, is_primary=True, max_length=96)
    s.add_field("chunk_id", DataType.VARCHAR, max_length=64)
    s.add_field("idx", DataType.INT64)
    s.add_field("row_hash", DataType.VARCHAR, max_length=64)
    s.add_field("vec", DataType.FLOAT_VECTOR, dim=dim)
    return s


def _dense_index(params, field: str, kind: str, config: Config) -> None:
    if kind == "HNSW":
        params.add_index(field, index_type="HNSW", metric_type="IP",
                         params={"M": int(config.hnsw_m), "efConstruction": int(config.hnsw_ef_construction)})
    else:
        params.add_index(field, index_type="FLAT", metric_type="IP")


def _ensure(client, name: str, schema_fn, index_fn, dim: int, vec_field: str, kind: str) -> bool:
    """Create the collection if missing, or recreate it when its vector size or index type changed.
    Returns True when it was (re)created."""
    if _call("has_collection", client.has_collection, name):
        desc = _call("describe_collection", client.describe_collection, name)
        fields = {f["name"]: f for f in desc.get("fields", [])}
        have_dim = int(((fields.get(vec_field) or {}).get("params") or {}).get("dim", -1))
        try:  # the server names indexes; ask for the one on this field
            have_kind = client.describe_index(name, client.list_indexes(name, field_name=vec_field)[0]).get("index_type")
        except Exception:
            have_kind = None
        wanted = {f.name for f in schema_fn(client, dim).fields}
        if have_dim == dim and have_kind == kind and wanted == set(fields):
            _call("load_collection", client.load_collection, name)
            return False
        _call("drop_collection", client.drop_collection, name)
    params = client.prepare_index_params()
    index_fn(params)
    _call("create_collection", client.create_collection, name, schema=schema_fn(client, dim), index_params=params)
    _call("load_collection", client.load_collection, name)
    return True


def _existing(client, name: str) -> dict[str, str]:
    """id → row_hash of every row the collection holds."""
    out: dict[str, str] = {}
    it = _call("query_iterator", client.query_iterator, name, batch_size=4000, filter="",
               output_fields=["id", "row_hash"])
    try:
        while True:
            batch = _call("query_iterator", it.next)
            if not batch:
                break
            out.update((r["id"], r["row_hash"]) for r in batch)
    finally:
        it.close()
    return out


def _sync(client, name: str, hashes: dict[str, str], make_row: Callable[[str], dict]) -> dict:
    """Upsert the rows whose hash changed, delete the ids that are gone; report what was written."""
    have = _existing(client, name)
    changed = [i for i, h in hashes.items() if have.get(i) != h]
    gone = [i for i in have if i not in hashes]
    for a in range(0, len(changed), BATCH):
        _call("upsert", client.upsert, name, [make_row(i) for i in changed[a:a + BATCH]])
    for a in range(0, len(gone), BATCH):
        _call("delete", client.delete, name, ids=gone[a:a + BATCH])
    if changed or gone:
        _call("flush", client.flush, name)
    return {"upserted": len(changed), "deleted": len(gone), "unchanged": len(hashes) - len(changed)}


def _row_hash(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False, sort_keys=True).encode("utf-8")).hexdigest()[:32]


def _bm25_epoch(tokens: list[list[str]], config: Config, names: dict) -> tuple[SparseBM25, str]:
    """BM25 statistics for this build, keeping the published build's avgdl while it is close enough, so
    that an edited chunk rewrites its own row and not every row (see `sparse_bm25`)."""
    now = SparseBM25.true_avgdl(tokens)
    try:
        prev = Manifest.read(config.index_path / "manifest.json").store
        same = prev.get("backend") == "milvus" and prev.get("collections") == names
        kept = float(prev["bm25"]["avgdl"]) if same else None
    except Exception:
        kept = None
    if kept and abs(now / kept - 1) <= AVGDL_TOLERANCE:
        return SparseBM25.fit(tokens, avgdl=kept), f"kept the published build's avgdl ({now:.4f} now)"
    why = "first build into these collections" if kept is None else f"avgdl moved from {kept:.4f} to {now:.4f}"
    return SparseBM25.fit(tokens), why


# --------------------------------------------------------------------------- the index


class MilvusIndex(Index):
    """Chunks, tokens and gazetteer from the local build; every score from Milvus."""

    backend = "milvus"

    def __init__(self, path: Path, manifest: Manifest, chunks, tokens, gazetteer, client, bm25: SparseBM25,
                 build_id: str = ""):
        super().__init__(path, manifest, chunks, tokens, gazetteer, build_id)
        st = manifest.store
        self.client = client
        self.chunk_collection, self.sentence_collection = st["collections"]["chunks"], st["collections"]["sentences"]
        self.bm25 = bm25
        self._top = int(st.get("top") or 0)
        self._svec_cache: dict[str, np.ndarray] = {}

    # ------------------------------------------------------------------ build side

    @classmethod
    def write(cls, data: BuildData, out: Path, config: Config) -> dict:
        uri = uri_of(config)
        client = connect(uri)
        base = collection_base(data.name)
        names = {"chunks": base + "_chunks", "sentences": base + "_sentences"}
        n, dim = len(data.chunks), data.dim
        kind = "HNSW" if config.hnsw_min_chunks > 0 and n >= config.hnsw_min_chunks else "FLAT"

        def chunk_index(p):
            _dense_index(p, "dense", kind, config)
            p.add_index("bm25", index_type="SPARSE_INVERTED_INDEX", metric_type="IP")
            p.add_index("pilot", index_type="INVERTED")

        def sentence_index(p):
            _dense_index(p, "vec", "FLAT", config)
            p.add_index("chunk_id", index_type="INVERTED")

        recreated = {
            "chunks": _ensure(client, names["chunks"], _chunk_schema, chunk_index, dim, "dense", kind),
            "sentences": _ensure(client, names["sentences"], _sentence_schema,
                                 sentence_index, dim, "vec", "FLAT"),
        }
        bm25, why = _bm25_epoch(data.tokens, config, names)
        (out / "bm25.json").write_text(json.dumps(bm25.to_json(), ensure_ascii=False), encoding="utf-8")
        pos = {c.id: i for i, c in enumerate(data.chunks)}
        sparse = [{k: float(np.float32(v)) for k, v in bm25.doc_vector(t).items()} for t in data.tokens]
        meta = ("pilot", "province", "section", "top_section", "source", "text", "start_line", "end_line")
        chunk_hashes = {c.id: _row_hash(data.chunk_keys[i], sorted(sparse[i].items()),
                                        [getattr(c, f) for f in meta if f != "source"], Path(c.source).name)
                        for i, c in enumerate(data.chunks)}

        def chunk_row(cid: str) -> dict:
            i, c = pos[cid], data.chunks[pos[cid]]
            row = {f: getattr(c, f) for f in meta}
            row["source"] = Path(c.source).name  # the file, not its folder: moving the corpus rewrites nothing
            row.update(id=cid, row_hash=chunk_hashes[cid], bm25=sparse[i], dense=data.vectors[i].tolist())
            return row

        off = data.sentence_offsets
        sent_pos = {f"{c.id}:{j}": (int(off[i]) + j, c.id, j)
                    for i, c in enumerate(data.chunks) for j in range(int(off[i + 1] - off[i]))}
        sent_hashes = {sid: _row_hash(data.sentence_keys[r]) for sid, (r, _, _) in sent_pos.items()}

        def sentence_row(sid: str) -> dict:
            r, cid, j = sent_pos[sid]
            return {"id": sid, "chunk_id": cid, "idx": j, "row_hash": sent_hashes[sid],
                    "vec": data.sentence_vectors[r].tolist()}

        sync = {"chunks": _sync(client, names["chunks"], chunk_hashes, chunk_row),
                "sentences": _sync(client, names["sentences"], sent_hashes, sentence_row)}
        info = {"backend": cls.backend, "uri": shown_uri(uri), "collections": names,
                "dense": {"type": kind.lower(), "metric": "IP"}, "top": int(config.milvus_top),
                "sync": sync, "recreated": recreated,
                "bm25": {"avgdl": bm25.avgdl, "true_avgdl": round(SparseBM25.true_avgdl(data.tokens), 4), "why": why}}
        return info

    @classmethod
    def staleness(cls, manifest: Manifest, config: Config) -> str | None:
        want = shown_uri(uri_of(config))
        have = manifest.store.get("uri")
        if have != want:
            return f"the index was built on Milvus at {have}, not {want}"
        return None

    # ------------------------------------------------------------------ load side

    @classmethod
    def _open(cls, link, real, manifest, chunks, tokens, gazetteer, build_id):
        st = manifest.store or {}
        if not isinstance(st.get("collections"), dict) or not st.get("uri") or "bm25.json" not in manifest.files:
            raise StoreError(f"The index at {link} does not say where its Milvus data is: {FIX} again.")
        uri = st["uri"]
        client = connect(uri)
        for key, name in st["collections"].items():
            if not _call("has_collection", client.has_collection, name):
                raise StoreError(f"The Milvus collection {name} at {uri} is missing: {FIX} again.")
            _call("load_collection", client.load_collection, name)
        rows = _call("query", client.query, st["collections"]["chunks"], filter="", output_fields=["count(*)"])
        count = int(rows[0]["count(*)"]) if rows else -1
        if count != len(chunks):
            raise StoreError(f"The Milvus collection {st['collections']['chunks']} holds {count} chunks, the index at "
                             f"{link} has {len(chunks)}: {FIX} again.")
        try:
            bm25 = SparseBM25.from_json(json.loads((real / "bm25.json").read_text(encoding="utf-8")))
        except Exception:
            raise StoreError(f"The index at {link} has no readable BM25 statistics: {FIX} again.") from None
        return cls(link, manifest, chunks, tokens, gazetteer, client, bm25, build_id=build_id)

    # ------------------------------------------------------------------ scoring

    def _limit(self, rows: np.ndarray | None) -> int:
        n = len(self.chunks) if rows is None else len(rows)
        return max(1, min(n, self._top or n, MAX_HITS))

    def _hits(self, anns_field: str, data, metric: str, rows: np.ndarray | None,
              pilots: list[str] | None) -> tuple[np.ndarray, np.ndarray, int]:
        limit = self._limit(rows)
        flt = _in("pilot", list(dict.fromkeys(pilots))) if pilots else ""
        res = _call("search", self.client.search, self.chunk_collection, data=[data], anns_field=anns_field,
                    limit=limit, filter=flt, output_fields=["id"], search_params={"metric_type": metric})[0]
        idx, sc = [], []
        for h in res:
            i = self.by_id.get(h["id"])
            if i is not None:  # an id of a newer build is skipped until this process reloads
                idx.append(i)
                sc.append(h["distance"])
        return np.asarray(idx, dtype=np.int64), np.asarray(sc, dtype=np.float32), limit

    def dense_scores(self, qvec: np.ndarray, pilots: list[str] | None = None) -> np.ndarray:
        q = self._query(qvec)
        rows = self._rows(pilots)
        if rows is not None and not len(rows):
            return np.full(len(self.chunks), -1.0, dtype=np.float32)
        idx, sc, _ = self._hits("dense", q.tolist(), "IP", rows, pilots)
        return fill_missing(len(self.chunks), idx, sc)

    def bm25_scores(self, query: str, pilots: list[str] | None = None) -> np.ndarray:
        qvec = self.bm25.query_vector(tokenize(query))
        rows = self._rows(pilots)
        n = len(self.chunks)
        if not qvec or (rows is not None and not len(rows)):
            return np.zeros(n, dtype=np.float32)
        idx, sc, _ = self._hits("bm25", qvec, "IP", rows, pilots)
        # Chunks not returned score 0 here, not the minimum returned score: their true BM25 lies in
        # [0, that minimum] and some chunk always matches nothing, so 0 keeps the min-max fusion's lower end
        # exactly where bm25s puts it.
        out = np.zeros(n, dtype=np.float32)
        out[idx] = sc
        return out

    def sentence_vectors(self, chunk_ids: Sequence[str]) -> dict[str, np.ndarray]:
        ids = [c for c in dict.fromkeys(chunk_ids) if c in self.by_id]
        todo = [c for c in ids if c not in self._svec_cache]
        if todo:
            got: dict[str, dict[int, list]] = {c: {} for c in todo}
            for a in range(0, len(todo), 200):
                part = todo[a:a + 200]
                rows = _call("query", self.client.query, self.sentence_collection, filter=_in("chunk_id", part),
                             output_fields=["chunk_id", "idx", "vec"], limit=MAX_HITS)
                for r in rows:
                    got[r["chunk_id"]][int(r["idx"])] = r["vec"]
            if len(self._svec_cache) > 4096:
                self._svec_cache.clear()
            for c, by_idx in got.items():
                mat = np.asarray([by_idx[j] for j in sorted(by_idx)], dtype=np.float32)
                self._svec_cache[c] = mat.reshape(-1, self.manifest.dim)
        return {c: self._svec_cache[c] for c in ids}
