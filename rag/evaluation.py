"""Evaluation against a gold set, independent of how the pipeline is built.

The evaluator gets gold items and a callable ``run(question, settings) -> dict`` that returns one record in
the stable batch format (docs/ARCHITECTURE.md): ``answer``, ``answerable``, ``citations``, ``passages``,
``timings_ms``. Only the question text (and the settings) go into ``run``; everything else is scored here.

Every comparison uses :func:`rag.text.norm` (NFKC, all whitespace removed) on both sides, so ``４５％`` matches
``45%`` and ``10 万`` matches ``10万``.

Metric keys (one flat dict per question type and one for ``overall``; a metric is ``None`` when no question
of that group is applicable to it):

- ``n``                          questions in the group
- ``errors``                     questions whose ``run`` raised or returned a malformed record
- ``hit@1``, ``hit@5``           number/fact/list with evidence: a passage among the first 1/5 contains it
- ``mrr@10``                     same questions: 1/rank of the first such passage within 10 (0 if none)
- ``cross_evidence_recall``      cross: share of gold evidence strings found in the first 20 passages
- ``cross_passages_mean``        cross: mean number of passages returned
- ``answer_accuracy``            number/fact/list with answers: answerable and every gold answer in the text
- ``cross_pilot_recall``         cross: share of gold pilots named in the answer (full name or alias)
- ``cross_pilot_precision``      cross: named gold pilots / all known pilots named (None if none named)
- ``citations_total``            number of citations over all answers
- ``citation_validity``          share of those whose quote is inside its cited (retrieved) passage
- ``evidence_citation_share``    number/fact/list with evidence: a citation's passage contains the evidence
- ``unanswerable_refused``       unanswerable: share with ``answerable`` false
- ``answerable_wrongly_refused`` number/fact/list/cross: share with ``answerable`` false
- ``{retrieve,answer,total}_ms_p50`` / ``_p95``   latency percentiles (linear interpolation)

"A passage contains the evidence" means: its text contains one of the gold evidence strings and, when the
gold item names pilot(s), the passage belongs to one of them (the same figure in another pilot's plan
does not count). For a cross item whose `evidence` and `pilot` lists have equal length, evidence[i] must
be found in a passage of pilot[i].
"""
from __future__ import annotations

import json
import re
import os
import sys
import time
import unicodedata
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from .files import atomic_write
from .text import norm

TYPES = ("number", "fact", "list", "cross", "unanswerable")
SINGLE_TYPES = ("number", "fact", "list")
ANSWERABLE_TYPES = ("number", "fact", "list", "cross")
STAGES = ("retrieve", "answer", "total")
CROSS_PASSAGE_LIMIT = 20
MRR_LIMIT = 10

RunFn = Callable[[str, dict], dict]


class EvalError(Exception):
    """A gold file or compare spec that cannot be used; the message says which and why."""


# --------------------------------------------------------------------------------------------- gold


@dataclass(frozen=True)
class GoldItem:
    id: str
    question: str
    answers: tuple[str, ...]
    pilots: tuple[str, ...]          # gold `pilot` as a tuple (empty for null)
    sections: tuple[str, ...]
    evidence: tuple[str, ...]
    type: str
    line: int = 0                    # 1-based line in the gold file (0 when built in code)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], line: int = 0) -> "GoldItem":
        """Validate one gold object; raises ValueError with a short reason."""
        if not isinstance(d, Mapping):
            raise ValueError("not a JSON object")
        for key in ("id", "question", "answers", "type"):
            if key not in d:
                raise ValueError(f"missing field '{key}'")
        if not isinstance(d["id"], str) or not d["id"].strip():
            raise ValueError("'id' must be a non-empty string")
        if not isinstance(d["question"], str) or not d["question"].strip():
            raise ValueError("'question' must be a non-empty string")
        if d["type"] not in TYPES:
            raise ValueError(f"'type' must be one of {'|'.join(TYPES)}, got {d['type']!r}")
        answers = d["answers"]
        if not isinstance(answers, list) or not all(isinstance(a, str) for a in answers):
            raise ValueError("'answers' must be a list of strings")
        return cls(
            id=d["id"],
            question=d["question"],
            answers=tuple(answers),
            pilots=_str_or_list(d, "pilot"),
            sections=_str_or_list(d, "section"),
            evidence=_str_or_list(d, "evidence"),
            type=d["type"],
            line=line,
        )

    def to_dict(self) -> dict:
        return {
            "id": self.id, "question": self.question, "answers": list(self.answers),
            "pilot": list(self.pilots), "section": list(self.sections),
            "evidence": list(self.evidence), "type": self.type,
        }


