"""An OpenAI-compatible chat endpoint, so chat clients (Open WebUI, Cherry Studio, LobeChat, the `openai` SDK)
can use PilotQA as a model named `pilotqa`.

    GET  /v1/models
    POST /v1/chat/completions   {"model": "pilotqa", "messages": [...], "stream"?: bool,
                                 "pilot"?, "k"?, "answerer"?}   (the last three are PilotQA extras)

The last user message is the question and the earlier user messages are its history (oldest first); the
assistant's own earlier replies are not needed, because a follow-up is resolved from the user's questions.
The reply is the answer with its citations as Markdown footnotes, `[^1]: 试点 · 章节 · 第 N–M 行 “quote”`,
and the whole `ask --json` object rides along as `pilotqa` (on the last chunk when streaming).

Streaming sends the *verified* answer. An LLM draft is checked claim by claim before any of it is shown (claims
no passage supports are removed), so a chat client never displays a sentence that is then withdrawn; while the
draft is being written and checked, SSE comment lines keep the connection alive.
"""
from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from rag.serve.api import GENERIC_EN, GENERIC_ZH, MAX_K, ApiError, Service, answer_dict, error_body, service
from rag.text import lines_label

log = logging.getLogger("pilotqa.api")
MODEL = "pilotqa"
KEEPALIVE_S = 5.0
_CREATED = int(time.time())
_PIECE = re.compile(r"[^。！？；\n]*(?:[。！？；]+|\n+|$)")  # a sentence with its end, or a run of newlines


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: str = Field(max_length=40)
    content: str | list[dict[str, Any]] | None = None


class ChatRequest(BaseModel):
    # OpenAI clients send many options (temperature, top_p, max_tokens, stream_options, user…): accepted, unused.
    model_config = ConfigDict(extra="allow")
    model: str = Field(MODEL, max_length=100)
    messages: list[ChatMessage] = Field(min_length=1, max_length=200)
    stream: bool = False
    pilot: str | None = Field(None, max_length=200, description="PilotQA extra: only this pilot")
    k: StrictInt | None = Field(None, ge=1, le=MAX_K, description="PilotQA extra: passages to retrieve")
    answerer: str | None = Field(None, max_length=40, description="PilotQA extra: extractive or llm")


def _text(content) -> str:
    """A message's text: a string, or the text parts of a multi-part content list (images are ignored)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "\n".join(str(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("type") == "text")


def question_and_history(messages: list[ChatMessage]) -> tuple[str, list[str]]:
    """The last user message, and the user messages before it (oldest first)."""
    users = [_text(m.content).strip() for m in messages if m.role == "user"]
    users = [u for u in users if u]
    if not users:
        raise ApiError(400, "消息中没有用户问题（role 为 user 的消息）。", "The messages hold no user message.",
                       "no_user_message")
    return users[-1], users[:-1]


def _source(c: dict) -> str:
    parts = [c.get("pilot") or c.get("doc") or "", c.get("section") or "",
             lines_label(c.get("start_line"), c.get("end_line"))]
    if c.get("page"):
        parts.append(f"第 {c['page']} 页")
    quote = " ".join(str(c.get("quote") or "").split())
    return " · ".join(p for p in parts if p) + (f" “{quote}”" if quote else "")


def with_footnotes(ans: dict) -> str:
    """The answer text for a chat client: `[n]` markers become footnote references, citations footnotes."""
    cites = {int(c["n"]): c for c in ans.get("citations") or []}
    used: list[int] = []

    def ref(m: re.Match) -> str:
        n = int(m.group(1))
        if n not in cites:
            return m.group(0)
        if n not in used:
            used.append(n)
        return f"[^{n}]"

    body = re.sub(r"\[(\d+)\]", ref, ans.get("answer") or "").strip()
    parts = []
    if ans.get("resolved_question"):
        parts.append(f"*（理解为：{ans['resolved_question']}）*")
    parts.append(body)
    if ans.get("notice"):
        parts.append(f"> 提示：{ans['notice']}")
    if ans.get("answerable", True) and not ans.get("grounded", True):
        parts.append("> ⚠ 此回答未能全部在原文中核实，请以引用的原文为准。")
    unreferenced = [n for n in sorted(cites) if n not in used]
    if unreferenced:  # e.g. the closest sentences of a refusal: listed, since an unreferenced footnote is hidden
        parts.append("相关原文：\n" + "\n".join(f"- {_source(cites[n])}" for n in unreferenced))
    if used:
        parts.append("\n".join(f"[^{n}]: {_source(cites[n])}" for n in sorted(used)))
    return "\n\n".join(p for p in parts if p)


def _sse(data: dict) -> str:
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"


def _chunk(cid: str, delta: dict, finish: str | None = None, **extra) -> str:
    return _sse({"id": cid, "object": "chat.completion.chunk", "created": int(time.time()), "model": MODEL,
                 "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra})


router = APIRouter(prefix="/v1", tags=["openai"])


@router.get("/models", summary="The one model: pilotqa")
async def models() -> dict:
    return {"object": "list", "data": [{"id": MODEL, "object": "model", "created": _CREATED, "owned_by": "pilotqa"}]}


@router.post("/chat/completions", summary="OpenAI-compatible chat (streaming and not)")
async def chat_completions(body: ChatRequest, request: Request):
    svc = service(request)
    if body.model != MODEL:
        raise ApiError(404, f"没有模型“{body.model}”，可用的模型是 {MODEL}。",
                       f"The model {body.model!r} does not exist; use {MODEL!r}.", "model_not_found")
    question, history = question_and_history(body.messages)
    kind = body.answerer or svc.default_answerer
    # Checked before any byte is sent, so a bad question, pilot or answerer is a 400, not a broken stream.
    await svc.run(_check, svc, question, pilot=body.pilot, answerer=kind)
    call = dict(k=body.k, pilot=body.pilot, answerer=kind, history=history)
    cid = f"chatcmpl-{uuid.uuid4().hex}"
    if not body.stream:
        ans = answer_dict(await svc.call("ask", question, **call))
        return {"id": cid, "object": "chat.completion", "created": int(time.time()), "model": MODEL,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": with_footnotes(ans)},
                             "finish_reason": "stop"}],
                "pilotqa": ans}
    return StreamingResponse(_stream(svc, question, call, cid), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def _check(svc: Service, question: str, *, pilot: str | None, answerer: str) -> None:
    from rag.query.validate import clean_question  # the evaluation loads only for this command

    qa = svc.fresh()
    clean_question(question)
    qa.resolve_pilot(pilot)
    qa.answerer(answerer)


async def _stream(svc: Service, question: str, call: dict, cid: str):
    yield _chunk(cid, {"role": "assistant", "content": ""})
    task = asyncio.ensure_future(svc.call("ask", question, **call))
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=KEEPALIVE_S)
            if done:
                break
            yield ": keep-alive\n\n"
        ans = answer_dict(task.result())
    except ApiError as exc:
        yield _sse(error_body(exc.zh, exc.en, exc.code, exc.type, **exc.extra))
        return
    except Exception:  # noqa: BLE001 - the status line is already sent: the error goes in the stream
        log.exception("chat stream failed")
        yield _sse(error_body(GENERIC_ZH, GENERIC_EN, "internal_error", "server_error"))
        return
    finally:
        if not task.done():  # the client went away: the worker thread finishes on its own, nobody waits for it
            task.cancel()
    for piece in _PIECE.findall(with_footnotes(ans)):
        if piece:
            yield _chunk(cid, {"content": piece})
    yield _chunk(cid, {}, "stop", pilotqa=ans)
    yield "data: [DONE]\n\n"
