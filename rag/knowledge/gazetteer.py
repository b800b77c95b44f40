"""The gazetteer: every name a place in the corpus goes by, derived from the corpus (never hand-written per pilot).

- A pilot's own forms from its heading: `北京市房山区` is also `房山区`, `房山`, `北京房山`; `湖南省津市市—澧县`
  is also `津市市`, `澧县`; `上海市浦东新区（临港地区）` is also `浦东新区`, `临港`.
- Its formal name from its intro (`芷江侗族自治县`, `红河哈尼族彝族自治州`).
- Its parent places from its intro ("位于临沂市兰山区", "隶属于烟台市", "沈阳市所辖", "河北省保定市东部"), so
  `保定白沟镇` and `海口的演丰镇` name the pilot and `保定` alone scopes to it.
- Pinyin of each stem (`fangshan`), for English questions and for suggesting names.
- Plain documents (not in the pilots format) contribute the places their text names, so a question about a
  place only a new document covers is not refused as unknown.

`gazetteer(corpus)` returns a JSON-serialisable dict stored in the index at build time; the question analysis
(`rag.question`) reads it back without re-parsing the corpus.
"""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from rag.knowledge import lexicon
from rag.knowledge.domain import PLACE_ENDINGS, STEM_SUFFIXES
from rag.text import jieba_pos_tokenizer, jieba_tokenizer

_PROVINCE_SUFFIX = re.compile(r"(维吾尔自治区|壮族自治区|回族自治区|特别行政区|自治区|省|市)$")
_PAREN = re.compile(r"[（(]([^）)]*)[）)]")
_HAN = re.compile(r"^[\u4e00-\u9fff]+$")
# Intro phrases that name a pilot's parent place right after them (位于X市, 隶属于X市) or right before (X市所辖).
_PARENT_BEFORE = re.compile(r"(?:位于|隶属于?|属于|地处|距离?|是)$")
_PARENT_AFTER = re.compile(r"^(?:所?辖|管辖|东部|西部|南部|北部|中部|东南|西南|东北|西北|城市|东大门|中心城市|市辖|辖县)")


def province_short(province: str) -> str:
    """`河北省` → `河北`, `内蒙古自治区` → `内蒙古`, `北京市` → `北京`."""
    return _PROVINCE_SUFFIX.sub("", province) or province


def provinces() -> tuple[str, ...]:
    return lexicon.ordered("provinces.txt")


def stem(place: str) -> str:
    """`房山区` → `房山`, `南昌高新区` → `南昌`; a two-character name keeps its suffix (`威县`)."""
    for suf in STEM_SUFFIXES:
        if place.endswith(suf) and len(place) - len(suf) >= 2:
            return place[: -len(suf)]
    return place


def place_variants(place: str) -> list[str]:
    """The place and its parts: parentheses and `—`-joined twin places are split out."""
    bare = _PAREN.sub("", place).strip() or place
    out = [place, bare]
    for x in _PAREN.findall(place):  # `（临港地区）` → 临港地区, 临港
        out.append(x)
        for suf in ("地区", "片区"):
            if x.endswith(suf) and len(x) - len(suf) >= 2:
                out.append(x[: -len(suf)])
    parts = [p for p in re.split(r"[—–-]", bare) if p]
    if len(parts) > 1:  # `津市市—澧县` → 津市市, 津市, 澧县, and the twin's short name 津澧
        out.extend(parts)
        out.append("".join(p[0] for p in parts))
    out.extend(stem(p) for p in parts)
    return list(dict.fromkeys(out))


def aliases_for(name: str, province: str, place: str) -> list[str]:
    """Every form of a pilot's name, longest first; only forms of two or more characters."""
    prov = province_short(province)
    forms = {name}
    for v in place_variants(place):
        forms.update({v, province + v, prov + v})
    return sorted((f for f in forms if len(f) >= 2), key=lambda s: (-len(s), s))


def all_aliases(corpus) -> dict[str, list[str]]:
    """Pilot name → its aliases, for every pilot of a corpus (plain documents get their own name)."""
    out: dict[str, list[str]] = {}
    for p in corpus.pilots:
        if getattr(p, "province", ""):
            out[p.name] = aliases_for(p.name, p.province, p.place)
        else:
            out[p.name] = [p.name]
    return out


