"""Word (.docx) text with python-docx: paragraphs and table rows in document order, heading styles kept.

A paragraph styled `Heading N` / `标题 N` (or with an outline level) becomes a heading hint at level N
for the corpus parser, so a document whose headings carry no `一、`/`（一）` numbering still gets its
structure; the `Title` style (else the document property) names the document. Table rows become one line
each, as a Markdown table row (`| a | b |`). Paragraphs are separated by blank lines, as in the text corpus.

Before python-docx opens a file, `check_package` reads its ZIP directory: too many parts, more unpacked
content than `Limits.unpacked_bytes`, or a part that inflates more than `Limits.ratio` times (a zip bomb) is refused
without inflating anything; then every part is inflated with a byte cap at the size the directory declares,
so a directory that lies about a part's size is caught before a parser sees the part.
"""
from __future__ import annotations

import re
import struct
import zipfile
import zlib
from pathlib import Path

from rag.corpus.ingest.limits import MAX_ENTRIES, RATIO_MIN, Limits, out_of_memory, size, too_large
from rag.corpus.ingest.repair import fix_glyphs
from rag.corpus.ingest.types import Extracted, IngestError

_HEADING = re.compile(r"^(?:heading|标题)\s*(\d)$", re.I)
_TITLE = {"title", "标题"}


def _level(paragraph) -> int | None:
    """Heading level from the style name, else from an explicit outline level; None for body text."""
    style = getattr(paragraph.style, "name", "") or ""
    m = _HEADING.match(style.strip())
    if m:
        return max(1, int(m.group(1)))
    ppr = paragraph._p.pPr
    lvl = getattr(ppr, "outlineLvl", None) if ppr is not None else None
    if lvl is not None and lvl.val is not None and int(lvl.val) < 9:
        return int(lvl.val) + 1
    return None


_CHUNK = 1 << 20          # compressed bytes read at a time when a part is inflated to check its size
_OUT = 4 << 20            # the most one inflate step may produce (a bomb's 1 MB can make 1 GB)
_DAMAGED_ZIP = ("Word 文件已损坏（ZIP 结构错误），请用 Word 打开后另存为新的 .docx 再添加",
                "the Word file is damaged (broken ZIP structure): open it in Word and save a new .docx")


def check_package(path: Path, name: str, limits: Limits, *, inflate: bool = True) -> None:
    """Refuse a Word file whose ZIP directory promises too much (parts, total size, one part's ratio); with
    `inflate`, also inflate every part with a byte cap at its declared size, so a lying directory is caught."""
    try:
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
            if len(infos) > MAX_ENTRIES:
                raise IngestError(name, "too_large", f"Word 文件包含的部件过多（{len(infos)} 个，上限为 {MAX_ENTRIES} 个），"
                                  "请用 Word 打开后另存为新的 .docx 再添加",
                                  f"the Word file has {len(infos)} parts (the limit is {MAX_ENTRIES}): open it in Word "
                                  "and save a new .docx")
            total = sum(i.file_size for i in infos)
            if total > limits.unpacked_bytes:
                raise too_large(name, f"Word 文件解压后的内容（{size(total)}）", f"the Word file's unpacked content "
                                f"({size(total)})", limits.unpacked_bytes)
            for i in infos:
                ratio = i.file_size / max(1, i.compress_size)
                if i.file_size >= RATIO_MIN and ratio > limits.ratio:
                    raise IngestError(name, "bomb", f"Word 文件中的 {i.filename} 压缩比异常（解压后 {size(i.file_size)}，"
                                      f"是压缩后的 {ratio:.0f} 倍，上限为 {limits.ratio:g} 倍），可能是恶意构造的压缩包；"
                                      "请用 Word 打开后另存为新的 .docx 再添加",
                                      f"{i.filename} in the Word file inflates {ratio:.0f}x to {size(i.file_size)} (the "
                                      f"limit is {limits.ratio:g}x), a likely zip bomb: open it in Word and save a new .docx")
            if inflate:
                with open(path, "rb") as raw:
                    for i in infos:
                        if _inflated_size(z, raw, i) != i.file_size:
                            raise IngestError(name, "size_mismatch", f"Word 文件已损坏：其中 {i.filename} 的实际大小与 ZIP "
                                              f"目录记录的 {size(i.file_size)} 不符，请用 Word 打开后另存为新的 .docx 再添加",
                                              f"the Word file is damaged: {i.filename} is not the {size(i.file_size)} its "
                                              "ZIP directory says; open it in Word and save a new .docx")
    except IngestError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, zlib.error, struct.error, OSError,
            ValueError, EOFError, RuntimeError):  # RuntimeError: an encrypted part
        raise IngestError(name, "damaged", *_DAMAGED_ZIP) from None


