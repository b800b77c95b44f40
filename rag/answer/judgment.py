"""Sentence-support judgment: how likely a corpus sentence answers a question, as a fitted model.

Every sentence of the retrieved passages (`rag.text.candidate_sentences`, the same strings the index
embedded at build time) is a candidate. It is described by general signals — semantic similarity of question
and sentence (sentence vectors from the index), IDF-weighted lexical coverage (with the documents' words for
the user's words, `data/paraphrases.tsv`), the measure, year, qualifier and answer type the question asks for,
and the passage's retrieval score — and a logistic model turns them into a probability. The model's weights and
the refusal threshold are fitted on the dev splits by `pilotqa fit` (`rag.evaluation.fitting`) and stored in
`knowledge/data/judgment.json` with the command that produced them.

What is written by hand: each feature's definition (including the partial credit some give: 0.5 when only the
measure's head or a year in the passage matches), and the gates. Gates are logical contradictions, not weights:
a sentence of another pilot, of another year, with another qualifier (常住 asked, 户籍 stated), or without any
figure when a figure is asked, cannot answer.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from rag.knowledge import lexicon
from rag.knowledge.domain import PLAN_YEAR, is_target_year
from rag.knowledge.measures import RATE_TAIL, RATES, measure_head, measure_modifier, unit_figure
from rag.query.info import QuestionInfo
from rag.query.terms import qualifiers_in
from rag.text import bigrams, candidate_sentences, has_figure, has_percent, jieba_tokenizer, norm, years_in

PARAMS_PATH = lexicon.DATA / "judgment.json"
FEATURES = ("sim", "sim_gap", "cov", "cov_ctx", "whole", "measure", "year", "qual", "type_ok", "novelty",
            "heading", "p_fused", "p_rr", "pilot", "length", "target", "attributed")
_HEADING = re.compile(r"^(?:[（(][一二三四五六七八九十\d]+[）)]|\d+[.．、]|[一二三四五六七八九十]+、)")
_ROLE = re.compile(r"组长|副组长|主任|总指挥|书记|县长|市长|区长|镇长|主要领导|牵头|负责|挂帅")
_ENUM = re.compile(r"[、；;]")
_ASKS_TARGET = re.compile(r"目标|规划|计划|力争|预计|要达到|要到|提高到|达到|将来|未来|到时候|届时|到20\d\d")
_CN_NUM = {"两": 2, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10}
_PLACE_TOKEN = re.compile(r"[\u4e00-\u9fff]{1,8}?(?:街道|镇|县|区|市|乡|村|局|委|办|厅|中心|集团|公司|园区|园)")
# "截至2024年底": a state reached, not a target, whatever the plans' base year
_AS_OF = re.compile(r"(?:截至|截止|到目前|目前|现有|已有|已经)[^，,。；;]{0,3}\d{4}|\d{4}年底?(?:已|共有|现有)")
# a price asked (多少钱, 单价): only a sum of money answers it, not a rate or an area
_ASKS_MONEY = re.compile(r"多少钱|几块钱|什么价|价格|售价|单价")
_MONEY = re.compile(r"\d[\d.,]*\s*(?:万|亿)?元")
_DATE = re.compile(r"\d{4}\s*年(?!\s*[—\-–至到])|\d{1,2}\s*月\s*\d{1,2}\s*日|年底|年内|月底")
_QUOTED_NAME = re.compile(r"[“《「]([^”》」]{2,30})[”》」]")


def asks_target(info: QuestionInfo) -> bool:
    """The question asks for a plan's target without naming its year (…目标, 到时候…), not its base year."""
    return info.period == "target" or (info.period is None and _ASKS_TARGET.search(info.key) is not None)


@dataclass
class Candidate:
    """One sentence that might answer the question."""

    pi: int                 # index of its passage in retrieval.passages
    si: int                 # index among `candidate_sentences(chunk.text)`
    text: str               # the sentence as quoted (original characters)
    n: str                  # norm(text)
    chunk_n: str            # norm of the whole chunk text
    x: np.ndarray | None = None
    years: frozenset = frozenset()  # the years the sentence speaks of (its own, or its paragraph's last stated)
    gate: str | None = None  # why it cannot answer ("pilot", "year", "qualifier", "type", "heading")
    p_raw: float = 0.0       # the model's probability, gates aside (what "closest" means in a refusal)
    p: float = 0.0           # p_raw, or 0 when a gate closes the sentence

    @property
    def eligible(self) -> bool:
        return self.gate is None


