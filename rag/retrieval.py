"""Retrieval: dense FAISS + BM25 fused, pilot-aware, with whole-corpus recall for "which pilots" questions.

How a question is retrieved (`HybridRetriever.retrieve`):

1. Normalise: traditional → simplified, NFKC, trimmed. Empty → no passages.
2. Understand the places it names (`analyze_question`): pilot names / short forms / province + place from
   `index.aliases` (leftmost-longest match; province names are matched too, so `津市` is never found inside
   `天津市`, and a short form followed by a place suffix that makes a different place — `永安镇`, `红河县` — is
   not taken for the pilot). A place that is no pilot (`深圳市`, `雄安新区`, `江苏省`, `苏州`) is reported as
   `unknown_place`. A province alone (`天津那个镇级试点`) scopes the search to that province's pilots
   (narrowed by a `镇级/县级…` hint).
3. Score every chunk with numpy: dense = query vector · all chunk vectors (the FAISS flat matrix, kept in
   memory), BM25 over jieba tokens. Modes: `dense`, `bm25`, `hybrid` (fused — see `FUSIONS`).
4. Single pilot named → only its chunks compete. Several pilots → the best of each, interleaved.
5. Cross-pilot questions (`哪些试点…`, `有几个试点…`, `…的试点有哪些`, `哪几个地方…`): the key term is taken
   from the question (quoted text, else the question minus its scaffolding), every chunk containing it
   (`norm` substring) is a candidate, the best passage of every pilot is returned (then second passages),
   ranked, up to `cross_max`. Without an exact occurrence, a key-token coverage bar + the fused score decide.
6. Optional CrossEncoder reranking of the top candidates (`rag.rerank`, when `Config.reranker` is set).
"""
from __future__ import annotations

import difflib
import re
import time
import unicodedata
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, PrivateAttr

from .chunking import Chunk
from .text import jieba_pos_tokenizer, norm, to_simplified

MODES = ("dense", "bm25", "hybrid")
FUSIONS = ("rrf", "weighted")


@dataclass
class Passage:
    """One retrieved chunk with its rank (1-based) and the scores that put it there."""

    rank: int
    chunk: Chunk
    score: float
    scores: dict[str, float] = field(default_factory=dict)


@dataclass
class Retrieval:
    """What the retriever found for one question, and what it understood of it."""

    question: str
    passages: list[Passage]
    pilots: list[str] = field(default_factory=list)   # pilots the question names (detected or --pilot)
    is_cross: bool = False                             # a "哪些试点…/几个试点…" question
    unknown_place: str | None = None                   # a place named in the question that is no pilot
    mode: str = "hybrid"
    timings_ms: dict[str, float] = field(default_factory=dict)
    scope: list[str] = field(default_factory=list)     # pilots whose chunks were searched ([] = all)
    key_terms: list[str] = field(default_factory=list) # cross questions: the terms searched for


# --------------------------------------------------------------------------- question understanding

# Provincial-level divisions (general geography, not per pilot): lets `天津市`/`江苏省` be recognised as
# provinces, so a pilot short form is never matched inside one, and a non-pilot province is reported.
PROVINCES = (
    "北京市", "天津市", "上海市", "重庆市", "河北省", "山西省", "辽宁省", "吉林省", "黑龙江省", "江苏省", "浙江省",
    "安徽省", "福建省", "江西省", "山东省", "河南省", "湖北省", "湖南省", "广东省", "海南省", "四川省", "贵州省",
    "云南省", "陕西省", "甘肃省", "青海省", "台湾省", "内蒙古自治区", "广西壮族自治区", "西藏自治区",
    "宁夏回族自治区", "新疆维吾尔自治区", "香港特别行政区", "澳门特别行政区",
)
_PROV_SUFFIX = re.compile(r"(维吾尔自治区|壮族自治区|回族自治区|特别行政区|自治区|省|市)$")
# One-character place suffixes: `X` + one of these is a different place than the pilot `X…`.
_SUFFIX_CHARS = set("市县区镇省州旗乡村")


def _is_word(s: str) -> bool:
    """A dictionary word (市政, 区位, 市场…): the pilot's stem is followed by a word, not by another suffix."""
    from .text import jieba_tokenizer

    return len(s) == 2 and jieba_tokenizer().FREQ.get(s, 0) > 0
