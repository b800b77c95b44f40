"""HTML for the 引文查找 tab: the verdict on a quote (`rag.cite.CiteResult.to_dict()`).

- 原文一致: every place the quote occurs, with its lines and the quote marked;
- 与原文不一致: the quote with the characters that differ marked (in the characters as written: the document's
  own ，。 where the quote matches it, `diff_display`), the figures that changed named, and the closest source
  passage with the matching span marked and its own figures picked out;
- 意思相近（非原文）: not the wording of any passage, but the meaning of the sentence shown (marked in its
  paragraph), with the figures that differ named and marked on both sides;
- 文件中没有: said plainly; any passage returned is listed only as "最接近的段落".
All text is escaped (ui/render.py).
"""
from __future__ import annotations

import re
from typing import Mapping

from rag.answer.cite import LABELS
from rag.text import to_simplified

from ui.render import jump_button, esc, find_span, highlight, lines_label, mark_spans

_DIFF_CLASS = {"same": "", "changed": "pq-diff-changed", "extra": "pq-diff-extra", "missing": "pq-diff-missing"}
_DIFF_TITLE = {"changed": "与原文不同", "extra": "原文中没有", "missing": "原文此处还有"}


def diff_html(diff) -> str:
    """The quote as aligned against the source: same text plain, changed and extra text marked, text the
    source has and the quote lacks shown struck through between them."""
    out = []
    for kind, text in diff or []:
        cls = _DIFF_CLASS.get(kind, "")
        if not cls:
            out.append(esc(text))
        elif kind == "missing":
            out.append(f'<del class="{cls}" title="{_DIFF_TITLE[kind]}">{esc(text)}</del>')
        else:
            out.append(f'<span class="{cls}" title="{_DIFF_TITLE[kind]}">{esc(text)}</span>')
    return "".join(out)


def _lines(m: Mapping, body: str) -> str:
    rows = [f'<div class="pq-line pq-ctx"><span class="pq-ln">{int(n)}</span><span>{esc(line)}</span></div>'
            for n, line in m.get("context_before") or []]
    rows.append(f'<div class="pq-line pq-hit"><span class="pq-ln">{int(m["start_line"])}</span><span>{body}</span></div>')
    rows += [f'<div class="pq-line pq-ctx"><span class="pq-ln">{int(n)}</span><span>{esc(line)}</span></div>'
             for n, line in m.get("context_after") or []]
    return f'<div class="pq-lines">{"".join(rows)}</div>'


def _card(m: Mapping, badge: str, body: str) -> str:
    return (f'<div class="pq-card pq-source">{badge} <span class="pq-pilot">{esc(m.get("pilot"))}</span>'
            f'<div class="pq-meta">{esc(m.get("section"))} · {lines_label(m["start_line"], m["end_line"])}</div>'
            f'{_lines(m, body)}<div class="pq-actions">{jump_button(m.get("pilot", ""), m["start_line"], m["end_line"])}'
            "</div></div>")


def _source_with_figures(text: str, span: str, figures) -> str:
    """The source paragraph with its closest span marked and, inside it, the source's side of each changed
    figure picked out."""
    where = find_span(text, span) if span else None
    if where is None:
        return esc(text).replace("\n", "<br>")
    a, b = where
    spans = []
    for _, src in figures or []:
        # the figure as the lookup read it ("5亿", "70%"), else its number alone (the text may say "5 亿")
        for needle in dict.fromkeys(x for x in (str(src), *re.findall(r"\d+(?:\.\d+)?", str(src))) if x):
            hits = [(a + h.start(), a + h.end()) for h in re.finditer(re.escape(needle), text[a:b])]
            if hits:
                spans += hits
                break
    inner = text[a:b]
    marked = mark_spans(inner, [(x - a, y - a) for x, y in spans], tag="b", cls="pq-diff-src")
    return mark_spans(text[:a], []) + f"<mark>{marked}</mark>" + mark_spans(text[b:], [])


def _figure_items(figs) -> str:
    return "".join(f'<li>引文为 <span class="pq-diff-changed">{esc(q)}</span>，原文为 '
                   f'<b class="pq-diff-src">{esc(s) or "（无）"}</b></li>' for q, s in figs)