@dataclass(frozen=True)
class Params:
    weights: tuple[float, ...]
    bias: float
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    threshold: float
    features: tuple[str, ...] = FEATURES

    def prob(self, x: np.ndarray) -> np.ndarray:
        z = (x - np.asarray(self.mean)) / np.asarray(self.scale)
        return 1.0 / (1.0 + np.exp(-(z @ np.asarray(self.weights) + self.bias)))

    def to_dict(self) -> dict:
        return {"features": list(self.features), "weights": list(self.weights), "bias": self.bias,
                "mean": list(self.mean), "scale": list(self.scale), "threshold": self.threshold}


@lru_cache(maxsize=4)
def load_params(path: str | None = None) -> Params:
    """The fitted model (`pilotqa fit` writes it). A missing or foreign file is an error worth a clear line."""
    p = Path(path) if path else PARAMS_PATH
    try:
        d = json.loads(p.read_text(encoding="utf-8"))
        if tuple(d["features"]) != FEATURES:
            raise ValueError(f"features {d['features']} differ from {list(FEATURES)}")
        return Params(tuple(map(float, d["weights"])), float(d["bias"]), tuple(map(float, d["mean"])),
                      tuple(float(s) or 1.0 for s in d["scale"]), float(d["threshold"]), FEATURES)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise RuntimeError(f"answer judgment parameters unusable ({p}: {exc}); run `pilotqa fit`") from None


# --------------------------------------------------------------------------- question units


@dataclass
class _Units:
    """What of the question a sentence can cover: weighted bigrams, whole terms, alternatives."""

    weights: dict[str, float]
    alts: dict[str, tuple[str, ...]]   # bigram → corpus words that also cover it
    whole: list[tuple[str, tuple[str, ...]]]
    measure: str | None
    measure_head: str | None
    total: float


def question_units(info: QuestionInfo, idf: dict[str, float] | None) -> _Units:
    idf = idf or {}
    default = (max(idf.values()) * 0.5) if idf else 1.0
    weights: dict[str, float] = {}
    for t in info.terms:
        for b in bigrams(norm(t)):
            if re.search(r"\d", b):
                continue
            weights[b] = idf.get(b, default)
    if not weights:
        for t in info.terms:
            for ch in norm(t):
                weights[ch] = 1.0
    alts: dict[str, tuple[str, ...]] = {}
    for word, corpus_words in info.expansions.items():
        for b in bigrams(norm(word)):
            if b in weights:
                alts[b] = alts.get(b, ()) + corpus_words
    whole = []
    for t in info.terms:
        t = norm(t)
        if len(t) >= 3:
            whole.append((t, tuple(a for w, a in info.expansions.items() if w in t for a in a)))
    m = norm(info.measure) if info.measure else None
    return _Units(weights, alts, whole, m, measure_head(m), sum(weights.values()) or 1.0)


def coverage(units: _Units, hay: str) -> float:
    """IDF-weighted share of the question's content bigrams that `hay` contains (or a word standing for it)."""
    bg = bigrams(hay)
    got = 0.0
    for b, w in units.weights.items():
        if (b in bg if len(b) == 2 else b in hay) or any(a in hay for a in units.alts.get(b, ())):
            got += w
    return got / units.total


# --------------------------------------------------------------------------- candidates and features