_SUFFIX_TOKENS = ("新区", "自治州", "自治县", "市", "县", "区", "镇", "省", "州", "旗")
# Words ending like a place that are not places (or not a specific one).
_GENERIC_PLACES = set(
    "城市 城镇 城区 市区 新区 社区 地区 园区 乡镇 小城镇 中国 全国 国家 县城 县区 山区 景区 开发区 高新区 试验区 示范区 "
    "自治县 自治州 自治区 北郊 郊区 城乡 老城区 新城区 主城区 中心城区 镇区 集镇 重点镇 建制镇 小城市 中小城市 大城市 "
    "特色小镇 小镇 田园城市 海绵城市 智慧城市 名城 片区 街区 新城 城中村 农村 乡村 东部 西部 中部 南部 北部 东北 西北 "
    "西南 东南 全省 全市 全县 全区 本市 本县 本区 该市 该县 该区 该镇 市县 省市 省级 市级 县级 镇级 区级 地级市 县级市 "
    "行政区 特区 经济区 林区 矿区 牧区 库区 边境 沿海 内陆 京津冀 长三角 珠三角 城市群 都市圈".split()
)
_LEVEL_HINT = re.compile(r"(镇|县|市|区|旗|州)级|那个(镇|县|市|区|旗|州)|哪个(镇|县|市|区|旗|州)")

_CROSS = re.compile(
    r"(哪些|哪几个|哪几|几个|多少个|哪个)(试点|地方|城市|地区|县|镇)"
    r"|(试点|地方|城市)(都|还|一共|共)?(有|是)哪些"
    r"|分别是哪些|分别是哪几个"
)
# Question scaffolding stripped off a cross question to leave its key phrase.
_CROSS_SCAFFOLD = re.compile(
    r"(有|共有|一共有)?(哪些|哪几个|哪几|几个|多少个|哪个)(试点|地方|城市|地区|县|镇)(的方案|的工作方案)?"
    r"|(的)?(试点|地方|城市)(都|还|一共|共)?(有|是)哪些|分别是哪些|分别是哪几个"
    r"|方案(里|中|内)?|要点(里|中)?|工作方案|试点|都|分别|请问|请列出|列出|一下"
    r"|提出了?|提到了?|提及|涉及到?|包括|包含|谈到|讲到|写到|说到|有|是|的|了|吗|呢"
    r"|[？?。，,！!：:；;、\s]"
)
_LEADING_VERBS = re.compile(
    r"^(以|把|将|在|对)?(大力|积极|加快|推进|推动|实施|开展|建设|发展|打造|探索|建立|运用|利用|采用|实行|推行|"
    r"设立|培育|引进|加强|完善|深化|创新|构建|提升|促进|支持|鼓励|做好|开展|组建|实现)+"
)
_TRAILING_GENERIC = re.compile(r"(改造|技术|工作|工程|建设|产业|项目|机制|体系|模式|方面|问题|为方向|为重点|为目标)$")
# What every pilot is about: as a cross question's only term it means "list the pilots".
_GENERIC_TERMS = _GENERIC_PLACES | set("国家 新型城镇化 城镇化 综合试点 第二批 试点工作 工作方案 方案 要点 入选 一共 总共 所有 全部 名单 列表".split())
_QUOTED = re.compile(r"[“\"「『‘']([^”\"」』’']{1,30})[”\"」』’']")
_PARENS = re.compile(r"[（(][^）)]*[）)]")


def normalize_question(question: str | None) -> str:
    """Traditional → simplified, NFKC, outer whitespace trimmed (inner spaces kept for display)."""
    q = unicodedata.normalize("NFKC", to_simplified(question or ""))
    return q.strip()


def _province_short(p: str) -> str:
    return _PROV_SUFFIX.sub("", p) or p


@dataclass
class Place:
    pilots: list[str]            # pilots this span names ([] for a province or an unknown place)
    province: str | None = None  # a province span
    text: str = ""
    start: int = 0
    end: int = 0


