"""Corpus: parse the pilots' work-plan file(s) into `Pilot`s with a section tree and line-exact paragraphs.

Shape of a *pilots* file (see data/README.md): front matter with a Markdown-table TOC, then one block per
pilot opening with a heading such as `北京市房山区国家新型城镇化综合试点 工作方案要点`; inside a pilot an
intro, then `一、` (level 1) → `（一）` (level 2) → `1.` / `1．` / `- 1.` / `一是` (level 3) sections.

Decisions (documented here because downstream code relies on them):

* **Line numbers** are 1-based and count `\\n`-separated lines exactly as `sed -n Np` does; every
  `Paragraph` keeps the lines it came from, so a citation always points at the original file.
* **Display text is never edited.** Paragraph text is the stripped original line. PDF scars are repaired
  only structurally: a line that does not end a sentence (no 。！？；：” … at its end), is not a pure heading,
  and is followed — across blank line(s) — by a line that is not a heading, is a sentence broken by a page
  break; the two lines become ONE paragraph, joined *without* a newline so a phrase spanning the break
  (`新型农` + `村社区`) reads continuously. Stray spaces (`10 万`) stay in the display text; every
  comparison uses `rag.text.norm`.
* **Numbered items** (`1.`, `一是`) are always text (a bare one is a sentence broken by a page break).
  A title taken from a line of text (inline heading, numbered item) is its first sentence, cut at the first
  ，when longer than 40 characters; a pure heading line keeps its full title.
* **Inline headings** such as `（一）加强组织领导。成立以区长…` give the section title `（一）加强组织领导`
  (text up to the first 。！？；：) and the full original line is kept as the section's paragraph, so
  quotes match the file. A heading line without such punctuation is a pure heading (title only).
* **Levels** of pilots: derived from the place name's suffix — 高新区, 新区, 自治州/州, 旗, 镇, 乡, 县, 区,
  市; twin places `津市市—澧县` get the concatenation of their parts' levels (`市县`).
* **Any file type** the ingestion reads (`rag.ingest`: .pdf, .docx, .txt, .md, checked by content) is
  loaded as the lines of its extracted text; for a text file these are its own lines, for a PDF the
  repaired paragraphs with the page of every line (`Corpus.page(source, line)`), for Word the paragraphs
  with heading-style hints. `Pilot.source` stays the file's path (its name is the citation's `doc`).
* **Other documents** (no pilot heading) are not rejected: they become `Pilot`-like documents with
  `level="文档"` and their own heading tree (`rag.plain`: one per file, or one per top-level `#` heading of
  a Markdown file), and a note is added to `Corpus.warnings` saying how each was read.
* **Duplicate pilot names** across files are all kept (each chunk id includes its source and lines, so
  they stay distinct) and a warning is added; `Corpus.pilot(name)` returns the first one loaded.
* The TOC of each pilots file is parsed and compared with the pilots found in it (a mismatch is a warning);
  `Corpus.toc` is the TOC of the first pilots file.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

from rag.files import sha256_file
from rag.text import norm

__all__ = [
    "Paragraph", "Section", "Pilot", "SourceFile", "Corpus", "CorpusError",
    "load_corpus", "load_indexed", "expand_paths", "is_document_name", "paragraph_line_spans", "parse_pilot_name",
]


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
            ex = _extract(Path(source))
            self._lines[source], self._pages[source] = ex.lines, ex.pages
        return self._lines[source]

    def page(self, source: str, line: int) -> int | None:
        """1-based PDF page of a line of a source file; None for other types (or a line out of range)."""
        if source not in self._pages:
            self.lines(source)
        pages = self._pages[source]
        return pages[line - 1] if 1 <= line <= len(pages) else None


# --------------------------------------------------------------------------------------------- patterns

_PILOT_HEADING = re.compile(r"^\s*(\S.*?)\s*国家新型城镇化\s*综合试点\s*工作方案要点\s*$")
_PROVINCE = re.compile(
    r"^(北京市|天津市|上海市|重庆市|内蒙古自治区|广西壮族自治区|西藏自治区|宁夏回族自治区|新疆维吾尔自治区"
    r"|香港特别行政区|澳门特别行政区|[^\s省市区]{2,4}?省)"
)
_TOC_ROW = re.compile(r"^\s*\|\s*(.+?)\s*试点工作方案要点[\s.．。…·]*\|\s*\d+\s*\|\s*$")
_CN = "一二三四五六七八九十"
_L1 = re.compile(rf"^[{_CN}]+、")
_L2 = re.compile(rf"^[（(]\s*[{_CN}]+\s*[）)]")
_L3 = re.compile(rf"^(?:[-*]\s*)?\d{{1,2}}\s*[.．、](?!\d)|^[{_CN}]+是")
_MD = re.compile(r"^(#{1,6})\s+(\S.*?)\s*#*\s*$")
# a line ending with one of these ends a sentence (or a clause that is a paragraph of its own)
_FINAL = set("。！？；：!?;:”’」』）)…")
_TITLE_END = re.compile(r"[。！？；：!?;:]")
_SENT_PUNCT = re.compile(r"[。！？；!?;]")

_LEVEL_SUFFIXES = (("高新区", "高新区"), ("新区", "新区"), ("自治州", "州"), ("州", "州"), ("旗", "旗"),
                   ("镇", "镇"), ("乡", "乡"), ("自治县", "县"), ("县", "县"), ("区", "区"), ("市", "市"))


def _suffix_level(place: str) -> str:
    bare = re.sub(r"[（(][^）)]*[）)]", "", place).strip()
    for suf, lvl in _LEVEL_SUFFIXES:
        if bare.endswith(suf):
            return lvl
    return "其他"


def parse_pilot_name(name: str) -> tuple[str, str, str]:
    """`北京市房山区` → (`北京市`, `房山区`, `区`); `湖南省津市市—澧县` → (`湖南省`, `津市市—澧县`, `市县`)."""
    m = _PROVINCE.match(name)
    province = m.group(1) if m else ""
    place = name[len(province):] if province and len(name) > len(province) else name
    parts = [p for p in re.split(r"[—–]", place) if p]
    levels: list[str] = []
    for p in parts or [place]:
        lv = _suffix_level(p)
        if lv not in levels:
            levels.append(lv)
    return province, place, "".join(levels)


def _short_item_title(title: str, limit: int = 40) -> str:
    """A numbered item is often one long sentence; its title is cut at the first ，when over `limit`."""
    if len(title) <= limit:
        return title
    k = re.search(r"[，,]", title)
    return title[: k.start()] if k and k.start() >= 4 else title


def _heading_level(line: str, markdown: bool = False, md_top: int = 1) -> int:
    """0 if not a section heading, else 1/2/3 (Markdown: depth below the document level)."""
    s = line.strip()
    if not s:
        return 0
    if markdown:
        m = _MD.match(s)
        if m:
            return max(1, len(m.group(1)) - md_top)
    if _L1.match(s):
        return 1
    if _L2.match(s):
        return 2
    if _L3.match(s):
        return 3
    return 0


def _title_of(line: str) -> tuple[str, bool]:
    """(title, inline): title up to the first sentence punctuation; inline if the line carries text."""
    s = line.strip()
    m = _MD.match(s)
    if m:
        return m.group(2), False
    s2 = re.sub(r"^[-*]\s+", "", s)
    t = _TITLE_END.search(s2)
    if not t:
        return s2, False
    return s2[: t.start()].rstrip(), True


def _starts_block(line: str, markdown: bool = False) -> bool:
    """A line that can never be the tail of a sentence broken by a page break."""
    s = line.strip()
    return (bool(_heading_level(s, markdown)) or bool(_PILOT_HEADING.match(s)) or s.startswith(("——", "|", "#"))
            or bool(_MD.match(s)))


# --------------------------------------------------------------------------------------------- io


def _extract(p: Path, sha256: str | None = None):
    """The file's extracted text (`rag.ingest.load`, cached by content); refusals become CorpusError."""
    from rag.corpus.ingest import IngestError, load

    try:
        return load(p, sha256=sha256)
    except IngestError as exc:
        if exc.code == "empty":
            raise CorpusError(f"corpus file is empty: {p} (remove it from the corpus list or add text)") from None
        raise CorpusError(f"{p}: {exc.en} / {exc.zh}") from None


