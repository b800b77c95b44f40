"""HTML for the 问答 tab: chat bubbles, the sources panel, comparison tables, and 试点浏览.

Safety: every piece of text that comes from the user, the corpus or a model goes through `esc()`
(html.escape) before it becomes part of an HTML string, and the only markup added is ours (div, span,
sup, br, table, del, mark, button) with class attributes (an aggregate answer's bars are classes too:
ui/render_facts.py) — no `<img>`, no `<a href>`, no styles. The chat is
rendered with Markdown off (ui/app.py), so `![x](http://…)` or `[x](http://…)` in a question, an answer or a
passage stays literal text: nothing the app shows can make the browser fetch another site.

Answers are rendered from their `Answer.to_dict()` form, the same dict the browser keeps for a
conversation (ui/chat.py), so an answer restored after a reload looks exactly like a fresh one.
"""
from __future__ import annotations

import html
import re
import unicodedata
from typing import Iterable, Mapping, Sequence

from rag.text import lines_label as text_lines_label
from ui import render_facts as RF

_WS = re.compile(r"\s")
_MARKER = re.compile(r"\[(\d{1,3})\]")
_TERM = re.compile(r"“([^”]{1,20})”")   # a which-pilots answer names what it looked for: 提出“智慧城市”
SHOWN_SOURCES = 5      # source cards shown at once; the rest fold behind 展开其余 N 条来源
BASIS_CHARS = 24       # the 依据 cell of a which-pilots table: this much of the quote, around the term


def esc(s) -> str:
    return html.escape("" if s is None else str(s), quote=True)


def lines_label(start, end) -> str:
    return text_lines_label(int(start), int(end))


def _lines_short(start, end) -> str:
    start, end = int(start), int(end)
    return f"{start}" if start == end else f"{start}–{end}"


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


def mark_spans(text: str, spans: Iterable[tuple[int, int]], tag: str = "mark", cls: str = "") -> str:
    """Escaped `text` with each span wrapped in `<tag>` (overlapping spans merged), newlines as <br>."""
    merged: list[list[int]] = []
    for a, b in sorted(s for s in spans if s and s[1] > s[0]):
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    attr = f' class="{esc(cls)}"' if cls else ""
    out, last = [], 0
    for a, b in merged:
        out.append(esc(text[last:a]))
        out.append(f"<{tag}{attr}>{esc(text[a:b])}</{tag}>")
        last = b
    out.append(esc(text[last:]))
    return "".join(out).replace("\n", "<br>")


def highlight(text: str, quotes: Iterable[str]) -> str:
    """Escaped `text` with every quote found in it wrapped in <mark>."""
    return mark_spans(text, [find_span(text, q) for q in quotes if q])


def answer_html(text: str) -> str:
    """Answer text for a chat bubble: escaped, each [n] a clickable marker (its number in the class name,
    because the chat's HTML sanitizer keeps class attributes but drops data-* ones)."""
    safe = esc(text)
    safe = _MARKER.sub(lambda m: f'<sup class="cite-n cite-n-{int(m.group(1))}">[{int(m.group(1))}]</sup>', safe)
    return safe.replace("\n", "<br>")


# --------------------------------------------------------------------------- chat bubbles


def _bubble(turn: int, body: str, extra_cls: str = "") -> str:
    return f'<div class="pq-bubble pq-turn-{int(turn)}{(" " + extra_cls) if extra_cls else ""}">{body}</div>'


def question_bubble(question: str, turn: int) -> str:
    return _bubble(turn, esc(question).replace("\n", "<br>"), "pq-user")


def streaming_bubble(text: str, turn: int) -> str:
    """A bubble while the answer is still arriving: marked unverified until the final check replaces it."""
    head = '<div class="pq-unverified-tag">生成中 · 尚未核验引用，请以最终回答为准</div>'
    body = answer_html(text) if text else "正在检索原文……"
    return _bubble(turn, head + f'<div class="pq-unverified">{body} ▌</div>', "pq-streaming")


def error_bubble(message: str, turn: int) -> str:
    return _bubble(turn, f'<div class="pq-chat-refusal">{esc(message)}</div>')


def _resolved_line(resolved: str | None) -> str:
    return f'<div class="pq-resolved">理解为：{esc(resolved)}</div>' if resolved else ""