def _str_or_list(d: Mapping[str, Any], key: str) -> tuple[str, ...]:
    v = d.get(key)
    if v is None:
        return ()
    if isinstance(v, str):
        return (v,) if v.strip() else ()
    if isinstance(v, list) and all(isinstance(x, str) for x in v):
        return tuple(x for x in v if x.strip())
    raise ValueError(f"'{key}' must be a string, a list of strings or null")


def load_gold(path: str | Path) -> tuple[list[GoldItem], list[str]]:
    """Read a gold JSON Lines file. Returns (items, problems).

    A malformed line (bad JSON, missing field, wrong type, duplicate id) is reported as
    ``"<path>:<line>: <reason>"`` and skipped; blank lines are ignored. Raises EvalError for a missing
    or empty file, or one with no usable item at all.
    """
    p = Path(path)
    if not p.is_file():
        raise EvalError(f"gold file not found: {p} (expected JSON Lines, one question per line)")
    try:
        text = p.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise EvalError(f"gold file {p} is not UTF-8: {e}") from None
    items: list[GoldItem] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    n_lines = 0
    for lineno, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        n_lines += 1
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as e:
            problems.append(f"{p}:{lineno}: bad JSON ({e.msg} at column {e.colno})")
            continue
        try:
            item = GoldItem.from_dict(obj, line=lineno)
        except ValueError as e:
            problems.append(f"{p}:{lineno}: {e}")
            continue
        if item.id in seen:
            problems.append(f"{p}:{lineno}: duplicate id {item.id!r} (first on line {seen[item.id]})")
            continue
        seen[item.id] = lineno
        items.append(item)
    if n_lines == 0:
        raise EvalError(f"gold file is empty: {p}")
    if not items:
        shown = "; ".join(problems[:3]) + (" …" if len(problems) > 3 else "")
        raise EvalError(f"no usable question in gold file {p}: {shown}")
    return items, problems


# ------------------------------------------------------------------------------------------ scoring


@dataclass
class QuestionOutcome:
    """Everything scored for one question; fields are None where the metric does not apply."""
    item: GoldItem
    record: dict | None                      # the record `run` returned (None on error)
    error: str | None = None
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
    from .places import province_short

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


def _as_record(rec: Any) -> dict:
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
            if ev_norm:
                o.hit1, o.hit5, o.rr10, o.evidence_cited = False, False, 0.0, False
            if item.answers:
                o.correct = False
        elif t == "cross":
            o.cross_recall = 0.0 if ev_norm else None
            o.pilot_recall = 0.0 if item.pilots else None
        # no answer at all: not a correct refusal, and counted as a (wrong) refusal when answerable
        o.refused = t != "unanswerable"
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
        if ev_norm:
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
            missing = [a for a in item.answers if norm(a) not in text]
            o.correct = answerable and not missing
            if answerable and missing:
                o.reasons.append("wrong answer: missing " + ", ".join(missing))
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

    if t == "unanswerable" and answerable:
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
    unans = [o for o in outcomes if o.item.type == "unanswerable"]
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
        "cross_pilot_recall": _mean([o.pilot_recall for o in cross]),
        "cross_pilot_precision": _mean([o.pilot_precision for o in cross]),
        "citations_total": n_cit,
        "citation_validity": (sum(o.citations_valid for o in outcomes) / n_cit) if n_cit else None,
        "evidence_citation_share": _mean([o.evidence_cited for o in single]),
        "unanswerable_refused": _mean([o.refused for o in unans]),
        "answerable_wrongly_refused": _mean([o.refused for o in answerable]),
    }
    for s in STAGES:
        vals = [o.timings[s] for o in outcomes if s in o.timings]
        m[f"{s}_ms_p50"] = percentile(vals, 50)
        m[f"{s}_ms_p95"] = percentile(vals, 95)
    return m


def compute_metrics(outcomes: Sequence[QuestionOutcome]) -> dict[str, Any]:
    """{"overall": metrics, "by_type": {type: metrics}} (only types present in the outcomes)."""
    by_type = {t: aggregate([o for o in outcomes if o.item.type == t])
               for t in TYPES if any(o.item.type == t for o in outcomes)}
    return {"overall": aggregate(outcomes), "by_type": by_type}


# ------------------------------------------------------------------------------------------ running


@dataclass
class EvalResult:
    label: str
    settings: dict
    outcomes: list[QuestionOutcome]
    metrics: dict[str, Any]                  # {"overall": {...}, "by_type": {type: {...}}}
    duration_s: float = 0.0

    @property
    def overall(self) -> dict[str, Any]:
        return self.metrics["overall"]

    @property
    def failures(self) -> list[QuestionOutcome]:
        return [o for o in self.outcomes if o.failed]


