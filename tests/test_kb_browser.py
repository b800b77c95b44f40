"""The 知识库 tab in a real browser: upload a PDF (and a text file without headings), wait for the index, ask
about it, delete it; every message in Chinese only, every document described by what it really holds.

Saves to eval/screenshots/: ui-kb-added.png (the table with the new documents), ui-kb-answer.png (an answer
citing the PDF), ui-kb-confirm.png (the delete confirmation) and ui-kb-deleted.png. Also checks who may manage
documents, and how `list_documents` counts a plain document's sections and paragraphs.
"""
from __future__ import annotations

import re
import shutil

import pytest

import kb_files as K
from browser_support import FINAL, REPORTS, ask, browser, english_words, open_page, serve, wait_answers  # noqa: F401
from conftest import CORPUS
from rag.index import documents as D
from ui.kb import Denied, authorise, warnings_zh

# a note without headings: its paragraphs are what it holds ("0 个章节" before)
NOTE_NAME = "会议纪要.txt"
NOTE = ["二〇二四年第三次工作例会纪要", "会议听取了各部门上半年工作进展情况汇报，研究部署下半年重点工作。",
        "会议要求，各部门要对照年度目标逐项梳理，查漏补缺，确保按期完成。",
        "会议强调，要加强统筹协调，及时报送信息，重要情况随时报告。"]

BUILD_TIMEOUT = 300_000  # an index update on a busy 2-core machine


@pytest.fixture(scope="module")
def kb_app(tmp_path_factory, config, built_index, embedder):
    from rag.index.store import build_index
    from rag.pipeline import PilotQA

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


def _row(page, name: str) -> list[str]:
    """The cells of the table row of document `name`."""
    return page.evaluate("""(name) => {
        const cell = (r, c) => document.querySelector(`#pq-kb-table [data-testid="cell-${r}-${c}"]`);
        for (let r = 0; cell(r, 0); r++) {
            if (cell(r, 0).innerText.trim() !== name) continue;
            const row = [];
            for (let c = 0; cell(r, c); c++) row.push(cell(r, c).innerText.trim());
            return row;
        }
        return null; }""", name)


def test_upload_ask_delete(page, kb_app, tmp_path):
    REPORTS.mkdir(parents=True, exist_ok=True)
    pdf = K.print_pdf(K.PARKING_PARAGRAPHS, tmp_path / "停车指导意见.pdf")
    note = tmp_path / NOTE_NAME
    note.write_text("\n\n".join(NOTE) + "\n", encoding="utf-8")
    page.get_by_role("tab", name="知识库").click()
    table = page.locator("#pq-kb-table")
    _table_has(page, "pilots-batch2.txt")
    assert "59 个试点" in table.inner_text()

    page.locator("#pq-kb-upload input[type=file]").set_input_files([str(pdf), str(note)])
    # two files are listed with their names split in two (停车指导意见 | .pdf)
    page.wait_for_function("() => ['停车指导意见', '会议纪要'].every("
                           "n => document.querySelector('#pq-kb-upload').innerText.includes(n))")
    page.locator("#pq-kb-add").click()
    status = _status(page, "已添加")
    assert "停车指导意见.pdf" in status and NOTE_NAME in status and "新嵌入" in status
    # the app's messages are Chinese only (the CLI keeps its Chinese / English lines)
    assert " / " not in status and not english_words(status, ("停车指导意见.pdf", NOTE_NAME)), status
    _table_has(page, "停车指导意见.pdf")
    _table_has(page, NOTE_NAME)
    assert "已索引" in table.inner_text()
    # each document by what it really holds: the PDF its pages, sections and paragraphs, the note its paragraphs
    kind, pages, units = _row(page, "停车指导意见.pdf")[1:4]
    assert kind == "PDF" and pages == "2" and re.fullmatch(r"[1-9]\d* 个章节，[1-9]\d* 段", units), (pages, units)
    kind, pages, units = _row(page, NOTE_NAME)[1:4]
    assert kind == "文本" and pages == "—" and re.fullmatch(r"[1-9]\d* 段", units), units
    assert "0 个章节" not in table.inner_text()
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
    deleted = _status(page, "已删除")
    assert "已删除 停车指导意见.pdf" in deleted and "removed" not in deleted
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


def test_plain_documents_count_what_they_hold(config, tmp_path):
    """`list_documents`: a document without headings is its paragraphs, one with headings its sections and
    paragraphs, a Markdown file's top-level parts count as sections; never "0 个章节"."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / NOTE_NAME).write_text("\n\n".join(NOTE) + "\n", encoding="utf-8")
    (docs / "规划.txt").write_text("某县发展规划\n\n一、总体要求\n\n坚持统筹发展。\n\n二、主要任务\n\n"
                                   "（一）建设道路。\n\n完善路网。\n\n（二）建设学校。\n\n新建学校两所。\n", encoding="utf-8")
    (docs / "笔记.md").write_text("# 第一部分\n\n第一段文字。\n\n# 第二部分\n\n第二段文字。\n\n第三段文字。\n",
                                 encoding="utf-8")
    units = {d.name: d.units for d in D.list_documents(config.with_overrides(docs_dir=docs), chunks=[])}
    assert units[NOTE_NAME] == "3 段", units  # its title, then three paragraphs
    assert re.fullmatch(r"4 个章节，[1-9]\d* 段", units["规划.txt"]), units  # 一、二、（一）（二）
    assert units["笔记.md"] == "2 个章节，3 段", units
    assert not any(u.startswith("0 ") for u in units.values()), units


def test_change_report_speaks_chinese_to_the_app():
    r = D.ChangeReport(chunks=10, embedded=2, seconds=1.0, messages=["已添加 a.pdf（PDF） / added a.pdf (pdf)"],
                       messages_zh=["已添加 a.pdf（PDF）"])
    assert r.summary_zh() == "索引已更新：共 10 个片段，本次新嵌入 2 个，用时 1.0 秒"
    assert r.summary().startswith(r.summary_zh() + " / index updated")  # the CLI's line is unchanged
    lines = warnings_zh(["/x/y/a.txt: not UTF-8; decoded as GB18030", "b.pdf: 第 2 页只有图片、没有文字",
                         "something else entirely"])
    assert lines == ["注意：a.txt：文件不是 UTF-8 编码，已按 GB18030 读取", "注意：b.pdf: 第 2 页只有图片、没有文字",
                     "注意：另有 1 条技术提示，已记入服务器日志。"]
