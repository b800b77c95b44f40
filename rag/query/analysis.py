"""One question analysis, used by the retriever and by every answerer.

`QuestionAnalyzer(gazetteer, pilot_texts).analyze(question)` → `QuestionInfo`: which pilots the question is
about (named, named through a parent place or province, or described: "<名人>出生地那个…"), the place it
names that is no pilot, the years, qualifier (户籍/常住) and measure it asks for, the answer type, the
content terms with the words the documents use for them, and the question's shape:

- `single`   one fact or figure (the default);
- `cross`    "which pilots mention X" (the complete list is wanted);
- `overview` "介绍一下X的试点方案";
- `count`    a count from the document's structure ("一共有多少个试点");
- `compare`  two or more pilots side by side ("X和Y分别…", "哪个更高").

An English question is first rendered in Chinese through a glossary (`data/en_zh.tsv`) and the pinyin of
the corpus's place names, then analysed like any other. Word lists live in `rag/data/` (`rag.lexicon`).
"""
from __future__ import annotations

import re

from rag.knowledge import lexicon
from rag.knowledge.domain import YEAR, short_name
from rag.knowledge.gazetteer import pinyin_readings, province_short, provinces
from rag.query import cross_terms as choice
from rag.query.aggregate import read_aggregate
from rag.query.english import from_english
from rag.query.info import QuestionDraft, QuestionInfo, freeze, is_english, normalize
from rag.query.patterns import CROSS, HIGHER, LOWER, OVERVIEW, REFERENCE
from rag.query.places import PlaceResolver
from rag.query.terms import (
    content_left,
    cross_terms,
    fills_a_slot,
    measure_patterns,
    period_of,
    qualifier_of,
    segments,
    without_period,
)
from rag.text import jieba_tokenizer, norm, to_simplified

_YEAR = re.compile(rf"({YEAR})(?=\s*年|\D|$)")

_COUNT = re.compile(r"(?<!哪)(多少|几)个?(试点|地方|城市|县|镇|市|区)|试点(总)?(数量?|个数)|一共(有)?(多少|几)"
                    r"|试点.{0,6}?(一共|总共|共)?(有)?(?<!哪)(多少|几)个|(镇|县|市|区)一?级的?(试点)?(一共|共)?(有)?(多少|几)个")
# "主要任务有几项": a count of a pilot's own items (its document's structure)
_ITEM_COUNT = re.compile(r"(多少|几)(项|条|个方面|大类|大项|大块|块|个部分|部分)|(任务|措施|举措|工程|行动|目标)(共|一共|总共)?(有|分)?(多少|几)个")
_WHO_DOES = re.compile(r"的(?:都)?(?:有|是)(?:哪些|哪几个)[？?。]?$")
_COMPARE = re.compile(r"分别|对比|比较|相比|比一比|哪个(更|最)|谁(更|最)|(高|低|多|少|大|小)还是|和.{1,12}比|与.{1,12}比|跟.{1,12}比|差距|区别|异同")
_ASKS_PERCENT = re.compile(r"率|比例|比重|占比|百分|几成")
_ASKS_NUMBER = re.compile(r"多少|(?<!哪)几[个家位项条批所座倍年万千百亿人户]|多大|多长|多远|多高|多宽|多重|规模|体量|第几|几成|增速|数量")
# "谁的面积大" / "谁更高" compare, they ask no person
_ASKS_PERSON = re.compile(r"谁(?![的更最高低多少大小快慢强弱])|一把手|负责人|牵头|组长|挂帅|领导是")
_ASKS_PLACE = re.compile(r"哪个(镇|县|区|市|地方|乡|村|街道|部门|单位|园区)|哪里|哪儿|在哪|什么地方|何处|跟哪|与哪|和哪")
_ASKS_DATE = re.compile(r"什么时候|何时|哪天|哪一天|哪年|哪一年|几月|什么日期|起止|截止日期|有效期")
_ASKS_NAME = re.compile(r"叫什么|什么名字|名称是|称为什么|什么(模式|机制|理念|口号|平台|工程|战略|思路|品牌|称号|定位)|指的?是什么")
_ASKS_LIST = re.compile(r"哪些|哪几|哪两|哪三|哪四|哪五|分别|包括|有什么|都有")
_LEAD_VERBS = re.compile(
    r"^(以|把|将|在|对)?(大力|积极|加快|推进|推动|实施|开展|建设|发展|打造|探索|建立|运用|利用|采用|实行|推行|推广|"
    r"设立|培育|引进|加强|完善|深化|创新|构建|提升|促进|支持|鼓励|做好|组建|实现|要求|重视|搞|做)+"
)
_FLAT = re.compile(r"[^\w]")
_ASCII_WORD = re.compile(r"[A-Za-z][A-Za-z'\-]*")


