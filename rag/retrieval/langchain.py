"""The retriever as a LangChain `BaseRetriever`: a thin adapter over `HybridRetriever` (which stays plain Python,
so nothing that only asks a question imports LangChain). Each passage becomes a `Document` whose metadata
carries what a citation needs (pilot, section, line numbers) and the scores that ranked it."""
from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict


def passage_to_document(p) -> Document:
    c = p.chunk
    return Document(
        page_content=c.text,
        metadata={
            "chunk_id": c.id, "pilot": c.pilot, "province": c.province, "section": c.section,
            "top_section": c.top_section, "start_line": c.start_line, "end_line": c.end_line,
            "source": c.source, "rank": p.rank, "score": p.score, "scores": dict(p.scores),
        },
    )


class LangChainRetriever(BaseRetriever):
    """`retriever.retrieve(query, k=k)` as LangChain `Document`s."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    retriever: Any
    k: int = 5

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        return [passage_to_document(p) for p in self.retriever.retrieve(query, k=self.k).passages]
