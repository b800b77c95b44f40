"""The answer flow as a langchain-core Runnable: a thin adapter over `rag.flow.AnswerFlow`.

    chain = build_chain(retriever, answerer)            # a Runnable: str | {"question", "k", "pilot", "mode"}
    answer = chain.invoke("<试点><年份>的<指标>是多少？")        # -> Answer
    for item in chain.stream("..."):                      # str deltas, then exactly one Answer (last)
        ...
    chain.pipeline                                        # parse | retrieve | answer, as RunnableLambdas

The stages are the flow's own methods, so an answer is the same whichever way it was asked; the server
answers through this chain (`PilotQA(langchain=True)`), the command line through the flow alone.
"""
from __future__ import annotations

from typing import Any, Iterator

from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda

from rag.answer import Answer
from rag.flow import AnswerFlow, parse_input

__all__ = ["build_chain", "AnswerChain", "parse_input"]


class AnswerChain(Runnable[Any, Answer]):
    """parse → retrieve → answer as RunnableLambdas; `invoke` returns an `Answer`, `stream` yields str deltas
    then the `Answer`."""

    def __init__(self, retriever, answerer, fallback=None):
        self.flow = AnswerFlow(retriever, answerer, fallback=fallback)
        self.retriever, self.answerer, self.fallback = retriever, answerer, fallback
        self.parse = RunnableLambda(self.flow.parse, name="parse")
        self.retrieve = RunnableLambda(self.flow.retrieve, name="retrieve")
        self.answer = RunnableLambda(self.flow.answer, name="answer")
        self.pipeline = self.parse | self.retrieve | self.answer

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Answer:
        return self.pipeline.invoke(input, config)

    def stream(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Iterator[str | Answer]:
        state = self.retrieve.invoke(self.parse.invoke(input, config), config)
        yield from self.flow.stream_from(state)


def build_chain(retriever, answerer, fallback=None) -> AnswerChain:
    """The pipeline as a Runnable: input str | {"question", "k", "pilot", "mode"} → `Answer`."""
    return AnswerChain(retriever, answerer, fallback=fallback)