def _title_words(pilot_texts: dict[str, str]) -> frozenset[str]:
    """The jieba words of the title every plan shares (…国家新型城镇化综合试点工作方案要点): the longest run of
    characters that opens every pilot's text, derived from the corpus."""
    heads = [t[:80] for t in pilot_texts.values() if t.strip()]
    if len(heads) < 2:
        return frozenset()
    first, best = heads[0], ""
    for i in range(len(first)):
        for j in range(len(first), i + max(len(best), 5), -1):
            if all(first[i:j] in h for h in heads[1:]):
                best = first[i:j]
                break
    return frozenset(w for w in jieba_tokenizer().lcut(best) if len(w) >= 2)


class QuestionAnalyzer(PlaceResolver):
    """Analyses questions against one corpus's gazetteer (`rag.places.gazetteer`)."""

    def __init__(self, gazetteer: dict, pilot_texts: dict[str, str] | None = None,
                 fact_measures: frozenset[str] = frozenset()):
        self.gaz = gazetteer or {}
        self.fact_measures = frozenset(fact_measures)  # the measures the fact table holds (aggregate questions)
        self.aliases: dict[str, list[str]] = dict(self.gaz.get("aliases") or {})
        info = self.gaz.get("pilots") or {}
        self.pilot_info = {p: info.get(p, {}) for p in self.aliases}
        self.pilot_texts = pilot_texts or {}
        self.flat_texts = {p: _FLAT.sub("", t) for p, t in self.pilot_texts.items()}  # for description matching
        self.title_words = _title_words(self.pilot_texts)
        table: dict[str, list[str]] = {}
        for pilot, names in self.aliases.items():
            for a in [pilot, *names]:
                a = norm(to_simplified(a))
                if len(a) >= 2:
                    table.setdefault(a, [])
                    if pilot not in table[a]:
                        table[a].append(pilot)
        self.pilot_table = table
        self.parent_table = {norm(k): list(v) for k, v in (self.gaz.get("parents") or {}).items()
                             if norm(k) not in table}
        self.province_table: dict[str, str] = {}
        for prov in provinces():
            for form in (prov, province_short(prov)):
                self.province_table.setdefault(form, prov)
        self.by_province: dict[str, list[str]] = {}
        for pilot in self.aliases:
            prov = self.pilot_info.get(pilot, {}).get("province") or next(
                (p for p in provinces() if pilot.startswith(p)), "")
            if prov:
                self.by_province.setdefault(prov, []).append(pilot)
        self.mentions = {norm(k): list(v) for k, v in (self.gaz.get("mentions") or {}).items()}
        # real places that are no pilot (county level and above, and well-known places abroad), from the gazetteer
        self.place_table: dict[str, list] = {}
        for form, entries in (self.gaz.get("places") or {}).items():
            k = norm(form)
            if k not in table and k not in self.parent_table and k not in self.province_table:
                self.place_table[k] = entries
        self.lengths = sorted({len(k) for k in (*table, *self.parent_table, *self.province_table, *self.place_table)},
                              reverse=True)
        self.pinyin: dict[str, str] = {}
        for pilot, meta in self.pilot_info.items():
            for py in meta.get("pinyin") or ():
                if py.isascii() and py.isalpha():
                    self.pinyin.setdefault(py, pilot)
        # provinces and parent places by pinyin too ("Sichuan's provincial capital", "Haikou's Yanfeng")
        self.place_pinyin: dict[str, str] = {}
        stored = self.gaz.get("place_pinyin")  # read at build time (an older index: read here)
        for form in [province_short(p) for p in provinces()] + [k for k in self.parent_table if len(k) <= 4]:
            readings = stored[form] if stored is not None and form in stored else pinyin_readings(form, limit=2)
            for py in readings:
                self.place_pinyin.setdefault(py, form)

    def short_name(self, pilot: str) -> str:
        """The name users say: the place without its province or parentheses (房山区 for 北京市房山区)."""
        return short_name((self.pilot_info.get(pilot) or {}).get("place") or pilot)

    # ------------------------------------------------------------------ entry

    def analyze(self, question: str, *, pilot: str | None = None, describe: bool = True) -> QuestionInfo:
        raw = question or ""
        text = normalize(raw)
        lang = "zh"
        if is_english(text):
            lang, text = "en", self.from_english(text)
        key = norm(text)
        qi = QuestionDraft(raw=raw, text=text, key=key, lang=lang, describe=describe)
        qi.places = self._scan(key)
        masked = list(key)
        for sp in qi.places:
            if sp.kind == "place":
                continue  # a real place that is no pilot may be what a which-pilots question looks for (温泉城)
            for k in range(sp.start, min(sp.end, len(masked))):
                masked[k] = "，"
        qi.unplaced = "".join(masked)
        qi.years = list(dict.fromkeys(_YEAR.findall(key)))
        qi.period = None if qi.years else period_of(key)
        qi.shape = self._shape(key, qi)
        self._resolve(qi, explicit=pilot)
        if qi.shape == "cross" and not qi.pilots and (
                (re.search(r"(哪些|哪几个|哪几|什么)(县|镇|市|区)", key)
                 and not re.search(r"(哪些|哪几个|哪几|什么)(试点|地方|城市|文件)", key))
                or (_WHO_DOES.search(key) and not CROSS.search(key) and REFERENCE.search(key))):
            # "苏东坡故乡…的是哪几个县": a described pilot's own counties, not a which-pilots question
            described, by = self._described(qi, force=True)
            if described:
                qi.shape, qi.pilots, qi.scope, qi.resolved_by, qi.described_by = \
                    "single", [described], [described], "description", by
        if qi.shape == "single" and len(qi.pilots) == 1 and qi.resolved_by == "name" and describe \
                and _COMPARE.search(key):
            # "<描述>和<试点>…对比": one pilot named, the other described (as a lone description is read)
            others = [p for p in self.aliases if p not in qi.pilots]
            described, by = self._described(qi, among=others, force=True)
            if described and fills_a_slot(qi.unplaced, by):
                qi.pilots.append(described)
                qi.scope, qi.described_by, qi.shape = list(qi.pilots), by, "compare"
        qi.content = self._content_mask(qi)
        if qi.shape == "compare" and len(qi.pilots) < 2 and not (qi.pilots and qi.unknown_place):
            qi.shape = "single"
        if qi.shape == "overview" and len(qi.pilots) != 1:
            qi.shape = "single"
        self._content(qi)
        if qi.shape == "overview" and self._asks_more_than_overview(qi):
            qi.shape = "single"  # "<某事项>由哪几部分组成": a question about one thing, not the plan
        # named pilots compared ("A和B哪个面积大") stay with the comparison, which lines up each one's figure
        if self.fact_measures and qi.shape in ("single", "cross", "count") and not qi.unknown_place \
                and not qi.require:
            # a pilot named or described is named; the one pilot of a province named is that province's
            named = tuple(qi.pilots) if qi.described_by or qi.resolved_by not in ("province", "parent", "document") \
                else ()
            refers = REFERENCE.search(qi.key) and not named  # "…的那个县，…": one pilot, described
            ask = None if refers else read_aggregate(qi, self.fact_measures, named)
            if ask is not None:
                qi.shape, qi.aggregate = "aggregate", ask
                qi.scope = list(ask.pilots)
        elif self.fact_measures and qi.shape == "compare" and len(qi.pilots) >= 2 and not qi.require:
            # the comparison answers from each pilot's passages; the table's rows fill a pilot they leave out
            qi.aggregate = read_aggregate(qi, self.fact_measures, tuple(qi.pilots))
        return freeze(qi)

    def states(self, phrase: str) -> bool:
        """Some document states `phrase` word for word (spaces aside)."""
        flat = _FLAT.sub("", phrase)
        return bool(flat) and any(flat in t for t in self.flat_texts.values())

    def _asks_more_than_overview(self, qi: QuestionDraft) -> bool:
        rest = "".join(qi.terms)
        # the framing words, and the words of the plans' own title (…新型城镇化综合试点工作方案要点)
        for w in sorted(lexicon.words("overview_words.txt") | self.title_words, key=len, reverse=True):
            rest = rest.replace(w, "")
        rest = OVERVIEW.sub("", rest)
        return len(re.sub(r"[的了是些么啥]", "", rest)) >= 2

    # ------------------------------------------------------------------ shape and content

    def _shape(self, q: str, qi: QuestionDraft) -> str:
        named = {p for s in qi.places if s.kind == "pilot" for p in s.pilots}
        if not named and _WHO_DOES.search(q):
            return "cross"  # "…建立X机制的有哪些？": the ones doing it, i.e. pilots
        if _COUNT.search(q) and len(named) <= 1 and not content_left(qi.unplaced, _COUNT):
            return "count"
        if _ITEM_COUNT.search(q) and len(named) == 1 and not OVERVIEW.search(q):
            return "count"
        if CROSS.search(q) and len(named) <= 1 and not re.search(r"哪个(县|镇|市|区)(的|是)", q[:4]):
            # "<主语>到哪几个城市<做某事>": places the pilot's text names, not pilots
            if len(named) == 1 and not re.search(r"(?<![到在去向赴与和同])(哪些|哪几个)(试点|地方|城市|文件)", q):
                return "single"
            return "cross"
        others = [s for s in qi.places if s.kind in ("place", "unknown")]
        if len(named) >= 2 and _COMPARE.search(q):
            return "compare"
        if named and others and (_COMPARE.search(q) or re.search(r"和|与|跟|比(?![例重率])", q)):
            return "compare"  # "比较<试点>和<非试点>…": the non-pilot gets a row of its own
        if len(named) >= 2 and re.search(r"和|与|跟|及|、|比(?![例重率])", q):
            return "compare"
        if OVERVIEW.search(q) and not _ASKS_NUMBER.search(q):
            return "overview"
        return "single"

    def _content(self, qi: QuestionDraft) -> None:
        q = qi.content or qi.unplaced
        work = re.sub(rf"({YEAR})年?", "|", q)
        if qi.shape == "compare":  # "哪个镇人口多": the comparison's which, not a place asked
            work = re.sub(r"(?:哪个|哪一个|哪座)(?:镇|县|市|区|旗|地方|城市|试点)", "|", work)
        work = re.sub(r"(多少|几)[个家位项条批所座倍万亿人户亩吨次张元]?", "|", work)
        qi.terms = segments(work, lexicon.words("comparative_words.txt") if qi.shape == "compare" else frozenset())
        para = lexicon.table("paraphrases.tsv")
        exp: dict[str, tuple[str, ...]] = {}
        for word, alts in para.items():
            if word in qi.key:
                exp[word] = alts
        qi.expansions = exp
        up_to_head = measure_patterns()[0]
        for t in sorted(qi.terms, key=len, reverse=True):
            m = up_to_head.match(t)  # <qualifier+measure>目标 → <qualifier+measure>
            if m and len(m.group(1)) >= 2:
                qi.measure = re.sub(r"^有?(?:多大|多少|多高|多长)的?", "", without_period(m.group(1))) or None
                break
        # the qualifier the measure carries (户籍人口城镇化率); 口岸城市 elsewhere in the question is no qualifier
        qi.qualifier = (qualifier_of(qi.measure) if qi.measure else None) or qualifier_of(qi.content or qi.key)
        if _ASKS_PERSON.search(qi.key):
            qi.answer_type = "person"
        elif re.search(r"哪几|哪些|哪[两三四五六七八九十]", qi.key):
            qi.answer_type = "list"
        elif _ASKS_NUMBER.search(qi.key) or (qi.lang == "en" and "多少" in qi.key):
            qi.answer_type = "percent" if _ASKS_PERCENT.search(qi.key) else "number"
        elif _ASKS_DATE.search(qi.key):
            qi.answer_type = "date"
        elif _ASKS_PLACE.search(qi.key) and not (qi.shape == "compare" and (HIGHER.search(qi.key) or LOWER.search(qi.key))):
            qi.answer_type = "place"
        elif _ASKS_NAME.search(qi.key):
            qi.answer_type = "name"
        elif _ASKS_LIST.search(qi.key):
            qi.answer_type = "list"
        elif qi.measure and qi.shape in ("single", "compare"):
            # "…的城镇化率目标" asks for the figure even without 多少
            qi.answer_type = "percent" if qi.measure.endswith("率") or _ASKS_PERCENT.search(qi.measure) else "number"
        if qi.shape == "compare":
            qi.compare_op = "max" if HIGHER.search(qi.key) else ("min" if LOWER.search(qi.key) else None)
        if qi.shape == "cross":
            phrases, qi.within, kinds, aliases = cross_terms(qi)
            if self.pilot_texts:
                # a parenthesis's other name counts where the documents use it verbatim
                phrases += [a for a in aliases if self.pilot_df(a) >= 1]
                qi.key_terms, qi.related_terms = choice.choose_terms(phrases, self.pilot_df, len(self.pilot_texts),
                                                                    kinds)
            else:
                qi.key_terms = phrases or kinds

    def pilot_df(self, term: str) -> int:
        """In how many pilots' texts a term occurs (the texts are normalised and simplified)."""
        t = norm(term).lower()
        return sum(1 for txt in self.pilot_texts.values() if t in txt.lower())

    # ------------------------------------------------------------------ English

    def from_english(self, text: str) -> str:
        """`rag.english.from_english` with this corpus's place names."""
        return from_english(text, self.pinyin, self.place_pinyin, self.pilot_info)

__all__ = ["QuestionAnalyzer"]
