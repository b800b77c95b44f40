"""Scoring one answer record against its gold item, and the metrics over many.

Every comparison uses `rag.text.norm` (NFKC, all whitespace removed) on both sides, so ``４５％`` matches
``45%`` and ``10 万`` matches ``10万``. Metric keys (one flat dict per group; None when nothing applies):

- ``hit@1``, ``hit@5``, ``mrr@10``  single-answer questions with evidence: the first passage holding it
- ``cross_evidence_recall``          cross: share of gold evidence strings found in the first 20 passages
- ``answer_accuracy``                number/fact/list/overview/count/follow-up: answerable and right
- ``compare_accuracy``               comparisons: every named pilot answered (or marked 文件未提及) and cited
- ``aggregate_accuracy``             questions across pilots (the fact table): the answer's result rows name exactly
                                     the gold pilots, with their figures as written, each cited, and the computed
                                     figure (a count, a difference) stated
- ``not_a_pilot_accuracy``           questions naming a place that is no pilot: refused, saying the place is not a
                                     pilot, and no pilot's figure given as its own
- ``cross_pilot_recall``/``_precision``  cross: gold pilots named in the answer / pilots named that are gold
- ``citation_validity``              citations whose quote is inside their cited (retrieved) passage
- ``evidence_citation_share``        single-answer: a citation's passage holds the evidence
- ``unanswerable_refused``           unanswerable (and unanswerable follow-ups) refused
- ``traps_refused``                  unanswerable questions tagged trap-*: refused
- ``answerable_wrongly_refused``     answerable questions refused
- ``{retrieve,answer,total}_ms_p50``/``_p95``  latency percentiles

"A passage holds the evidence": its text contains a gold evidence string and, when the item names pilot(s),
it belongs to one of them. A right overview names at least half of the gold section titles; a right count
states the gold number as a number.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from rag.evaluation.gold import ANSWERABLE_TYPES, REFUSAL_TYPES, SINGLE_TYPES, TYPES, GoldItem
from rag.knowledge.gazetteer import province_short
from rag.text import contains_number, norm

STAGES = ("retrieve", "answer", "total")
CROSS_PASSAGE_LIMIT = 20
MRR_LIMIT = 10
NOT_STATED = "文件未提及"


@dataclass
class QuestionOutcome:
    """Everything scored for one question; fields are None where the metric does not apply."""
    item: GoldItem
    record: dict | None                      # the record `run` returned (None on error)
    error: str | None = None
    error_where: str = ""                    # exception type and code location (no message): blind-safe
    hit1: bool | None = None
    hit5: bool | None = None
    rr10: float | None = None
    cross_recall: float | None = None
    n_passages: int = 0
    correct: bool | None = None
    pilot_recall: float | None = None
    pilot_precision: float | None = None
    named_pilots: list[str] = field(default_factory=list)
    citations_total: int = 0
    citations_valid: int = 0
    invalid_citations: list[str] = field(default_factory=list)
    evidence_cited: bool | None = None
    refused: bool | None = None              # answerable is false
    not_a_pilot: bool | None = None          # a place that is no pilot: said so, and no pilot's figure given
    reasons: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(self.reasons)

    @property
    def timings(self) -> dict[str, float]:
        t = (self.record or {}).get("timings_ms") or {}
        out = {}
        for s in STAGES:
            v = t.get(s) if isinstance(t, Mapping) else None
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                out[s] = float(v)
        return out


def _passage_has_evidence(passage: Mapping, item: GoldItem, ev_norm: Sequence[str]) -> bool:
    if item.pilots:
        if norm(str(passage.get("pilot") or "")) not in {norm(p) for p in item.pilots}:
            return False
    text = norm(str(passage.get("text") or ""))
    return any(e and e in text for e in ev_norm)


_PROVINCE = re.compile(r"^(.{2,}?(?:维吾尔自治区|壮族自治区|回族自治区|自治区|省|市))")


def _pilot_surfaces(known: Iterable[str], aliases: Mapping[str, Sequence[str]] | None):
    """norm(surface) → set of pilots it names, for every known pilot's full name and aliases."""
    surf: dict[str, set[str]] = {}
    for p in known:
        forms = [p, *((aliases or {}).get(p) or ())]
        for f in forms:
            nf = norm(f)
            if nf:
                surf.setdefault(nf, set()).add(p)
    # Province names claim their span but name no pilot, so `天津市…` is never read as the pilot `津市`.
    for p in known:
        m = _PROVINCE.match(norm(p))
        if m:
            for f in (m.group(1), province_short(m.group(1))):
                surf.setdefault(f, set())
    return surf


