"""Answers with verified citations: an offline extractive answerer (default) and LLM answerers.

Every answer, whoever wrote it, goes through the same rule: a citation `[n]` stands only if the quoted text
is really in the cited passage (compared in `text.norm` form). The extractive answerer quotes corpus
sentences verbatim, so its citations always hold; an LLM's markers are checked by `verify_citations`, which
drops markers that point nowhere or at a passage that does not support the claim, and flags an answer left
with no valid citation as ungrounded.

Public API
----------
- `Citation`, `Answer` (`to_json(id)` = the stable batch format, `to_dict()` = that plus grounded/notice/…)
- `ExtractiveAnswerer(min_score=0.35, max_sentences=3).answer(question, retrieval) -> Answer` / `.stream()`
- `verify_citations(text, passages) -> (clean_text, citations, grounded)`
- `LLMAnswerer(config=None, *, base_url, model, api_key, timeout, max_retries)` — any OpenAI-compatible endpoint
- `LocalLLMAnswerer(config_or_path)` — a local Hugging Face causal LM directory (transformers, no download)
- `LLMError` — the LLM could not be used (message never contains the API key)
- `load_prompt(name, prompts_dir=None)`, `build_messages(question, passages, prompts_dir=None)`
"""
from __future__ import annotations

import math
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator, Sequence

from .text import jieba_pos_tokenizer, jieba_tokenizer, norm, split_sentences, to_simplified

if TYPE_CHECKING:  # pragma: no cover
    from .config import Config

__all__ = [
    "Citation", "Answer", "ExtractiveAnswerer", "LLMAnswerer", "LocalLLMAnswerer", "LLMError",
    "verify_citations", "load_prompt", "build_messages", "quote_lines", "is_refusal_text",
    "DEFAULT_MIN_SCORE", "UNGROUNDED_NOTICE",
]

DEFAULT_MIN_SCORE = 0.35
UNGROUNDED_NOTICE = "未能核实引用，此回答可能没有文件依据"
_PROMPTS_DIR = Path(__file__).resolve().parent.parent / "prompts"


# =========================================================================== data


@dataclass
class Citation:
    """`[n]` in the answer text → this quote, in this chunk, on these file lines."""

    n: int
    chunk_id: str
    pilot: str
    section: str
    start_line: int
    end_line: int
    quote: str

    def to_json(self) -> dict:
        return {"n": self.n, "chunk_id": self.chunk_id, "pilot": self.pilot, "section": self.section,
                "start_line": self.start_line, "end_line": self.end_line, "quote": self.quote}


@dataclass
class Answer:
    question: str
    text: str
    answerable: bool
    citations: list[Citation]
    passages: list  # list[Passage], rank order
    timings_ms: dict[str, float] = field(default_factory=dict)
    grounded: bool = True
    notice: str | None = None
    pilots: list[str] = field(default_factory=list)   # pilots the question is about (from the retrieval)
    answerer: str = "extractive"                        # "extractive" | "llm" | "llm-local"
    is_cross: bool = False

    def to_json(self, id: str | None = None) -> dict:
        """The stable batch format: exactly these keys, nothing else."""
        t = self.timings_ms or {}
        return {
            "id": id,
            "question": self.question,
            "answer": self.text,
            "answerable": bool(self.answerable),
            "citations": [c.to_json() for c in self.citations],
            "passages": [
                {"rank": p.rank, "chunk_id": p.chunk.id, "pilot": p.chunk.pilot, "section": p.chunk.section,
                 "start_line": p.chunk.start_line, "end_line": p.chunk.end_line,
                 "score": round(float(p.score), 6), "text": p.chunk.text}
                for p in self.passages
            ],
            "timings_ms": {k: round(float(t.get(k, 0.0)), 2) for k in ("retrieve", "answer", "total")},
        }

    def to_dict(self, id: str | None = None) -> dict:
        """`to_json` plus what the UI and `--json` show: grounded, notice, pilots, answerer, is_cross."""
        d = self.to_json(id)
        d.update({"grounded": self.grounded, "notice": self.notice, "pilots": list(self.pilots),
                  "answerer": self.answerer, "is_cross": self.is_cross})
        return d


class LLMError(RuntimeError):
    """The LLM could not produce an answer (connection, timeout, HTTP error, empty/garbage response)."""


# =========================================================================== text helpers

_PUNCT = set("，。、；：？！“”‘’（）《》【】〔〕［］—…·,.;:?!\"'()[]<>{}-_/\\|~`@#$%^&*+=　 \t\n")
_BIGRAM_SKIP = set("，。、；：？！“”‘’（）《》【】,.;:?!\"'()[] ")
_YEAR = re.compile(r"((?:19|20)\d{2})(?=\s*(?:年|[—–\-~～至到]\s*(?:19|20)\d{2}))")
_DIGIT = re.compile(r"\d")
_CN_QTY = re.compile(r"(?:第[一二两三四五六七八九十百]+|[一二两三四五六七八九十百千]+(?:[个家位批项条次倍所座万亿]|分之))")
_NUM_TOKEN = re.compile(r"\d+(?:\.\d+)?")
# A question that asks for a figure: the answer sentence must contain one.
_ASKS_FIGURE = re.compile(r"多少|几[个家位项条批所座倍年万]|多大|多长|多远|多高|多宽|多重|比例|比重|百分之|第几|几成")
# Words that make a figure likely (soft bonus only).
_ASKS_RATE = re.compile(r"率|比例|比重|占比|百分")   # a rate is answered by a percentage, not by "五个"
_PERCENT = re.compile(r"\d\s*[%％]|百分之")
_FIGURE_HINT = re.compile(r"率|面积|人口|目标|规模|总量|产值|生产总值|GDP|投资|资金|亿|万|公里|融资|增速|增长")

