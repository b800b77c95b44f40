"""Running an evaluation: every gold question through `run(question, settings[, history=…])`, scored.

The evaluator gets gold items and a callable that returns one record in the stable batch format
(docs/ARCHITECTURE.md): `answer`, `answerable`, `citations`, `passages`, `timings_ms`. Only the question (its
history for a dialogue item) and the settings go into `run`; everything else is scored here.
"""
from __future__ import annotations

import sys
import time
import traceback
from dataclasses import dataclass
from itertools import product
from typing import Any, Callable, Iterable, Mapping, Sequence

from rag.evaluation.gold import EvalError, GoldItem
from rag.evaluation.scoring import QuestionOutcome, as_record, compute_metrics, score_question

RunFn = Callable[..., dict]


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
    from tqdm.auto import tqdm  # tqdm loads only to show progress

    settings = dict(settings or {})
    label = label or settings_label(settings)
    known = {p for it in gold_items for p in it.pilots} | set(aliases or {})
    outcomes: list[QuestionOutcome] = []
    t0 = time.perf_counter()
    for item in tqdm(gold_items, desc=f"eval {label}", unit="q", disable=not progress, file=sys.stderr):
        try:
            extra = {"history": list(item.history)} if item.history else {}
            record = as_record(run(item.question, dict(settings), **extra))
        except Exception as e:  # one broken question must not lose the whole run
            o = score_question(item, None, error=f"{type(e).__name__}: {e}", aliases=aliases, known_pilots=known)
            o.error_where = _where(e)
            outcomes.append(o)
            continue
        outcomes.append(score_question(item, record, aliases=aliases, known_pilots=known))
    return EvalResult(label=label, settings=settings, outcomes=outcomes,
                      metrics=compute_metrics(outcomes), duration_s=time.perf_counter() - t0)


def _where(exc: BaseException) -> str:
    """Where in our code an exception was raised (type, file:line, function): enough to find a bug without
    showing the question (blind runs print this, never the message)."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "/rag/" in f.filename or "/ui/" in f.filename]
    f = (frames or traceback.extract_tb(exc.__traceback__) or [None])[-1]
    if f is None:
        return type(exc).__name__
    where = "/".join(f.filename.rsplit("/", 2)[-2:])
    return f"{type(exc).__name__} at {where}:{f.lineno} in {f.name}"


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


