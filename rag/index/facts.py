"""The plans' figures as data: a table of facts extracted at build time, deterministically, each with its line.

Every figure a plan states next to a measure becomes a `Fact`: the pilot, the measure, base year or target, the
year, the value in the measure's unit, the figure exactly as written (with 以上, 左右, 约…), the line that states
it, the chunk that holds that line, and a note when the figure is for part of the pilot only (镇区, 县城区,
高新区), for a joint area, or under a label that is not the measure's own name (总人口 for 常住人口, a bare 城镇化率).

- The four core measures (常住人口城镇化率, 户籍人口城镇化率, 常住人口, 面积) are read through the labels the plans
  use for them (`knowledge/data/fact_labels.tsv`) and the words that say which area a figure covers
  (`knowledge/data/area_words.tsv`).
- Every other measure is named by the corpus itself: the phrase before a figure that ends with a measure's head
  word (…率, …面积, …人口, …总值; `knowledge/data/measure_heads.txt`), kept when several plans state it
  (`MIN_PLANS`), the same document-frequency statistic the gazetteer and the which-pilots terms use.
- Years: a figure's year is the last year stated before it in its sentence, else in its paragraph, else in the
  paragraph that leads a dash goal; "2015—2017 年" is its end year; a year after the plan year is a target.
  A figure of the plan's present with no year stated gets the plan's base year and a note saying so.
- One row per pilot, measure, kind and year: the whole pilot's figure over a part's, the measure's own label over
  another, the first statement over a later one.
"""
from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

from rag.corpus import Corpus, paragraph_line_spans
from rag.files import atomic_write
from rag.knowledge import lexicon
from rag.knowledge.domain import BASE_YEAR, PLAN_YEAR, is_target_year
from rag.text import YEAR, norm

CORE = ("常住人口城镇化率", "户籍人口城镇化率", "常住人口", "面积")
CORE_UNITS = {"常住人口城镇化率": "%", "户籍人口城镇化率": "%", "常住人口": "万人", "面积": "平方公里"}
MIN_PLANS = 3            # another measure joins the table when at least this many plans state it with a figure
EXTRACTOR_VERSION = 1    # part of the per-document cache key: bump when the extracted rows would change

_SENT = re.compile(r"[^。！？；!?;]+[。！？；!?;]?")
_FIGURE = re.compile(
    r"(?P<pre>约|超过|突破|逾|近|不低于|不少于)?\s*(?P<range>\d+(?:\.\d+)?\s*[—–\-~～至到]\s*)?"
    r"(?P<num>\d+(?:\.\d+)?)\s*(?P<scale>[万亿])?\s*(?P<more>多)?\s*"
    r"(?P<unit>%|％|个百分点|平方公里|平方千米|平方米|公顷|亩|万元|亿元|元|人口|人次|人|户|个|家|座|所|张|公里|千米|米|吨|千瓦)?"
    r"\s*(?P<post>以上|左右|以内|以下|多)?")
_YEAR_AT = re.compile(rf"({YEAR})\s*(?:[—–\-~～至到]\s*({YEAR})\s*)?年")
_CHANGE = re.compile(r"增加|增长|增速|年均|减少|下降|提高了|提升了|扩大了|翻")
_LEVEL_VERB = re.compile(r"(?:分别|将|要|力争|预计|达到|提高到|提升到|增加到|增长到|扩大到|控制在|保持在|稳定在|突破|超过|达|为|是|有|约|由|从|至)+$")
_FROM = re.compile(r"(?:由|从)\s*(?:目前|现在|现状|基期)?(?:的)?\s*$")
_FILLER = re.compile(r"^(?:其中|同时|全面|实现|完成|力争|预计|确保|使|将|并|以及|和|及|、|，|,|的)+")
_HAN = re.compile(r"[\u4e00-\u9fff]")
_SEP = re.compile(r"[，,、：:（）()]")
_PLACE_BEFORE = re.compile(r"(?:^|[，,、的])([\u4e00-\u9fff]{1,6}(?:镇|乡|街道|县城|新城|园区))$")


@dataclass(frozen=True)
class Fact:
    pilot: str
    province: str
    measure: str
    qualifier: str       # 常住 / 户籍 for the rates; "" otherwise
    kind: str            # "base" | "target"
    year: int
    value: float         # in `unit`: percent for rates, 万人 for population, 平方公里 for area
    unit: str
    text: str            # the figure as written, with its qualifier
    line: int            # the line that states it (1-based, in `source`)
    chunk_id: str
    note: str
    source: str = ""
    label: str = ""      # the words the plan uses for the measure here

    def to_dict(self) -> dict:
        return asdict(self)