# Question scaffolding: removed before content terms are taken from the question.
_STOP_PHRASES = frozenset("""
是多少 有多少 为多少 达到多少 要达到多少 多少 有多大 多大 多长 多远 多高 多宽 几个 哪几个 哪几 哪些 哪个 哪条 哪位
哪里 哪两 哪三 哪四 哪种 哪类 哪一 什么样 是什么 为什么 什么 是谁 由谁 谁 如何 怎样 怎么 是否 有没有 请问 分别是 分别
是 有 的 了 吗 呢 啊 吧 要 将 会 能 可 计划 力争 预计 目标 要求 达到 到 在 于 和 与 及 或 等 其 之 为 被 把 对 从 以
试点 综合试点 新型城镇化综合试点 工作方案要点 工作方案 方案 要点 文件 资料 提到 提出 提及 涉及 关于 方面 主要 情况 内容
一下 介绍 讲了 说了 里 中 上 多 那个 这个 那些 这些 哪 个
""".split())
# Extra words dropped for "which pilots mention X" key terms.
_CROSS_STOP = {"建设", "推进", "发展", "实施", "加快", "开展", "推动", "方向", "以", "为", "有", "几个", "哪些", "提",
               "建立", "积极", "加强", "都", "共", "运用", "利用", "采用", "使用", "设立", "打造", "探索", "实行", "推行",
               "有关", "相关", "开展", "作为", "列为", "哪几", "几"}
_HEADING = re.compile(r"^(?:[（(][一二三四五六七八九十\d]+[）)]|\d+[.．、]|[一二三四五六七八九十]+、)")
_ASKS_LIST = re.compile(r"哪些|哪几|哪两|哪三|哪四|哪五|分别|包括|有什么|是什么")
_REFUSAL = re.compile(r"文件中?(?:并)?(?:没有|未|无)|资料中?(?:并)?(?:没有|未|无)|未(?:提及|提到|涉及|找到|包含)|"
                      r"没有(?:提及|提到|涉及|找到|相关|包含|给出)|无法回答|无法(?:确定|找到)|不包含|无相关|并未")


def _bigrams(s: str) -> set[str]:
    """Character bigrams of a normalised string, skipping any that contain punctuation."""
    return {s[i:i + 2] for i in range(len(s) - 1) if s[i] not in _BIGRAM_SKIP and s[i + 1] not in _BIGRAM_SKIP}


def _has_figure(s: str) -> bool:
    """A quantity other than a bare year ("到 2020 年" alone is no answer to "多少")."""
    s = _YEAR.sub("", s)
    return bool(_DIGIT.search(s) or _CN_QTY.search(s))


def _numbers(s: str) -> set[str]:
    """Numeric tokens of a normalised string (years included)."""
    return set(_NUM_TOKEN.findall(s))


def _contains_number(hay: str, num: str) -> bool:
    return re.search(r"(?<![\d.])" + re.escape(num) + r"(?![\d])(?!\.\d)", hay) is not None


def _strip_quote(s: str) -> str:
    """A sentence as quoted: outer whitespace, leading dashes and trailing separators removed."""
    s = s.strip()
    s = re.sub(r"^[—\-–]+", "", s).strip()
    return s.rstrip("，,；;、。 ").strip()


def _end(s: str) -> str:
    """Text to put after a cited quote so the answer reads as a sentence."""
    return "" if s and s[-1] in "。！？!?" else "。"


@lru_cache(maxsize=8)
def _source_lines(source: str) -> tuple[str, ...] | None:
    from .config import ROOT

    for p in (Path(source), ROOT / source):
        try:
            if p.is_file():
                return tuple(p.read_text(encoding="utf-8", errors="replace").splitlines())
        except OSError:
            continue
    return None


@lru_cache(maxsize=8)
def _idf_table(source: str) -> tuple[dict[str, float], float] | None:
    """Bigram IDF over the lines of a corpus file (common bigrams like 城镇 weigh little)."""
    lines = _source_lines(source)
    if not lines:
        return None
    df: Counter = Counter()
    n = 0
    for ln in lines:
        s = norm(ln)
        if len(s) < 2:
            continue
        n += 1
        df.update(_bigrams(s))
    if not n:
        return None
    idf = {b: math.log((n + 1) / (c + 0.5)) for b, c in df.items()}
    return idf, math.log((n + 1) / 0.5)


def quote_lines(chunk, quote: str) -> tuple[int, int]:
    """File lines (inclusive) of `quote` inside `chunk`, always within [chunk.start_line, chunk.end_line].

    Exact when the chunk's source file is readable (the quote is located in the file's lines, page breaks
    and blank lines included); otherwise approximated from the quote's offset in the chunk text.
    """
    lo, hi = int(chunk.start_line), int(chunk.end_line)
    q = norm(quote)
    if not q or hi <= lo:
        return lo, max(lo, hi)
    lines = _source_lines(getattr(chunk, "source", "") or "")
    if lines and hi <= len(lines):
        buf, owner = [], []
        for ln in range(lo, hi + 1):
            s = norm(lines[ln - 1])
            buf.append(s)
            owner.extend([ln] * len(s))
        hay = "".join(buf)
        k = hay.find(q)
        if k >= 0:
            return owner[k], owner[k + len(q) - 1]
    hay = norm(chunk.text)
    k = hay.find(q)
    if k < 0 or not hay:
        return lo, hi
    span = hi - lo + 1
    a = lo + min(span - 1, int(k / len(hay) * span))
    b = lo + min(span - 1, int((k + len(q) - 1) / len(hay) * span))
    return max(lo, min(a, hi)), max(lo, min(max(a, b), hi))


def _citation(n: int, chunk, quote: str) -> Citation:
    a, b = quote_lines(chunk, quote)
    return Citation(n=n, chunk_id=chunk.id, pilot=chunk.pilot, section=chunk.section, start_line=a, end_line=b,
                    quote=quote)


def _pilot_aliases(name: str, province: str) -> list[str]:
    try:
        from .places import aliases_for

        place = name[len(province):] if province and name.startswith(province) else name
        return aliases_for(name, province, place) if province else [name]
    except Exception:  # pragma: no cover - places is a helper; never fail an answer on it
        return [name]


def _pilot_phrase(chunk) -> str:
    return f"根据{chunk.pilot}的工作方案要点，" if getattr(chunk, "province", "") else f"根据“{chunk.pilot}”，"