def answer_bubble(ans: Mapping, turn: int) -> str:
    """The final, verified answer: 理解为 line, text or comparison table, and what the checks said."""
    parts = [_resolved_line(ans.get("resolved_question"))]
    text = str(ans.get("answer") or "")
    if not ans.get("answerable", True):
        parts.append(f'<div class="pq-chat-refusal"><b>文件中没有找到答案</b><br>{answer_html(text)}</div>')
    elif RF.is_aggregate(ans):
        # the figures as a table with bars (ui/render_facts.py), the answer's other lines around it
        before, after = RF.split_aggregate_text(ans)
        parts += [f'<div class="pq-answer">{answer_html(chr(10).join(before))}</div>' if before else "",
                  RF.aggregate_table(ans),
                  f'<div class="pq-answer pq-agg-rest">{answer_html(chr(10).join(after))}</div>' if after else ""]
    elif _is_which(ans):
        parts.append(which_table(ans))
        parts.append(f'<div class="pq-answer">{answer_html(text)}</div>')
    elif ans.get("shape") == "compare" and ans.get("rows"):
        parts.append(compare_table(ans["rows"]))
        # what the rows do not say (e.g. "比较：A（45）高于B（39）。") stays as text under the table
        pilots = [str(r.get("pilot", "")) for r in ans["rows"]]
        rest = [ln for ln in text.split("\n") if ln.strip() and not any(ln.startswith(p + "：") for p in pilots)]
        if rest:
            parts.append(f'<div class="pq-compare-verdict">{answer_html(chr(10).join(rest))}</div>')
    else:
        parts.append(f'<div class="pq-answer">{answer_html(text)}</div>')
    unsupported = ans.get("unsupported") or []
    if unsupported:
        items = "".join(f'<li><del>{esc(u.get("claim", ""))}</del><span class="pq-reason">（{esc(u.get("reason", ""))}）'
                        '</span></li>' for u in unsupported)
        parts.append('<div class="pq-chat-warn"><b>以下内容未能在原文中核实，已从回答中删除：</b>'
                     f'<ul class="pq-unsupported">{items}</ul></div>')
    if ans.get("answerable", True) and not ans.get("grounded", True):
        parts.append('<div class="pq-chat-warn">⚠ 此回答未能全部在原文中核实，请以引用的原文为准。</div>')
    if ans.get("notice"):
        parts.append(f'<div class="pq-chat-notice">提示：{esc(ans["notice"])}</div>')
    return _bubble(turn, "".join(parts), "pq-final")


_UNIT = ("%|％|‰|万平方公里|平方公里|平方千米|平方米|公里|千米|万人次|万人|人|万户|户|亿元|万元|元|个|座|所|家|条|项|"
         "万亩|亩|万吨|吨|倍")


def row_figure(row: Mapping) -> str | None:
    """The figure a comparison row states, with its unit as the quote writes it ("45%", "478.8平方公里")."""
    if row.get("figure"):
        return str(row["figure"])
    v = row.get("value")
    if v is None:
        return None
    num = f"{float(v):g}"
    m = re.search(rf"(?<![\d.]){re.escape(num)}(?![\d.])\s*({_UNIT})?", str(row.get("quote") or ""))
    return num + ((m.group(1) or "") if m else "")


def compare_table(rows: Sequence[Mapping]) -> str:
    """试点 | 回答 | 原文 [n] | 行号; a pilot whose document does not state it reads 文件未提及. When the answer
    is the quote itself (extractive), the 回答 column gives the figure, or says 同左 in the 原文 column."""
    body = []
    for r in rows:
        if r.get("answer") is None:
            body.append(f'<tr class="pq-row-missing"><td>{esc(r.get("pilot"))}</td><td class="pq-missing">文件未提及</td>'
                        "<td>—</td><td>—</td></tr>")
            continue
        n = r.get("n")
        marker = f' <sup class="cite-n cite-n-{int(n)}">[{int(n)}]</sup>' if n is not None else ""
        lines = _lines_short(r["start_line"], r["end_line"]) if r.get("start_line") is not None else "—"
        answer, quote = str(r.get("answer")), str(r.get("quote") or "")
        if answer == quote:
            figure = row_figure(r)
            cells = (f'<td class="pq-figure">{esc(figure)}</td><td class="pq-quote">{esc(quote)}{marker}</td>' if figure
                     else f'<td>{esc(answer)}</td><td class="pq-quote">同左{marker}</td>')
        else:
            cells = f'<td>{esc(answer)}</td><td class="pq-quote">{esc(quote)}{marker}</td>'
        body.append(f'<tr><td class="pq-pilot-cell">{esc(r.get("pilot"))}</td>{cells}'
                    f'<td class="pq-lines-cell">{lines}</td></tr>')
    return ('<table class="pq-compare"><thead><tr><th>试点</th><th>回答</th><th>原文</th><th>行号</th></tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table>')


