"""The 问答 tab's conversation: what the browser keeps, how a turn is asked, and the Markdown export.

The conversation lives in the browser (`gr.BrowserState`, localStorage), not in the server, so a reload
keeps it and any server replica can answer the next question. Its value is

    {"v": 1, "turns": [{"q": question, "a": Answer.to_dict() | None, "err": message | None}, …]}

Each turn keeps its own answer dict, so clicking an old answer shows that answer's sources, and the earlier
questions (oldest first) are the `history` a follow-up is resolved against. The handlers rebuild the chat
bubbles from it on every change (ui/render.py escapes everything in them).
"""
from __future__ import annotations

import hashlib
import inspect
import logging
import tempfile
import time
from pathlib import Path
from typing import Any, Mapping

import gradio as gr

from rag.query.validate import QuestionError, clean_question
from ui import render as R

log = logging.getLogger("pilotqa.ui")

# The browser's own conversation: stored in its localStorage, "encrypted" by Gradio with this key only so a
# reload, another replica or a restarted server can read it back (a random per-process secret could not).
# It is not a security boundary: nothing in it is secret from the user who owns the browser.
STORE_KEY = "pilotqa-conversation"
STORE_SECRET = "pilotqa-conversation-v1"
MAX_TURNS = 30          # older turns are dropped from the stored conversation (localStorage is ~5 MB)
ALL = "全部"
GENERIC_ERROR = "抱歉，处理时出现了问题，请稍后重试。如果一直出现，请联系管理员查看服务器日志。"
EXPORT_DIR = Path(tempfile.gettempdir()) / "pilotqa-export"


def empty() -> dict:
    return {"v": 1, "turns": []}


def coerce(conv: Any) -> dict:
    """A usable conversation from whatever the browser or an API client sent: a stored conversation, a list
    of earlier questions (API callers), or anything else (→ empty). Malformed turns are dropped."""
    turns: list[dict] = []
    if isinstance(conv, Mapping) and isinstance(conv.get("turns"), list):
        for t in conv["turns"]:
            if not isinstance(t, Mapping) or not isinstance(t.get("q"), str):
                continue
            a = t.get("a") if isinstance(t.get("a"), Mapping) else None
            err = t.get("err") if isinstance(t.get("err"), str) else None
            turns.append({"q": t["q"], "a": dict(a) if a else None, "err": err})
    elif isinstance(conv, list):
        turns = [{"q": q, "a": None, "err": None} for q in conv if isinstance(q, str) and q.strip()]
    return {"v": 1, "turns": turns[-MAX_TURNS:]}


def history_of(conv: dict) -> list[str]:
    """The earlier user questions, oldest first (a question that was rejected as input is not one)."""
    return [t["q"] for t in conv["turns"] if not t.get("err")]


def messages(conv: dict) -> list[dict]:
    """The chat's messages: for every turn the question and its answer (two messages, so message i belongs
    to turn i // 2)."""
    out = []
    for i, t in enumerate(conv["turns"]):
        out.append({"role": "user", "content": R.question_bubble(t["q"], i)})
        if t.get("a"):
            out.append({"role": "assistant", "content": R.answer_bubble(t["a"], i)})
        else:
            out.append({"role": "assistant", "content": R.error_bubble(t.get("err") or "（没有回答）", i)})
    return out


def turn_view(conv: dict, turn: int | None) -> tuple[str, Any]:
    """The sources panel and the JSON view for one turn (default: the last one)."""
    turns = conv["turns"]
    if not turns:
        return R.EMPTY_SOURCES, None
    i = len(turns) - 1 if turn is None else max(0, min(len(turns) - 1, int(turn)))
    t = turns[i]
    if t.get("a"):
        return R.sources_html(t["a"], i), t["a"]
    msg = t.get("err") or ""
    return R.message_html(f"第 {i + 1} 问：{t['q']}\n{msg}", "refusal"), {"error": msg}


# --------------------------------------------------------------------------- handlers


def friendly(exc: BaseException) -> str:
    """The user's message for an exception: QuestionError text as is, anything else logged + apology."""
    if isinstance(exc, QuestionError):
        return str(exc)
    log.exception("处理请求出错（handler failed）: %s", exc)
    return GENERIC_ERROR


def doc_filter_supported(qa) -> bool:
    """Whether the facade scopes a question to one document (`stream_ask(..., doc=NAME)`)."""
    try:
        return "doc" in inspect.signature(qa.stream_ask).parameters
    except (TypeError, ValueError):
        return False


