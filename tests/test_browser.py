"""The app in a real browser (Debian chromium via Playwright), and `pilotqa serve` as a real child process.

Saves to eval/screenshots/ (browser_support.REPORTS): ui-screenshot.png (an answer with its source cards),
ui-refusal.png, ui-browse.png, ui-conversation.png (three turns, the follow-up's 理解为 line), ui-compare.png
(a comparison table), ui-mobile.png (390 px wide: the sources directly under the answer), ui-cite.png (a
misquote's verdict), ui-tab-<tab>-<width>.png (every tab at 1366×768 and 420 px wide, read for English words),
ui-long-answer-1366.png / -420.png (23 sources, folded) and ui-short-1366.png (one short exchange).
"""
from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from browser_support import (  # noqa: F401 - `browser` is a fixture
    FINAL,
    LAPTOP,
    NARROW,
    PHONE,
    REPORTS,
    TABS,
    ask,
    browser,
    english_words,
    open_page,
    open_tab,
    serve,
    start_serve,
    visible_text,
    wait_answers,
)
from rag.config import ROOT

WHICH_11 = "哪些试点提出发展全域旅游？"   # 11 pilots, 11 sources: six fold away; no Latin letters in its passages
WHICH_23 = "哪些试点提出发展智慧城市？"   # 23 pilots, 23 sources


@pytest.fixture(scope="module")
def app_url(qa, config):
    demo, url = serve(qa, config)
    yield url
    demo.close()


@pytest.fixture()
def page(browser, app_url):  # noqa: F811 - the fixture imported above
    ctx, pg = open_page(browser, app_url)
    yield pg
    ctx.close()


def test_answer_with_citation_card_and_highlight(page):
    REPORTS.mkdir(parents=True, exist_ok=True)
    ask(page, "房山区2020年的森林覆盖率目标是多少？")
    wait_answers(page, 1)
    card = page.locator("#pq-sources .pq-source").first
    card.wait_for()
    assert "北京市房山区" in card.inner_text()
    assert "第 " in card.inner_text() and "行" in card.inner_text()
    mark = card.locator("mark").first
    assert "45%" in mark.inner_text().replace(" ", "")
    bot = page.locator(FINAL).last
    assert "45" in bot.inner_text() and "[1]" in bot.inner_text()
    page.screenshot(path=str(REPORTS / "ui-screenshot.png"), full_page=True)

    # "在原文中查看" opens the pilot in the browse tab with the cited lines highlighted
    card.locator(".pq-jump").click()
    hl = page.locator("#pq-browse .pq-hl").first
    hl.wait_for()
    assert "45%" in hl.inner_text().replace(" ", "")
    page.wait_for_timeout(600)
    page.screenshot(path=str(REPORTS / "ui-browse.png"))


def test_refusal_is_shown_as_refusal(page):
    ask(page, "深圳市2020年的城镇化率目标是多少？")
    refusal = page.locator("#pq-sources .pq-refusal")
    refusal.wait_for()
    assert "文件中没有找到答案" in refusal.inner_text()
    page.screenshot(path=str(REPORTS / "ui-refusal.png"), full_page=True)


def test_markup_in_question_is_not_executed(page):
    ask(page, '<img src=x onerror="window.__pq_pwned=1">房山区森林覆盖率<script>window.__pq_pwned=2</script>')
    wait_answers(page, 1)
    assert page.evaluate("() => window.__pq_pwned === undefined")
    assert page.locator("#pq-sources img, #pq-chat img").count() == 0
    assert "<img" in page.locator("#pq-sources .pq-question").first.inner_text()


def test_empty_question_gets_friendly_message(page):
    ask(page, "   ")
    msg = page.locator("#pq-sources .pq-refusal")
    msg.wait_for()
    assert "请输入问题" in msg.inner_text()


