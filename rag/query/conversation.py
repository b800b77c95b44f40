"""Follow-up questions: an elliptical question resolved against the earlier turns of a conversation.

`resolve(question, history, analyzer)` → `Resolution`: the standalone question (shown to the user as
"理解为：…"; the original is never silently replaced) and whether anything was carried over. Offline, and
written as rules over the `rag.query` analysis of each turn (no rule names a particular question; the cue words
are patterns here and word lists in `knowledge/data/`):

- the pilot scope, the measure, the year and the qualifier carry over from the latest earlier turn that
  had them (earlier turns are resolved first, so a turn can refer back past the last one);
- "<试点>呢？" (a pilot and no ask of its own) asks the previous ask of another pilot;
- "那<口径>的呢？" / "<年份>的呢？" swap the qualifier or the year in the previous ask;
- "它/该县/这个镇的<指标>呢？" asks a new measure of the previous pilot;
- "和<试点>比呢？" turns the previous ask into a comparison;
- a question that names its own pilot and has its own ask starts a new topic.

With an LLM configured, `rag.pipeline.PilotQA` asks it for the standalone question first (the LangChain
condense-question pattern, `prompts/condense.txt`) and falls back to this resolver.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Sequence

from rag.knowledge import lexicon
from rag.knowledge.domain import YEAR, is_target_year
from rag.query.aggregate_followups import Results, follow
from rag.query.analysis import QuestionAnalyzer
from rag.query.info import QuestionInfo, normalize
from rag.query.patterns import HIGHER, LOWER, OVERVIEW, REFERENCE
from rag.query.terms import qualifiers_in
from rag.text import jieba_tokenizer

_PRONOUN = re.compile(r"(它们|它|其|该(?:县|市|区|镇|旗|州|新区|试点|地)|这个(?:县|市|区|镇|旗|州|试点|地方)|"
                      r"那个(?:县|市|区|镇|旗|州|试点|地方)|这里|那里|当地|此地|本地)")
_LEAD = re.compile(r"^(那么|那就|那(?![里边儿个时年])|还有|另外|再问一下|再问|请问|那请问|再看看|再看|然后)[，,]?")
_OF_WHICH = re.compile(r"^(其中|当中|这其中|里面)")
_BOTH = re.compile(r"(?:这|那)?两个(?:数|数字|数据|指标|比率|比例|值)|这两项|两者|二者|这俩")
_BOTH_PLACES = re.compile(r"(?:这|那)?[两二三](?:个)?(?:区|县|市|镇|旗|地|者|个试点|个地方)|二者|两者")
_THAT_YEAR = re.compile(r"那一?年|同一?年|当年|那时候?")
_FIRST = re.compile(r"(?:刚才|回到|再说|说回)?(?:的)?第一个(?:试点|城市|地方|县|镇|市|区)?|最早(?:问|说)的")
_COMPARE_WORDS = re.compile(r"对比|比较|相比|比一比|(?:高|低|多|少|大|小)还是|哪个(?:更|最)?(?:高|低|多|少|大|小|快|慢)|谁(?:更|最)?(?:高|低|多|少|大|小)|两个.{0,4}比")
_TAIL = re.compile(r"(的呢|呢|吗|怎么样|如何|又是多少|是多少|情况)?[？?。!！\s]*$")
_COMPARE_TAIL = re.compile(r"^(?:和|与|跟|同)(.+?)(?:相比|比|对比|比较)(?:呢|一下|如何|怎么样|哪个.{0,4}|谁.{0,4})?[？?。]*$"
                           r"|^(.+?)(?:比|和|与|跟)(?:它|他|其|该\w|这个\w|那个\w)(?:比|相比)?(?:高|低|多|少|大|小|快|慢|怎么样|如何|谁)")
_YEAR = re.compile(rf"{YEAR}\s*年?")
_QTAIL = re.compile(r"(是多少|有多少|为多少|多少|有多大|多大|是什么|什么|有哪些|哪些|是谁|几个|几项)$")
_QWORD = re.compile(r"多少|多大|多长|多高|几|什么|谁|哪|如何|怎样|怎么|是否|有没有")


@dataclass
class Resolution:
    question: str              # the standalone question
    changed: bool              # something was carried over from the history
    info: QuestionInfo | None  # its analysis (None when nothing was analysed)
    looser: str | None = None  # the same without what was only carried over (the year), if that is refused


def _has_ask(info: QuestionInfo) -> bool:
    """The question asks something itself (a measure, content terms, or a shape of its own)."""
    return bool(info.measure or info.terms or info.shape in ("cross", "count", "overview", "aggregate"))


def _elliptical(text: str, info: QuestionInfo) -> bool:
    """Does the question lean on the earlier turns? A lead word, a pronoun, a "…呢" clause, a short question,
    no ask of its own, or a comparison that names one pilot (one pilot alone compares with nothing)."""
    t = text.strip()
    return bool(_LEAD.match(t) or _PRONOUN.search(t) or re.search(r"呢(?:[？?。，,！!\s]|$)", t) or len(t) <= 8
                or not _has_ask(info) or (len(info.pilots) == 1 and _COMPARE_WORDS.search(t))
                or (info.shape == "compare" and not info.measure and _only_comparing(info)))


def _only_comparing(info: QuestionInfo) -> bool:
    """"<甲>的高还是<乙>的高？": a comparison that names what to compare by nothing but its direction."""
    rest = _COMPARE_WORDS.sub("", _BOTH_PLACES.sub("", "".join(info.terms)))
    return len(re.sub(r"[的高低多少大小快慢还是哪个谁更最一些点呢吗]", "", rest)) < 2


def _measure_is_ask(info: QuestionInfo) -> bool:
    """Is the measure the whole ask (the measure, perhaps with 目标, and question words)? Else the ask's words say
    more than the measure and the question is best kept as the user worded it, with the pilot swapped."""
    return all(t in info.measure or re.sub(r"的?目标$", "", t) in info.measure for t in info.terms
               if not re.fullmatch(r"[\d.%年]+", t))


def _named_spans(info: QuestionInfo) -> bool:
    return any(s.kind in ("pilot", "parent") for s in info.places)


def _replace_spans(text: str, info: QuestionInfo, new: str) -> str:
    """`text` (the analysed form of a question) with its pilot names replaced by `new` (first kept, rest
    dropped)."""
    spans = [s for s in info.places if s.kind in ("pilot", "parent")]
    if not spans:
        return new + text
    key = info.key
    out, pos, done = [], 0, False
    for s in spans:
        out.append(key[pos:s.start])
        if not done:
            out.append(new)
            done = True
        pos = s.end
    out.append(key[pos:])
    return "".join(out)


def _strip(text: str) -> str:
    t = _LEAD.sub("", text.strip())
    return _TAIL.sub("", t).strip("，,")


def resolve(question: str, history: Sequence[str] | None, analyzer: QuestionAnalyzer,
            results: Results | None = None) -> Resolution:
    """The standalone form of `question` given the earlier user questions (oldest first). `results(ask)` names
    the pilots an answer across pilots put first (from the fact table), for "它"/"排第二的那个"/"它们"."""
    q = normalize(question)
    history = [h for h in (history or []) if isinstance(h, str) and h.strip()]
    if not history:
        return Resolution(q, False, None)
    # resolve the history itself first: a later turn may refer back through an earlier follow-up
    ctx: list[QuestionInfo] = []
    for h in history[-6:]:
        r = resolve_one(normalize(h), ctx, analyzer, results)
        ctx.append(r.info or analyzer.analyze(r.question))
    return resolve_one(q, ctx, analyzer, results)


_FLIP = re.compile(r"^(?:那)?(?:最高|最大|最多|最低|最小|最少)的?呢")
_RANK_ONLY = re.compile(r"^(?:那)?(?:排)?(?:倒数)?第\s*(?:\d+|[一两二三四五六七八九十])\s*(?:名|位)?的?呢")


def resolve_one(q: str, ctx: list[QuestionInfo], analyzer: QuestionAnalyzer,
                results: Results | None = None) -> Resolution:
    info = analyzer.analyze(q)
    if not ctx:
        return Resolution(q, False, info)
    last = next((c for c in reversed(ctx) if _has_ask(c)), None)
    if last is not None and last.shape != "aggregate" and not info.pilots and not info.measure \
            and (_FLIP.search(q) or _RANK_ONLY.search(q)):
        # a lone 最<高/低>的呢 after a question about one of the ranked pilots: the ranking before it, turned round
        last = next((c for c in reversed(ctx) if c.shape == "aggregate" and c.aggregate is not None), last)
    if last is not None and last.shape == "aggregate" and last.aggregate is not None:
        # a follow-up to an answer across pilots: the same ask changed, or a pilot it named
        got = follow(info, last.aggregate, results, lambda p: _short(analyzer, p, ctx), analyzer.fact_measures)
        if got is not None:
            text, ask = got
            if ask is None:
                return _done(analyzer, text)
            return Resolution(text, True, replace(analyzer.analyze(text), shape="aggregate", aggregate=ask,
                                                  scope=tuple(ask.pilots)))
    year_ref = _THAT_YEAR.search(q)
    if year_ref:  # "那年<指标>…": the year of the latest turn that had one
        last_year = next((c.years[0] for c in reversed(ctx) if c.years), None)
        if last_year:
            q = q[:year_ref.start()] + f"{last_year}年" + q[year_ref.end():]
            info = analyzer.analyze(q)
    # "<描述>的呢？" — nothing but a description and 呢 — names another pilot as surely as "那个…" does
    only_described = info.resolved_by == "description" and not info.measure and not _QWORD.search(q) \
        and re.search(r"呢[？?。!！\s]*$", q)
    if info.resolved_by in ("description", "document", "") and not only_described and (
            _PRONOUN.search(q) or not REFERENCE.search(q)
            or any(set(info.pilots) == set(c.pilots) for c in ctx[-1:])):
        # "这个市…" / "那年<指标>…": the pronoun or the ellipsis points back; a pilot the words happen to
        # describe is not what is meant, unless the question says "…那个县" about a new one
        info = analyzer.analyze(q, describe=False)
    named = info.resolved_by in ("name", "parent", "province", "description") and info.pilots
    if named and _has_ask(info) and not _elliptical(q, info):
        return Resolution(q, False, info)  # a question with its own pilot and ask: a new topic
    with_pilot = [c for c in ctx if c.pilots]
    first = _FIRST.search(q)
    last_pilot = (with_pilot[0] if first else with_pilot[-1]) if with_pilot else None
    last_ask = next((c for c in reversed(ctx) if _has_ask(c) and c.shape != "count"), None)
    if first and last_pilot is not None:
        # "回到第一个…": the first turn's ask is the base too
        last_ask = next((c for c in ctx if _has_ask(c) and c.pilots == last_pilot.pilots), last_ask)
    compare = _COMPARE_TAIL.match(_LEAD.sub("", q.strip())) or (info.pilots and _COMPARE_WORDS.search(q))
    if compare and info.pilots and last_pilot and last_ask:
        # "和<试点>比呢？" / "<试点>呢？对比一下" → the previous ask, of the previous pilot and this one
        others = [p for p in info.pilots if p not in last_pilot.pilots]
        if others:
            both = "和".join(_short(analyzer, p, [info, *ctx]) for p in [*last_pilot.pilots[:1], *others])
            if last_ask.measure:
                body = f"{both}{_when(last_ask)}{last_ask.measure}"
            else:
                body = _QTAIL.sub("", _strip(_replace_spans(last_ask.key, last_ask, both)))
            if last_ask.asks_figure and (info.compare_op or HIGHER.search(q) or LOWER.search(q)):
                lower = info.compare_op == "min" or (not info.compare_op and LOWER.search(q) and not HIGHER.search(q))
                return _done(analyzer, f"{body}哪个更{'低' if lower else '高'}？")
            return _done(analyzer, f"{body}分别是多少？" if last_ask.asks_figure else f"{body}分别是什么？")
    if not info.pilots and last_ask and last_ask.shape == "compare" and len(last_ask.pilots) >= 2 \
            and last_ask.measure and (HIGHER.search(q) or LOWER.search(q)) and _only_comparing(info):
        # the other direction asked after "A、B、C中谁最<高>": the same pilots, all of them, turned round
        names = "、".join(_short(analyzer, p, ctx) for p in last_ask.pilots)
        lower = LOWER.search(q) and not HIGHER.search(q)
        return _done(analyzer, f"{names}中，{_when(last_ask)}{last_ask.measure}最{'低' if lower else '高'}的是哪个？")
    recent = list(dict.fromkeys(p for c in reversed(ctx) for p in c.pilots[:2]))[:2]
    if not info.pilots and len(recent) == 2 and last_ask and last_ask.measure and last_ask.asks_figure \
            and (HIGHER.search(q) or LOWER.search(q) or _COMPARE_WORDS.search(q)) and _only_comparing(info):
        # "哪个高？" after two pilots were asked the same thing in turn: those two, compared
        both = "和".join(_short(analyzer, p, ctx) for p in reversed(recent))
        lower = LOWER.search(q) and not HIGHER.search(q)
        return _done(analyzer, f"{both}{_when(last_ask)}{last_ask.measure}哪个更{'低' if lower else '高'}？")
    if (info.shape in ("overview", "count") or OVERVIEW.search(q)) and _PRONOUN.search(q) and not info.pilots \
            and with_pilot:
        # "介绍一下它的试点方案": a whole ask of its own, about the previous pilot
        return _done(analyzer, _PRONOUN.sub(_short(analyzer, last_pilot.pilots[0], ctx), q, count=1))
    # "那<描述><试点>呢？": a pilot (however described) and no question word or measure of its own
    same_ask = info.pilots and (not _has_ask(info) or (not info.measure and not _QWORD.search(q)))
    if same_ask and last_ask and not (info.qualifier or info.years):
        # "<试点>呢？" → the previous ask, of this pilot
        if len(info.pilots) >= 2 and last_ask.measure and last_ask.asks_figure:
            # "那<甲>和<乙>呢？": the previous ask, of both
            both = "和".join(_short(analyzer, p, [info, *ctx]) for p in info.pilots)
            return _done(analyzer, f"{both}{_when(last_ask)}{last_ask.measure}分别是多少？")
        short = _short(analyzer, info.pilots[0], [info, *ctx])
        if last_ask.measure and (_measure_is_ask(last_ask) or not _named_spans(last_ask)):
            return _done(analyzer, f"{short}{_when(last_ask)}{last_ask.measure}{_question_tail(last_ask)}")
        body = _strip(_replace_spans(last_ask.key, last_ask, short))
        if _QWORD.search(_QTAIL.sub("", body)):
            return _done(analyzer, body + "？")  # its own question words stay where the user put them
        return _done(analyzer, _QTAIL.sub("", body) + _question_tail(last_ask))
    if last_pilot is None:
        if last_ask is not None and not info.pilots and (info.qualifier or info.years) \
                and not _new_measure(info, last_ask, analyzer):
            # the previous ask named no pilot (a place no document covers, say): its own words, swapped, so
            # the follow-up is answered — or refused — as that question would be
            return _done(analyzer, _QTAIL.sub("", _strip(_swapped(info, last_ask))) + _question_tail(last_ask))
        return Resolution(q, False, info)
    # a follow-up about the previous pilot — or about a pilot it names again ("回到<试点>，它<口径>的呢？")
    subject = info.pilots or last_pilot.pilots
    pilot = _short(analyzer, subject[0], [info, *ctx])
    if not info.pilots and len(last_pilot.pilots) > 1 and last_pilot.shape == "compare":
        pilot = "和".join(_short(analyzer, p, ctx) for p in last_pilot.pilots)
    base = last_ask or last_pilot
    own = _strip(_PRONOUN.sub("", q))
    measures = list(dict.fromkeys(c.measure for c in reversed(ctx) if c.measure))[:2][::-1]
    if _BOTH.search(q) and len(measures) == 2 and (not info.measure or _BOTH.search(info.measure)):
        # "<年份>这两个数…": the measures of the last two turns, together
        year = (info.years[0] + "年") if info.years else _year(base)
        return _done(analyzer, f"{pilot}{year}{measures[0]}和{measures[1]}分别是多少？")
    if _OF_WHICH.match(q.strip()) and base.measure:
        # "其中<部分>有多少？": a part of the previous measure
        rest = _OF_WHICH.sub("", q.strip())
        return _done(analyzer, f"{pilot}{_year(base)}{base.measure}中{rest}")
    if (info.qualifier or info.years or info.period) and not _new_measure(info, base, analyzer):
        # "那<口径>的呢？" / "<年份>的呢？" / "基期呢？": the previous ask with the qualifier or year swapped
        if base.measure:
            measure = base.measure
            qualified = _qualified(info, base, analyzer)  # scans the documents' text: once
            if qualified:
                measure = qualified
            elif info.qualifier and base.qualifier and info.qualifier != base.qualifier:
                measure = measure.replace(base.qualifier, info.qualifier, 1)
            elif info.qualifier and not base.qualifier:
                measure = info.qualifier + measure
            year = (info.years[0] + "年") if info.years else ("" if info.period else _year(base))
            if info.period == "base":
                return _done(analyzer, f"{pilot}基期{measure}{_question_tail(base)}")
            target = info.period == "target" or "目标" in base.key
            goal = "目标" if target and (not info.years or is_target_year(info.years[0])) else ""
            return _done(analyzer, f"{pilot}{year}{measure}{goal}{_question_tail(base)}")
        text = _swapped(info, base)
        if not base.pilots:
            text = pilot + text
        return _done(analyzer, _QTAIL.sub("", _strip(text)) + _question_tail(base))
    swapped = _swap_sibling(info, base)
    if swapped:
        # "<阶段乙>呢？" after "…<阶段甲>…": the previous ask with the sibling term swapped
        return _done(analyzer, swapped)
    if _QWORD.search(q):
        # "该区的<指标>有多大？": a full ask about the previous pilot — name it; a bare "目标要…到多少"
        # keeps the previous measure
        body = _PRONOUN.sub("", _LEAD.sub("", _FIRST.sub("", q.strip())), count=1).strip("的，, ")
        for name in (s.text for s in info.places if s.kind == "pilot"):
            body = body.replace(name, "").strip("的，, ")
        if not info.measure and base.measure and _only_ask_words(info):
            # "目标要…到多少？": the previous measure's target
            return _done(analyzer, f"{pilot}{base.measure}目标是多少？")
        return _done(analyzer, f"{pilot}的{body}")
    # "它的<指标>目标呢？": a new ask of the previous pilot, in the previous ask's year
    year = _year(base) if not info.years else ""
    body = own if own else _strip(base.key)
    tail = _question_tail(info if _has_ask(info) else base)
    done = _done(analyzer, f"{pilot}{year}的{body}{tail}")
    if year and own:
        # a new measure asked in the previous ask's year; an area or a name has no year, so without it too
        done.looser = re.sub(r"的的", "的", f"{pilot}的{body}{tail}")
    return done


def _swapped(info: QuestionInfo, base: QuestionInfo) -> str:
    """The previous ask's words with the follow-up's qualifier and year (or 基期…) in place of its own."""
    text = base.key
    if info.qualifier and base.qualifier and info.qualifier != base.qualifier:
        text = text.replace(base.qualifier, info.qualifier)
    if info.period and not info.years:
        text = _YEAR.sub("", text)
        if info.period == "base":
            text = re.sub(r"目标", "", text)
        return _insert_year(text, base, "基期" if info.period == "base" else "届时")
    if info.years:
        y = info.years[0] + "年"
        text = _YEAR.sub(y, text, count=1) if base.years else _insert_year(text, base, y)
    return text


def _only_ask_words(info: QuestionInfo) -> bool:
    """The follow-up's content is only words like 目标/规划/提高到 (`data/ask_words.txt`)."""
    words = lexicon.words("ask_words.txt")
    rest = "".join(info.terms)
    for w in sorted(words, key=len, reverse=True):
        rest = rest.replace(w, "")
    return len(re.sub(r"[要将会的了]", "", rest)) < 2