def expand_paths(paths: Sequence[str | Path] | str | Path) -> list[Path]:
    """Files as given, directories expanded to the documents inside (sorted). Missing → CorpusError.

    A directory's documents are its .pdf, .docx, .txt and .md files, except hidden files and `README*`
    (a documents folder's own notes, like data/README.md).
    """
    from rag.corpus.ingest import TYPES

    if isinstance(paths, (str, Path)):
        paths = [paths]
    if not paths:
        raise CorpusError("no corpus path given: pass at least one document or a directory")
    out: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if not p.exists():
            raise CorpusError(f"corpus path not found: {p} (check the path, or set PILOTQA_DOCS_DIR / --corpus)")
        if p.is_dir():
            found = sorted(q for q in p.iterdir() if q.is_file() and is_document_name(q.name, TYPES))
            if not found:
                raise CorpusError(f"corpus directory has no .txt or .md files (nor .pdf or .docx documents): {p}")
            out.extend(found)
        else:
            out.append(p)
    seen: set = set()
    uniq = []
    for p in out:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            uniq.append(p)
    return uniq


def is_document_name(name: str, types=None) -> bool:
    """Whether a file in a documents folder is a document (not hidden, not README*, a known extension)."""
    from rag.corpus.ingest import TYPES

    return (not name.startswith(".") and not name.lower().startswith("readme")
            and Path(name).suffix.lower() in (types or TYPES))


