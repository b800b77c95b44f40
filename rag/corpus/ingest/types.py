"""What ingestion produces and refuses: `Extracted` (a file's text, line by line, with its PDF pages and Word
heading hints) and `IngestError`; the file types read."""
from __future__ import annotations

from dataclasses import dataclass, field

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