# Scroll the chat to its last message, then the page so that the chat's last ~380 px sit at the top of the screen.
SHOW_CHAT_END = """() => {
  const chat = document.querySelector('#pq-chat');
  for (const el of [chat, ...chat.querySelectorAll('*')]) {
    if (el.scrollHeight > el.clientHeight + 4 && /(auto|scroll)/.test(getComputedStyle(el).overflowY)) el.scrollTop = el.scrollHeight;
  }
  window.scrollTo(0, chat.getBoundingClientRect().bottom + window.scrollY - 380);
}"""


def _panel_turn(page) -> str | None:
    return page.locator("#pq-sources .pq-sources").get_attribute("data-turn")


def test_conversation_follow_up_sources_reload_and_phone_layout(page):
    """Three turns: a question, a follow-up (理解为 line), a comparison (table). Clicking the first answer
    brings back its own sources; a reload keeps the conversation; at 390 px the sources follow the answer."""
    ask(page, "房山区2020年常住人口城镇化率目标是多少？")
    wait_answers(page, 1)
    first_lines = page.locator("#pq-sources .pq-source .pq-meta").first.inner_text()
    assert "第 83 行" in first_lines
    ask(page, "它的森林覆盖率目标呢？")
    wait_answers(page, 2)
    second = page.locator(FINAL).nth(1)
    assert "理解为：" in second.inner_text() and "房山" in second.locator(".pq-resolved").inner_text()
    assert "45%" in second.inner_text().replace(" ", "")
    ask(page, "和青冈县比呢？")
    wait_answers(page, 3)
    table = page.locator(f"{FINAL} table.pq-compare").last
    table.wait_for()
    assert table.locator("tbody tr").count() == 2
    assert "青冈县" in table.inner_text() and "房山区" in table.inner_text()
    assert _panel_turn(page) == "2"
    page.screenshot(path=str(REPORTS / "ui-compare.png"))

    # the first answer's own sources come back when it is clicked
    page.locator(FINAL).first.click()
    page.wait_for_function("() => document.querySelector('#pq-sources .pq-sources').dataset.turn === '0'")
    assert "第 83 行" in page.locator("#pq-sources .pq-source .pq-meta").first.inner_text()
    page.wait_for_timeout(300)
    page.screenshot(path=str(REPORTS / "ui-conversation.png"))
    # … and a [n] marker of the follow-up shows the follow-up's, with that card flashed into view
    page.locator("#pq-chat .pq-turn-1.pq-final .cite-n").first.click()
    page.wait_for_function("() => document.querySelector('#pq-sources .pq-sources').dataset.turn === '1'")
    page.wait_for_selector("#pq-sources .pq-source.pq-flash", timeout=5000)

    # the conversation exports as Markdown with its citations and line numbers
    with page.expect_download() as dl:
        page.locator("#pq-export").click()
    md = Path(dl.value.path()).read_text(encoding="utf-8")
    assert "## 第 2 问：它的森林覆盖率目标呢？" in md and "理解为：" in md and "| 试点 | 回答 | 原文 | 行号 |" in md
    assert "[1] 北京市房山区" in md and "第 83 行" in md

    # a reload keeps the conversation and shows the last answer's sources
    page.reload(wait_until="domcontentloaded")
    wait_answers(page, 3)
    assert page.locator("#pq-chat .pq-user").count() == 3
    assert page.locator(f"{FINAL} table.pq-compare").count() == 1
    page.wait_for_function("() => document.querySelector('#pq-sources .pq-sources')?.dataset.turn === '2'")

    # 390 px: chat, then sources directly under it, then the question box and the rest
    page.set_viewport_size(PHONE)
    page.wait_for_timeout(400)
    box = {sel: page.locator(sel).bounding_box() for sel in ("#pq-chat", "#pq-sources", "#pq-controls")}
    assert box["#pq-sources"]["y"] >= box["#pq-chat"]["y"] + box["#pq-chat"]["height"] - 1
    assert box["#pq-sources"]["y"] - (box["#pq-chat"]["y"] + box["#pq-chat"]["height"]) < 40, box
    assert box["#pq-controls"]["y"] > box["#pq-sources"]["y"], box
    assert box["#pq-sources"]["width"] <= PHONE["width"]
    # the screenshot: the end of the last answer (the comparison table), then its sources
    page.evaluate(SHOW_CHAT_END)
    page.wait_for_timeout(400)
    page.screenshot(path=str(REPORTS / "ui-mobile.png"))


