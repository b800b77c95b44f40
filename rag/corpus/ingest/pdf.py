"""PDF text with pdfminer.six (MIT licence; PyMuPDF would bring AGPL): lines, their pages, repairs.

Output shape, shared with Word: one paragraph per line, a blank line between paragraphs (as in the text
corpus), every line tagged with the 1-based page it is printed on. Refused: encrypted PDFs (a password is
needed to open them), damaged files, and PDFs with no text layer (scans) — the message names OCR.
"""
from __future__ import annotations

import logging
from pathlib import Path

from rag.corpus.ingest.repair import Line, Page, drop_furniture, measure, paragraphs
from rag.corpus.ingest.types import Extracted, IngestError

# fewer visible characters per page than this, on average, is a scan (or an empty PDF), not a text PDF
MIN_CHARS_PER_PAGE = 5


def _read_pages(path: Path, name: str) -> list[Page]:
    from pdfminer.high_level import extract_pages  # pdfminer loads only when a PDF is read
    from pdfminer.layout import LAParams, LTFigure, LTImage, LTTextLine  # pdfminer loads only when a PDF is read
    from pdfminer.pdfdocument import PDFEncryptionError  # pdfminer loads only when a PDF is read
    from pdfminer.pdfexceptions import PDFException  # pdfminer loads only when a PDF is read
    from pdfminer.psparser import PSException  # pdfminer loads only when a PDF is read

    def walk(obj, page: Page):
        for child in obj:
            if isinstance(child, LTTextLine):
                text = child.get_text().replace("\n", "")
                if text.strip():
                    page.lines.append(Line(text, child.x0, child.y0, child.x1, child.y1))
            elif isinstance(child, LTImage):
                page.images += 1
            elif isinstance(child, LTFigure) or hasattr(child, "__iter__"):
                walk(child, page)

    pages: list[Page] = []
    quiet = logging.getLogger("pdfminer")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # pdfminer warns per glyph about fonts it does not need; not the user's problem
    try:
        for layout in extract_pages(str(path), laparams=LAParams(all_texts=True)):
            page = Page(width=layout.width, height=layout.height, lines=[])
            walk(layout, page)
            pages.append(page)
    except PDFEncryptionError:
        raise IngestError(name, "encrypted", "PDF 已加密（需要密码才能打开），请先去除密码或另存为未加密的 PDF 再添加",
                          "the PDF is encrypted (a password is needed to open it): remove the password first") from None
    except (PDFException, PSException, ValueError, KeyError, TypeError, IndexError, AssertionError, RecursionError):
        raise IngestError(name, "damaged", "PDF 文件已损坏，无法读取其中的文字", "the PDF is damaged: its text cannot be read") from None
    finally:
        quiet.setLevel(level)
    if not pages:
        raise IngestError(name, "damaged", "PDF 文件中没有任何页面", "the PDF has no pages")
    return pages


def extract_pdf(path: Path, name: str, sha256: str) -> Extracted:
    pages = _read_pages(path, name)
    n_chars = sum(len(ln.text.strip()) for p in pages for ln in p.lines)
    if n_chars < MIN_CHARS_PER_PAGE * len(pages):
        raise IngestError(name, "no_text", "PDF 中没有可提取的文字，可能是扫描件或图片。请先用 OCR（文字识别）软件转换为可复制文字的 PDF 再添加",
                          "no extractable text: probably a scanned (image-only) PDF; run OCR (text recognition) first")
    dropped = drop_furniture(pages)
    metrics = measure(pages)
    lines: list[str] = []
    page_of: list[int | None] = []
    textless: list[int] = []
    for no, page in enumerate(pages, 1):
        paras = paragraphs(page, metrics)
        if not paras and page.images:
            textless.append(no)
        for para in paras:
            if lines:  # a blank line between paragraphs, as in the text corpus
                lines.append("")
                page_of.append(no)
            lines.append(para)
            page_of.append(no)
    if not any(ln.strip() for ln in lines):
        raise IngestError(name, "no_text", "PDF 中没有可提取的文字，可能是扫描件或图片。请先用 OCR（文字识别）软件转换后再添加",
                          "no extractable text: probably a scanned (image-only) PDF; run OCR first")
    warnings = []
    if textless:
        warnings.append(f"第 {'、'.join(map(str, textless))} 页只有图片、没有文字（可能是扫描页），未被索引；需要时请先做 OCR")
    meta = {"n_pages": len(pages), "furniture_dropped": dropped, "textless_pages": textless, "warnings": warnings}
    return Extracted(name=name, kind="pdf", lines=lines, pages=page_of, sha256=sha256, meta=meta)
