"""Shared pieces of the browser tests: Debian's chromium driven by Playwright (no Playwright browser download),
and the app served for real on a free loopback port.

Without chromium or playwright the browser tests are skipped locally, but fail under CI=true.
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
REPORTS = ROOT / "eval" / "screenshots"  # git-ignored: a test run never rewrites tracked files
TIMEOUT = 90_000
DESKTOP = {"width": 1360, "height": 1000}
PHONE = {"width": 390, "height": 844}
# a finished answer: a bubble that is neither the question nor still streaming
FINAL = "#pq-chat .pq-bubble:not(.pq-user):not(.pq-streaming)"


def need(what: str):
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{what} (required when CI=true; run scripts/setup.sh --browser)")
    pytest.skip(what)


def chromium_path() -> str:
    path = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    if not path:
        need(f"chromium not found at {CHROMIUM}")
    return path


@pytest.fixture(scope="module")
def browser():
    path = chromium_path()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        need("the playwright package is not installed")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, headless=True, args=ARGS)
        yield b
        b.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(qa, config):
    """Build and launch the app; returns (demo, url). Close with demo.close()."""
    from ui.app import build_app, launch

    demo = build_app(qa, config)
    port = free_port()
    launch(demo, config, port=port, prevent_thread_lock=True, quiet=True)
    return demo, f"http://127.0.0.1:{port}/"


def open_page(browser, url: str, viewport: dict | None = None):
    """A fresh context (own localStorage) on the app; returns (context, page)."""
    ctx = browser.new_context(viewport=viewport or DESKTOP, locale="zh-CN")
    page = ctx.new_page()
    page.set_default_timeout(TIMEOUT)
    page.goto(url, wait_until="domcontentloaded")
    page.wait_for_selector("#pq-question textarea")
    return ctx, page


def ask(page, question: str) -> None:
    page.locator("#pq-question textarea").fill(question)
    page.locator("#pq-send").click()


def wait_answers(page, n: int) -> None:
    """Until the chat shows `n` finished answers."""
    page.wait_for_function(f"() => document.querySelectorAll('{FINAL}').length >= {n}")


def choose_llm(page) -> None:
    """Pick the LLM answerer (its radio sits in the closed 检索设置 accordion)."""
    radio = page.locator("#pq-answerer")
    if not radio.is_visible():
        page.get_by_text("检索设置").click()
    radio.get_by_text("大模型").click()
