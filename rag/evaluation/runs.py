"""Evaluations started from the web app or the HTTP API: each run gets its own folder.

A public endpoint must never overwrite the committed reports (`eval/reports/`), which the README cites, so an
evaluation asked for by a user writes `<runs_dir>/<YYYYmmdd-HHMMSS>/report.{json,md,png}` (`runs_dir` is
`eval/runs/` by default, git-ignored; the 评测 tab lists these runs). This is the only thing the server writes.

`run_evaluation(qa, config, k=..., limit=..., on_question=...)` is shared by the API (`POST /api/eval`) and the
评测 tab; `on_question(done, total)` lets the tab drive its progress bar.
"""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Callable

from rag import evaluation as E
from rag.config import Config

REPORT_NAME = "report"  # the name the 评测 tab (ui/evaltab.py) looks for in a run folder
_LOCK = threading.Lock()  # one evaluation at a time per process: it is CPU-bound and a second run helps nobody


class EvalBusy(RuntimeError):
    """Another evaluation is running in this process."""


def new_run_dir(runs_dir: str | Path) -> Path:
    """A fresh `<runs_dir>/<timestamp>` folder (a `-2`, `-3`… suffix if that second is taken)."""
    root = Path(runs_dir)
    root.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for n in range(1, 1000):
        d = root / (stamp if n == 1 else f"{stamp}-{n}")
        try:
            d.mkdir()  # exist_ok=False: two runs in the same second never share a folder
            return d
        except FileExistsError:
            continue
    raise RuntimeError(f"no free run folder under {root}")


def run_evaluation(qa, config: Config, *, k: int | None = None, limit: int | None = None,
                   on_question: Callable[[int, int], None] | None = None) -> dict:
    """Evaluate `qa` on the bundled gold set (extractive answerer) into a new run folder.

    Returns {"run", "dir", "questions", "duration_s", "metrics", "files"}; raises EvalBusy when a run is going.
    """
    if not _LOCK.acquire(blocking=False):
        raise EvalBusy("评测正在进行中，请稍候再试。 / An evaluation is already running; try again later.")
    try:
        items, _warnings = E.load_gold(Path(config.root) / "eval" / "gold.jsonl")
        if limit:
            items = items[: max(1, int(limit))]
        total, done = len(items), [0]

        def run(question: str, settings: dict, **extra) -> dict:
            try:
                return qa.ask(question, k=settings.get("k"), mode=settings.get("mode"),
                              answerer="extractive", history=extra.get("history")).to_dict()
            finally:
                done[0] += 1
                if on_question:
                    on_question(done[0], total)

        settings = {"k": int(k or config.k), "mode": config.mode, "answerer": "extractive"}
        result = E.evaluate(items, run, settings, progress=False, aliases=getattr(qa.index, "aliases", None))
        folder = new_run_dir(config.runs_dir)
        paths = E.write_report(result, folder, REPORT_NAME, meta={"gold": "gold.jsonl", "limit": limit or "全部",
                                                                 "source": "POST /api/eval"})
        for p in paths.values():
            os.chmod(p, 0o644)  # atomic writes create 0600 temp files; a report is for reading
        try:
            shown = str(folder.relative_to(Path(config.root)))
        except ValueError:  # no server paths in replies
            shown = f"{Path(config.runs_dir).name}/{folder.name}"
        return {"run": folder.name, "dir": shown, "questions": total, "duration_s": round(result.duration_s, 2),
                "metrics": result.overall, "files": sorted(p.name for p in paths.values())}
    finally:
        _LOCK.release()