# =========================================================================== question analysis


def _warm() -> None:
    try:
        jieba_tokenizer()
        from .config import Config

        for src in Config().corpus:
            _idf_table(src)
    except Exception:  # warming is best effort
        pass


@dataclass
class _Query:
    raw: str
    q: str                       # normalised, simplified
    segments: list[str]          # content segments (pilot names, question words, years removed)
    weights: dict[str, float]    # content bigram → weight
    years: list[str]
    asks_figure: bool
    figure_hint: bool
    quoted: list[str]            # “…” terms in the question
    topic: str                   # the question without its question words, for refusal text


def _segments(q: str, extra_stop: set[str] = frozenset()) -> list[str]:
    """Runs of content tokens of `q` (jieba tokens that are not question scaffolding / punctuation)."""
    stop = _STOP_PHRASES | extra_stop if extra_stop else _STOP_PHRASES
    segs, cur = [], []
    for tok in jieba_tokenizer().lcut(q):
        if tok in stop or tok == "|" or all(c in _PUNCT for c in tok):
            if cur:
                segs.append("".join(cur))
                cur = []
        else:
            cur.append(tok)
    if cur:
        segs.append("".join(cur))
    return [s for s in segs if len(s) >= 2 or _DIGIT.search(s)]


def _topic(question: str, remove: Iterable[str] = ()) -> str:
    t = question.strip().rstrip("？?。！!　 ")
    t = re.sub(r"(是多少|有多少|为多少|要达到多少|达到多少|多少|有多大|多大|是什么|有哪些|是哪些|是谁|由谁.*|吗|呢)$", "", t)
    t = t.strip("，, ") or question.strip()
    return t.replace("“", "‘").replace("”", "’")


def _analyse(question: str, retrieval, idf: dict[str, float] | None, idf_max: float) -> _Query:
    q = norm(to_simplified(question))
    quoted = [norm(x) for x in re.findall(r"[“\"「『]([^”\"」』]{1,30})[”\"」』]", to_simplified(question)) if norm(x)]
    years = list(dict.fromkeys(re.findall(r"((?:19|20)\d{2})(?=年|\D|$)", q)))
    work = re.sub(r"((?:19|20)\d{2})年?", "|", q)
    work = re.sub(r"(多少|几)[个家位项条批所座倍万亿人户亩吨次张元]?", "|", work)
    # pilot names / aliases mentioned (detected pilots and every pilot among the passages), and an unknown place
    names: dict[str, str] = {}
    for p in retrieval.passages:
        names.setdefault(p.chunk.pilot, getattr(p.chunk, "province", ""))
    for name in retrieval.pilots:
        names.setdefault(name, "")
    forms: set[str] = set()
    for name, prov in names.items():
        forms.update(norm(a) for a in _pilot_aliases(name, prov))
        forms.add(norm(name))
    if retrieval.unknown_place:
        forms.add(norm(retrieval.unknown_place))
    for f in sorted((f for f in forms if len(f) >= 2), key=len, reverse=True):
        if f in work:
            work = work.replace(f, "|")
    work = re.sub(r"[（(][^）)]*[）)]", "|", work) if retrieval.is_cross else work
    segs = _segments(work)
    weights: dict[str, float] = {}
    for s in segs:
        for b in _bigrams(s):
            weights[b] = math.sqrt(max(idf[b], 0.1)) if idf and b in idf else (0.5 if idf else 1.0)
    if not weights:  # single-character content: fall back to characters of the segments
        for s in segs:
            for ch in s:
                weights[ch] = 1.0
    return _Query(raw=question, q=q, segments=segs, weights=weights, years=years,
                  asks_figure=bool(_ASKS_FIGURE.search(q)), figure_hint=bool(_FIGURE_HINT.search(q)),
                  quoted=quoted, topic=_topic(question))


# =========================================================================== extractive answerer


@dataclass
class _Sent:
    pi: int           # passage index in retrieval.passages
    text: str         # quoted text (original characters, stripped)
    n: str            # norm(text)
    context: str      # norm of the paragraph (chunk line) it comes from
    chunk_n: str = ""  # norm of the whole chunk text
    coverage: float = 0.0
    score: float = 0.0
    conflict: bool = False   # names what the question asks about with another qualifier (常住 vs 户籍…)


def _passage_sentences(pi: int, chunk) -> list[_Sent]:
    out = []
    whole = norm(chunk.text)
    for line in chunk.text.split("\n"):
        ctx = norm(line)
        for s in split_sentences(line):
            t = _strip_quote(s)
            if len(norm(t)) >= 4:
                out.append(_Sent(pi, t, norm(t), ctx, whole))
    return out


_CJK2 = re.compile(r"[\u4e00-\u9fff]{2}")


def _qualifier_conflict(segments: list[str], sent_n: str) -> bool:
    """True when a question phrase like 户籍人口城镇化率 is absent but its head (人口城镇化率) appears in the
    sentence with a different qualifier (常住人口城镇化率): the sentence answers another question."""
    for seg in segments:
        if len(seg) < 5 or seg in sent_n:
            continue
        words = jieba_pos_tokenizer().lcut(seg)
        # only a noun-like qualifier (户籍, 常住) names another quantity; 开展…/两种… do not
        if len(words[0].word) < 2 or not words[0].flag.startswith(("n", "b")):
            continue
        qual, head = seg[:2], seg[2:]
        if len(head) < 3:
            continue
        k = sent_n.find(head)
        while k >= 0:
            prev = sent_n[k - 2:k] if k >= 2 else ""
            if prev and prev != qual and "的" not in prev and _CJK2.fullmatch(prev) and _CJK2.fullmatch(qual):
                return True
            k = sent_n.find(head, k + 1)
    return False


def _split_clauses(text: str) -> list[str]:
    """Split on ， / ： outside “…” quotes, keeping the separators."""
    parts, cur, depth = [], [], 0
    for ch in text:
        cur.append(ch)
        if ch in "“「（(":
            depth += 1
        elif ch in "”」）)":
            depth = max(0, depth - 1)
        elif ch in "，,：:" and depth == 0:
            parts.append("".join(cur))
            cur = []
    if cur:
        parts.append("".join(cur))
    return parts


