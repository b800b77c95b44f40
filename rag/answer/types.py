"""The things an answer is made of, and the `Answerer` protocol every way of answering implements."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator, Protocol, runtime_checkable


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
    doc: str = ""             # the document's file name
    page: int | None = None   # 1-based PDF page of the quote's first line (None for other documents)

    def to_json(self) -> dict:
        """The stable batch format's citation: exactly these keys."""
        return {"n": self.n, "chunk_id": self.chunk_id, "pilot": self.pilot, "section": self.section,
                "start_line": self.start_line, "end_line": self.end_line, "quote": self.quote}

    def to_dict(self) -> dict:
        return {**self.to_json(), "doc": self.doc, "page": self.page}


@dataclass
class Row:
    """One pilot's line of a comparison: its answer, or `answer=None` when its document does not say."""

    pilot: str
    answer: str | None
    quote: str = ""
    n: int | None = None
    start_line: int | None = None
    end_line: int | None = None
    value: float | None = None   # the figure's value (万/亿 counted), when the ask is "which is higher/lower"
    figure: str | None = None    # the figure as the quote writes it, with its unit ("2.02万平方公里")
    # aggregate answers (from the fact table): which measure and year, and whether the row is the answer
    # ("result"), shown beside it ("context": the other named pilots, the rest of a ranking) or left out of it
    # ("aside": a figure for part of a pilot, or under another label), with the note saying so
    measure: str | None = None
    year: int | None = None
    kind: str | None = None
    role: str = "result"
    note: str = ""
    unit: str = ""

    def to_dict(self) -> dict:
        return {"pilot": self.pilot, "answer": self.answer, "quote": self.quote, "n": self.n,
                "start_line": self.start_line, "end_line": self.end_line, "value": self.value,
                "figure": self.figure, "measure": self.measure, "year": self.year, "kind": self.kind,
                "role": self.role, "note": self.note, "unit": self.unit}


@dataclass
class Unsupported:
    """A claim of an LLM answer that no cited passage supports, and why it was removed."""

    claim: str
    reason: str

    def to_dict(self) -> dict:
        return {"claim": self.claim, "reason": self.reason}


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
    pilots: list[str] = field(default_factory=list)   # pilots the question is about (from the analysis)
    answerer: str = "extractive"                       # "extractive" | "llm" | "llm-local"
    is_cross: bool = False
    shape: str = "single"                              # the question's shape (rag.question.SHAPES)
    rows: list[Row] = field(default_factory=list)      # comparisons: one row per pilot
    resolved_question: str | None = None               # a follow-up as understood (shown as 理解为…)
    unsupported: list[Unsupported] = field(default_factory=list)
    confidence: float | None = None                    # the judgment's probability for the chosen sentence
    result: str | None = None                          # an aggregate answer's computed figure (a count, a difference)

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
        """`to_json` plus what the UI, the API and `--json` show."""
        d = self.to_json(id)
        d["citations"] = [c.to_dict() for c in self.citations]
        d.update({"grounded": self.grounded, "notice": self.notice, "pilots": list(self.pilots),
                  "answerer": self.answerer, "is_cross": self.is_cross, "shape": self.shape,
                  "rows": [r.to_dict() for r in self.rows], "resolved_question": self.resolved_question,
                  "unsupported": [u.to_dict() for u in self.unsupported], "result": self.result})
        return d


class LLMError(RuntimeError):
    """The LLM could not produce an answer (connection, timeout, HTTP error, empty or cut-off response)."""


@runtime_checkable
class Answerer(Protocol):
    """A way of answering: `answer` returns the verified `Answer`; `stream` yields text deltas, then it."""

    name: str

    def answer(self, question: str, retrieval) -> Answer: ...

    def stream(self, question: str, retrieval) -> Iterator[str | Answer]: ...
