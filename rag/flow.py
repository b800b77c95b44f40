"""The question → retrieval → answer flow, in plain Python.

    flow = AnswerFlow(retriever, answerer)               # retriever.retrieve(q, k=, pilot=, mode=) -> Retrieval
    answer = flow.invoke("<试点><年份>的<指标>是多少？")         # -> Answer
    answer = flow.invoke({"question": "...", "k": 8, "pilot": "北京市房山区", "mode": "hybrid"})
    for item in flow.stream("..."):                       # str deltas, then exactly one Answer (last)
        ...

Stages: parse → retrieve → answer; each is timed into `Answer.timings_ms` (`retrieve`, `answer`, `total`,
milliseconds). With `fallback=` (e.g. an `ExtractiveAnswerer`), an `LLMError` from the answerer is answered by
the fallback instead, with a notice; when streaming, deltas already yielded stay yielded and the final `Answer`
(the fallback's) is what counts. `rag.chain` wraps the same stages as a LangChain Runnable; a question asked
from the command line goes through this module alone, so it never waits for LangChain to import.
"""
from __future__ import annotations

import time
from typing import Any, Iterator

from rag.answer import Answer, LLMError

__all__ = ["AnswerFlow", "parse_input"]


def parse_input(inp: Any) -> dict:
    """str or {"question", "k", "pilot", "mode"} → a normalised request dict."""
    if isinstance(inp, str):
        req = {"question": inp}
    elif isinstance(inp, dict):
        req = dict(inp)
    else:
        raise TypeError(f"chain input must be a question string or a dict, not {type(inp).__name__}")
    q = (req.get("question") or "").strip()
    if not q:
        raise ValueError("问题不能为空（empty question）")
    return {"question": q, "k": req.get("k"), "pilot": req.get("pilot"), "mode": req.get("mode"),
            "info": req.get("info"), "within": req.get("within"), "deadline": req.get("deadline"),
            "_t0": time.perf_counter()}


class AnswerFlow:
    """parse → retrieve → answer; `invoke` returns an `Answer`, `stream` yields str deltas then the `Answer`.
    Holds no per-call state: one flow may serve many threads."""

    def __init__(self, retriever, answerer, fallback=None):
        self.retriever = retriever
        self.answerer = answerer
        self.fallback = fallback

    # ------------------------------------------------------------------ stages

    def parse(self, inp: Any) -> dict:
        return parse_input(inp)

    def retrieve(self, req: dict) -> dict:
        t = time.perf_counter()
        retrieval = self.retriever.retrieve(req["question"], k=req.get("k"), pilot=req.get("pilot"),
                                            mode=req.get("mode"), info=req.get("info"), within=req.get("within"))
        return {**req, "retrieval": retrieval, "retrieve_ms": (time.perf_counter() - t) * 1000}

    def answer(self, state: dict) -> Answer:
        t = time.perf_counter()
        notice = None
        try:
            ans = self.answerer.answer(state["question"], state["retrieval"], deadline=state.get("deadline"))
        except LLMError as exc:
            ans, notice = self._fallback(state, exc)
        return self._finish(state, ans, t, notice)

    def _finish(self, state: dict, ans: Answer, t_answer: float, notice: str | None = None) -> Answer:
        end = time.perf_counter()
        ans.timings_ms = {"retrieve": round(state["retrieve_ms"], 2),
                          "answer": round((end - t_answer) * 1000, 2),
                          "total": round((end - state["_t0"]) * 1000, 2)}
        if notice:
            ans.notice = notice if not ans.notice else f"{notice} {ans.notice}"
        return ans

    def _fallback(self, state: dict, exc: LLMError) -> tuple[Answer, str]:
        if self.fallback is None:
            raise exc
        ans = self.fallback.answer(state["question"], state["retrieval"])
        return ans, f"大模型暂时不可用（{exc}），以下为抽取式回答。"

    # ------------------------------------------------------------------ whole requests

    def invoke(self, inp: Any) -> Answer:
        return self.answer(self.retrieve(self.parse(inp)))

    def stream(self, inp: Any) -> Iterator[str | Answer]:
        return self.stream_from(self.retrieve(self.parse(inp)))

    def stream_from(self, state: dict) -> Iterator[str | Answer]:
        """The answer stage streamed, for a retrieved `state`."""
        t = time.perf_counter()
        final: Answer | None = None
        notice = None
        try:
            if hasattr(self.answerer, "stream"):
                for item in self.answerer.stream(state["question"], state["retrieval"], deadline=state.get("deadline")):
                    if isinstance(item, Answer):
                        final = item
                    elif item:
                        yield item
            else:
                final = self.answerer.answer(state["question"], state["retrieval"], deadline=state.get("deadline"))
                yield final.text
        except LLMError as exc:
            final, notice = self._fallback(state, exc)
            yield final.text
        if final is None:  # pragma: no cover - an answerer's stream must end with its Answer
            raise RuntimeError("answerer stream ended without an Answer")
        yield self._finish(state, final, t, notice)