def test_cite_verdict_marks_the_changed_figure(page):
    page.get_by_role("tab", name="引文查找").click()
    page.locator("#pq-cite-in textarea").fill("到2020年，森林覆盖率达到46%")
    page.locator("#pq-cite-btn").click()
    verdict = page.locator("#pq-cite-out .pq-verdict")
    verdict.wait_for()
    assert "与原文不一致" in verdict.inner_text()
    assert page.locator("#pq-cite-out .pq-diff .pq-diff-changed").first.inner_text() == "6"
    assert "45" in page.locator("#pq-cite-out .pq-source mark .pq-diff-src").first.inner_text()
    page.screenshot(path=str(REPORTS / "ui-cite.png"))


# --------------------------------------------------------------------------- Chinese everywhere

TAB_IDS = dict(zip(TABS, ("ask", "cite", "browse", "facts", "eval", "kb")))
# Document text on the page is what the documents say, not the UI's words (the corpus has "PPP", "GIS", …):
# hidden (visibility) while the page's words are read, so inner_text skips it.
DATA = ".pq-text, .pq-para-text, .pq-sec-title, .pq-lines, .pq-basis, .pq-ev-data"
HIDE_DATA = f"() => {{ const s = document.createElement('style'); s.id = 'pq-hide-data'; " \
            f"s.textContent = `{DATA} {{ visibility: hidden !important; }}`; document.head.appendChild(s); }}"
SHOW_DATA = "() => document.getElementById('pq-hide-data')?.remove()"


@pytest.fixture(scope="module")
def lang_app(qa, config, tmp_path_factory):
    """The app with the committed evaluation report to show (copied into a folder of this module)."""
    reports = tmp_path_factory.mktemp("reports")
    for ext in ("json", "md", "png"):
        shutil.copy(ROOT / "eval" / "reports" / f"latest.{ext}", reports / f"latest.{ext}")
    demo, url = serve(qa, config.with_overrides(reports_dir=reports))
    yield url
    demo.close()


def _fill_tab(page, tab: str) -> None:
    """Put each tab in a state that shows most of its words."""
    if tab == "问答":
        ask(page, WHICH_11)
        wait_answers(page, 1)
        page.locator("#pq-sources .pq-more").wait_for()
        page.get_by_text("检索设置").click()
    elif tab == "引文查找":
        page.locator("#pq-cite-in textarea").fill("到2020年，森林覆盖率达到46%")
        page.locator("#pq-cite-btn").click()
        page.locator("#pq-cite-out .pq-verdict").wait_for()
    elif tab == "试点浏览":
        page.locator("#pq-browse-pilot input").click()
        page.get_by_role("option", name="北京市 · 北京市房山区").click()
        page.locator("#pq-browse .pq-outline").wait_for()
    elif tab == "指标":
        page.wait_for_function("() => (document.querySelector('#pq-facts-table')?.innerText || '').includes('房山')")
        page.locator("#pq-chart img").first.wait_for()  # the chart drawn, not its loading timer
        page.wait_for_function("() => !/processing/.test(document.body.innerText)", timeout=60_000)
    elif tab == "评测":
        page.locator("#pq-report .pq-ev-summary").wait_for()
    elif tab == "知识库":
        page.wait_for_function("() => (document.querySelector('#pq-kb-table')?.innerText || '').includes('个试点')")