@lru_cache(maxsize=1)
def _labels() -> tuple[list[tuple[str, str, str, int]], dict[str, str]]:
    """([(label, measure, note, rank)] longest first, {label of another quantity: that quantity's name})."""
    core, other = [], {}
    for line in lexicon.ordered("fact_labels.tsv"):
        cols = line.split("\t")
        if len(cols) >= 2 and cols[1].startswith(("-", "=")):
            other[cols[0]] = cols[1][1:] or cols[0]
        elif len(cols) >= 4:
            core.append((cols[0], cols[1], cols[2], int(cols[3])))
    return sorted(core, key=lambda t: -len(t[0])), other


@lru_cache(maxsize=1)
def _area_words() -> dict[str, str]:
    return dict(line.split("\t")[:2] for line in lexicon.ordered("area_words.tsv"))


@lru_cache(maxsize=1)
def _heads() -> tuple[str, ...]:
    return tuple(sorted(lexicon.words("measure_heads.txt"), key=len, reverse=True))


# --------------------------------------------------------------------------- one figure's label


@dataclass
class _Reading:
    measure: str
    label: str
    note: str
    rank: int
    area: str            # "whole" | "part" | "" (nothing said)
    part: str            # the part's words (镇区) when area == "part"


def _read_label(before: str, own: tuple[str, ...] = ()) -> _Reading | None:
    """What the words right before a figure say it measures (None: no measure named there)."""
    text = _LEVEL_VERB.sub("", before.strip()).strip()
    text = re.sub(r"\s+", "", text)
    core, other = _labels()
    for label in sorted(other, key=len, reverse=True):
        if text.endswith(label):
            return _Reading(other[label], label, "", 9, "", "")
    for label, measure, note, rank in core:
        if text.endswith(label):
            prefix = text[: -len(label)]
            area, part = ("whole", "") if any(o and prefix.endswith(o) for o in own) else _area_of(prefix)
            if area == "other":
                return _Reading(_other_label(text) or text[-8:], text[-8:], "", 9, "", "")
            return _Reading(measure, label, note, rank, area, part)
    name = _other_label(text)
    return _Reading(name, name, "", 9, "", "") if name else None


def _label_after(after: str) -> _Reading | None:
    """A count named after its figure ("26 万农业转移人口市民化", "3 万人落户城镇"): the phrase up to the clause
    end, when it names people (…人口…)."""
    m = re.match(r"^([\u4e00-\u9fff]{3,14})(?=[，,。；;、]|$)", after)
    if not m or "人口" not in m.group(1):
        return None
    name = m.group(1)
    return _Reading(name, name, "", 9, "", "")


def _area_of(prefix: str) -> tuple[str, str]:
    """Whether the words before a core label make it the whole pilot's figure, a part's, or another quantity."""
    words = _area_words()
    for w in sorted(words, key=len, reverse=True):
        if prefix.endswith(w):
            return words[w], w
    m = _PLACE_BEFORE.search(prefix)  # "枝城镇城镇人口": a place inside the pilot
    return ("part", m.group(1)) if m else ("", "")


def _other_label(text: str) -> str | None:
    """The name of another measure: the words before the figure, from the last clause break, ending with a
    measure's head word (森林覆盖率, 地区生产总值, 城镇居民人均可支配收入), without leading area words."""
    piece = _SEP.split(text)[-1]
    piece = re.sub(rf"{YEAR}\s*年", "", piece)
    piece = _FILLER.sub("", piece)
    for w in sorted(_area_words(), key=len, reverse=True):
        if piece.startswith(w) and _area_words()[w] == "whole":
            piece = piece[len(w):]
            break
    if not any(piece.endswith(h) for h in _heads()) or not 3 <= len(piece) <= 16 or not _HAN.search(piece):
        return None
    return piece


# --------------------------------------------------------------------------- values and units