def named_pilots(text: str, surfaces: Mapping[str, set[str]]) -> list[set[str]]:
    """Pilot mentions in `text`: longest surfaces claim their spans first (so `长沙市望城区` is not also
    read as `长沙市`). Returns one set of candidate pilots per distinct matched surface."""
    t = norm(text)
    taken = [False] * len(t)
    found: list[set[str]] = []
    for s in sorted(surfaces, key=lambda x: (-len(x), x)):
        start, hit = 0, False
        while True:
            i = t.find(s, start)
            if i < 0:
                break
            if not any(taken[i:i + len(s)]):
                for j in range(i, i + len(s)):
                    taken[j] = True
                hit = True
            start = i + 1
        if hit and surfaces[s]:
            found.append(set(surfaces[s]))
    return found


def as_record(rec: Any) -> dict:
    if not isinstance(rec, Mapping):
        raise ValueError(f"run returned {type(rec).__name__}, not a dict")
    if not isinstance(rec.get("answerable"), bool):
        raise ValueError("record has no boolean 'answerable'")
    for key in ("citations", "passages"):
        v = rec.get(key, [])
        if v is not None and not isinstance(v, list):
            raise ValueError(f"record '{key}' is not a list")
    return dict(rec)


def score_question(item: GoldItem, record: dict | None, *, error: str | None = None,
                   aliases: Mapping[str, Sequence[str]] | None = None,
                   known_pilots: Iterable[str] = ()) -> QuestionOutcome:
    """Score one record against its gold item. With `error` (run failed), every applicable metric counts
    as a failure and latency is not recorded."""
    o = QuestionOutcome(item=item, record=record, error=error)
    t = item.type
    ev_norm = [norm(e) for e in item.evidence if norm(e)]
    if error is not None or record is None:
        o.error = error or "no record"
        o.reasons.append(f"run error: {o.error}")
        if t in SINGLE_TYPES:
            if ev_norm and t not in ("overview", "count"):
                o.hit1, o.hit5, o.rr10, o.evidence_cited = False, False, 0.0, False
            if item.answers:
                o.correct = False
        elif t == "compare":
            o.correct = False
        elif t == "cross":
            o.cross_recall = 0.0 if ev_norm else None
            o.pilot_recall = 0.0 if item.pilots else None
        # no answer at all: not a correct refusal, and counted as a (wrong) refusal when answerable
        o.refused = t not in REFUSAL_TYPES
        return o

    answer = str(record.get("answer") or "")
    answerable = bool(record.get("answerable"))
    passages = [p for p in (record.get("passages") or []) if isinstance(p, Mapping)]
    citations = [c for c in (record.get("citations") or []) if isinstance(c, Mapping)]
    o.n_passages = len(passages)
    o.refused = not answerable
    by_id = {str(p.get("chunk_id")): p for p in passages if p.get("chunk_id") is not None}

    # citations (all types)
    for c in citations:
        o.citations_total += 1
        cid = str(c.get("chunk_id"))
        quote = norm(str(c.get("quote") or ""))
        n = c.get("n", "?")
        p = by_id.get(cid)
        if p is None:
            o.invalid_citations.append(f"[{n}] cites chunk {cid} that was not retrieved")
        elif not quote:
            o.invalid_citations.append(f"[{n}] has an empty quote")
        elif quote not in norm(str(p.get("text") or "")):
            o.invalid_citations.append(f"[{n}] quote not in passage {cid}: {str(c.get('quote'))[:40]!r}")
        else:
            o.citations_valid += 1
    if o.invalid_citations:
        o.reasons.append("invalid citation: " + "; ".join(o.invalid_citations))

    if t in SINGLE_TYPES:
        if ev_norm and t not in ("overview", "count"):
            first = next((i for i, p in enumerate(passages[:MRR_LIMIT], 1)
                          if _passage_has_evidence(p, item, ev_norm)), None)
            o.hit1 = first is not None and first <= 1
            o.hit5 = first is not None and first <= 5
            o.rr10 = 1.0 / first if first else 0.0
            if not o.hit5:
                o.reasons.append("retrieval miss: evidence not in top 5"
                                 + (f" (first at rank {first})" if first else ""))
            cited = [by_id.get(str(c.get("chunk_id"))) for c in citations]
            o.evidence_cited = any(p is not None and _passage_has_evidence(p, item, ev_norm) for p in cited)
        if item.answers:
            text = norm(answer)
            if t == "overview":
                got = [a for a in item.answers if norm(a) in text]
                o.correct = answerable and 2 * len(got) >= len(item.answers)
                missing = [a for a in item.answers if a not in got]
            elif t == "count":
                missing = [a for a in item.answers if not contains_number(text, norm(a))]
                o.correct = answerable and not missing
            else:
                missing = [a for a in item.answers if norm(a) not in text]
                o.correct = answerable and not missing
            if answerable and not o.correct:
                o.reasons.append("wrong answer: missing " + ", ".join(missing))
    elif t == "compare":
        _score_compare(o, item, answer, answerable, citations)
    elif t == "aggregate":
        _score_aggregate(o, item, record, answer, answerable)
    elif t == "cross":
        if ev_norm:
            pool = passages[:CROSS_PASSAGE_LIMIT]
            if len(item.evidence) == len(item.pilots) and len(ev_norm) == len(item.evidence):
                # evidence[i] belongs to pilot[i]: it must be found in that pilot's passage
                pairs = [(e, GoldItem(item.id, item.question, (), (pl,), (), (), item.type))
                         for e, pl in zip(ev_norm, item.pilots)]
            else:
                pairs = [(e, item) for e in ev_norm]
            found = sum(1 for e, it in pairs if any(_passage_has_evidence(p, it, [e]) for p in pool))
            o.cross_recall = found / len(ev_norm)
            if o.cross_recall < 1:
                o.reasons.append(f"retrieval miss: {found}/{len(ev_norm)} evidence strings in top "
                                 f"{CROSS_PASSAGE_LIMIT}")
        if item.pilots:
            gold = set(item.pilots)
            surfaces = _pilot_surfaces(set(known_pilots) | set(aliases or {}) | gold, aliases)
            mentions = named_pilots(answer, surfaces)
            right: set[str] = set()
            wrong: set[tuple[str, ...]] = set()
            for cand in mentions:
                if cand & gold:
                    right |= cand & gold
                else:
                    wrong.add(tuple(sorted(cand)))
            o.named_pilots = sorted(right) + [" / ".join(w) for w in sorted(wrong)]
            o.pilot_recall = len(right) / len(gold)
            o.pilot_precision = len(right) / (len(right) + len(wrong)) if (right or wrong) else None
            if answerable and o.pilot_recall < 1:
                o.reasons.append("pilots missing from answer: " + ", ".join(sorted(gold - right)))
            if wrong:
                o.reasons.append("wrong pilots named: " + ", ".join(" / ".join(w) for w in sorted(wrong)))

    if "not-a-pilot" in item.tags:
        # said so, and no figure on the place's own line (a comparison still answers the pilot beside it)
        said = bool(_NOT_A_PILOT.search(answer))
        place = norm(item.place) if item.place else ""
        own = [ln for ln in answer.split("\n") if place and place in norm(ln)] or [answer.split("最接近的内容")[0]]
        o.not_a_pilot = said and not any(_gives_figure(ln) for ln in own)
        if not o.not_a_pilot:
            o.reasons.append("did not say the place is not a pilot" if not said else "gave the place a figure")
        return o
    if t in REFUSAL_TYPES and answerable:
        o.reasons.append("not refused (question is unanswerable)")
    if t in ANSWERABLE_TYPES and not answerable:
        o.reasons.append("wrongly refused")
    return o


