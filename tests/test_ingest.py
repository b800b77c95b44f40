"""Ingestion of real files: PDFs printed by chromium, .docx written by python-docx, text files; bad files.

What a user would notice: the text of a PDF comes back without the browser's header/footer or page numbers,
with every paragraph whole and on the right page; Word headings become the document's structure; a file
that is not what its name says, an encrypted PDF or a scan is refused with a message saying what to do.
"""
from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

import kb_files as K
from rag.corpus import load_corpus
from rag.corpus.ingest import IngestError, extract, load
from rag.corpus.ingest.cache import ExtractCache
from rag.text import norm


@pytest.fixture(scope="module")
def parking_pdf(tmp_path_factory) -> Path:
    return K.print_pdf(K.PARKING_PARAGRAPHS, tmp_path_factory.mktemp("pdf") / "停车指导意见.pdf")


def test_pdf_text_pages_and_no_page_furniture(parking_pdf):
    ex = extract(parking_pdf)
    assert ex.kind == "pdf" and ex.n_pages == 2 and len(ex.pages) == len(ex.lines)
    text = "\n".join(ex.lines)
    # chromium prints a date and the page title at the top, the file URL and "1/2" at the bottom: all gone
    assert "测试文件" not in text and "file://" not in text.replace("ﬁ", "fi") and "/2" not in text
    assert ex.meta["furniture_dropped"] == 8
    # the text reads as written, in order: every source paragraph is in it (whitespace aside)
    flat = norm("".join(ex.lines))
    pos = 0
    for para in K.PARKING_PARAGRAPHS:
        k = flat.find(norm(para)[:40], pos)
        assert k >= 0, para[:20]
        pos = k
    # the figure is on page 1, the last paragraph's figure on page 2, and no line is on both
    fig = next(i for i, s in enumerate(ex.lines) if norm(K.PARKING_FIGURE) in norm(s))
    assert ex.pages[fig] == 1
    last = next(i for i, s in enumerate(ex.lines) if norm(K.PAGE2_FIGURE) in norm(s))
    assert ex.pages[last] == 2
    assert ex.pages == sorted(ex.pages)


def test_pdf_paragraph_broken_by_the_page_is_one_paragraph_in_the_corpus(parking_pdf):
    c = load_corpus([parking_pdf])
    (doc,) = c.pilots
    assert doc.name == K.PARKING_TITLE and doc.level == "文档" and doc.province == ""
    assert [s.title for s in doc.sections] == ["一、总体要求", "二、重点任务", "三、保障措施"]
    land = [s for _, s in doc.iter_sections() if s.title == "（三）加强用地保障"][0]
    (par,) = land.paragraphs
    assert par.end_line > par.start_line  # two lines, one per page, joined across the break
    assert c.page(str(parking_pdf), par.start_line) == 1 and c.page(str(parking_pdf), par.end_line) == 2
    assert "优先安排公共停车场建设用地" in par.text and "\n" not in par.text
    assert c.sources[0].doc_type == "pdf" and c.sources[0].n_pages == 2


def test_pdf_cache_is_by_content(parking_pdf, tmp_path):
    copy = tmp_path / "副本.pdf"
    copy.write_bytes(parking_pdf.read_bytes())
    first = load(copy)
    entry = ExtractCache.beside(copy).entry(first.sha256)
    assert (entry / "text.txt").read_text(encoding="utf-8") == first.text
    again = load(copy)
    assert again.lines == first.lines and again.pages == first.pages and again.name == "副本.pdf"


def test_docx_headings_title_and_table(tmp_path):
    f = K.write_docx(tmp_path / "实施方案.docx", "某省推进新型城镇化实施方案", [
        ("p", "为深入推进新型城镇化建设，制定本方案。"),
        ("h1", "总体要求"),
        ("p", "到2025年，全省常住人口城镇化率达到65%。"),
        ("h1", "重点任务"),
        ("h2", "推进农业转移人口市民化"),
        ("p", "全面放开落户限制。"),
        ("table", "指标,2025年目标;城镇化率,65%;新增城镇就业,50万人"),
    ])
    ex = extract(f)
    assert ex.kind == "docx" and ex.title == "某省推进新型城镇化实施方案" and set(ex.pages) == {None}
    assert "| 城镇化率 | 65% |" in ex.lines
    c = load_corpus([f])
    (doc,) = c.pilots
    assert doc.name == "某省推进新型城镇化实施方案"
    assert [(" > ".join(t), s.level) for t, s in doc.iter_sections()] == [
        ("总体要求", 1), ("重点任务", 1), ("重点任务 > 推进农业转移人口市民化", 2)]
    assert doc.intro[0].text == "为深入推进新型城镇化建设，制定本方案。"
    tail = [p.text for p in doc.sections[1].children[0].paragraphs]
    assert tail[0] == "全面放开落户限制。" and "| 新增城镇就业 | 50万人 |" in tail