class PlaceMatcher:
    """Leftmost-longest matching of pilot aliases and province names in a normalised question."""

    def __init__(self, aliases: dict[str, list[str]], pilot_provinces: dict[str, str] | None = None):
        self.aliases = aliases
        table: dict[str, set[str]] = {}
        for pilot, names in aliases.items():
            for a in [pilot, *names]:
                a = norm(to_simplified(a))
                if len(a) >= 2:
                    table.setdefault(a, set()).add(pilot)
        self.pilot_table = {a: sorted(p, key=list(aliases).index) for a, p in table.items()}
        provinces = dict.fromkeys(PROVINCES)
        for prov in (pilot_provinces or {}).values():
            if prov:
                provinces[prov] = None
        self.province_table: dict[str, str] = {}
        for prov in provinces:
            for form in (prov, _province_short(prov)):
                if len(form) >= 2:
                    self.province_table.setdefault(form, prov)
        # pilots by province (from the chunks' province field when given, else from the name prefix)
        self.by_province: dict[str, list[str]] = {}
        for pilot in aliases:
            prov = (pilot_provinces or {}).get(pilot) or next((p for p in provinces if pilot.startswith(p)), None)
            if prov:
                self.by_province.setdefault(prov, []).append(pilot)
        self.lengths = sorted({len(k) for k in self.pilot_table} | {len(k) for k in self.province_table}, reverse=True)
        self.pilot_aliases_set = set(self.pilot_table)
        self.pilot_texts: dict[str, str] = {}   # pilot -> its normalised text (set by the retriever)

    def scan(self, q: str) -> list[Place]:
        """Spans of `q` (already `norm`ed) that name a pilot or a province, leftmost-longest."""
        out: list[Place] = []
        i, n = 0, len(q)
        while i < n:
            for L in self.lengths:
                if i + L > n:
                    continue
                s = q[i:i + L]
                if s in self.pilot_table:
                    nxt = q[i + L] if i + L < n else ""
                    if nxt in _SUFFIX_CHARS and s[-1] not in _SUFFIX_CHARS and not _is_word(q[i + L:i + L + 2]):
                        # `永安镇` / `红河县`: the stem of a pilot + another suffix is another place
                        out.append(Place([], None, s + nxt, i, i + L + 1))
                        i += L + 1
                    else:
                        out.append(Place(list(self.pilot_table[s]), None, s, i, i + L))
                        i += L
                    break
                if s in self.province_table:
                    out.append(Place([], self.province_table[s], s, i, i + L))
                    i += L
                    break
            else:
                i += 1
        return out


@dataclass
class QuestionInfo:
    question: str
    pilots: list[str]
    scope: list[str]
    unknown_place: str | None
    is_cross: bool
    provinces: list[str]
    unplaced: str = ""     # the question with pilot/province names blanked out (for cross key terms)


def _unknown_places(masked: str, allow_bare: bool, known: set[str]) -> list[str]:
    """Place names jieba finds in the question (pilot/province spans already masked out)."""
    found: list[str] = []
    toks = [(p.word, p.flag) for p in jieba_pos_tokenizer().lcut(masked)]
    han = re.compile(r"^[\u4e00-\u9fff]+$")
    for j, (w, f) in enumerate(toks):
        if not han.match(w) or w in known:
            continue
        nxt = toks[j + 1][0] if j + 1 < len(toks) else ""
        if w in _SUFFIX_TOKENS and j > 0:
            # `雄安` + `新区`, `大连` `金普` + `新区`: join up to two preceding content tokens
            parts = []
            for k in (j - 1, j - 2):
                if k < 0:
                    break
                pw, pf = toks[k]
                if not han.match(pw) or pf in ("uj", "ul", "p", "c", "r", "v", "m", "q", "y") or pw in known:
                    break
                parts.insert(0, pw)
                if pf.startswith("ns"):
                    break
            name = "".join(parts) + w
            if parts and 3 <= len(name) <= 8 and name not in _GENERIC_PLACES and "".join(parts) not in _GENERIC_PLACES:
                found.append(name)
            continue
        if not f.startswith("ns") or w in _GENERIC_PLACES:
            continue
        if len(w) >= 3 and w.endswith(_SUFFIX_TOKENS):
            found.append(w)
        elif nxt in _SUFFIX_TOKENS:
            continue  # handled when the suffix token is reached
        elif allow_bare and len(w) >= 2:
            found.append(w)
    # drop pieces of a longer find
    return [x for x in dict.fromkeys(found) if not any(x != y and x in y for y in found)]