def make_ask(qa, config, kind: str):
    """The ask handler for one answerer ("extractive" or "llm"). Each is its own Gradio event with its own
    concurrency group, so hung LLM calls never hold the slots extractive asks need."""
    llm_ok = bool(config.llm_configured)

    def ask(question, conv, pilot, doc, k):
        conv = coerce(conv)
        turn = len(conv["turns"])
        shown = "" if question is None else str(question)
        base = messages(conv)
        try:
            try:
                qa.reload_if_changed()
            except Exception:  # a broken new index must never stop answering from the current one
                log.exception("新索引未能载入，继续用原索引回答（reload_if_changed failed）")
            q = clean_question(question)
            answerer = kind if (kind != "llm" or llm_ok) else "extractive"
            k = max(1, min(20, int(k or config.k)))
            extra = {}
            if doc not in (None, "", ALL):
                if not doc_filter_supported(qa):
                    raise QuestionError("暂不支持按文档筛选，请选择“全部文档”。")
                extra["doc"] = doc
            user = {"role": "user", "content": R.question_bubble(q, turn)}
            yield "", base + [user, {"role": "assistant", "content": R.streaming_bubble("", turn)}], \
                R.message_html("正在检索原文……", "info"), gr.skip(), gr.skip()
            buf, final = "", None
            for item in qa.stream_ask(q, k=k, pilot=None if pilot in (None, "", ALL) else pilot, answerer=answerer,
                                      history=history_of(conv), **extra):
                if isinstance(item, str):
                    buf += item
                    yield gr.skip(), base + [user, {"role": "assistant", "content": R.streaming_bubble(buf, turn)}], \
                        gr.skip(), gr.skip(), gr.skip()
                else:
                    final = item
            if final is None:  # defensive: the facade always ends with an Answer
                raise RuntimeError("no answer produced")
            data = final.to_dict()
            conv["turns"].append({"q": q, "a": data, "err": None})
            conv = coerce(conv)  # keeps the last MAX_TURNS
            sources, _ = turn_view(conv, None)
            yield "", messages(conv), sources, data, conv
        except Exception as exc:  # noqa: BLE001 - every failure becomes a message, never a traceback
            msg = friendly(exc)
            short = shown.strip()[:120] + ("…" if len(shown.strip()) > 120 else "")
            if short:
                conv["turns"].append({"q": short, "a": None, "err": msg})
                conv = coerce(conv)
            kind_ = "refusal" if isinstance(exc, QuestionError) else "error"
            # the question goes back into the box so it can be corrected (the first yield had cleared it)
            yield shown, messages(conv), R.message_html(msg, kind_), {"error": msg}, conv

    ask.__name__ = "ask" if kind == "extractive" else f"ask_{kind}"
    return ask


def select(conv, evt: gr.SelectData):
    """A click on a message (or one of its [n] markers) shows that turn's sources."""
    conv = coerce(conv)
    idx = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
    try:
        turn = int(idx) // 2
    except (TypeError, ValueError):
        return gr.skip(), gr.skip()
    if not 0 <= turn < len(conv["turns"]):  # the answer still arriving has no stored sources yet
        return gr.skip(), gr.skip()
    return turn_view(conv, turn)


def restore(conv):
    """Page load: the stored conversation back in the chat, with the last answer's sources."""
    conv = coerce(conv)
    sources, data = turn_view(conv, None)
    return messages(conv), sources, data, export_file(conv)


def clear():
    """新对话 (or the chat's own trash button): forget the conversation, in the browser too."""
    return empty(), [], R.EMPTY_SOURCES, None, None


# --------------------------------------------------------------------------- export


def _md(s: Any) -> str:
    """Text for the Markdown export: no raw HTML, images or links survive into a Markdown viewer."""
    return str(s or "").replace("<", "&lt;").replace("![", "!\\[").replace("](", "]\\(")


def export_markdown(conv: dict) -> str:
    conv = coerce(conv)
    L = ["# 试点问答 · 对话记录", "", f"导出于 {time.strftime('%Y-%m-%d %H:%M')}，共 {len(conv['turns'])} 问。"
         "行号指语料文件中的行（如 data/pilots-batch2.txt）。", ""]
    for i, t in enumerate(conv["turns"], 1):
        L += [f"## 第 {i} 问：{_md(t['q'])}", ""]
        a = t.get("a")
        if not a:
            L += [f"> {_md(t.get('err'))}", ""]
            continue
        if a.get("resolved_question"):
            L += [f"理解为：{_md(a['resolved_question'])}", ""]
        if not a.get("answerable", True):
            L += ["**文件中没有找到答案。**", ""]
        if a.get("shape") == "compare" and a.get("rows"):
            L += ["| 试点 | 回答 | 原文 | 行号 |", "|---|---|---|---|"]
            for r in a["rows"]:
                if r.get("answer") is None:
                    L.append(f"| {_md(r.get('pilot'))} | 文件未提及 | — | — |")
                else:
                    lines = R.lines_label(r["start_line"], r["end_line"]) if r.get("start_line") else "—"
                    L.append(f"| {_md(r.get('pilot'))} | {_md(r.get('answer'))} | {_md(r.get('quote'))} [{r.get('n')}] "
                             f"| {lines} |")
            L.append("")
        L += [_md(a.get("answer")).replace("\n", "  \n"), ""]
        for u in a.get("unsupported") or []:
            L.append(f"- ~~{_md(u.get('claim'))}~~（未核实：{_md(u.get('reason'))}）")
        if a.get("notice"):
            L += [f"> 提示：{_md(a['notice'])}", ""]
        if a.get("citations"):
            L += ["引用：", ""]
            for c in a["citations"]:
                where = " · ".join(str(x) for x in (c.get("pilot"), c.get("section"), c.get("doc")) if x)
                page = f" · 第 {c['page']} 页" if c.get("page") is not None else ""
                L.append(f"- [{c.get('n')}] {_md(where)}{page} · {R.lines_label(c['start_line'], c['end_line'])}："
                         f"“{_md(c.get('quote'))}”")
            L.append("")
    return "\n".join(L).rstrip() + "\n"


def export_file(conv) -> str | None:
    """The conversation as a Markdown file for the download button (None while it is empty). Named by its
    content, so asking nothing new writes nothing new."""
    conv = coerce(conv)
    if not conv["turns"]:
        return None
    text = export_markdown(conv)
    digest = hashlib.sha1(text.split("\n", 3)[-1].encode("utf-8")).hexdigest()[:12]
    EXPORT_DIR.mkdir(parents=True, exist_ok=True)
    path = EXPORT_DIR / f"试点问答-对话-{digest}.md"
    if not path.exists():
        path.write_text(text, encoding="utf-8")
    return str(path)
