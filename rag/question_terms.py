"""The words of a question: content segments, qualifiers (户籍/常住…), the terms of a which-pilots question,
and the small tests the analysis makes on them. Split from `rag.question`, which uses them; nothing here
knows the gazetteer.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING

from . import lexicon
from .text import jieba_tokenizer, norm

if TYPE_CHECKING:  # pragma: no cover
    from .question import QuestionInfo

_QUOTED = re.compile(r"[“\"「『‘']([^”\"」』’']{1,30})[”\"」』’']")
_CROSS = re.compile(
    r"(哪些|哪几个|哪几|什么)(试点|地方|城市|地区|县|镇|市|区|文件|文档|方案)"
    r"|(试点|地方|城市|文件)(县|镇|市|区)?(都|还|一共|共)?(有|是)(哪些|谁)|分别是哪些|分别是哪几个|哪里(提|有)"
    r"|试点(里|中|当中)?(有)?(哪些|哪几个|哪几)"
)
_WITHIN = {"保障": "保障", "目标": "目标", "任务": "任务", "引言": "引言", "概况": "引言"}
_WITHIN_RX = re.compile(r"在?(?:其|的)?(保障措施|保障|总体目标|目标|主要任务|任务|试点任务)(?:部分|章节|一节)?(?:里|中|内|方面)")
_ALTERNATIVES = re.compile(r"或者|或是|或|还是|以及|及其|、|/")


def _fills_a_slot(unplaced: str, words: list[str]) -> bool:
    """The describing words make up (three quarters or more of) one compared item of the question — a piece
    between connectors (和/与/跟/比) and punctuation — as a name would: "<描述>和<试点>" compares a
    pilot, "<试点>和全国平均水平比" does not."""
    for piece in re.split(r"[，,。？?！!；;和与跟同比]", unplaced):
        got = sum(len(w) for w in words if w in piece)
        if got and got >= 0.75 * len(piece):
            return True
    return False


def _alternation(words) -> str:
    return "|".join(sorted(map(re.escape, words), key=len, reverse=True))


@lru_cache(maxsize=1)
def measure_patterns() -> tuple[re.Pattern, re.Pattern, re.Pattern]:
    """Compiled once from the word lists: (a measure up to its head word, anchored at the start — "…城镇化率目标"
    → "…城镇化率"; a measure from its qualifier or modifier (户籍, 常住, 人均…) on to its head; a measure from up
    to six characters before its head)."""
    heads = _alternation(lexicon.words("measure_heads.txt"))
    quals = {m.rstrip("*") for line in lexicon.ordered("qualifiers.txt") for m in line.split()}
    marks = _alternation(quals | lexicon.words("measure_modifiers.txt"))
    return (re.compile(rf"^(.*(?:{heads}))"), re.compile(rf"(?:{marks})[\u4e00-\u9fff]{{0,6}}?(?:{heads})"),
            re.compile(rf"[\u4e00-\u9fff]{{0,6}}(?:{heads})"))


def _is_word(s: str) -> bool:
    """A dictionary word (市政, 区位, 市场…): the pilot's stem is followed by a word, not by another suffix."""
    return len(s) == 2 and jieba_tokenizer().FREQ.get(s, 0) > 0


def qualifiers_in(text: str) -> list[str]:
    """The noun qualifiers a text puts on its measures (户籍, 常住…), in order, as whole jieba words or word
    starts (户籍人口); 城镇 inside 城镇化率 is no qualifier."""
    members = {w for grp in lexicon.groups("qualifiers.txt") for w in grp}
    out: list[str] = []
    for t in jieba_tokenizer().lcut(text):
        if t in members:
            out.append(t)
            continue
        if t.endswith(("化", "化率")):
            continue
        for w in members:
            if t.startswith(w) and len(t) > len(w):
                out.append(w)
                break
    return list(dict.fromkeys(out))


def qualifier_of(text: str) -> str | None:
    """The first qualifier of a text (see `qualifiers_in`)."""
    q = qualifiers_in(text)
    return q[0] if q else None


def _content_left(q: str, rx: re.Pattern) -> bool:
    """Does a count question ask about something besides the count ("几个试点提出…" is a cross question)?"""
    rest = rx.sub("|", q)
    for w in sorted(lexicon.words("count_frame.txt") | lexicon.words("not_places.txt"), key=len, reverse=True):
        rest = rest.replace(w, "|")
    return any(len(t) >= 2 for t in segments(rest))


def segments(q: str, extra_stop: frozenset[str] = frozenset()) -> list[str]:
    """Runs of content tokens of `q` (jieba tokens that are not question words or punctuation)."""
    stop = lexicon.words("question_words.txt") | extra_stop
    segs, cur = [], []
    for tok in jieba_tokenizer().lcut(q):
        if tok in stop or tok == "|" or not re.search(r"[\w%]", tok):
            if cur:
                segs.append("".join(cur))
                cur = []
        else:
            cur.append(tok)
    if cur:
        segs.append("".join(cur))
    return [s for s in segs if len(s) >= 2 or re.search(r"\d", s)]


def cross_terms(qi: QuestionInfo) -> tuple[list[str], str | None]:
    """The terms a "which pilots…" question looks for, as alternatives (any qualifies a pilot), and the
    section kind it is limited to ("在保障措施里…" → 保障)."""
    q = qi.unplaced
    within = None
    m = _WITHIN_RX.search(q)
    if m:
        within = next((v for k, v in _WITHIN.items() if k in m.group(1)), None)
        q = q[:m.start()] + "|" + q[m.end():]
    quoted = [norm(t) for t in _QUOTED.findall(qi.text) if len(norm(t)) >= 2]
    q = _QUOTED.sub("|", q)
    body = re.sub(r"[（(][^）)]*[）)]", "", q)
    body = _CROSS.sub("|", body)
    frame = lexicon.words("cross_frame.txt") | lexicon.words("question_words.txt")
    pieces: list[str] = []
    for part in re.split(r"[|，,。？?！!：:；;\s]+", body):
        if quoted and not _ALTERNATIVES.search(part) and not part.startswith(("或", "、")):
            continue  # "…上强调“<术语>”": the quoted term is what is asked; the rest frames it
        for alt in _ALTERNATIVES.split(part):
            # jieba words, with framing words (提到, 要搞, 之类…) dropped from both ends: 要搞海绵城市 → 海绵城市
            toks = [t for t in jieba_tokenizer().lcut(alt) if t.strip()]
            while toks and toks[0] in frame:
                toks.pop(0)
            while toks and toks[-1] in frame:
                toks.pop()
            t = "".join(toks)
            if len(t) >= 2 and t not in frame:
                pieces.append(t)
    generic = lexicon.words("cross_generic.txt")
    pieces = [p for p in dict.fromkeys(quoted + pieces) if p not in generic]
    return pieces, within
