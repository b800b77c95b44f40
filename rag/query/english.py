"""English questions rendered as Chinese terms, so the Chinese analysis and BM25 can read them."""
from __future__ import annotations

import re

from rag.knowledge import lexicon
from rag.knowledge.gazetteer import stem
from rag.text import YEAR


def from_english(text: str, pinyin: dict[str, str], place_pinyin: dict[str, str], pilot_info: dict[str, dict]) -> str:
    """An English question rendered as Chinese terms in the same order: place names through the pinyin of
    the corpus's places, policy words through `data/en_zh.tsv`; numbers kept; other words dropped."""
    s = " " + re.sub(r"['’]s\b", " ", text.lower()) + " "
    s = re.sub(r"[?!.,;:()\"]", " ", s)
    s = re.sub(r"(?<=[a-z])-(?=[a-z])", " ", s)  # "resident-population" is the glossary's "resident population"
    out: list[tuple[int, str]] = []
    taken = [False] * len(s)

    def claim(a: int, b: int, zh: str) -> None:
        if not any(taken[a:b]):
            for k in range(a, b):
                taken[k] = True
            out.append((a, zh))

    words = [(m.start(), m.end(), m.group()) for m in re.finditer(r"[a-z]+", s)]
    for n in (3, 2, 1):  # place names: "fang shan", "fangshan", "lin gang"
        for i in range(len(words) - n + 1):
            joined = "".join(w for _, _, w in words[i:i + n])
            pilot = pinyin.get(joined)
            if pilot:
                place = pilot_info.get(pilot, {}).get("place") or pilot
                claim(words[i][0], words[i + n - 1][1], stem(place))
            elif joined in place_pinyin:
                claim(words[i][0], words[i + n - 1][1], place_pinyin[joined])
    gloss = lexicon.table("en_zh.tsv")
    for phrase in sorted(gloss, key=len, reverse=True):
        for m in re.finditer(r"(?<![a-z])" + re.escape(phrase) + r"(?![a-z])", s):
            claim(m.start(), m.end(), gloss[phrase][0])
    for m in re.finditer(r"\d+(?:\.\d+)?%?", s):
        num = m.group()
        claim(m.start(), m.end(), num + "年" if re.fullmatch(YEAR, num) else num)
    return "".join(zh for _, zh in sorted(out)) or text

