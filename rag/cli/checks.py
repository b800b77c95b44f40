"""Early checks of a `pilotqa` call: everything a wrong call can fail on before an index or a model loads.

Text arguments that are not UTF-8 (an undecodable byte in argv arrives as a lone surrogate), the question's
length and content, -k, `--answerer llm` without an LLM, `ask`'s argument combinations, the server URL, and the
pilot name, checked against the name lists in the index folder (`gazetteer.json`, or `aliases.json` of older
builds) without loading the index. So a wrong call fails in a fraction of a second instead of after the load.
"""
from __future__ import annotations

import json
import re

from rag.config import Config

MAX_K = 50   # passages per question, as the HTTP API allows
_SURROGATE = re.compile(r"[\ud800-\udfff]")  # what an undecodable byte in argv becomes (surrogateescape)


class UsageError(ValueError):
    """A wrong call (arguments, the question, files) caught before anything loads; the message is one line."""


def check_call(args, config: Config) -> None:
    """Every check a wrong call can fail before an index or a model loads (it then fails in well under a
    second): text arguments that are not UTF-8, the question, k, the answerer, the pilot name, the server URL."""
    cmd = args.cmd
    for name, what in (("question", "问题 / the question"), ("text", "引文 / the text"), ("pilot", "--pilot")):
        value = getattr(args, name, None)
        if isinstance(value, str) and _SURROGATE.search(value):
            raise UsageError(f"{what} 不是有效的 UTF-8 文本，请检查终端或脚本的字符编码 / "
                             f"{what.split(' / ')[-1]} is not valid UTF-8: check the terminal's or script's encoding")
    k = getattr(args, "k", None)
    if cmd in ("ask", "search", "cite", "chat") and k is not None and not 1 <= k <= MAX_K:
        raise UsageError(f"-k 应在 1 到 {MAX_K} 之间 / -k must be between 1 and {MAX_K}")
    if cmd == "ask":
        if args.batch and args.question is not None:
            raise UsageError("请给出一个问题或 --batch，不要同时给 / give a question or --batch, not both")
        if args.out and not args.batch:
            raise UsageError("--out 只用于 --batch / --out goes with --batch IN.jsonl")
        if not args.batch and args.question is None:
            raise UsageError("请给出问题，或 --batch IN.jsonl --out OUT.jsonl / "
                             "give a question, or --batch IN.jsonl --out OUT.jsonl")
    if cmd in ("ask", "search", "cite") and not getattr(args, "batch", None):
        from rag.query.validate import clean_question  # the evaluation loads only for this command

        clean_question(args.text if cmd == "cite" else args.question)
    if cmd in ("ask", "chat") and args.answerer == "llm" and not config.server and not config.llm_configured:
        raise UsageError("--answerer llm 需要大模型设置：PILOTQA_LLM_BASE_URL 和 PILOTQA_LLM_MODEL（或 --llm-local）/ "
                         "--answerer llm needs PILOTQA_LLM_BASE_URL and PILOTQA_LLM_MODEL (or --llm-local)")
    if cmd in ("ask", "search", "cite", "chat"):
        if config.server:
            from rag.serve.client import check_url  # the HTTP client loads only for a command that asks

            check_url(config.server)
        elif getattr(args, "pilot", None):
            check_pilot(args.pilot, config)


def index_names(config: Config) -> tuple[dict, dict | None] | None:
    """(aliases, gazetteer) read straight from the index folder, or None when there is no readable index."""
    folder = config.index_path
    for name in ("gazetteer.json", "aliases.json"):
        try:
            data = json.loads((folder / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(data, dict):
            continue
        if name == "gazetteer.json":
            aliases = data.get("aliases")
            if isinstance(aliases, dict):
                return aliases, data
        else:
            return data, None
    return None


def check_pilot(name: str, config: Config) -> None:
    """An unknown --pilot fails here, with the closest names (edit distance and pinyin), before the model
    loads; without a readable index the check is left to loading, which reports the index problem."""
    from rag.query.validate import QuestionError  # the evaluation loads only for this command

    if name in ("全部", "all"):
        return
    names = index_names(config)
    if names is None:
        return
    from rag.knowledge.names import resolve_pilot  # the CLI checks a pilot name before anything else loads

    try:
        resolve_pilot(name, *names)
    except ValueError as exc:
        sugg = getattr(exc, "suggestions", None)
        tail = f"您是不是要找：{'、'.join(sugg)}" if sugg else "用 `pilotqa pilots` 查看全部试点。"
        err = QuestionError(f"没有名为“{name}”的试点。{tail}")
        err.suggestions = sugg or []  # type: ignore[attr-defined]
        raise err from None
