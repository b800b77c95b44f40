"""`pilotqa bench`: every figure the open issues ask for, measured in one run, written to `bench.json|md`.

The parts, in the order they run (child-process parts first, while this process is still small and idle,
so it neither competes with them for the CPU nor inflates anything they measure):

| part       | module                     | what                                                           |
|------------|----------------------------|----------------------------------------------------------------|
| `build`    | `build.bench_index`        | cold build (shipped vectors, empty vector cache; facts time), no-change rebuild |
| `unshipped`| `build.bench_unshipped`    | cold build without the shipped vectors: wall time, peak RSS     |
| `docs`     | `build`                    | `docs add` of one .docx to the indexed folder, then `remove`    |
| `cli`      | `cold_cli.bench_cli`       | cold `pilotqa ask` (5 runs), a wrong call (unknown pilot)       |
| `load`     | `loadtest.run_load_test`   | 32 HTTP clients against a real `pilotqa serve`                  |
| `mixed`    | `mixed.run_mixed_load`     | 32 clients, mixed questions, baseline then 8 hanging LLM requests + documents added/removed |
| `latency`  | `latency`                  | dense / bm25 / hybrid retrieval and the full answer, dev questions |
| `naive`    | `naive`                    | the naive LangChain peer, timed inside the latency loop         |
| `followup` | `latency`                  | follow-ups with their history beside single questions           |
| `aggregate`| `latency.bench_aggregates` | aggregate answers over all pilots (dev aggregate questions)     |
| `--scale`  | `scale.run_scale`          | synthetic 1×/10×/100× corpora per store backend                 |

With `build` the bench works on a private copy of the configured corpus and a private index under a temporary
folder (removed at the end); without it, on the configured index as it is (`index`/`embedder` may be passed
in). `quick` subsamples the questions and the load tests (the mixed one runs `QUICK_MIXED_S` seconds a run). Questions come from the dev splits only
(`bench_common.DEV_FILES`, `DIALOG_FILES`), never the blind test splits.
"""
from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from bench.common import AGGREGATE_FILES, dev_items, followup_items, loadavg, log
from bench.report import evaluate_targets, format_md, format_table
from rag.config import Config
from rag.files import atomic_write

BENCH_PARTS = ("build", "unshipped", "docs", "cli", "load", "mixed", "latency", "naive", "followup", "aggregate")
# a part -> the part it builds on (`unshipped`, `docs` and `mixed` change or copy the private documents folder)
NEEDS = {"docs": "build", "unshipped": "build", "mixed": "build", "naive": "latency"}
LOAD_CLIENTS = 32
MIXED_S, QUICK_MIXED_S = 60.0, 10.0   # seconds of each mixed-load run (issue 21: 60 s)
LLM_HANGS = 8
COLD_ASKS = 5                          # cold `pilotqa ask` runs (issue 23: p50 over ≥ 5)


class _Fatal(Exception):
    """A part the rest depends on failed (already in `res["errors"]`)."""


class _Parts:
    """Runs the parts one by one: each one's wall time and load average go to `res["timeline"]`, and a part
    that fails is one line in `res["errors"]`, not the end of the run."""

    def __init__(self, res: dict):
        self.res = res
        res.setdefault("timeline", {})
        res.setdefault("errors", [])

    def run(self, name: str, fn: Callable[[], Any], *, fatal: bool = False) -> Any:
        start, t0 = loadavg(), time.perf_counter()
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - reported; the other parts still run
            self.res["errors"].append(f"{name}: {type(exc).__name__}: {exc}")
            if fatal:
                raise _Fatal(name) from exc
            return None
        finally:
            self.res["timeline"][name] = {"seconds": round(time.perf_counter() - t0, 1), "loadavg_start": start,
                                          "loadavg_end": loadavg()}


def _check_parts(parts: Sequence[str] | None) -> set[str]:
    chosen = set(parts or BENCH_PARTS)
    unknown = chosen - set(BENCH_PARTS)
    if unknown:
        raise ValueError(f"unknown bench parts: {', '.join(sorted(unknown))} (choose from {', '.join(BENCH_PARTS)})")
    for part, base in NEEDS.items():
        if part in chosen and base not in chosen:
            raise ValueError(f"bench part {part!r} needs {base!r}")
    return chosen


