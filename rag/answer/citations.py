"""Citations: a quote, the chunk it is in, and the exact file lines (and PDF page) it comes from.

The one rule every answer obeys: a citation's quote is inside its passage (compared in `text.norm` form).
`make_citation` returns None rather than break it.
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from pathlib import Path

from rag.answer.types import Citation
from rag.config import ROOT
from rag.text import YEAR, norm, strip_quote


@lru_cache(maxsize=16)
def source_lines(source: str) -> tuple[str, ...] | None:
    """The lines of a corpus file as indexed (None when it cannot be read): an ingested PDF or Word file's
    extracted text, else the file's own lines."""
    try:
        from rag.index.documents import text_lines  # an optional dependency: its absence is handled here

        lines = text_lines(source)
        if lines is not None:
            return tuple(lines)
    except ImportError:  # ingestion not installed in this build
        pass

    for p in (Path(source), ROOT / source):
        try:
            if p.is_file():
                return tuple(p.read_text(encoding="utf-8", errors="replace").splitlines())
        except OSError:
            continue
    return None


def quote_lines(chunk, quote: str) -> tuple[int, int]:
    """File lines (inclusive) of `quote` inside `chunk`, always within [chunk.start_line, chunk.end_line].

    Exact when the chunk's source file is readable (the quote is located in the file's lines, page breaks
    and blank lines included); otherwise approximated from the quote's offset in the chunk text.
    """
    lo, hi = int(chunk.start_line), int(chunk.end_line)
    q = norm(quote)
    if not q or hi <= lo:
        return lo, max(lo, hi)
    lines = source_lines(getattr(chunk, "source", "") or "")
    if lines and hi <= len(lines):
        buf, owner = [], []
        for ln in range(lo, hi + 1):
            s = norm(lines[ln - 1])
            buf.append(s)
            owner.extend([ln] * len(s))
        hay = "".join(buf)
        k = hay.find(q)
        if k >= 0:
            return owner[k], owner[k + len(q) - 1]
    hay = norm(chunk.text)
    k = hay.find(q)
    if k < 0 or not hay:
        return lo, hi
    span = hi - lo + 1
    a = lo + min(span - 1, int(k / len(hay) * span))
    b = lo + min(span - 1, int((k + len(q) - 1) / len(hay) * span))
    return max(lo, min(a, hi)), max(lo, min(max(a, b), hi))


def original_span(text: str, quote_norm: str) -> str | None:
    """The part of `text`, in its own characters, whose `norm` form is `quote_norm` (None when absent): a
    quote is shown as the document writes it (full-width comma, its spaces), not in matching form."""
    flat, owner = [], []
    for i, ch in enumerate(text):
        for c in unicodedata.normalize("NFKC", ch):
            if not c.isspace():
                flat.append(c)
                owner.append(i)
    k = "".join(flat).find(quote_norm)
    if k < 0 or not quote_norm:
        return None
    return text[owner[k]: owner[k + len(quote_norm) - 1] + 1]


def _page(source: str, line: int) -> int | None:
    """The PDF page of a line of an ingested document (None for text documents or when unknown)."""
    try:
        from rag.index.documents import page_of  # an optional dependency: its absence is handled here
    except ImportError:  # ingestion not installed in this build
        return None
    try:
        return page_of(source, line)
    except Exception:  # a citation never fails on page lookup
        return None


def make_citation(n: int, chunk, quote: str) -> Citation | None:
    """A citation of `quote` in `chunk`, or None when the quote is not in the chunk."""
    quote = strip_quote(quote) or quote.strip()
    if not norm(quote) or norm(quote) not in norm(chunk.text):
        return None
    a, b = quote_lines(chunk, quote)
    source = getattr(chunk, "source", "") or ""
    return Citation(n=n, chunk_id=chunk.id, pilot=chunk.pilot, section=chunk.section, start_line=a, end_line=b,
                    quote=quote, doc=Path(source).name if source else "", page=_page(source, a))


def end_punct(s: str) -> str:
    """Text to put after a cited quote so the answer reads as a sentence."""
    return "" if s and s[-1] in "。！？!?" else "。"


def split_clauses(text: str) -> list[str]:
    """Split on ， / ： outside “…” quotes and brackets, keeping the separators."""
    parts, cur, depth = [], [], 0
    for ch in text:
        cur.append(ch)
        if ch in "“「（(":
            depth += 1
        elif ch in "”」）)":
            depth = max(0, depth - 1)
        elif ch in "，,：:" and depth == 0:
            parts.append("".join(cur))
            cur = []
    if cur:
        parts.append("".join(cur))
    return parts


_LEAD_YEAR = re.compile(rf"(?:到|至|在)?\s*{YEAR}\s*年(?:底|前|末)?[，,]\s*$")


def clause_window(text: str, score, max_len: int = 80) -> str:
    """A long sentence shortened to its best 1–3 consecutive clauses (a verbatim substring), keeping a
    leading "到 2020 年，" with the figure it governs. `score(candidate) -> float` ranks the windows."""
    if len(text) <= max_len:
        return text
    parts = split_clauses(text)
    if len(parts) <= 1:
        return text
    best, best_s = text, float("-inf")
    for i in range(len(parts)):
        for j in range(i + 1, min(len(parts), i + 3) + 1):
            cand = "".join(parts[i:j])
            if len(cand) > max_len and j > i + 1:
                continue
            s = score(cand) - 0.001 * len(cand)
            if s > best_s:
                best, best_s = cand, s
    k = text.find(best)
    m = _LEAD_YEAR.search(text[:k])
    if m and not re.search(YEAR, best):
        best = text[:k][m.start():] + best
    return strip_quote(best) or text
