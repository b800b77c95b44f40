"""The documents folder end to end, with the real model and real files (no mocks).

The issue's "done when": with a copy of the corpus in the documents folder, `pilotqa docs add X.pdf` (a PDF
chromium printed, stating a figure the corpus lacks) makes `pilotqa ask --json` answer it citing page 1,
房山 is still answered, and after `pilotqa docs remove X.pdf` the question is refused. Adding embeds only
the new file's chunks, a rebuild with no change embeds nothing, and bad files change nothing.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

import kb_files as K
from conftest import CORPUS
from rag.index import documents as D
from rag.cli.main import main
from rag.text import norm

FANGSHAN = "房山区2020年的森林覆盖率目标是多少？"


@pytest.fixture(scope="module")
def kb(tmp_path_factory, config, built_index, embedder):
    """A documents folder holding a copy of the corpus, indexed beside the session index (sharing its
    vector cache, so the copy costs no embedding)."""
    from rag.index.store import build_index

    docs = tmp_path_factory.mktemp("docs")
    shutil.copy(CORPUS, docs / CORPUS.name)
    cfg = config.with_overrides(docs_dir=docs, index_name="kb")
    assert cfg.corpus == (str(docs),)
    report = build_index(cfg, progress=False, embedder=embedder)
    assert report.embedded == 0
    return cfg


@pytest.fixture(scope="module")
def parking_pdf(tmp_path_factory) -> Path:
    return K.print_pdf(K.PARKING_PARAGRAPHS, tmp_path_factory.mktemp("upload") / "停车指导意见.pdf")


def _cli(capsys, cfg, *argv) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main([*argv, "--index-dir", str(cfg.index_dir), "--index-name", cfg.index_name,
               "--docs-dir", str(cfg.docs_dir)])
    out = capsys.readouterr()
    return rc, out.out, out.err


def _ask(capsys, cfg, question: str) -> dict:
    rc, out, err = _cli(capsys, cfg, "ask", "--json", question)
    assert rc == 0, err
    return json.loads(out)


def _published(cfg) -> str:
    return os.path.realpath(cfg.index_path)


def test_corpus_lacks_the_new_figure():
    assert norm("智慧停车泊位") not in norm(CORPUS.read_text(encoding="utf-8"))
    assert norm("12.8万个") not in norm(CORPUS.read_text(encoding="utf-8"))


def test_add_ask_remove_through_the_cli(kb, parking_pdf, capsys, embedder):
    from rag.pipeline import PilotQA
    from rag.index.store import Index

    rc, out, err = _cli(capsys, kb, "docs", "list")
    assert rc == 0 and "pilots-batch2.txt" in out and "59 个试点" in out and "已索引" in out

    qa = PilotQA(kb, embedder=embedder)  # a running app: it keeps answering from its index during the add
    rc, out, err = _cli(capsys, kb, "docs", "add", str(parking_pdf), "--quiet")
    assert rc == 0, err
    assert "已添加 停车指导意见.pdf（PDF，2 页" in out
    # only the new document's chunks were embedded, and the count is printed
    index = Index.load(kb.index_path)
    new = [c for c in index.chunks if Path(c.source).name == "停车指导意见.pdf"]
    assert 0 < len(new) < 30
    assert f"本次新嵌入 {len(new)} 个" in out
    assert {c.pilot for c in new} == {K.PARKING_TITLE}

    ans = _ask(capsys, kb, K.PARKING_QUESTION)
    assert ans["answerable"] is True and "12.8" in ans["answer"]
    cited = [c for c in ans["citations"] if c["doc"] == "停车指导意见.pdf"]
    assert cited and cited[0]["page"] == 1 and "12.8万个" in norm(cited[0]["quote"])
    assert all(c["page"] is None for c in ans["citations"] if c["doc"] == "pilots-batch2.txt")

    # the running facade swaps to the new build and still answers about 房山 from the corpus
    assert qa.reload_if_changed() is True
    fangshan = qa.ask(FANGSHAN)
    assert fangshan.answerable and "45%" in fangshan.text.replace(" ", "")
    assert any(c.pilot == "北京市房山区" and c.doc == "pilots-batch2.txt" for c in fangshan.citations)

    # "哪些试点…" lists pilots only (the added guideline is no pilot); "哪些文件…" lists every document
    pilots = qa.ask("哪些试点提到了停车场？")
    assert pilots.answerable and "个试点" in pilots.text and K.PARKING_TITLE not in pilots.text
    assert all(c.doc == "pilots-batch2.txt" for c in pilots.citations)
    files = qa.ask("哪些文件提到了停车场？")
    assert files.answerable and "个文件" in files.text and K.PARKING_TITLE in files.text
    assert {c.doc for c in files.citations} == {"pilots-batch2.txt", "停车指导意见.pdf"}

    # --doc scopes a question to one document, in the CLI as in the app and the API
    only_pdf = json.loads(_cli(capsys, kb, "ask", "--json", "--doc", "停车指导意见.pdf", "哪些文件提到了停车场？")[1])
    assert only_pdf["answerable"] and {c["doc"] for c in only_pdf["citations"]} == {"停车指导意见.pdf"}
    only_corpus = json.loads(_cli(capsys, kb, "ask", "--json", "--doc", "pilots-batch2.txt", K.PARKING_QUESTION)[1])
    assert only_corpus["answerable"] is False
    rc, out, err = _cli(capsys, kb, "search", "--doc", "没有这个文件.pdf", "停车")
    assert rc == 2 and "没有名为“没有这个文件.pdf”的文件" in err and "Traceback" not in err

    # a line on the second page says so (the chunk holding the page-2 figure)
    chunk = next(c for c in new if norm(K.PAGE2_FIGURE) in norm(c.text))
    assert D.page_of(chunk.source, chunk.end_line) == 2 and D.page_of(chunk.source, chunk.start_line) in (1, 2)
    assert D.text_lines(chunk.source)[chunk.end_line - 1].endswith(K.PAGE2_FIGURE + "。")

    rc, out, err = _cli(capsys, kb, "docs", "list")
    assert "停车指导意见.pdf\tPDF\t2 页" in out and f"{len(new)} 个片段" in out

    rc, out, err = _cli(capsys, kb, "docs", "remove", "停车指导意见.pdf", "--quiet")
    assert rc == 0, err
    assert "已删除 停车指导意见.pdf" in out and "本次新嵌入 0 个" in out
    assert not (Path(kb.docs_dir) / "停车指导意见.pdf").exists()
    ans = _ask(capsys, kb, K.PARKING_QUESTION)
    assert ans["answerable"] is False
    assert all(c["doc"] != "停车指导意见.pdf" for c in ans["citations"])

    # no change: nothing embedded
    rc, out, err = _cli(capsys, kb, "docs", "reindex", "--quiet")
    assert rc == 0 and "本次新嵌入 0 个" in out


# --------------------------------------------------------------------------- bad files change nothing


@pytest.fixture()
def unchanged(kb):
    """Asserts after the test that the folder and the published index are as they were."""
    before = (sorted(p.name for p in Path(kb.docs_dir).iterdir()), _published(kb))
    yield kb
    assert (sorted(p.name for p in Path(kb.docs_dir).iterdir()), _published(kb)) == before


def _refused(cfg, files, names=None, *, want: str) -> str:
    with pytest.raises(D.DocumentError) as info:
        D.add_documents(cfg, files, names)
    msg = str(info.value)
    assert "\n" not in msg and " / " in msg and want in msg, msg
    return msg


def test_bad_files_are_refused_and_change_nothing(unchanged, tmp_path, parking_pdf):
    kb = unchanged
    empty = tmp_path / "空文件.pdf"
    empty.write_bytes(b"")
    _refused(kb, [empty], want="空的")
    fake = tmp_path / "改名的图片.pdf"
    fake.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40)
    _refused(kb, [fake], want="不是PDF")
    _refused(kb, [K.encrypted_pdf(parking_pdf, tmp_path / "加密.pdf")], want="加密")
    _refused(kb, [K.image_only_pdf(tmp_path / "扫描件.pdf")], want="OCR")
    big = tmp_path / "太大.pdf"
    with open(big, "wb") as f:  # 60 MB, sparse: the size alone refuses it, before anything is read
        f.truncate(60 * 1024 * 1024)
    _refused(kb, [big], want="上限为 50 MB")


def test_names_are_checked(unchanged, tmp_path, parking_pdf):
    kb = unchanged
    _refused(kb, [parking_pdf], ["../../x.pdf"], want="路径")
    _refused(kb, [parking_pdf], ["..\\x.pdf"], want="路径")
    _refused(kb, [parking_pdf], ["／etc／x.pdf"], want="路径")  # a full-width slash is a path to a reader
    _refused(kb, [parking_pdf], [".hidden.pdf"], want="不能以")
    _refused(kb, [parking_pdf], ["README.md"], want="保留")
    look = tmp_path / "PILOTS-BATCH2.txt"
    look.write_text("一、总体目标\n\n到2020年，城镇化率达到60%。\n", encoding="utf-8")
    _refused(kb, [look], want="几乎相同")
    wide = tmp_path / "ｐｉｌｏｔｓ-batch2.txt"
    wide.write_text("一、总体目标\n\n到2020年，城镇化率达到60%。\n", encoding="utf-8")
    _refused(kb, [wide], want="几乎相同")
    with pytest.raises(D.DocumentError, match="没有名为"):
        D.remove_document(kb, "../../pilots-batch2.txt")


def test_one_bad_file_refuses_the_whole_batch(unchanged, tmp_path, parking_pdf):
    _refused(unchanged, [parking_pdf, K.image_only_pdf(tmp_path / "扫描件.pdf")], want="扫描件")


def test_a_failed_rebuild_is_undone(unchanged, parking_pdf):
    broken = unchanged.with_overrides(embed_model=str(Path(unchanged.docs_dir) / "no-such-model"))
    _refused(broken, [parking_pdf], want="已撤销")


def test_cli_refusal_is_one_line_without_traceback(kb, tmp_path, capsys):
    empty = tmp_path / "空.pdf"
    empty.write_bytes(b"")
    rc, out, err = _cli(capsys, kb, "docs", "add", str(empty), "--quiet")
    assert rc == 2 and "Traceback" not in err and err.count("\n") == 1 and "空的" in err
    rc, out, err = _cli(capsys, kb, "docs", "remove", "../../x.pdf")
    assert rc == 2 and "没有名为" in err


# --------------------------------------------------------------------------- the corpus printed to PDF


def test_pdf_rendering_of_the_corpus_gives_the_same_pilots_with_pages(tmp_path_factory, config, corpus, embedder):
    from rag.pipeline import PilotQA
    from rag.index.store import build_index

    docs = tmp_path_factory.mktemp("pdfdocs")
    K.text_file_pdf(CORPUS, docs / "pilots-batch2.pdf")
    cfg = config.with_overrides(docs_dir=docs, index_name="kb-pdf")
    report = build_index(cfg, progress=False, embedder=embedder)
    qa = PilotQA(cfg, embedder=embedder)
    assert [p.name for p in qa.corpus.pilots] == [p.name for p in corpus.pilots]
    assert qa.corpus.toc == corpus.toc
    # same text, pilot by pilot (whitespace aside): nothing lost or duplicated by the PDF round trip
    for a, b in zip(corpus.pilots, qa.corpus.pilots):
        assert norm("".join(x.text for x in a.paragraphs())) == norm("".join(x.text for x in b.paragraphs())), a.name
    # most chunks read exactly as in the text file, so their vectors came from the cache
    assert report.embedded < report.chunks * 0.25
    ans = qa.ask(FANGSHAN)
    assert ans.answerable and "45%" in ans.text.replace(" ", "")
    (cit,) = [c for c in ans.citations if c.pilot == "北京市房山区"][:1]
    assert cit.doc == "pilots-batch2.pdf" and isinstance(cit.page, int) and cit.page >= 2
    source = str(docs / "pilots-batch2.pdf")
    assert qa.corpus.page(source, cit.start_line) == cit.page
    assert "45%" in qa.corpus.lines(source)[cit.start_line - 1].replace(" ", "")