def settings_label(settings: Mapping[str, Any], keys: Iterable[str] | None = None) -> str:
    keys = list(settings) if keys is None else list(keys)
    return ", ".join(f"{k}={settings[k]}" for k in keys if k in settings) or "default"


def evaluate(gold_items: Sequence[GoldItem], run: RunFn, settings: Mapping[str, Any] | None = None,
             progress: bool = True, aliases: Mapping[str, Sequence[str]] | None = None,
             label: str | None = None) -> EvalResult:
    """Run every gold question through `run(question, settings)` and score the records.

    An exception from `run` (or a malformed record) is recorded on that question (a failure counted
    against every applicable metric) and the evaluation goes on; KeyboardInterrupt is not caught.
    """
    from tqdm.auto import tqdm

    settings = dict(settings or {})
    label = label or settings_label(settings)
    known = {p for it in gold_items for p in it.pilots} | set(aliases or {})
    outcomes: list[QuestionOutcome] = []
    t0 = time.perf_counter()
    for item in tqdm(gold_items, desc=f"eval {label}", unit="q", disable=not progress, file=sys.stderr):
        try:
            record = _as_record(run(item.question, dict(settings)))
        except Exception as e:  # one broken question must not lose the whole run
            outcomes.append(score_question(item, None, error=f"{type(e).__name__}: {e}",
                                           aliases=aliases, known_pilots=known))
            continue
        outcomes.append(score_question(item, record, aliases=aliases, known_pilots=known))
    return EvalResult(label=label, settings=settings, outcomes=outcomes,
                      metrics=compute_metrics(outcomes), duration_s=time.perf_counter() - t0)


def compare(gold_items: Sequence[GoldItem], run: RunFn, variants: Sequence[Mapping[str, Any]],
            progress: bool = True, aliases: Mapping[str, Sequence[str]] | None = None) -> list[EvalResult]:
    """Evaluate each settings dict in `variants`; labels name the settings that differ between them."""
    if not variants:
        raise EvalError("compare needs at least one variant")
    keys: list[str] = []
    for v in variants:
        for k in v:
            if k not in keys and len({repr(w.get(k)) for w in variants}) > 1:
                keys.append(k)
    labels = [settings_label(v, keys) if keys else settings_label(v) for v in variants]
    return [evaluate(gold_items, run, v, progress=progress, aliases=aliases, label=lab)
            for v, lab in zip(variants, labels)]


def _coerce(v: str) -> Any:
    low = v.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    for f in (int, float):
        try:
            return f(v)
        except ValueError:
            pass
    return v


def parse_compare(spec: str, base: Mapping[str, Any] | None = None) -> list[dict]:
    """``"mode=dense,bm25,hybrid;k=5,10"`` → the cartesian product of the values as settings dicts,
    each merged over `base`. Numbers become int/float, true/false bool, none null."""
    if not spec or not spec.strip():
        raise EvalError("empty --compare spec (expected e.g. mode=dense,bm25,hybrid;k=5,10)")
    axes: list[tuple[str, list[Any]]] = []
    for part in spec.split(";"):
        part = part.strip()
        if not part:
            continue
        key, eq, vals = part.partition("=")
        key = key.strip()
        values = [v.strip() for v in vals.split(",") if v.strip()]
        if not eq or not key or not values:
            raise EvalError(f"bad --compare part {part!r} (expected key=v1,v2,…)")
        if any(key == k for k, _ in axes):
            raise EvalError(f"--compare key {key!r} given twice")
        axes.append((key, [_coerce(v) for v in values]))
    if not axes:
        raise EvalError(f"bad --compare spec {spec!r}")
    out = []
    for combo in product(*(vals for _, vals in axes)):
        d = dict(base or {})
        d.update({k: v for (k, _), v in zip(axes, combo)})
        out.append(d)
    return out


# ------------------------------------------------------------------------------------------ reports