def _when(info: QuestionInfo | None) -> str:
    """The previous ask's year, or its base-year word (基期) when it asked for the base year without one."""
    if info is not None and not info.years and info.period == "base":
        return "基期"
    return _year(info)


def _year(info: QuestionInfo | None) -> str:
    return info.years[0] + "年" if info is not None and info.years else ""


def _swap_sibling(info: QuestionInfo, base: QuestionInfo | None) -> str | None:
    """A short follow-up whose one content term is a sibling of a term of the previous ask — same length,
    same first two and last characters (改革完善期 / 改革探索期) — asks the previous ask of that sibling."""
    if base is None or len(info.terms) != 1 or _QWORD.search(info.key):
        return None
    t = info.terms[0]
    if len(t) < 3:
        return None
    key = base.key
    for i in range(len(key) - len(t) + 1):
        s = key[i:i + len(t)]
        if s != t and s[:2] == t[:2] and s[-1] == t[-1]:
            body = _QTAIL.sub("", _strip(key[:i] + t + key[i + len(t):]))
            return body + _question_tail(base)
    # "副<职务>呢？" after a question about the <职务>: a term of the previous ask, narrowed
    for w in sorted(set(jieba_tokenizer().lcut(key)), key=len, reverse=True):
        if w != t and len(w) >= 2 and t.endswith(w) and len(t) - len(w) <= 2 and w in key:
            body = _QTAIL.sub("", _strip(key.replace(w, t, 1)))
            return body + _question_tail(base)
    return None