def _quote_with_figures(text: str, figs) -> str:
    """The quote, escaped, with each of its changed figures marked (as the lookup read it from the quote)."""
    spans = []
    for q, _ in figs or []:
        if q:
            spans += [(h.start(), h.end()) for h in re.finditer(rf"(?<![\d.]){re.escape(str(q))}(?![\d.])", text)]
    return mark_spans(text, spans, tag="span", cls="pq-diff-changed")


def cite_html(result: Mapping, text: str) -> str:
    """The verdict card and its evidence."""
    verdict = result.get("verdict")
    label = result.get("label") or LABELS.get(verdict, "")
    matches = result.get("matches") or []
    parts = [f'<div class="pq-question">查找：{esc(text)}</div>']
    if verdict == "verbatim" and matches:
        parts.append(f'<div class="pq-card pq-verdict pq-verdict-ok"><span class="pq-badge pq-exact">{esc(label)}</span>'
                     f'引文与原文逐字一致，共 {len(matches)} 处。</div>')
        for m in matches:
            # the lookup matched the simplified form; highlight that, so a traditional-character query is marked too
            body = highlight(str(m.get("text", "")), [to_simplified(text)])
            parts.append(_card(m, '<span class="pq-badge pq-exact">原文</span>', body))
    elif verdict == "differs" and matches:
        figs = result.get("changed_figures") or []
        fig_txt = _figure_items(figs)
        parts.append(
            f'<div class="pq-card pq-verdict pq-verdict-bad"><span class="pq-badge pq-differs">{esc(label)}</span>'
            f'与最接近的原文相比有改动（相似度 {float(result.get("score") or 0):.3f}，不是原文）。'
            + (f'<div class="pq-figures"><b>数字不一致：</b><ul>{fig_txt}</ul></div>' if figs else "")
            + f'<div class="pq-diff"><b>引文对照：</b>{diff_html(result.get("diff_display") or result.get("diff"))}</div>'
            '<div class="pq-diff-legend"><span class="pq-diff-changed">改动</span> <span class="pq-diff-extra">原文没有</span> '
            '<del class="pq-diff-missing">原文有而引文缺少</del></div></div>')
        m = matches[0]
        body = _source_with_figures(str(m.get("text", "")), str(m.get("span", "")), figs)
        parts.append('<div class="pq-h">最接近的原文</div>')
        parts.append(_card(m, '<span class="pq-badge pq-approx">最接近</span>', body))
    elif verdict == "paraphrase" and matches:
        figs = result.get("changed_figures") or []
        sim = float(result.get("similarity") or 0)
        parts.append(
            f'<div class="pq-card pq-verdict{" pq-verdict-bad" if figs else ""}">'
            f'<span class="pq-badge pq-approx">{esc(label)}</span>'
            f'不是原文：下面这句原文与它意思相近（语义相似度 {sim:.3f}），引用时请以原文为准。'
            + (f'<div class="pq-figures"><b>数字不一致：</b><ul>{_figure_items(figs)}</ul></div>' if figs else "")
            + f'<div class="pq-diff"><b>引文：</b>{_quote_with_figures(text, figs)}</div></div>')
        m = matches[0]
        body = _source_with_figures(str(m.get("text", "")), str(m.get("span", "")), figs)
        parts.append('<div class="pq-h">意思相近的原文</div>')
        parts.append(_card(m, '<span class="pq-badge pq-approx">意思相近</span>', body))
    else:
        parts.append(f'<div class="pq-card pq-refusal"><div class="pq-card-title">{esc(label or "文件中没有")}</div>'
                     '没有找到这句话，也没有字面或意思足够接近的原文：它可能并非出自这些文件。</div>')
        if matches:
            parts.append('<details class="pq-details"><summary>相似度较低的段落（仅供参考）</summary>'
                         + "".join(_card(m, '<span class="pq-badge pq-approx">不相符</span>',
                                         esc(m.get("text", "")).replace("\n", "<br>")) for m in matches[:3])
                         + "</details>")
    return '<div class="pq-sources">' + "".join(parts) + "</div>"

