"""What a question is understood to ask: `QuestionInfo`, the one analysis every later stage reads.

A `QuestionInfo` is immutable once the analysis returns it: the analyzer, the retriever and the answerers are
shared by request threads, so nothing may change an analysis another request is reading. A stage that refines
it (an explicit `--pilot`, a document filter) makes a new one with `dataclasses.replace`. The analysis itself
fills a `QuestionDraft` (the same fields, mutable, plus the per-call options) and freezes it at the end.
"""
from __future__ import annotations

import unicodedata
from dataclasses import MISSING, dataclass, field, fields, make_dataclass
from types import MappingProxyType
from typing import Mapping

from rag.text import to_simplified

SHAPES = ("single", "cross", "overview", "count", "compare", "aggregate")


@dataclass(frozen=True)
class PlaceRef:
    """A span of the question that names a place, and what it refers to."""

    text: str
    start: int
    end: int
    kind: str                       # "pilot" | "parent" | "province" | "place" | "unknown" | "doc"
    pilots: tuple[str, ...] = ()    # a place inside a pilot ("place"): that pilot
    province: str = ""              # a real place that is no pilot ("place"): its province


@dataclass(frozen=True)
class QuestionInfo:
    raw: str                         # as asked
    text: str                        # analysed: simplified, NFKC (an English question's Chinese rendering)
    key: str                         # norm(text)
    lang: str = "zh"                 # "zh" | "en"
    shape: str = "single"
    pilots: tuple[str, ...] = ()     # what the question is about
    scope: tuple[str, ...] = ()      # pilots to search (() = all)
    places: tuple[PlaceRef, ...] = ()
    unknown_place: str | None = None                  # a place named that no document covers
    unknown_province: str | None = None               # that place's province, when the gazetteer knows it
    province_pilots: tuple[str, ...] = ()             # and that province's pilots (named in the refusal)
    resolved_by: str = ""            # "name" | "parent" | "province" | "description" | "explicit" | "document"
    years: tuple[str, ...] = ()
    period: str | None = None        # no year named: "base" (基期, 现在…) or "target" (到时候…) of the plan
    qualifier: str | None = None     # 户籍 / 常住 …
    measure: str | None = None       # 森林覆盖率, 面积 …
    answer_type: str = "fact"        # "number" | "percent" | "person" | "list" | "place" | "name" | "date" | "fact"
    terms: tuple[str, ...] = ()      # content segments (no places, years or question words)
    expansions: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # term → the documents' words
    key_terms: tuple[str, ...] = ()  # cross: alternatives, any of which qualifies a pilot
    related_terms: tuple[str, ...] = ()  # cross: weaker clues, checked by meaning (rag.retrieval.cross)
    within: str | None = None        # cross: only top sections whose title contains this
    compare_op: str | None = None    # compare: "max" | "min" | None
    unplaced: str = ""               # key with every place span blanked (for the shape and unknown places)
    content: str = ""                # key with the spans that name the subject blanked (for content terms)
    require: str | None = None       # a place every answering sentence must name ("白城市…" asked of its pilot)
    described_by: tuple[str, ...] = ()  # terms that identified a described pilot
    ask: str = ""                    # the question after its subject ("…的前阳镇，" removed), when there is one
    aggregate: object = None         # an `AggregateAsk` when the question asks across pilots (shape "aggregate")

    @property
    def asks_figure(self) -> bool:
        return self.answer_type in ("number", "percent")

    @property
    def is_cross(self) -> bool:
        return self.shape == "cross"


def _draft_fields():
    """QuestionInfo's fields, mutable, plus `describe` (this call may name a pilot by its description)."""
    out = []
    for f in fields(QuestionInfo):
        kw = {}
        if isinstance(f.default, tuple):  # filled step by step: a list while the draft is worked on
            kw["default_factory"] = list
        elif f.default is not MISSING:
            kw["default"] = f.default
        if f.default_factory is not MISSING:
            kw["default_factory"] = f.default_factory
        out.append((f.name, f.type, field(**kw)))
    out.append(("describe", bool, field(default=True)))
    return out


# The analysis's working copy: filled step by step by one call, never shared, frozen into a QuestionInfo.
QuestionDraft = make_dataclass("QuestionDraft", _draft_fields(),
                               namespace={"asks_figure": QuestionInfo.asks_figure,
                                          "is_cross": QuestionInfo.is_cross})


def freeze(draft) -> QuestionInfo:
    """The immutable analysis of a finished draft (lists become tuples, the expansions a read-only mapping)."""
    values = {}
    for f in fields(QuestionInfo):
        v = getattr(draft, f.name)
        if isinstance(v, list):
            v = tuple(v)
        elif isinstance(v, dict):
            v = MappingProxyType(dict(v))
        values[f.name] = v
    return QuestionInfo(**values)


def normalize(question: str | None) -> str:
    """Traditional → simplified, NFKC, outer whitespace trimmed (inner spaces kept for display)."""
    return unicodedata.normalize("NFKC", to_simplified(question or "")).strip()


def is_english(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    latin = sum(1 for c in letters if c.isascii())
    return bool(letters) and latin / len(letters) > 0.6