# The places a document's title opens with: each a few characters and a place ending (云泽市鹤汀区…).
_TITLE_PLACE = re.compile(r"[\u4e00-\u9fff]{2,4}?(?:自治州|自治县|新区|省|市|县|区|州|旗|镇|乡)")
# A title place must not hold an everyday word: "关于推进县城…" opens with words, not a place. Words this
# frequent in jieba's dictionary (关于 13762, 推进 4932, 县城 1500; a place stem such as 白鹭 has 39) are such.
_COMMON_WORD_FREQ = 1000


def title_places(title: str) -> list[str]:
    """The places a plain document's title opens with, and their stems: `云泽市鹤汀区保障性住房…` → 云泽市, 鹤汀区,
    云泽, 鹤汀; so a question naming 鹤汀 names that document as it names a pilot. A name jieba knows as a place
    counts; an unknown one counts unless it holds an everyday word."""
    s = re.sub(r"\s+", "", title or "")
    freq = jieba_tokenizer().FREQ
    known = {name for name, _ in places_in(s[:24])}
    out: list[str] = []
    pos = 0
    while (m := _TITLE_PLACE.match(s, pos)):
        name = m.group(0)
        st = stem(name)
        common = any((freq.get(st[i:j]) or 0) >= _COMMON_WORD_FREQ
                     for i in range(len(st)) for j in range(i + 2, len(st) + 1))
        if name not in known and common:
            break
        if not (_is_generic(name) or _is_generic(st)):  # a province (四川省成都市…) is no name of the document
            out.extend(f for f in (name, st) if len(f) >= 2)
        pos = m.end()
    return list(dict.fromkeys(out))


# --------------------------------------------------------------------------- places named in text


def _is_generic(word: str) -> bool:
    return word in lexicon.words("not_places.txt") or word in provinces() or \
        any(word == province_short(p) for p in provinces())


def places_in(text: str, limit: int = 0) -> list[tuple[str, int]]:
    """County-or-larger place names jieba recognises in `text`, with their offsets: `保定市`, `临沂市`,
    `兰山区`, `红河哈尼族彝族自治州`; a stem tagged as a place joins a following suffix token (`百色` + `市`)."""
    s = re.sub(r"\s+", "", text or "")
    if limit:
        s = s[:limit]
    toks = [(p.word, p.flag) for p in jieba_pos_tokenizer().lcut(s)]
    out: list[tuple[str, int]] = []
    pos = 0
    for i, (w, f) in enumerate(toks):
        start = pos
        pos += len(w)
        if not _HAN.match(w):
            continue
        nxt = toks[i + 1][0] if i + 1 < len(toks) else ""
        if f.startswith("ns") and nxt in PLACE_ENDINGS and not w.endswith(PLACE_ENDINGS):
            cand = w + nxt
        elif f.startswith("n") and w.endswith(PLACE_ENDINGS) and len(w) >= 3:
            cand = w  # jieba tags some city names plain `n` (保定市)
        elif w.endswith(("自治县", "自治州")) and len(w) >= 5:
            cand = w
        else:
            continue
        if not _is_generic(cand) and not _is_generic(stem(cand)):
            out.append((cand, start))
    return out


def _parents(pilot, own: set[str]) -> list[str]:
    """Parent places named in a pilot's first intro paragraph next to 位于/隶属于/所辖/… (not neighbours)."""
    if not pilot.intro:
        return []
    text = re.sub(r"\s+", "", pilot.intro[0].text)
    prov_forms = set(provinces()) | {province_short(p) for p in provinces()}
    found: list[str] = []
    for name, at in places_in(text, limit=200):
        if name in own or stem(name) in own or name in prov_forms:
            continue
        before, after = text[max(0, at - 12):at], text[at + len(name):at + len(name) + 6]
        for form in sorted(prov_forms, key=len, reverse=True):  # "位于山东省临沂市": look past the province
            if before.endswith(form):
                before = before[: -len(form)]
                break
        chained = bool(found) and before.endswith(found[-1])  # "临沂市兰山区": a parent's own district
        if _PARENT_BEFORE.search(before) or _PARENT_AFTER.match(after) or text.startswith(name) or chained:
            found.append(name)
    return list(dict.fromkeys(found))


def _formal_names(pilot, stem_: str) -> list[str]:
    """The pilot's full formal name as its intro writes it (`芷江侗族自治县` for the heading's `芷江县`)."""
    if not pilot.intro or len(stem_) < 2:
        return []
    text = re.sub(r"\s+", "", pilot.intro[0].text)[:120]
    return [n for n, _ in places_in(text) if n.startswith(stem_) and n != pilot.place]


