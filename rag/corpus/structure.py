"""The heading structure of a document's lines, shared by the pilots file and plain documents: heading levels
(`一、` → `（一）` → `1.`/`一是`, Markdown `#`), titles, and `SectionBuilder`, which turns body lines into intro
paragraphs and a section tree (see `rag.corpus` for the parsing decisions)."""
from __future__ import annotations

import re

from rag.corpus.model import Paragraph, Section

PILOT_HEADING = re.compile(r"^\s*(\S.*?)\s*国家新型城镇化\s*综合试点\s*工作方案要点\s*$")
CN = "一二三四五六七八九十"
L1 = re.compile(rf"^[{CN}]+、")
L2 = re.compile(rf"^[（(]\s*[{CN}]+\s*[）)]")
L3 = re.compile(rf"^(?:[-*]\s*)?\d{{1,2}}\s*[.．、](?!\d)|^[{CN}]+是")
MD = re.compile(r"^(#{1,6})\s+(\S.*?)\s*#*\s*$")
# a line ending with one of these ends a sentence (or a clause that is a paragraph of its own)
FINAL = set("。！？；：!?;:”’」』）)…")
TITLE_END = re.compile(r"[。！？；：!?;:]")


def short_item_title(title: str, limit: int = 40) -> str:
    """A numbered item is often one long sentence; its title is cut at the first ，when over `limit`."""
    if len(title) <= limit:
        return title
    k = re.search(r"[，,]", title)
    return title[: k.start()] if k and k.start() >= 4 else title


def heading_level(line: str, markdown: bool = False, md_top: int = 1) -> int:
    """0 if not a section heading, else 1/2/3 (Markdown: depth below the document level)."""
    s = line.strip()
    if not s:
        return 0
    if markdown:
        m = MD.match(s)
        if m:
            return max(1, len(m.group(1)) - md_top)
    if L1.match(s):
        return 1
    if L2.match(s):
        return 2
    if L3.match(s):
        return 3
    return 0


def title_of(line: str) -> tuple[str, bool]:
    """(title, inline): title up to the first sentence punctuation; inline if the line carries text."""
    s = line.strip()
    m = MD.match(s)
    if m:
        return m.group(2), False
    s2 = re.sub(r"^[-*]\s+", "", s)
    t = TITLE_END.search(s2)
    if not t:
        return s2, False
    return s2[: t.start()].rstrip(), True


def starts_block(line: str, markdown: bool = False) -> bool:
    """A line that can never be the tail of a sentence broken by a page break."""
    s = line.strip()
    return (bool(heading_level(s, markdown)) or bool(PILOT_HEADING.match(s)) or s.startswith(("——", "|", "#"))
            or bool(MD.match(s)))



class SectionBuilder:
    """Turns the body lines of one pilot/document into intro paragraphs + a section tree."""

    def __init__(self, lines: list[str], markdown: bool, md_top: int = 1, page_joins: bool = True,
                 levels: dict[int, int] | None = None, items: set[int] | None = None):
        self.lines = lines
        self.markdown = markdown
        self.md_top = md_top
        self.page_joins = page_joins
        self.joins: list[tuple[int, int]] = []
        # a plain document's own heading levels by line (see `_doc_levels`); None: levels from the line text
        self.levels = levels
        self.items = items or set()

    def _level(self, s: str, i: int) -> int:
        if self.levels is not None:
            return self.levels.get(i, 0)
        return heading_level(s, self.markdown, self.md_top)

    def _numbered(self, s: str, i: int, lvl: int) -> bool:
        if self.levels is not None:
            return i in self.items
        return lvl == 3 and not (self.markdown and MD.match(s))

    def build(self, start: int, end: int) -> tuple[list[Paragraph], list[Section], int]:
        """Parse lines start..end (1-based, inclusive). Returns (intro, sections, last non-empty line)."""
        intro: list[Paragraph] = []
        roots: list[Section] = []
        stack: list[Section] = []
        last = start - 1
        i = start
        L = self.lines
        while i <= end:
            s = L[i - 1].strip()
            if not s:
                i += 1
                continue
            lvl = self._level(s, i)
            if lvl:
                title, inline = title_of(s)
                sec = Section(title=title, level=lvl, start_line=i, end_line=i)
                while stack and stack[-1].level >= lvl:
                    stack.pop()
                (stack[-1].children if stack else roots).append(sec)
                stack.append(sec)
                # A numbered item (`1.`/`一是`) is always text: without punctuation it is a sentence broken
                # by a page break (e.g. `3. 在…加快产业结构调整 and 转型` / `升级，…`), never a bare title.
                numbered = self._numbered(s, i, lvl)
                if not inline and not numbered:
                    last = i
                    i += 1
                    continue
            para, i = self._paragraph(i, end)
            if lvl and not inline:
                stack[-1].title = title_of(para.text)[0]
            if lvl:  # a title taken from a line of text (inline heading or numbered item)
                stack[-1].title = short_item_title(stack[-1].title)
            (stack[-1].paragraphs if stack else intro).append(para)
            last = para.end_line
            for sec in stack:
                sec.end_line = max(sec.end_line, para.end_line)
        return intro, roots, last

    def _paragraph(self, i: int, end: int) -> tuple[Paragraph, int]:
        """Paragraph starting at line i; returns it and the next line to read."""
        L = self.lines
        pieces = [L[i - 1].strip()]
        first = last = i
        j = i + 1
        if not self.page_joins:  # plain text: consecutive non-blank lines form a paragraph
            while j <= end and L[j - 1].strip() and not starts_block(L[j - 1], self.markdown):
                pieces.append(L[j - 1].strip())
                last = j
                j += 1
            return Paragraph("\n".join(pieces), first, last), j
        while True:
            cur = L[last - 1].strip()
            if cur[-1] in FINAL or (last == first and heading_level(cur, self.markdown) in (1, 2)
                                     and not title_of(cur)[1]):
                break
            k = last + 1
            while k <= end and not L[k - 1].strip():
                k += 1
            if k > end or k - last - 1 > 3 or starts_block(L[k - 1], self.markdown) \
                    or (self.levels is not None and k in self.levels):
                break
            self.joins.append((last, k))
            pieces.append(L[k - 1].strip())
            last = k
        return Paragraph("".join(pieces), first, last), last + 1
