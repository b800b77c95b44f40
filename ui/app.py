"""PilotQA web app (Gradio 6): 问答 · 引文查找 · 试点浏览 · 指标 · 评测 (· 知识库 when ui/kb.py is present).

`build_app(qa, config)` builds the Blocks (queued); `rag/server.py` (`pilotqa serve`) mounts it on its FastAPI
app with `launch_kwargs()`, and `launch()` serves it alone (tests).

Every event handler has a stable `api_name` so `gradio_client` can call it:
  ask(question, conversation, pilot, doc, k)     -> (question_box, chat, sources_html, answer_json, conversation)
  ask_llm(question, conversation, pilot, doc, k) -> the same, answered by the LLM
  cite(text)                                      -> html
  browse(pilot)                                   -> html
  facts_table(…) / facts_chart(…)                 (ui/factstab.py)
  eval_report(which) / run_eval(gold, k, limit)   (ui/evaltab.py)
`conversation` is what the page keeps in the browser (ui/chat.py); an API caller may pass a list of its
earlier questions instead, or []. Extractive asks, LLM asks and cite are separate events with their own
concurrency groups, so slow LLM calls never queue in front of the others. All HTML is built from escaped
text (ui/render.py); a handler never shows a traceback.
"""
from __future__ import annotations

import logging
from pathlib import Path

import gradio as gr

from rag.config import Config
from ui import chat as C
from ui import render as R
from ui.evaltab import build_eval_tab, run_choices
from ui.factstab import build_facts_tab
from ui.i18n import GRADIO_WORDS
from ui.render_cite import cite_html

log = logging.getLogger("pilotqa.ui")

TITLE = "试点问答 · 第二批国家新型城镇化综合试点"
ALL = C.ALL
CONCURRENCY = 8          # extractive asks at once (each ~30 ms of CPU); cite has its own group of the same size
EXAMPLES = [
    "房山区2020年的森林覆盖率目标是多少？",
    "哪些试点提出建设海绵城市？",
    "房山区和浦东新区2020年常住人口城镇化率分别是多少？",
    "威县如何推进农业转移人口市民化？",
    "深圳市2020年的城镇化率目标是多少？",
]
ANSWERERS = [("抽取式（直接摘取原文句子）", "extractive"), ("大模型（生成回答并核验引用）", "llm")]

CSS_PATH = Path(__file__).with_name("style.css")
# The chat is as tall as its messages, between what makes the 问答 column end at the bottom of the screen
# (no empty band under a short exchange) and what leaves the header, the tabs and the question box on
# screen (at 1366×768); longer conversations scroll inside it. The phone layout is style.css's.
CHAT_MIN = "max(120px, calc(100vh - 510px))"
CHAT_MAX = "calc(100vh - 250px)"

