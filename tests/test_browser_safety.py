"""The app's promises that only a real browser can show:

- nothing on the page loads an image or follows a link out of the app, whatever the question, the LLM
  answer or the corpus text contains (every request the page makes is logged);
- an extractive ask is answered in under a second while four LLM asks hang;
- 运行评测 writes a run folder and leaves `git status` as it was.
"""
from __future__ import annotations

import shutil
import subprocess
import time

import pytest

from browser_support import FINAL, ask, browser, choose_llm, open_page, serve, wait_answers  # noqa: F401
from llm_server import KEY, base_url, running_server
from rag.config import ROOT

gradio_client = pytest.importorskip("gradio_client")


def _trap(host: str, tag: str) -> str:
    """Every way a text could make a browser fetch `host`: Markdown image and link, HTML image, style."""
    return (f"![{tag}]({host}/{tag}-md.png) <img src=\"{host}/{tag}-img.png\"> [点这里]({host}/{tag}-link) "
            f"<a href=\"{host}/{tag}-a\">链接</a> <style>body{{background:url({host}/{tag}-css.png)}}</style>")


def test_no_image_or_outside_request_leaves_the_browser(browser, config, embedder, tmp_path):  # noqa: F811
    from rag.pipeline import PilotQA
    from rag.index.store import build_index

    with running_server("trap") as srv:
        host = f"http://127.0.0.1:{srv.server_address[1]}"
        # a corpus whose text carries the traps (a small real index over it)
        corpus = tmp_path / "trap.txt"
        corpus.write_text(
            "测试市工作方案要点\n\n一、总体目标\n\n"
            f"到2020年，测试市城区绿地率达到40%。{_trap(host, 'corpus')}\n\n"
            f"二、主要任务\n\n（一）推进公园建设。测试市新建城市公园10座。{_trap(host, 'corpus2')}\n",
            encoding="utf-8")
        cfg = config.with_overrides(corpus=(str(corpus),), index_dir=tmp_path / "index", llm_base_url=base_url(srv),
                                    llm_model="mock", llm_api_key=KEY, llm_timeout=10)
        build_index(cfg, progress=False, embedder=embedder)
        srv.replies["trap"] = f"到2020年，测试市城区绿地率达到40%[1]。{_trap(host, 'llm')}"
        demo, url = serve(PilotQA(cfg, embedder=embedder), cfg)
        ctx, page = open_page(browser, url)
        seen: list[tuple[str, str]] = []
        page.on("request", lambda r: seen.append((r.resource_type, r.url)))
        try:
            ask(page, f"测试市的城区绿地率目标是多少？{_trap(host, 'question')}")
            wait_answers(page, 1)
            page.locator("#pq-sources .pq-source").first.wait_for()
            ask(page, f"火星市的人口是多少？{_trap(host, 'refusal')}")   # a refusal that echoes the question
            wait_answers(page, 2)
            question_text = page.locator("#pq-chat").inner_text()
            page.locator("#pq-clear").click()  # a fresh conversation: the LLM answers (no follow-up rewrite)
            page.wait_for_function("() => !document.querySelector('#pq-chat .pq-bubble')")
            choose_llm(page)
            ask(page, "测试市的城区绿地率目标是多少？")
            wait_answers(page, 1)
            page.locator("#pq-sources details summary").first.click()  # unfold the other passages too
            page.wait_for_timeout(800)
            chat_text = page.locator("#pq-chat").inner_text()
            sources_text = page.locator("#pq-sources").inner_text()
            # (Gradio's own icons are inline SVGs with a <style> inside: not from the data)
            loaders = page.eval_on_selector_all(
                "#pq-chat img, #pq-sources img, #pq-chat style, #pq-sources style",
                "els => els.filter(e => !e.closest('svg')).map(e => e.outerHTML.slice(0, 200))")
            hrefs = page.eval_on_selector_all("#pq-chat a[href], #pq-sources a[href]", "els => els.map(e => e.href)")
        finally:
            ctx.close()
            demo.close()
        # nothing reached the tracking host, nothing left for another host, no image but the app's own
        assert srv.gets == [], srv.gets
        outside = [(t, u) for t, u in seen if not u.startswith(url) and not u.startswith("data:")]
        assert outside == [], outside
        assert loaders == [], loaders
        assert all(h.startswith(url) for h in hrefs), hrefs
        # … and the traps were really on the page, as text: in the question, the corpus and the LLM's answer
        assert "![question](" in question_text and "<img" in question_text and "refusal-img.png" in question_text
        assert "corpus-md.png" in sources_text and "<img" in sources_text
        assert srv.requests and "llm-md.png" in chat_text, "the LLM's answer was not shown"


