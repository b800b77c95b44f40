"""Chunking: turn a `Corpus` into retrieval units that never cross a pilot and cite exact file lines.

Units, in file order, per pilot:

* the intro → section "引言" (packed like any other group);
* a level-1 section's own paragraphs (e.g. the 总体目标 text before any `（一）`, or everything if it has no
  children); each dash-led goal `——…` is a group of its own, so a goal is a chunk of its own;
* each child of a level-1 section (normally a `（一）` item) with all its descendants — one chunk when it fits
  in `max_chars`, else split. The item's own heading line and pure sub-headings inside it (title lines
  without text) are kept in the chunk text: they are corpus lines users quote and ask about.

Splitting packs sentences (`rag.text.split_sentences`: 。！？；) up to `max_chars`, preferring paragraph
ends: a chunk that is already at least half full is closed at the end of a paragraph rather than filled with
the first sentences of the next one. A break inside a paragraph repeats the last `overlap_sentences`
sentences at the start of the next chunk. A single sentence longer than `max_chars * 1.5` is hard-split on
`，`. `Chunk.text` is original corpus text: pieces of one paragraph are an exact slice of it (a paragraph
repaired across a PDF page break reads continuously, without a newline); paragraphs are joined with "\\n".
`start_line`/`end_line` are the file lines the text comes from.

Ids are `sha1(source basename | pilot | section | start | end | text | settings)[:12]`: the same corpus and
settings give the same ids; different settings give different ids.
"""
from __future__ import annotations

import hashlib
import statistics
from dataclasses import dataclass
from pathlib import Path

from rag.corpus import Corpus, Paragraph, Pilot, Section, paragraph_line_spans
from rag.text import split_sentences

__all__ = ["ChunkSettings", "Chunk", "chunk_corpus", "chunk_pilot", "chunk_stats", "DEFAULT_SETTINGS"]

INTRO = "引言"
SEP = " > "


@dataclass(frozen=True)
class ChunkSettings:
    max_chars: int = 300
    overlap_sentences: int = 1

    def __post_init__(self):
        if self.max_chars < 20:
            raise ValueError(f"max_chars must be >= 20, got {self.max_chars}")
        if self.overlap_sentences < 0:
            raise ValueError(f"overlap_sentences must be >= 0, got {self.overlap_sentences}")


DEFAULT_SETTINGS = ChunkSettings(max_chars=300, overlap_sentences=1)


@dataclass(frozen=True)
class Chunk:
    id: str
    pilot: str
    province: str
    section: str
    top_section: str
    start_line: int
    end_line: int
    text: str
    source: str

    @property
    def embed_text(self) -> str:
        """What gets embedded / BM25-indexed: pilot and section path give context the text may lack."""
        return f"{self.pilot} {self.section}：{self.text}"


@dataclass
class _Unit:
    """A piece of one paragraph: text[a:b] of paragraph number `pi`, covering file lines lo..hi."""
    pi: int
    a: int
    b: int
    lo: int
    hi: int

    @property
    def n(self) -> int:
        return self.b - self.a


@dataclass
class _Par:
    par: Paragraph
    path: list[str]
    heading: bool = False  # a title line without text: never closes a chunk on its own


def _units(pi: int, par: Paragraph, lines: list[str], hard: int, soft: int) -> list[_Unit]:
    """Sentences of a paragraph with their character offsets and file lines."""
    text = par.text
    spans = paragraph_line_spans(par, lines)
    out: list[tuple[int, int]] = []
    pos = 0
    for sent in split_sentences(text):
        k = text.find(sent, pos)
        if k < 0:
            continue
        a, b = k, k + len(sent)
        pos = b
        if b - a > hard:  # an over-long sentence: split on ， packing up to `soft`
            start = a
            cut = a
            for j in range(a, b):
                if text[j] in "，,":
                    if j + 1 - start > soft and cut > start:
                        out.append((start, cut))
                        start = cut
                    cut = j + 1
            if b - start > soft and start < cut < b:
                out.append((start, cut))
                start = cut
            out.append((start, b))
        else:
            out.append((a, b))
    if not out and text.strip():
        out = [(0, len(text))]
    units = []
    for a, b in out:
        ls = [ln for ln, x, y in spans if x < b and y > a] or [par.start_line]
        units.append(_Unit(pi, a, b, min(ls), max(ls)))
    return units


def _pack(pars: list[_Par], lines: list[str], st: ChunkSettings) -> list[list[_Unit]]:
    """Group the sentences of `pars` into chunks (lists of units)."""
    total = sum(len(p.par.text) for p in pars) + max(0, len(pars) - 1)
    all_units = [_units(i, p.par, lines, int(st.max_chars * 1.5), st.max_chars) for i, p in enumerate(pars)]
    if total <= st.max_chars:
        return [[u for us in all_units for u in us]]
    chunks: list[list[_Unit]] = []
    cur: list[_Unit] = []
    carried = 0  # how many units at the start of `cur` are overlap from the previous chunk
    size = 0

    def flush():
        nonlocal cur, size, carried
        if len(cur) > carried:
            chunks.append(cur)
        cur, size, carried = [], 0, 0

    for pi, units in enumerate(all_units):
        plen = len(pars[pi].par.text)
        if cur and size + 1 + plen > st.max_chars and size >= st.max_chars * 0.5:
            flush()  # break at the paragraph end, no overlap needed
        for u in units:
            add = u.n + (1 if cur and cur[-1].pi != u.pi else 0)
            body = any(not pars[x.pi].heading for x in cur[carried:])
            if cur and body and size + add > st.max_chars:
                prev = cur
                flush()
                if st.overlap_sentences:
                    ov = [x for x in prev[-st.overlap_sentences:] if x.pi == u.pi]
                    if ov and sum(x.n for x in ov) + u.n <= st.max_chars:
                        cur, carried, size = list(ov), len(ov), sum(x.n for x in ov)
                add = u.n
            cur.append(u)
            size += add
    flush()
    return chunks