@pytest.mark.parametrize("viewport", [LAPTOP, NARROW], ids=["1366", "420"])
def test_every_tab_shows_chinese_only(browser, lang_app, qa, viewport):  # noqa: F811
    """Every tab, filled (an answer with folded sources, a cite verdict, a pilot's text, the evaluation
    report with its failures, the document table), read as the page shows it: no Latin-letter word but the
    product names. English names are tooltips; document text and file names are the user's data."""
    from ui.app import doc_choices

    REPORTS.mkdir(parents=True, exist_ok=True)
    docs = tuple(doc_choices(qa))
    width = viewport["width"]
    ctx, page = open_page(browser, lang_app, viewport)
    found: dict[str, list[str]] = {}
    try:
        for tab in TABS:
            open_tab(page, tab)
            _fill_tab(page, tab)
            page.wait_for_timeout(300)
            page.screenshot(path=str(REPORTS / f"ui-tab-{TAB_IDS[tab]}-{width}.png"), full_page=True)
            page.evaluate(HIDE_DATA)
            words = english_words(visible_text(page), docs)
            page.evaluate(SHOW_DATA)
            if words:
                found[tab] = words
            # every tab is reachable at this width: none is hidden behind Gradio's "…" overflow menu
            assert page.get_by_role("tab", name=tab).is_visible()
        assert page.evaluate("() => document.documentElement.scrollWidth") <= width, "the page scrolls sideways"
        # the footer (Gradio's "Use via API · Built with Gradio · Settings") is not shown
        assert page.locator("footer:visible").count() == 0
    finally:
        ctx.close()
    assert not found, f"English in the UI at {width} px: {found}"


def test_english_words_helper():
    assert english_words("共 3 个文档 PDF Word PilotQA") == []
    assert english_words("Drop File Here - 或 - hit@1 mode=hybrid k=5") == ["Drop", "File", "Here", "hit", "hybrid",
                                                                            "k", "mode"]
    assert english_words("pilots-batch2.txt 已索引", ("pilots-batch2.txt",)) == []


# --------------------------------------------------------------------------- long answers, short chats


def _box(page, sel: str) -> dict:
    return page.locator(sel).first.bounding_box()


def test_long_answer_folds_its_sources_and_fits_the_screen(browser, app_url):  # noqa: F811
    """23 sources: five cards, the rest behind 展开其余 18 条来源; the which-pilots table (试点 | 依据, one cited
    row per pilot) before the text; the page stays about a screen tall (it was 7,280 px) with the question box
    on screen; a marker of a folded card unfolds it. At 420 px nothing scrolls sideways."""
    ctx, page = open_page(browser, app_url, LAPTOP)
    try:
        ask(page, WHICH_23)
        wait_answers(page, 1)
        bubble = page.locator(FINAL).last
        table = bubble.locator("table.pq-which")
        table.wait_for()
        assert [t.strip() for t in table.locator("th").all_inner_texts()] == ["试点", "依据"]
        rows = table.locator("tbody tr")
        assert rows.count() == 23
        assert rows.locator(".cite-n").count() == 23  # each pilot cited
        order = bubble.evaluate("b => [...b.querySelectorAll('table.pq-which, .pq-answer')].map(e => e.tagName)")
        assert order == ["TABLE", "DIV"], order  # the table first, then the text
        panel = page.locator("#pq-sources .pq-sources")
        assert panel.locator(":scope > .pq-source").count() == 5
        assert panel.locator(".pq-more > summary").inner_text().strip() == "展开其余 18 条来源"
        assert not panel.locator(".pq-n-12").is_visible()
        page.wait_for_timeout(300)
        height = page.evaluate("() => document.documentElement.scrollHeight")
        assert height < 1400, f"page {height} px tall"
        ask_box = _box(page, "#pq-ask-row")
        assert ask_box["y"] + ask_box["height"] <= LAPTOP["height"], ask_box
        page.screenshot(path=str(REPORTS / "ui-long-answer-1366.png"))
        # a marker of a card behind the fold opens the fold and brings the card into view
        rows.nth(11).locator(".cite-n").click()
        page.wait_for_selector("#pq-sources .pq-source.pq-n-12.pq-flash", timeout=5000)
        assert panel.locator(".pq-n-12").is_visible()
        assert panel.locator(".pq-more").evaluate("d => d.open")

        page.set_viewport_size(NARROW)
        page.wait_for_timeout(500)
        assert page.evaluate("() => document.documentElement.scrollWidth") <= NARROW["width"]
        assert all(page.get_by_role("tab", name=t).is_visible() for t in TABS)
        chat, sources = _box(page, "#pq-chat"), _box(page, "#pq-sources")
        assert sources["y"] >= chat["y"] + chat["height"] - 1  # the sources follow the answer
        page.evaluate("() => window.scrollTo(0, 0)")
        page.screenshot(path=str(REPORTS / "ui-long-answer-420.png"))
    finally:
        ctx.close()