def pinyin_of(word: str) -> str:
    """Toneless pinyin of a Chinese name (`房山` → `fangshan`); "" when it is not all Chinese."""
    readings = pinyin_readings(word)
    return readings[0] if readings else ""


def pinyin_readings(word: str, limit: int = 4) -> list[str]:
    """The toneless pinyin readings of a name, the usual one first: 宜都 is `yidu` (and `yidou`), because
    place names often use a character's less common reading."""
    if not _HAN.match(word or ""):
        return []
    try:
        from pypinyin import Style, lazy_pinyin, pinyin  # pypinyin loads only for English names and suggestions
    except ImportError:  # pragma: no cover - a declared dependency; degrade to no pinyin
        return []
    first = "".join(lazy_pinyin(word)).lower()
    out = [first]
    options = [sorted(set(x)) for x in pinyin(word, style=Style.NORMAL, heteronym=True)]
    combos = [""]
    for opts in options:
        combos = [c + o for c in combos for o in opts][:limit * 4]
    out += [c.lower() for c in combos if c.isalpha()]
    return list(dict.fromkeys(out))[:limit]


def admin_divisions() -> list[tuple[str, str, str]]:
    """(name, province, prefecture) of every division of China at county level or above, from the table the
    `cpca` package ships (read as data: the package itself, which loads pandas, is never imported); [] when it is
    not installed."""
    import csv  # read only when a gazetteer is built
    import importlib.util  # read only when a gazetteer is built

    spec = importlib.util.find_spec("cpca")
    if spec is None or not spec.submodule_search_locations:
        return []
    path = Path(spec.submodule_search_locations[0]) / "resources" / "adcodes.csv"
    try:
        with open(path, encoding="utf-8") as fh:
            rows = [(r["adcode"], r["name"]) for r in csv.DictReader(fh)]
    except (OSError, KeyError):
        return []
    names = {code: name for code, name in rows}
    out = []
    for code, name in rows:
        if name in ("市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划"):
            continue
        province = names.get(code[:2] + "0" * 10, "")
        city = names.get(code[:4] + "0" * 8, "") if code[2:4] != "00" else ""
        placeholder = city in ("市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划")
        out.append((name, province, city if city != name and not placeholder else ""))
    return out


def real_places(pilots: dict[str, dict], taken: set[str], text: str = "") -> dict[str, list[list[str]]]:
    """Every name a real place goes by that is no pilot's and no pilot's parent: form → [[name, province, the
    pilot it lies in ("" if none)]]. A county of a prefecture-level pilot lies in that pilot (台前县 in 濮阳市).
    A short form the documents' own `text` uses as an everyday word (新建, 长治久安, 绿水青山) is left out."""
    inside = {}
    for pilot, meta in pilots.items():
        if meta.get("kind") == "pilot":
            for form in {meta.get("place", ""), stem(meta.get("place", ""))}:
                if len(form) >= 2:
                    inside[(meta.get("province", ""), form)] = pilot
    out: dict[str, list[list[str]]] = {}

    def add(form: str, entry: list[str]) -> None:
        if len(form) >= 2 and form not in taken and form not in _province_forms() and entry not in out.get(form, []) \
                and form not in lexicon.words("not_places.txt"):
            out.setdefault(form, []).append(entry)

    for name, province, city in admin_divisions():
        owner = inside.get((province, city)) or inside.get((province, stem(city))) or ""
        entry = [name, province, owner]
        if len(name) >= 3 or _names_a_place(name):
            add(name, entry)
        if stem(name) != name and _names_a_place(stem(name)) and not _everyday_in(stem(name), text):
            add(stem(name), entry)
    for line in lexicon.ordered("other_places.txt"):
        name, _, province = line.partition("\t")
        add(name, [name, province or "国外", ""])
    return out


# A short form jieba's dictionary counts more often than this, and does not tag as a place, is an everyday word
# first (城区 1517, 和平 7998, 前进, 友好); the table's place names are either tagged places (杭州, 朝阳) or rarer
# (长治 103, 义乌 92, whose tags are n and nz).
_EVERYDAY = 1000


