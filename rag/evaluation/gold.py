"""Gold files: the questions an evaluation asks and what a right answer holds (format: eval/SCHEMA.md)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

TYPES = ("number", "fact", "list", "overview", "count", "cross", "unanswerable",
         "followup", "compare", "followup_unanswerable", "aggregate")
# one pilot, one answer: retrieval is scored on their evidence, the answer on its gold answers
SINGLE_TYPES = ("number", "fact", "list", "overview", "count", "followup")
REFUSAL_TYPES = ("unanswerable", "followup_unanswerable")
ANSWERABLE_TYPES = tuple(t for t in TYPES if t not in REFUSAL_TYPES)


class EvalError(Exception):
    """A gold file or compare spec that cannot be used; the message says which and why."""


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
    history: tuple[str, ...] = ()    # dialogue files: earlier user questions, oldest first
    tags: tuple[str, ...] = ()
    raw_answers: tuple[str, ...] = ()  # compare items: answers parallel to pilots ("" = not stated)
    result: str = ""                 # aggregate items: the computed figure a right answer states (a count…)
    op: str = ""                     # aggregate items: max, min, top, filter, count, list, province, among, diff
    doc: str = ""                    # questions about an added document: its file (eval/<folder>/<name>.txt)
    place: str = ""                  # questions naming a place that is no pilot: the place as named

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
        history = d.get("history") or []
        if not isinstance(history, list) or not all(isinstance(h, str) for h in history):
            raise ValueError("'history' must be a list of strings")
        tags = d.get("tags") or []
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise ValueError("'tags' must be a list of strings")
        return cls(
            id=d["id"], question=d["question"], answers=tuple(a for a in answers if a.strip()),
            pilots=_str_or_list(d, "pilot", keep_empty=d["type"] in ("compare", "aggregate")),
            sections=_str_or_list(d, "section", keep_empty=d["type"] in ("compare", "aggregate")),
            evidence=_str_or_list(d, "evidence", keep_empty=d["type"] in ("compare", "aggregate")),
            type=d["type"], line=line, history=tuple(h for h in history if h.strip()), tags=tuple(tags),
            raw_answers=tuple(answers), result=str(d.get("result") or ""), op=str(d.get("op") or ""),
            doc=str(d.get("doc") or ""), place=str(d.get("place") or ""),
        )

    def to_dict(self) -> dict:
        return {
            "id": self.id, "question": self.question, "answers": list(self.raw_answers or self.answers),
            "pilot": list(self.pilots), "section": list(self.sections),
            "evidence": list(self.evidence), "type": self.type, "history": list(self.history),
            "tags": list(self.tags),
        }


def _str_or_list(d: Mapping[str, Any], key: str, keep_empty: bool = False) -> tuple[str, ...]:
    v = d.get(key)
    if v is None:
        return ()
    if isinstance(v, str):
        return (v,) if v.strip() else ()
    if isinstance(v, list) and all(isinstance(x, str) for x in v):
        return tuple(x for x in v if keep_empty or x.strip())
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
