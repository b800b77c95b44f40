"""Evaluation reports: a terminal table, and `<name>.json|.md|.png` in Chinese like the rest of the app.

A blind report (`blind=True`, for the test splits) holds aggregates only: no question, answer or failure is
printed or stored, so nobody tuning the code reads the test questions through it.
"""
from __future__ import annotations

import io
import json
import os
import time
import unicodedata
from pathlib import Path
from typing import Any, Mapping, Sequence

from rag.evaluation.gold import EvalError
from rag.evaluation.running import EvalResult
from rag.evaluation.scoring import QuestionOutcome
from rag.files import atomic_write

# (metric key, label, kind) — kind "rate" (0..1), "ms", or "num"
HEADLINE = [
    ("hit@1", "首位命中 hit@1", "rate"),
    ("hit@5", "前五命中 hit@5", "rate"),
    ("mrr@10", "MRR@10", "rate"),
    ("cross_evidence_recall", "跨试点证据召回", "rate"),
    ("answer_accuracy", "回答准确率", "rate"),
    ("compare_accuracy", "对比回答准确率", "rate"),
    ("aggregate_accuracy", "跨试点统计回答准确率", "rate"),
    ("not_a_pilot_accuracy", "非试点地名答“不在试点之中”", "rate"),
    ("cross_pilot_recall", "跨试点：试点召回", "rate"),
    ("cross_pilot_precision", "跨试点：试点精确率", "rate"),
    ("citation_validity", "引用有效率", "rate"),
    ("evidence_citation_share", "引用含证据", "rate"),
    ("unanswerable_refused", "无答案问题拒答率", "rate"),
    ("traps_refused", "陷阱问题拒答率", "rate"),
    ("answerable_wrongly_refused", "可答问题误拒率", "rate"),
    ("retrieve_ms_p50", "检索 p50（毫秒）", "ms"),
    ("retrieve_ms_p95", "检索 p95（毫秒）", "ms"),
    ("answer_ms_p50", "作答 p50（毫秒）", "ms"),
    ("total_ms_p50", "总计 p50（毫秒）", "ms"),
    ("total_ms_p95", "总计 p95（毫秒）", "ms"),
    ("n", "问题数", "num"),
    ("errors", "运行错误", "num"),
]
_TYPE_COLS = [("n", "题数", "num"), ("hit@1", "hit@1", "rate"), ("hit@5", "hit@5", "rate"),
              ("cross_evidence_recall", "证据召回", "rate"), ("answer_accuracy", "准确率", "rate"),
              ("compare_accuracy", "对比准确率", "rate"), ("aggregate_accuracy", "统计准确率", "rate"),
              ("cross_pilot_recall", "试点召回", "rate"),
              ("cross_pilot_precision", "试点精确", "rate"), ("citation_validity", "引用有效", "rate"),
              ("unanswerable_refused", "拒答", "rate"), ("answerable_wrongly_refused", "误拒", "rate"),
              ("total_ms_p50", "p50 毫秒", "ms")]
TYPE_NAMES = {"number": "数字", "fact": "事实", "list": "列举", "overview": "概览", "count": "计数",
              "cross": "跨试点", "unanswerable": "无答案", "followup": "追问", "compare": "对比",
              "followup_unanswerable": "无答案追问", "aggregate": "跨试点统计"}


def _fmt(v: Any, kind: str) -> str:
    if v is None:
        return "—"
    if kind == "rate":
        return f"{v:.3f}"
    if kind == "ms":
        return f"{v:.0f}"
    return str(v)


def _width(s: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in s)


def _pad(s: str, w: int, right: bool = False) -> str:
    fill = " " * (w - _width(s))
    return fill + s if right else s + fill


def _summary_rows(results: Sequence[EvalResult]) -> tuple[list[str], list[list[str]]]:
    header = ["指标"] + [r.label for r in results]
    rows = [[lab] + [_fmt(r.overall.get(key), kind) for r in results] for key, lab, kind in HEADLINE
            if any(r.overall.get(key) is not None for r in results)]
    return header, rows


