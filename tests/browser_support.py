"""Shared pieces of the browser tests: Debian's chromium driven by Playwright (no Playwright browser download),
and the app served for real on a free loopback port.

Without chromium or playwright the browser tests are skipped locally, but fail under CI=true.
"""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
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
LAPTOP = {"width": 1366, "height": 768}    # the smallest common desktop screen: the layout must fit it
NARROW = {"width": 420, "height": 860}     # a large phone held upright
TABS = ("问答", "引文查找", "试点浏览", "指标", "评测", "知识库")
# Latin-letter words the visible UI may show: product names. Anything else is English leaking into the page
# (tooltips are `title` attributes, which inner_text does not read).
ALLOWED_WORDS = {"PilotQA", "PDF", "Word"}
LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_'’.-]*[A-Za-z0-9]|[A-Za-z]")
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


def open_tab(page, name: str) -> None:
    """Click a tab by its name and let the panel settle."""
    page.get_by_role("tab", name=name).click()
    page.wait_for_function(f"() => [...document.querySelectorAll('[role=tab]')]"
                           f".some(t => t.getAttribute('aria-selected') === 'true' && t.innerText.trim() === {name!r})")
    page.wait_for_timeout(400)


def english_words(text: str, data: tuple[str, ...] = ()) -> list[str]:
    """The Latin-letter words of `text` that are not allowed: everything but ALLOWED_WORDS, after removing
    `data` (the names of the documents in the knowledge base: what the user put there, not the UI's words)."""
    for item in sorted(data, key=len, reverse=True):
        text = text.replace(item, " ")
    return sorted({w for w in LATIN_WORD.findall(text) if w not in ALLOWED_WORDS})


def visible_text(page, open_folds: bool = True) -> str:
    """What the page shows: inner_text of the body (what is rendered; no attributes such as tooltips), with
    every <details> fold opened first so what it hides is read too."""
    if open_folds:
        page.evaluate("() => document.querySelectorAll('details').forEach(d => { d.open = true; })")
        page.wait_for_timeout(150)
    return page.inner_text("body")


def start_serve(config, work: Path, *args: str, **env: str) -> tuple[subprocess.Popen, str, Path, Path]:
    """`python -m rag.cli serve ARGS` as a child on a free loopback port (its own session, for a clean stop),
    stdout and stderr in files of their own; returns (process, url, stdout path, stderr path) once /readyz
    answers. Stop it with `bench.common.stop_process`."""
    from bench.common import config_env

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    out, err = work / "serve.out", work / "serve.err"
    child_env = config_env(config, PILOTQA_PORT=str(port), PILOTQA_HOST="127.0.0.1", PILOTQA_API_TOKEN="", **env)
    with open(out, "wb") as o, open(err, "wb") as e:
        proc = subprocess.Popen([sys.executable, "-m", "rag.cli", "serve", *args], env=child_env,
                                cwd=str(config.root), stdout=o, stderr=e, start_new_session=True)
    deadline = time.monotonic() + 300
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"serve exited ({proc.returncode}): {err.read_text(encoding='utf-8', errors='replace')}")
        try:
            with urllib.request.urlopen(url + "/readyz", timeout=2) as r:
                if r.status == 200:
                    return proc, url, out, err
        except OSError:
            pass
        if time.monotonic() > deadline:
            from bench.common import stop_process

            stop_process(proc)
            raise RuntimeError("serve did not become ready in 300 s")
        time.sleep(0.25)


def choose_llm(page) -> None:
    """Pick the LLM answerer (its radio sits in the closed 检索设置 accordion)."""
    radio = page.locator("#pq-answerer")
    if not radio.is_visible():
        page.get_by_text("检索设置").click()
    radio.get_by_text("大模型").click()