# --------------------------------------------------------------------------------------------- parsing


class _Builder:
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
        return _heading_level(s, self.markdown, self.md_top)

    def _numbered(self, s: str, i: int, lvl: int) -> bool:
        if self.levels is not None:
            return i in self.items
        return lvl == 3 and not (self.markdown and _MD.match(s))

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
                title, inline = _title_of(s)
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
                stack[-1].title = _title_of(para.text)[0]
            if lvl:  # a title taken from a line of text (inline heading or numbered item)
                stack[-1].title = _short_item_title(stack[-1].title)
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
            while j <= end and L[j - 1].strip() and not _starts_block(L[j - 1], self.markdown):
                pieces.append(L[j - 1].strip())
                last = j
                j += 1
            return Paragraph("\n".join(pieces), first, last), j
        while True:
            cur = L[last - 1].strip()
            if cur[-1] in _FINAL or (last == first and _heading_level(cur, self.markdown) in (1, 2)
                                     and not _title_of(cur)[1]):
                break
            k = last + 1
            while k <= end and not L[k - 1].strip():
                k += 1
            if k > end or k - last - 1 > 3 or _starts_block(L[k - 1], self.markdown) \
                    or (self.levels is not None and k in self.levels):
                break
            self.joins.append((last, k))
            pieces.append(L[k - 1].strip())
            last = k
        return Paragraph("".join(pieces), first, last), last + 1


def _parse_toc(lines: list[str], upto: int) -> list[str]:
    out = []
    for ln in lines[:upto]:
        m = _TOC_ROW.match(ln)
        if m:
            out.append(m.group(1).strip())
    return out


def _parse_pilots_file(path: str, lines: list[str], heads: list[int], warnings: list[str]):
    toc = _parse_toc(lines, heads[0] - 1)
    b = _Builder(lines, markdown=False)
    pilots = []
    for n, h in enumerate(heads):
        stop = heads[n + 1] - 1 if n + 1 < len(heads) else len(lines)
        heading = lines[h - 1]
        name = _PILOT_HEADING.match(heading).group(1).replace(" ", "")
        province, place, level = parse_pilot_name(name)
        intro, sections, last = b.build(h + 1, stop)
        if not intro and not sections:
            warnings.append(f"{path}:{h}: pilot {name} has no text")
        pilots.append(Pilot(name=name, province=province, place=place, level=level, heading=heading,
                            source=path, start_line=h, end_line=max(last, h), intro=intro, sections=sections))
    names = [p.name for p in pilots]
    if toc and toc != names:
        missing = [t for t in toc if t not in names]
        extra = [t for t in names if t not in toc]
        warnings.append(f"{path}: table of contents ({len(toc)}) and pilot headings ({len(names)}) disagree"
                        f"; in TOC only: {missing}; in headings only: {extra}")
    return pilots, toc, b.joins