def _render(units: list[_Unit], pars: list[_Par]) -> tuple[str, int, int, list[str]]:
    """(text, start_line, end_line, section path) of a chunk."""
    pieces: list[str] = []
    run: list[_Unit] = []
    for u in units + [None]:  # type: ignore[list-item]
        if run and (u is None or u.pi != run[-1].pi):
            t = pars[run[0].pi].par.text
            pieces.append(t[run[0].a: run[-1].b])
            run = []
        if u is not None:
            run.append(u)
    start = min(u.lo for u in units)
    end = max(u.hi for u in units)
    # the deepest section path shared by every paragraph of the chunk
    paths = [pars[i].path for i in dict.fromkeys(u.pi for u in units)]
    common = list(paths[0])
    for p in paths[1:]:
        n = 0
        while n < min(len(common), len(p)) and common[n] == p[n]:
            n += 1
        common = common[:n]
    return "\n".join(pieces), start, end, common


def _collect(sec: Section, path: list[str], out: list[_Par], include_heading: bool, lines: list[str]) -> None:
    """Paragraphs of a section and its descendants in file order (pure sub-headings included as text)."""
    if include_heading and (not sec.paragraphs or sec.paragraphs[0].start_line != sec.start_line):
        out.append(_Par(Paragraph(lines[sec.start_line - 1].strip(), sec.start_line, sec.start_line), path, True))
    for p in sec.paragraphs:
        out.append(_Par(p, path))
    for c in sec.children:
        _collect(c, path + [c.title], out, True, lines)


def _groups(pilot: Pilot, lines: list[str]) -> list[tuple[list[str], list[_Par]]]:
    groups: list[tuple[list[str], list[_Par]]] = []
    head: list[_Par] = []
    if 1 <= pilot.start_line <= len(lines) and lines[pilot.start_line - 1].strip():
        # the pilot's heading line opens its intro: it is what shows a place is a pilot (counts cite it)
        head = [_Par(Paragraph(lines[pilot.start_line - 1].strip(), pilot.start_line, pilot.start_line), [INTRO], True)]
    if pilot.intro or head:
        groups.append(([INTRO], head + [_Par(p, [INTRO]) for p in pilot.intro]))
    for top in pilot.sections:
        base = [top.title]
        own: list[_Par] = []
        for p in top.paragraphs:
            if p.text.lstrip().startswith("——"):
                if own:
                    groups.append((base, own))
                    own = []
                groups.append((base, [_Par(p, base)]))
            else:
                own.append(_Par(p, base))
        if own:
            groups.append((base, own))
        for child in top.children:
            pars: list[_Par] = []
            # the item's heading line opens its first chunk: it is corpus text users quote and ask about
            _collect(child, base + [child.title], pars, True, lines)
            if pars:
                groups.append((base + [child.title], pars))
    return groups


def _chunk_id(source: str, pilot: str, section: str, start: int, end: int, text: str, st: ChunkSettings) -> str:
    key = f"{Path(source).name}|{pilot}|{section}|{start}|{end}|{text}|{st.max_chars},{st.overlap_sentences}"
    return hashlib.sha1(key.encode("utf-8")).hexdigest()[:12]


def chunk_pilot(pilot: Pilot, lines: list[str], settings: ChunkSettings) -> list[Chunk]:
    out: list[Chunk] = []
    for _path, pars in _groups(pilot, lines):
        for units in _pack(pars, lines, settings):
            text, start, end, common = _render(units, pars)
            if not text.strip():
                continue
            section = SEP.join(common) if common else _path[0]
            top = common[0] if common else _path[0]
            out.append(Chunk(id=_chunk_id(pilot.source, pilot.name, section, start, end, text, settings),
                             pilot=pilot.name, province=pilot.province, section=section, top_section=top,
                             start_line=start, end_line=end, text=text, source=pilot.source))
    return out


def chunk_corpus(corpus: Corpus, settings: ChunkSettings = DEFAULT_SETTINGS) -> list[Chunk]:
    """All chunks of the corpus in file order; ids are unique (asserted)."""
    chunks: list[Chunk] = []
    for pilot in corpus.pilots:
        chunks.extend(chunk_pilot(pilot, corpus.lines(pilot.source), settings))
    seen: dict[str, Chunk] = {}
    for c in chunks:
        if c.id in seen:
            raise AssertionError(f"duplicate chunk id {c.id}: {c.pilot} {c.section} {c.start_line}-{c.end_line}")
        seen[c.id] = c
    return chunks


def chunk_stats(chunks: list[Chunk]) -> dict:
    """Size distribution (characters of `Chunk.text`) for the build report."""
    if not chunks:
        return {"count": 0, "min": 0, "median": 0, "mean": 0, "p90": 0, "max": 0, "pilots": 0}
    n = sorted(len(c.text) for c in chunks)
    p90 = n[min(len(n) - 1, int(round(0.9 * (len(n) - 1))))]
    return {"count": len(n), "min": n[0], "median": int(statistics.median(n)), "mean": round(sum(n) / len(n), 1),
            "p90": p90, "max": n[-1], "pilots": len({c.pilot for c in chunks}),
            "multi_line": sum(1 for c in chunks if c.end_line > c.start_line)}
