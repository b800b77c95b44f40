"""How the CLI shows answers, passages and citation checks in a terminal.

Everything here prints from the JSON forms (`Answer.to_dict()`, the `/api/search` reply, `CiteResult.to_dict()`),
so an answer looks the same whether this process computed it or a server did (`--server`).
"""
from __future__ import annotations

import re
import sys
import unicodedata

from rag.text import lines_label

NOT_STATED = "文件未提及"


def width(s: str) -> int:
    """Terminal columns of `s`: CJK characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 0 if unicodedata.combining(ch) else 1 for ch in s)


def pad(s: str, cols: int) -> str:
    return s + " " * max(0, cols - width(s))


# --------------------------------------------------------------------------- answers


def print_answer(d: dict, out=None) -> None:
    """An `ask --json` object as text: 理解为, the answer (a comparison as aligned rows), notices, sources."""
    out = out or sys.stdout  # looked up per call: stdout may be redirected after import
    if d.get("resolved_question"):
        print(f"理解为：{d['resolved_question']}", file=out)
    rows = d.get("rows") or []
    text = d.get("answer") or ""
    if rows:
        # the answer text repeats each row as "pilot：…"; the table replaces those lines, the rest (the
        # comparison verdict) is kept
        heads = tuple(f"{r.get('pilot')}：" for r in rows)
        print_rows(rows, out)
        rest = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith(heads)]
        if rest:
            print("\n".join(rest), file=out)
    else:
        print(text, file=out)
    if d.get("notice"):
        print(f"\n提示：{d['notice']}", file=out)
    unsupported = d.get("unsupported") or []
    if unsupported:
        print("\n未采纳（没有引文支持）：", file=out)
        for u in unsupported:
            print(f"  ✗ {u.get('claim', '')}（{u.get('reason', '')}）", file=out)
    cits = d.get("citations") or []
    if cits:
        print("\n来源：", file=out)
        for c in cits:
            print(f"[{c['n']}] {c['pilot']} · {c['section']} · {lines_label(c['start_line'], c['end_line'])}", file=out)
            print(f"    “{c['quote']}”", file=out)


def print_rows(rows: list[dict], out) -> None:
    """A comparison, one aligned row per pilot: pilot | lines | answer [n] (文件未提及 when not stated). The
    answer comes last so that a long one never pushes the other columns out of line."""
    cells = []
    # rows of several measures or years (one pilot's variants) say which each one is
    measures = {r.get("measure") for r in rows if r.get("measure")}
    years = {r.get("year") for r in rows if r.get("year")}
    for r in rows:
        if r.get("answer") is None:
            cells.append((r.get("pilot") or "", "—", NOT_STATED))
        else:
            mark = f" [{r['n']}]" if r.get("n") is not None else ""
            what = (f"{r['measure']} " if len(measures) > 1 and r.get("measure") else "") + \
                (f"{r['year']}年{'目标' if r.get('kind') == 'target' else ''} " if len(years) > 1 and r.get("year")
                 and r.get("measure") != "面积" else "")
            cells.append((r.get("pilot") or "", lines_label(r.get("start_line"), r.get("end_line")) or "—",
                          what + str(r["answer"]) + mark))
    w0 = max(width("试点"), *(width(c[0]) for c in cells))
    w1 = max(width("出处"), *(width(c[1]) for c in cells))
    print(f"{pad('试点', w0)}  {pad('出处', w1)}  回答", file=out)
    for a, b, c in cells:
        print(f"{pad(a, w0)}  {pad(b, w1)}  {c}", file=out)


# --------------------------------------------------------------------------- search


def print_search(d: dict, out=None) -> None:
    out = out or sys.stdout
    if d.get("pilots"):
        print("识别到的试点：" + "、".join(d["pilots"]), file=out)
    if d.get("unknown_place"):
        print(f"注意：“{d['unknown_place']}”不是本批试点。", file=out)
    if not d.get("passages"):
        print("没有找到相关片段。", file=out)
    print_passages(d.get("passages") or [], out)


def print_passages(passages: list[dict], out=None) -> None:
    out = out or sys.stdout
    for p in passages:
        print(f"[{p['rank']}] {p['score']:.4f}  {p['pilot']} · {p['section']} · "
              f"{lines_label(p['start_line'], p['end_line'])}", file=out)
        text = p["text"].replace("\n", " ")
        print("    " + (text if len(text) <= 160 else text[:160] + "…"), file=out)


# --------------------------------------------------------------------------- citation check

_DIFF_MARK = {"same": "{}", "changed": "【{}】", "extra": "［+{}］", "missing": "［−{}］"}
_LABELS = {"verbatim": "原文一致", "differs": "与原文不一致", "paraphrase": "意思相近（非原文）", "absent": "文件中没有"}


def print_cite(d: dict, out=None) -> None:
    """A `CiteResult.to_dict()`: the verdict, what differs, and the source lines with their neighbours. The diff
    is shown in the characters as written (`diff_display`: the document's own ，。 where the quote matches it);
    a reply without it (an older server) shows the normalised `diff`."""
    out = out or sys.stdout
    verdict = d.get("verdict", "absent")
    label = d.get("label") or _LABELS.get(verdict, verdict)
    matches = d.get("matches") or []
    figures = d.get("changed_figures") or []
    if verdict == "verbatim":
        print(f"{label}：原文出自 {len(matches)} 处。" if len(matches) > 1 else f"{label}。", file=out)
    elif verdict == "differs":
        print(f"{label}（相似度 {float(d.get('score') or 0):.3f}）：引文与最接近的原文有出入。", file=out)
        _print_figures(figures, out)
        diff = d.get("diff_display") or d.get("diff") or []
        if diff:
            print("  引文对照：" + "".join(_DIFF_MARK.get(k, "{}").format(t) for k, t in diff), file=out)
            print("  （【】改动  ［+］原文没有  ［−］原文有而引文缺少）", file=out)
    elif verdict == "paraphrase":
        print(f"{label}（语义相似度 {float(d.get('similarity') or 0):.3f}）：不是原文，与下面这句原文意思相近。",
              file=out)
        _print_figures(figures, out)
        if figures:
            print("  引文：" + _mark_figures(str(d.get("text") or ""), [q for q, _ in figures]), file=out)
        if matches and matches[0].get("span"):
            print(f"  原文：{matches[0]['span']}", file=out)
    else:
        print(f"{label}。" + ("以下为最接近的段落（仅供参考）：" if matches else ""), file=out)
    for i, m in enumerate(matches, 1):
        print(f"\n[{i}] {m['pilot']} · {m['section']} · {lines_label(m['start_line'], m['end_line'])}", file=out)
        for n, line in m.get("context_before") or []:
            print(f"    {n:>5}  {line}", file=out)
        print(f"  → {m['start_line']:>5}  {m['text']}", file=out)
        for n, line in m.get("context_after") or []:
            print(f"    {n:>5}  {line}", file=out)


def _print_figures(figures, out) -> None:
    for quoted, source in figures:
        print(f"  数字不同：引文为 {quoted}，原文为 {source or '（无）'}", file=out)


def _mark_figures(text: str, quoted: list[str]) -> str:
    """The quote with each changed figure in 【】 (the longest first, so 65 is not marked inside 650)."""
    if not quoted:
        return text
    pattern = "|".join(re.escape(q) for q in sorted(set(quoted), key=len, reverse=True) if q)
    return re.sub(rf"(?<![\d.])(?:{pattern})(?![\d.])", lambda m: f"【{m.group()}】", text) if pattern else text
