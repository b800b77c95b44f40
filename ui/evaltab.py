"""The 评测 tab: the committed report, and evaluation runs that never touch it.

运行评测 (and its `run_eval` endpoint) writes each run to its own folder `eval/runs/<timestamp>/` (git-ignored;
the report files are `<timestamp>.json|md|png`),
never to `eval/reports/`: the committed reports are produced by `pilotqa eval` from reviewed code and the
README cites them. The tab shows the committed `latest` report by default, and any run picked in the list.
Only the development sets are offered; the blind test splits are never run or shown here.
"""
from __future__ import annotations

import logging
import re
import threading
import time
from pathlib import Path

import gradio as gr

from rag.config import Config

log = logging.getLogger("pilotqa.ui")

LATEST = "latest"
GOLD_SETS = [("开发集（eval/gold.jsonl）", "gold.jsonl"), ("对话集（eval/dialog.jsonl）", "dialog.jsonl")]
NO_REPORT = "暂无评测报告。点击“运行评测”，用自带的标准问答集运行一次评测。"
_RUN_NAME = re.compile(r"^\d{8}-\d{6}(-\d+)?$")


def reports_dir(config: Config) -> Path:
    return Path(getattr(config, "reports_dir", None) or Path(config.root) / "eval" / "reports")


def runs_dir(config: Config) -> Path:
    return Path(getattr(config, "runs_dir", None) or Path(config.root) / "eval" / "runs")


def safe_markdown(text: str) -> str:
    """Report text for gr.Markdown: a report quotes questions, answers and passages, and none of them may
    become raw HTML, an image or a link in the page."""
    return text.replace("<", "&lt;").replace("![", "!\\[").replace("](", "]\\(")


def list_runs(config: Config) -> list[str]:
    d = runs_dir(config)
    if not d.is_dir():
        return []
    return sorted((p.name for p in d.iterdir() if p.is_dir() and _RUN_NAME.match(p.name)
                   and (p / f"{p.name}.md").is_file()), reverse=True)


def run_choices(config: Config) -> list[tuple[str, str]]:
    return [("已提交的报告（eval/reports/latest）", LATEST)] + [(f"运行 {r}", r) for r in list_runs(config)[:30]]


def _png(path: Path):
    """The chart as an image value (loaded, so no file path has to be served from the repository)."""
    if not path.is_file():
        return None
    from PIL import Image  # Pillow loads only to show a report's chart

    with Image.open(path) as im:
        return im.copy()


def show_report(config: Config, which: str | None) -> tuple[str, object]:
    """(markdown, chart) of the committed latest report or of one run; a name that is not a run is refused."""
    if not which or which == LATEST:
        md, png = reports_dir(config) / "latest.md", reports_dir(config) / "latest.png"
    elif _RUN_NAME.match(str(which)) and (runs_dir(config) / which / f"{which}.md").is_file():
        md, png = runs_dir(config) / which / f"{which}.md", runs_dir(config) / which / f"{which}.png"
    else:
        return "没有这次评测运行的报告。", None
    text = md.read_text(encoding="utf-8") if md.is_file() else NO_REPORT
    return safe_markdown(text), _png(png)


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
            return "**评测正在进行中，请稍候再查看。**", None, gr.skip()
        try:
            from rag import evaluation as E  # an optional dependency: its absence is handled here

            name = gold if gold in {n for _, n in gold_sets} else "gold.jsonl"
            items, warnings = E.load_gold(Path(config.root) / "eval" / name)
            for w in warnings:
                log.warning("gold: %s", w)
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
            md, png = show_report(config, out.name)
            head = f"**评测完成**（{name}，{total} 题，{result.duration_s:.0f} 秒），报告保存在 `eval/runs/{out.name}/`。\n\n"
            return head + md, png, gr.Dropdown(choices=run_choices(config), value=out.name)
        except Exception as exc:  # noqa: BLE001
            return f"**评测未能完成：{friendly(exc)}**", None, gr.skip()
        finally:
            lock.release()

    with gr.Tab("评测", id="eval"):
        gr.Markdown("用自带的标准问答集评测检索与回答：命中率、答案准确率、引用有效率、拒答率与耗时。每次运行的报告"
                    "单独保存在 `eval/runs/<时间>/`，不会改动已提交的报告。完整运行约需半分钟到几分钟。")
        with gr.Row(equal_height=True):
            gold = gr.Dropdown(gold_sets, value=gold_sets[0][1] if gold_sets else None, label="问答集", scale=3)
            k = gr.Slider(3, 20, value=max(3, min(20, config.k)), step=1, label="检索片段数", scale=3)
            limit = gr.Number(0, precision=0, minimum=0, label="只评测前 N 题（0 = 全部）", scale=2,
                              elem_id="pq-eval-limit")
            run_btn = gr.Button("运行评测", variant="primary", scale=1, elem_id="pq-run-eval")
        which = gr.Dropdown(run_choices(config), value=LATEST, label="查看报告", elem_id="pq-eval-which")
        text0, png0 = show_report(config, LATEST)
        report_md = gr.Markdown(text0, elem_id="pq-report")
        report_png = gr.Image(png0, label="评测图表", interactive=False, height=340, buttons=["download"],
                              elem_id="pq-report-png")

    # The progress bar is drawn on the report text only (by default Gradio draws one on every output).
    run_btn.click(run_eval, inputs=[gold, k, limit], outputs=[report_md, report_png, which], api_name="run_eval",
                  concurrency_limit=1, concurrency_id="eval", show_progress_on=[report_md])
    which.input(lambda w: show_report(config, w), inputs=which, outputs=[report_md, report_png],
                api_name="eval_report")
    return which
