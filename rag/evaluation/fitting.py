"""`pilotqa fit`: fit the answer judgment (`rag.answer.judgment`) on the dev split.

For every single-answer dev question, the pipeline retrieves as it always does and every candidate sentence
that passes the logical gates becomes one training row: its features, and label 1 when the sentence is from
the gold pilot and contains every gold answer (for a list question, at least one when no sentence holds them
all). Unanswerable questions give only negatives, which is how the model learns what a near miss looks like.

A logistic regression (Newton's method with a small L2 penalty on standardised features) gives the weights.
The refusal threshold is then chosen on the same questions: the probability above which the best sentence is
given as the answer, maximising right answers plus right refusals — the median over bootstrap resamples of the
questions, so that it does not rest on one question (see `choose_threshold`).

The blind test split is never fitted on: a gold file named like a test split is refused.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.answer import judgment as J
from rag.evaluation import EvalError, load_gold
from rag.files import atomic_write
from rag.query.info import normalize
from rag.retrieval import cross
from rag.text import norm

SINGLE = ("number", "fact", "list")


@dataclass
class Rows:
    X: np.ndarray            # (n, features)
    y: np.ndarray            # (n,) 0/1
    qid: np.ndarray          # (n,) question index
    answerable: list[bool]   # per question
    n_questions: int


def collect(qa, items) -> Rows:
    """Candidate rows of every single-shape dev question (numbers, facts, lists, unanswerable)."""
    zero = J.Params(tuple(0.0 for _ in J.FEATURES), 0.0, tuple(0.0 for _ in J.FEATURES),
                    tuple(1.0 for _ in J.FEATURES), 0.5)
    xs, ys, qs, answerable = [], [], [], []
    qn = 0
    for item in items:
        if item.type not in (*SINGLE, "unanswerable"):
            continue
        retrieval = qa.retriever.retrieve(item.question, k=qa.config.k)
        if retrieval.shape != "single" or retrieval.info is None:
            continue
        cands = [c for c in J.candidates(retrieval.info, retrieval, params=zero) if c.eligible]
        answers = [norm(a) for a in item.answers if norm(a)]
        gold = set(item.pilots)
        lab = []
        for c in cands:
            pilot = retrieval.passages[c.pi].chunk.pilot
            lab.append(bool(answers) and pilot in gold and all(a in c.n for a in answers))
        if item.type == "list" and answers and not any(lab):
            lab = [retrieval.passages[c.pi].chunk.pilot in gold and any(a in c.n for a in answers) for c in cands]
        for c, l in zip(cands, lab):
            xs.append(c.x)
            ys.append(1.0 if l else 0.0)
            qs.append(qn)
        answerable.append(item.type != "unanswerable")
        qn += 1
    X = np.vstack(xs) if xs else np.zeros((0, len(J.FEATURES)))
    return Rows(X, np.asarray(ys), np.asarray(qs, dtype=int), answerable, qn)


def fit_logistic(X: np.ndarray, y: np.ndarray, l2: float = 1.0, iters: int = 50) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
    """(weights, bias, mean, scale) of an L2-regularised logistic regression on standardised features."""
    mean = X.mean(axis=0)
    scale = X.std(axis=0)
    scale[scale < 1e-9] = 1.0
    Z = np.hstack([(X - mean) / scale, np.ones((len(X), 1))])
    w = np.zeros(Z.shape[1])
    reg = np.full(Z.shape[1], l2)
    reg[-1] = 0.0  # the bias is not penalised
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-(Z @ w)))
        g = Z.T @ (p - y) + reg * w
        H = (Z * (p * (1 - p))[:, None]).T @ Z + np.diag(reg) + 1e-9 * np.eye(len(w))
        step = np.linalg.solve(H, g)
        w -= step
        if np.max(np.abs(step)) < 1e-8:
            break
    return w[:-1], float(w[-1]), mean, scale


def _best_threshold(best_p: np.ndarray, best_ok: np.ndarray, ans: np.ndarray) -> float:
    """The threshold that maximises right answers + right refusals on these questions. On a tie, the low edge of
    the best range: thresholds within it trade a wrong refusal for a right one, and a wrong refusal hides an
    answer the passage holds (the failure new users met first); halfway to the next lower question's
    probability, so that the bar does not sit on one question."""
    grid = np.unique(np.concatenate([[0.0, 1.0], best_p]))
    answered = best_p[None, :] >= grid[:, None]
    scores = np.where(ans[None, :], answered & best_ok[None, :], ~answered).sum(axis=1)
    top = np.flatnonzero(scores == scores.max())
    lo_t = grid[top[0]]
    prv = grid[top[0] - 1] if top[0] > 0 else 0.0
    return float((prv + lo_t) / 2)


def _bagged_threshold(best_p: np.ndarray, best_ok: np.ndarray, ans: np.ndarray, rounds: int = 200) -> float:
    """The median of the best thresholds of bootstrap resamples of the questions: a maximum that rests on one
    or two questions (a narrow peak of right answers) moves with every resample, a broad one does not."""
    if not len(best_p):
        return 0.5
    rng = np.random.default_rng(0)
    picks = [_best_threshold(best_p[i], best_ok[i], ans[i])
             for i in (rng.integers(0, len(best_p), len(best_p)) for _ in range(rounds))]
    return float(np.median(picks))


def choose_threshold(rows: Rows, params: J.Params) -> tuple[float, dict]:
    """The refusal threshold for right answers + right refusals on the fitted questions (bootstrap-bagged)."""
    probs = params.prob(rows.X) if len(rows.X) else np.zeros(0)
    best_p = np.zeros(rows.n_questions)
    best_ok = np.zeros(rows.n_questions, dtype=bool)
    for q in range(rows.n_questions):
        m = rows.qid == q
        if m.any():
            i = int(np.argmax(np.where(m, probs, -1)))
            best_p[q], best_ok[q] = probs[i], rows.y[i] > 0
    ans = np.asarray(rows.answerable)
    t = _bagged_threshold(best_p, best_ok, ans)
    answered = best_p >= t
    stats = {
        "questions": int(rows.n_questions),
        "right": int(np.where(ans, answered & best_ok, ~answered).sum()),
        "answerable_right": float((answered & best_ok)[ans].mean()) if ans.any() else None,
        "answerable_refused": float((~answered)[ans].mean()) if ans.any() else None,
        "unanswerable_refused": float((~answered)[~ans].mean()) if (~ans).any() else None,
    }
    return t, stats


def fit(qa, gold_paths, out: str | Path | None = None, *, l2: float = 1.0, command: str = "") -> dict:
    """Fit on dev gold file(s) and write the parameters (default `rag/data/judgment.json`)."""
    paths = [Path(p) for p in ([gold_paths] if isinstance(gold_paths, (str, Path)) else gold_paths)]
    items = []
    for gold_path in paths:
        if "test" in gold_path.stem.lower():
            raise EvalError(f"{gold_path} is a blind test split: fit on the dev splits (eval/gold*.jsonl) only")
        items += load_gold(gold_path)[0]
    t0 = time.perf_counter()
    rows = collect(qa, items)
    if not len(rows.X) or rows.y.sum() == 0:
        raise EvalError(f"no usable training rows from {', '.join(map(str, paths))}")
    w, b, mean, scale = fit_logistic(rows.X, rows.y, l2=l2)
    params = J.Params(tuple(map(float, w)), b, tuple(map(float, mean)), tuple(map(float, scale)), 0.5)
    threshold, stats = choose_threshold(rows, params)
    data = {
        **J.Params(params.weights, params.bias, params.mean, params.scale, round(threshold, 4)).to_dict(),
        "fitted_on": [p.as_posix() for p in paths],
        "command": command or "pilotqa fit --gold " + " ".join(p.as_posix() for p in paths),
        "rows": int(len(rows.X)), "positives": int(rows.y.sum()), "l2": l2,
        "dev": stats, "seconds": round(time.perf_counter() - t0, 1),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    target = Path(out) if out else J.PARAMS_PATH
    atomic_write(target, json.dumps(data, ensure_ascii=False, indent=1) + "\n")
    J.load_params.cache_clear()
    related = fit_related(qa, items, command=data["command"])
    atomic_write(target.with_name(cross.RELATED_PATH.name) if out else cross.RELATED_PATH,
                 json.dumps(related, ensure_ascii=False, indent=1) + "\n")
    cross.load_related.cache_clear()
    data["related"] = related
    return data


def related_rows(qa, items) -> list[tuple[float, bool]]:
    """(best related-term sentence similarity, pilot is gold) for every pilot of a dev which-pilots question that
    only a related term would qualify (`rag.cross`)."""
    rows = []
    r = qa.retriever
    for item in items:
        if item.type != "cross" or not item.pilots:
            continue
        q = normalize(item.question)
        info = r.analyze(q)
        if info.shape != "cross" or not info.related_terms:
            continue
        cand = np.arange(len(r.index.chunks))
        ev = r.cross_evidence(info, cand, q if info.lang == "zh" else f"{q} {info.text}")
        pilot_of = [c.pilot for c in r.index.chunks]
        strong = {pilot_of[i] for i in np.flatnonzero(ev.strength > 0)}
        best: dict[str, float] = {}
        for i in np.flatnonzero(ev.related_sim > -1):
            p = pilot_of[i]
            if p not in strong:
                best[p] = max(best.get(p, -1.0), float(ev.related_sim[i]))
        gold = set(item.pilots)
        rows += [(s, p in gold) for p, s in best.items()]
    return rows


def fit_related(qa, items, command: str = "") -> dict:
    """The similarity bar for related terms: every pilot admitted above it counts +1 when it is a gold pilot and
    -1 when not; the bar is the middle of the best range (no related pilot admitted when none helps)."""
    rows = sorted(related_rows(qa, items))
    sims = np.asarray([s for s, _ in rows])
    gain = np.asarray([1 if g else -1 for _, g in rows])
    # admitting every pilot at or above sims[i]: the sum of gain[i:]
    totals = np.concatenate([np.cumsum(gain[::-1])[::-1], [0]]) if len(rows) else np.zeros(1)
    best = int(np.argmax(totals[::-1]))  # the highest bar on a tie (fewest admitted)
    i = len(totals) - 1 - best
    if i >= len(rows) or totals[i] <= 0:
        bar = float(sims.max() + 1e-3) if len(rows) else 1.0
    else:
        bar = float((sims[i] + sims[i - 1]) / 2) if i > 0 else float(sims[i] - 1e-3)
    admitted = [g for s, g in rows if s >= bar]
    return {"min_sim": round(bar, 4), "candidates": len(rows), "gold_candidates": int(sum(g for _, g in rows)),
            "admitted": len(admitted), "admitted_gold": int(sum(admitted)), "command": command,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