def _clauses_window(sent: _Sent, weights: dict[str, float], want_figure: bool, max_len: int = 80) -> str:
    """A long sentence shortened to its best 1–3 consecutive clauses (a verbatim substring)."""
    if len(sent.text) <= max_len:
        return sent.text
    parts = _split_clauses(sent.text)
    if len(parts) <= 1:
        return sent.text
    best, best_s = sent.text, -1.0
    for i in range(len(parts)):
        for j in range(i + 1, min(len(parts), i + 3) + 1):
            cand = "".join(parts[i:j])
            if len(cand) > max_len and j > i + 1:
                continue
            cn = norm(cand)
            bg = _bigrams(cn)
            s = sum(w for b, w in weights.items() if b in bg or (len(b) == 1 and b in cn))
            s = s / (sum(weights.values()) or 1.0)
            if want_figure and _has_figure(cn):
                s += 0.3
            if _YEAR.search(parts[i]):
                s += 0.05
            s -= 0.001 * len(cand)
            if s > best_s:
                best, best_s = cand, s
    # keep a leading "到 2020 年，" clause with the figure it governs
    k = sent.text.find(best)
    before = sent.text[:k]
    m = re.search(r"(?:到|至|在)?\s*(?:19|20)\d{2}\s*年(?:底|前|末)?[，,]\s*$", before)
    if m and not _YEAR.search(norm(best)):
        best = before[m.start():] + best
    return _strip_quote(best) or sent.text


