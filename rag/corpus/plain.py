"""Plain documents: any document that is not in the pilots format becomes `Pilot`-like documents.

* A Markdown file (`#` headings) is split into one document per top-level heading (the text before the
  first one is named after the file); deeper `#` headings and numbered headings nest inside.
* Any other document (a PDF, a Word file, a text file) is ONE document with `level="文档"`, named by its
  title (Word's Title style or document property, else a first line that reads as a title — short, not
  numbered, not ending a sentence; `附件1` and document numbers above it are passed over — else the file
  name), with its own heading tree. Word heading styles give levels 1..M; the numbering kinds present in
  the rest of the text follow, outermost first: `第X章/编/篇/部分` > `第X节` > `第X条` > `一、` > `（一）` >
  `1.`/`一是`, so a regulation's 第X章 > 第X条 and a plan's 一、 > （一） > 1. both nest as they read.
  Numbered items (`1.`, `第X条`) are text with a title, never bare titles; a sentence broken across lines or
  pages is joined as in pilots files.

Each file adds a note (`PLAIN_NOTE`) to the corpus warnings saying how it was read.
"""
from __future__ import annotations

import re
from pathlib import Path

from rag.corpus.model import Pilot
from rag.corpus.structure import FINAL, L1, L2, L3, MD, SectionBuilder, title_of
from rag.text import norm

_NUM = "一二三四五六七八九十百千零〇\\d"
_CHAPTER = re.compile(rf"^第[{_NUM}]+[章篇编]|^第[{_NUM}]+部分")
_SUBCHAPTER = re.compile(rf"^第[{_NUM}]+节")
_ARTICLE = re.compile(rf"^第[{_NUM}]+条")
# heading kinds of a plain document, outermost first; those present become levels 1, 2, …
_DOC_KINDS = (("chapter", _CHAPTER), ("subchapter", _SUBCHAPTER), ("article", _ARTICLE), ("l1", L1), ("l2", L2),
              ("l3", L3))
_ITEM_KINDS = {"article", "l3"}  # numbered items: always text, never a bare title (see `SectionBuilder.build`)
PLAIN_NOTE = "no pilot headings"  # opens the note added for every non-pilots document
_DOC_NUMBER = re.compile(r"〔\s*\d{4}\s*〕|\[\s*\d{4}\s*\]\s*\d+\s*号$|^附件\s*\d*\s*[:：]?$")


def parse_plain_file(path: str, lines: list[str], warnings: list[str], *, title: str = "",
                      headings: dict[int, int] | None = None) -> list[Pilot]:
    md = [(i, len(m.group(1))) for i, ln in enumerate(lines, 1) if (m := MD.match(ln.strip()))]
    if md and not headings:
        docs, how = _parse_markdown(path, lines, md)
    else:
        docs, how = _parse_document(path, lines, title, headings or {})
    warnings.append(f"{path}: {PLAIN_NOTE} (…国家新型城镇化综合试点 工作方案要点) found; "
                    f"indexed as {len(docs)} plain document(s) ({how})")
    return docs


def _parse_markdown(path: str, lines: list[str], md: list[tuple[int, int]]) -> tuple[list[Pilot], str]:
    """A Markdown file: one document per top-level `#` heading (text before the first one: named by the file)."""
    top = min(d for _, d in md)
    splits = [i for i, d in md if d == top]
    stem = Path(path).stem
    b = SectionBuilder(lines, markdown=True, md_top=top, page_joins=False)
    docs: list[Pilot] = []
    bounds = []
    first = splits[0]
    if any(ln.strip() for ln in lines[: first - 1]):
        bounds.append((None, 1, first - 1))
    for n, h in enumerate(splits):
        bounds.append((h, h + 1, splits[n + 1] - 1 if n + 1 < len(splits) else len(lines)))
    for h, a, z in bounds:
        if h is None:
            name, heading, start = stem, "", next(i for i in range(a, z + 1) if lines[i - 1].strip())
        else:
            name, heading, start = title_of(lines[h - 1])[0], lines[h - 1], h
        intro, sections, last = b.build(a, z)
        if not intro and not sections:
            continue
        docs.append(Pilot(name=name, province="", place=name, level="文档", heading=heading, source=path,
                          start_line=start, end_line=max(last, start), intro=intro, sections=sections))
    return docs, "Markdown headings"


def _doc_kind(s: str) -> str | None:
    for kind, rx in _DOC_KINDS:
        if rx.match(s):
            return kind
    return None


def _doc_levels(lines: list[str], headings: dict[int, int], skip: int) -> tuple[dict[int, int], set[int]]:
    """Heading level of every heading line of a plain document, and the lines that are numbered items.

    Word heading styles give levels 1..M; the numbering kinds present in the rest of the text
    (`_DOC_KINDS`, outermost first) follow as M+1, M+2, … — so a regulation's 第X章 > 第X条 and a plan's
    一、 > （一） > 1. both nest as they read.
    """
    found: dict[int, str] = {}
    for i, ln in enumerate(lines, 1):
        if i > skip and i not in headings and ln.strip() and (kind := _doc_kind(ln.strip())):
            found[i] = kind
    present = [k for k, _ in _DOC_KINDS if k in found.values()]
    base = max(headings.values(), default=0)
    levels = {i: min(6, lvl) for i, lvl in headings.items() if i > skip}
    levels.update({i: base + present.index(kind) + 1 for i, kind in found.items()})
    return levels, {i for i, kind in found.items() if kind in _ITEM_KINDS}


def _find_title(lines: list[str], title: str) -> tuple[str, int]:
    """(title, its line): the given title's line, else the first line that reads as a title; ("", 0) if none.

    A title is short, is not a numbered heading and does not end a sentence; `附件1` and document numbers
    (`X政发〔2016〕12号`) above it are passed over.
    """
    first = [(i, ln.strip()) for i, ln in enumerate(lines, 1) if ln.strip()][:4]
    if title:
        return title, next((i for i, s in first if norm(s) == norm(title)), 0)
    for i, s in first:
        if _DOC_NUMBER.search(s):
            continue
        if len(s) <= 60 and s[-1] not in FINAL and not _doc_kind(s) and not MD.match(s) and not s.startswith("|"):
            return s, i
        break
    return "", 0


def _parse_document(path: str, lines: list[str], title: str, headings: dict[int, int]) -> tuple[list[Pilot], str]:
    """Any other document: one `Pilot`-like document with its own heading tree (see the module notes)."""
    name, t = _find_title(lines, title)
    nonblank = [i for i, ln in enumerate(lines, 1) if ln.strip()]
    if not nonblank:
        return [], "empty"
    start = t or nonblank[0]
    levels, items = _doc_levels(lines, headings, t)
    b = SectionBuilder(lines, markdown=False, page_joins=True, levels=levels, items=items)
    intro, sections, last = b.build(t + 1 if t else 1, len(lines))
    name = name or Path(path).stem
    doc = Pilot(name=name, province="", place=name, level="文档", heading=lines[t - 1].strip() if t else "",
                source=path, start_line=start, end_line=max(last, start), intro=intro, sections=sections)
    kinds = sorted(set(levels.values()))
    how = f"one document, {len(list(doc.iter_sections()))} sections in {len(kinds)} level(s)" if levels \
        else "one document, no headings"
    return ([doc] if intro or sections else []), how
