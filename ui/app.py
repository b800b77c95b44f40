"""PilotQA web app (Gradio 6): 问答 · 引文查找 · 试点浏览 · 评测.

`build_app(qa, config)` builds the Blocks; `serve(config, answerer=None)` loads the index and the model once
(building a missing or stale index first), then serves on `config.host:config.port` (127.0.0.1 by default).

Every event handler has a stable `api_name` so `gradio_client` can call it:
  ask(question, history, pilot, answerer, k)  -> (question_box, history, sources_html, answer_json)
  cite(text)                                   -> html
  browse(pilot)                                -> html
  eval_report()                                -> (markdown, png path | None)
  run_eval(k)                                  -> (markdown, png path | None)
All HTML is built from html.escape()d text (ui/render.py); a handler never shows a traceback: expected
problems (QuestionError) show their Chinese message, anything else is logged server-side and the user gets
a short apology.
"""
from __future__ import annotations

import logging
import sys
import threading
from pathlib import Path
from typing import Any

import gradio as gr

from rag.config import Config

from . import render as R

log = logging.getLogger("pilotqa.ui")

TITLE = "试点问答 · 第二批国家新型城镇化综合试点"
ALL = "全部"
CONCURRENCY = 4
EXAMPLES = [
    "房山区2020年的森林覆盖率目标是多少？",
    "哪些试点提出建设海绵城市？",
    "天津东丽区总面积是多少？",
    "威县如何推进农业转移人口市民化？",
    "深圳市2020年的城镇化率目标是多少？",
]
ANSWERERS = [("抽取式（直接摘取原文句子）", "extractive"), ("大模型（生成回答并核验引用）", "llm")]
GENERIC_ERROR = "抱歉，处理时出现了问题，请稍后重试。如果一直出现，请联系管理员查看服务器日志。"

CSS_PATH = Path(__file__).with_name("style.css")

# Clicks on "在原文中查看" inside a sources panel become a `click` event carrying the pilot and lines.
JUMP_JS = """
element.addEventListener('click', (e) => {
  const b = e.target.closest('.pq-jump');
  if (!b) return;
  e.preventDefault();
  trigger('click', {pilot: b.dataset.pilot, start: parseInt(b.dataset.start), end: parseInt(b.dataset.end)});
});
"""
# After the browse view is re-rendered by an event, bring the highlighted lines into view.
SCROLL_JS = """
watch('value', () => {
  const el = element.querySelector('.pq-hl');
  if (el) { setTimeout(() => el.scrollIntoView({behavior: 'smooth', block: 'center'}), 80); }
  else { element.scrollIntoView({block: 'start'}); }
});
"""


def _theme():
    fonts = ["PingFang SC", "Noto Sans CJK SC", "Source Han Sans SC", "Microsoft YaHei", "system-ui", "sans-serif"]
    return gr.themes.Soft(primary_hue="teal", secondary_hue="slate", neutral_hue="slate", font=fonts,
                          font_mono=["Noto Sans Mono CJK SC", "ui-monospace", "monospace"])


def launch_kwargs() -> dict:
    return {"theme": _theme(), "css": CSS_PATH.read_text(encoding="utf-8"), "footer_links": ["api"]}


# --------------------------------------------------------------------------- helpers


def _question_error():
    from rag.pilotqa import QuestionError

    return QuestionError


def _friendly(exc: BaseException) -> str:
    """The user's message for an exception: QuestionError text as is, anything else logged + apology."""
    if isinstance(exc, _question_error()):
        return str(exc)
    log.exception("handler failed: %s", exc)
    return GENERIC_ERROR


def pilot_choices(qa) -> list[tuple[str, str]]:
    out = []
    for province, names in qa.pilots_by_province().items():
        for name in names:
            label = name if name == province else f"{province} · {name}"
            out.append((label, name))
    return out


def _reports_dir(config: Config) -> Path:
    return Path(getattr(config, "reports_dir", None) or Path(config.root) / "eval" / "reports")


def latest_report(config: Config) -> tuple[str, str | None]:
    d = _reports_dir(config)
    md, png = d / "latest.md", d / "latest.png"
    text = md.read_text(encoding="utf-8") if md.is_file() else "暂无评测报告。点击下方按钮，用自带的标准问答集运行一次评测。"
    return text, (str(png) if png.is_file() else None)


def _image_has_buttons() -> bool:
    import inspect

    return "buttons" in inspect.signature(gr.Image.__init__).parameters


