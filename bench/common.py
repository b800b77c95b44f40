"""What every part of `pilotqa bench` shares: percentiles, child processes and their memory, the questions.

Child processes are how the bench measures anything a user runs as a command (build, `docs add`, a cold
`ask`, `serve`): `run_child` times one to completion. Its peak RSS cannot come from `os.wait4`: Linux starts
a child's `ru_maxrss` from the parent's own resident size at fork and carries it over exec, so a bench that
has loaded an index would see its own size. A child that needs its peak is therefore run through this
module's `--peak` entry, which runs the `pilotqa` command in-process and writes its own `VmHWM` at exit.
"""
from __future__ import annotations

import json
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import fields
from pathlib import Path
from typing import Any, Callable, Sequence

from rag.config import Config
from rag.text import norm

DEV_FILES = ("gold.jsonl", "gold-brief.jsonl")          # single questions (dev splits only)
DIALOG_FILES = ("dialog.jsonl", "dialog-brief.jsonl")   # follow-ups (dev splits only)
AGGREGATE_FILES = ("aggregate.jsonl",)                   # aggregates over all pilots (dev split only)
# hit@5: questions about one pilot whose gold evidence is one corpus line (cross, count and refusals have none)
EVIDENCE_TYPES = ("number", "fact", "list", "overview")


# --------------------------------------------------------------------------- numbers


def pct(values: Sequence[float], q: float) -> float | None:
    """Percentile with linear interpolation (numpy's default); None for no values."""
    import numpy as np  # numpy loads only for measurements

    xs = [float(v) for v in values]
    return float(np.percentile(xs, q)) if xs else None


def summary(values: Sequence[float]) -> dict:
    xs = [float(v) for v in values]
    if not xs:
        return {"n": 0, "p50": None, "p95": None, "mean": None}
    return {"n": len(xs), "p50": round(pct(xs, 50), 2), "p95": round(pct(xs, 95), 2),
            "mean": round(statistics.fmean(xs), 2)}


def fan_out(clients: int, client: Callable[[], None]) -> float:
    """Run `client` in `clients` threads at once and wait for them all; the wall time in seconds."""
    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - t0


def gradio_outcome(stream: str) -> tuple[str | None, str | None]:
    """(last event, its data) of a Gradio `/gradio_api/call/<endpoint>/<id>` event stream."""
    event, payload = None, None
    for line in stream.splitlines():
        if line.startswith("event:"):
            event = line.split(":", 1)[1].strip()
        elif line.startswith("data:") and event in ("complete", "error"):
            payload = line.split(":", 1)[1].strip()
    return event, payload


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- questions and hits


def dev_items(root: Path, files: Sequence[str] = DEV_FILES) -> list:
    """The dev questions of `eval/` (never the blind test splits), in file order."""
    from rag.evaluation import load_gold  # the evaluation loads only for this command

    items = []
    for name in files:
        items.extend(load_gold(Path(root) / "eval" / name)[0])
    return items


def followup_items(root: Path) -> list:
    """The dev dialogue items that carry a `history` (asked through `qa.ask(q, history=...)`)."""
    return [it for it in dev_items(root, DIALOG_FILES) if it.history]


def evidence_hit(texts: Sequence[str], evidence: Sequence[str]) -> bool:
    """A returned text contains the gold evidence (normalised: NFKC, no whitespace)."""
    ev = [norm(e) for e in evidence if norm(e)]
    return any(e in norm(t) for t in texts for e in ev)


def hit_at_5(items, texts_of: Callable[[Any], list[str] | None]) -> dict:
    """hit@5 over the questions with one evidence line: one of the top-5 texts contains it. Text only, so the
    naive peer (whose chunks carry no pilot) is judged by the same rule as PilotQA."""
    hits = []
    for it in items:
        if it.type not in EVIDENCE_TYPES or not it.evidence:
            continue
        texts = texts_of(it)
        if texts is not None:
            hits.append(evidence_hit(texts[:5], it.evidence))
    return {"hit@5": round(sum(hits) / len(hits), 4) if hits else None, "hit_n": len(hits)}


# --------------------------------------------------------------------------- child processes