def analyze_question(question: str, matcher: PlaceMatcher) -> QuestionInfo:
    """Pilots, province scope, unknown place and cross-ness of a normalised question."""
    q = norm(question)
    spans = matcher.scan(q)
    pilots = list(dict.fromkeys(p for s in spans if len(s.pilots) == 1 for p in s.pilots))
    ambiguous = [s for s in spans if len(s.pilots) > 1]
    provinces = list(dict.fromkeys(s.province for s in spans if s.province))
    unknown: list[str] = [s.text for s in spans if not s.pilots and not s.province]
    for prov in provinces:
        if prov not in matcher.by_province:
            unknown.append(prov)  # a province with no pilot at all (`江苏省`)
    for s in ambiguous:  # an alias shared by several pilots: keep those the province names, else all
        cand = [p for p in s.pilots if not provinces or any(p in matcher.by_province.get(pr, []) for pr in provinces)]
        pilots.extend(p for p in (cand or s.pilots) if p not in pilots)
    is_cross = bool(_CROSS.search(q)) and len(pilots) != 1

    scope: list[str] = []
    if pilots:
        scope = list(pilots)
    elif provinces:
        scope = [p for pr in provinces for p in matcher.by_province.get(pr, [])]
        m = _LEVEL_HINT.search(q)
        if m and scope:
            level = next(g for g in m.groups() if g)
            narrowed = [p for p in scope if p.endswith(level)]
            scope = narrowed or scope
        if len(scope) == 1 and not is_cross:
            pilots = list(scope)
    elif is_cross:
        m = re.search(r"(?:哪些|哪几个|几个|多少个|哪个)(县|镇|市|区|旗|州)(?!级)", q)
        if m:  # `哪些县…`: the pilots of that level
            scope = [p for p in matcher.aliases if p.endswith(m.group(1))]

    # Places jieba knows that no pilot alias covers (`深圳市`, `雄安新区`, `苏州`).
    masked = list(q)
    for s in spans:
        for k in range(s.start, min(s.end, len(masked))):
            masked[k] = "，"
    known = set(matcher.pilot_table) | set(matcher.province_table)
    unknown.extend(_unknown_places("".join(masked), allow_bare=not pilots and not is_cross, known=known))
    unknown = list(dict.fromkeys(unknown))
    unplaced = "".join(masked)
    if unknown and not pilots and matcher.pilot_texts:
        # A place the corpus itself mentions is a loose reference, not an unknown place: `白城市` occurs
        # repeatedly in 林海镇's text only → that pilot; mentioned across pilots → search them all.
        still = []
        for u in unknown:
            counts = {p: t.count(u) for p, t in matcher.pilot_texts.items()}
            where = [p for p, c in counts.items() if c]
            if not where:
                still.append(u)
            elif len(where) == 1 and counts[where[0]] >= 2 and not is_cross and not scope:
                pilots, scope = [where[0]], [where[0]]
        unknown = still
    if pilots and not any(not s.pilots and not s.province for s in spans):
        unknown = []  # a pilot is named: other places (its city, a neighbour) are context, not the subject
    return QuestionInfo(q, pilots, scope, unknown[0] if unknown else None, is_cross, provinces, unplaced)


def detect_pilots(question: str, aliases: dict[str, list[str]]) -> list[str]:
    """The pilots a question names (full names, short forms, province + place), in question order."""
    q = normalize_question(question)
    return analyze_question(q, _matcher_for(aliases)).pilots


_MATCHERS: dict[int, tuple[dict, PlaceMatcher]] = {}


def _matcher_for(aliases: dict[str, list[str]], provinces: dict[str, str] | None = None) -> PlaceMatcher:
    hit = _MATCHERS.get(id(aliases))
    if hit is not None and hit[0] is aliases:
        return hit[1]
    m = PlaceMatcher(aliases, provinces)
    if len(_MATCHERS) > 8:
        _MATCHERS.clear()
    _MATCHERS[id(aliases)] = (aliases, m)
    return m


def resolve_pilot(name: str, aliases: dict[str, list[str]]) -> str:
    """A pilot name or alias → its full name; unknown → ValueError naming the closest pilots."""
    key = norm(to_simplified(name or ""))
    for pilot, names in aliases.items():
        if key == norm(pilot) or key in (norm(a) for a in names):
            return pilot
    pool = {norm(a): p for p, al in aliases.items() for a in [p, *al]}
    close = difflib.get_close_matches(key, list(pool), n=8, cutoff=0.3)
    sugg = list(dict.fromkeys(pool[c] for c in close))[:5]
    msg = f"unknown pilot {name!r}"
    if sugg:
        msg += "; did you mean: " + ", ".join(sugg)
    err = ValueError(msg)
    err.suggestions = sugg  # type: ignore[attr-defined]
    raise err


