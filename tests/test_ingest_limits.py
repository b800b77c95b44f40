"""Limits on what ingestion unpacks (issue 21): a file that unpacks to too much, lies about its sizes or takes too
long is refused within seconds with a one-line message naming the file and the fix; normal files extract exactly
as before. Real files, made here: a .docx zip bomb, a .docx whose ZIP directory lies, PDFs written by hand (big
but legal, and one holding a flate bomb). Nothing is mocked.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

import kb_files as K
from rag.config import Config
from rag.corpus.ingest import IngestError, Limits, extract
from rag.corpus.ingest.docx import extract_docx
from rag.corpus.ingest.pdf import extract_pdf
from rag.files import sha256_file

MIB = 1024 * 1024


def _refused(path: Path, limits: Limits | None = None, *, within: float = 5.0) -> IngestError:
    start = time.monotonic()
    with pytest.raises(IngestError) as info:
        extract(path, limits=limits)
    took = time.monotonic() - start
    msg = str(info.value)
    assert "\n" not in msg and path.name in msg and " / " in msg, msg  # one line, Chinese / English, the file
    assert took < within, f"refused after {took:.1f} s: {msg}"
    return info.value


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("limits")


def test_limits_follow_the_settings():
    assert Limits().unpacked_bytes == Limits().text_bytes == 20 * 50 * MIB and Limits().timeout == 60.0
    lim = Limits.from_config(Config.from_env({"PILOTQA_MAX_UPLOAD_MB": "2", "PILOTQA_EXTRACT_TIMEOUT": "7"}))
    assert lim.unpacked_bytes == lim.text_bytes == 40 * MIB and lim.timeout == 7.0
    # a configured limit may only tighten; 0 is no time limit, which any positive one tightens
    assert Limits.from_config(Config(), unpacked_bytes=MIB, timeout=600).unpacked_bytes == MIB
    assert Limits.from_config(Config(), timeout=600).timeout == 60.0
    assert Limits.from_config(Config(extract_timeout=0), timeout=5).timeout == 5.0


# --------------------------------------------------------------------------- Word


def test_docx_bomb_refused_from_the_zip_directory(files):
    bomb = K.docx_bomb(files / "炸弹.docx", 8 * MIB)
    assert bomb.stat().st_size < 100_000  # 8 MB of XML in a small file
    err = _refused(bomb, Limits(unpacked_bytes=MIB), within=2.0)  # nothing inflated, no process started
    assert err.code == "too_large" and "解压后" in err.zh and "上限 1.0 MB" in err.zh and "拆分" in err.zh
    assert "split it" in err.en
    # under the default limits (1000 MB) the same file inflates too many times over: a zip bomb
    err = _refused(bomb, within=2.0)
    assert err.code == "bomb" and "word/document.xml" in err.zh and "压缩比" in err.zh and "另存为" in err.zh


def test_docx_whose_zip_directory_lies_about_sizes(files):
    liar = K.docx_lying(files / "目录不实.docx", real=2 * MIB, said=4096)
    err = _refused(liar)
    assert err.code == "size_mismatch" and "word/document.xml" in err.zh and "不符" in err.zh
    assert "ZIP directory" in err.en


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS is enforced on Linux")
def test_docx_needing_too_much_memory_is_stopped(files):
    bomb = K.docx_bomb(files / "吃内存.docx", 30 * MIB)
    err = _refused(bomb, Limits(ratio=1e9, memory_bytes=200 * MIB))
    assert err.code == "memory" and "内存" in err.zh and "200 MB" in err.zh


# --------------------------------------------------------------------------- PDF


def test_pdf_over_the_text_limit(files):
    pdf = K.text_pdf(files / "文字太多.pdf", pages=3)
    err = _refused(pdf, Limits(text_bytes=2000))
    assert err.code == "too_large" and "PDF 中的文字" in err.zh and "2 KB" in err.zh
    assert extract(pdf).n_pages == 3  # under the default limits it reads


def test_pdf_decompression_bomb(files):
    pdf = K.text_pdf(files / "解压炸弹.pdf", pages=2, bomb=64 * MIB)
    assert pdf.stat().st_size < 200_000
    err = _refused(pdf, Limits(unpacked_bytes=4 * MIB))
    assert err.code == "too_large" and "PDF 解压后的内容" in err.zh and "4.0 MB" in err.zh


def test_slow_pdf_is_stopped_at_the_time_limit(files):
    pdf = K.text_pdf(files / "三百页.pdf", pages=300)  # legal, and takes pdfminer many seconds
    start = time.monotonic()
    err = _refused(pdf, Limits(timeout=1.0), within=4.0)
    assert time.monotonic() - start >= 1.0
    assert err.code == "timeout" and "超时" in err.zh and "1 秒" in err.zh and "PILOTQA_EXTRACT_TIMEOUT" in err.en


def test_text_file_over_the_text_limit(files):
    txt = files / "长文本.txt"
    txt.write_text("一、总体要求\n\n" + "推进新型城镇化。\n" * 2000, encoding="utf-8")
    err = _refused(txt, Limits(text_bytes=8192))
    assert err.code == "too_large" and "文本文件" in err.zh


# --------------------------------------------------------------------------- normal files: exactly as before


def _same(a, b) -> None:
    assert (a.name, a.kind, a.lines, a.pages, a.sha256, a.title, a.headings, a.meta) == \
           (b.name, b.kind, b.lines, b.pages, b.sha256, b.title, b.headings, b.meta)
    assert list(a.headings) == list(b.headings) and a.text == b.text


def test_child_process_extraction_is_identical_to_in_process(files):
    doc = K.write_docx(files / "方案.docx", "某省推进新型城镇化实施方案", [
        ("p", "为深入推进新型城镇化建设，制定本方案。"), ("h1", "总体要求"), ("p", "到2025年，常住人口城镇化率达到65%。"),
        ("h2", "推进农业转移人口市民化"), ("table", "指标,目标;城镇化率,65%")])
    ex = extract(doc)
    assert ex.headings and all(isinstance(k, int) for k in ex.headings)
    _same(ex, extract_docx(doc, doc.name, sha256_file(doc)))
    pdf = K.text_pdf(files / "十页.pdf", pages=10)
    _same(extract(pdf), extract_pdf(pdf, pdf.name, sha256_file(pdf)))


# --------------------------------------------------------------------------- the knowledge base: nothing half-added


@pytest.fixture(scope="module")
def kb(tmp_path_factory, config, embedder):
    """A documents folder of one short document, indexed (a few chunks: no need for the whole corpus, the
    refusals come before any rebuild)."""
    from rag.index.store import build_index

    docs = tmp_path_factory.mktemp("docs-limits")
    (docs / "通知.txt").write_text("关于推进县城建设的通知\n\n一、总体要求\n\n到2025年，县城公共停车泊位达到2万个。\n\n"
                                  "二、保障措施\n\n各县要建立工作协调机制。\n", encoding="utf-8")
    cfg = config.with_overrides(docs_dir=docs, index_dir=tmp_path_factory.mktemp("index-limits"))
    build_index(cfg, progress=False, embedder=embedder)
    assert Path(cfg.index_path, "manifest.json").is_file()
    return cfg


def _state(cfg) -> tuple:
    docs = Path(cfg.docs_dir)
    return (sorted(str(p.relative_to(docs)) for p in docs.rglob("*") if p.name != ".lock"),
            str(Path(cfg.index_path).resolve()))


def test_add_documents_refuses_a_bomb_and_changes_nothing(kb, files):
    from rag.index import documents as D

    before = _state(kb)
    small = K.docx_bomb(files / "上传炸弹.docx", 30 * MIB)
    cases = [(kb, small, "压缩比"),                                          # default limits: a zip bomb
             (kb.with_overrides(max_upload_mb=1), small, "超过上限 20.0 MB"),   # 20 x a 1 MB upload limit
             (kb, K.docx_lying(files / "目录不实.docx"), "不符"),
             (kb.with_overrides(extract_timeout=1), K.text_pdf(files / "慢.pdf", pages=300), "超时")]
    for cfg, path, want in cases:
        start = time.monotonic()
        with pytest.raises(D.DocumentError) as info:
            D.add_documents(cfg, [path])
        msg = str(info.value)
        assert "\n" not in msg and " / " in msg and path.name in msg and want in msg, msg
        assert time.monotonic() - start < 5.0, msg
        assert _state(kb) == before
    # and a normal Word file still goes in, read by the same limited process
    doc = K.write_docx(files / "实施意见.docx", "关于县城停车设施的实施意见", [("h1", "总体要求"), ("p", "新建停车泊位1.5万个。")])
    report = D.add_documents(kb, [doc])
    assert any(m.startswith("已添加 实施意见.docx（Word") for m in report.messages), report.messages
    assert (Path(kb.docs_dir) / "实施意见.docx").is_file()
