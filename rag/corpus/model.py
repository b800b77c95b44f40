"""The corpus as data: `Pilot`s with a section tree and line-exact `Paragraph`s, the `SourceFile`s they came
from, and the `Corpus` that holds them (how files are parsed into these: `rag.corpus.load`)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from rag.text import norm

class CorpusError(Exception):
    """The corpus cannot be read: missing path, empty file, unreadable encoding, nothing to index."""


@dataclass(frozen=True)
class Paragraph:
    text: str
    start_line: int
    end_line: int


@dataclass
class Section:
    title: str
    level: int
    start_line: int
    end_line: int
    paragraphs: list[Paragraph] = field(default_factory=list)
    children: list["Section"] = field(default_factory=list)


@dataclass
class Pilot:
    name: str
    province: str
    place: str
    level: str
    heading: str
    source: str
    start_line: int
    end_line: int
    intro: list[Paragraph] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)

    def iter_sections(self) -> Iterator[tuple[list[str], Section]]:
        """Depth-first (path of titles from the top-level section, section)."""

        def walk(secs: list[Section], prefix: list[str]):
            for s in secs:
                path = prefix + [s.title]
                yield path, s
                yield from walk(s.children, path)

        yield from walk(self.sections, [])

    def paragraphs(self) -> Iterator[Paragraph]:
        """Every paragraph of the pilot in file order (intro first)."""
        yield from self.intro
        for _, s in self.iter_sections():
            yield from s.paragraphs


@dataclass
class SourceFile:
    path: str
    sha256: str
    n_lines: int
    kind: str  # "pilots" or "plain"
    doc_type: str = ""            # what the file is: "pdf", "docx", "txt", "md"
    n_pages: int | None = None    # PDF pages


@dataclass
class Corpus:
    pilots: list[Pilot]
    sources: list[SourceFile]
    warnings: list[str]
    toc: list[str]
    _lines: dict = field(default_factory=dict, repr=False, compare=False)
    n_page_joins: int = 0  # paragraphs repaired across a PDF page break (for the build report)
    _pages: dict = field(default_factory=dict, repr=False, compare=False)  # source -> page of every line

    def keep_text(self, source: str, lines: list[str], pages) -> None:
        """Remember a source file's extracted lines (and PDF pages) as they were indexed."""
        self._lines[source], self._pages[source] = lines, pages

    def pilot(self, name: str) -> Pilot | None:
        for p in self.pilots:
            if p.name == name:
                return p
        key = norm(name)
        for p in self.pilots:
            if norm(p.name) == key:
                return p
        return None

    def lines(self, source: str) -> list[str]:
        """Lines of a source file as indexed (its extracted text; index 0 = line 1)."""
        if source not in self._lines:
            ex = read_document(Path(source))
            self._lines[source], self._pages[source] = ex.lines, ex.pages
        return self._lines[source]

    def page(self, source: str, line: int) -> int | None:
        """1-based PDF page of a line of a source file; None for other types (or a line out of range)."""
        if source not in self._pages:
            self.lines(source)
        pages = self._pages[source]
        return pages[line - 1] if 1 <= line <= len(pages) else None



def read_document(p: Path, sha256: str | None = None):
    """A file's extracted text (`rag.corpus.ingest.load`, cached by content); refusals become CorpusError."""
    from rag.corpus.ingest import IngestError, load  # pdfminer and python-docx load only when a file needs them

    try:
        return load(p, sha256=sha256)
    except IngestError as exc:
        if exc.code == "empty":
            raise CorpusError(f"corpus file is empty: {p} (remove it from the corpus list or add text)") from None
        raise CorpusError(f"{p}: {exc.en} / {exc.zh}") from None
