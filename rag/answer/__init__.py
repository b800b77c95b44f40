"""Answers with verified citations.

- `types`       Citation, Answer, Row, Unsupported, LLMError, the `Answerer` protocol
- `citations`   quotes → file lines (and PDF pages); the rule that a quote is inside its passage
- `judgment`    the fitted sentence-support model (which sentence answers, and whether any does)
- `extractive`  the offline answerer (default)
- `verify`      claim-level verification of written (LLM) answers
- `llm`         OpenAI-compatible and local-model answerers
- `prompts`     prompt templates from `prompts/`

Answerers are registered by name (`register_answerer`); `create_answerer(name, config)` builds one.
"""
from __future__ import annotations

from typing import Callable

from rag.answer.citations import make_citation, quote_lines
from rag.answer.extractive import ExtractiveAnswerer
from rag.answer.llm import LLMAnswerer, LocalLLMAnswerer
from rag.answer.prompts import build_messages, format_passages, load_prompt
from rag.answer.types import Answer, Answerer, Citation, LLMError, Row, Unsupported
from rag.answer.verify import is_refusal_text, verify

_REGISTRY: dict[str, Callable] = {}


def register_answerer(name: str, factory: Callable) -> None:
    """Make `factory(config) -> Answerer` available as `--answerer NAME`."""
    _REGISTRY[name] = factory


def answerer_names() -> list[str]:
    return list(_REGISTRY)


def create_answerer(name: str, config) -> Answerer:
    """The answerer registered under `name`; KeyError for an unknown name, LLMError when it cannot start."""
    return _REGISTRY[name](config)


def _llm_factory(config) -> Answerer:
    if config.llm_local:
        return LocalLLMAnswerer(config)
    if config.llm_base_url and config.llm_model:
        return LLMAnswerer(config)
    raise LLMError("未配置大模型：请设置 PILOTQA_LLM_BASE_URL 和 PILOTQA_LLM_MODEL（或 --llm-local）。")


register_answerer("extractive", lambda config: ExtractiveAnswerer(cited_first=config.cited_first))
register_answerer("llm", _llm_factory)

__all__ = [
    "Answer", "Answerer", "Citation", "Row", "Unsupported", "LLMError", "ExtractiveAnswerer", "LLMAnswerer",
    "LocalLLMAnswerer", "verify", "is_refusal_text", "make_citation", "quote_lines",
    "load_prompt", "build_messages", "format_passages", "register_answerer", "create_answerer", "answerer_names",
]
