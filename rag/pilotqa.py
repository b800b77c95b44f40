"""`PilotQA`: the one entry class. It loads the index and the model once and serves every front end.

The CLI, the Gradio app, the evaluation and the benchmark all go through it, so a question is
validated, retrieved, answered and verified the same way wherever it is asked.
"""
from __future__ import annotations

import re
import threading
import unicodedata
from dataclasses import dataclass, field
from typing import Iterator

from .config import Config
from .text import norm, to_simplified

MAX_QUESTION_CHARS = 500
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\ufeff]")


class QuestionError(ValueError):
    """A question we cannot take as it is; the message is for the user (Chinese)."""


def clean_question(question: str | None) -> str:
    """Strip control characters and surrounding space; refuse what cannot be a question."""
    if question is None:
        raise QuestionError("请输入问题。")
    q = _CONTROL.sub("", str(question)).strip()
    q = re.sub(r"\s+", " ", q)
    if not q:
        raise QuestionError("请输入问题。")
    if len(q) > MAX_QUESTION_CHARS:
        raise QuestionError(f"问题太长（{len(q)} 字）。请精简到 {MAX_QUESTION_CHARS} 字以内，只保留要问的内容。")
    if not any(unicodedata.category(ch)[0] in "LN" for ch in q):
        raise QuestionError("问题中没有可检索的文字（只有标点或表情符号）。请用文字描述您的问题。")
    return q


@dataclass
class CiteMatch:
    """Where a sentence comes from: an exact (normalised) match or an approximate passage."""

    exact: bool
    pilot: str
    section: str
    start_line: int
    end_line: int
    text: str                 # the matching paragraph or passage (original characters)
    context_before: list[tuple[int, str]] = field(default_factory=list)
    context_after: list[tuple[int, str]] = field(default_factory=list)
    score: float = 1.0
    source: str = ""


class PilotQA:
    """Index + embedder + retriever + answerers, loaded once."""

    def __init__(self, config: Config | None = None, *, index=None, embedder=None):
        from .embeddings import load_embedder
        from .retrieval import HybridRetriever
        from .store import Index

        self.config = config or Config.from_env()
        self.index = index or Index.load(self.config.index_path, expect=self.config)
        if self.config.torch_threads > 0:
            import torch

            torch.set_num_threads(self.config.torch_threads)
        self.embedder = embedder or load_embedder(self.config.embed_model, self.config.model_cache,
                                                  fast_queries=self.config.fast_queries)
        self._lock = threading.Lock()
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
            from .corpus import load_corpus

            self._corpus = load_corpus([c["path"] for c in self.index.manifest.corpus])
        return self._corpus

    def reload_if_changed(self) -> bool:
        """Switch to a newly published complete index; keep serving the old one on any problem."""
        from dataclasses import replace

        from .retrieval import HybridRetriever
        from .store import Index, Manifest, StoreError

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
        from .retrieval import resolve_pilot

        if not name or name in ("全部", "all"):
            return None
        try:
            return resolve_pilot(name, self.index.aliases)
        except ValueError as exc:
            sugg = getattr(exc, "suggestions", None) or self.pilot_names()[:5]
            raise QuestionError(f"没有名为“{name}”的试点。您是不是要找：{'、'.join(sugg)}") from None

    # ------------------------------------------------------------------ asking

    def search(self, question: str, *, k: int | None = None, mode: str | None = None, pilot: str | None = None):
        q = clean_question(question)
        return self.retriever.retrieve(q, k=k or self.config.k, pilot=self.resolve_pilot(pilot), mode=mode or self.config.mode)

    def answerer(self, kind: str = "extractive"):
        from . import answer as A

        if kind not in self._answerers:
            if kind == "extractive":
                self._answerers[kind] = A.ExtractiveAnswerer(min_score=self.config.answer_min_score)
            elif kind == "llm":
                if self.config.llm_local:
                    self._answerers[kind] = A.LocalLLMAnswerer(self.config)
                elif self.config.llm_base_url and self.config.llm_model:
                    self._answerers[kind] = A.LLMAnswerer(self.config)
                else:
                    raise QuestionError("未配置大模型：请设置 PILOTQA_LLM_BASE_URL 和 PILOTQA_LLM_MODEL（或 --llm-local）。")
            else:
                raise QuestionError(f"未知的回答方式：{kind}（可选 extractive 或 llm）")
        return self._answerers[kind]

    def ask(self, question: str, *, k: int | None = None, mode: str | None = None, pilot: str | None = None,
            answerer: str = "extractive"):
        """Retrieve and answer; an LLM failure falls back to the extractive answer with a notice."""
        final = None
        for item in self.stream_ask(question, k=k, mode=mode, pilot=pilot, answerer=answerer):
            if not isinstance(item, str):
                final = item
        return final

    def stream_ask(self, question: str, *, k: int | None = None, mode: str | None = None, pilot: str | None = None,
                   answerer: str = "extractive") -> Iterator:
        """Yield text deltas, then the verified `Answer` (through the LangChain chain).

        An unreachable LLM falls back to the extractive answer, with a notice saying so.
        """
        from .chain import build_chain

        q = clean_question(question)
        impl = self.answerer(answerer)
        fallback = None if answerer == "extractive" else self.answerer("extractive")
        chain = build_chain(self.retriever, impl, fallback=fallback)
        request = {"question": q, "k": k or self.config.k, "pilot": self.resolve_pilot(pilot),
                   "mode": mode or self.config.mode}
        yield from chain.stream(request)

    # ------------------------------------------------------------------ citation lookup

    def cite(self, text: str, *, k: int = 5, context: int = 1) -> list[CiteMatch]:
        """Where does this sentence come from? Exact normalised matches first, then approximate passages."""
        q = clean_question(text)
        key = norm(to_simplified(q)).strip("。；;，,！？!?")
        matches: list[CiteMatch] = []
        if len(key) >= 4:
            for pilot, path_titles, para, source, para_n in self._paragraphs():
                if key in para_n:
                    matches.append(self._cite_match(True, pilot, path_titles, para.start_line, para.end_line,
                                                    para.text, source, context, 1.0))
        if matches:
            return matches
        retrieval = self.retriever.retrieve(q, k=k, mode="hybrid")
        return [
            self._cite_match(False, p.chunk.pilot, [p.chunk.section], p.chunk.start_line, p.chunk.end_line,
                             p.chunk.text, p.chunk.source, context, p.score)
            for p in retrieval.passages
        ]

    def _paragraphs(self):
        """Every paragraph with its normalised text, computed once per loaded corpus (not per lookup)."""
        corpus = self.corpus
        if self._para_cache is None or self._para_cache[0] is not corpus:
            out = []
            for p in corpus.pilots:
                for para in p.intro:
                    out.append((p.name, ["引言"], para, p.source, norm(para.text)))
                for titles, sec in p.iter_sections():
                    for para in sec.paragraphs:
                        out.append((p.name, titles, para, p.source, norm(para.text)))
            self._para_cache = (corpus, out)
        return self._para_cache[1]

    def _cite_match(self, exact, pilot, titles, start, end, text, source, context, score) -> CiteMatch:
        lines = self.corpus.lines(source) if source else []

        def around(a, b):
            return [(i, lines[i - 1]) for i in range(a, b + 1) if 1 <= i <= len(lines) and lines[i - 1].strip()]

        return CiteMatch(exact=exact, pilot=pilot, section=" > ".join(titles), start_line=start, end_line=end,
                         text=text, context_before=around(start - 2 * context, start - 1),
                         context_after=around(end + 1, end + 2 * context), score=round(float(score), 4), source=source)

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

