"""Issue 21's load test: 32 clients, mixed questions, against a real `pilotqa serve`, twice.

    run_mixed_load(config, root, clients=32, duration=60.0, llm_hangs=8)  -> the `mixed_load` section

1. The server (a `pilotqa serve` child on the bench's private documents folder and index) has its `llm` answerer
   configured against `bench.hanging_llm.HangingLLM`, an endpoint that accepts the connection and never answers.
2. Every mixed question is asked *alone* (one request at a time, nothing else running) in the two index states
   the run will see: the documents as built (state A) and with `ADDED_TXT` added through the server's
   knowledge-base API (state B, Gradio's `kb_add` / `kb_remove` routes, as the 知识库 tab calls them); after the
   removal, state A again (checked).
3. `baseline`: `clients` threads ask the mixed questions for `duration` seconds; every reply must be 200 and
   identical (`fingerprint`) to the same question asked alone in state A.
4. `hang`: first `llm_hangs` requests with `"answerer": "llm"` are sent and left hanging (half hold the LLM's
   slots at the endpoint, the rest wait for one), then the same `duration`-second run while a thread adds and
   removes `ADDED_TXT` again and again through the knowledge-base API; a reply must equal the alone answer of
   state A or of state B (either is acceptable: the index it was served from is not in the reply). At the end
   the endpoint lets the LLM requests go; each must still be answered (the extractive fallback).

The mixed questions (`mixed_requests`) come from the dev splits only: single-pilot, which-pilots, pilots named
only by description, follow-ups with their history, comparisons, aggregates over all pilots.
"""
from __future__ import annotations

import http.client
import itertools
import json
import re
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Sequence

from bench.common import fan_out, gradio_outcome, log, summary
from rag.config import Config

KINDS = ("single", "which", "description", "followup", "compare", "aggregate")
# The issue's own example of an aggregate over all pilots (its text, not a test-split question)
ISSUE_AGGREGATE = "2020年常住人口城镇化率目标最高的是哪个试点？"
ADDED_TXT = "基准测试会议纪要.txt"
# A plain note: no pilot, no urbanisation figures, nothing the mixed questions ask about
_NOTE = ("某县图书馆开放时间调整会议纪要\n\n一、会议议定事项\n\n"
         "县图书馆自下月起周一闭馆，周二至周日开放，夏季延长至晚上九点，由文化馆牵头落实。\n\n"
         "二、其他事项\n\n少儿阅览室增设绘本专区，新购图书两千册，志愿者招募工作由团县委负责。\n")
# What an answer is, for "identical to the same question asked alone" (not its timings or scores)
ANSWER_FIELDS = ("answer", "answerable", "citations", "resolved_question", "rows", "result", "notice", "pilots",
                 "shape", "is_cross", "grounded")


# --------------------------------------------------------------------------- the questions


