"""Whole lists: a question that asks for several items (哪几项, 分别, 包括哪些, 四大…) is answered with the
whole enumeration its best sentence belongs to — 一是…二是…, （一）…（二）…, ①…②…, 1.…2.… on one line — not its
first clause, and the number of items the question names is checked against the number quoted."""
from __future__ import annotations

import re

# the question asks for several things
_ASKS_SEVERAL = re.compile(r"哪几|哪些|分别|包括什么|包含什么|有什么|[两二三四五六七八九十]大|[两二三四五六七八九十][个项类种条点档]")
# an item marker and the series it belongs to
_MARKERS = (
    re.compile(r"[一二三四五六七八九十]+是"),
    re.compile(r"[（(][一二三四五六七八九十]+[）)]"),
    re.compile(r"[①②③④⑤⑥⑦⑧⑨⑩]"),
    re.compile(r"(?<![\d.])\d{1,2}[.．、](?!\d)"),
    re.compile(r"[（(]\d{1,2}[）)]"),
)
_CN = {c: i + 1 for i, c in enumerate("一二三四五六七八九十")} | {"两": 2}
_NAMED_COUNT = re.compile(r"([两二三四五六七八九十])(?:大|个|项|类|种|条|点|档|方面)")
MAX_CHARS = 320  # an enumeration longer than this is a section, not an answer: quote the sentence as before


def asks_several(question: str) -> bool:
    return _ASKS_SEVERAL.search(question) is not None


def named_count(question: str) -> int | None:
    """How many items the question itself says there are ("四大主导产业" → 4), if it says."""
    m = _NAMED_COUNT.search(question)
    return _CN.get(m.group(1)) if m else None


def whole_enumeration(text: str, sentence: str) -> tuple[str, int] | None:
    """The enumeration on `sentence`'s line of `text` that the sentence is an item of (from its first marker
    to the line's end) and its number of items; None when the sentence is not part of one."""
    at = text.find(sentence)
    if at < 0:
        return None
    start = text.rfind("\n", 0, at) + 1
    end = text.find("\n", at)
    line = text[start:] if end < 0 else text[start:end]
    for pat in _MARKERS:
        marks = list(pat.finditer(line))
        if len(marks) < 2:
            continue
        first = marks[0].start()
        span = line[first:].rstrip()
        if len(span) > MAX_CHARS or at - start + len(sentence) <= first:  # too long, or the sentence leads it in
            continue
        # the lead-in that names what is listed ("重点发展四大主导产业：一是…") belongs to the answer
        lead = line[:first]
        if lead and len(lead) <= 40 and re.search(r"[：:]\s*$", lead):
            span = line.strip()
        return span, len(marks)
    return None