class ExtractiveAnswerer:
    """Offline answers built from the retrieved passages' own sentences, each cited.

    `min_score` is the relevance bar: the share (0–1, IDF-weighted) of the question's content bigrams a
    sentence must contain to count as an answer. Below it for every sentence → refusal.
    """

    name = "extractive"

    def __init__(self, min_score: float = DEFAULT_MIN_SCORE, max_sentences: int = 3, cross_min_cover: float = 0.6,
                 warm: bool = True):
        self.min_score = float(min_score)
        self.max_sentences = int(max_sentences)
        self.cross_min_cover = float(cross_min_cover)
        self._idf: dict[str, float] | None = None
        if warm:  # load jieba's dictionary in the background so the first question is fast too
            threading.Thread(target=_warm, daemon=True).start()

    # ------------------------------------------------------------------ public

    def answer(self, question: str, retrieval) -> Answer:
        t0 = time.perf_counter()
        question = question or retrieval.question
        passages = list(retrieval.passages)
        if not passages:
            text = f"文件中没有找到“{_topic(question)}”的相关内容。"
            ans = self._make(question, retrieval, text, False, [])
        else:
            idf_t = _idf_table(getattr(passages[0].chunk, "source", "") or "")
            idf, idf_max = (idf_t if idf_t else (None, 1.0))
            self._idf = idf
            qa = _analyse(question, retrieval, idf, idf_max)
            sents = [s for pi, p in enumerate(passages) for s in _passage_sentences(pi, p.chunk)]
            self._score(qa, sents, retrieval)
            if retrieval.unknown_place and not retrieval.pilots:
                ans = self._refuse(question, retrieval, qa, sents, unknown=retrieval.unknown_place)
            elif retrieval.is_cross:
                ans = self._cross(question, retrieval, qa, sents)
            else:
                ans = self._single(question, retrieval, qa, sents)
        dt = (time.perf_counter() - t0) * 1000
        r = float((retrieval.timings_ms or {}).get("total", 0.0) or 0.0)
        ans.timings_ms = {"retrieve": r, "answer": dt, "total": r + dt}
        return ans

    def stream(self, question: str, retrieval) -> Iterator[str | Answer]:
        """Same interface as the LLM answerers: the text as one delta, then the Answer."""
        ans = self.answer(question, retrieval)
        yield ans.text
        yield ans

    # ------------------------------------------------------------------ scoring

    def _score(self, qa: _Query, sents: list[_Sent], retrieval) -> None:
        total = sum(qa.weights.values()) or 1.0
        named = set(retrieval.pilots)
        n_pass = max(1, len(retrieval.passages))
        wants_list = bool(_ASKS_LIST.search(qa.q))
        for s in sents:
            bg = _bigrams(s.n)
            cov = sum(w for b, w in qa.weights.items() if (b in bg if len(b) == 2 else b in s.n)) / total
            # a content segment found whole (e.g. "户籍人口城镇化率") counts more than its scattered bigrams
            whole = [seg for seg in qa.segments if len(seg) >= 3]
            if whole:
                cov = 0.8 * cov + 0.2 * (sum(seg in s.n for seg in whole) / len(whole))
            s.coverage = cov
            s.conflict = _qualifier_conflict(qa.segments, s.n)
            sc = cov
            fig = _has_figure(s.n)
            if qa.asks_figure:
                sc += 0.25 if fig else -0.3
            elif qa.figure_hint and fig:
                sc += 0.08
            s_years = set(_YEAR.findall(s.n))
            for y in qa.years:
                if y in s_years:
                    sc += 0.15
                elif s_years:
                    sc -= 0.4      # the sentence is about another year
                elif y in s.context or y in s.chunk_n:
                    sc += 0.05
                else:
                    sc -= 0.1
            if wants_list:
                sc += min(0.15, 0.04 * (s.n.count("、") + s.n.count("，")))
            if _HEADING.match(s.text) and len(s.n) < 24:
                sc -= 0.3      # a heading repeats the question; it does not answer it
            # novelty: a sentence that is all question words says nothing new
            if len(bg - set(qa.weights)) < 3:
                sc -= 0.2
            chunk = retrieval.passages[s.pi].chunk
            if named:
                sc += 0.15 if chunk.pilot in named else -0.5
            sc += 0.08 * (1.0 - s.pi / n_pass)
            s.score = sc

    def _eligible(self, qa: _Query, s: _Sent, retrieval) -> bool:
        if s.coverage < self.min_score:
            return False
        if qa.asks_figure and not _has_figure(s.n):
            return False
        if qa.asks_figure and _ASKS_RATE.search(qa.q) and not _PERCENT.search(s.n):
            return False
        if qa.years:  # a sentence about another year does not answer; one with no year may (lists)
            s_years = set(_YEAR.findall(s.n))
            if s_years and any(y not in s_years for y in qa.years):
                return False
            if not s_years:  # the year may govern it from the chunk (a "——" goal under "到2020年…")
                c_years = set(_YEAR.findall(s.chunk_n))
                if c_years and any(y not in c_years for y in qa.years):
                    return False
        if s.conflict:
            return False
        if retrieval.pilots and retrieval.passages[s.pi].chunk.pilot not in retrieval.pilots:
            return False
        if _HEADING.match(s.text) and len(s.n) < 24 and len(_bigrams(s.n) - set(qa.weights)) < 3:
            return False
        return True

    # ------------------------------------------------------------------ single-answer questions

    def _single(self, question, retrieval, qa: _Query, sents: list[_Sent]) -> Answer:
        good = sorted((s for s in sents if self._eligible(qa, s, retrieval)), key=lambda s: -s.score)
        if not good:
            return self._refuse(question, retrieval, qa, sents)
        best = good[0]
        chosen = [best]
        for s in good[1:]:
            if len(chosen) >= self.max_sentences:
                break
            if s.score < max(best.score * 0.85, best.score - 0.2):
                break
            if any(s.n in c.n or c.n in s.n for c in chosen):
                continue
            chosen.append(s)
        # passages in the order of their best sentence; sentences of one passage in document order
        pos = {id(s): i for i, s in enumerate(sents)}
        first = {}
        for i, s in enumerate(chosen):
            first.setdefault(s.pi, i)
        chosen.sort(key=lambda s: (first[s.pi], pos[id(s)]))
        pieces: list[tuple[_Sent, str]] = []
        for s in chosen:
            pieces.append((s, _clauses_window(s, qa.weights, qa.asks_figure)))
        text, cits = self._compose(retrieval, pieces)
        if not cits:
            return self._refuse(question, retrieval, qa, sents)
        return self._make(question, retrieval, text, True, cits)

    def _compose(self, retrieval, pieces: list[tuple[_Sent, str]]) -> tuple[str, list[Citation]]:
        numbers: dict[int, int] = {}
        cits: list[Citation] = []
        out: list[str] = []
        last_pilot = None
        for s, quote in pieces:
            chunk = retrieval.passages[s.pi].chunk
            if norm(quote) not in norm(chunk.text):  # the rule: a quote is in its passage, always
                continue
            n = numbers.setdefault(s.pi, len(numbers) + 1)
            cits.append(_citation(n, chunk, quote))
            lead = _pilot_phrase(chunk) if chunk.pilot != last_pilot else ""
            last_pilot = chunk.pilot
            out.append(f"{lead}{quote}[{n}]{_end(quote)}")
        return "".join(out), cits

    # ------------------------------------------------------------------ cross-pilot questions

    def _cross_terms(self, qa: _Query, retrieval) -> list[str]:
        if qa.quoted:
            return list(dict.fromkeys(qa.quoted))
        terms: list[str] = []
        for seg in qa.segments:
            for part in _segments(seg, _CROSS_STOP):
                if part not in terms:
                    terms.append(part)
        return terms or qa.segments

    def _core(self, term: str) -> str | None:
        """The most specific word (by corpus IDF) of a multi-word term, e.g. 棚户区 of 棚户区改造."""
        words = [w for w in jieba_tokenizer().lcut(term) if len(w) >= 2]
        if len(words) < 2:
            return None
        idf = self._idf or {}
        return max(words, key=lambda w: sum(idf.get(b, 0.0) for b in _bigrams(w)) / max(1, len(w) - 1))

    def _term_in(self, term: str, hay: str) -> bool:
        if term in hay:
            return True
        core = self._core(term)
        if not core or core not in hay:
            return False
        bg = _bigrams(term)
        return bool(bg) and len(bg & _bigrams(hay)) / len(bg) >= self.cross_min_cover

    def _cross(self, question, retrieval, qa: _Query, sents: list[_Sent]) -> Answer:
        terms = self._cross_terms(qa, retrieval)
        if not terms:
            return self._single(question, retrieval, qa, sents)
        found: dict[str, tuple[int, str]] = {}   # pilot → (passage index, quote)
        for pi, p in enumerate(retrieval.passages):
            chunk = p.chunk
            if chunk.pilot in found:
                continue
            if retrieval.pilots and chunk.pilot not in retrieval.pilots and len(retrieval.pilots) > 1:
                continue
            hay = norm(chunk.text)
            if not all(self._term_in(t, hay) for t in terms):
                continue
            cands = [s for s in sents if s.pi == pi]
            best = max(cands, key=lambda s: (sum(self._term_in(t, s.n) for t in terms), s.coverage), default=None)
            if best is None:
                continue
            quote = best.text
            if len(quote) > 80:
                quote = _clauses_window(best, {t: 1.0 for t in terms} | qa.weights, False)
            if norm(quote) in hay:
                found[chunk.pilot] = (pi, quote)
        if not found:
            return self._refuse(question, retrieval, qa, sents, what=f"提到“{'、'.join(terms)}”的试点")
        cits, names = [], []
        ordered = sorted(found.items(), key=lambda kv: (retrieval.passages[kv[1][0]].chunk.source,
                                                        retrieval.passages[kv[1][0]].chunk.start_line))
        for i, (pilot, (pi, quote)) in enumerate(ordered, start=1):
            cits.append(_citation(i, retrieval.passages[pi].chunk, quote))
            names.append(f"{pilot}[{i}]")
        key = "、".join(f"“{t}”" for t in terms)
        verb = "提出" if "提出" in qa.q else ("涉及" if "涉及" in qa.q else "提到")
        text = f"共有{len(found)}个试点{verb}{key}：{'、'.join(names)}。"
        return self._make(question, retrieval, text, True, cits)

    # ------------------------------------------------------------------ refusal

    def _refuse(self, question, retrieval, qa: _Query, sents: list[_Sent], unknown: str | None = None,
                what: str | None = None) -> Answer:
        if unknown:
            head = f"文件中没有找到{unknown}的相关内容：{unknown}不在文件所列的试点之中。"
        else:
            head = f"文件中没有找到{what or '“' + qa.topic + '”'}的相关内容。"
        # closest content: the best sentence of each of the (up to) two best passages
        best_by_p: dict[int, _Sent] = {}
        for s in sorted(sents, key=lambda s: -s.score):
            if s.pi not in best_by_p:
                best_by_p[s.pi] = s
            if len(best_by_p) >= 2:
                break
        pieces, cits = [], []
        for n, (pi, s) in enumerate(best_by_p.items(), start=1):
            chunk = retrieval.passages[pi].chunk
            quote = _clauses_window(s, qa.weights, qa.asks_figure, max_len=60)
            if norm(quote) not in norm(chunk.text):
                continue
            cits.append(_citation(n, chunk, quote))
            pieces.append(f"{chunk.pilot}：{quote}[{n}]")
        text = head + (f"最接近的内容：{'；'.join(pieces)}。" if pieces else "")
        return self._make(question, retrieval, text, False, cits)

    def _make(self, question, retrieval, text, answerable, cits) -> Answer:
        return Answer(question=question, text=text, answerable=answerable, citations=cits,
                      passages=list(retrieval.passages), timings_ms={}, grounded=True, notice=None,
                      pilots=list(retrieval.pilots), answerer=self.name, is_cross=bool(retrieval.is_cross))