def percentile(values: Sequence[float], q: float) -> float | None:
    """Percentile with linear interpolation between closest ranks (numpy's default); None if empty."""
    xs = sorted(values)
    if not xs:
        return None
    pos = (len(xs) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def _mean(xs: list) -> float | None:
    xs = [float(x) for x in xs if x is not None]
    return sum(xs) / len(xs) if xs else None


def aggregate(outcomes: Sequence[QuestionOutcome]) -> dict[str, Any]:
    """The flat metric dict (keys in the module docstring) over `outcomes`."""
    single = [o for o in outcomes if o.item.type in SINGLE_TYPES]
    cross = [o for o in outcomes if o.item.type == "cross"]
    cross_ok = [o for o in cross if o.error is None]
    unans = [o for o in outcomes if o.item.type in REFUSAL_TYPES]
    traps = [o for o in unans if any(t.startswith("trap") for t in o.item.tags)]
    answerable = [o for o in outcomes if o.item.type in ANSWERABLE_TYPES]
    n_cit = sum(o.citations_total for o in outcomes)
    m: dict[str, Any] = {
        "n": len(outcomes),
        "errors": sum(1 for o in outcomes if o.error is not None),
        "hit@1": _mean([o.hit1 for o in single]),
        "hit@5": _mean([o.hit5 for o in single]),
        "mrr@10": _mean([o.rr10 for o in single]),
        "cross_evidence_recall": _mean([o.cross_recall for o in cross]),
        "cross_passages_mean": _mean([o.n_passages for o in cross_ok]),
        "answer_accuracy": _mean([o.correct for o in single]),
        "compare_accuracy": _mean([o.correct for o in outcomes if o.item.type == "compare"]),
        "aggregate_accuracy": _mean([o.correct for o in outcomes if o.item.type == "aggregate"]),
        "not_a_pilot_accuracy": _mean([o.not_a_pilot for o in outcomes]),
        "cross_pilot_recall": _mean([o.pilot_recall for o in cross]),
        "cross_pilot_precision": _mean([o.pilot_precision for o in cross]),
        "citations_total": n_cit,
        "citation_validity": (sum(o.citations_valid for o in outcomes) / n_cit) if n_cit else None,
        "evidence_citation_share": _mean([o.evidence_cited for o in single]),
        "unanswerable_refused": _mean([o.refused for o in unans]),
        "traps_refused": _mean([o.refused for o in traps]),
        "answerable_wrongly_refused": _mean([o.refused for o in answerable]),
    }
    for s in STAGES:
        vals = [o.timings[s] for o in outcomes if s in o.timings]
        m[f"{s}_ms_p50"] = percentile(vals, 50)
        m[f"{s}_ms_p95"] = percentile(vals, 95)
    return m


def compute_metrics(outcomes: Sequence[QuestionOutcome]) -> dict[str, Any]:
    """{"overall": metrics, "by_type": {type: metrics}, "by_tag": {tag: metrics}} (groups present only)."""
    by_type = {t: aggregate([o for o in outcomes if o.item.type == t])
               for t in TYPES if any(o.item.type == t for o in outcomes)}
    tags = sorted({t for o in outcomes for t in o.item.tags})
    by_tag = {t: aggregate([o for o in outcomes if t in o.item.tags]) for t in tags}
    return {"overall": aggregate(outcomes), "by_type": by_type, "by_tag": by_tag}


def _score_compare(o: QuestionOutcome, item: GoldItem, answer: str, answerable: bool, citations) -> None:
    """Right when every pilot with a gold answer is answered with it and cited, and every pilot whose
    document does not say is marked 文件未提及."""
    text = norm(answer)
    cited = {str(c.get("pilot")) for c in citations}
    answers = list(item.raw_answers) if item.raw_answers else list(item.answers)
    problems = []
    unstated = 0
    for pilot, ans in zip(item.pilots, answers):
        if not ans.strip():
            unstated += 1
            continue
        if norm(ans) not in text:
            problems.append(f"{pilot}: missing {ans}")
        if pilot not in cited:
            problems.append(f"{pilot}: not cited")
    if unstated and text.count(NOT_STATED) < unstated:
        problems.append(f"{unstated} pilot(s) not marked {NOT_STATED}")
    o.correct = answerable and not problems
    if answerable and problems:
        o.reasons.append("wrong comparison: " + "; ".join(problems))


_NOT_A_PILOT = re.compile(r"不在(?:本批|文件所列的|第二批)?(?:国家新型城镇化综合)?试点(?:之中|中|范围内|名单)")
_FIGURE = re.compile(r"\d+(?:\.\d+)?\s*(?:%|％|万人|平方公里|万平方公里|亿元)")


def _gives_figure(answer: str) -> bool:
    """A refusal may show the closest passages ("最接近的内容：…"); what it says before that gives no figure."""
    head = answer.split("最接近的内容")[0]
    return bool(_FIGURE.search(head))


def _score_aggregate(o: QuestionOutcome, item: GoldItem, record: Mapping, answer: str, answerable: bool) -> None:
    """Right when the answer's result rows name exactly the gold pilots (in order for a ranking), each gold
    figure appears as written, every result row is cited, and the computed figure (a count, a difference) is
    stated."""
    text = norm(answer)
    rows = [r for r in (record.get("rows") or []) if isinstance(r, Mapping) and r.get("role", "result") == "result"]
    got = list(dict.fromkeys(str(r.get("pilot")) for r in rows))
    gold = list(dict.fromkeys(p for p in item.pilots if p))
    problems = []
    ranked = item.op in ("max", "min", "top", "rank", "among")
    if gold or item.op not in ("count",):
        if (got != gold) if ranked and item.op == "top" else (set(got) != set(gold)):
            problems.append(f"pilots {got} instead of {gold}")
    answers = list(item.raw_answers) if item.raw_answers else list(item.answers)
    missing = [a for a in answers if a.strip() and norm(a) not in text]
    if missing:
        problems.append("figures missing: " + ", ".join(missing))
    if any(r.get("n") is None for r in rows):
        problems.append("a result row is not cited")
    if item.result and not contains_number(text, norm(item.result)):
        problems.append(f"computed figure {item.result} not stated")
    o.correct = answerable and not problems
    if answerable and problems:
        o.reasons.append("wrong aggregate answer: " + "; ".join(problems))
