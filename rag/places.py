"""Names users call a pilot by, derived from the corpus headings (never hand-written per pilot).

`北京市房山区` is also asked about as `房山区`, `房山`, `北京房山`; `河北省威县` as `威县`, `河北威县`;
`上海市浦东新区（临港地区）` as `浦东新区`, `临港`; `湖南省津市市—澧县` as `津市市`, `澧县`. An alias shared
by several pilots stays ambiguous (it maps to all of them) rather than being forced onto one.
"""
from __future__ import annotations

import re

# Longest first so `高新区` wins over `区`.
LEVEL_SUFFIXES = ("高新区", "新区", "自治县", "自治州", "市", "县", "区", "镇", "旗", "州", "乡")
_PROVINCE_SUFFIX = re.compile(r"(维吾尔自治区|壮族自治区|回族自治区|自治区|省|市)$")
_PAREN = re.compile(r"[（(]([^）)]*)[）)]")


def province_short(province: str) -> str:
    """`河北省` → `河北`, `内蒙古自治区` → `内蒙古`, `北京市` → `北京`."""
    return _PROVINCE_SUFFIX.sub("", province) or province


def _stem(place: str) -> str:
    for suf in LEVEL_SUFFIXES:
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
    if len(parts) > 1:  # `津市市—澧县` → 津市市, 津市, 澧县
        out.extend(parts)
    out.extend(_stem(p) for p in parts)
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