def test_plain_text_regulation_nests_chapters_and_articles(tmp_path):
    f = tmp_path / "管理办法.txt"
    f.write_text("某市城镇化项目管理办法\n\n第一章 总则\n\n第一条 为规范项目管理，制定本办法。\n\n"
                 "第二条 本办法适用于全市城镇化项目，\n包括新建和改建项目。\n\n第二章 资金\n\n"
                 "第三条 市财政每年安排专项资金2000万元。\n", encoding="utf-8")
    c = load_corpus([f])
    (doc,) = c.pilots
    assert doc.name == "某市城镇化项目管理办法" and doc.heading == "某市城镇化项目管理办法"
    assert [(t[-1][:3], s.level) for t, s in doc.iter_sections()] == [
        ("第一章", 1), ("第一条", 2), ("第二条", 2), ("第二章", 1), ("第三条", 2)]
    art2 = [s for _, s in doc.iter_sections() if s.title.startswith("第二条")][0]
    assert art2.paragraphs[0].text == "第二条 本办法适用于全市城镇化项目，包括新建和改建项目。"
    assert c.lines(str(f))[2] == "第一章 总则"  # text files are never edited: lines are the file's


def test_gb18030_text_is_read_and_said(tmp_path):
    f = tmp_path / "旧文件.txt"
    f.write_bytes("一、总体目标\n\n到2020年，城镇化率达到60%。\n".encode("gb18030"))
    c = load_corpus([f])
    assert c.pilots[0].sections[0].title == "一、总体目标"
    assert any("GB18030" in w for w in c.warnings)


# --------------------------------------------------------------------------- refusals


def _refused(path: Path, name: str | None = None) -> IngestError:
    with pytest.raises(IngestError) as info:
        extract(path, name)
    msg = str(info.value)
    assert "\n" not in msg and (name or path.name) in msg and " / " in msg  # one line, Chinese / English
    return info.value


def test_empty_file_refused(tmp_path):
    (tmp_path / "空.pdf").write_bytes(b"")
    (tmp_path / "空.txt").write_text("  \n\n", encoding="utf-8")
    assert _refused(tmp_path / "空.pdf").code == "empty"
    assert _refused(tmp_path / "空.txt").code == "empty"


def test_binary_renamed_pdf_refused(tmp_path, parking_pdf):
    png = tmp_path / "照片.pdf"
    from PIL import Image

    Image.new("RGB", (20, 20), "red").save(png, "PNG")
    err = _refused(png)
    assert err.code == "mismatch" and "PNG" in err.zh
    junk = tmp_path / "乱码.pdf"
    junk.write_bytes(bytes(range(256)) * 64)
    assert _refused(junk).code == "mismatch"
    # a PDF named .txt, an Excel workbook named .docx: the content decides
    txt = tmp_path / "其实是PDF.txt"
    txt.write_bytes(parking_pdf.read_bytes())
    assert "PDF" in _refused(txt).zh
    xl = tmp_path / "表格.docx"
    with zipfile.ZipFile(xl, "w") as z:
        z.writestr("xl/workbook.xml", "<workbook/>")
    assert "Excel" in _refused(xl).zh


def test_old_word_and_unknown_types_refused(tmp_path):
    doc = tmp_path / "旧版.doc"
    doc.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600)
    assert ".docx" in _refused(doc).zh
    exe = tmp_path / "程序.exe"
    exe.write_bytes(b"MZ" + b"\x00" * 100)
    assert _refused(exe).code == "unsupported"


def test_encrypted_pdf_refused(tmp_path, parking_pdf):
    locked = K.encrypted_pdf(parking_pdf, tmp_path / "加密.pdf")
    err = _refused(locked)
    assert err.code == "encrypted" and "密码" in err.zh


def test_scanned_pdf_refused_naming_ocr(tmp_path):
    scan = K.image_only_pdf(tmp_path / "扫描件.pdf")
    err = _refused(scan)
    assert err.code == "no_text" and "OCR" in err.zh and "OCR" in err.en


def test_damaged_pdf_refused(tmp_path, parking_pdf):
    cut = tmp_path / "损坏.pdf"
    cut.write_bytes(parking_pdf.read_bytes()[:2000])
    assert _refused(cut).code in ("damaged", "no_text")
