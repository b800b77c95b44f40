"""Cold command-line calls for `pilotqa bench`: what a user waits for when no server is running.

Each call is a fresh `pilotqa` process (the installed console script) with `PILOTQA_SERVER` cleared, so it
loads the index and the query embedder itself (issue 12: a cold `ask` ≤ 3 s). A wrong call, an unknown
pilot, must fail before anything loads (issue 14: < 1 s). Wall time is measured from this process, so it
includes the interpreter's start and every import, as the user sees it.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from bench.common import config_env, log, run_child, summary
from rag.config import Config

UNKNOWN_PILOT = "深圳"   # a real city that is not among the pilots: the checks must refuse it by name


def _json_answer(log_path: Path) -> bool:
    """The child printed an `ask --json` answer: its whole stdout (kept in `log_path`; `ask --json` indents,
    so it spans many lines) is one JSON object with `answer`."""
    try:
        data = json.loads(log_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and "answer" in data


def bench_cli(cfg: Config, work: Path, questions: Sequence[str], runs: int = 3) -> dict:
    """`runs` cold `pilotqa ask --json` calls on different questions and `runs` calls with an unknown pilot."""
    env = config_env(cfg, PILOTQA_SERVER="")
    asks, wrong = [], []
    for i, q in enumerate(list(questions)[:runs]):
        log_path = work / f"ask-cold-{i}.log"
        r = run_child(["ask", q, "--json"], env, cfg.root, log_path)
        out = r.pop("output")
        r.update(question=q, answered=r["exit"] == 0 and _json_answer(log_path))
        if not r["answered"]:
            r["message"] = ((r.get("stderr") or out or [""])[-1])[:200]
        asks.append(r)
        log(f"cold pilotqa ask: {r['seconds']} s (exit {r['exit']})")
    for i in range(runs):
        r = run_child(["ask", "--pilot", UNKNOWN_PILOT, questions[0]], env, cfg.root, work / f"ask-wrong-{i}.log")
        r.pop("output")
        err = r.get("stderr") or [""]  # the error is on stderr, one line
        r.update(message=err[-1][:200], refused=r["exit"] != 0 and UNKNOWN_PILOT in " ".join(err))
        wrong.append(r)
        log(f"wrong call (unknown pilot): {r['seconds']} s (exit {r['exit']})")
    ok = [r["seconds"] for r in asks if r["answered"]]
    refused = [r["seconds"] for r in wrong if r["refused"]]
    return {"cold_ask": {"runs": asks, "answered": len(ok), **_seconds(ok)},
            "wrong_call": {"runs": wrong, "refused": len(refused), "pilot": UNKNOWN_PILOT, **_seconds(refused)}}


def _seconds(xs: list[float]) -> dict:
    s = summary(xs)
    return {"p50_s": s["p50"], "max_s": max(xs) if xs else None}