def candidates(info: QuestionInfo, retrieval, *, idf: dict[str, float] | None = None,
               params: Params | None = None) -> list[Candidate]:
    """Every candidate sentence of the retrieved passages, with its features, gate and probability."""
    params = params or load_params()
    units = question_units(info, idf if idf is not None else getattr(retrieval, "idf", None))
    passages = list(retrieval.passages)
    svecs = getattr(retrieval, "sentence_vectors", None) or {}
    qvec = getattr(retrieval, "qvec", None)
    top_score = max((float(p.score) for p in passages), default=1.0) or 1.0
    qbg = bigrams(info.key)
    doc_years = getattr(retrieval, "doc_years", None) or {}
    out: list[Candidate] = []
    for pi, p in enumerate(passages):
        chunk = p.chunk
        vecs = svecs.get(chunk.id)
        chunk_n = norm(chunk.text)
        ctx_head = norm(chunk.section.replace(" > ", ""))
        lead = (getattr(retrieval, "lead_years", None) or {}).get(chunk.id, frozenset())
        for si, (s, years) in enumerate(_governed(chunk.text, lead)):
            c = Candidate(pi, si, s, norm(s), chunk_n, years=years)
            if vecs is not None and qvec is not None and si < len(vecs):
                sim = float(np.dot(vecs[si], qvec))
            else:
                sim = float(p.scores.get("dense", 0.0)) if p.scores else 0.0
            c.gate = gate_of(info, c, chunk, doc_years.get(chunk.pilot))
            x = np.zeros(len(FEATURES), dtype=np.float64)
            x[0] = sim
            x[2] = coverage(units, c.n)
            x[3] = coverage(units, ctx_head + c.n)
            if units.whole:
                x[4] = sum(1.0 for t, alts in units.whole if t in c.n or any(a in c.n for a in alts)) / len(units.whole)
            if units.measure:
                x[5] = 1.0 if units.measure in c.n else (0.5 if units.measure_head and units.measure_head in c.n else 0.0)
            x[6] = _year_feature(info, c)
            x[7] = 1.0 if (info.qualifier and info.qualifier in qualifiers_in(c.n)) else 0.0
            x[8] = type_ok(info, c.n)
            sb = bigrams(c.n)
            x[9] = len(sb - qbg) / max(1, len(sb))
            x[10] = 1.0 if (_HEADING.match(s) and len(c.n) < 24) else 0.0
            x[11] = float(p.score) / top_score if top_score > 0 else 0.0
            x[12] = 1.0 / (pi + 1)
            # in the scope asked: the pilot or document named, or anywhere when the question names no place at
            # all (a question about an uploaded circular need not name it)
            x[13] = 1.0 if chunk.pilot in info.pilots or not (info.pilots or info.unknown_place or info.places) \
                else 0.0
            x[14] = math.log1p(len(c.n)) / 5.0
            # a target (a year still to come) offered to a question that asks for no year and no target
            x[15] = 1.0 if (not info.years and not asks_target(info)
                            and any(is_target_year(y) for y in c.years)) else 0.0
            # a figure asked: the measure is followed by a figure in the same clause ("总人口达到 20 万人"), not
            # only named in passing
            x[16] = 1.0 if (info.asks_figure and units.measure_head and _attributed(c.n, units.measure_head)) else 0.0
            c.x = x
            out.append(c)
    if out:
        best_sim = max(c.x[0] for c in out)
        for c in out:
            c.x[1] = c.x[0] - best_sim
        probs = params.prob(np.vstack([c.x for c in out]))
        for c, pr in zip(out, probs):
            c.p_raw = float(pr)
            c.p = c.p_raw if c.gate is None else 0.0
    return out


def _governed(text: str, lead: frozenset = frozenset()) -> list[tuple[str, frozenset]]:
    """Each candidate sentence with the years it speaks of: its own, else the last years stated before it
    in the same paragraph (“到2017年，…达到67%；户籍…达到66%” — the second clause is 2017's too), else the
    years of the paragraph that leads a dash-led goal (`lead`)."""
    out: list[tuple[str, frozenset]] = []
    for line in text.split("\n"):
        carry: frozenset = lead
        for s in candidate_sentences(line):
            own = frozenset(years_in(norm(s)))
            if own:
                carry = own
            out.append((s, own or carry))
    return out


def _year_feature(info: QuestionInfo, c: Candidate) -> float:
    if not info.years:
        return 0.0
    if any(y in c.years for y in info.years):
        return 1.0
    if not c.years and any(y in c.chunk_n for y in info.years):
        return 0.5
    return 0.0


def type_ok(info: QuestionInfo, s: str) -> float:
    """How well `s` has the kind of answer asked (a figure, a percentage, a role, a quoted name, a place…)."""
    t = info.answer_type
    if t == "percent":
        return 1.0 if has_percent(s) else 0.0
    if t == "number":
        return 1.0 if has_figure(s) else 0.0
    if t == "person":
        return 1.0 if _ROLE.search(s) else 0.0
    if t == "list":
        items = len(_ENUM.findall(s)) + len(re.findall(r"[和及与]", s)) + 1
        want = _CN_NUM.get(m.group(1), 2) if (m := re.search(r"哪([两二三四五六七八九十])", info.key)) else 2
        return min(1.0, items / want)
    if t == "place":
        return 1.0 if any(p not in info.key for p in _PLACE_TOKEN.findall(s)) else 0.0
    if t == "date":
        return 1.0 if _DATE.search(s) else 0.0
    if t == "name":
        return 1.0 if any(norm(q) not in info.key for q in _QUOTED_NAME.findall(s)) else 0.0
    return 0.5