def run_bench(config: Config, quick: bool = False, out_dir: str | Path | None = None, *,
              parts: Sequence[str] | None = None, index=None, embedder=None, limit: int | None = None,
              scale: Sequence[int] | None = None, mixed_seconds: float | None = None) -> int:
    """Run the benchmark, print the table, write bench.json + bench.md. Returns 0, or 1 if anything failed.

    `parts` ⊂ BENCH_PARTS limits the run (the CLI runs them all); `limit` caps the dev questions and the
    follow-ups; `scale` (e.g. [1, 10, 100]) adds `rag.bench_scale`'s synthetic-corpus store comparison;
    `mixed_seconds` overrides the length of each mixed-load run."""
    chosen = _check_parts(parts)
    out = Path(out_dir) if out_dir else Path(config.reports_dir)
    res: dict[str, Any] = {"quick": quick, "parts": [p for p in BENCH_PARTS if p in chosen], "errors": [],
                           "env": {"started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "cpu_count": os.cpu_count(),
                                   "loadavg_start": loadavg(), "python": platform.python_version(),
                                   "fast_queries": config.fast_queries, "store": config.store}}
    run = _Parts(res)
    work = Path(tempfile.mkdtemp(prefix="pilotqa-bench-"))
    # children answer by themselves (no PILOTQA_SERVER), and the bench's own servers listen on loopback only
    cfg = config.with_overrides(server="", api_token="", host="127.0.0.1")
    try:
        items = dev_items(config.root)[:: 8 if quick else 1][:limit]
        follow = followup_items(config.root)[:: 4 if quick else 1][:limit]
        res["questions"] = {"dev": len(items), "followups": len(follow)}
        answerable = [it.question for it in items if it.type != "unanswerable"]
        mixed_s = mixed_seconds or (QUICK_MIXED_S if quick else MIXED_S)
        cfg = _child_parts(run, res, chosen, cfg, work, answerable, quick, mixed_s)
        if "build" in chosen:
            index = embedder = None  # the private index, loaded as a query process loads it
        if chosen & {"latency", "followup", "aggregate"} or scale:
            res["load"], qa = _load(run, cfg, index, embedder)
            _in_process_parts(run, res, chosen, qa, cfg, items, follow, quick)
            if scale:
                from bench.scale import run_scale  # each benchmark part loads only when it runs

                res["scale"] = run.run("scale", lambda: run_scale(cfg, scale, work / "scale",
                                                                  [it.question for it in items][:60],
                                                                  embedder=qa.embedder, log=print_log))
                res["errors"].extend(f"scale {e}" for e in (res["scale"] or {}).get("errors", []))
    except _Fatal:
        pass  # already reported; write what was measured
    except Exception as exc:  # noqa: BLE001 - report what we have
        res["errors"].append(f"{type(exc).__name__}: {exc}")
    finally:
        shutil.rmtree(work, ignore_errors=True)

    res["env"]["loadavg_end"] = loadavg()
    res["targets"] = evaluate_targets(res)
    print(format_table(res))
    atomic_write(out / "bench.json", json.dumps(res, ensure_ascii=False, indent=1, default=str))
    atomic_write(out / "bench.md", format_md(res))
    print(f"报告 / report: {out / 'bench.json'}, {out / 'bench.md'}")
    return 1 if res["errors"] else 0


def print_log(msg: str) -> None:
    """bench_scale logs whole lines that already carry their prefix."""
    print(msg, file=sys.stderr, flush=True)


def _child_parts(run: _Parts, res: dict, chosen: set[str], cfg: Config, work: Path, answerable: list[str],
                 quick: bool, mixed_s: float) -> Config:
    """The parts measured in `pilotqa` child processes (see the module docstring for why they come first).
    Returns the configuration the later parts use (the private one after `build`)."""
    from bench.build import (  # each benchmark part loads only when it runs
        bench_add_document,
        bench_index,
        bench_unshipped,
        private_config,
    )

    if "build" in chosen:
        cfg = private_config(cfg, work)
        res["index"] = run.run("build", lambda: bench_index(cfg, work), fatal=True)
        if "unshipped" in chosen:
            res["unshipped"] = run.run("unshipped", lambda: bench_unshipped(cfg, work))
        if "docs" in chosen:
            res["documents"] = run.run("docs", lambda: bench_add_document(cfg, work))
    if "cli" in chosen:
        from bench.cold_cli import bench_cli  # each benchmark part loads only when it runs

        res["cli"] = run.run("cli", lambda: bench_cli(cfg, work, answerable, runs=1 if quick else COLD_ASKS))
        for what, key, ok in (("cold ask", "cold_ask", "answered"), ("wrong call", "wrong_call", "refused")):
            part = (res["cli"] or {}).get(key) or {}
            bad = [r.get("message", f"exit {r['exit']}") for r in part.get("runs", []) if not r.get(ok)]
            res["errors"].extend(f"cli {what}: not {ok}: {m}" for m in bad)
    if "load" in chosen:
        from bench.loadtest import VARIANTS, run_load_test  # each benchmark part loads only when it runs

        log(f"load test: {LOAD_CLIENTS} clients against pilotqa serve…")
        res["load_test"] = run.run("load", lambda: run_load_test(
            cfg, answerable, clients=LOAD_CLIENTS, requests=64 if quick else 256,
            variants=("default",) if quick else tuple(VARIANTS), work=work / "load"))
    if "mixed" in chosen:
        from bench.mixed import run_mixed_load  # each benchmark part loads only when it runs

        log(f"mixed load test: {LOAD_CLIENTS} clients, {mixed_s:.0f} s without and with {LLM_HANGS} hanging LLM "
            "requests…")
        res["mixed_load"] = run.run("mixed", lambda: run_mixed_load(
            cfg, cfg.root, clients=LOAD_CLIENTS, duration=mixed_s, llm_hangs=LLM_HANGS, per_kind=2 if quick else 10,
            work=work / "mixed"))
        res["errors"].extend(f"mixed load {e}" for e in (res["mixed_load"] or {}).get("errors", []))
    return cfg