def _value(measure: str, m: re.Match) -> tuple[float, str] | None:
    """The figure's value in the measure's unit, and that unit; None when the figure is not of that kind."""
    num = float(m.group("num"))
    scale = {"万": 1e4, "亿": 1e8}.get(m.group("scale") or "", 1.0)
    unit = m.group("unit") or ""
    if unit == "个百分点":
        return None
    if measure in ("常住人口城镇化率", "户籍人口城镇化率"):
        return (num, "%") if unit in ("%", "％") else None
    if measure == "常住人口":
        if unit not in ("人", "人口", "") or (not unit and scale == 1.0):
            return None
        return round(num * scale / 1e4, 6), "万人"
    if measure == "面积":
        factor = {"平方公里": 1.0, "平方千米": 1.0, "公顷": 0.01}.get(unit)
        return (round(num * scale * factor, 6), "平方公里") if factor else None
    if not unit and not m.group("scale"):
        return None
    return num, (m.group("scale") or "") + unit


# --------------------------------------------------------------------------- extraction


def _sentences(text: str):
    for m in _SENT.finditer(text):
        yield m.start(), m.group()


def _years_before(s: str, end: int) -> list[tuple[int, list[int]]]:
    """The years stated in `s` before `end`: (position, [years]); a range "2015—2017" counts as its end year."""
    out = []
    for m in _YEAR_AT.finditer(s, 0, end):
        if m.group(2):
            out.append((m.start(), [int(m.group(2))]))
        else:
            out.append((m.start(), [int(m.group(1))]))
    return out


def extract_pilot(pilot, lines: list[str], chunks: list, base_year: int | None = None) -> list[Fact]:
    """Every figure of one pilot's plan, before choosing one row per measure, kind and year."""
    base = base_year or _base_year(pilot) or BASE_YEAR
    own = tuple(x for x in {pilot.place, re.sub(r"[（(].*?[）)]", "", pilot.place)} if len(x) >= 2)
    out: list[Fact] = []
    sections = [("引言", p) for p in pilot.intro]
    for titles, sec in pilot.iter_sections():
        sections += [(titles[0], p) for p in sec.paragraphs]
    lead: list[int] = []           # the years of the last paragraph that stated one (for dash-led goals)
    prev_top = None
    for top, para in sections:
        if top != prev_top:
            lead, prev_top = [], top
        spans = paragraph_line_spans(para, lines)
        text = para.text
        dash = text.lstrip().startswith("——")
        carry: list[int] = list(lead) if dash else []
        subject = ""               # a place other than the pilot that a sentence is about (白城市…，全市…)
        part = ""                  # a part of the pilot the sentences are about (…高新技术产业开发区是…；全区…)
        for s_start, sent in _sentences(text):
            subject = _subject(sent, pilot) or (subject if re.match(r"^\s*(?:全市|全区|全县|该|其)", sent) else "")
            part = _part_subject(sent, pilot) or (part if not _names_pilot(sent, pilot) else "")
            last_label: _Reading | None = None
            last_end = 0
            years_here = _years_before(sent, len(sent))
            respectively = "分别" in sent
            figures = [m for m in _FIGURE.finditer(sent) if m.group("num") and not _in_year(sent, m)]
            seq = 0
            for m in figures:
                before = sent[last_end:m.start()]
                if m.group("unit") == "人口" and not _read_label(before, own):
                    before += "人口"  # "拥有 772.4 万人口": the label after the figure
                if _FROM.search(before):
                    reading = _read_label(before[: _FROM.search(before).start()], own) or last_label
                    from_base = True
                else:
                    reading = _read_label(before, own) if _HAN.search(before) else None
                    from_base = False
                    if reading is None and last_label is not None and not _SEP.search(before.strip()[:1] or "x"):
                        reading = last_label       # "到2020年达到66%": the measure of the clause before
                    elif reading is None and last_label is not None and re.fullmatch(
                            rf"\s*[，,]?\s*(?:到\s*{YEAR}\s*年)?\s*(?:达到|为|达|提高到)?\s*", before or ""):
                        reading = last_label
                if reading is None and not _CHANGE.search(before[-8:]):
                    reading = _label_after(sent[m.end():])  # "实现 26 万农业转移人口市民化"
                last_end = m.end()
                if reading is None or _CHANGE.search(before[-8:]) and not from_base or m.group("range"):
                    continue  # a change ("年均增长 2 个百分点") or a range ("5—7 万人") is no level to rank
                if reading.measure in CORE and re.search(r"其中[^，,；;。]*$", before) and last_label is not None \
                        and last_label.measure not in CORE:
                    continue  # "户籍人口30.8万人，其中城区人口18.5万人": a part of another quantity
                last_label = reading
                got = _value(reading.measure, m)
                if got is None:
                    continue
                value, unit = got
                year, note_year = _year_of(sent, m.start(), years_here, carry, respectively, seq, base, from_base,
                                           top)
                seq += 1
                if year is None:
                    continue
                if subject:
                    continue  # a figure of another place (the parent city) is not the pilot's
                where = _part_note(reading, sent, pilot) or (f"{part}（试点的一部分）" if part else "")
                notes = [n for n in (reading.note, where, "" if reading.measure == "面积" else note_year) if n]
                line = _line_at(spans, s_start + m.start(), lines, para)
                shown = sent[m.start():m.end()].strip()
                chunk_id = _chunk_of(chunks, pilot.name, line, shown)
                kind = "target" if is_target_year(year) and not from_base else "base"
                qual = {"常住人口城镇化率": "常住", "户籍人口城镇化率": "户籍"}.get(reading.measure, "")
                out.append(Fact(pilot.name, pilot.province, reading.measure, qual, kind, year, value, unit, shown,
                                line, chunk_id, "；".join(notes), pilot.source, reading.label))
            stated = [y for _, ys in years_here for y in ys]
            if stated:
                carry = [stated[-1]]
        if carry:
            lead = carry  # a dash goal with no year of its own is of the last year its section stated
    return out