# =========================================================================== citation verification

_MARKER = re.compile(r"[\[［【]\s*(\d{1,3}(?:\s*[,，、]\s*\d{1,3})*)\s*[\]］】]")
_SENT_BOUNDARY = "。！？；!?;\n"


def _claim_before(text: str, pos: int) -> str:
    """The sentence of `text` that ends at `pos` (markers removed)."""
    i = pos
    while i > 0 and text[i - 1] not in _SENT_BOUNDARY:
        i -= 1
    claim = _MARKER.sub("", text[i:pos])
    claim = claim.strip()
    if not norm(claim) and i > 0:  # "…达到45%。[1]": the marker follows the full stop
        j = i - 1
        while j > 0 and text[j - 1] not in _SENT_BOUNDARY:
            j -= 1
        claim = _MARKER.sub("", text[j:i]).strip()
    return claim


def _support(claim_n: str, passage_n: str) -> float:
    """Share of the claim's bigrams found in the passage (1.0 for an empty claim)."""
    bg = _bigrams(claim_n)
    if not bg:
        return 1.0
    return len(bg & _bigrams(passage_n)) / len(bg)


def _best_sentence(claim_n: str, chunk) -> str:
    sents = _passage_sentences(0, chunk)
    if not sents:
        return _strip_quote(chunk.text)[:80]
    cb = _bigrams(claim_n)
    best = max(sents, key=lambda s: (len(cb & _bigrams(s.n)) / (len(cb) or 1), -abs(len(s.n) - len(claim_n))))
    return best.text


def verify_citations(text: str, passages: Sequence, *, min_support: float = 0.3) -> tuple[str, list[Citation], bool]:
    """Check an LLM answer's `[n]` markers against the passages it was shown (numbered 1..len).

    Accepts `[n]`, `[n,m]`, `[n][m]`, `［n］`, `【n】`. A marker is removed when it points at no passage, or
    when the claim sentence before it shares less than `min_support` of its bigrams with the cited passage
    or states a number the passage does not contain. Kept markers are renumbered 1.. in order of first
    appearance (one number per distinct passage) and rewritten as `[n]`. Each kept marker gives a Citation
    whose quote is the claim itself when it is verbatim in the passage (norm form), else the passage's
    best-matching sentence. `grounded` is False when no valid citation is left.
    """
    text = text or ""
    numbers: dict[int, int] = {}
    cits: list[Citation] = []
    seen: set[tuple[int, str]] = set()
    out: list[str] = []
    pos = 0
    for m in _MARKER.finditer(text):
        out.append(text[pos:m.start()])
        pos = m.end()
        claim = _claim_before(text, m.start())
        claim_n = norm(claim)
        kept: list[int] = []
        for raw in re.split(r"[,，、]", m.group(1)):
            k = int(raw.strip())
            if not 1 <= k <= len(passages):
                continue
            chunk = passages[k - 1].chunk
            hay = norm(chunk.text)
            if _support(claim_n, hay) < min_support:
                continue
            if any(not _contains_number(hay, x) for x in _numbers(claim_n)):
                continue
            n = numbers.setdefault(k, len(numbers) + 1)
            if n not in kept:
                kept.append(n)
            quote = claim if claim_n and claim_n in hay else _best_sentence(claim_n, chunk)
            quote = _strip_quote(quote) or quote
            if norm(quote) not in hay:
                continue
            if (n, norm(quote)) not in seen:
                seen.add((n, norm(quote)))
                cits.append(_citation(n, chunk, quote))
        out.append("".join(f"[{n}]" for n in kept))
    out.append(text[pos:])
    clean = "".join(out)
    clean = re.sub(r"[ \t]+([，。；！？])", r"\1", clean).strip()
    return clean, cits, bool(cits)


def is_refusal_text(text: str) -> bool:
    """Does the model say the documents do not contain the answer? (judged on its first sentence)"""
    s = (text or "").strip()
    first = re.split(r"[。！？!?\n]", s, maxsplit=1)[0] if s else ""
    return bool(_REFUSAL.search(first)) or (len(s) <= 40 and bool(_REFUSAL.search(s)))


# =========================================================================== prompts

_DELIM = re.compile(r"<{3,}|>{3,}|＜{3,}|＞{3,}|《{3,}|》{3,}")


def _defang(s: str) -> str:
    """Neutralise the delimiter strings if they appear inside user text or passages."""
    return _DELIM.sub(lambda m: "‹" * len(m.group()) if m.group()[0] in "<＜《" else "›" * len(m.group()), s or "")


