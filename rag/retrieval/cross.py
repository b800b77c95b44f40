"""Which-pilots questions ("哪些试点提到X？"): the evidence that qualifies a pilot, and the order the qualifying
pilots' passages are shown in. The terms looked for are chosen by the question analysis
(`rag.query.cross_terms`: key terms, stated verbatim; related terms, weaker clues).

A chunk containing a key term qualifies its pilot. A related term qualifies a pilot only through a sentence
close in meaning to the question (the question vector against the sentence vectors the index stored); the bar
is fitted on the dev which-pilots questions by `pilotqa fit` (`rag.evaluation.fitting.fit_related`) and kept in
`knowledge/data/cross_related.json`.

Nothing here imports the retriever: `evidence()` takes the arrays it needs, so retrieval and fitting share it.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from rag.index.store import tokenize
from rag.knowledge import lexicon
from rag.text import candidate_sentences, norm

RELATED_PATH = lexicon.DATA / "cross_related.json"


@dataclass(frozen=True)
class RelatedParams:
    min_sim: float          # a related term's sentence must be at least this close to the question


@lru_cache(maxsize=4)
def load_related(path: str | None = None) -> RelatedParams:
    """The fitted bar; without the file, related terms qualify nothing (key terms only, as before)."""
    p = Path(path) if path else RELATED_PATH
    try:
        d = json.loads(p.read_text(encoding="utf-8"))
        return RelatedParams(float(d["min_sim"]))
    except (OSError, ValueError, KeyError, TypeError):
        return RelatedParams(float("inf"))


def core(term: str) -> str:
    """A key term without a generic tail: 棚户区改造 → 棚户区, 物联网技术 → 物联网 (the tails are listed in
    `data/generic_tails.txt`)."""
    for tail in sorted(lexicon.words("generic_tails.txt"), key=len, reverse=True):
        if term.endswith(tail) and len(term) - len(tail) >= 2:
            return term[: -len(tail)]
    return term


@dataclass
class Evidence:
    """Per candidate chunk: 2 = a key term, 1 = its core or all its words, 0 = none; and for chunks with none,
    the best similarity of a sentence holding a related term (-1 = no such sentence)."""

    strength: np.ndarray
    related_sim: np.ndarray


def evidence(texts: list[str], cand: np.ndarray, pilot_of: np.ndarray, n_pilots: int, key_terms: list[str],
             related_terms: list[str], chunk_text: Callable[[int], str], chunk_id: Callable[[int], str],
             qvec: np.ndarray | None, sentence_vectors: Callable[[list[str]], dict]) -> Evidence:
    terms = [norm(t).lower() for t in key_terms if len(norm(t)) >= 2]
    strength = np.zeros(len(cand), dtype=np.int8)

    def mark(pred, level: int, common_ok: bool) -> None:
        hit = np.fromiter((pred(texts[int(i)]) for i in cand), dtype=bool, count=len(cand))
        # a core or word set so common it says nothing about this question does not qualify a pilot
        if hit.any() and (common_ok or len(np.unique(pilot_of[cand[hit]])) <= 0.6 * n_pilots):
            strength[hit & (strength < level)] = level

    for t in dict.fromkeys(terms):
        mark(lambda x, t=t: t in x, 2, True)
    for t in terms:
        c = core(t)
        if c != t:
            mark(lambda x, c=c: c in x, 1, False)
    if not strength.any():
        for t in terms:
            words = [w for w in dict.fromkeys(tokenize(t)) if len(w) >= 2]
            words = [w for w in words if not any(w != u and w in u for u in words)]
            if len(words) >= 2:
                mark(lambda x, ws=tuple(words): all(w in x for w in ws), 1, False)
    sims = np.full(len(cand), -1.0, dtype=np.float32)
    rel = [norm(t).lower() for t in related_terms if len(norm(t)) >= 2]
    if rel and qvec is not None:
        todo = [j for j, i in enumerate(cand) if strength[j] == 0 and any(r in texts[int(i)] for r in rel)]
        vecs = sentence_vectors([chunk_id(int(cand[j])) for j in todo]) if todo else {}
        for j in todo:
            cid = chunk_id(int(cand[j]))
            v = vecs.get(cid)
            if v is None:
                continue
            for s, sent in enumerate(candidate_sentences(chunk_text(int(cand[j])))):
                if s < len(v) and any(r in norm(sent).lower() for r in rel):
                    sims[j] = max(sims[j], float(v[s] @ qvec))
    return Evidence(strength, sims)


def order(ev: Evidence, fused: np.ndarray, pilot_of: np.ndarray, per_pilot: int) -> tuple[np.ndarray, list[int]]:
    """(the evidence strength with admitted related terms at 1, the candidates in the order they are shown).

    A related term names its pilot only through a sentence close enough to the question (the fitted bar);
    below it, its passage is still shown after the qualifying pilots' own and names no pilot. Shown first: every
    qualifying pilot's best passage (strongest evidence, then best fused score), then each one's second (the
    line a reader checks may be another one), then the pilots only a related term points to, then the rest
    round by round, then the other passages a related term points to."""
    strength = ev.strength.copy()
    related = (strength == 0) & (ev.related_sim >= load_related().min_sim)
    strength[related] = 1
    if strength.any():
        keep = strength > 0
    else:
        # a paraphrase no chunk contains: the fused score decides, with a relevance bar
        keep = fused >= max(fused.max() * 0.8, 0.0) if len(fused) else np.zeros(0, bool)
    sel = np.flatnonzero(keep)
    best_first = sel[np.lexsort((-fused[sel], -strength[sel]))]
    rounds: list[list[int]] = []   # rounds[r]: each qualifying pilot's (r+1)-th passage, best pilots first
    seen: dict[int, int] = {}
    for i in best_first:
        p = int(pilot_of[i])
        c = seen.get(p, 0)
        if c < per_pilot:
            if c == len(rounds):
                rounds.append([])
            rounds[c].append(int(i))
        seen[p] = c + 1
    clues = np.flatnonzero(~keep & (ev.related_sim > -1))
    clues = clues[np.argsort(-ev.related_sim[clues], kind="stable")]
    clue_firsts: list[int] = []
    for i in clues:
        if int(pilot_of[i]) not in seen:
            seen[int(pilot_of[i])] = 1
            clue_firsts.append(int(i))
    ranked = (rounds[0] if rounds else []) + (rounds[1] if len(rounds) > 1 else []) + clue_firsts
    ranked += [i for r in rounds[2:] for i in r]
    shown = set(ranked)
    ranked += [int(i) for i in clues if int(i) not in shown]
    return strength, ranked