def gate_of(info: QuestionInfo, c: Candidate, chunk, doc_years: frozenset | None = None) -> str | None:
    """A logical reason this sentence cannot answer the question (None when it may)."""
    if info.pilots and chunk.pilot not in info.pilots:
        return "pilot"
    if info.years and c.years and not any(y in c.years for y in info.years):
        return "year"
    if info.years and doc_years and not any(y in doc_years for y in info.years):
        return "year"  # a year its document never names: nothing in it is about that year
    if info.years and not c.years and chunk.top_section == "引言":
        # an intro without a year describes the plan's present (the latest year it states): not a later year
        stated = [int(y) for y in years_in(c.chunk_n)]
        if all(int(y) > max(stated, default=PLAN_YEAR) for y in info.years):
            return "year"
    if not info.years and asks_target(info) and c.years and not any(is_target_year(y) for y in c.years) \
            and info.asks_figure:
        return "year"  # a target asked, a figure of the plan's base year stated
    if info.period == "base" and c.years and all(is_target_year(y) for y in c.years) and info.asks_figure \
            and not _AS_OF.search(c.n):
        return "year"  # the base year asked (基期, 现在…), a target stated
    if info.require and norm(info.require) not in c.n:
        return "place"
    head = measure_head(norm(info.measure) if info.measure else None)
    if head and not _names_quantity(c.n, head) and not _names_rate(norm(info.measure or ""), head, c.n) \
            and not (info.asks_figure and _in_units(c.n, head)) \
            and not any(a in c.n for w, alts in info.expansions.items() if w in (info.measure or "") for a in alts):
        return "measure"
    mod = measure_modifier(norm(info.measure) if info.measure else None, head)
    if mod:
        # the modifier must qualify the measure itself: 人均 next to 生产总值/GDP, not in 人均收入 elsewhere
        heads = {head} | {a for w, alts in info.expansions.items() if w in (info.measure or "") for a in alts}
        if not any(re.search(re.escape(mod) + r"[\u4e00-\u9fff]{0,4}?" + re.escape(h), c.n) for h in heads if h):
            return "measure"
    elif head and len(head) >= 2 and info.asks_figure and only_modified(c.n, head, info.key):
        return "measure"  # 面积 asked, only 建成区面积 stated: another quantity
    if head and info.answer_type == "number" and unit_figure(head) is not None and not _in_units(c.n, head) \
            and not _attributed(c.n, head) and not _figure_before(c.n, head):
        return "measure"  # 总人口 asked: "…人口基本养老保险覆盖率达到 90%" has no figure of people
    if not info.qualifier and head and any(_all_other(c.n, head, d) for d in lexicon.defaults("qualifiers.txt")):
        return "qualifier"  # a bare 城镇化率 asked means the 常住 one: "户籍人口城镇化率 62%" is another
    if info.qualifier:
        qs = qualifiers_in(c.n)
        if info.qualifier not in qs and any(_same_group(q, info.qualifier) for q in qs):
            return "qualifier"
        if head and info.qualifier in qs and _all_other(c.n, head, info.qualifier):
            return "qualifier"
        if (not qs or (head and _unqualified(c.n, head))) and info.qualifier not in lexicon.defaults("qualifiers.txt") \
                and any(info.qualifier in g for g in lexicon.groups("qualifiers.txt")
                        if any(d in g for d in lexicon.defaults("qualifiers.txt"))):
            return "qualifier"  # 户籍 asked, a bare 城镇化率 stated: that is the 常住 rate
    if info.answer_type in ("number", "percent") and not has_figure(c.n):
        return "type"
    if _ASKS_MONEY.search(info.key) and not _MONEY.search(c.n):
        return "type"
    if info.answer_type == "percent" and not has_percent(c.n):
        return "type"
    if _HEADING.match(c.text) and len(c.n) < 24 and len(bigrams(c.n) - bigrams(info.key)) < 3:
        return "heading"
    return None


def only_modified(s: str, head: str, asked: str = "") -> bool:
    """Every mention of the measure's head in `s` is of a modified quantity (建成区面积, 城区人口) that the
    question (`asked`) does not name."""
    at = list(_starts_of(s, head))
    if not at:
        return False
    mods = sorted((w for w in lexicon.words("measure_modifiers.txt") if w not in asked), key=len, reverse=True)
    return all(any(w in s[max(0, i - len(w) - 2):i] for w in mods) for i in at)