def _in_year(sent: str, m: re.Match) -> bool:
    """A number that is a year ("2014 年", "2015—2017") or part of a date is no figure."""
    tail = sent[m.end("num"):m.end("num") + 3]
    return bool(re.fullmatch(YEAR, m.group("num"))) and not m.group("unit") and not m.group("scale") \
        and (tail.lstrip().startswith(("年", "—", "-", "–", "~", "至")) or True)


def _year_of(sent, at, years_here, carry, respectively, seq, base, from_base, top):
    """(year, note) of the figure at `at`."""
    if from_base:
        before = [ys for pos, ys in years_here if pos < at]
        stated = [y for ys in before for y in ys if not is_target_year(y)]
        return (stated[-1], "") if stated else (base, "现状（年份未注明，按基期）")
    before = [(pos, ys) for pos, ys in years_here if pos < at]
    if respectively and before:
        # "到2017年和2020年，…分别达到71%和75%": the years in order
        listed = [y for _, ys in before for y in ys]
        if len(listed) >= 2:
            return listed[min(seq, len(listed) - 1)], ""
    if before:
        return before[-1][1][-1], ""
    if carry:
        return carry[-1], ""
    if top == "引言":
        return base, "年份未注明（按基期）"
    return None, ""


def _base_year(pilot) -> int | None:
    """The year the plan's opening paragraphs state its figures for (most often 2014)."""
    years = Counter(int(y) for p in pilot.intro for m in _YEAR_AT.finditer(p.text)
                    for y in [m.group(2) or m.group(1)] if int(y) <= PLAN_YEAR)
    return years.most_common(1)[0][0] if years else None


def _subject(sent: str, pilot) -> str:
    """The place a sentence opens with when it is not the pilot: "白城市是…，全市幅员面积…" is about 白城市."""
    m = re.match(r"^\s*([\u4e00-\u9fff]{2,8}?(?:市|州|地区))(?:是|位于|地处|，)", sent)
    if not m:
        return ""
    place = m.group(1)
    own = {pilot.name, pilot.place, re.sub(r"[（(].*?[）)]", "", pilot.place)}
    if any(place in o or o.startswith(place) for o in own if o):
        return ""
    return place


def _part_subject(sent: str, pilot) -> str:
    """A part of the pilot a sentence opens with (茂名高新技术产业开发区是…): its figures are the part's."""
    m = re.match(r"^\s*([\u4e00-\u9fff]{2,14}?(?:高新技术产业开发区|开发区|高新区))(?:是|位于|，)", sent)
    return m.group(1) if m and m.group(1) not in pilot.place else ""


def _names_pilot(sent: str, pilot) -> bool:
    bare = re.sub(r"[（(].*?[）)]", "", pilot.place)
    return bool(bare) and sent.lstrip().startswith(bare)