def _history_text(text: str) -> str:
    return R.esc(text).replace("\n", "<br>")


# --------------------------------------------------------------------------- the app


def build_app(qa, config: Config, *, default_answerer: str | None = None) -> gr.Blocks:
    """The four tabs wired to `qa` (a loaded PilotQA). Nothing per-user lives outside gr.State / the chat."""
    llm_ok = bool(config.llm_configured)
    default_answerer = default_answerer if (default_answerer == "llm" and llm_ok) else "extractive"
    choices = pilot_choices(qa)
    eval_lock = threading.Lock()

    # ------------------------------------------------------------------ handlers

    def ask(question, history, pilot, answerer, k):
        history = list(history or [])
        shown_q = "" if question is None else str(question)
        appended = False
        try:
            try:
                qa.reload_if_changed()
            except Exception:  # a broken new index must never stop answering from the current one
                log.exception("reload_if_changed failed")
            from rag.pilotqa import clean_question

            q = clean_question(question)
            kind = answerer if answerer in ("extractive", "llm") else "extractive"
            if kind == "llm" and not llm_ok:
                kind = "extractive"
            k = max(1, min(20, int(k or config.k)))
            history = history + [{"role": "user", "content": _history_text(q)},
                                 {"role": "assistant", "content": "正在检索原文……"}]
            appended = True
            yield "", history, R.message_html("正在检索原文……", "info"), None
            buf = ""
            final = None
            for item in qa.stream_ask(q, k=k, pilot=None if pilot in (None, "", ALL) else pilot, answerer=kind):
                if isinstance(item, str):
                    buf += item
                    history[-1] = {"role": "assistant", "content": R.answer_markdown(buf) + " ▌"}
                    yield "", history, gr.skip(), gr.skip()
                else:
                    final = item
            if final is None:  # defensive: the facade always ends with an Answer
                raise RuntimeError("no answer produced")
            history[-1] = {"role": "assistant", "content": _chat_answer(final)}
            data = final.to_dict() if hasattr(final, "to_dict") else final.to_json()
            yield "", history, R.sources_html(final, q), data
        except Exception as exc:  # noqa: BLE001 - every failure becomes a message, never a traceback
            msg = _friendly(exc)
            if appended:
                history = history[:-2]
            if shown_q.strip():
                short = shown_q.strip()[:120] + ("…" if len(shown_q.strip()) > 120 else "")
                history = history + [{"role": "user", "content": _history_text(short)},
                                     {"role": "assistant", "content": f"<div class='pq-chat-refusal'>{R.esc(msg)}</div>"}]
            # the question goes back into the box so it can be corrected (the first yield had cleared it)
            yield shown_q, history, \
                R.message_html(msg, "refusal" if isinstance(exc, _question_error()) else "error"), {"error": msg}

    def _chat_answer(answer) -> str:
        body = R.answer_markdown(answer.text)
        if not answer.answerable:
            return f"<div class='pq-chat-refusal'><b>文件中没有找到答案</b><br>{body}</div>"
        extra = ""
        if not getattr(answer, "grounded", True):
            extra += "<div class='pq-chat-warn'>⚠ 此回答未能全部在原文中核实，请以右侧原文为准。</div>"
        if getattr(answer, "notice", None):
            extra += f"<div class='pq-chat-notice'>提示：{R.esc(answer.notice)}</div>"
        return body + extra

    def cite(text):
        try:
            matches = qa.cite(text)
            return R.cite_html(matches, str(text).strip())
        except Exception as exc:  # noqa: BLE001
            return R.message_html(_friendly(exc), "refusal")

    def browse(pilot, lines: tuple[int, int] | None = None):
        try:
            if not pilot:
                return R.message_html("请选择一个试点。", "info")
            name = qa.resolve_pilot(pilot)
            return R.outline_html(name, qa.pilot_outline(name), lines)
        except Exception as exc:  # noqa: BLE001
            return R.message_html(_friendly(exc), "refusal")

    def jump(evt: gr.EventData):
        data = getattr(evt, "_data", None) or {}
        pilot = data.get("pilot")
        if not pilot:
            return gr.skip(), gr.skip(), gr.skip()
        try:
            lines = (int(data.get("start")), int(data.get("end")))
        except (TypeError, ValueError):
            lines = None
        return gr.Tabs(selected="browse"), gr.Dropdown(value=pilot), browse(pilot, lines)

    def eval_report():
        return latest_report(config)

    def run_eval(k, progress=gr.Progress()):
        if not eval_lock.acquire(blocking=False):
            text, png = latest_report(config)
            return "**评测正在进行中，请稍候再刷新。**\n\n" + text, png
        try:
            from rag import evaluation as E

            gold_path = Path(config.root) / "eval" / "gold.jsonl"
            items, warnings = E.load_gold(gold_path)
            for w in warnings:
                log.warning("gold: %s", w)
            total = len(items)
            done = [0]
            progress((0, total), desc="正在评测", unit="题")

            def run(question: str, settings: dict) -> dict:
                try:
                    ans = qa.ask(question, k=settings.get("k"), mode=settings.get("mode"),
                                 answerer=settings.get("answerer", "extractive"))
                    return ans.to_json()
                finally:
                    done[0] += 1
                    progress((done[0], total), desc="正在评测", unit="题")

            settings = {"k": int(k or config.k), "mode": config.mode, "answerer": "extractive"}
            result = E.evaluate(items, run, settings, progress=False, aliases=getattr(qa.index, "aliases", None))
            E.write_report(result, _reports_dir(config), "latest")
            text, png = latest_report(config)
            return f"**评测完成**（{total} 题，{result.duration_s:.0f} 秒）。\n\n" + text, png
        except Exception as exc:  # noqa: BLE001
            msg = _friendly(exc)
            text, png = latest_report(config)
            return f"**评测未能完成：{msg}**\n\n" + text, png
        finally:
            eval_lock.release()

    # ------------------------------------------------------------------ layout

    with gr.Blocks(title=TITLE, fill_width=False) as demo:
        gr.HTML(f'<div class="pq-header"><h1>{R.esc(TITLE)}</h1>'
                '<p>回答只依据试点工作方案原文，每句话都标注出处，可点击核对。</p></div>')
        with gr.Tabs(selected="ask") as tabs:
            with gr.Tab("问答", id="ask"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=5, min_width=360):
                        chat = gr.Chatbot(label="对话", show_label=False, height=460, elem_id="pq-chat", buttons=["copy"],
                                          placeholder="在下方输入问题，例如“房山区2020年的森林覆盖率目标是多少？”",
                                          feedback_options=None, layout="panel")
                        with gr.Row():
                            question = gr.Textbox(show_label=False, placeholder="输入问题，按回车发送",
                                                  lines=1, max_lines=4, scale=5, elem_id="pq-question", autofocus=True)
                            send = gr.Button("提问", variant="primary", scale=1, min_width=80, elem_id="pq-send")
                        gr.Examples(EXAMPLES, inputs=question, label="示例问题")
                        with gr.Accordion("检索设置", open=True):
                            with gr.Row():
                                pilot = gr.Dropdown([(f"{ALL}试点", ALL)] + choices, value=ALL, label="只看某个试点",
                                                    filterable=True, allow_custom_value=True, elem_id="pq-pilot",
                                                    scale=3)
                                k = gr.Slider(3, 20, value=max(3, min(20, config.k)), step=1, label="检索片段数",
                                              scale=2)
                            answerer = gr.Radio(
                                ANSWERERS, value=default_answerer, label="回答方式", interactive=llm_ok,
                                elem_id="pq-answerer",
                                info=None if llm_ok else "未配置大模型（设置 PILOTQA_LLM_BASE_URL 与 PILOTQA_LLM_MODEL 后可用），当前使用抽取式回答。")
                        clear = gr.Button("清空对话", variant="secondary", size="sm")
                    with gr.Column(scale=4, min_width=320):
                        sources = gr.HTML(R.EMPTY_SOURCES, elem_id="pq-sources", js_on_load=JUMP_JS,
                                          apply_default_css=False)
                        with gr.Accordion("原始数据（JSON）", open=False):
                            answer_json = gr.JSON(label="回答与检索结果")
            with gr.Tab("引文查找", id="cite"):
                gr.Markdown("粘贴一句话（原文或转述），查找它出自哪个试点文件的哪几行。完全一致的原文排在前面，其次是近似段落。")
                with gr.Row():
                    cite_in = gr.Textbox(show_label=False, placeholder="例如：到2020年，森林覆盖率达到45%",
                                         lines=2, max_lines=6, scale=5, elem_id="pq-cite-in")
                    cite_btn = gr.Button("查找出处", variant="primary", scale=1, min_width=80)
                cite_out = gr.HTML(elem_id="pq-cite-out", js_on_load=JUMP_JS, apply_default_css=False)
            with gr.Tab("试点浏览", id="browse"):
                browse_pilot = gr.Dropdown(choices, value=None, label="选择试点", filterable=True, allow_custom_value=True,
                                           elem_id="pq-browse-pilot")
                browse_out = gr.HTML(R.message_html("请选择一个试点，查看其工作方案要点全文（带行号）。", "info"),
                                     elem_id="pq-browse", js_on_load=SCROLL_JS, apply_default_css=False)
            with gr.Tab("评测", id="eval"):
                gr.Markdown("用自带的标准问答集（eval/gold.jsonl）评测检索与回答：命中率、答案准确率、引用有效率、拒答率与耗时。"
                            "运行一次约需半分钟到几分钟，完成后下方报告自动更新。")
                with gr.Row(equal_height=True):
                    eval_k = gr.Slider(3, 20, value=max(3, min(20, config.k)), step=1, label="检索片段数", scale=3)
                    eval_btn = gr.Button("运行评测", variant="primary", scale=1, elem_id="pq-run-eval")
                    refresh_btn = gr.Button("刷新报告", scale=1)
                text0, png0 = latest_report(config)
                report_png = gr.Image(png0, label="评测图表", show_label=True, interactive=False, height=320,
                                      buttons=["download"] if _image_has_buttons() else None)
                report_md = gr.Markdown(text0, elem_id="pq-report")

        # ------------------------------------------------------------------ events

        gr.on([send.click, question.submit], ask, inputs=[question, chat, pilot, answerer, k],
              outputs=[question, chat, sources, answer_json], api_name="ask", concurrency_id="qa")
        clear.click(lambda: ([], R.EMPTY_SOURCES, None), outputs=[chat, sources, answer_json],
                    api_visibility="private", queue=False)
        gr.on([cite_btn.click, cite_in.submit], cite, inputs=cite_in, outputs=cite_out, api_name="cite",
              concurrency_id="qa")
        browse_pilot.input(lambda p: browse(p), inputs=browse_pilot, outputs=browse_out, api_name="browse")
        sources.click(jump, outputs=[tabs, browse_pilot, browse_out], api_visibility="private")
        cite_out.click(jump, outputs=[tabs, browse_pilot, browse_out], api_visibility="private")
        refresh_btn.click(eval_report, outputs=[report_md, report_png], api_name="eval_report")
        eval_btn.click(run_eval, inputs=eval_k, outputs=[report_md, report_png], api_name="run_eval",
                       concurrency_limit=1, concurrency_id="eval")
    return demo