def _load(run: _Parts, cfg: Config, index, embedder):
    from bench.latency import load_pipeline  # each benchmark part loads only when it runs

    log("loading the index and the query embedder in this process…")
    return run.run("load index", lambda: load_pipeline(cfg, index, embedder), fatal=True)


def _in_process_parts(run: _Parts, res: dict, chosen: set[str], qa, cfg: Config, items, follow,
                      quick: bool = False) -> None:
    from bench.latency import bench_followups, bench_latency  # each benchmark part loads only when it runs

    naive = None
    if "naive" in chosen:
        from bench.naive import NaiveRetriever, naive_chunks  # each benchmark part loads only when it runs

        def build_naive():
            log("naive LangChain peer: splitting and embedding (vectors cached between runs)…")
            chunks = naive_chunks(cfg.corpus)
            r = NaiveRetriever(chunks, qa.embedder, cache_root=Path(cfg.model_cache).parent / "bench-naive")
            res["naive"] = {"chunks": len(chunks), "embedded_now": r.embedded, "embed_seconds": r.embed_seconds}
            return r

        naive = run.run("naive", build_naive)
    if "latency" in chosen:
        log(f"latency over {len(items)} dev questions (variants interleaved)…")
        res["latency"] = run.run("latency", lambda: bench_latency(qa, items, naive))
        v = (res["latency"] or {}).get("variants", {})
        if naive is not None and "naive" in v:
            res["naive"].update({"hit@5": v["naive"]["hit@5"], "hit_n": v["naive"]["hit_n"],
                                 "p50_ms": v["naive"]["p50"], "p95_ms": v["naive"]["p95"],
                                 "pilotqa_hit@5": v["hybrid"]["hit@5"], "pilotqa_p50_ms": v["hybrid"]["p50"],
                                 "pilotqa_p95_ms": v["hybrid"]["p95"]})
        for name, row in v.items():
            res["errors"].extend(f"latency {name} {e}" for e in row.get("error_samples", []))
    if "followup" in chosen:
        log(f"follow-ups: {len(follow)} with history, each beside a single question…")
        singles = [it for it in items if it.type not in ("unanswerable", "cross")]
        res["followups"] = run.run("followup", lambda: bench_followups(qa, follow, singles))
        res["errors"].extend(f"follow-up {e}" for e in (res["followups"] or {}).get("error_samples", []))
    if "aggregate" in chosen:
        from bench.common import dev_items  # the dev aggregate questions (never the blind test split)
        from bench.latency import bench_aggregates  # likewise: this part's code loads only when it runs
        from bench.mixed import ISSUE_AGGREGATE  # likewise

        agg = [it for it in dev_items(cfg.root, AGGREGATE_FILES) if it.type == "aggregate" and not it.history]
        agg = agg[:: 4 if quick else 1]
        log(f"aggregate answers: {len(agg) + 1} questions over all pilots…")
        res["aggregate"] = run.run("aggregate", lambda: bench_aggregates(qa, agg, extra=[ISSUE_AGGREGATE],
                                                                         rounds=1 if quick else 3))
        res["errors"].extend(f"aggregate {e}" for e in (res["aggregate"] or {}).get("error_samples", []))


if __name__ == "__main__":
    sys.exit("use `pilotqa bench` (bench.run has no entry of its own)")