def config_env(config: Config, **extra: str) -> dict:
    """The environment for a child `pilotqa` process that sees exactly this config (every field, so a new
    setting cannot be forgotten here); `extra` wins."""
    env = dict(os.environ)
    for f in fields(config):
        v = getattr(config, f.name)
        if isinstance(v, tuple):
            v = os.pathsep.join(str(x) for x in v)
        elif isinstance(v, bool):
            v = "true" if v else "false"
        env["PILOTQA_" + f.name.upper()] = str(v)
    env.update({"GRADIO_ANALYTICS_ENABLED": "False", "TOKENIZERS_PARALLELISM": "false"})
    env.update(extra)
    return env


def pilotqa_command() -> list[str]:
    """The installed console script when there is one (what a user runs), else `python -m rag.cli`."""
    script = Path(sys.executable).with_name("pilotqa")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "rag.cli"]


def run_child(args: Sequence[str], env: dict, cwd: Path, log_path: Path, *, peak: bool = False,
              command: Sequence[str] | None = None, timeout: float = 1800.0) -> dict:
    """Run `pilotqa ARGS` to completion: wall seconds, exit code, the child's CPU seconds, the tails of its
    stdout (`output`, kept whole in `log_path`) and stderr (`stderr`, in `log_path` + ".err") and, with
    `peak`, its own peak RSS (see the module docstring). `command` replaces the `pilotqa` executable."""
    peak_file = log_path.with_suffix(".peak.json")
    err_path = log_path.with_name(log_path.name + ".err")
    if peak:
        cmd = [sys.executable, "-m", "bench.common", "--peak", str(peak_file), *args]
    else:
        cmd = [*(command or pilotqa_command()), *args]
    t0 = time.perf_counter()
    with open(log_path, "wb") as out, open(err_path, "wb") as err:
        proc = subprocess.Popen(cmd, env=env, cwd=str(cwd), stdout=out, stderr=err)
        # wait4 (not Popen.wait) because it also returns the child's rusage; a timer bounds it
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
    seconds = time.perf_counter() - t0
    code = proc.returncode = os.waitstatus_to_exitcode(status)

    def tail(path: Path) -> list[str]:
        return path.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-12:]

    res = {"seconds": round(seconds, 2), "exit": code, "output": tail(log_path), "stderr": tail(err_path),
           "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2)}
    if peak:
        data = json.loads(peak_file.read_text()) if peak_file.exists() else {}
        res["peak_rss_mb"] = data.get("peak_rss_mb")
        if data.get("build"):
            res["build_report"] = data["build"]
    return res


def own_peak_mb() -> float:
    """This process's peak resident memory (VmHWM) in MB."""
    m = re.search(r"^VmHWM:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.M)
    return round(int(m.group(1)) / 1024, 1) if m else 0.0


def proc_tree_memory(pid: int) -> dict:
    """VmRSS summed over `pid` and its descendants, and the largest VmHWM among them (MB), from /proc."""
    children: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
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


def stop_process(proc: subprocess.Popen) -> None:
    """Stop a child started with `start_new_session=True` (its whole session), politely first."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGINT, 10), (signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)  # our own child's session, never anything else
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


BUILD_FIELDS = ("chunks", "embedded", "reused", "seconds", "sentences", "sentences_embedded", "shipped", "facts",
                "facts_seconds")


def _peak_entry(peak_file: str, args: list[str]) -> int:
    """`python -m bench.common --peak FILE ARGS…`: `pilotqa ARGS…` in this process, then its VmHWM. For
    `build`, also the figures of the `BuildReport` that `pilotqa build` does not print (the fact extraction's
    time, the vectors that came shipped): `build_index` is wrapped to keep them, nothing else changes."""
    from rag.cli.main import main  # the evaluation loads only for this command

    out: dict = {}
    if args[:1] == ["build"]:
        import rag.index.store as store  # `pilotqa build` imports build_index from here when it runs

        original = store.build_index

        def recording(*a, **kw):
            report = original(*a, **kw)
            out["build"] = {k: getattr(report, k, None) for k in BUILD_FIELDS}
            return report

        store.build_index = recording
    try:
        return main(args)
    finally:
        Path(peak_file).write_text(json.dumps({"peak_rss_mb": own_peak_mb(), **out}), encoding="utf-8")


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "--peak":
        sys.exit(_peak_entry(sys.argv[2], sys.argv[3:]))
    sys.exit("usage: python -m bench.common --peak OUT.json PILOTQA-ARGS… (used by `pilotqa bench`)")