def _inflated_size(z: zipfile.ZipFile, raw, info: zipfile.ZipInfo) -> int:
    """The bytes a part really inflates to, counted up to one past its declared size (never further)."""
    cap = info.file_size
    if info.compress_type != zipfile.ZIP_DEFLATED:
        # stored (or another method): zipfile itself stops at the declared size and checks the CRC
        n = 0
        with z.open(info) as f:
            while chunk := f.read(_CHUNK):
                n += len(chunk)
        return n
    raw.seek(info.header_offset)
    head = raw.read(30)
    if len(head) < 30 or head[:4] != b"PK\x03\x04":
        raise zipfile.BadZipFile(f"no local header for {info.filename}")
    name_len, extra_len = struct.unpack("<HH", head[26:30])
    raw.seek(info.header_offset + 30 + name_len + extra_len)
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    left, out, buf = info.compress_size, 0, b""
    while not inflater.eof and out <= cap:
        if not buf:
            buf = raw.read(min(_CHUNK, left)) if left > 0 else b""
            left -= len(buf)
            if not buf:
                break  # the compressed data ended before the stream did: damaged
        out += len(inflater.decompress(buf, min(_OUT, cap + 1 - out)))
        buf = inflater.unconsumed_tail
    if not inflater.eof and out <= cap:
        raise zipfile.BadZipFile(f"{info.filename} is truncated")
    return out


def extract_docx(path: Path, name: str, sha256: str, limits: Limits | None = None) -> Extracted:
    import docx  # python-docx loads only when a Word file is read or written
    from docx.table import Table  # python-docx loads only when a Word file is read or written

    limits = limits or Limits()
    check_package(path, name, limits)
    try:
        document = docx.Document(str(path))
        blocks = list(document.iter_inner_content())
        prop_title = (document.core_properties.title or "").strip()
    except MemoryError:
        raise out_of_memory(name, limits) from None
    except Exception as exc:  # python-docx raises many kinds (zip, XML, missing parts): all mean "cannot read"
        if "memory" in str(exc).lower():  # lxml reports an allocation that failed as a syntax error
            raise out_of_memory(name, limits) from None
        raise IngestError(name, "damaged", "Word 文件已损坏，无法读取", "the Word file is damaged and cannot be read") from None
    lines: list[str] = []
    headings: dict[int, int] = {}
    title = ""

    def add(text: str) -> int:
        if lines:
            lines.append("")
        lines.append(text)
        return len(lines)

    for block in blocks:
        if isinstance(block, Table):
            for row in block.rows:
                cells: list[str] = []
                for cell in row.cells:
                    t = re.sub(r"\s+", " ", fix_glyphs(cell.text)).strip()
                    if t and (not cells or cells[-1] != t):  # a merged cell repeats in every row/column it spans
                        cells.append(t)
                if cells:  # a Markdown table row: the corpus parser never joins it to the next line
                    add("| " + " | ".join(cells) + " |")
            continue
        text = fix_glyphs(block.text).replace("\n", " ").strip()
        if not text:
            continue
        style = (getattr(block.style, "name", "") or "").strip().lower()
        if style in _TITLE and not title:
            title = text
            add(text)
            continue
        line = add(text)
        level = _level(block)
        if level:
            headings[line] = level
    if not any(s.strip() for s in lines):
        raise IngestError(name, "empty", "Word 文件中没有文字", "the Word file contains no text")
    return Extracted(name=name, kind="docx", lines=lines, pages=[None] * len(lines), sha256=sha256,
                     title=title or prop_title, headings=headings, meta={"n_pages": None})