def _bare(m: str) -> str:
    for q in qualifiers_in(m):
        m = m.replace(q, "")
    return m


def _qualified(info: QuestionInfo, base: QuestionInfo, analyzer: QuestionAnalyzer | None) -> str | None:
    """"那<口径>人口的呢" after a rate: the follow-up's words and the previous measure make one measure the
    documents state (户籍人口城镇化率), so the words are the rate's qualifier, not a new measure (户籍人口)."""
    if analyzer is None or not (info.measure and base.measure and info.qualifier):
        return None
    joined = info.measure + _bare(base.measure)
    return joined if joined != base.measure and analyzer.states(joined) else None


def _new_measure(info: QuestionInfo, base: QuestionInfo, analyzer: QuestionAnalyzer | None = None) -> bool:
    """Does the follow-up name a measure of its own (not just a qualifier or a year)? "该市<年份>的<指标>有
    多少？" does (a full ask); "改成<口径>口径呢？" does not: its measure, qualifiers aside, is part of the
    previous one."""
    bare = _bare
    if _qualified(info, base, analyzer):
        return False
    if not info.measure:
        # "城区<一个新的问法>要达到多少？": a qualifier, then words of an ask the previous turn never had
        rest = [bare(t) for t in info.terms]
        return bool(info.qualifier and _QWORD.search(info.key)) and not _only_ask_words(info) \
            and any(len(t) >= 2 and t not in base.key for t in rest)
    if _QWORD.search(info.key):
        return not (base.measure and info.measure == base.measure)
    if not base.measure:
        return True

    mine, theirs = bare(info.measure), bare(base.measure)
    return not (mine and (mine in theirs or theirs.endswith(mine[-3:])))


def _insert_year(text: str, base: QuestionInfo, year: str) -> str:
    spans = [s for s in base.places if s.kind in ("pilot", "parent")]
    if spans:
        end = spans[0].end
        return text[:end] + year + text[end:]
    return year + text


def _question_tail(info: QuestionInfo) -> str:
    if info.answer_type in ("number", "percent"):
        return "是多少？"
    if info.answer_type == "person":
        return "是谁？"
    if info.answer_type == "list":
        return "有哪些？"
    return "是什么？"


def _short(analyzer: QuestionAnalyzer, pilot: str, said: Sequence[QuestionInfo] = ()) -> str:
    """The name users say: the name the conversation used for the pilot (临港), else the place without its
    province (房山区 for 北京市房山区)."""
    for info in said:
        for s in info.places:
            if s.kind == "pilot" and s.pilots == (pilot,) and len(s.text) >= 2:
                return s.text
    return analyzer.short_name(pilot)


def _done(analyzer: QuestionAnalyzer, text: str) -> Resolution:
    text = re.sub(r"的的", "的", text)
    return Resolution(text, True, analyzer.analyze(text))


__all__ = ["Resolution", "resolve", "resolve_one"]