def format_summary(results: Sequence[EvalResult]) -> str:
    """The headline table (one column per variant) as aligned plain text for the terminal."""
    header, rows = _summary_rows(results)
    widths = [max(_width(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(_pad(c, widths[i], right=i > 0) for i, c in enumerate(header)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(_pad(c, widths[i], right=i > 0) for i, c in enumerate(row)) for row in rows]
    return "\n".join(lines)


def _md_cell(s: Any) -> str:
    return " ".join(str(s).split()).replace("|", "\\|")


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(_md_cell(h) for h in header) + " |",
           "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    return out


def _short(s: str, n: int) -> str:
    s = " ".join(str(s).split())
    return s if len(s) <= n else s[:n] + "…"


def _top_passages(o: QuestionOutcome, n: int = 3) -> list[dict]:
    out = []
    for i, p in enumerate(((o.record or {}).get("passages") or [])[:n], 1):
        if not isinstance(p, Mapping):
            continue
        out.append({"rank": p.get("rank", i), "chunk_id": p.get("chunk_id"), "pilot": p.get("pilot"),
                    "section": p.get("section"), "lines": f"{p.get('start_line')}-{p.get('end_line')}",
                    "text": _short(p.get("text") or "", 60)})
    return out


def failure_dict(o: QuestionOutcome) -> dict:
    rec = o.record or {}
    return {
        "id": o.item.id, "type": o.item.type, "question": o.item.question, "line": o.item.line,
        "history": list(o.item.history), "reasons": list(o.reasons),
        "expected": {"answers": list(o.item.raw_answers or o.item.answers), "evidence": list(o.item.evidence),
                     "pilot": list(o.item.pilots)},
        "got": {"answer": rec.get("answer"), "answerable": rec.get("answerable"), "error": o.error,
                "named_pilots": o.named_pilots or None},
        "scores": {"hit@1": o.hit1, "hit@5": o.hit5, "rr@10": o.rr10, "cross_recall": o.cross_recall,
                   "correct": o.correct, "pilot_recall": o.pilot_recall,
                   "pilot_precision": o.pilot_precision, "evidence_cited": o.evidence_cited,
                   "citations": f"{o.citations_valid}/{o.citations_total} valid"},
        "top_passages": _top_passages(o),
    }


def _groups(metrics: dict, blind: bool) -> list[tuple[str, dict]]:
    groups = [(TYPE_NAMES.get(t, t), m) for t, m in metrics["by_type"].items()]
    groups += [(f"标签 {t}", m) for t, m in metrics.get("by_tag", {}).items()]
    return groups + [("全部", metrics["overall"])]


def _report_json(results: Sequence[EvalResult], name: str, blind: bool, meta: Mapping[str, Any]) -> dict:
    return {
        "name": name, "blind": blind, **dict(meta),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "variants": [{
            "label": r.label, "settings": r.settings, "duration_s": round(r.duration_s, 3), "metrics": r.metrics,
            **({} if blind else {"failures": [failure_dict(o) for o in r.failures]}),
        } for r in results],
    }


def _report_md(results: Sequence[EvalResult], name: str, blind: bool, meta: Mapping[str, Any]) -> str:
    L = [f"# 评测报告：{name}", ""]
    L += [f"生成于 {time.strftime('%Y-%m-%d %H:%M:%S')}。设置：" + "；".join(f"`{r.label}`" for r in results) + "。"]
    for k, v in meta.items():
        L.append(f"- {k}：`{v}`")
    if blind:
        L += ["", "盲测集：只记录汇总指标，不记录任何题目、回答或失败明细。"]
    L += ["", "## 汇总", ""]
    header, rows = _summary_rows(results)
    L += _md_table(header, rows) + [""]
    L += ["## 分类型", ""]
    for r in results:
        if len(results) > 1:
            L += [f"### {r.label}", ""]
        L += _md_table(["类型"] + [c[1] for c in _TYPE_COLS],
                       [[t] + [_fmt(m.get(k), kind) for k, _, kind in _TYPE_COLS] for t, m in _groups(r.metrics, blind)])
        L += [""]
    if blind:
        return "\n".join(L)
    L += ["## 失败明细", ""]
    for r in results:
        fails = r.failures
        if len(results) > 1:
            L += [f"### {r.label}", ""]
        if not fails:
            L += ["没有失败的题目。", ""]
            continue
        L += [f"{len(r.outcomes)} 题中 {len(fails)} 题未通过。", ""]
        for o in fails:
            f = failure_dict(o)
            exp = f["expected"]
            hist = f"（对话：{' → '.join(o.item.history)}）" if o.item.history else ""
            L.append(f"- **{o.item.id}**（{TYPE_NAMES.get(o.item.type, o.item.type)}）{_md_cell(o.item.question)}{hist}")
            L.append(f"  - 原因：{_md_cell('; '.join(o.reasons))}")
            L.append(f"  - 期望：答案={exp['answers']} 证据={[_short(e, 60) for e in exp['evidence']]}"
                     f" 试点={exp['pilot']}")
            got = f["got"]
            if o.error:
                L.append(f"  - 实际：错误 {_md_cell(o.error)}")
            else:
                L.append(f"  - 实际：可答={got['answerable']} 回答：{_md_cell(_short(got['answer'] or '', 200))}")
            for p in f["top_passages"]:
                L.append(f"  - #{p['rank']} {p['pilot']} · {p['section']} · 第 {p['lines']} 行 · {_md_cell(p['text'])}")
        L.append("")
    return "\n".join(L)


def _cjk_font():
    """A CJK font matplotlib can use (fonts-noto-cjk on Debian), or None."""
    from matplotlib import font_manager  # matplotlib loads only to draw a report

    for f in font_manager.fontManager.ttflist:
        if any(k in f.name for k in ("Noto Sans CJK", "Noto Serif CJK", "WenQuanYi", "Source Han", "Droid Sans Fallback")):
            return font_manager.FontProperties(fname=f.fname)
    return None


def _report_png(results: Sequence[EvalResult]) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # matplotlib loads only to draw a report
    from matplotlib.figure import Figure  # matplotlib loads only to draw a report

    font = _cjk_font()
    rates = [(k, lab) for k, lab, kind in HEADLINE if kind == "rate"
             and any(r.overall.get(k) is not None for r in results)]

    def label(s: str) -> str:  # without a CJK font, keep the ASCII part rather than draw boxes
        return s if font else (s.encode("ascii", "ignore").decode().strip() or "?")

    fig = Figure(figsize=(max(8, 1.1 * len(rates)), 4.8), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(111)
    n = max(len(results), 1)
    width = 0.8 / n
    for i, r in enumerate(results):
        xs = [j + (i - (n - 1) / 2) * width for j in range(len(rates))]
        ys = [r.overall.get(k) for k, _ in rates]
        ax.bar(xs, [y if y is not None else 0 for y in ys], width, label=label(r.label))
    ax.set_xticks(range(len(rates)))
    ax.set_xticklabels([label(lab) for _, lab in rates], rotation=35, ha="right", fontsize=8, fontproperties=font)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel(label("比率"), fontproperties=font)
    ax.set_title(label("PilotQA 评测（全部题目）"), fontproperties=font)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, prop=font)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def write_report(results: EvalResult | Sequence[EvalResult], reports_dir: str | Path, name: str, *,
                 blind: bool = False, meta: Mapping[str, Any] | None = None) -> dict[str, Path]:
    """Write `<reports_dir>/<name>.json`, `.md` and `.png` atomically; returns {"json", "md", "png"} paths."""
    if isinstance(results, EvalResult):
        results = [results]
    results = list(results)
    if not results:
        raise EvalError("no results to report")
    if not name or name in (".", "..") or "/" in name or os.sep in name:
        raise EvalError(f"bad report name {name!r} (a file name without directories)")
    meta = dict(meta or {})
    d = Path(reports_dir)
    paths = {"json": d / f"{name}.json", "md": d / f"{name}.md", "png": d / f"{name}.png"}
    atomic_write(paths["json"], json.dumps(_report_json(results, name, blind, meta), ensure_ascii=False, indent=2,
                                            default=str).encode("utf-8"))
    atomic_write(paths["md"], _report_md(results, name, blind, meta).encode("utf-8"))
    atomic_write(paths["png"], _report_png(results))
    return paths
