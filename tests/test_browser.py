"""The app in a real browser: Playwright driving Debian's chromium (no Playwright browser download).

Saves eval/reports/ui-screenshot.png (an answer with its source cards), ui-refusal.png and ui-browse.png.
Without chromium the test is skipped locally, but fails under CI=true.
"""
from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import pytest

from rag.config import ROOT

CHROMIUM = os.environ.get("PILOTQA_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
REPORTS = ROOT / "eval" / "reports"
TIMEOUT = 90_000


def _need(what: str):
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{what} (required when CI=true; run scripts/setup.sh --browser)")
    pytest.skip(what)


def _chromium() -> str:
    path = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    if not path:
        _need(f"chromium not found at {CHROMIUM}")
    return path


@pytest.fixture(scope="module")
def browser():
    path = _chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _need("the playwright package is not installed")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, headless=True, args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def app_url(qa, config):
    from ui.app import build_app, launch

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo = build_app(qa, config)
    launch(demo, config, port=port, prevent_thread_lock=True, quiet=True)
    yield f"http://127.0.0.1:{port}/"
    demo.close()


@pytest.fixture()
def page(browser, app_url):
    ctx = browser.new_context(viewport={"width": 1360, "height": 1000}, locale="zh-CN")
    pg = ctx.new_page()
    pg.set_default_timeout(TIMEOUT)
    pg.goto(app_url, wait_until="domcontentloaded")
    pg.wait_for_selector("#pq-question textarea")
    yield pg
    ctx.close()


def _ask(page, question: str) -> None:
    box = page.locator("#pq-question textarea")
    box.fill(question)
    page.locator("#pq-send").click()


def test_answer_with_citation_card_and_highlight(page):
    REPORTS.mkdir(parents=True, exist_ok=True)
    _ask(page, "房山区2020年的森林覆盖率目标是多少？")
    card = page.locator("#pq-sources .pq-source").first
    card.wait_for()
    assert "北京市房山区" in card.inner_text()
    assert "第 " in card.inner_text() and "行" in card.inner_text()
    mark = card.locator("mark").first
    assert "45%" in mark.inner_text().replace(" ", "")
    # the chat shows the answer with its [n] marker
    bot = page.locator("#pq-chat .message").last
    page.wait_for_function("() => !document.querySelector('#pq-chat').innerText.includes('正在检索原文')")
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
    _ask(page, "深圳市2020年的城镇化率目标是多少？")
    refusal = page.locator("#pq-sources .pq-refusal")
    refusal.wait_for()
    assert "文件中没有找到答案" in refusal.inner_text()
    page.screenshot(path=str(REPORTS / "ui-refusal.png"), full_page=True)


def test_markup_in_question_is_not_executed(page):
    _ask(page, '<img src=x onerror="window.__pq_pwned=1">房山区森林覆盖率<script>window.__pq_pwned=2</script>')
    page.locator("#pq-sources .pq-question").wait_for()
    page.wait_for_function("() => !document.querySelector('#pq-chat').innerText.includes('正在检索原文')")
    assert page.evaluate("() => window.__pq_pwned === undefined")
    assert page.locator("#pq-sources img").count() == 0
    assert "<img" in page.locator("#pq-sources .pq-question").inner_text()


def test_empty_question_gets_friendly_message(page):
    _ask(page, "   ")
    msg = page.locator("#pq-sources .pq-refusal")
    msg.wait_for()
    assert "请输入问题" in msg.inner_text()