def test_short_chat_leaves_no_empty_band(browser, app_url):  # noqa: F811
    """One short exchange at 1366×768: the chat is as tall as its messages (no big empty box under them),
    the question box sits right under it, and the 问答 column ends at the bottom of the screen."""
    ctx, page = open_page(browser, app_url, LAPTOP)
    try:
        ask(page, "房山区2020年的森林覆盖率目标是多少？")
        wait_answers(page, 1)
        page.wait_for_timeout(500)
        chat = _box(page, "#pq-chat")
        last = _box(page, FINAL)
        empty = chat["y"] + chat["height"] - (last["y"] + last["height"])
        assert empty < 200, f"{empty:.0f} px of empty chat under the answer"
        ask_box = _box(page, "#pq-ask-row")
        assert 0 <= ask_box["y"] - (chat["y"] + chat["height"]) < 40
        left = _box(page, "#pq-left")
        assert abs(left["y"] + left["height"] - LAPTOP["height"]) < 80, left  # no large empty area below
        page.screenshot(path=str(REPORTS / "ui-short-1366.png"))
    finally:
        ctx.close()


# --------------------------------------------------------------------------- quiet by default

START = "试点问答已启动："


def _lines(path: Path) -> list[str]:
    return [ln for ln in path.read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()]


def test_serve_is_quiet_by_default_and_verbose_with_v(browser, config, built_index, tmp_path):  # noqa: F811
    """`pilotqa serve` prints one Chinese line with the URL and nothing else (no faiss loader, bm25s, httpx,
    gradio or access-log lines); the page has no Gradio footer. `serve -v` shows the libraries' lines and
    every request."""
    from bench.common import stop_process
    from rag.cli.parser import build_parser, config_from_args
    from rag.config import Config
    from rag.serve.server import verbose

    quiet = tmp_path / "quiet"
    quiet.mkdir()
    proc, url, out, err = start_serve(config, quiet)
    try:
        ctx, page = open_page(browser, url + "/", LAPTOP)
        try:
            assert page.locator("footer:visible").count() == 0
            assert "Use via API" not in page.inner_text("body") and "Gradio" not in page.inner_text("body")
        finally:
            ctx.close()
        time.sleep(1)
    finally:
        stop_process(proc)
    assert _lines(out) == [f"{START}{url}"], out.read_text(encoding="utf-8")
    noise = _lines(err)
    assert noise == [], noise

    loud = tmp_path / "loud"
    loud.mkdir()
    proc, url, out, err = start_serve(config, loud, "-v")
    try:
        time.sleep(1)
    finally:
        stop_process(proc)
    assert _lines(out) == [f"{START}{url}"]
    text = err.read_text(encoding="utf-8", errors="replace")
    assert "faiss" in text or "bm25s" in text, text[:2000]
    assert "GET /readyz" in text, text[-2000:]  # uvicorn's access log

    # PILOTQA_LOG=debug is the same switch as -v; neither is on by default
    assert verbose(Config.from_env(env={"PILOTQA_LOG": "debug"}))
    assert not verbose(Config.from_env(env={}))
    assert config_from_args(build_parser(["serve"]).parse_args(["serve", "--verbose"])).log == "debug"