def test_extractive_ask_answers_in_under_a_second_while_four_llm_asks_hang(browser, qa, config):  # noqa: F811
    from rag.pipeline import PilotQA

    with running_server("hang") as srv:
        cfg = config.with_overrides(llm_base_url=base_url(srv), llm_model="mock", llm_api_key=KEY, llm_timeout=60)
        demo, url = serve(PilotQA(cfg, index=qa.index, embedder=qa.embedder), cfg)
        ctx, page = open_page(browser, url)
        jobs = []
        try:
            ask(page, "房山区2020年的森林覆盖率目标是多少？")  # warm the page and the pipeline
            wait_answers(page, 1)
            clients = [gradio_client.Client(url, verbose=False) for _ in range(4)]
            jobs = [c.submit("房山区2020年的森林覆盖率目标是多少？", [], "全部", "全部", 5, api_name="/ask_llm")
                    for c in clients]
            deadline = time.monotonic() + 60
            while len(srv.requests) < min(4, cfg.llm_concurrency) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert len(srv.requests) >= min(4, cfg.llm_concurrency), "the LLM asks never reached the endpoint"
            t0 = time.monotonic()
            ask(page, "天津东丽区总面积是多少？")
            wait_answers(page, 2)
            elapsed = time.monotonic() - t0
            assert "478.8" in page.locator(FINAL).last.inner_text()
            assert elapsed < 1.0, f"extractive ask took {elapsed:.2f} s while LLM asks hang"
            assert not any(j.done() for j in jobs)  # they were still hanging
        finally:
            srv.release.set()
            for j in jobs:
                try:
                    j.result(timeout=90)
                except Exception:  # noqa: BLE001 - only their ending matters here
                    pass
            ctx.close()
            demo.close()


def _git_status() -> str:
    return subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True,
                          check=True).stdout


def test_eval_button_writes_a_run_folder_and_leaves_git_status_alone(browser, qa, config):  # noqa: F811
    from ui import evaltab

    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    before_runs = set(evaltab.list_runs(config))
    status = _git_status()
    demo, url = serve(qa, config)
    ctx, page = open_page(browser, url)
    try:
        page.get_by_role("tab", name="评测").click()
        limit = page.locator("#pq-eval-limit input")
        limit.fill("3")
        limit.press("Tab")
        # the number box commits its value on blur; under load that can trail the click, so let it settle
        page.wait_for_function("() => document.querySelector('#pq-eval-limit input').value === '3'")
        page.wait_for_timeout(500)
        page.locator("#pq-run-eval").click()
        page.wait_for_function("() => document.querySelector('#pq-report').innerText.includes('评测完成')")
        report = page.locator("#pq-report").inner_text()
        new = set(evaltab.list_runs(config)) - before_runs
        assert len(new) == 1
        run = new.pop()
        assert "3 题" in report and run in report  # the run's own folder, where the app's settings keep runs
        assert (evaltab.runs_dir(config) / run / f"{run}.md").is_file()
        assert _git_status() == status
    finally:
        ctx.close()
        demo.close()
        for name in set(evaltab.list_runs(config)) - before_runs:
            shutil.rmtree(evaltab.runs_dir(config) / name, ignore_errors=True)

