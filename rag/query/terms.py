"""The words of a question: content segments, qualifiers (户籍/常住…), the terms of a which-pilots question,
and the small tests the analysis makes on them. Split from `rag.question`, which uses them; nothing here
knows the gazetteer.
"""
from __future__ import annotations

import re
from functools import lru_cache
from rag.knowledge import lexicon
from rag.query.info import QuestionInfo
from rag.query.patterns import CROSS, QUOTED
from rag.text import jieba_pos_tokenizer, jieba_tokenizer, norm

_WITHIN = {"保障": "保障", "目标": "目标", "任务": "任务", "引言": "引言", "概况": "引言"}
_WITHIN_RX = re.compile(r"在?(?:其|的)?(保障措施|保障|总体目标|目标|主要任务|任务|试点任务)(?:部分|章节|一节)?(?:里|中|内|方面)")
_ALTERNATIVES = re.compile(r"或者|或是|或|还是|以及|及其|、|/")


def fills_a_slot(unplaced: str, words: list[str]) -> bool:
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


def is_word(s: str) -> bool:
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


def content_left(q: str, rx: re.Pattern) -> bool:
    """Does a count question ask about something besides the count ("几个试点提出…" is a cross question)?"""
    rest = rx.sub("|", q)
    for w in sorted(lexicon.words("count_frame.txt") | lexicon.words("not_places.txt"), key=len, reverse=True):
        rest = rest.replace(w, "|")
    return any(len(t) >= 2 for t in segments(rest))


def _of_stop_words(tok: str, stop: frozenset[str]) -> bool:
    """A token jieba glued from question words ("各多大" = 各 + 多大) is one too."""
    if len(tok) < 2:
        return False
    return any(tok[:i] in stop and (tok[i:] in stop or _of_stop_words(tok[i:], stop)) for i in range(1, len(tok)))


def segments(q: str, extra_stop: frozenset[str] = frozenset()) -> list[str]:
    """Runs of content tokens of `q` (jieba tokens that are not question words or punctuation)."""
    stop = lexicon.words("question_words.txt") | extra_stop
    segs, cur = [], []
    for tok in jieba_tokenizer().lcut(q):
        glued = tok not in stop and _of_stop_words(tok, stop)
        if tok in stop or tok == "|" or not re.search(r"[\w%]", tok) or glued:
            if cur:
                segs.append("".join(cur))
                cur = []
            if glued and any(w in tok for w in lexicon.table("paraphrases.tsv")):
                segs.append(tok)  # an ask that says what kind of figure (有多远 → 公里) stays a term of its own
        else:
            cur.append(tok)
    if cur:
        segs.append("".join(cur))
    return [s for s in segs if len(s) >= 2 or re.search(r"\d", s)]


_EXAMPLE = re.compile(r"^(?:比如说?|例如|譬如|诸如|像是|像|包括|也就是|即)")
_SOME_KIND = re.compile(r"某种|某类|某些|某个|某一类?")
# "A、B这类C": what follows the marker names the kind the alternatives belong to, not an alternative itself
_KIND = re.compile(r"这类|这种|那种|这一类|一类|之类的?|这些|那些|这样的?|等等")
_ALIAS = re.compile(r"^(?:或者叫|或称|也叫|又叫|又称|简称|全称|即|也就是|包括|含)")


