"""What PilotQA knows about its domain beyond any one word list: the plans' years, place-name suffixes and the
short name people use for a place. Every stage reads these from here, so a fact is stated once.

**Years.** The plans were written in 2015 (`PLAN_YEAR`): they state base-year figures of 2013–2015 (mostly
2014) and targets for 2017 and 2020. A year after the plan year is a target year; one up to it is of the plan's
present. `tests/unit/test_domain.py` checks these constants against the corpus itself (the most common year of
the plans' opening paragraphs, and the years the goals are set for), so they cannot drift from the documents.

**Place suffixes.** One table: each suffix, the level a pilot named with it has (`level_of`), and the roles it
plays in reading names (cutting a stem, ending a place name found in text, a suffix token jieba splits off, a
one-character suffix that makes another place of a pilot's stem).
"""
from __future__ import annotations

import re

from rag.text import YEAR  # noqa: F401 - the year pattern, with the years it is about

# The year the plans were written: later years are targets, earlier ones (and itself) the plans' present.
PLAN_YEAR = 2015
# The years the plans set their targets for, and the usual base year of their figures.
TARGET_YEARS = (2017, 2020)
BASE_YEAR = 2014



def is_target_year(year: str | int) -> bool:
    """A year after the plans were written: a target year."""
    return int(year) > PLAN_YEAR


# suffix, the level it gives a pilot ("" = none), roles: s = cut for a stem (房山区 → 房山), e = ends a
# county-or-larger place name in text (保定 + 市), t = a suffix token after a place jieba split off (雄安 + 新区),
# c = one character after a pilot's stem that makes another place (永安 + 镇 ≠ 永安市). Longest first.
_SUFFIXES: tuple[tuple[str, str, str], ...] = (
    ("高新区", "高新区", "s"),
    ("新区", "新区", "st"),
    ("自治县", "县", "set"),
    ("自治州", "州", "set"),
    ("地区", "", "set"),
    ("市", "市", "setc"),
    ("县", "县", "setc"),
    ("区", "区", "setc"),
    ("镇", "镇", "stc"),
    ("旗", "旗", "setc"),
    ("州", "州", "setc"),
    ("乡", "乡", "sc"),
    ("盟", "", "e"),
    ("省", "", "tc"),
    ("村", "", "c"),
)


def suffixes(role: str) -> tuple[str, ...]:
    """The place suffixes that play a role (see `_SUFFIXES`), longest first."""
    return tuple(s for s, _, roles in _SUFFIXES if role in roles)


STEM_SUFFIXES = suffixes("s")
PLACE_ENDINGS = suffixes("e")
SUFFIX_TOKENS = suffixes("t")
SUFFIX_CHARS = frozenset(suffixes("c"))
_PAREN = re.compile(r"[（(][^）)]*[）)]")


def level_of(place: str) -> str:
    """The level of a place by its suffix: 房山区 → 区, 南昌高新区 → 高新区, 芷江侗族自治县 → 县; 其他 if none."""
    bare = _PAREN.sub("", place).strip()
    for suf, level, _ in _SUFFIXES:
        if level and bare.endswith(suf):
            return level
    return "其他"


def short_name(place: str) -> str:
    """The name people use for a pilot's place: without the parenthesis (浦东新区 for 浦东新区（临港地区）)."""
    return _PAREN.sub("", place) or place
