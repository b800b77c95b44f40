"""Which-pilots questions ("哪些试点提到X？"): the terms they look for, and the evidence that qualifies a pilot.

The question analysis (`rag.question`) finds the phrases the user typed (`question_terms.cross_terms`); here
they become
- **key terms**: what the documents state verbatim — a phrase two or more pilots state, an alternative of a
  list that any pilot states, or else the most specific part of the phrase the documents state. A chunk that
  contains a key term qualifies its pilot.
- **related terms**: a part of a key term that more pilots state (同工同酬 of <某类职工>同工同酬, 大部门制 of
  大部门制改革), and the other parts of a phrase nobody states. A related term is a weaker clue — 清单 is part
  of 负面清单 but says nothing of it — so it qualifies a pilot only through a sentence close in meaning to the
  question (the question vector against the sentence vectors the index stored). The bar is fitted on the dev
  which-pilots questions by `pilotqa fit` (`rag.fitting.fit_related`) and kept in `data/cross_related.json`.

Nothing here imports the retriever: `evidence()` takes the arrays it needs, so retrieval and fitting share it.
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from rag.knowledge import lexicon
from rag.query.terms import cross_frame
from rag.text import candidate_sentences, jieba_tokenizer, norm

RELATED_PATH = lexicon.DATA / "cross_related.json"
_COMMON = 0.25   # a part stated by more than this share of the pilots says nothing about one question
_UNIVERSAL = 0.8  # a phrase stated by more than this share is no alternative beside others


# --------------------------------------------------------------------------- terms


def strip_frame(phrase: str, df: Callable[[str], int]) -> str:
    """jieba may glue a framing character to the term (搞园|镇|合一): when no document states the phrase but one
    states it without a leading or trailing framing word, that word goes."""
    if df(phrase) > 0:
        return phrase
    for w in sorted(cross_frame(), key=len, reverse=True):
        if phrase.startswith(w) and len(phrase) - len(w) >= 2 and df(phrase[len(w):]) > 0:
            return phrase[len(w):]
        if phrase.endswith(w) and len(phrase) - len(w) >= 2 and df(phrase[: -len(w)]) > 0:
            return phrase[: -len(w)]
    return phrase


def parts(phrase: str, df: Callable[[str], int], n: int) -> list[tuple[int, int, str, int]]:
    """The parts of a phrase the documents state and few pilots do: (end, start, part, pilots) for every run of
    jieba words without a framing word, and a single word's dictionary sub-words (百强 of 百强县), never arbitrary
    pieces of a word (镇合一)."""
    frame = cross_frame()
    tok = jieba_tokenizer()
    words = [w for w in tok.lcut(phrase) if w.strip()]
    found = []
    for j in range(len(words), 0, -1):
        for i in range(j - 1, -1, -1):
            span = words[i:j]
            if any(w in frame for w in span):
                break
            term = "".join(span)
            subs = [term] + ([x for x in tok.lcut_for_search(term) if x != term and tok.FREQ.get(x, 0) > 0]
                             if i == j - 1 else [])
            for t in subs:
                if len(t) < 2 or re.fullmatch(r"[\d.%]+", t):
                    continue
                d = df(t)
                if 1 <= d <= _COMMON * n:
                    found.append((j, i, t, d))
    return found


def key_terms_of(phrase: str, df: Callable[[str], int], n: int) -> list[str]:
    """The corpus terms a which-pilots phrase is about: the phrase itself when two or more pilots state it;
    otherwise (the phrase, when one pilot states it, and) its most specific part that two or more pilots state
    (the fewest pilots; the longer on a tie) — measured on the dev which-pilots questions against "the rightmost
    part" and "the most pilots"; for a phrase one pilot states, only a part that keeps two thirds of it."""
    d = df(phrase)
    if n <= 0 or d >= 2:
        return [phrase]
    found = parts(phrase, df, n)
    if not found:
        return [phrase]
    two = [f for f in found if f[3] >= 2] or found
    best = min(two, key=lambda f: (f[3], -len(f[2])))
    if d == 1:
        # a part that keeps most of the phrase (生态移民 of 生态移民搬迁) still names its concept; a short piece of
        # it (建市 of 撤县建市) may name another, and is left to the related terms' check by meaning
        return [phrase, best[2]] if 3 * len(best[2]) >= 2 * len(phrase) else [phrase]
    return [best[2]]


def choose_terms(phrases: list[str], df: Callable[[str], int], n: int,
                 kinds: list[str] | None = None) -> tuple[list[str], list[str]]:
    """(key terms, related terms) of a which-pilots question's phrases (see the module docstring); `kinds` are
    phrases that only describe the kind of thing asked ("A、B这类<kind>"): related terms, unless nothing else is
    asked."""
    kinds = [strip_frame(k, df) for k in (kinds or [])]
    if not phrases:
        phrases, kinds = kinds, []
    phrases = list(dict.fromkeys(strip_frame(p, df) for p in phrases))
    # a word nearly every plan uses (融资, 改革) names no group of pilots: not an alternative beside others
    phrases = [p for p in phrases if df(p) <= _UNIVERSAL * n] or phrases
    stated = [p for p in phrases if df(p) >= 1]
    # alternatives the documents state are the terms; one nobody states describes them ("…这类管理"): its parts
    # are related terms, checked by meaning
    asked = stated if len(phrases) > 1 and stated else phrases
    keys = list(dict.fromkeys(t for p in asked for t in key_terms_of(p, df, n))) or phrases
    generic = lexicon.words("cross_generic.txt")
    related: list[str] = []
    for p in phrases:
        if p not in keys and df(p) == 0:
            related += [f[2] for f in parts(p, df, n)]
    for k in kinds:  # the kind itself, where the documents name it (its parts are too loose a clue)
        related += [k] if 1 <= df(k) <= _COMMON * n else []
    for t in keys:
        d = df(t)
        related += [f[2] for f in parts(t, df, n) if f[3] > d]
    keep = []
    for r in dict.fromkeys(related):
        if r in keys or r in generic or any(r in k and df(r) <= df(k) for k in keys):
            continue
        keep.append(r)
    return keys, keep


# --------------------------------------------------------------------------- evidence


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
    from rag.index.store import tokenize

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