def _is_which(ans: Mapping) -> bool:
    """A which-pilots answer (哪些试点…) that cites more than one pilot."""
    cross = ans.get("shape") == "cross" or ans.get("is_cross")
    return bool(cross and ans.get("answerable", True) and len(_pilot_rows(ans.get("citations") or [])) > 1)


def _pilot_rows(citations: Sequence[Mapping]) -> list[tuple[str, list[Mapping]]]:
    """Citations grouped by pilot, in the order the answer first cites each."""
    rows: dict[str, list[Mapping]] = {}
    for c in sorted(citations, key=lambda c: int(c.get("n") or 0)):
        rows.setdefault(str(c.get("pilot") or ""), []).append(c)
    return [(p, cs) for p, cs in rows.items() if p]


def basis_snippet(quote: str, terms: Sequence[str], width: int = BASIS_CHARS) -> str:
    """Escaped HTML: the part of `quote` around the first term it contains (the term in bold), at most
    `width` characters, with … where it was cut."""
    quote = " ".join(str(quote or "").split())
    span = next((s for s in (find_span(quote, t) for t in terms if t) if s), None)
    if span is None:
        a, b = 0, min(len(quote), width)
    else:
        room = max(0, width - (span[1] - span[0]))
        a = max(0, span[0] - room // 3)
        b = min(len(quote), max(span[1], a + width))
        a = max(0, min(a, b - width))
    head, tail = ("…" if a > 0 else ""), ("…" if b < len(quote) else "")
    shown = quote[a:b]
    if span is not None:
        inner = mark_spans(shown, [(span[0] - a, span[1] - a)], tag="b")
    else:
        inner = esc(shown)
    return head + inner + tail


def which_table(ans: Mapping) -> str:
    """试点 | 依据: one row per pilot the answer names, each with its [n] markers and the cited words."""
    terms = _TERM.findall(str(ans.get("answer") or ""))
    body = []
    for pilot, cits in _pilot_rows(ans.get("citations") or []):
        ns = sorted({int(c["n"]) for c in cits if c.get("n") is not None})
        markers = "".join(f'<sup class="cite-n cite-n-{n}">[{n}]</sup>' for n in ns)
        body.append(f'<tr><td class="pq-pilot-cell">{esc(pilot)}{markers}</td>'
                    f'<td class="pq-basis">{basis_snippet(str(cits[0].get("quote") or ""), terms)}</td></tr>')
    return ('<table class="pq-compare pq-which"><thead><tr><th>试点</th><th>依据</th></tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table>')


# --------------------------------------------------------------------------- sources panel


def _jump_attrs(pilot: str, start, end) -> str:
    return f'data-pilot="{esc(pilot)}" data-start="{int(start)}" data-end="{int(end)}"'


def jump_button(pilot: str, start, end) -> str:
    return f'<button type="button" class="pq-jump" {_jump_attrs(pilot, start, end)}>在原文中查看 →</button>'


def _where(cits: Sequence[Mapping], section: str, start, end) -> str:
    """章节 · 文件 · 第 N 页 · 第 a–b 行 (the document and page when the citation carries them)."""
    bits = [esc(section)] if section else []
    docs = list(dict.fromkeys(str(c.get("doc")) for c in cits if c.get("doc")))
    if docs:
        bits.append(esc("、".join(docs)))
    pages = sorted({int(c["page"]) for c in cits if c.get("page") is not None})
    if pages:
        bits.append(f"第 {pages[0]} 页" if len(pages) == 1 else f"第 {pages[0]}–{pages[-1]} 页")
    bits.append(lines_label(start, end))
    return " · ".join(bits)


def status_card(ans: Mapping, turn: int | None) -> str:
    label = f"第 {turn + 1} 问" if turn is not None else "问题"
    parts = [f'<div class="pq-question">{label}：{esc(ans.get("question"))}</div>']
    if ans.get("resolved_question"):
        parts.append(f'<div class="pq-question">理解为：{esc(ans["resolved_question"])}</div>')
    if ans.get("notice"):
        parts.append(f'<div class="pq-card pq-notice"><b>提示</b>　{esc(ans["notice"])}</div>')
    if not ans.get("answerable", True):
        parts.append('<div class="pq-card pq-refusal"><div class="pq-card-title">文件中没有找到答案</div>'
                     f'<div>{esc(ans.get("answer"))}</div></div>')
    elif not ans.get("grounded", True):
        parts.append('<div class="pq-card pq-ungrounded"><div class="pq-card-title">请注意：回答未能全部在原文中核实</div>'
                     '<div>回答中有部分内容无法与检索到的原文逐句对应，请以下方原文为准。</div></div>')
    if ans.get("unsupported"):
        items = "".join(f'<li><del>{esc(u.get("claim", ""))}</del>（{esc(u.get("reason", ""))}）</li>'
                        for u in ans["unsupported"])
        parts.append('<div class="pq-card pq-ungrounded"><div class="pq-card-title">已删除的未核实内容</div>'
                     f'<ul class="pq-unsupported">{items}</ul></div>')
    return "".join(parts)


def source_card(cits: Sequence[Mapping], passage: Mapping) -> str:
    """One card per cited passage: every marker that cites it once, the cited sentences marked."""
    ns = sorted({int(c["n"]) for c in cits})
    markers = "".join(f'<span class="pq-n">[{n}]</span>' for n in ns)
    start = min(int(c["start_line"]) for c in cits)
    end = max(int(c["end_line"]) for c in cits)
    pilot = passage.get("pilot") or cits[0].get("pilot", "")
    cls = " ".join(f"pq-n-{n}" for n in ns)
    return (
        f'<div class="pq-card pq-source {cls}">'
        f'<div class="pq-source-head">{markers}<span class="pq-pilot">{esc(pilot)}</span></div>'
        f'<div class="pq-meta">{_where(cits, passage.get("section", ""), start, end)}</div>'
        f'<div class="pq-text">{highlight(str(passage.get("text", "")), [c.get("quote", "") for c in cits])}</div>'
        f'<div class="pq-actions">{jump_button(pilot, start, end)}</div>'
        "</div>"
    )


def other_passage(p: Mapping) -> str:
    return (
        '<div class="pq-other">'
        f'<div class="pq-meta"><b>{esc(p.get("pilot"))}</b> · {esc(p.get("section"))} · '
        f'{lines_label(p["start_line"], p["end_line"])} · 相关度 {float(p.get("score") or 0):.3f}</div>'
        f'<div class="pq-text">{esc(p.get("text")).replace(chr(10), "<br>")}</div>'
        f'{jump_button(p.get("pilot", ""), p["start_line"], p["end_line"])}'
        "</div>"
    )


def sources_html(ans: Mapping, turn: int | None = None) -> str:
    """Status card + one card per cited passage (all its markers, cited sentences marked) + the other
    retrieved passages folded. `turn` (0-based) names which question of the conversation this is."""
    parts = [status_card(ans, turn)]
    by_chunk: dict[str, list[Mapping]] = {}
    for c in ans.get("citations") or []:
        by_chunk.setdefault(c.get("chunk_id", ""), []).append(c)
    passages = {p.get("chunk_id"): p for p in ans.get("passages") or []}
    if by_chunk:
        head = "引用来源" if ans.get("answerable", True) else "最接近的原文（仅供参考）"
        parts.append(f'<div class="pq-h">{head}（{len(by_chunk)}）</div>')
    cards = []
    for cid, cits in by_chunk.items():
        # a citation whose passage was not kept (should not happen) still shows its own quote and lines
        p = passages.get(cid) or {"pilot": cits[0].get("pilot"), "section": cits[0].get("section"),
                                  "text": "\n".join(dict.fromkeys(c.get("quote", "") for c in cits))}
        cards.append(source_card(cits, p))
    parts += cards[:SHOWN_SOURCES]
    if len(cards) > SHOWN_SOURCES:
        rest = cards[SHOWN_SOURCES:]
        parts.append(f'<details class="pq-details pq-more"><summary>展开其余 {len(rest)} 条来源</summary>'
                     f'<div class="pq-more-body">{"".join(rest)}</div></details>')
    others = [p for p in ans.get("passages") or [] if p.get("chunk_id") not in by_chunk]
    if others:
        title = "其他检索到的片段" if by_chunk else "检索到的片段"
        parts.append(f'<details class="pq-details"><summary>{title}（{len(others)}）</summary>'
                     + "".join(other_passage(p) for p in others) + "</details>")
    cls = "pq-sources" if ans.get("answerable", True) else "pq-sources pq-unanswered"
    turn_attr = f' data-turn="{int(turn)}"' if turn is not None else ""
    return f'<div class="{cls}"{turn_attr}>' + "".join(parts) + "</div>"


def message_html(text: str, kind: str = "info") -> str:
    """A plain message card (bad input, errors)."""
    return f'<div class="pq-sources"><div class="pq-card pq-{esc(kind)}">{esc(text)}</div></div>'


EMPTY_SOURCES = ('<div class="pq-sources"><div class="pq-empty">提问后，回答所引用的原文会显示在这里：'
                 '试点名称、章节、行号，以及被引用的句子。点击对话中的任一回答或其中的编号标记，可查看该回答的来源。</div></div>')


# --------------------------------------------------------------------------- browsing


def _inline_title(sec: Mapping) -> bool:
    """Whether a section's heading is the opening of its first paragraph ("1.打造…平台。用国际视野…"): the
    outline then lists the same line as a title and as a paragraph, and it must be shown once."""
    paras = sec.get("paragraphs") or []
    if not paras or int(paras[0][0]) != int(sec.get("start_line", -1)):
        return False
    title, _ = _norm_map(str(sec.get("title", "")))
    first, _ = _norm_map(str(paras[0][2]))
    return bool(title) and first.startswith(title)


def _para(start, end, text: str, lo: int, hi: int, marked: bool, title: str | None = None) -> str:
    hit = marked and int(start) <= hi and int(end) >= lo
    anchors = "".join(f'<a class="pq-anchor" id="L{n}"></a>' for n in range(int(start) + 1, int(end) + 1))
    span = find_span(text, title) if title else None
    body = mark_spans(text, [(0, span[1])], tag="b", cls="pq-inline-title") if span and span[0] == 0 else \
        esc(text).replace("\n", "<br>")
    return (f'<div class="pq-para{" pq-hl" if hit else ""}" id="L{int(start)}">{anchors}'
            f'<span class="pq-ln">{_lines_short(start, end)}</span><span class="pq-para-text">{body}</span></div>')


def outline_html(pilot: str, outline: list[dict], highlight_lines: tuple[int, int] | None = None) -> str:
    """A pilot's whole text by section; each paragraph carries anchors L{line} for every line it spans.
    A heading that opens its own paragraph is shown once, in bold at the start of that paragraph."""
    lo, hi = highlight_lines or (0, -1)
    marked = highlight_lines is not None
    parts = [f'<div class="pq-outline" data-pilot="{esc(pilot)}">']
    for sec in outline:
        level = int(sec.get("level", 1))
        paras = list(sec.get("paragraphs") or [])
        inline = _inline_title(sec)
        if not inline:
            tag = "h3" if level <= 1 else "h4"
            parts.append(f'<{tag} class="pq-sec-title pq-level-{min(level, 3)}" id="L{int(sec.get("start_line", 0))}">'
                         f'<span class="pq-ln">{int(sec.get("start_line", 0))}</span>{esc(sec["title"])}</{tag}>')
        for i, (start, end, text) in enumerate(paras):
            parts.append(_para(start, end, str(text), lo, hi, marked, sec["title"] if inline and i == 0 else None))
    parts.append("</div>")
    return "".join(parts)