def _part_note(reading: _Reading, sent: str, pilot) -> str:
    if reading.area == "part":
        return f"{reading.part}（试点的一部分）"
    m = re.match(r"^\s*([\u4e00-\u9fff]{2,10})与([\u4e00-\u9fff]{2,14}?)(?:面积|总面积|，)", sent)
    if m and (m.group(1) in pilot.place or pilot.place.startswith(m.group(1))):
        return f"联合区域（{m.group(1)}与{m.group(2)}）"
    m = re.match(r"^\s*([\u4e00-\u9fff]{2,14}?(?:高新技术产业开发区|开发区|高新区))", sent)
    if m and m.group(1) not in pilot.place:
        return f"{m.group(1)}（试点的一部分）"
    return ""


def _line_at(spans, offset: int, lines: list[str], para) -> int:
    for ln, a, b in spans:
        if a <= offset < b:
            return ln
    return para.start_line


def _chunk_of(chunks, pilot: str, line: int, shown: str) -> str:
    key = norm(shown)
    best = ""
    for c in chunks:
        if c.pilot == pilot and c.start_line <= line <= c.end_line:
            if key in norm(c.text):
                return c.id
            best = best or c.id
    return best


# --------------------------------------------------------------------------- the table


def choose(facts: list[Fact]) -> list[Fact]:
    """One row per pilot, measure, kind and year: the whole pilot's figure, then the measure's own label, then the
    first stated."""
    def rank(f: Fact) -> tuple:
        partial = "试点的一部分" in f.note or "联合区域" in f.note
        core_rank = next((r for lab, m, _, r in _labels()[0] if lab == f.label and m == f.measure), 9)
        return (partial, core_rank, f.line)

    best: dict[tuple, Fact] = {}
    for f in facts:
        key = (f.pilot, f.measure, f.kind, f.year)
        if key not in best or rank(f) < rank(best[key]):
            best[key] = f
    return sorted(best.values(), key=lambda f: (f.source, f.line, f.measure))


def extract_facts(corpus: Corpus, chunks: list, cache_dir: Path | None = None) -> list[Fact]:
    """The fact table of a corpus: the core measures of every pilot, and every other measure several plans state.

    With `cache_dir`, each document's figures are kept by its content hash (and its chunks' ids): adding or
    removing a document extracts only what changed; which measures several plans state is decided anew."""
    by_pilot: dict[str, list] = {}
    for c in chunks:
        by_pilot.setdefault(c.pilot, []).append(c)
    raw: list[Fact] = []
    for src in corpus.sources:
        pilots = [p for p in corpus.pilots if p.source == src.path]
        ids = sorted(c.id for p in pilots for c in by_pilot.get(p.name, []))
        key = hashlib.sha256(f"{src.sha256}|{_code_version()}|{','.join(ids)}".encode()).hexdigest()[:32]
        cached = _read_cache(cache_dir, key)
        if cached is None:
            lines = corpus.lines(src.path)
            cached = [f for p in pilots for f in extract_pilot(p, lines, by_pilot.get(p.name, []))]
            _write_cache(cache_dir, key, cached)
        raw += cached
    plans = Counter()
    for m, ps in _pilots_by_measure(raw).items():
        plans[m] = len(ps)
    kept = [f for f in raw if f.measure in CORE or plans[f.measure] >= MIN_PLANS]
    return choose(kept)


@lru_cache(maxsize=1)
def _code_version() -> str:
    """What the extraction depends on besides the document: this module and its word lists (a change to either
    is a change of every document's rows)."""
    h = hashlib.sha256(Path(__file__).read_bytes())
    for name in ("fact_labels.tsv", "area_words.tsv", "measure_heads.txt"):
        h.update((lexicon.DATA / name).read_bytes())
    return f"{EXTRACTOR_VERSION}-{h.hexdigest()[:16]}"


def _read_cache(cache_dir: Path | None, key: str) -> list[Fact] | None:
    if cache_dir is None:
        return None
    try:
        with open(Path(cache_dir) / f"{key}.jsonl", encoding="utf-8") as fh:
            return [Fact(**json.loads(line)) for line in fh if line.strip()]
    except (OSError, ValueError, TypeError):
        return None


def _write_cache(cache_dir: Path | None, key: str, facts: list[Fact]) -> None:
    if cache_dir is None:
        return
    try:
        atomic_write(Path(cache_dir) / f"{key}.jsonl",
                     "".join(json.dumps(f.to_dict(), ensure_ascii=False) + "\n" for f in facts))
    except OSError:
        pass  # a cache that cannot be written costs only the next build's extraction time


def _pilots_by_measure(facts: list[Fact]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for f in facts:
        out.setdefault(f.measure, set()).add(f.pilot)
    return out
