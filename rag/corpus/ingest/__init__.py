"""Ingestion: turn a policy file (.pdf, .docx, .txt, .md) into the text lines the corpus parser reads.

`extract(path, name)` checks the file by its content (never trusting the extension), extracts its text and
returns one `Extracted`: the text line by line, the 1-based PDF page of every line (None for other types),
heading hints from Word styles, and the sha256 of the file's bytes. Every refusal is an `IngestError` whose
message names the file and the fix, in Chinese and English, on one line.

`load(path)` is what the corpus loader calls: the same, through the content-addressed cache kept beside the
documents (`rag.ingest.cache`), so a PDF is parsed once, and the text that was indexed stays readable by its
hash after the file changes or is removed.

Text files are decoded, never repaired: their lines ARE the corpus lines citations point at. PDFs are
repaired (`rag.ingest.repair`): page headers, footers and numbers dropped, wrapped lines re-joined into
paragraphs, font artefacts (Kangxi radicals, two-em dashes, ligatures) mapped back to ordinary characters.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Extracted", "IngestError", "extract", "load", "EXTRACTOR_VERSION", "TYPES", "type_label"]

# Part of every cache key: bump it when the extracted text of a file would change.
EXTRACTOR_VERSION = 1
# extension → kind; the content decides the kind, the extension must agree with it
TYPES = {".pdf": "pdf", ".docx": "docx", ".txt": "txt", ".md": "md"}
_LABELS = {"pdf": "PDF", "docx": "Word", "txt": "文本", "md": "Markdown"}


def type_label(kind: str) -> str:
    return _LABELS.get(kind, kind)


class IngestError(ValueError):
    """A file we refuse, with a message for people: `无法添加 NAME：中文原因 / NAME: English reason`."""

    def __init__(self, name: str, code: str, zh: str, en: str):
        self.name, self.code, self.zh, self.en = name, code, zh, en
        super().__init__(f"无法添加 {name}：{zh} / {name}: {en}")


@dataclass
class Extracted:
    name: str                         # the document's file name, e.g. "实施方案.pdf"
    kind: str                         # "pdf" | "docx" | "txt" | "md"
    lines: list[str]                  # the extracted text, line by line (line 1 = lines[0])
    pages: list[int | None]           # 1-based PDF page of every line; None for other types
    sha256: str                       # of the file's bytes
    title: str = ""                   # Title style / document property (Word); "" when unknown
    headings: dict[int, int] = field(default_factory=dict)   # line → level, from Word heading styles
    meta: dict = field(default_factory=dict)   # n_pages, encoding, repairs made, …

    @property
    def text(self) -> str:
        return "\n".join(self.lines) + ("\n" if self.lines else "")

    @property
    def n_pages(self) -> int | None:
        return self.meta.get("n_pages")

    def page(self, line: int) -> int | None:
        return self.pages[line - 1] if 1 <= line <= len(self.pages) else None


def extract(path: str | Path, name: str | None = None, *, sha256: str | None = None) -> Extracted:
    """Extract one file (no cache). `name` is the file name to check and report (default: the path's)."""
    from rag.files import sha256_file
    from rag.corpus.ingest.sniff import sniff

    path = Path(path)
    name = name or path.name
    kind = sniff(path, name)
    digest = sha256 or sha256_file(path)
    if kind == "pdf":
        from rag.corpus.ingest.pdf import extract_pdf

        return extract_pdf(path, name, digest)
    if kind == "docx":
        from rag.corpus.ingest.docx import extract_docx

        return extract_docx(path, name, digest)
    from rag.corpus.ingest.text import extract_text

    return extract_text(path, name, digest, kind)


def load(path: str | Path, *, sha256: str | None = None) -> Extracted:
    """`extract` through the cache beside the file (`<folder>/.extracted/`); parsed once per content."""
    from rag.corpus.ingest.cache import ExtractCache

    return ExtractCache.beside(Path(path)).load(Path(path), sha256=sha256)