_LEADS = re.compile(r"(?<!副)(?:组长|主任|总指挥|指挥长|挂帅)|牵头")


def names_role(s: str) -> float:
    """How surely a clause names who leads: 1 for a head's title (组长, 总指挥, 牵头), 0.3 for any other role
    (成员, 负责人), else 0."""
    return 1.0 if _LEADS.search(s) else (0.3 if _ROLE.search(s) else 0.0)


def _in_units(s: str, head: str) -> bool:
    """`s` has a figure in a unit the measure is written in (面积: 平方米, 亩…; `data/measure_units.tsv`)."""
    rx = unit_figure(head)
    if rx is None:
        return False
    mods = lexicon.words("measure_modifiers.txt")
    for m in rx.finditer(s):
        # the figure of another quantity (集镇建成区 4.5 平方公里) is not the asked one
        if not any(w in s[max(0, m.start() - 8):m.start()] for w in mods):
            return True
    return False


def _names_rate(measure: str, head: str, s: str) -> bool:
    """A rate named with a word between its last two words: 家庭宽带普及率 in "家庭宽带互联网普及率" (the last
    two jieba words of the measure, a one-character last word joined to the one before, at most four
    characters apart) — while 森林覆盖率 is still not 绿化覆盖率."""
    if not head.endswith(RATES):
        return False
    if head in s:
        return True
    rx = _rate_words(measure)
    return rx is not None and rx.search(s) is not None


@lru_cache(maxsize=256)
def _rate_words(measure: str) -> re.Pattern | None:
    words = [w for w in jieba_tokenizer().lcut(measure) if w.strip()]
    if len(words) >= 2 and len(words[-1]) == 1:
        words = words[:-2] + [words[-2] + words[-1]]
    if len(words) < 2:
        return None
    return re.compile(re.escape(words[-2]) + r"[^，,。；;、]{0,4}?" + re.escape(words[-1]))


def _names_quantity(s: str, head: str) -> bool:
    """`s` names the measure's head as a quantity of its own: 总人口 is not stated by "常住人口城镇化率 60%",
    where 人口 only begins the name of a rate."""
    if head.endswith(RATES):
        return head in s
    return any(not RATE_TAIL.match(s, end) for end in _ends_of(s, head))


_FIGURE_AFTER = re.compile(r"[^，,。；;、：:（(]{0,8}?\d")


def _attributed(s: str, head: str) -> bool:
    """Some mention of the measure's head in `s` is followed by a figure within its clause."""
    return any(_FIGURE_AFTER.match(s, end) for end in _ends_of(s, head))


def _figure_before(s: str, head: str) -> bool:
    """A figure stated just before the head in its clause ("实现 2 万农业转移人口落户")."""
    return re.search(r"\d[\d.]*\s*[万亿千百]?[^，,。；;、：:\d]{0,8}?" + re.escape(head), s) is not None


def _starts_of(s: str, head: str):
    """Where each mention of `head` in `s` starts."""
    k = s.find(head)
    while k >= 0:
        yield k
        k = s.find(head, k + 1)


def _ends_of(s: str, head: str):
    """Where each mention of `head` in `s` ends."""
    return (k + len(head) for k in _starts_of(s, head))


def _unqualified(s: str, head: str) -> bool:
    """Every mention of the measure in `s` is bare: no qualifier right before it ("城市品位提升，城镇化率超过
    80%" names 城市, but not as the rate's qualifier)."""
    at = list(_starts_of(s, head))
    return bool(at) and not any(qualifiers_in(s[max(0, k - 6):k]) for k in at)


def _all_other(s: str, head: str, qualifier: str) -> bool:
    """Every mention of the measure in `s` carries another qualifier of the asked one's group
    (户籍 asked: “户籍人口 202 万人，常住人口城镇化率 68.6%” names 户籍 but not 户籍's rate)."""
    at = list(_starts_of(s, head))
    if not at:
        return False
    for k in at:
        quals = qualifiers_in(s[max(0, k - 6):k])
        if not quals or qualifier in quals or not any(_same_group(q, qualifier) for q in quals):
            return False
    return True


def _same_group(a: str, b: str) -> bool:
    return any(a in g and b in g for g in lexicon.groups("qualifiers.txt"))


__all__ = ["type_ok", "only_modified", "names_role", "Candidate", "Params", "FEATURES", "candidates", "load_params",
           "question_units", "coverage", "PARAMS_PATH", "gate_of"]