def mixed_requests(root: Path, per_kind: int = 10) -> list[dict]:
    """Up to `per_kind` requests of each kind, spread over the dev files: {"key", "kind", "question", "history"}."""
    from rag.evaluation import load_gold  # the evaluation loads only for this command

    def load(name: str) -> list:
        path = Path(root) / "eval" / name
        return [(name, it) for it in load_gold(path)[0]] if path.is_file() else []

    singles = load("gold.jsonl") + load("gold-brief.jsonl") + load("gold-brief2.jsonl")
    dialogs = load("dialog.jsonl") + load("dialog-brief.jsonl")
    aggregates = load("aggregate.jsonl") + load("dialog-aggregate.jsonl")
    pools: dict[str, list] = {
        "single": [(f, it) for f, it in singles if it.type in ("number", "fact", "list", "overview")
                   and not set(it.tags) & {"description", "english"}],
        "which": [(f, it) for f, it in singles if it.type in ("cross", "count")],
        "description": [(f, it) for f, it in singles if "description" in it.tags and it.type != "unanswerable"],
        "followup": [(f, it) for f, it in dialogs + aggregates if it.history and it.type == "followup"],
        "compare": [(f, it) for f, it in dialogs if it.type == "compare"],
        "aggregate": [(f, it) for f, it in aggregates if it.type == "aggregate"],
    }
    out: list[dict] = []
    for kind in KINDS:
        pool = pools[kind]
        step = max(1, len(pool) // max(1, per_kind))
        for f, it in pool[::step][:per_kind]:
            out.append({"key": f"{f}:{it.id}", "kind": kind, "question": it.question, "history": list(it.history)})
    if not any(r["question"] == ISSUE_AGGREGATE for r in out):
        out.append({"key": "issue-21:aggregate", "kind": "aggregate", "question": ISSUE_AGGREGATE, "history": []})
    return out


def fingerprint(reply: dict) -> str:
    return json.dumps({k: reply.get(k) for k in ANSWER_FIELDS}, ensure_ascii=False, sort_keys=True)


# --------------------------------------------------------------------------- HTTP


def _post(conn: http.client.HTTPConnection, path: str, body: dict) -> tuple[int, Any]:
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    conn.request("POST", path, body=data, headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    raw = resp.read()
    try:
        return resp.status, json.loads(raw)
    except ValueError:
        return resp.status, raw[:200].decode("utf-8", "replace")


def _conn(url: str, timeout: float) -> http.client.HTTPConnection:
    p = urllib.parse.urlsplit(url)
    return http.client.HTTPConnection(p.hostname, p.port, timeout=timeout)


def _body(r: dict) -> dict:
    body = {"question": r["question"]}
    if r["history"]:
        body["history"] = list(r["history"])
    return body


def ask_alone(url: str, reqs: Sequence[dict], timeout: float = 120.0) -> tuple[dict[str, str], dict[str, dict], list[str]]:
    """Each request on its own, one after another: key -> fingerprint, key -> reply, errors."""
    conn = _conn(url, timeout)
    fps: dict[str, str] = {}
    replies: dict[str, dict] = {}
    errors: list[str] = []
    try:
        for r in reqs:
            try:
                status, data = _post(conn, "/api/ask", _body(r))
            except Exception as exc:  # noqa: BLE001 - reported
                errors.append(f"{r['key']}: {type(exc).__name__}: {exc}")
                conn.close()
                conn = _conn(url, timeout)
                continue
            if status != 200 or not isinstance(data, dict):
                errors.append(f"{r['key']}: HTTP {status}: {str(data)[:120]}")
                continue
            fps[r["key"]], replies[r["key"]] = fingerprint(data), data
    finally:
        conn.close()
    return fps, replies, errors


def drive_mixed(url: str, reqs: Sequence[dict], accept: dict[str, set[str]], *, clients: int = 32,
                duration: float = 60.0, timeout: float = 120.0, expected: dict[str, dict] | None = None) -> dict:
    """`clients` threads ask `reqs` in turn (each client from its own offset) for `duration` seconds; a reply must
    be 200 and its fingerprint one of `accept[key]`. Latencies in ms; `records` keeps (monotonic start, end)
    of each request for the caller's overlap analysis (dropped from the returned section)."""
    lock = threading.Lock()
    counter = itertools.count()
    records: list[dict] = []
    end_at = time.monotonic() + duration

    def client() -> None:
        conn = _conn(url, timeout)
        try:
            while time.monotonic() < end_at:
                with lock:
                    i = next(counter)
                r = reqs[i % len(reqs)]
                rec: dict[str, Any] = {"key": r["key"], "kind": r["kind"], "start": time.monotonic()}
                t0 = time.perf_counter()
                try:
                    status, data = _post(conn, "/api/ask", _body(r))
                    rec["ms"] = (time.perf_counter() - t0) * 1000
                    if status != 200 or not isinstance(data, dict) or "answer" not in data:
                        rec["error"] = f"HTTP {status}: {str(data)[:120]}"
                    elif fingerprint(data) not in accept.get(r["key"], set()):
                        rec["mismatch"] = str(data.get("answer"))[:100]
                except Exception as exc:  # noqa: BLE001 - counted and sampled, the run goes on
                    rec["ms"] = (time.perf_counter() - t0) * 1000
                    rec["error"] = f"{type(exc).__name__}: {str(exc)[:120]}"
                    conn.close()
                    conn = _conn(url, timeout)
                rec["end"] = time.monotonic()
                with lock:
                    records.append(rec)
        finally:
            conn.close()

    wall = fan_out(clients, client)
    ok = [r for r in records if "error" not in r]
    lat = summary([r["ms"] for r in ok])
    bad = [r for r in records if "mismatch" in r]
    samples = []
    for r in bad[:3]:
        q = next(x for x in reqs if x["key"] == r["key"])
        samples.append({"key": r["key"], "question": q["question"], "history": q["history"], "got": r["mismatch"],
                        "alone": str(((expected or {}).get(r["key"]) or {}).get("answer"))[:100]})
    kinds = {}
    for kind in dict.fromkeys(x["kind"] for x in reqs):
        mine = [r for r in ok if r["kind"] == kind]
        s = summary([r["ms"] for r in mine])
        kinds[kind] = {"n": s["n"], "p50": s["p50"], "p95": s["p95"],
                       "mismatches": sum(1 for r in mine if "mismatch" in r)}
    return {"clients": clients, "duration_s": duration, "wall_s": round(wall, 2), "requests": len(records),
            "ok": len(ok), "errors": len(records) - len(ok),
            "error_samples": [r["error"] for r in records if "error" in r][:3],
            "mismatches": len(bad), "mismatched_questions": len({r["key"] for r in bad}),
            "mismatch_samples": samples, "throughput_rps": round(len(ok) / wall, 2) if wall else None,
            "p50_ms": lat["p50"], "p95_ms": lat["p95"], "mean_ms": lat["mean"],
            "max_ms": round(max(r["ms"] for r in ok), 1) if ok else None, "by_kind": kinds, "records": records}


# --------------------------------------------------------------------------- the knowledge-base API


class KnowledgeBase:
    """The server's document management as the 知识库 tab calls it: Gradio's upload route, then `kb_add` /
    `kb_remove` through `/gradio_api/call/<name>` (no token: the bench's server listens on loopback only)."""

    def __init__(self, url: str, token: str = ""):
        import httpx  # gradio's own HTTP client, installed with it

        self.client = httpx.Client(base_url=url, timeout=600)
        self.token = token or None

    def close(self) -> None:
        self.client.close()

    def _call(self, endpoint: str, data: list) -> str:
        r = self.client.post(f"/gradio_api/call/{endpoint}", json={"data": data})
        r.raise_for_status()
        event_id = r.json()["event_id"]
        event, payload = gradio_outcome(self.client.get(f"/gradio_api/call/{endpoint}/{event_id}").text)
        if event != "complete":
            raise RuntimeError(f"{endpoint}: {event}: {payload}")
        outputs = json.loads(payload) if payload else []
        return " ".join(str(o) for o in outputs if isinstance(o, str))

    def add(self, name: str, data: bytes) -> dict:
        t0 = time.monotonic()
        r = self.client.post("/gradio_api/upload", files=[("files", (name, data))])
        r.raise_for_status()
        fd = {"path": r.json()[0], "orig_name": name, "meta": {"_type": "gradio.FileData"}}
        status = self._call("kb_add", [[fd], self.token])
        return self._result("add", status, t0)

    def remove(self, name: str) -> dict:
        t0 = time.monotonic()
        return self._result("remove", self._call("kb_remove", [name, self.token]), t0)

    @staticmethod
    def _result(op: str, status: str, t0: float) -> dict:
        ok = "索引已更新" in status
        text = re.sub(r"<[^>]+>", " ", status)
        return {"op": op, "ok": ok, "start": t0, "end": time.monotonic(), "seconds": round(time.monotonic() - t0, 2),
                "message": " ".join(text.split())[:200]}


# --------------------------------------------------------------------------- the whole test


def run_mixed_load(config: Config, root: Path, *, clients: int = 32, duration: float = 60.0, llm_hangs: int = 8,
                   per_kind: int = 10, work: Path | None = None, ready_timeout: float = 300.0) -> dict:
    """Steps 1-4 of the module docstring. Returns the `mixed_load` section of bench.json."""
    from bench.common import loadavg, proc_tree_memory  # each benchmark part loads only when it runs
    from bench.hanging_llm import HangingLLM  # likewise
    from bench.loadtest import start_server, stop_server  # likewise

    work = Path(work or Path.cwd())
    work.mkdir(parents=True, exist_ok=True)
    reqs = mixed_requests(root, per_kind)
    llm_timeout = duration + 120.0  # the LLM requests hang through the whole run
    out: dict[str, Any] = {"clients": clients, "duration_s": duration, "llm_hangs": llm_hangs,
                           "questions": len(reqs), "by_kind": {k: sum(1 for r in reqs if r["kind"] == k) for k in KINDS},
                           "document": ADDED_TXT, "errors": []}
    note = _NOTE.encode("utf-8")
    with HangingLLM() as llm:
        env = {"PILOTQA_LLM_BASE_URL": llm.base_url, "PILOTQA_LLM_MODEL": "hanging-mock",
               "PILOTQA_LLM_API_KEY": "bench-mock", "PILOTQA_LLM_TIMEOUT": str(llm_timeout)}
        log(f"mixed load: starting pilotqa serve (llm → a hanging mock at {llm.base_url})…")
        t0 = time.perf_counter()
        proc, url = start_server(config, work / "serve-mixed.log", ready_timeout=ready_timeout, **env)
        out["ready_s"] = round(time.perf_counter() - t0, 2)
        kb = KnowledgeBase(url)
        try:
            out["llm_concurrency"] = _llm_slots(config)
            log(f"mixed load: {len(reqs)} questions asked alone, in state A, with {ADDED_TXT} (B), A again…")
            ask_alone(url, reqs[:4])  # warm-up (caches of the server's first requests)
            alone_a, replies_a, err_a = ask_alone(url, reqs)
            add = kb.add(ADDED_TXT, note)
            if not add["ok"]:
                raise RuntimeError(f"kb_add failed: {add['message']}")
            alone_b, _, err_b = ask_alone(url, reqs)
            rm = kb.remove(ADDED_TXT)
            if not rm["ok"]:
                raise RuntimeError(f"kb_remove failed: {rm['message']}")
            alone_a2, _, err_a2 = ask_alone(url, reqs)
            out["alone"] = {
                "errors": len(err_a) + len(err_b) + len(err_a2), "error_samples": (err_a + err_b + err_a2)[:3],
                "differ_with_document": sum(1 for k in alone_a if alone_b.get(k) != alone_a[k]),
                "differ_after_removal": sum(1 for k in alone_a if alone_a2.get(k) != alone_a[k]),
                "kb_add_s": add["seconds"], "kb_remove_s": rm["seconds"]}
            accept_a = {k: {v} for k, v in alone_a.items()}
            accept_ab = {k: {v, alone_b.get(k, v)} for k, v in alone_a.items()}

            log(f"mixed load: baseline, {clients} clients for {duration:.0f} s…")
            la = loadavg()
            base = drive_mixed(url, reqs, accept_a, clients=clients, duration=duration, expected=replies_a)
            base.pop("records")
            base.update(loadavg_start=la, loadavg_end=loadavg(), server_rss_mb=proc_tree_memory(proc.pid)["rss_mb"])
            out["baseline"] = base
            log(f"baseline: {base['throughput_rps']} req/s, p50 {base['p50_ms']} ms, p95 {base['p95_ms']} ms, "
                f"errors {base['errors']}, mismatches {base['mismatches']}")

            out["hang"] = _hang_run(url, reqs, accept_ab, replies_a, kb, llm, note, clients=clients,
                                    duration=duration, llm_hangs=llm_hangs, llm_timeout=llm_timeout,
                                    slots=out["llm_concurrency"], proc=proc)
            h = out["hang"]
            log(f"hang: {h['throughput_rps']} req/s, p50 {h['p50_ms']} ms, p95 {h['p95_ms']} ms, errors {h['errors']}, "
                f"mismatches {h['mismatches']}; {len(h['documents']['ops'])} document changes")
        finally:
            kb.close()
            stop_server(proc)
    b, h = out.get("baseline") or {}, out.get("hang") or {}
    if b.get("p95_ms") and h.get("p95_ms") is not None:
        out["p95_ratio"] = round(h["p95_ms"] / b["p95_ms"], 3)
        od = h["outside_document_changes"]["p95_ms"]
        # the hanging LLM alone: the hanging run's requests that overlapped no document change
        out["p95_ratio_outside_document_changes"] = round(od / b["p95_ms"], 3) if od is not None else None
    if h:
        out["errors"] += [f"hang: {e}" for e in h.get("error_samples", [])]
        out["errors"] += [f"LLM request: {e}" for e in h["llm"].get("error_samples", [])]
        out["errors"] += [f"document {o['op']}: {o['message']}" for o in h["documents"]["ops"] if not o["ok"]]
        if not any(o["ok"] for o in h["documents"]["ops"]):
            out["errors"].append("no document was added or removed during the hanging-LLM run")
    out["errors"] += [f"baseline: {e}" for e in b.get("error_samples", [])]
    return out


def _llm_slots(config: Config) -> int:
    return max(1, int(getattr(config, "llm_concurrency", 4) or 4))


def _hang_run(url: str, reqs, accept, expected, kb: KnowledgeBase, llm, note: bytes, *, clients: int,
              duration: float, llm_hangs: int, llm_timeout: float, slots: int, proc) -> dict:
    from bench.common import loadavg, proc_tree_memory  # each benchmark part loads only when it runs

    llm_q = next((r["question"] for r in reqs if r["kind"] == "single"), reqs[0]["question"])

    def llm_ask(_: int) -> dict:
        conn = _conn(url, llm_timeout + 120)
        t0 = time.perf_counter()
        try:
            status, data = _post(conn, "/api/ask", {"question": llm_q, "answerer": "llm"})
            notice = data.get("notice") if isinstance(data, dict) else None
            return {"status": status, "seconds": round(time.perf_counter() - t0, 2), "fallback": bool(notice),
                    "error": None if status == 200 else f"HTTP {status}: {str(data)[:120]}"}
        except Exception as exc:  # noqa: BLE001 - reported
            return {"status": None, "seconds": round(time.perf_counter() - t0, 2), "fallback": False,
                    "error": f"{type(exc).__name__}: {str(exc)[:120]}"}
        finally:
            conn.close()

    pool = ThreadPoolExecutor(max(1, llm_hangs))
    pending = [pool.submit(llm_ask, i) for i in range(llm_hangs)]
    deadline = time.monotonic() + 90  # the server's first LLM answer imports its client first
    want = min(llm_hangs, slots)
    while llm.hanging < want and time.monotonic() < deadline:
        time.sleep(0.05)
    llm_info: dict[str, Any] = {"requests": llm_hangs, "at_endpoint_start": llm.hanging,
                                "pending_start": sum(not f.done() for f in pending)}

    stop = threading.Event()
    ops: list[dict] = []
    gap = max(1.0, duration / 8)

    def churn() -> None:  # add, remove, add, … the note, through the knowledge-base API, until the run ends
        added = False
        while not stop.is_set():
            try:
                op = kb.remove(ADDED_TXT) if added else kb.add(ADDED_TXT, note)
            except Exception as exc:  # noqa: BLE001 - reported
                op = {"op": "remove" if added else "add", "ok": False, "start": time.monotonic(),
                      "end": time.monotonic(), "seconds": 0.0, "message": f"{type(exc).__name__}: {exc}"[:200]}
            ops.append(op)
            if op["ok"]:
                added = not added
            stop.wait(gap)  # paced, so that some requests overlap no change (see `outside_document_changes`)
        if added:  # leave the folder as it was
            try:
                op = kb.remove(ADDED_TXT)
            except Exception as exc:  # noqa: BLE001 - reported
                op = {"op": "remove", "ok": False, "start": time.monotonic(), "end": time.monotonic(),
                      "seconds": 0.0, "message": f"{type(exc).__name__}: {exc}"[:200]}
            op["after_run"] = True
            ops.append(op)

    la = loadavg()
    changer = threading.Thread(target=churn, daemon=True)
    changer.start()
    res = drive_mixed(url, reqs, accept, clients=clients, duration=duration, expected=expected)
    llm_info.update(at_endpoint_end=llm.hanging, pending_end=sum(not f.done() for f in pending))
    res.update(loadavg_start=la, loadavg_end=loadavg(), server_rss_mb=proc_tree_memory(proc.pid)["rss_mb"])
    stop.set()
    changer.join(600)
    llm.release()
    results = [f.result() for f in pending]
    pool.shutdown()
    llm_info.update(answered=sum(1 for r in results if r["status"] == 200),
                    fallback=sum(1 for r in results if r["fallback"]),
                    max_s=max((r["seconds"] for r in results), default=None),
                    error_samples=[r["error"] for r in results if r["error"]][:3])
    # the same figures for the requests that overlapped no document change (the change's own cost aside)
    during = [o for o in ops if not o.get("after_run")]
    spans = [(o["start"], o["end"]) for o in during]
    clear = [r["ms"] for r in res["records"] if "error" not in r
             and not any(r["start"] < e and s < r["end"] for s, e in spans)]
    cs = summary(clear)
    res["outside_document_changes"] = {"n": cs["n"], "p50_ms": cs["p50"], "p95_ms": cs["p95"]}
    res["documents_pause_s"] = gap
    res.pop("records")
    res["llm"] = llm_info
    res["documents"] = {"ops": [{k: v for k, v in o.items() if k not in ("start", "end")} for o in ops],
                        "added": sum(1 for o in during if o["ok"] and o["op"] == "add"),
                        "removed": sum(1 for o in during if o["ok"] and o["op"] == "remove")}
    return res


def format_md(res: dict) -> list[str]:
    """The bench report's section for a `run_mixed_load` result."""
    b, h = res.get("baseline") or {}, res.get("hang") or {}
    al = res.get("alone") or {}
    kinds = ", ".join(f"{k} {n}" for k, n in res["by_kind"].items())
    lines = [f"## 混合问题负载 / Mixed load, {res['clients']} clients × {res['duration_s']:.0f} s, twice (issue 21)", "",
             f"{res['questions']} dev questions ({kinds}), each reply compared with the same question asked alone "
             f"(answer, citations, rows, understood-as, notice). Asked alone: {al.get('differ_with_document')} answers "
             f"differ with {res['document']} added, {al.get('differ_after_removal')} after it was removed again "
             f"(kb_add {al.get('kb_add_s')} s, kb_remove {al.get('kb_remove_s')} s through the server's "
             "knowledge-base API).", "",
             "| run | requests | req/s | p50 ms | p95 ms | max ms | errors | answers ≠ alone | load avg |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, r in (("baseline", b), (f"{res['llm_hangs']} LLM requests hanging + documents added/removed", h)):
        if r:
            lines.append(f"| {name} | {r['requests']} | {r['throughput_rps']} | {r['p50_ms']} | {r['p95_ms']} | "
                         f"{r['max_ms']} | {r['errors']} | {r['mismatches']} | {r['loadavg_start'][0]} → "
                         f"{r['loadavg_end'][0]} |")
    if h:
        od, lm, dc = h["outside_document_changes"], h["llm"], h["documents"]
        lines += ["", f"p95 ratio (hanging run ÷ baseline): {res.get('p95_ratio')}. In the hanging run, requests that "
                      f"overlapped no document change: n={od['n']}, p50 {od['p50_ms']} ms, p95 {od['p95_ms']} ms "
                      f"(ratio {res.get('p95_ratio_outside_document_changes')}; a change starts every "
                      f"{h.get('documents_pause_s')} s after the previous one ends, and rebuilds the index in the "
                      "server process, on the same CPUs). "
                      f"Documents during the run: {dc['added']} added, {dc['removed']} removed. LLM requests: "
                      f"{lm['at_endpoint_start']} held at the endpoint and {lm['pending_start']} pending at the start, "
                      f"{lm['at_endpoint_end']} / {lm['pending_end']} at the end; after the endpoint let go, "
                      f"{lm['answered']} of {lm['requests']} answered ({lm['fallback']} with the extractive fallback's "
                      "notice).", "", "| kind | baseline n | p50 | p95 | ≠ alone | hanging n | p50 | p95 | ≠ alone |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for k, bk in b.get("by_kind", {}).items():
            hk = h.get("by_kind", {}).get(k, {})
            lines.append(f"| {k} | {bk['n']} | {bk['p50']} | {bk['p95']} | {bk['mismatches']} | {hk.get('n')} | "
                         f"{hk.get('p50')} | {hk.get('p95')} | {hk.get('mismatches')} |")
    for r in (b.get("mismatch_samples") or []) + (h.get("mismatch_samples") or []):
        lines.append(f"\n- differs from alone: {r['question']} (history {r['history']}): got “{r['got']}”, alone "
                     f"“{r['alone']}”")
    return lines + [""]
