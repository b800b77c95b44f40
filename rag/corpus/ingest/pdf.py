"""PDF text with pdfminer.six (MIT licence; PyMuPDF would bring AGPL): lines, their pages, repairs.

Output shape, shared with Word: one paragraph per line, a blank line between paragraphs (as in the text
corpus), every line tagged with the 1-based page it is printed on. Refused: encrypted PDFs (a password is
needed to open them), damaged files, and PDFs with no text layer (scans) — the message names OCR.

Limits: the text read is counted line by line as pages come in (`Limits.text_bytes`: a small piece of text drawn
a million times is caught here), and, in the process that reads the PDF (`worker`, after `cap_streams`), every
decompressed stream (`Limits.unpacked_bytes`), a flate stream stopped as soon as it would pass what is left;
either refuses the PDF as soon as it is over.
"""
from __future__ import annotations

import logging
import zlib
from pathlib import Path

from rag.corpus.ingest.limits import Limits, Refused, out_of_memory, too_large
from rag.corpus.ingest.repair import Line, Page, drop_furniture, measure, paragraphs
from rag.corpus.ingest.types import Extracted, IngestError

# fewer visible characters per page than this, on average, is a scan (or an empty PDF), not a text PDF
MIN_CHARS_PER_PAGE = 5


_OUT = 4 << 20  # the most one inflate step may produce (1 MB of a flate bomb can make 1 GB)


class StreamBudget:
    """The bytes a PDF's streams may decompress to, all together. Stands in for the `zlib` module pdfminer
    decodes flate streams with (`decompress`, `decompressobj`, `error`), inflating step by step and stopping a
    stream as soon as it would pass what is left; `PDFStream.decode` then counts every decoded stream (`spend`)."""

    error = zlib.error

    def __init__(self, limit: int, name: str):
        self.limit, self.left, self.name = limit, limit, name

    def over(self) -> Refused:
        return Refused(too_large(self.name, "PDF 解压后的内容", "the PDF's decompressed content", self.limit))

    def spend(self, n: int) -> None:
        self.left -= n
        if self.left < 0:
            raise self.over()

    def decompress(self, data: bytes) -> bytes:
        """`zlib.decompress(data)`: the same bytes, or the same zlib.error, unless it would pass the budget."""
        inflater = zlib.decompressobj()
        out = bytearray()
        buf = data
        while not inflater.eof:
            chunk = inflater.decompress(buf, _OUT)
            out += chunk
            if len(out) > self.left:
                raise self.over()
            buf = inflater.unconsumed_tail
            if not buf and not chunk:
                break
        if not inflater.eof:
            raise zlib.error("Error -5 while decompressing data: incomplete or truncated stream")
        return bytes(out)

    def decompressobj(self, *args) -> "_CappedInflater":
        return _CappedInflater(self, zlib.decompressobj(*args))


class _CappedInflater:
    """A zlib decompressor (pdfminer's repair of a corrupted stream feeds it byte by byte) within a budget."""

    def __init__(self, budget: StreamBudget, inflater):
        self.budget, self.inflater, self.made = budget, inflater, 0

    def decompress(self, data: bytes, *args) -> bytes:
        out = self.inflater.decompress(data, *args)
        self.made += len(out)
        if self.made > self.budget.left:
            raise self.budget.over()
        return out

    def __getattr__(self, attr):
        return getattr(self.inflater, attr)


def cap_streams(budget: StreamBudget) -> None:
    """Make pdfminer, in this process for good, decompress within `budget`. Only the worker process that reads
    one PDF and exits calls it: it changes pdfminer's module state."""
    from pdfminer import pdftypes  # pdfminer loads only when a PDF is read

    decode = pdftypes.PDFStream.decode

    def counted(stream) -> None:
        decode(stream)
        budget.spend(len(stream.data or b""))

    pdftypes.zlib = budget
    pdftypes.PDFStream.decode = counted


def _read_pages(path: Path, name: str, limits: Limits) -> list[Page]:
    from pdfminer.high_level import extract_pages  # pdfminer loads only when a PDF is read
    from pdfminer.layout import LAParams, LTFigure, LTImage, LTTextLine  # pdfminer loads only when a PDF is read
    from pdfminer.pdfdocument import PDFEncryptionError  # pdfminer loads only when a PDF is read
    from pdfminer.pdfexceptions import PDFException  # pdfminer loads only when a PDF is read
    from pdfminer.psparser import PSException  # pdfminer loads only when a PDF is read

    text_left = [limits.text_bytes]

    def walk(obj, page: Page):
        for child in obj:
            if isinstance(child, LTTextLine):
                text = child.get_text().replace("\n", "")
                if text.strip():
                    text_left[0] -= len(text.encode("utf-8", "surrogatepass")) + 1
                    if text_left[0] < 0:
                        raise Refused(too_large(name, "PDF 中的文字", "the PDF's text", limits.text_bytes))
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
    except MemoryError:
        raise out_of_memory(name, limits) from None
    except Refused as stop:
        raise stop.error from None
    finally:
        quiet.setLevel(level)
    if not pages:
        raise IngestError(name, "damaged", "PDF 文件中没有任何页面", "the PDF has no pages")
    return pages


def extract_pdf(path: Path, name: str, sha256: str, limits: Limits | None = None) -> Extracted:
    pages = _read_pages(path, name, limits or Limits())
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