# (metric key, label, kind) — kind "rate" (0..1), "ms", or "num"
HEADLINE = [
    ("hit@1", "hit@1", "rate"),
    ("hit@5", "hit@5", "rate"),
    ("mrr@10", "MRR@10", "rate"),
    ("cross_evidence_recall", "cross evidence recall", "rate"),
    ("answer_accuracy", "answer accuracy", "rate"),
    ("cross_pilot_recall", "cross pilot recall", "rate"),
    ("cross_pilot_precision", "cross pilot precision", "rate"),
    ("citation_validity", "citation validity", "rate"),
    ("evidence_citation_share", "evidence cited", "rate"),
    ("unanswerable_refused", "unanswerable refused", "rate"),
    ("answerable_wrongly_refused", "answerable wrongly refused", "rate"),
    ("retrieve_ms_p50", "retrieve p50 (ms)", "ms"),
    ("retrieve_ms_p95", "retrieve p95 (ms)", "ms"),
    ("answer_ms_p50", "answer p50 (ms)", "ms"),
    ("answer_ms_p95", "answer p95 (ms)", "ms"),
    ("total_ms_p50", "total p50 (ms)", "ms"),
    ("total_ms_p95", "total p95 (ms)", "ms"),
    ("n", "questions", "num"),
    ("errors", "run errors", "num"),
]
_TYPE_COLS = [("n", "n", "num"), ("hit@1", "hit@1", "rate"), ("hit@5", "hit@5", "rate"),
              ("mrr@10", "MRR@10", "rate"), ("cross_evidence_recall", "cross ev. recall", "rate"),
              ("answer_accuracy", "accuracy", "rate"), ("cross_pilot_recall", "pilot R", "rate"),
              ("cross_pilot_precision", "pilot P", "rate"), ("citation_validity", "cit. valid", "rate"),
              ("evidence_citation_share", "ev. cited", "rate"), ("unanswerable_refused", "refused", "rate"),
              ("answerable_wrongly_refused", "wrongly refused", "rate"), ("total_ms_p50", "total p50 ms", "ms")]


def _fmt(v: Any, kind: str) -> str:
    if v is None:
        return "—"
    if kind == "rate":
        return f"{v:.3f}"
    if kind == "ms":
        return f"{v:.0f}"
    return str(v)


def _width(s: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in s)


def _pad(s: str, w: int, right: bool = False) -> str:
    fill = " " * (w - _width(s))
    return fill + s if right else s + fill


def _summary_rows(results: Sequence[EvalResult]) -> tuple[list[str], list[list[str]]]:
    header = ["metric"] + [r.label for r in results]
    rows = [[lab] + [_fmt(r.overall.get(key), kind) for r in results] for key, lab, kind in HEADLINE]
    return header, rows