def cross_key_terms(question: str) -> tuple[list[str], list[str]]:
    """(phrases, cores) of a cross question: the quoted terms or the question without its scaffolding;
    cores drop leading verbs / trailing generic nouns (`建设特色小镇` → `特色小镇`, `棚户区改造` → `棚户区`)."""
    q = norm(question)
    quoted = [t for t in _QUOTED.findall(q) if len(t) >= 2]
    if quoted:
        phrases = quoted
    else:
        body = _PARENS.sub("", q)
        rest = _CROSS_SCAFFOLD.sub("|", body)
        phrases = [p for p in rest.split("|") if len(p) >= 2 and p not in _GENERIC_TERMS]
        phrases = sorted(phrases, key=len, reverse=True)[:1]
    cores = []
    for p in phrases:
        c = _LEADING_VERBS.sub("", p)
        c = c if len(c) >= 2 else p
        c2 = _TRAILING_GENERIC.sub("", c)
        cores.append(c2 if len(c2) >= 2 else c)
    return phrases, cores


# --------------------------------------------------------------------------- the retriever

_SECTION_HINTS = (
    (re.compile(r"目标|到20\d\d年|要达到|力争|达到多少"), "目标"),
    (re.compile(r"资金|融资|组织|保障|领导小组|组长|考核|督查|专项"), "保障"),
    (re.compile(r"面积|位于|人口|素有|称号|故里|故乡|地处|辖"), "引言"),
)


