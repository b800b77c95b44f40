"""Retrieval: dense + BM25 fused, scoped by the question analysis, shaped by the question.

`HybridRetriever.retrieve(question)`:

1. `rag.question.QuestionAnalyzer` reads the question once (pilots, scope, shape, terms…); the result travels
   with the `Retrieval` so every answerer sees the same analysis.
2. Every chunk is scored: dense = the index's inner products with the query vector, BM25 over jieba tokens;
   `mode` picks dense, bm25 or both fused (`rag.fusion`: weighted min-max or RRF, pure functions).
3. The shape decides what is returned:
   - `single`/`overview`: the chunks of the pilots in scope compete (all chunks when none is named); an
     overview also gets the opening chunk of each of the pilot's sections;
   - `compare`: each named pilot's best chunks, interleaved;
   - `cross`: every chunk containing a key term (or, failing that, its words, or a high fused score), or a
     related term in a sentence close to the question, is a candidate; the best passage of EVERY qualifying
     pilot is returned, so the list can be complete (`rag.cross`);
   - `count`: the opening chunk (with its heading line) of every pilot in scope.
4. An optional CrossEncoder reranks single-shape candidates (`rag.rerank`, when `Config.reranker` is set).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from rag.index.chunk_stats import bigram_idf, document_years, lead_years, simplified_texts
from rag.index.chunking import Chunk
from rag.query.analysis import QuestionAnalyzer
from rag.query.info import QuestionInfo, normalize
from rag.retrieval import cross
from rag.retrieval.facts import select as select_facts
from rag.retrieval.fusion import FUSERS, FUSIONS, Fusion
from rag.text import bigrams, candidate_sentences, norm

MODES = ("dense", "bm25", "hybrid")


@dataclass
class Passage:
    """One retrieved chunk with its rank (1-based) and the scores that put it there."""

    rank: int
    chunk: Chunk
    score: float
    scores: dict[str, float] = field(default_factory=dict)


@dataclass
class Retrieval:
    """What the retriever found for one question, and what it understood of it."""

    question: str
    passages: list[Passage]
    pilots: list[str] = field(default_factory=list)   # pilots the question is about (analysed or --pilot)
    is_cross: bool = False                             # a "哪些试点…" question
    unknown_place: str | None = None                   # a place named in the question that no document covers
    mode: str = "hybrid"
    timings_ms: dict[str, float] = field(default_factory=dict)
    scope: list[str] = field(default_factory=list)     # pilots whose chunks were searched ([] = all)
    key_terms: list[str] = field(default_factory=list) # cross questions: the terms searched for
    info: QuestionInfo | None = None                   # the one question analysis
    qvec: np.ndarray | None = None                     # the query vector (for sentence similarity)
    sentence_vectors: dict[str, np.ndarray] = field(default_factory=dict)  # chunk id → its sentences' vectors
    idf: dict[str, float] | None = None                # bigram IDF over the indexed chunks (read-only)
    lead_years: dict[str, frozenset] = field(default_factory=dict)  # chunk id → years its lead paragraph sets
    doc_years: dict[str, frozenset] = field(default_factory=dict)   # pilot → every year its document states
    facts: object = None                               # an aggregate question's fact rows (`FactSelection`)

    @property
    def shape(self) -> str:
        return self.info.shape if self.info else ("cross" if self.is_cross else "single")


# --------------------------------------------------------------------------- names


# resolve_pilot / suggest_pilots live in rag.pilot_names (light imports: the CLI checks --pilot before loading)
from rag.knowledge.names import resolve_pilot, suggest_pilots  # noqa: E402,F401 - re-exported
from rag.retrieval.rerank import load_reranker


def detect_pilots(question: str, aliases: dict[str, list[str]]) -> list[str]:
    """The pilots a question names (full names, short forms, province + place), in question order."""
    return list(QuestionAnalyzer({"aliases": aliases}).analyze(question).pilots)


# --------------------------------------------------------------------------- the retriever


@dataclass
class _State:
    """What the retriever derives from the index once, at start-up (read-only afterwards)."""

    pilots: list[str]
    pilot_of: np.ndarray                # chunk index → pilot index
    pilot_idx: dict[str, np.ndarray]    # pilot → its chunk indices (file order)
    norm_texts: list[str]               # chunk heading + text, normalised, lower-case (for key terms)
    top_sections: list[str]
    analyzer: QuestionAnalyzer
    vecs: np.ndarray | None             # chunk vectors, when the index has no `dense_scores`
    idf: dict[str, float]               # bigram → IDF over the chunks (lexical coverage in the judgment)
    lead_years: dict[str, frozenset]    # dash-led goal chunk → the years of the paragraph that leads it
    doc_years: dict[str, frozenset]     # pilot → every year its document states
    qcache: dict[str, np.ndarray] = field(default_factory=dict)
    svcache: dict[str, np.ndarray] = field(default_factory=dict)  # sentence vectors computed here (old indexes)


class HybridRetriever:
    """Dense + BM25 retrieval over a loaded index, scoped and shaped by the question analysis.

    Plain Python, so a command-line question never imports LangChain; `as_langchain()` gives the same
    retriever as a LangChain `BaseRetriever` (`rag.retrieval.langchain`)."""

    # Fusion chosen on eval/gold.jsonl (dev): weighted min-max at dense weight 0.6 beat RRF at every k.
    def __init__(self, index, embedder=None, *, k: int = 5, mode: str = "hybrid", fusion: str = Fusion.WEIGHTED.value,
                 rrf_k: float = 60.0, dense_weight: float = 0.6, restrict: bool = True, cross_max: int = 80,
                 cross_per_pilot: int = 6, reranker=None, rerank_top: int = 20):
        self.index, self.embedder = index, embedder
        self.k, self.mode, self.fusion, self.rrf_k, self.dense_weight = k, mode, fusion, rrf_k, dense_weight
        self.restrict = restrict                # a named pilot: search only its chunks (else boost them)
        self.cross_max = cross_max              # cross questions: every qualifying pilot, then second passages
        self.cross_per_pilot = cross_per_pilot
        self.reranker, self.rerank_top = reranker, rerank_top  # a `rag.retrieval.rerank.Reranker` (or None)
        self._st = self._derive()

    def _derive(self) -> "_State":
        idx = self.index
        chunks = idx.chunks
        n = len(chunks)
        pilots = list(dict.fromkeys(c.pilot for c in chunks))
        pos = {p: i for i, p in enumerate(pilots)}
        pilot_of = np.array([pos[c.pilot] for c in chunks], dtype=np.int32) if n else np.zeros(0, np.int32)
        stored = idx.search_texts() if hasattr(idx, "search_texts") else None
        derived = stored or simplified_texts(chunks)  # the slow opencc pass, stored by the build
        simple = derived["texts"]
        by_pilot: dict[str, list[str]] = {}
        for c, t in zip(chunks, simple):
            by_pilot.setdefault(c.pilot, []).append(t)
        gaz = dict(getattr(idx, "gazetteer", None) or {})
        aliases = dict(gaz.get("aliases") or getattr(idx, "aliases", None) or {})
        for p in pilots:
            aliases.setdefault(p, [p])
        gaz["aliases"] = aliases
        vecs = None
        if not hasattr(idx, "dense_scores") and getattr(idx, "dense", None) is not None and idx.dense.ntotal == n:
            vecs = np.ascontiguousarray(idx.dense.reconstruct_n(0, n), dtype=np.float32)
        st = _State(
            pilots=pilots,
            pilot_of=pilot_of,
            pilot_idx={p: np.flatnonzero(pilot_of == i) for i, p in enumerate(pilots)},
            # what key terms are looked for in: the chunk's own heading + its text
            norm_texts=[(h + t).lower() for h, t in zip(derived["sections"], simple)],
            top_sections=[c.top_section for c in chunks],
            analyzer=QuestionAnalyzer(gaz, {p: "\n".join(t) for p, t in by_pilot.items()},
                                      frozenset(f.measure for f in getattr(idx, "facts", None) or ())),
            vecs=vecs,
            idf=bigram_idf(simple),
            lead_years=lead_years(chunks),
            doc_years=document_years(chunks),
        )
        if self.mode not in MODES:
            raise ValueError(f"unknown retrieval mode {self.mode!r} (choose {', '.join(MODES)})")
        if self.fusion not in FUSIONS:
            raise ValueError(f"unknown fusion {self.fusion!r} (choose {', '.join(FUSIONS)})")
        return st

    @classmethod
    def from_config(cls, index, embedder, config) -> "HybridRetriever":
        """The retriever a `Config` describes: k, mode and the optional CrossEncoder (`config.reranker`)."""
        return cls(index=index, embedder=embedder, k=config.k, mode=config.mode,
                   reranker=load_reranker(getattr(config, "reranker", "")))

    # ------------------------------------------------------------------ public

    @property
    def analyzer(self) -> QuestionAnalyzer:
        return self._st.analyzer

    def analyze(self, question: str, pilot: str | None = None) -> QuestionInfo:
        return self._st.analyzer.analyze(question, pilot=pilot)

    def resolve_pilot(self, name: str) -> str:
        return resolve_pilot(name, self._st.analyzer.aliases, self._st.analyzer.gaz)

    def retrieve(self, question: str, k: int | None = None, pilot: str | None = None,
                 mode: str | None = None, info: QuestionInfo | None = None,
                 within: list[str] | None = None) -> Retrieval:
        t0 = time.perf_counter()
        k = int(k or self.k)
        mode = mode or self.mode
        if mode not in MODES:
            raise ValueError(f"unknown retrieval mode {mode!r} (choose {', '.join(MODES)})")
        explicit = self.resolve_pilot(pilot) if pilot else None
        q = normalize(question)
        if not q:
            return Retrieval(question=q, passages=[], mode=mode, timings_ms={"total": 0.0})
        if info is None:
            info = self.analyze(q, pilot=explicit)
        elif explicit:  # the analysis is shared: a refinement is a new one
            info = replace(info, pilots=(explicit,), scope=(explicit,), resolved_by="explicit")
        if within:  # a document filter: only these pilots / documents are searched
            allowed = set(within)
            info = replace(info, pilots=tuple(p for p in info.pilots if p in allowed),
                           scope=tuple(p for p in (info.scope or within) if p in allowed) or tuple(within))
        t1 = time.perf_counter()
        # an English question is searched in its Chinese rendering too (BM25 needs Chinese words); a question
        # whose pilot is known is searched by its ask (the words describing the pilot would pull its intro)
        query = q if info.lang == "zh" else f"{q} {info.text}"
        if info.ask and len(info.pilots) == 1 and info.shape == "single":
            query = f"{self._st.analyzer.short_name(info.pilots[0])}{info.ask}"
        shape = info.shape
        facts = None
        if shape == "aggregate":
            facts = select_facts(self.index.facts, info.aggregate)
            if not facts.rows and not facts.aside and info.aggregate.pilots:
                # the table holds none of it (the change since <基期年> of a measure no plan states as a level): the
                # named pilots' passages answer instead, as for any other question
                shape = "compare" if len(info.pilots) >= 2 else "single"
                info = replace(info, shape=shape, aggregate=None)
                facts = None
        # an answer from the fact table needs no search: its passages are the rows' chunks
        scores, timings = self._scores(query, mode, info) if shape != "aggregate" else (None, {})
        t2 = time.perf_counter()
        if shape == "aggregate":
            passages = self._fact_passages(facts)
        elif shape == "cross":
            passages = self._cross(info, scores, mode, query)
        elif shape == "count":
            passages = self._count(info) or self._ranked(query, info, scores, mode, k)
        elif shape == "compare":
            passages = self._multi(info, scores, mode, k)
            if info.aggregate is not None and info.aggregate.op == "among":
                facts = select_facts(self.index.facts, info.aggregate)
                have = {p.chunk.id for p in passages}
                for extra in self._fact_passages(facts):
                    if extra.chunk.id not in have:
                        passages.append(replace(extra, rank=len(passages) + 1))
        else:
            passages = self._ranked(query, info, scores, mode, k)
            if shape == "overview" and info.pilots:
                passages = self._overview(info, passages)
        t3 = time.perf_counter()
        timings.update(parse=_ms(t1 - t0), rank=_ms(t3 - t2), total=_ms(t3 - t0))
        qvec = self._st.qcache.get(query)
        if qvec is None and self.embedder is not None and passages and shape != "aggregate":
            qvec = self.embed(query)  # the judgment compares the question with each sentence
        t4 = time.perf_counter()
        svecs = self.sentence_vectors([p.chunk.id for p in passages]) if qvec is not None else {}
        timings["sentences"] = _ms(time.perf_counter() - t4)
        timings["total"] = _ms(time.perf_counter() - t0)
        return Retrieval(question=q, passages=passages, pilots=list(info.pilots), is_cross=shape == "cross",
                         unknown_place=info.unknown_place, mode=mode, timings_ms=timings,
                         scope=list(info.scope), key_terms=list(info.key_terms), info=info,
                         qvec=qvec, sentence_vectors=svecs, idf=self._st.idf,
                         lead_years={p.chunk.id: self._st.lead_years[p.chunk.id] for p in passages
                                     if p.chunk.id in self._st.lead_years},
                         doc_years={p.chunk.pilot: self._st.doc_years.get(p.chunk.pilot, frozenset())
                                    for p in passages}, facts=facts)

    def sentence_vectors(self, chunk_ids: list[str]) -> dict[str, np.ndarray]:
        """Each chunk's sentence vectors (rows = `candidate_sentences(chunk.text)`), from the index; an index
        built before sentence vectors existed gets them embedded here once per chunk."""
        if hasattr(self.index, "sentence_vectors"):
            return self.index.sentence_vectors(chunk_ids)

        cache = self._st.svcache
        missing = [cid for cid in dict.fromkeys(chunk_ids) if cid not in cache and cid in self.index.by_id]
        if missing and self.embedder is not None:
            texts, owners = [], []
            for cid in missing:
                for s in candidate_sentences(self.index.chunks[self.index.by_id[cid]].text):
                    texts.append(s)
                    owners.append(cid)
            vecs = np.asarray(self.embedder.embed_passages(texts), dtype=np.float32) if texts else np.zeros((0, 1))
            for cid in missing:
                rows = [i for i, o in enumerate(owners) if o == cid]
                cache[cid] = vecs[rows] if rows else np.zeros((0, vecs.shape[1] if vecs.ndim == 2 else 1), np.float32)
        return {cid: cache[cid] for cid in chunk_ids if cid in cache}

    def as_langchain(self):
        """This retriever as a LangChain `BaseRetriever` (passages → `Document`s with their citation fields)."""
        from rag.retrieval.langchain import LangChainRetriever  # LangChain loads only where it is used

        return LangChainRetriever(retriever=self, k=self.k)

    def clear_cache(self) -> None:
        """Forget cached question vectors (a repeated question is otherwise not re-embedded): measurements
        call this so that every question pays its real embedding cost."""
        self._st.qcache.clear()

    # ------------------------------------------------------------------ scoring

    def embed(self, q: str) -> np.ndarray:
        cache = self._st.qcache
        v = cache.get(q)
        if v is None:
            if self.embedder is None:
                raise ValueError("dense retrieval needs an embedder (HybridRetriever(embedder=...))")
            v = np.asarray(self.embedder.embed_queries([q]), dtype=np.float32).reshape(-1)
            if len(cache) > 256:
                cache.clear()
            cache[q] = v
        return v

    def _scores(self, q: str, mode: str, info: QuestionInfo) -> tuple[dict[str, np.ndarray], dict[str, float]]:
        out: dict[str, np.ndarray] = {}
        t: dict[str, float] = {}
        scope = info.scope if info.shape in ("single", "overview") and self.restrict else None
        has_dense = hasattr(self.index, "dense_scores") or self._st.vecs is not None
        if mode in ("dense", "hybrid") and has_dense and self.embedder is not None:
            a = time.perf_counter()
            v = self.embed(q)
            b = time.perf_counter()
            if hasattr(self.index, "dense_scores"):
                out["dense"] = np.asarray(self.index.dense_scores(v, pilots=scope or None), dtype=np.float32)
            else:
                out["dense"] = self._st.vecs @ v
            t["embed"] = _ms(b - a)
            t["dense"] = _ms(time.perf_counter() - b)
        if mode in ("bm25", "hybrid") or "dense" not in out:
            a = time.perf_counter()
            # the documents' words for the user's words (多少钱 → 资金|投资…) join the lexical query
            lexical = q + "".join(f" {w}" for alts in info.expansions.values() for w in alts)
            try:
                out["bm25"] = np.asarray(self.index.bm25_scores(lexical, pilots=scope or None), dtype=np.float32)
            except TypeError:  # an index without pilot filtering
                out["bm25"] = np.asarray(self.index.bm25_scores(lexical), dtype=np.float32)
            t["bm25"] = _ms(time.perf_counter() - a)
        return out, t

    def _fuse(self, cand: np.ndarray, scores: dict[str, np.ndarray], mode: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Fused score of the candidate chunks (higher is better) and the parts it came from."""
        parts = {name: s[cand] for name, s in scores.items()}
        if mode == "dense" and "dense" in parts:
            return parts["dense"].astype(np.float64), parts
        if mode == "bm25" or "dense" not in parts:
            return parts["bm25"].astype(np.float64), parts
        fuse = FUSERS[Fusion(self.fusion)]
        fused = fuse(parts["dense"].astype(np.float64), parts["bm25"].astype(np.float64),
                     dense_weight=self.dense_weight, rrf_k=self.rrf_k)
        return fused, parts

    def _candidates(self, pilots: list[str]) -> np.ndarray:
        parts = [self._st.pilot_idx[p] for p in pilots if p in self._st.pilot_idx]
        return np.concatenate(parts) if parts else np.arange(len(self.index.chunks))

    def _passage(self, rank: int, ci: int, score: float, scores: dict[str, float]) -> Passage:
        return Passage(rank=rank, chunk=self.index.chunks[ci], score=float(score), scores=scores)

    def _ranked(self, q: str, info: QuestionInfo, scores, mode: str, k: int) -> list[Passage]:
        st = self._st
        n = len(self.index.chunks)
        if not n:
            return []
        cand = self._candidates(info.scope) if info.scope and self.restrict else np.arange(n)
        fused, parts = self._fuse(cand, scores, mode)
        if info.scope and not self.restrict:
            in_scope = np.isin(st.pilot_of, [st.pilots.index(p) for p in info.scope if p in st.pilots])[cand]
            fused = fused * np.where(in_scope, 1.5, 1.0)
        order = np.argsort(-fused, kind="stable")
        top = order[: max(k, self.rerank_top if self.reranker is not None else k)]
        rerank_scores = None
        if self.reranker is not None and len(top) > 1:
            rr = np.asarray(self.reranker.score(q, [self.index.chunks[int(cand[i])].text for i in top]), dtype=np.float64)
            rerank_scores = dict(zip((int(cand[i]) for i in top), rr.tolist()))
            top = top[np.argsort(-rr, kind="stable")]
        out = []
        for r, i in enumerate(top[:k], 1):
            ci = int(cand[i])
            sc = {name: float(v[i]) for name, v in parts.items()}
            sc["fused"] = float(fused[i])
            if rerank_scores is not None:
                sc["rerank"] = float(rerank_scores[ci])
            out.append(self._passage(r, ci, sc.get("rerank", sc["fused"]), sc))
        return out

    def _multi(self, info: QuestionInfo, scores, mode: str, k: int) -> list[Passage]:
        """Several pilots named: rank within each, then interleave so each pilot gets its best passages."""
        per: list[list[tuple[int, float, dict]]] = []
        for p in info.pilots:
            cand = self._st.pilot_idx.get(p)
            if cand is None or not len(cand):
                continue
            fused, parts = self._fuse(cand, scores, mode)
            order = np.argsort(-fused, kind="stable")
            per.append([(int(cand[i]), float(fused[i]), {nm: float(v[i]) for nm, v in parts.items()}) for i in order])
        k = max(k, 3 * len(per))  # each pilot needs room for its own answer
        out: list[Passage] = []
        depth = 0
        while len(out) < k and any(depth < len(x) for x in per):
            for x in per:
                if depth < len(x) and len(out) < k:
                    ci, f, sc = x[depth]
                    out.append(self._passage(len(out) + 1, ci, f, {**sc, "fused": f}))
            depth += 1
        return out

    def _overview(self, info: QuestionInfo, ranked: list[Passage]) -> list[Passage]:
        """A pilot's overview: the opening chunk of its intro and of each section, in document order, then
        the best-ranked others."""
        chunks = self.index.chunks
        idx = self._st.pilot_idx.get(info.pilots[0])
        if idx is None:
            return ranked
        chosen: list[int] = []
        seen_sections: set[str] = set()
        for ci in idx:
            sec = chunks[int(ci)].section
            if sec not in seen_sections:
                seen_sections.add(sec)
                chosen.append(int(ci))
        out = [self._passage(r, ci, 1.0, {"overview": 1.0}) for r, ci in enumerate(chosen, 1)]
        have = set(chosen)
        for p in ranked:
            if self.index.by_id.get(p.chunk.id) not in have if hasattr(self.index, "by_id") else True:
                out.append(Passage(rank=len(out) + 1, chunk=p.chunk, score=p.score, scores=p.scores))
        return out

    def _fact_passages(self, sel) -> list[Passage]:
        """The chunks that state an aggregate answer's figures, in the order of its rows (`rag.retrieval.facts`)."""
        out: list[Passage] = []
        seen: set[str] = set()
        for f in [*sel.rows, *(f for f, _ in sel.aside)]:
            ci = self.index.by_id.get(f.chunk_id)
            if ci is None or f.chunk_id in seen:
                continue
            seen.add(f.chunk_id)
            out.append(self._passage(len(out) + 1, ci, 1.0, {"fact": 1.0}))
        return out

    def _count(self, info: QuestionInfo) -> list[Passage]:
        """Each pilot in scope (all when none) by its opening chunk, which starts with its heading line; for
        one named pilot, the items of its section the question names (主要任务 → its （一）（二）…)."""
        out = []
        if len(info.pilots) == 1:
            idx = self._st.pilot_idx.get(info.pilots[0], np.zeros(0, int))
            chunks = [self.index.chunks[int(i)] for i in idx]
            want = bigrams(norm("".join(info.terms)))
            tops = list(dict.fromkeys(c.top_section for c in chunks if c.top_section != "引言"))
            if not tops or not want:
                return []
            top = max(tops, key=lambda t: len(bigrams(norm(t)) & want))
            if not bigrams(norm(top)) & want:
                return []
            seen: set[str] = set()
            for i, c in zip(idx, chunks):
                if c.top_section == top and " > " in c.section and c.section not in seen:
                    seen.add(c.section)
                    out.append(self._passage(len(out) + 1, int(i), 1.0, {"item": 1.0}))
            return out
        for p in (info.scope or self._st.pilots):
            idx = self._st.pilot_idx.get(p)
            if idx is not None and len(idx):
                out.append(self._passage(len(out) + 1, int(idx[0]), 1.0, {"structure": 1.0}))
        return out

    def _cross(self, info: QuestionInfo, scores, mode: str, query: str) -> list[Passage]:
        """Every qualifying pilot's best supporting passage for a "which pilots…" question (`rag.cross`)."""
        st = self._st
        cand = self._candidates(info.scope) if info.scope else np.arange(len(self.index.chunks))
        if info.within:
            keep = np.array([info.within in st.top_sections[int(i)] for i in cand], dtype=bool)
            cand = cand[keep] if keep.any() else cand
        fused, parts = self._fuse(cand, scores, mode)
        if not [t for t in info.key_terms if len(norm(t)) >= 2]:
            return self._count(info) if info.scope else []
        ev = self.cross_evidence(info, cand, query)
        strength, ranked = cross.order(ev, fused, st.pilot_of[cand], self.cross_per_pilot)
        out = []
        for r, i in enumerate(ranked[: self.cross_max], 1):
            sc = {name: float(v[i]) for name, v in parts.items()}
            sc.update(fused=float(fused[i]), term=float(strength[i]))
            if ev.related_sim[i] > -1 and not ev.strength[i]:
                sc["related"] = float(ev.related_sim[i])
            out.append(self._passage(r, int(cand[i]), float(fused[i]) + float(strength[i]), sc))
        return out

    def cross_evidence(self, info: QuestionInfo, cand: np.ndarray, query: str) -> cross.Evidence:
        """The lexical and related-term evidence of each candidate chunk (`rag.cross.evidence`)."""
        st = self._st
        chunks = self.index.chunks
        qvec = self.embed(query) if info.related_terms and self.embedder is not None else None
        return cross.evidence(st.norm_texts, cand, st.pilot_of, max(1, len(st.pilots)), info.key_terms,
                              info.related_terms, lambda i: chunks[i].text, lambda i: chunks[i].id, qvec,
                              self.sentence_vectors)


# --------------------------------------------------------------------------- helpers


def _ms(s: float) -> float:
    return round(s * 1000, 3)


__all__ = [
    "Passage", "Retrieval", "HybridRetriever", "Fusion", "FUSERS", "detect_pilots", "resolve_pilot",
    "suggest_pilots", "MODES", "FUSIONS",
]
