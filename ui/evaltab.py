"""The 评测 tab: the committed report, and evaluation runs that never touch it.

运行评测 (and its `run_eval` endpoint) writes each run to its own folder `eval/runs/<timestamp>/` (git-ignored;
the report files are `<timestamp>.json|md|png`),
never to `eval/reports/`: the committed reports are produced by `pilotqa eval` from reviewed code and the
README cites them. The tab shows the committed `latest` report by default, and any run picked in the list,
rendered from the report's JSON in Chinese (ui/evalview.py; the English metric names are tooltips).
Only the development sets are offered; the blind test splits are never run or shown here.

  eval_report(which)        -> report html
  run_eval(gold, k, limit)  -> (report html, report picker)
"""
from __future__ import annotations

import json
import logging
import re
import threading
import time
from pathlib import Path

import gradio as gr

from rag.config import Config
from ui import evalview as V

log = logging.getLogger("pilotqa.ui")

LATEST = "latest"
GOLD_SETS = [("开发集", "gold.jsonl"), ("对话集", "dialog.jsonl")]
NO_REPORT = "暂无评测报告。点击“运行评测”，用自带的标准问答集运行一次评测。"
NO_RUN = "没有这次评测运行的报告。"
_RUN_NAME = re.compile(r"^\d{8}-\d{6}(-\d+)?$")


def reports_dir(config: Config) -> Path:
    return Path(getattr(config, "reports_dir", None) or Path(config.root) / "eval" / "reports")


def runs_dir(config: Config) -> Path:
    return Path(getattr(config, "runs_dir", None) or Path(config.root) / "eval" / "runs")


def list_runs(config: Config) -> list[str]:
    d = runs_dir(config)
    if not d.is_dir():
        return []
    return sorted((p.name for p in d.iterdir() if p.is_dir() and _RUN_NAME.match(p.name)
                   and (p / f"{p.name}.md").is_file()), reverse=True)


def run_choices(config: Config) -> list[tuple[str, str]]:
    return [("已提交的报告", LATEST)] + [(f"运行于 {V.when(r)}", r) for r in list_runs(config)[:30]]


def show_report(config: Config, which: str | None, head: str = "") -> str:
    """The committed latest report or one run, as Chinese HTML; a name that is not a run is refused."""
    if not which or which == LATEST:
        path = reports_dir(config) / "latest.json"
    elif _RUN_NAME.match(str(which)) and (runs_dir(config) / which / f"{which}.md").is_file():
        path = runs_dir(config) / which / f"{which}.json"
    else:
        return V.message(NO_RUN, head)
    if not path.is_file():
        return V.message(NO_REPORT, head)
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        log.exception("评测报告无法读取（report unreadable）: %s", path)
        return V.message("这份评测报告无法读取。", head)
    return V.report_html(report, head=head)


def _new_run_dir(config: Config) -> Path:
    base = runs_dir(config)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for i in range(100):
        d = base / (stamp if i == 0 else f"{stamp}-{i}")
        try:
            d.mkdir(parents=True)
            return d
        except FileExistsError:
            continue
    raise RuntimeError("could not create a run folder")


def build_eval_tab(qa, config: Config, friendly) -> gr.Dropdown:
    """The tab's components and events (inside the app's gr.Tabs); returns the report picker (the app
    refreshes its list of runs on page load)."""
    lock = threading.Lock()
    gold_sets = [(label, name) for label, name in GOLD_SETS if (Path(config.root) / "eval" / name).is_file()]

    def run_eval(gold, k, limit, progress=gr.Progress()):
        if not lock.acquire(blocking=False):
            return V.message("评测正在进行中，请稍候再查看。"), gr.skip()
        try:
            from rag import evaluation as E  # an optional dependency: its absence is handled here

            name = gold if gold in {n for _, n in gold_sets} else "gold.jsonl"
            items, warnings = E.load_gold(Path(config.root) / "eval" / name)
            for w in warnings:
                log.warning("标准问答集提示（gold）: %s", w)
            limit = int(limit or 0)
            if limit > 0:
                items = items[:limit]
            total, done = len(items), [0]
            progress((0, total), desc="正在评测", unit="题")

            def run(question: str, settings: dict, history=None) -> dict:
                try:
                    return qa.ask(question, k=settings.get("k"), mode=settings.get("mode"),
                                  answerer=settings.get("answerer", "extractive"), history=history).to_json()
                finally:
                    done[0] += 1
                    progress((done[0], total), desc="正在评测", unit="题")

            settings = {"k": max(1, min(20, int(k or config.k))), "mode": config.mode, "answerer": "extractive"}
            result = E.evaluate(items, run, settings, progress=False, aliases=getattr(qa.index, "aliases", None))
            out = _new_run_dir(config)
            E.write_report(result, out, out.name, meta={"gold": name, "limit": limit or "全部"})
            head = (f'<div class="pq-ev-done"><b>评测完成</b>（{V.gold_label(name)}，{total} 题，'
                    f'{result.duration_s:.0f} 秒），报告已单独保存为运行记录 '
                    f'<span class="pq-tip" title="{V.esc(str(out))}">{V.esc(out.name)}</span>。</div>')
            return show_report(config, out.name, head), gr.Dropdown(choices=run_choices(config), value=out.name)
        except Exception as exc:  # noqa: BLE001
            return V.message(f"评测未能完成：{friendly(exc)}"), gr.skip()
        finally:
            lock.release()

    with gr.Tab("评测", id="eval"):
        gr.HTML('<div class="pq-intro">用自带的标准问答集评测检索与回答：命中率、答案准确率、引用有效率、拒答率与耗时。'
                f'每次运行的报告<span title="{V.esc(str(runs_dir(config)))}">单独保存</span>，不会改动已提交的报告。'
                '完整运行约需半分钟到几分钟。把鼠标停在指标名称上，可以看到它的英文名。</div>', apply_default_css=False)
        with gr.Row(equal_height=True):
            gold = gr.Dropdown(gold_sets, value=gold_sets[0][1] if gold_sets else None, label="问答集", scale=3)
            k = gr.Slider(3, 20, value=max(3, min(20, config.k)), step=1, label="检索片段数", scale=3)
            limit = gr.Number(0, precision=0, minimum=0, label="只评测前几题（0 表示全部）", scale=2,
                              elem_id="pq-eval-limit")
            run_btn = gr.Button("运行评测", variant="primary", scale=1, elem_id="pq-run-eval")
        which = gr.Dropdown(run_choices(config), value=LATEST, label="查看报告", elem_id="pq-eval-which")
        report = gr.HTML(show_report(config, LATEST), elem_id="pq-report", apply_default_css=False)

    # The progress bar is drawn on the report only (by default Gradio draws one on every output).
    run_btn.click(run_eval, inputs=[gold, k, limit], outputs=[report, which], api_name="run_eval",
                  concurrency_limit=1, concurrency_id="eval", show_progress_on=[report])
    which.input(lambda w: show_report(config, w), inputs=which, outputs=report, api_name="eval_report")
    return which