class HybridRetriever(BaseRetriever):
    """Dense + BM25 retrieval over a loaded `rag.store.Index`, pilot- and cross-question-aware."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    index: Any
    embedder: Any = None
    k: int = 5
    mode: str = "hybrid"
    # Fusion chosen on eval/gold.jsonl (single-pilot questions, hit@1): weighted min-max 0.964 at
    # dense_weight 0.6 (0.952-0.964 over 0.5-0.7) vs RRF 0.917 (k=1..60); bm25 alone 0.929, dense 0.887.
    fusion: str = "weighted"       # "weighted" (min-max normalised scores) or "rrf"
    rrf_k: float = 60.0
    dense_weight: float = 0.6      # weighted fusion: share of the dense score
    # Section hints (目标 → 总体目标, 资金/组织 → 保障措施, 面积/人口 → 引言) measured no gain
    # (hit@1 0.964 → 0.964/0.964/0.958 at 0.1/0.2/0.4), so off by default.
    section_boost: float = 0.0     # bonus for the section a question's wording points at (0 = off)
    restrict: bool = True          # a named pilot: search only its chunks (else boost them)
    cross_max: int = 30
    cross_per_pilot: int = 5
    reranker: Any = None           # a `rag.rerank.Reranker` (or None)
    rerank_top: int = 20

    _st: dict = PrivateAttr(default_factory=dict)

    def model_post_init(self, __context: Any) -> None:
        idx = self.index
        chunks = idx.chunks
        n = len(chunks)
        vecs = None
        if getattr(idx, "dense", None) is not None and idx.dense.ntotal == n:
            vecs = idx.dense.reconstruct_n(0, n)
        pilots = list(dict.fromkeys(c.pilot for c in chunks))
        pilot_of = np.array([pilots.index(c.pilot) for c in chunks], dtype=np.int32) if n else np.zeros(0, np.int32)
        provinces = {c.pilot: c.province for c in chunks}
        aliases = dict(getattr(idx, "aliases", None) or {p: [p] for p in pilots})
        for p in pilots:
            aliases.setdefault(p, [p])
        matcher = PlaceMatcher(aliases, provinces)
        simple = [norm(to_simplified(c.text)) for c in chunks]  # the slow opencc pass, once per chunk
        by_pilot: dict[str, list[str]] = {}
        for c, t in zip(chunks, simple):
            by_pilot.setdefault(c.pilot, []).append(t)
        matcher.pilot_texts = {p: "\n".join(t) for p, t in by_pilot.items()}
        self._st.update(
            vecs=np.ascontiguousarray(vecs, dtype=np.float32) if vecs is not None else None,
            # what key terms are looked for in: the chunk's own heading + its text
            norm_texts=[(norm(to_simplified(c.section.split(" > ")[-1])) + t).lower() for c, t in zip(chunks, simple)],
            pilots=pilots,
            pilot_of=pilot_of,
            pilot_idx={p: np.flatnonzero(pilot_of == i) for i, p in enumerate(pilots)},
            aliases=aliases,
            matcher=matcher,
            top_sections=[c.top_section for c in chunks],
            qcache={},
        )
        if self.mode not in MODES:
            raise ValueError(f"unknown retrieval mode {self.mode!r} (choose {', '.join(MODES)})")
        if self.fusion not in FUSIONS:
            raise ValueError(f"unknown fusion {self.fusion!r} (choose {', '.join(FUSIONS)})")

    @classmethod
    def from_config(cls, index, embedder, config) -> "HybridRetriever":
        """The retriever a `Config` describes: k, mode and the optional CrossEncoder (`config.reranker`)."""
        from .rerank import load_reranker

        return cls(index=index, embedder=embedder, k=config.k, mode=config.mode,
                   reranker=load_reranker(getattr(config, "reranker", "")))

    # ------------------------------------------------------------------ public

    @property
    def matcher(self) -> PlaceMatcher:
        return self._st["matcher"]

    def detect(self, question: str) -> QuestionInfo:
        return analyze_question(normalize_question(question), self.matcher)

    def resolve_pilot(self, name: str) -> str:
        return resolve_pilot(name, self._st["aliases"])

    def retrieve(self, question: str, k: int | None = None, pilot: str | None = None,
                 mode: str | None = None) -> Retrieval:
        t0 = time.perf_counter()
        k = int(k or self.k)
        mode = mode or self.mode
        if mode not in MODES:
            raise ValueError(f"unknown retrieval mode {mode!r} (choose {', '.join(MODES)})")
        explicit = self.resolve_pilot(pilot) if pilot else None
        q = normalize_question(question)
        if not q:
            return Retrieval(question=q, passages=[], mode=mode, timings_ms={"total": 0.0})
        info = analyze_question(q, self.matcher)
        if explicit:
            info.pilots, info.scope, info.is_cross, info.unknown_place = [explicit], [explicit], False, None
        t1 = time.perf_counter()
        scores, timings = self._scores(q, mode)
        t2 = time.perf_counter()
        key_terms: list[str] = []
        if info.is_cross:
            passages, key_terms = self._cross(q, info, scores, mode)
        else:
            passages = self._ranked(q, info, scores, mode, k)
        t3 = time.perf_counter()
        timings.update(parse=_ms(t1 - t0), rank=_ms(t3 - t2), total=_ms(t3 - t0))
        return Retrieval(question=q, passages=passages, pilots=list(info.pilots), is_cross=info.is_cross,
                         unknown_place=info.unknown_place, mode=mode, timings_ms=timings,
                         scope=list(info.scope), key_terms=key_terms)

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        return [passage_to_document(p) for p in self.retrieve(query).passages]

    def clear_cache(self) -> None:
        """Forget cached question vectors (a repeated question is otherwise not re-embedded): measurements
        call this so that every question pays its real embedding cost."""
        self._st["qcache"].clear()

    # ------------------------------------------------------------------ scoring

    def _embed(self, q: str) -> np.ndarray:
        cache = self._st["qcache"]
        v = cache.get(q)
        if v is None:
            if self.embedder is None:
                raise ValueError("dense retrieval needs an embedder (HybridRetriever(embedder=...))")
            v = np.asarray(self.embedder.embed_queries([q]), dtype=np.float32).reshape(-1)
            if len(cache) > 256:
                cache.clear()
            cache[q] = v
        return v

    def _scores(self, q: str, mode: str) -> tuple[dict[str, np.ndarray], dict[str, float]]:
        out: dict[str, np.ndarray] = {}
        t: dict[str, float] = {}
        if mode in ("dense", "hybrid") and self._st["vecs"] is not None and self.embedder is not None:
            a = time.perf_counter()
            v = self._embed(q)
            b = time.perf_counter()
            out["dense"] = self._st["vecs"] @ v
            t["embed"] = _ms(b - a)
            t["dense"] = _ms(time.perf_counter() - b)
        if mode in ("bm25", "hybrid") or "dense" not in out:
            a = time.perf_counter()
            out["bm25"] = self.index.bm25_scores(q)
            t["bm25"] = _ms(time.perf_counter() - a)
        return out, t

    def _fuse(self, cand: np.ndarray, scores: dict[str, np.ndarray], mode: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Fused score of the candidate chunks (higher is better) and the parts it came from."""
        parts = {name: s[cand] for name, s in scores.items()}
        if mode == "dense" and "dense" in parts:
            return parts["dense"].astype(np.float64), parts
        if mode == "bm25" or "dense" not in parts:
            return parts["bm25"].astype(np.float64), parts
        d, b = parts["dense"].astype(np.float64), parts["bm25"].astype(np.float64)
        if self.fusion == "rrf":
            fused = 1.0 / (self.rrf_k + _ranks(d)) + 1.0 / (self.rrf_k + _ranks(b))
            fused = fused * (self.rrf_k + 1) / 2  # 1.0 for a chunk first in both
        else:
            fused = self.dense_weight * _minmax(d) + (1 - self.dense_weight) * _minmax(b)
        return fused, parts

    def _section_bonus(self, q: str, cand: np.ndarray) -> np.ndarray | None:
        if not self.section_boost:
            return None
        wanted = [sec for rx, sec in _SECTION_HINTS if rx.search(q)]
        if not wanted:
            return None
        tops = self._st["top_sections"]
        return np.array([self.section_boost if any(w in tops[i] for w in wanted) else 0.0 for i in cand])

    def _ranked(self, q: str, info: QuestionInfo, scores: dict[str, np.ndarray], mode: str, k: int) -> list[Passage]:
        st = self._st
        n = len(self.index.chunks)
        if not n:
            return []
        if info.scope and self.restrict:
            if len(info.pilots) > 1:
                return self._multi(q, info, scores, mode, k)
            parts_idx = [st["pilot_idx"][p] for p in info.scope if p in st["pilot_idx"]]
            cand = np.concatenate(parts_idx) if parts_idx else np.arange(n)
        else:
            cand = np.arange(n)
        if not len(cand):
            cand = np.arange(n)
        fused, parts = self._fuse(cand, scores, mode)
        bonus = self._section_bonus(q, cand)
        if bonus is not None:
            fused = fused * (1.0 + bonus)
        if info.scope and not self.restrict:
            in_scope = np.isin(st["pilot_of"], [st["pilots"].index(p) for p in info.scope])[cand]
            fused = fused * np.where(in_scope, 1.5, 1.0)
        order = np.argsort(-fused, kind="stable")
        top = order[: max(k, self.rerank_top if self.reranker is not None else k)]
        if self.reranker is not None and len(top) > 1:
            rr = np.asarray(self.reranker.score(q, [self.index.chunks[int(cand[i])].text for i in top]), dtype=np.float64)
            sub = np.argsort(-rr, kind="stable")
            parts = dict(parts)
            rerank_scores = dict(zip((int(cand[i]) for i in top), rr.tolist()))
            top = top[sub]
        else:
            rerank_scores = None
        out = []
        for r, i in enumerate(top[:k], 1):
            ci = int(cand[i])
            sc = {name: float(v[i]) for name, v in parts.items()}
            sc["fused"] = float(fused[i])
            if rerank_scores is not None:
                sc["rerank"] = float(rerank_scores[ci])
            out.append(Passage(rank=r, chunk=self.index.chunks[ci], score=sc.get("rerank", sc["fused"]), scores=sc))
        return out

    def _multi(self, q: str, info: QuestionInfo, scores, mode: str, k: int) -> list[Passage]:
        """Several pilots named: rank within each, then interleave so each pilot gets its best passages."""
        st = self._st
        per: list[list[tuple[int, float, dict]]] = []
        for p in info.pilots:
            cand = st["pilot_idx"].get(p)
            if cand is None or not len(cand):
                continue
            fused, parts = self._fuse(cand, scores, mode)
            bonus = self._section_bonus(q, cand)
            if bonus is not None:
                fused = fused * (1.0 + bonus)
            order = np.argsort(-fused, kind="stable")
            per.append([(int(cand[i]), float(fused[i]), {nm: float(v[i]) for nm, v in parts.items()}) for i in order])
        k = max(k, len(per))
        out: list[Passage] = []
        depth = 0
        while len(out) < k and any(depth < len(x) for x in per):
            for x in per:
                if depth < len(x) and len(out) < k:
                    ci, f, sc = x[depth]
                    out.append(Passage(rank=len(out) + 1, chunk=self.index.chunks[ci], score=f, scores={**sc, "fused": f}))
            depth += 1
        return out

    def _cross(self, q: str, info: QuestionInfo, scores, mode: str) -> tuple[list[Passage], list[str]]:
        """Every pilot's best supporting passage for a "which pilots…" question."""
        st = self._st
        n = len(self.index.chunks)
        phrases, cores = cross_key_terms(info.unplaced or q)
        cand = np.arange(n)
        if info.scope:
            parts_idx = [st["pilot_idx"][p] for p in info.scope if p in st["pilot_idx"]]
            cand = np.concatenate(parts_idx) if parts_idx else np.arange(n)
        texts = st["norm_texts"]
        fused, parts = self._fuse(cand, scores, mode)
        n_pilots = max(1, len(st["pilots"]))
        if not phrases:
            # "河北省有哪些试点？" / "一共有多少个试点？": no key term, list the pilots (their intro first)
            intro = np.array([self.index.chunks[int(i)].top_section == "引言" for i in cand])
            order = np.lexsort((np.arange(len(cand)), ~intro))
            seen: set[int] = set()
            out = []
            for i in order:
                p = int(st["pilot_of"][cand[i]])
                if p in seen:
                    continue
                seen.add(p)
                c = self.index.chunks[int(cand[i])]
                out.append(Passage(rank=len(out) + 1, chunk=c, score=1.0, scores={"list": 1.0}))
            return out, []
        # strength of the lexical evidence: 2 = a full key phrase, 1 = its core, 0 = none
        strength = np.zeros(len(cand), dtype=np.int8)
        terms_used: list[str] = []
        for group, level in ((cores, 1), (phrases, 2)):
            for t in dict.fromkeys(x.lower() for x in group):
                hit = np.fromiter((t in texts[i] for i in cand), dtype=bool, count=len(cand))
                if level == 1 and hit.any():
                    # a core so common it no longer discriminates (in most pilots) is not evidence
                    if len(np.unique(st["pilot_of"][cand[hit]])) > 0.6 * n_pilots:
                        continue
                if hit.any():
                    strength[hit] = np.maximum(strength[hit], level)
                    terms_used.append(t)
        if not strength.any():
            # the words of the key phrase, in any order (`利用互联网发展电子商务` → 互联网 + 电子商务)
            from .store import tokenize

            for p in phrases:
                toks = [t for t in dict.fromkeys(tokenize(_LEADING_VERBS.sub("", p) or p))
                        if len(t) >= 2 and t not in _GENERIC_TERMS and not _LEADING_VERBS.fullmatch(t)]
                toks = [t for t in toks if not any(t != u and t in u for u in toks)]
                if len(toks) >= 2:
                    hit = np.fromiter((all(t in texts[i] for t in toks) for i in cand), dtype=bool, count=len(cand))
                    if hit.any():
                        strength[hit] = 1
                        terms_used.extend(toks)
        if strength.any():
            keep = strength > 0
        else:
            # paraphrase: no chunk contains the key term; fall back to the fused score with a relevance bar
            keep = fused >= max(fused.max() * 0.8, 0.0) if len(fused) else np.zeros(0, bool)
        idx = np.flatnonzero(keep)
        order = idx[np.lexsort((-fused[idx], -strength[idx]))]  # strongest evidence, then best fused
        seen: dict[int, int] = {}
        firsts, seconds = [], []
        for i in order:
            p = int(st["pilot_of"][cand[i]])
            c = seen.get(p, 0)
            if c == 0:
                firsts.append(i)
            elif c < self.cross_per_pilot:
                seconds.append(i)
            seen[p] = c + 1
        chosen = (firsts + seconds)[: self.cross_max]
        out = []
        for r, i in enumerate(chosen, 1):
            sc = {name: float(v[i]) for name, v in parts.items()}
            sc.update(fused=float(fused[i]), term=float(strength[i]))
            out.append(Passage(rank=r, chunk=self.index.chunks[int(cand[i])], score=float(fused[i]) + float(strength[i]),
                               scores=sc))
        return out, terms_used or phrases


# --------------------------------------------------------------------------- helpers


def passage_to_document(p: Passage) -> Document:
    c = p.chunk
    return Document(
        page_content=c.text,
        metadata={
            "chunk_id": c.id, "pilot": c.pilot, "province": c.province, "section": c.section,
            "top_section": c.top_section, "start_line": c.start_line, "end_line": c.end_line,
            "source": c.source, "rank": p.rank, "score": p.score, "scores": dict(p.scores),
        },
    )


def _ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks, higher score → rank 1."""
    order = np.argsort(-x, kind="stable")
    r = np.empty(len(x), dtype=np.float64)
    r[order] = np.arange(1, len(x) + 1)
    return r


def _minmax(x: np.ndarray) -> np.ndarray:
    lo, hi = float(x.min()), float(x.max())
    return (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)


def _ms(s: float) -> float:
    return round(s * 1000, 3)


__all__ = [
    "Passage", "Retrieval", "HybridRetriever", "detect_pilots", "analyze_question", "resolve_pilot",
    "normalize_question", "cross_key_terms", "passage_to_document", "PlaceMatcher", "QuestionInfo", "MODES",
]
