"""Repairs for text extracted from PDF pages: the scars every policy PDF has.

* **Characters.** CJK fonts map many ideographs to the glyphs of Kangxi radicals, so a PDF's text layer
  says `⼯作⽅案` (U+2F2F…) for `工作方案`; chromium's two-em dash comes out as `⸺` for `——`; Latin
  ligatures as `ﬁ`. These are mapped back (NFKC for Kangxi radicals and compatibility ideographs, a table
  for the radicals NFKC leaves alone). Nothing else is normalised: full-width punctuation stays.
* **Stray spaces** between two CJK characters (justified text, a gap in the PDF) are removed; spaces next
  to digits or Latin words stay, as in the text originals (`10 万`): matching ignores them anyway.
* **Page furniture.** Lines in the top or bottom band of a page that are page numbers (`3`, `- 3 -`,
  `第 3 页`, `3/126`), repeat on many pages (running headers and footers, compared with digits masked), or
  are printed smaller than the body (a browser's date/URL header) are dropped.
* **Wrapped lines** are joined back into paragraphs: a line that reaches the right margin continues on the
  next line when that one follows at the usual line pitch, is not indented and does not open a heading.
  A paragraph broken by a page break is NOT joined here: its two parts stay on lines of their own pages, so
  each line keeps its true page, and the corpus parser joins them (its page-break rule) for retrieval.
"""
from __future__ import annotations

import re
import statistics
import unicodedata
from dataclasses import dataclass

# radical / look-alike → the ideograph the font draws with the same glyph (Noto Sans CJK SC), where NFKC
# does not already give it (⼾ is NFKC 戶, but the simplified text means 户)
_RADICALS = ("⺂乛⺃乚⺅亻⺉刂⺏尣⺐尢⺒巳⺓幺⺔彑⺕彐⺖忄⺘扌⺙攵⺛旡⺞歺⺠民⺡氵⺣灬⺤爫⺦丬⺨犭⺭礻⺯糹⺰纟"
             "⺱罓⺹耂⺺肀⺾艹⻂衤⻅见⻆角⻈讠⻉贝⻋车⻌辶⻐钅⻑長⻒镸⻓长⻔门⻖阝⻘青⻙韦⻚页⻛风⻜飞⻝食⻟飠"
             "⻠饣⻢马⻣骨⻤鬼⻥鱼⻦鸟⻧卤⻨麦⻩黄⻪黾⻫斉⻬齐⻮齿⻯竜⻰龙⻱龜⻲亀⼾户"
             # radicals drawn like a whole character (by their Unicode names) that other fonts may emit
             "⻁虎⻄西⺩王⺝月⺼月⺜日⻗雨⺮竹⻊足⺶羊⺷羊⻇角⻡首⺬示⺫目⺗心⺢水⺌小⺧牛⺁厂⻭齿⻏阝⻕阝⻍辶⻎辶⺿艹⻀艹")
_TABLE = {ord(_RADICALS[i]): _RADICALS[i + 1] for i in range(0, len(_RADICALS), 2)}
_TABLE.update({0x2E3A: "——", 0x2E3B: "———", 0x00AD: None, 0xFEFF: None, 0x200B: None})
_NFKC_RANGES = re.compile("[\u2f00-\u2fdf\uf900-\ufaff\ufb00-\ufb06\U0002f800-\U0002fa1f]")
_CID = re.compile(r"\(cid:\d+\)")
_WORDS = re.compile(r"[^\W\d_]")  # letters and CJK characters
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_CJK = "\u2e80-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef"
_CJK_SPACE = re.compile(rf"(?<=[{_CJK}])[ \u3000\u00a0]+(?=[{_CJK}])")

# a line that opens a block: never the continuation of the wrapped line above it
_CN = "一二三四五六七八九十百零〇"
_BLOCK_START = re.compile(rf"^(?:[{_CN}]+、|[（(][{_CN}\d]+[）)]|第[{_CN}\d]+[章节条篇部编]|\d{{1,2}}\s*[.．、](?!\d)"
                          rf"|[{_CN}]+是|——|[|#•●■◆▪]|附件\s*\d*\s*$)")
_PAGE_NO = re.compile(r"^(?:[-—–_\s]*\d{1,4}[-—–_\s]*|第\s*\d+\s*页(?:\s*[,，/／]?\s*共\s*\d+\s*页)?"
                      r"|\d+\s*[/／]\s*\d+|(?:page|p\.)\s*\d+(?:\s*(?:of|/)\s*\d+)?|[-—–]?\s*[ivxlc]+\s*[-—–]?)$", re.I)


def fix_glyphs(s: str) -> str:
    """Font artefacts back to ordinary characters; CID placeholders and control characters dropped."""
    s = _CID.sub("", s)
    s = _NFKC_RANGES.sub(lambda m: unicodedata.normalize("NFKC", m.group()), s.translate(_TABLE))
    return _CONTROL.sub("", s).replace("\t", " ")


def fix_chars(s: str) -> str:
    """`fix_glyphs`, and no stray spaces between CJK characters (a PDF's layout gaps)."""
    return _CJK_SPACE.sub("", fix_glyphs(s))