# The sources panel's script. (1) "在原文中查看" buttons become a `click` event with the pilot and lines.
# (2) A click on an answer in the chat (or on one of its [n] markers) is remembered; when the panel shows
# that answer (the chat's select event re-renders it; it may already be showing), the cited card is
# unfolded (when it is behind 展开其余 N 条来源), brought into view and flashed, and the answer is marked in
# the chat. The chat's sanitizer keeps class names only, so turn and marker numbers travel as classes
# (pq-turn-N, cite-n-N).
JUMP_JS = """
element.addEventListener('click', (e) => {
  const b = e.target.closest('.pq-jump');
  if (!b) return;
  e.preventDefault();
  trigger('click', {pilot: b.dataset.pilot, start: parseInt(b.dataset.start), end: parseInt(b.dataset.end)});
});
"""
SOURCES_JS = JUMP_JS + """
const focus = () => {
  const want = window.__pqWant;
  const panel = element.querySelector('.pq-sources');
  if (!want || !panel || panel.dataset.turn !== want.turn) return;
  window.__pqWant = null;
  const card = want.n ? panel.querySelector('.pq-n-' + want.n) : null;
  const fold = card && card.closest('details');
  if (fold) fold.open = true;
  (card || panel).scrollIntoView({behavior: 'smooth', block: 'nearest'});
  if (card) { card.classList.add('pq-flash'); setTimeout(() => card.classList.remove('pq-flash'), 1800); }
};
// the answer whose sources are shown gets a bar in the chat (the chat may re-render just after the panel)
const mark = () => {
  const panel = element.querySelector('.pq-sources');
  document.querySelectorAll('#pq-chat .pq-picked').forEach((e) => e.classList.remove('pq-picked'));
  if (panel && panel.dataset.turn && document.querySelectorAll('#pq-chat .pq-final').length > 1) {
    document.querySelectorAll('#pq-chat .pq-final.pq-turn-' + panel.dataset.turn).forEach((e) => e.classList.add('pq-picked'));
  }
};
watch('value', () => { setTimeout(focus, 30); setTimeout(mark, 60); setTimeout(mark, 600); });
if (!window.__pqChatClicks) {
  window.__pqChatClicks = true;
  document.addEventListener('click', (e) => {
    const bubble = e.target.closest && e.target.closest('#pq-chat .pq-bubble');
    const turn = bubble && bubble.className.match(/pq-turn-(\\d+)/);
    if (!turn) return;
    const mk = e.target.closest('.cite-n');
    const n = mk && mk.className.match(/cite-n-(\\d+)/);
    window.__pqWant = {turn: turn[1], n: n ? n[1] : null};
    setTimeout(focus, 400);
  }, true);
}
"""
# 提问 / Enter go to the extractive or the LLM event (two events, two concurrency groups) by the chosen answerer.
ROUTE_JS = """
(answerer) => {
  const id = answerer === 'llm' ? 'pq-go-llm' : 'pq-go-ext';
  const el = document.getElementById(id);
  const b = el && (el.tagName === 'BUTTON' ? el : el.querySelector('button'));
  if (b) b.click();
}
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
    """What `launch()` and `gr.mount_gradio_app()` both need for the app to look right: the theme, the CSS,
    no footer (its links are Gradio's, in English: the API is documented at /docs instead), and Gradio's own
    words in Chinese whatever the browser's language (ui/i18n.py)."""
    return {"theme": _theme(), "css": CSS_PATH.read_text(encoding="utf-8"), "footer_links": [],
            "i18n": gr.I18n(**GRADIO_WORDS)}


def pilot_choices(qa) -> list[tuple[str, str]]:
    out = []
    for province, names in qa.pilots_by_province().items():
        for name in names:
            out.append((name if name == province else f"{province} · {name}", name))
    return out


def doc_choices(qa) -> list[str]:
    """The indexed documents by file name (a citation's `doc`)."""
    names = dict.fromkeys(getattr(c, "doc", "") or Path(str(c.source)).name for c in qa.index.chunks)
    return [n for n in names if n]


def _mount_kb(qa, config) -> None:
    """The 知识库 tab from ui/kb.py, when that module is there (the app builds without it)."""
    try:
        from ui import kb  # an optional dependency: its absence is handled here
    except ImportError as exc:
        if getattr(exc, "name", "") not in ("ui.kb", f"{__package__}.kb"):
            log.warning("知识库页面未能加载（knowledge-base tab not loaded）: %s", exc)
        return
    build = getattr(kb, "build_kb_tab", None)
    if build is None:
        log.warning("ui/kb.py 没有 build_kb_tab(qa, config)，知识库页面未显示")
        return
    build(qa, config)


# --------------------------------------------------------------------------- the app


def build_app(qa, config: Config, *, default_answerer: str | None = None) -> gr.Blocks:
    """The tabs wired to `qa` (a loaded PilotQA). Nothing per-user lives in the server: the conversation is
    kept by the browser."""
    llm_ok = bool(config.llm_configured)
    default_answerer = default_answerer if (default_answerer == "llm" and llm_ok) else "extractive"
    choices = pilot_choices(qa)
    docs = doc_choices(qa)

    def cite(text):
        try:
            return cite_html(qa.cite(text).to_dict(), str(text).strip())
        except Exception as exc:  # noqa: BLE001
            return R.message_html(C.friendly(exc), "refusal")

    def browse(pilot, lines: tuple[int, int] | None = None):
        try:
            if not pilot:
                return R.message_html("请选择一个试点。", "info")
            name = qa.resolve_pilot(pilot)
            return R.outline_html(name, qa.pilot_outline(name), lines)
        except Exception as exc:  # noqa: BLE001
            return R.message_html(C.friendly(exc), "refusal")

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

    with gr.Blocks(title=TITLE, fill_width=False) as demo:
        conv = gr.BrowserState(C.empty(), storage_key=C.STORE_KEY, secret=C.STORE_SECRET)
        gr.HTML(f'<div class="pq-header"><h1>{R.esc(TITLE)}</h1>'
                '<p>回答只依据试点工作方案原文，每句话都标注出处，可点击核对。</p></div>')
        with gr.Tabs(selected="ask") as tabs:
            with gr.Tab("问答", id="ask"):
                with gr.Row(equal_height=False, elem_id="pq-main"):
                    with gr.Column(scale=5, min_width=360, elem_id="pq-left"):
                        # Markdown off: bubbles are our escaped HTML, so no ![](…) or [](…) from a question, an
                        # answer or a passage becomes an image or a link; LaTeX off for the same reason.
                        # No copy buttons: they would copy the bubble's HTML; 导出对话 gives the clean text.
                        chat = gr.Chatbot(label="对话", show_label=False, height=None, min_height=CHAT_MIN,
                                          max_height=CHAT_MAX, elem_id="pq-chat",
                                          buttons=[], render_markdown=False, sanitize_html=True,
                                          allow_tags=False, latex_delimiters=[], feedback_options=None,
                                          layout="panel", allow_file_downloads=False,
                                          placeholder="在下方输入问题，例如“房山区2020年的森林覆盖率目标是多少？”"
                                                      "可以接着追问，例如“那户籍人口的呢？”")
                        with gr.Row(elem_id="pq-ask-row"):
                            question = gr.Textbox(label="问题", show_label=False, placeholder="输入问题，可以接着追问",
                                                  lines=1, max_lines=4, scale=5, elem_id="pq-question", autofocus=True)
                            send = gr.Button("提问", variant="primary", scale=1, min_width=80, elem_id="pq-send")
                        with gr.Column(elem_id="pq-controls"):
                            gr.Examples(EXAMPLES, inputs=question, label="示例问题")
                            with gr.Accordion("检索设置", open=False):
                                with gr.Row():
                                    pilot = gr.Dropdown([(f"{ALL}试点", ALL)] + choices, value=ALL, label="只看某个试点",
                                                        filterable=True, allow_custom_value=True, elem_id="pq-pilot",
                                                        scale=3)
                                    doc = gr.Dropdown([("全部文档", ALL)] + [(d, d) for d in docs], value=ALL,
                                                      label="只看某个文档", elem_id="pq-doc", scale=3,
                                                      interactive=C.doc_filter_supported(qa),
                                                      info=None if C.doc_filter_supported(qa) else "按文档筛选即将可用。")
                                k = gr.Slider(3, 20, value=max(3, min(20, config.k)), step=1, label="检索片段数")
                                answerer = gr.Radio(
                                    ANSWERERS, value=default_answerer, label="回答方式", interactive=llm_ok,
                                    elem_id="pq-answerer",
                                    info=None if llm_ok else "未配置大模型（管理员设置大模型地址和模型名称后可用），"
                                                             "当前使用抽取式回答。")
                            with gr.Row():
                                clear = gr.Button("新对话", variant="secondary", size="sm", elem_id="pq-clear")
                                export = gr.DownloadButton("导出对话", value=None, size="sm",
                                                           variant="secondary", elem_id="pq-export")
                            go_ext = gr.Button("ask", visible="hidden", elem_id="pq-go-ext")
                            go_llm = gr.Button("ask_llm", visible="hidden", elem_id="pq-go-llm")
                    with gr.Column(scale=4, min_width=320, elem_id="pq-right"):
                        sources = gr.HTML(R.EMPTY_SOURCES, elem_id="pq-sources", js_on_load=SOURCES_JS,
                                          apply_default_css=False)
                        with gr.Accordion("原始数据", open=False, elem_id="pq-json"):
                            answer_json = gr.JSON(label="回答与检索结果")
            with gr.Tab("引文查找", id="cite"):
                gr.Markdown("粘贴一句话（原文或转述），检查它是否出自试点文件：**原文一致**（给出行号）、"
                            "**与原文不一致**（标出改动的字和数字）或**文件中没有**。")
                with gr.Row():
                    cite_in = gr.Textbox(label="要查找的句子", show_label=False,
                                         placeholder="例如：到2020年，森林覆盖率达到45%",
                                         lines=2, max_lines=6, scale=5, elem_id="pq-cite-in")
                    cite_btn = gr.Button("查找出处", variant="primary", scale=1, min_width=80, elem_id="pq-cite-btn")
                cite_out = gr.HTML(elem_id="pq-cite-out", js_on_load=JUMP_JS,
                                   apply_default_css=False)
            with gr.Tab("试点浏览", id="browse"):
                browse_pilot = gr.Dropdown(choices, value=None, label="选择试点", filterable=True, allow_custom_value=True,
                                           elem_id="pq-browse-pilot")
                browse_out = gr.HTML(R.message_html("请选择一个试点，查看其工作方案要点全文（带行号）。", "info"),
                                     elem_id="pq-browse", js_on_load=SCROLL_JS, apply_default_css=False)
            facts_table = build_facts_tab(qa, C.friendly)
            which = build_eval_tab(qa, config, C.friendly)
            _mount_kb(qa, config)

        # ------------------------------------------------------------------ events

        ask_in = [question, conv, pilot, doc, k]
        ask_out = [question, chat, sources, answer_json, conv]
        gr.on([send.click, question.submit], None, inputs=[answerer], js=ROUTE_JS)
        for button, kind, group, limit in ((go_ext, "extractive", "ask", CONCURRENCY),
                                           (go_llm, "llm", "llm", max(1, int(config.llm_concurrency)))):
            button.click(C.make_ask(qa, config, kind), inputs=ask_in, outputs=ask_out,
                         api_name="ask" if kind == "extractive" else "ask_llm", concurrency_id=group,
                         concurrency_limit=limit, show_progress="hidden") \
                .then(C.export_file, inputs=conv, outputs=export, api_visibility="private", queue=False)
        chat.select(C.select, inputs=conv, outputs=[sources, answer_json], api_visibility="private", queue=False)
        for ev in (clear.click, chat.clear):
            ev(C.clear, outputs=[conv, chat, sources, answer_json, export], api_visibility="private", queue=False)
        demo.load(C.restore, inputs=conv, outputs=[chat, sources, answer_json, export], api_visibility="private")
        demo.load(lambda: gr.Dropdown(choices=run_choices(config)), outputs=which, api_visibility="private")
        gr.on([cite_btn.click, cite_in.submit], cite, inputs=cite_in, outputs=cite_out, api_name="cite",
              concurrency_id="cite", concurrency_limit=CONCURRENCY)
        browse_pilot.input(lambda p: browse(p), inputs=browse_pilot, outputs=browse_out, api_name="browse")
        sources.click(jump, outputs=[tabs, browse_pilot, browse_out], api_visibility="private")
        cite_out.click(jump, outputs=[tabs, browse_pilot, browse_out], api_visibility="private")
        facts_table.click(jump, outputs=[tabs, browse_pilot, browse_out], api_visibility="private")
    demo.queue(default_concurrency_limit=CONCURRENCY)
    return demo


def launch(demo: gr.Blocks, config: Config, *, port: int | None = None, prevent_thread_lock: bool = False,
           quiet: bool = False):
    """Serve the app alone on config.host (127.0.0.1 by default)."""
    return demo.launch(server_name=config.host, server_port=config.port if port is None else port,
                       prevent_thread_lock=prevent_thread_lock, quiet=quiet, show_error=False, **launch_kwargs())