def load_prompt(name: str, prompts_dir: str | Path | None = None) -> str:
    """Text of `prompts/<name>` (UTF-8). `name` may omit `.txt`."""
    d = Path(prompts_dir) if prompts_dir else _PROMPTS_DIR
    p = d / name
    if not p.suffix:
        p = p.with_suffix(".txt")
    if not p.is_file() and prompts_dir:
        p = _PROMPTS_DIR / p.name
    try:
        return p.read_text(encoding="utf-8")
    except OSError as exc:
        raise LLMError(f"找不到提示词文件 {p}（prompt file missing）") from exc


def format_passages(passages: Sequence) -> str:
    blocks = []
    for i, p in enumerate(passages, start=1):
        c = p.chunk
        blocks.append(f"<<<资料 {i}>>>\n试点：{_defang(c.pilot)}\n章节：{_defang(c.section)}\n"
                      f"{_defang(c.text)}\n<<<资料结束>>>")
    return "\n\n".join(blocks)


def build_messages(question: str, passages: Sequence, prompts_dir: str | Path | None = None) -> tuple[str, str]:
    """(system, user) prompt texts; placeholders filled with str.replace so braces in text are harmless."""
    system = load_prompt("answer_system.txt", prompts_dir)
    user_t = load_prompt("answer_user.txt", prompts_dir)
    user = user_t.replace("{passages}", format_passages(passages)).replace("{n}", str(len(passages)))
    user = user.replace("{question}", _defang(question.strip()))
    return system, user


# =========================================================================== LLM answerers


def _scrub(msg: str, secret: str | None) -> str:
    msg = str(msg)
    if secret:
        msg = msg.replace(secret, "***")
        if len(secret) > 8:  # partial echoes (e.g. "sk-abc...xyz")
            msg = msg.replace(secret[:8], "***").replace(secret[-6:], "***")
    return msg


def _llm_error(exc: BaseException, base_url: str, timeout: float, secret: str | None) -> LLMError:
    name = type(exc).__name__
    low = (name + " " + str(exc)).lower()
    if "timeout" in low or "timed out" in low:
        msg = f"大模型请求超时（{timeout:g} 秒）：{base_url}（LLM request timed out）"
    elif "connect" in low or "refused" in low:
        msg = f"无法连接大模型服务：{base_url}（LLM connection failed: {name}）"
    elif hasattr(exc, "status_code"):
        msg = f"大模型服务返回错误 HTTP {getattr(exc, 'status_code')}：{base_url}（{str(exc)[:200]}）"
    else:
        msg = f"大模型调用失败或返回了无法解析的响应：{base_url}（{name}: {str(exc)[:200]}）"
    return LLMError(_scrub(msg, secret))


class _LLMBase:
    name = "llm"
    prompts_dir: Path | None = None

    def _finish(self, question: str, retrieval, raw: str, t0: float) -> Answer:
        raw = (raw or "").strip()
        if not raw:
            raise LLMError("大模型返回了空回答（empty LLM response）")
        passages = list(retrieval.passages)
        clean, cits, grounded = verify_citations(raw, passages)
        refusal = is_refusal_text(clean)
        notice = None
        answerable = not refusal
        if refusal:
            grounded = True
            if not cits and passages:
                extractive = ExtractiveAnswerer(warm=False)
                analysis = _analyse(question, retrieval, None, 1.0)
                sents = [s for pi, p in enumerate(passages) for s in _passage_sentences(pi, p.chunk)]
                extractive._score(analysis, sents, retrieval)  # "closest" means best-scored, not first
                closest = extractive._refuse(question, retrieval, analysis, sents)
                tail = closest.text.split("最接近的内容：", 1)
                if len(tail) == 2:
                    clean = clean.rstrip() + "\n最接近的内容：" + tail[1]
                    cits = closest.citations
        elif not grounded:
            notice = UNGROUNDED_NOTICE
            clean = f"（{UNGROUNDED_NOTICE}）{clean}"
        dt = (time.perf_counter() - t0) * 1000
        r = float((retrieval.timings_ms or {}).get("total", 0.0) or 0.0)
        return Answer(question=question, text=clean, answerable=answerable, citations=cits, passages=passages,
                      timings_ms={"retrieve": r, "answer": dt, "total": r + dt}, grounded=grounded, notice=notice,
                      pilots=list(retrieval.pilots), answerer=self.name, is_cross=bool(retrieval.is_cross))

    def _no_passages(self, question: str, retrieval) -> Answer | None:
        if retrieval.passages:
            return None
        ans = ExtractiveAnswerer(warm=False).answer(question, retrieval)
        ans.answerer = self.name
        return ans

    def answer(self, question: str, retrieval) -> Answer:
        final = None
        for item in self.stream(question, retrieval):
            if isinstance(item, Answer):
                final = item
        assert final is not None
        return final

    def stream(self, question: str, retrieval) -> Iterator[str | Answer]:
        """Yield text deltas as the model writes, then the verified `Answer` (its text is the cleaned one:
        invalid markers removed, valid ones renumbered — it may differ from the concatenated deltas)."""
        question = question or retrieval.question
        early = self._no_passages(question, retrieval)
        if early is not None:
            yield early.text
            yield early
            return
        t0 = time.perf_counter()
        parts: list[str] = []
        for delta in self._deltas(question, retrieval):
            if delta:
                parts.append(delta)
                yield delta
        yield self._finish(question, retrieval, "".join(parts), t0)

    def _deltas(self, question: str, retrieval) -> Iterator[str]:  # pragma: no cover - abstract
        """The model's text as it is generated; failures raise `LLMError`."""
        raise NotImplementedError


