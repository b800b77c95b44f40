"""HTML rendering helpers for the Gradio app.

Every piece of text that comes from the user, the corpus or a model goes through `esc()` (html.escape)
before it becomes part of an HTML string; highlighting escapes the segments on each side of the mark,
so a `<script>` in a question or a passage is shown as text, never run.
"""
from __future__ import annotations

import html
import re
import unicodedata
from typing import Iterable, Sequence

from rag.text import to_simplified

_WS = re.compile(r"\s")


def esc(s) -> str:
    return html.escape("" if s is None else str(s), quote=True)


def lines_label(start: int, end: int) -> str:
    return f"第 {start} 行" if start == end else f"第 {start}–{end} 行"


# --------------------------------------------------------------------------- highlighting


def _norm_map(text: str) -> tuple[str, list[int]]:
    """The norm() form of `text` (NFKC, no whitespace) and, for each of its characters, the index in `text`."""
    out: list[str] = []
    pos: list[int] = []
    for i, ch in enumerate(text):
        for c in unicodedata.normalize("NFKC", ch):
            if not _WS.match(c):
                out.append(c)
                pos.append(i)
    return "".join(out), pos


def find_span(text: str, quote: str) -> tuple[int, int] | None:
    """Where `quote` occurs in `text`, comparing norm() forms; the span is in original characters."""
    if not text or not quote:
        return None
    hay, pos = _norm_map(text)
    needle, _ = _norm_map(quote)
    needle = needle.strip("。；;，,！？!?…")
    if not needle:
        return None
    i = hay.find(needle)
    if i < 0:
        return None
    return pos[i], pos[i + len(needle) - 1] + 1


def highlight(text: str, quotes: Iterable[str]) -> str:
    """Escaped `text` with every quote found in it wrapped in <mark> (overlapping spans merged)."""
    spans = sorted(s for s in (find_span(text, q) for q in quotes if q) if s)
    merged: list[list[int]] = []
    for a, b in spans:
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    out, last = [], 0
    for a, b in merged:
        out.append(esc(text[last:a]))
        out.append(f"<mark>{esc(text[a:b])}</mark>")
        last = b
    out.append(esc(text[last:]))
    return "".join(out).replace("\n", "<br>")


def answer_markdown(text: str) -> str:
    """Answer text for the chat bubble: escaped (no markup from the model or the corpus), [n] kept."""
    safe = esc(text)
    # keep markdown from turning "[1]" + "(…)" into a link or "1." into a list marker that eats text
    safe = re.sub(r"\[(\d+)\]", r"<sup class='cite-n'>[\1]</sup>", safe)
    return safe.replace("\n", "<br>")


# --------------------------------------------------------------------------- answer panel


def _jump_attrs(pilot: str, start: int, end: int) -> str:
    return f'data-pilot="{esc(pilot)}" data-start="{int(start)}" data-end="{int(end)}"'


def status_card(answer, question: str) -> str:
    q = f'<div class="pq-question">问题：{esc(question)}</div>'
    parts = [q]
    if getattr(answer, "notice", None):
        parts.append(f'<div class="pq-card pq-notice"><b>提示</b>　{esc(answer.notice)}</div>')
    if not answer.answerable:
        parts.append('<div class="pq-card pq-refusal"><div class="pq-card-title">文件中没有找到答案</div>'
                     f'<div>{esc(answer.text)}</div></div>')
    elif not getattr(answer, "grounded", True):
        parts.append('<div class="pq-card pq-ungrounded"><div class="pq-card-title">请注意：回答未能全部在原文中核实</div>'
                     '<div>大模型的回答中有部分内容无法与检索到的原文逐句对应，请以下方原文为准。</div></div>')
    return "".join(parts)


def source_card(n_list: Sequence[int], passage, quotes: Sequence[str], cite_lines: tuple[int, int]) -> str:
    c = passage.chunk
    ns = "".join(f'<span class="pq-n">[{int(n)}]</span>' for n in n_list)
    start, end = cite_lines
    return (
        f'<div class="pq-card pq-source" id="src-{esc(c.id)}">'
        f'<div class="pq-source-head">{ns}<span class="pq-pilot">{esc(c.pilot)}</span></div>'
        f'<div class="pq-meta">{esc(c.section)} · {lines_label(start, end)}</div>'
        f'<div class="pq-text">{highlight(c.text, quotes)}</div>'
        f'<div class="pq-actions"><button type="button" class="pq-jump" {_jump_attrs(c.pilot, start, end)}>'
        f'在原文中查看 →</button></div>'
        '</div>'
    )


def other_passage(passage) -> str:
    c = passage.chunk
    return (
        '<div class="pq-other">'
        f'<div class="pq-meta"><b>{esc(c.pilot)}</b> · {esc(c.section)} · {lines_label(c.start_line, c.end_line)}'
        f' · 相关度 {passage.score:.3f}</div>'
        f'<div class="pq-text">{esc(c.text).replace(chr(10), "<br>")}</div>'
        f'<button type="button" class="pq-jump" {_jump_attrs(c.pilot, c.start_line, c.end_line)}>在原文中查看 →</button>'
        '</div>'
    )