def load_corpus(paths: Sequence[str | Path] | str | Path) -> Corpus:
    """Load one or more documents / directories of documents (sorted) into a `Corpus`."""
    corpus = Corpus(pilots=[], sources=[], warnings=[], toc=[])
    for p in expand_paths(paths):
        try:
            sha = sha256_file(p)
        except OSError as exc:
            raise CorpusError(f"cannot read corpus file {p}: {exc}") from exc
        _add_file(corpus, str(p), sha, _extract(p, sha))
    return corpus


def load_indexed(records: Sequence[dict]) -> Corpus:
    """The corpus an index was built from (its manifest's `{path, sha256}` records), each document read by
    its recorded hash from the extraction cache: exactly the indexed text, even after the file changed or
    was removed (while a rebuild runs, the previous index keeps being served with its own text)."""
    from rag.corpus.ingest.cache import ExtractCache

    corpus = Corpus(pilots=[], sources=[], warnings=[], toc=[])
    for rec in records:
        p, sha = Path(rec["path"]), rec.get("sha256") or ""
        ex = ExtractCache.beside(p).get(sha) if sha else None
        if ex is None:
            ex = _extract(p)  # no kept text (an older index): the file as it is now
            sha = ex.sha256
        ex.name = p.name
        _add_file(corpus, str(p), sha, ex)
    return corpus


def _add_file(corpus: Corpus, path: str, sha: str, ex) -> None:
    """Parse one document's extracted text into `corpus` (pilots file or plain document)."""
    if ex.meta.get("encoding") == "gb18030":
        corpus.warnings.append(f"{path}: not UTF-8; decoded as GB18030")
    corpus.warnings.extend(f"{path}: {w}" for w in ex.meta.get("warnings", []))
    lines = ex.lines
    corpus._lines[path], corpus._pages[path] = lines, ex.pages
    heads = [i for i, ln in enumerate(lines, 1)
             if (m := _PILOT_HEADING.match(ln)) and _PROVINCE.match(m.group(1).replace(" ", ""))]
    if heads:
        pilots, toc, joins = _parse_pilots_file(path, lines, heads, corpus.warnings)
        corpus.n_page_joins += len(joins)
        kind = "pilots"
        if not corpus.toc and toc:
            corpus.toc = toc
    else:
        from rag.corpus.plain import parse_plain_file  # plain documents build on this module's parser

        pilots = parse_plain_file(path, lines, corpus.warnings, title=ex.title, headings=ex.headings)
        kind = "plain"
    known = {q.name: q.source for q in corpus.pilots}
    for q in pilots:
        if q.name in known:
            corpus.warnings.append(f"duplicate pilot/document name {q.name!r} in {path} (also in {known[q.name]});"
                                   " both kept, lookups by name return the first")
    corpus.pilots.extend(pilots)
    corpus.sources.append(SourceFile(path=path, sha256=sha, n_lines=len(lines), kind=kind, doc_type=ex.kind,
                                     n_pages=ex.n_pages))


def paragraph_line_spans(par: Paragraph, lines: list[str]) -> list[tuple[int, int, int]]:
    """[(line_no, start, end)]: which character range of `par.text` comes from which file line."""
    if par.start_line == par.end_line:
        return [(par.start_line, 0, len(par.text))]
    out = []
    pos = 0
    for ln in range(par.start_line, par.end_line + 1):
        s = lines[ln - 1].strip()
        if not s:
            continue
        k = par.text.find(s, pos)
        if k < 0:  # should not happen; fall back to the whole paragraph on every line
            return [(x, 0, len(par.text)) for x in range(par.start_line, par.end_line + 1) if lines[x - 1].strip()]
        out.append((ln, k, k + len(s)))
        pos = k + len(s)
    return out
