"""The 问答 tab in a real browser (Debian chromium via Playwright).

Saves eval/reports/ui-screenshot.png (an answer with its source cards), ui-refusal.png, ui-browse.png,
ui-conversation.png (three turns, the follow-up's 理解为 line), ui-compare.png (a comparison table) and
ui-mobile.png (390 px wide: the sources directly under the answer) and ui-cite.png (a misquote's verdict).
"""
from __future__ import annotations

from pathlib import Path

import pytest

from browser_support import FINAL, PHONE, REPORTS, ask, browser, open_page, serve, wait_answers  # noqa: F401


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