def launch(demo: gr.Blocks, config: Config, *, port: int | None = None, prevent_thread_lock: bool = False,
           quiet: bool = False):
    """Queue and launch on config.host (127.0.0.1 by default)."""
    demo.queue(default_concurrency_limit=CONCURRENCY)
    return demo.launch(server_name=config.host, server_port=config.port if port is None else port,
                       prevent_thread_lock=prevent_thread_lock, quiet=quiet, show_error=False,
                       allowed_paths=[str(_reports_dir(config))], **launch_kwargs())


def serve(config: Config, answerer: str | None = None) -> int:
    """`pilotqa serve`: build a missing/stale index (progress printed), load once, serve until Ctrl-C."""
    from rag.pilotqa import PilotQA
    from rag.store import build_index, staleness

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    why = staleness(config)
    if why:
        print(f"需要构建索引（{why}）……", file=sys.stderr)
        report = build_index(config, progress=True)
        print(f"已构建索引 {report.path}：{report.chunks} 个片段", file=sys.stderr)
    print("正在加载索引与模型……", file=sys.stderr)
    # Requests run concurrently on a 2-core machine: one torch thread per request avoids the oversubscription
    # that turns a 25 ms query embedding into a 1 s one whenever anything else is running (see bench report).
    if config.torch_threads <= 0:
        config = config.with_overrides(torch_threads=1)
    qa = PilotQA(config)
    if answerer == "llm" and not config.llm_configured:
        print("警告：未配置大模型，网页中将使用抽取式回答。", file=sys.stderr)
    demo = build_app(qa, config, default_answerer=answerer)
    if config.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"注意：服务绑定在 {config.host}，同一网络中的其他机器也能访问。", file=sys.stderr)
    print(f"试点问答已启动：http://{'127.0.0.1' if config.host in ('0.0.0.0', '') else config.host}:{config.port}",
          file=sys.stderr)
    launch(demo, config)
    return 0


def _json_default(o: Any):  # pragma: no cover - debugging helper
    return str(o)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(serve(Config.from_env()))