def format_summary(results: Sequence[EvalResult]) -> str:
    """The headline table (one column per variant) as aligned plain text for the terminal."""
    header, rows = _summary_rows(results)
    widths = [max(_width(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(_pad(c, widths[i], right=i > 0) for i, c in enumerate(header)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(_pad(c, widths[i], right=i > 0) for i, c in enumerate(row)) for row in rows]
    return "\n".join(lines)


def _md_cell(s: Any) -> str:
    return " ".join(str(s).split()).replace("|", "\\|")


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(_md_cell(h) for h in header) + " |",
           "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    return out


def _short(s: str, n: int) -> str:
    s = " ".join(str(s).split())
    return s if len(s) <= n else s[:n] + "…"


def _top_passages(o: QuestionOutcome, n: int = 3) -> list[dict]:
    out = []
    for i, p in enumerate(((o.record or {}).get("passages") or [])[:n], 1):
        if not isinstance(p, Mapping):
            continue
        out.append({"rank": p.get("rank", i), "chunk_id": p.get("chunk_id"), "pilot": p.get("pilot"),
                    "section": p.get("section"), "lines": f"{p.get('start_line')}-{p.get('end_line')}",
                    "text": _short(p.get("text") or "", 60)})
    return out


def failure_dict(o: QuestionOutcome) -> dict:
    rec = o.record or {}
    return {
        "id": o.item.id, "type": o.item.type, "question": o.item.question, "line": o.item.line,
        "reasons": list(o.reasons),
        "expected": {"answers": list(o.item.answers), "evidence": list(o.item.evidence),
                     "pilot": list(o.item.pilots)},
        "got": {"answer": rec.get("answer"), "answerable": rec.get("answerable"), "error": o.error,
                "named_pilots": o.named_pilots or None},
        "scores": {"hit@1": o.hit1, "hit@5": o.hit5, "rr@10": o.rr10, "cross_recall": o.cross_recall,
                   "correct": o.correct, "pilot_recall": o.pilot_recall,
                   "pilot_precision": o.pilot_precision, "evidence_cited": o.evidence_cited,
                   "citations": f"{o.citations_valid}/{o.citations_total} valid"},
        "top_passages": _top_passages(o),
    }


def _report_json(results: Sequence[EvalResult], name: str) -> dict:
    return {
        "name": name,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "variants": [{
            "label": r.label,
            "settings": r.settings,
            "duration_s": round(r.duration_s, 3),
            "metrics": r.metrics,
            "failures": [failure_dict(o) for o in r.failures],
        } for r in results],
    }


def _report_md(results: Sequence[EvalResult], name: str) -> str:
    L = [f"# Evaluation report: {name}", ""]
    L += [f"Generated {time.strftime('%Y-%m-%d %H:%M:%S')}. Variants: "
          + "; ".join(f"`{r.label}`" for r in results) + ".", ""]
    L += ["## Summary", ""]
    header, rows = _summary_rows(results)
    L += _md_table(header, rows) + [""]
    L += ["## Per question type", ""]
    for r in results:
        if len(results) > 1:
            L += [f"### {r.label}", ""]
        groups = [*r.metrics["by_type"].items(), ("overall", r.metrics["overall"])]
        L += _md_table(["type"] + [c[1] for c in _TYPE_COLS],
                       [[t] + [_fmt(m.get(k), kind) for k, _, kind in _TYPE_COLS] for t, m in groups])
        L += [""]
    L += ["## Failures", ""]
    for r in results:
        fails = r.failures
        if len(results) > 1:
            L += [f"### {r.label}", ""]
        if not fails:
            L += ["No failures.", ""]
            continue
        L += [f"{len(fails)} of {len(r.outcomes)} questions failed.", ""]
        for o in fails:
            f = failure_dict(o)
            exp = f["expected"]
            L.append(f"- **{o.item.id}** ({o.item.type}) {_md_cell(o.item.question)}")
            L.append(f"  - reasons: {_md_cell('; '.join(o.reasons))}")
            L.append(f"  - expected: answers={exp['answers']} evidence={[_short(e, 60) for e in exp['evidence']]}"
                     f" pilot={exp['pilot']}")
            got = f["got"]
            if o.error:
                L.append(f"  - got: error {_md_cell(o.error)}")
            else:
                L.append(f"  - got: answerable={got['answerable']} answer: {_md_cell(_short(got['answer'] or '', 200))}")
            for p in f["top_passages"]:
                L.append(f"  - #{p['rank']} {p['pilot']} · {p['section']} · lines {p['lines']} · "
                         f"{_md_cell(p['text'])}")
        L.append("")
    return "\n".join(L)


def _report_png(results: Sequence[EvalResult]) -> bytes:
    import io

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rates = [(k, lab) for k, lab, kind in HEADLINE if kind == "rate"]
    fig = Figure(figsize=(max(8, 1.1 * len(rates)), 4.8), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(111)
    n = max(len(results), 1)
    width = 0.8 / n
    for i, r in enumerate(results):
        xs = [j + (i - (n - 1) / 2) * width for j in range(len(rates))]
        ys = [r.overall.get(k) for k, _ in rates]
        ax.bar(xs, [y if y is not None else 0 for y in ys], width, label=_ascii(r.label))
        for x, y in zip(xs, ys):
            if y is None:
                ax.text(x, 0.01, "n/a", ha="center", va="bottom", fontsize=6, rotation=90)
    ax.set_xticks(range(len(rates)))
    ax.set_xticklabels([lab for _, lab in rates], rotation=35, ha="right", fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("rate")
    ax.set_title("PilotQA evaluation (overall)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _ascii(s: str) -> str:
    """Chart labels stay ASCII so no CJK font is needed."""
    return s.encode("ascii", "replace").decode("ascii")


def write_report(results: EvalResult | Sequence[EvalResult], reports_dir: str | Path, name: str) -> dict[str, Path]:
    """Write `<reports_dir>/<name>.json`, `.md` and `.png` atomically; returns {"json", "md", "png"} paths."""
    if isinstance(results, EvalResult):
        results = [results]
    results = list(results)
    if not results:
        raise EvalError("no results to report")
    if not name or name in (".", "..") or "/" in name or os.sep in name:
        raise EvalError(f"bad report name {name!r} (a file name without directories)")
    d = Path(reports_dir)
    paths = {"json": d / f"{name}.json", "md": d / f"{name}.md", "png": d / f"{name}.png"}
    atomic_write(paths["json"], json.dumps(_report_json(results, name), ensure_ascii=False, indent=2,
                                            default=str).encode("utf-8"))
    atomic_write(paths["md"], _report_md(results, name).encode("utf-8"))
    atomic_write(paths["png"], _report_png(results))
    return paths


__all__ = [
    "EvalError", "GoldItem", "QuestionOutcome", "EvalResult", "load_gold", "score_question", "aggregate",
    "compute_metrics", "percentile", "named_pilots", "evaluate", "compare", "parse_compare",
    "format_summary", "write_report", "failure_dict", "settings_label", "TYPES", "HEADLINE",
]