def sources_html(answer, question: str) -> str:
    """Status card + one card per cited passage (cited sentence marked) + the other passages folded."""
    parts = [status_card(answer, question)]
    by_chunk: dict[str, list] = {}
    for cit in answer.citations:
        by_chunk.setdefault(cit.chunk_id, []).append(cit)
    passages = {p.chunk.id: p for p in answer.passages}
    cited_ids = [cid for cid in by_chunk if cid in passages]
    if cited_ids:
        head = "引用来源" if answer.answerable else "最接近的原文（仅供参考）"
        parts.append(f'<div class="pq-h">{head}（{len(cited_ids)}）</div>')
    for cid in cited_ids:
        cits = by_chunk[cid]
        start = min(c.start_line for c in cits)
        end = max(c.end_line for c in cits)
        parts.append(source_card([c.n for c in cits], passages[cid], [c.quote for c in cits], (start, end)))
    # a citation whose passage is not among the retrieved ones should not happen; show it plainly if it does
    for cid, cits in by_chunk.items():
        if cid not in passages:
            for c in cits:
                parts.append(
                    f'<div class="pq-card pq-source"><div class="pq-source-head"><span class="pq-n">[{int(c.n)}]</span>'
                    f'<span class="pq-pilot">{esc(c.pilot)}</span></div><div class="pq-meta">{esc(c.section)} · '
                    f'{lines_label(c.start_line, c.end_line)}</div><div class="pq-text"><mark>{esc(c.quote)}</mark></div></div>')
    others = [p for p in answer.passages if p.chunk.id not in by_chunk]
    if others:
        title = "检索到的片段" if not cited_ids else "其他检索到的片段"
        parts.append(f'<details class="pq-details"><summary>{title}（{len(others)}）</summary>'
                     + "".join(other_passage(p) for p in others) + "</details>")
    cls = "pq-sources" if answer.answerable else "pq-sources pq-unanswered"
    return f'<div class="{cls}">' + "".join(parts) + "</div>"


def message_html(text: str, kind: str = "info") -> str:
    """A plain message card (bad input, errors)."""
    return f'<div class="pq-sources"><div class="pq-card pq-{esc(kind)}">{esc(text)}</div></div>'


EMPTY_SOURCES = ('<div class="pq-sources"><div class="pq-empty">提问后，回答所引用的原文会显示在这里：'
                 '试点名称、章节、行号，以及被引用的句子。</div></div>')


# --------------------------------------------------------------------------- citation lookup


def cite_html(matches, text: str) -> str:
    if not matches:
        return message_html("没有找到出处。", "refusal")
    parts = [f'<div class="pq-question">查找：{esc(text)}</div>']
    if not matches[0].exact:
        parts.append('<div class="pq-card pq-notice">没有找到完全一致的原文；以下是最接近的段落（近似匹配）。</div>')
    else:
        parts.append(f'<div class="pq-h">找到原文（{len(matches)} 处）</div>')
    for m in matches:
        label = ('<span class="pq-badge pq-exact">原文</span>' if m.exact
                 else f'<span class="pq-badge pq-approx">近似匹配 · {m.score:.3f}</span>')
        rows = []
        for n, line in m.context_before:
            rows.append(f'<div class="pq-line pq-ctx"><span class="pq-ln">{int(n)}</span><span>{esc(line)}</span></div>')
        # the lookup matched the simplified form; highlight that, so a traditional-character query is marked too
        body = highlight(m.text, [to_simplified(text)]) if m.exact else esc(m.text).replace("\n", "<br>")
        rows.append(f'<div class="pq-line pq-hit"><span class="pq-ln">{int(m.start_line)}</span><span>{body}</span></div>')
        for n, line in m.context_after:
            rows.append(f'<div class="pq-line pq-ctx"><span class="pq-ln">{int(n)}</span><span>{esc(line)}</span></div>')
        parts.append(
            f'<div class="pq-card pq-source">{label} <span class="pq-pilot">{esc(m.pilot)}</span>'
            f'<div class="pq-meta">{esc(m.section)} · {lines_label(m.start_line, m.end_line)}</div>'
            f'<div class="pq-lines">{"".join(rows)}</div>'
            f'<div class="pq-actions"><button type="button" class="pq-jump" {_jump_attrs(m.pilot, m.start_line, m.end_line)}>'
            '在原文中查看 →</button></div></div>')
    return '<div class="pq-sources">' + "".join(parts) + "</div>"


# --------------------------------------------------------------------------- browsing


def outline_html(pilot: str, outline: list[dict], highlight_lines: tuple[int, int] | None = None) -> str:
    """A pilot's whole text by section; each paragraph carries anchors L{line} for every line it spans."""
    lo, hi = highlight_lines or (0, -1)
    parts = [f'<div class="pq-outline" data-pilot="{esc(pilot)}">']
    for sec in outline:
        level = int(sec.get("level", 1))
        tag = "h3" if level <= 1 else "h4"
        cls = "pq-sec-title pq-level-%d" % min(level, 3)
        parts.append(f'<{tag} class="{cls}" id="L{int(sec.get("start_line", 0))}">'
                     f'<span class="pq-ln">{int(sec.get("start_line", 0))}</span>{esc(sec["title"])}</{tag}>')
        for start, end, text in sec.get("paragraphs", []):
            hit = highlight_lines is not None and start <= hi and end >= lo
            anchors = "".join(f'<a class="pq-anchor" id="L{n}"></a>' for n in range(int(start) + 1, int(end) + 1))
            parts.append(
                f'<div class="pq-para{" pq-hl" if hit else ""}" id="L{int(start)}">{anchors}'
                f'<span class="pq-ln">{lines_label(int(start), int(end)).replace("第 ", "").replace(" 行", "")}</span>'
                f'<span class="pq-para-text">{esc(text).replace(chr(10), "<br>")}</span></div>')
    parts.append("</div>")
    return "".join(parts)
