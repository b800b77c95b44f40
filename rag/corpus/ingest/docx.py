"""Word (.docx) text with python-docx: paragraphs and table rows in document order, heading styles kept.

A paragraph styled `Heading N` / `标题 N` (or with an outline level) becomes a heading hint at level N
for the corpus parser, so a document whose headings carry no `一、`/`（一）` numbering still gets its
structure; the `Title` style (else the document property) names the document. Table rows become one line
each, as a Markdown table row (`| a | b |`). Paragraphs are separated by blank lines, as in the text corpus.
"""
from __future__ import annotations

import re
from pathlib import Path

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


def extract_docx(path: Path, name: str, sha256: str) -> Extracted:
    import docx  # python-docx loads only when a Word file is read or written
    from docx.table import Table  # python-docx loads only when a Word file is read or written

    try:
        document = docx.Document(str(path))
        blocks = list(document.iter_inner_content())
        prop_title = (document.core_properties.title or "").strip()
    except Exception:  # python-docx raises many kinds (zip, XML, missing parts): all mean "cannot read"
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