def _names_a_place(word: str) -> bool:
    """A short form is taken as a place only when it is no everyday word (see `_EVERYDAY`)."""
    from rag.text import jieba_pos_tokenizer, jieba_tokenizer, jieba_tokenizer  # jieba loads only when a gazetteer is built

    if len(word) < 2 or not _HAN.match(word):
        return False
    if jieba_tokenizer().FREQ.get(word, 0) < _EVERYDAY:
        return True
    toks = jieba_pos_tokenizer().lcut(word)
    return len(toks) == 1 and toks[0].flag == "ns"


def _everyday_in(word: str, text: str) -> bool:
    """Does `text` use `word` at least twice other than as a place (not followed by a place suffix)?"""
    if word not in text:
        return False
    uses = sum(1 for m in re.finditer(re.escape(word), text) if not text.startswith(PLACE_ENDINGS, m.end()))
    return uses >= 2


@lru_cache(maxsize=1)
def _province_forms() -> frozenset[str]:
    return frozenset(provinces()) | frozenset(province_short(p) for p in provinces())


def gazetteer(corpus) -> dict:
    """Everything the question analysis knows about places, derived from a corpus (JSON-serialisable).

    {"aliases": {pilot: [forms, longest first]},
     "pilots": {pilot: {"province", "place", "level", "parents": [...], "pinyin": [...], "kind": "pilot"|"doc"}},
     "parents": {place form: [pilots]},          # 保定市 / 保定 → the pilots it contains
     "mentions": {place: [documents]},           # places plain documents name (not pilots of a pilots file)
     "places": {form: [[name, province, pilot it lies in]]},  # real places that are no pilot (cpca's table)
     "place_pinyin": {form: [readings]}}         # provinces' short forms and short parent forms, read in pinyin
    """
    aliases = all_aliases(corpus)
    pilots: dict[str, dict] = {}
    parents: dict[str, list[str]] = {}
    mentions: dict[str, list[str]] = {}
    for p in corpus.pilots:
        if not getattr(p, "province", ""):
            pilots[p.name] = {"province": "", "place": p.name, "level": getattr(p, "level", ""),
                              "parents": [], "pinyin": [], "kind": "doc"}
            for para in list(p.paragraphs())[:400]:
                for name, _ in places_in(para.text):
                    docs = mentions.setdefault(name, [])
                    if p.name not in docs:
                        docs.append(p.name)
            continue
        stems = {stem(v) for v in place_variants(p.place)}
        formal = _formal_names(p, next(iter(sorted(stems, key=len)), ""))
        forms = list(dict.fromkeys([*aliases[p.name], *formal]))
        aliases[p.name] = sorted(forms, key=lambda s: (-len(s), s))
        own = set(forms) | stems
        ps = _parents(p, own)
        pilots[p.name] = {
            "province": p.province, "place": p.place, "level": p.level, "parents": ps,
            "pinyin": sorted({r for v in {*stems, *place_variants(p.place)} for r in pinyin_readings(v)}),
            "kind": "pilot",
            # how the plan introduces the pilot: words a question may describe it by ("苏东坡的故乡")
            "intro": " ".join(x.text for x in p.intro)[:400],
        }
        for par in ps:
            for form in {par, stem(par)}:
                if len(form) >= 2 and not _is_generic(form):
                    lst = parents.setdefault(form, [])
                    if p.name not in lst:
                        lst.append(p.name)
    # a parent form that is itself a pilot's own form names that pilot, not its children
    own_forms = {a for names in aliases.values() for a in names}
    parents = {k: v for k, v in parents.items() if k not in own_forms}
    for name, info in pilots.items():  # a document named by the places its title opens with, unless a pilot's
        if info["kind"] == "doc":
            forms = [f for f in title_places(name) if f not in own_forms and f not in parents]
            aliases[name] = sorted(dict.fromkeys([name, *forms]), key=lambda s: (-len(s), s))
    text = "".join(re.sub(r"\s+", "", para.text) for p in corpus.pilots for para in p.paragraphs())
    places = real_places(pilots, own_forms | set(parents), text)
    # read here, once, so that a question process never loads pypinyin's tables for them
    place_pinyin = {form: pinyin_readings(form, limit=2)
                    for form in [province_short(p) for p in provinces()] + [k for k in parents if len(k) <= 4]}
    return {"aliases": aliases, "pilots": pilots, "parents": parents, "mentions": mentions, "places": places,
            "place_pinyin": place_pinyin}