def cross_terms(qi: QuestionInfo) -> tuple[list[str], str | None, list[str], list[str]]:
    """The terms a "which pilots…" question looks for, as alternatives (any qualifies a pilot); the section kind
    it is limited to ("在保障措施里…" → 保障); the phrases that only describe the kind of thing asked (the words
    after "这类"), which `rag.cross` uses as weaker clues; and the other names a parenthesis gives the term
    ("公租房（公共租赁住房）"), which count only where the documents use them."""
    q = qi.unplaced
    within = None
    m = _WITHIN_RX.search(q)
    if m:
        within = next((v for k, v in _WITHIN.items() if k in m.group(1)), None)
        q = q[:m.start()] + "|" + q[m.end():]
    quoted = [norm(t) for t in QUOTED.findall(qi.text) if len(norm(t)) >= 2]
    q = QUOTED.sub("|", q)
    # a parenthesis names the term another way ("公租房（公共租赁住房）", "（或者叫…）") or explains it
    # — "（改造或清理）" lists what is done with it, not examples of it ("（三规、四规之类）"): that explains
    named = [_ALIAS.sub("", inner.strip()) for inner in re.findall(r"[（(]([^）)]*)[）)]", q)
             if _ALIAS.match(inner.strip()) or not (_frame_led(inner.strip())
                                                   or (_ALTERNATIVES.search(inner) and not _KIND.search(inner)))]
    body = re.sub(r"[（(][^）)]*[）)]", "", q)
    body = CROSS.sub("|", body)
    body = _SOME_KIND.sub("", body)
    frame = cross_frame()
    pieces: list[str] = []
    kinds: list[str] = []

    def add(part: str, into: list[str]) -> None:
        part = _EXAMPLE.sub("", part)
        alts = _ALTERNATIVES.split(part)
        for i, alt in enumerate(alts):
            if i + 1 < len(alts) and _bare_verb(alt):
                continue  # "编制或推行<清单>": the verbs share the object that follows; a verb alone is no term
            # jieba words, with framing words (提到, 要搞, 之类…) dropped from both ends: 要搞海绵城市 → 海绵城市
            toks = [t for t in jieba_tokenizer().lcut(_EXAMPLE.sub("", alt)) if t.strip()]
            while toks and toks[0] in frame:
                toks.pop(0)
            while toks and toks[-1] in frame:
                toks.pop()
            t = "".join(toks)
            if len(t) >= 2 and t not in frame:
                into.append(t)

    for part in re.split(r"[|，,。？?！!：:；;\s]+", body):
        if quoted and not _ALTERNATIVES.search(part) and not part.startswith(("或", "、")):
            continue  # "…上强调“<术语>”": the quoted term is what is asked; the rest frames it
        head, *rest = _KIND.split(part)
        add(head, pieces)
        for r in rest:
            add(r, kinds)
    aliases: list[str] = []
    for inner in named:
        add(inner, aliases)
    generic = lexicon.words("cross_generic.txt")
    pieces = [p for p in dict.fromkeys(quoted + pieces) if p not in generic]
    kinds = [k for k in dict.fromkeys(kinds) if k not in generic and k not in pieces]
    aliases = [a for a in dict.fromkeys(aliases) if a not in generic and a not in pieces]
    return pieces, within, kinds, aliases


@lru_cache(maxsize=1)
def cross_frame() -> frozenset[str]:
    """The words that frame a which-pilots question around its term (提到, 之类, 哪些…), never a term."""
    return frozenset(lexicon.words("cross_frame.txt") | lexicon.words("question_words.txt"))


def _frame_led(text: str) -> bool:
    """Does some alternative of `text` start with a framing word (做评估, 搞治理…)? Then it explains."""
    frame = lexicon.words("cross_frame.txt")
    for alt in _ALTERNATIVES.split(text):
        toks = [t for t in jieba_tokenizer().lcut(alt) if t.strip()]
        if toks and toks[0] in frame:
            return True
    return False


def _bare_verb(text: str) -> bool:
    """Is `text` nothing but verbs (要编制), with the object it shares with the next alternative left out?"""
    toks = [t for t in jieba_pos_tokenizer().lcut(text) if t.word.strip()]
    return bool(toks) and all(t.flag == "v" for t in toks)


def period_of(text: str) -> str | None:
    """"base" when the question asks for the plan's base year without naming it (基期, 现在…), "target" for its
    target year (到时候, 届时…), else None (`data/period_words.txt`)."""
    for label, *words in lexicon.groups("period_words.txt"):
        if label == "base" and _PLANNED.search(text):
            continue  # "现在定的目标是多少": the plan's target, asked as of now
        for w in words:
            # 现在 of 体现在/表现在 is no time word
            if re.search(r"(?<![体表实呈展])" + re.escape(w), text):
                return label
    return None


_PLANNED = re.compile(r"目标|规划|计划|力争|预计|将来|未来|预期")


def without_period(measure: str) -> str:
    """A measure without the time words before it (基期<指标> → <指标>)."""
    words = sorted((w for _, *ws in lexicon.groups("period_words.txt") for w in ws), key=len, reverse=True)
    changed = True
    while changed:
        changed = False
        for w in words:
            if measure.startswith(w) and len(measure) > len(w) + 1:
                measure, changed = measure[len(w):].lstrip("的"), True
    return measure