@dataclass
class Line:
    """One text line of a page; PDF coordinates (y grows upwards)."""
    text: str
    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def height(self) -> float:
        return max(0.1, self.y1 - self.y0)


@dataclass
class Page:
    width: float
    height: float
    lines: list[Line]
    images: int = 0


def _rows(lines: list[Line]) -> list[Line]:
    """Top-to-bottom rows; pieces of one visual line (table cells, a gap) are merged left to right."""
    rows: list[list[Line]] = []
    for ln in sorted(lines, key=lambda x: (-x.y1, x.x0)):
        if rows:
            last = rows[-1][0]
            overlap = min(last.y1, ln.y1) - max(last.y0, ln.y0)
            if overlap > 0.5 * min(last.height, ln.height):
                rows[-1].append(ln)
                continue
        rows.append([ln])
    out = []
    for row in rows:
        row.sort(key=lambda x: x.x0)
        text = row[0].text
        for prev, cur in zip(row, row[1:]):
            text += (" " if cur.x0 - prev.x1 > 0.5 * cur.height else "") + cur.text
        out.append(Line(text, row[0].x0, min(x.y0 for x in row), max(x.x1 for x in row), max(x.y1 for x in row)))
    return out


def _body_height(pages: list[Page]) -> float:
    hs = [ln.height for p in pages for ln in p.lines for _ in range(max(1, len(ln.text) // 10))]
    return statistics.median(hs) if hs else 10.0


def drop_furniture(pages: list[Page]) -> int:
    """Remove running headers/footers and page numbers in place; returns how many lines were dropped."""
    body_h = _body_height(pages)
    n = len(pages)
    key = lambda s: re.sub(r"\d+", "#", re.sub(r"\s+", "", s))  # noqa: E731 - page numbers vary, the rest repeats
    counts: dict[str, int] = {}
    bands: list[list[tuple[int, Line]]] = []
    for p in pages:
        ordered = sorted(p.lines, key=lambda x: -x.y1)
        cand = [(i, ln) for i, ln in enumerate(ordered)
                if (i < 2 or i >= len(ordered) - 2) and _in_band(ln, p, 0.1)]
        bands.append(cand)
        for k in {key(ln.text) for _, ln in cand}:
            counts[k] = counts.get(k, 0) + 1
    dropped = 0
    for p, cand in zip(pages, bands):
        drop = set()
        for _, ln in cand:
            s = ln.text.strip()
            small = _in_band(ln, p, 0.05) and ln.height < 0.85 * body_h
            # a running header/footer has words (a table row of numbers repeating is data, not furniture)
            repeated = n >= 2 and counts.get(key(s), 0) >= max(2, (n + 1) // 2) and len(_WORDS.findall(s)) >= 2
            if not s or _PAGE_NO.match(s) or small or repeated:
                drop.add(id(ln))
        dropped += len(drop)
        p.lines = [ln for ln in p.lines if id(ln) not in drop]
    return dropped


def _in_band(ln: Line, page: Page, frac: float) -> bool:
    return ln.y0 >= page.height * (1 - frac) or ln.y1 <= page.height * frac


@dataclass
class Metrics:
    left: float
    right: float
    pitch: float
    char: float


def measure(pages: list[Page]) -> Metrics:
    """The body's left and right margins, line pitch and character size, over the whole document."""
    h = _body_height(pages)
    body = [ln for p in pages for ln in p.lines if abs(ln.height - h) <= 0.3 * h and len(ln.text) > 3]
    if not body:
        return Metrics(0.0, 1e9, 1.5 * h, h)
    x0s = sorted(ln.x0 for ln in body)
    x1s = sorted(ln.x1 for ln in body)
    pitches = []
    for p in pages:
        rows = _rows(p.lines)
        pitches += [a.y0 - b.y0 for a, b in zip(rows, rows[1:]) if 0.8 * h < a.y0 - b.y0 < 3 * h]
    return Metrics(left=x0s[len(x0s) // 10], right=x1s[int(len(x1s) * 0.95)],
                   pitch=statistics.median(pitches) if pitches else 1.5 * h, char=h)


def paragraphs(page: Page, m: Metrics) -> list[str]:
    """The page's text re-flowed into paragraphs (wrapped lines joined, CJK without a space)."""
    out: list[str] = []
    prev: Line | None = None
    for row in _rows(page.lines):
        text = fix_chars(row.text).strip()
        if not text:
            continue
        joins = (prev is not None and out
                 and prev.x1 >= m.right - 2.0 * m.char                 # the line above was full: it wrapped
                 and prev.y0 - row.y0 <= 1.35 * m.pitch                # at the usual pitch: no paragraph gap
                 and row.x0 <= m.left + 0.9 * m.char                   # no first-line indent
                 and not _BLOCK_START.match(text))
        if joins:
            a, b = out[-1], text
            space = " " if a[-1:].isascii() and a[-1:].isalnum() and b[:1].isascii() and b[:1].isalnum() else ""
            out[-1] = fix_chars(a + space + b)
        else:
            out.append(text)
        prev = row
    return out
