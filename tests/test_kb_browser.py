"""The 知识库 tab in a real browser: upload a PDF, wait for the index, ask about it, delete it.

Saves eval/reports/ui-kb-added.png (the table with the new PDF), ui-kb-answer.png (an answer citing it),
ui-kb-confirm.png (the delete confirmation) and ui-kb-deleted.png. Also checks who may manage documents.
"""
from __future__ import annotations

import shutil

import pytest

import kb_files as K
from browser_support import FINAL, REPORTS, ask, browser, open_page, serve, wait_answers  # noqa: F401
from conftest import CORPUS
from ui.kb import Denied, authorise

BUILD_TIMEOUT = 300_000  # an index update on a busy 2-core machine


@pytest.fixture(scope="module")
def kb_app(tmp_path_factory, config, built_index, embedder):
    from rag.pipeline import PilotQA
    from rag.index.store import build_index

    docs = tmp_path_factory.mktemp("ui-docs")
    shutil.copy(CORPUS, docs / CORPUS.name)
    cfg = config.with_overrides(docs_dir=docs, index_name="kb-ui")
    build_index(cfg, progress=False, embedder=embedder)
    qa = PilotQA(cfg, embedder=embedder)
    demo, url = serve(qa, cfg)
    yield url, cfg
    demo.close()


@pytest.fixture()
def page(browser, kb_app):  # noqa: F811 - the fixture imported above
    ctx, pg = open_page(browser, kb_app[0])
    yield pg
    ctx.close()


def _status(page, text: str) -> str:
    page.wait_for_function(f"() => (document.querySelector('#pq-kb-status')?.innerText || '').includes({text!r})",
                           timeout=BUILD_TIMEOUT)
    return page.locator("#pq-kb-status").inner_text()


def _table_has(page, text: str) -> None:
    page.wait_for_function(f"() => (document.querySelector('#pq-kb-table')?.innerText || '').includes({text!r})")


def test_upload_ask_delete(page, kb_app, tmp_path):
    REPORTS.mkdir(parents=True, exist_ok=True)
    pdf = K.print_pdf(K.PARKING_PARAGRAPHS, tmp_path / "停车指导意见.pdf")
    page.get_by_role("tab", name="知识库").click()
    table = page.locator("#pq-kb-table")
    _table_has(page, "pilots-batch2.txt")
    assert "59 个试点" in table.inner_text()

    page.locator("#pq-kb-upload input[type=file]").set_input_files(str(pdf))
    page.locator("#pq-kb-upload").get_by_text("停车指导意见.pdf").first.wait_for()
    page.locator("#pq-kb-add").click()
    status = _status(page, "已添加")
    assert "停车指导意见.pdf" in status and "新嵌入" in status
    _table_has(page, "停车指导意见.pdf")
    assert "已索引" in table.inner_text()
    page.screenshot(path=str(REPORTS / "ui-kb-added.png"), full_page=True)

    # the new document answers at once (the app swapped to the new index)
    page.get_by_role("tab", name="问答").click()
    ask(page, K.PARKING_QUESTION)
    wait_answers(page, 1)
    assert "12.8" in page.locator(FINAL).last.inner_text()
    sources = page.locator("#pq-sources").inner_text()
    assert "停车" in sources
    page.screenshot(path=str(REPORTS / "ui-kb-answer.png"), full_page=True)

    # delete it, with a confirmation
    page.get_by_role("tab", name="知识库").click()
    page.locator("#pq-kb-pick input").click()
    page.get_by_role("option", name="停车指导意见.pdf").click()
    page.locator("#pq-kb-delete").click()
    confirm = page.locator("#pq-kb-confirm")
    confirm.wait_for()
    assert "确定要删除“停车指导意见.pdf”" in page.locator("#pq-kb-confirm-text").inner_text()
    page.screenshot(path=str(REPORTS / "ui-kb-confirm.png"), full_page=True)
    confirm.click()
    assert "已删除 停车指导意见.pdf" in _status(page, "已删除")
    page.wait_for_function("() => !document.querySelector('#pq-kb-table').innerText.includes('停车指导意见.pdf')")
    page.screenshot(path=str(REPORTS / "ui-kb-deleted.png"), full_page=True)


def test_bad_upload_is_refused_in_the_page(page, tmp_path):
    scan = K.image_only_pdf(tmp_path / "扫描件.pdf")
    page.get_by_role("tab", name="知识库").click()
    page.locator("#pq-kb-upload input[type=file]").set_input_files(str(scan))
    page.locator("#pq-kb-upload").get_by_text("扫描件.pdf").first.wait_for()
    page.locator("#pq-kb-add").click()
    assert "OCR" in _status(page, "无法添加")
    assert "扫描件.pdf" not in page.locator("#pq-kb-table").inner_text()


def test_managing_beyond_this_machine_needs_the_admin_token(config):
    authorise(config.with_overrides(host="127.0.0.1"), None)  # this machine only: no token needed
    open_no_token = config.with_overrides(host="0.0.0.0", admin_token="")
    with pytest.raises(Denied, match="只读"):
        authorise(open_no_token, "anything")
    guarded = config.with_overrides(host="0.0.0.0", admin_token="s3cret")
    with pytest.raises(Denied, match="口令不正确"):
        authorise(guarded, "wrong")
    with pytest.raises(Denied, match="口令不正确"):
        authorise(guarded, None)
    authorise(guarded, "s3cret")
    with pytest.raises(Denied, match="--corpus"):
        authorise(config.with_overrides(corpus=(str(CORPUS),)), None)