class LLMAnswerer(_LLMBase):
    """Any OpenAI-compatible chat endpoint (DeepSeek, Qwen, vLLM, Ollama, llama.cpp) via langchain-openai.

    `LLMAnswerer(config)` reads `llm_base_url`, `llm_model`, `llm_api_key`, `llm_timeout`, `prompts_dir`;
    keyword arguments override them. Errors of any kind raise `LLMError` (API key scrubbed).
    """

    name = "llm"

    def __init__(self, config: "Config | None" = None, *, base_url: str | None = None, model: str | None = None,
                 api_key: str | None = None, timeout: float | None = None, max_retries: int = 0,
                 prompts_dir: str | Path | None = None, temperature: float = 0.0, max_tokens: int | None = 1024):
        self.base_url = base_url if base_url is not None else (config.llm_base_url if config else "")
        self.model = model if model is not None else (config.llm_model if config else "")
        key = api_key if api_key is not None else (config.llm_api_key if config else "")
        self._api_key = key or ""
        self.timeout = float(timeout if timeout is not None else (config.llm_timeout if config else 30.0))
        self.max_retries = int(max_retries)
        self.prompts_dir = Path(prompts_dir) if prompts_dir else (Path(config.prompts_dir) if config else None)
        self.temperature = temperature
        self.max_tokens = max_tokens
        if not self.base_url or not self.model:
            raise LLMError("未配置大模型：需要 llm_base_url 和 llm_model（LLM base URL and model are required）")
        self._client = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:  # never show the key
        return f"LLMAnswerer(base_url={self.base_url!r}, model={self.model!r}, timeout={self.timeout})"

    def _llm(self):
        with self._lock:
            if self._client is None:
                try:
                    from langchain_openai import ChatOpenAI

                    self._client = ChatOpenAI(base_url=self.base_url, model=self.model,
                                              api_key=self._api_key or "not-needed", timeout=self.timeout,
                                              max_retries=self.max_retries, temperature=self.temperature,
                                              max_tokens=self.max_tokens)
                except Exception as exc:
                    raise _llm_error(exc, self.base_url, self.timeout, self._api_key) from None
            return self._client

    def messages(self, question: str, retrieval):
        from langchain_core.messages import HumanMessage, SystemMessage

        system, user = build_messages(question, retrieval.passages, self.prompts_dir)
        return [SystemMessage(content=system), HumanMessage(content=user)]

    def _deltas(self, question: str, retrieval) -> Iterator[str]:
        msgs = self.messages(question, retrieval)
        try:
            for chunk in self._llm().stream(msgs):
                yield chunk.content if isinstance(chunk.content, str) else "".join(
                    x.get("text", "") if isinstance(x, dict) else str(x) for x in (chunk.content or []))
        except LLMError:
            raise
        except Exception as exc:
            raise _llm_error(exc, self.base_url, self.timeout, self._api_key) from None

    def invoke_text(self, question: str, retrieval) -> str:
        """One non-streaming call; the raw model text (for debugging)."""
        try:
            out = self._llm().invoke(self.messages(question, retrieval))
        except Exception as exc:
            raise _llm_error(exc, self.base_url, self.timeout, self._api_key) from None
        return out.content if isinstance(out.content, str) else str(out.content)


class LocalLLMAnswerer(_LLMBase):
    """A local Hugging Face causal LM directory run with transformers (CPU; nothing is downloaded).

    `LocalLLMAnswerer(config)` uses `config.llm_local`; a path may be given instead. Uses the tokenizer's chat
    template when it has one, else a plain "system / user / 回答：" layout. Greedy decoding.
    """

    name = "llm-local"

    def __init__(self, config_or_path: "Config | str | Path", *, max_new_tokens: int = 384,
                 prompts_dir: str | Path | None = None):
        if isinstance(config_or_path, (str, Path)):
            path, pdir = Path(config_or_path), None
        else:
            path, pdir = Path(config_or_path.llm_local), Path(config_or_path.prompts_dir)
        self.path = path.expanduser()
        self.prompts_dir = Path(prompts_dir) if prompts_dir else pdir
        self.max_new_tokens = int(max_new_tokens)
        if not self.path.is_dir():
            raise LLMError(f"本地模型目录不存在：{self.path}（local model directory not found）")
        try:
            from transformers import AutoModelForCausalLM, AutoTokenizer

            self.tokenizer = AutoTokenizer.from_pretrained(str(self.path), local_files_only=True)
            self.model = AutoModelForCausalLM.from_pretrained(str(self.path), local_files_only=True)
            self.model.eval()
        except Exception as exc:
            raise LLMError(f"无法加载本地模型 {self.path}：{type(exc).__name__}: {str(exc)[:200]}") from None
        self._lock = threading.Lock()

    def _prompt_ids(self, question: str, retrieval):
        system, user = build_messages(question, retrieval.passages, self.prompts_dir)
        tok = self.tokenizer
        text = None
        if getattr(tok, "chat_template", None):
            try:
                text = tok.apply_chat_template([{"role": "system", "content": system},
                                                {"role": "user", "content": user}],
                                               tokenize=False, add_generation_prompt=True)
            except Exception:
                text = None
        if text is None:
            text = f"{system}\n\n{user}\n\n回答："
        enc = tok(text, return_tensors="pt", add_special_tokens=False)
        ids = enc["input_ids"]
        limit = getattr(self.model.config, "max_position_embeddings", None) or getattr(
            self.model.config, "n_positions", None)
        if limit and ids.shape[1] + self.max_new_tokens > limit:
            keep = max(1, int(limit) - self.max_new_tokens)
            ids = ids[:, -keep:]
        return ids

    def _deltas(self, question: str, retrieval) -> Iterator[str]:
        try:
            import torch
            from transformers import TextIteratorStreamer

            ids = self._prompt_ids(question, retrieval)
            streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
            pad = self.tokenizer.pad_token_id
            if pad is None:
                pad = self.tokenizer.eos_token_id
            errors: list[BaseException] = []

            def run():
                try:
                    with torch.no_grad():
                        self.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids),
                                            max_new_tokens=self.max_new_tokens, do_sample=False,
                                            pad_token_id=pad, streamer=streamer)
                except BaseException as exc:  # surfaced below
                    errors.append(exc)
                    streamer.end()

            with self._lock:
                th = threading.Thread(target=run, daemon=True)
                th.start()
                yield from streamer
                th.join()
            if errors:
                raise errors[0]
        except LLMError:
            raise
        except Exception as exc:
            raise LLMError(f"本地模型生成失败：{type(exc).__name__}: {str(exc)[:200]}") from None
