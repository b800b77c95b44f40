"""HTML for the 评测 tab: an evaluation report (`<name>.json`, written by `rag.evaluation.write_report`) in Chinese.

Every metric, setting, question type and failure reason is shown by its Chinese name; the English name the
report and the code use (hit@1, MRR@10, mode=hybrid, `wrong answer: …`) is in the element's tooltip (`title`),
so it can still be searched for. Rates carry a bar drawn from the number itself. Everything from the report
(questions, answers, names) is escaped.
"""
from __future__ import annotations

import re
import time
from typing import Any, Mapping, Sequence

from ui.render import esc

# (metric key, Chinese label, English name for the tooltip, kind) — kind "rate" (0..1), "ms" or "num"
METRICS = [
    ("hit@1", "命中率@1", "hit@1: the first passage holds the evidence", "rate"),
    ("hit@5", "前五命中率", "hit@5: one of the first five passages holds the evidence", "rate"),
    ("mrr@10", "平均倒数排名@10", "MRR@10 (mean reciprocal rank of the evidence)", "rate"),
    ("cross_evidence_recall", "跨试点证据召回率", "cross_evidence_recall", "rate"),
    ("answer_accuracy", "回答准确率", "answer_accuracy", "rate"),
    ("compare_accuracy", "对比回答准确率", "compare_accuracy", "rate"),
    ("cross_pilot_recall", "跨试点：试点召回率", "cross_pilot_recall", "rate"),
    ("cross_pilot_precision", "跨试点：试点精确率", "cross_pilot_precision", "rate"),
    ("citation_validity", "引用有效率", "citation_validity", "rate"),
    ("evidence_citation_share", "引用含证据比例", "evidence_citation_share", "rate"),
    ("unanswerable_refused", "无答案问题拒答率", "unanswerable_refused", "rate"),
    ("traps_refused", "陷阱问题拒答率", "traps_refused", "rate"),
    ("answerable_wrongly_refused", "可答问题误拒率", "answerable_wrongly_refused (lower is better)", "rate"),
    ("retrieve_ms_p50", "检索耗时中位数（毫秒）", "retrieve_ms_p50", "ms"),
    ("retrieve_ms_p95", "检索耗时 95% 分位（毫秒）", "retrieve_ms_p95", "ms"),
    ("answer_ms_p50", "作答耗时中位数（毫秒）", "answer_ms_p50", "ms"),
    ("total_ms_p50", "总耗时中位数（毫秒）", "total_ms_p50", "ms"),
    ("total_ms_p95", "总耗时 95% 分位（毫秒）", "total_ms_p95", "ms"),
    ("n", "问题数", "n (questions)", "num"),
    ("errors", "运行错误", "errors", "num"),
]
# the per-type table: fewer columns, short labels
TYPE_COLUMNS = [("n", "题数"), ("hit@1", "命中率@1"), ("hit@5", "前五命中率"), ("cross_evidence_recall", "证据召回"),
                ("answer_accuracy", "准确率"), ("compare_accuracy", "对比准确率"), ("cross_pilot_recall", "试点召回"),
                ("cross_pilot_precision", "试点精确"), ("citation_validity", "引用有效"),
                ("unanswerable_refused", "拒答"), ("answerable_wrongly_refused", "误拒"), ("total_ms_p50", "耗时中位数")]
_KIND = {key: kind for key, _, _, kind in METRICS}
_EN = {key: en for key, _, en, _ in METRICS}
TYPE_NAMES = {"number": "数字", "fact": "事实", "list": "列举", "overview": "概览", "count": "计数",
              "cross": "跨试点", "unanswerable": "无答案", "followup": "追问", "compare": "对比",
              "followup_unanswerable": "无答案追问"}
TAG_NAMES = {"alias": "别称", "description": "描述指代", "paraphrase": "换种说法", "english": "英文提问",
             "trap-year": "陷阱：年份", "trap-qualifier": "陷阱：限定词", "trap-measure": "陷阱：指标",
             "not-a-pilot": "陷阱：非试点地名"}
MODES = {"dense": "向量", "bm25": "关键词", "hybrid": "混合"}
ANSWERERS = {"extractive": "抽取式", "llm": "大模型", "llm-local": "本地大模型"}
GOLD_NAMES = {"gold.jsonl": "开发集", "dialog.jsonl": "对话集"}


# --------------------------------------------------------------------------- pieces


def _tip(text: str, title: str) -> str:
    return f'<span title="{esc(title)}">{esc(text)}</span>'


def _value(v: Any, kind: str) -> str:
    if v is None:
        return '<span class="pq-ev-none">—</span>'
    if kind == "rate":
        pct = max(0.0, min(100.0, float(v) * 100))
        return (f'<span class="pq-ev-rate" title="{float(v):.4f}"><span class="pq-ev-num">{pct:.1f}%</span>'
                f'<span class="pq-ev-bar"><span class="pq-ev-fill" style="width:{pct:.1f}%"></span></span></span>')
    if kind == "ms":
        return f'<span class="pq-ev-num">{float(v):.0f}</span>'
    return f'<span class="pq-ev-num">{esc(v)}</span>'


def settings_text(settings: Mapping[str, Any]) -> str:
    """A run's settings in words: 检索方式：混合，回答方式：抽取式，每题取 5 段."""
    bits = []
    if settings.get("mode"):
        bits.append(f"检索方式：{MODES.get(str(settings['mode']), '其他')}")
    if settings.get("answerer"):
        bits.append(f"回答方式：{ANSWERERS.get(str(settings['answerer']), '其他')}")
    if settings.get("k") is not None:
        bits.append(f"每题取 {esc(settings['k'])} 段")
    if settings.get("chunk_max_chars") is not None:
        bits.append(f"片段上限 {esc(settings['chunk_max_chars'])} 字")
    known = {"mode", "answerer", "k", "chunk_max_chars"}
    if any(k not in known for k in settings):
        bits.append("另有其他设置")
    return "，".join(bits) or "默认设置"


def _settings_cell(variant: Mapping, keys: Sequence[str] | None = None) -> str:
    """A run's settings (only `keys`, when given: what tells it apart from the others), the raw ones as tooltip."""
    settings = variant.get("settings") or {}
    raw = ", ".join(f"{k}={v}" for k, v in settings.items()) or str(variant.get("label") or "")
    shown = {k: v for k, v in settings.items() if keys is None or k in keys}
    return _tip(settings_text(shown), raw)


def _differing(variants: Sequence[Mapping]) -> list[str]:
    """The setting keys whose values differ between the variants (all of them for one variant)."""
    keys = list(dict.fromkeys(k for v in variants for k in (v.get("settings") or {})))
    if len(variants) < 2:
        return keys
    return [k for k in keys if len({str((v.get("settings") or {}).get(k)) for v in variants}) > 1] or keys


def gold_label(name: str) -> str:
    return GOLD_NAMES.get(str(name), "标准问答集")


def when(stamp: str) -> str:
    """"2026-11-28T23:48:42+0000" (a report) or "20261128-234842" (a run folder) in words."""
    for fmt, cut in (("%Y-%m-%dT%H:%M:%S", 19), ("%Y%m%d-%H%M%S", 15)):
        try:
            t = time.strptime(str(stamp)[:cut], fmt)
            return time.strftime("%Y 年 %m 月 %d 日 %H:%M", t)
        except ValueError:
            continue
    return esc(stamp)


# --------------------------------------------------------------------------- failure reasons

_REASONS = [
    (re.compile(r"^run error: (.*)$"), lambda m: ("运行出错", m.group(1))),
    (re.compile(r"^invalid citation: (.*)$"), lambda m: ("引用无效", "")),
    (re.compile(r"^retrieval miss: evidence not in top (\d+)(?: \(first at rank (\d+)\))?$"),
     lambda m: (f"检索未命中：前 {m.group(1)} 段中没有证据" + (f"（首次出现在第 {m.group(2)} 位）" if m.group(2) else ""), "")),
    (re.compile(r"^retrieval miss: (\d+)/(\d+) evidence strings in top (\d+)$"),
     lambda m: (f"检索未命中：前 {m.group(3)} 段中只找到 {m.group(1)}/{m.group(2)} 条证据", "")),
    (re.compile(r"^wrong answer: missing (.*)$"), lambda m: ("回答有误，缺少", m.group(1))),
    (re.compile(r"^pilots missing from answer: (.*)$"), lambda m: ("回答漏掉了试点", m.group(1))),
    (re.compile(r"^wrong pilots named: (.*)$"), lambda m: ("回答多列了试点", m.group(1))),
    (re.compile(r"^not refused \(question is unanswerable\)$"), lambda m: ("应当拒答却给出了回答", "")),
    (re.compile(r"^wrongly refused$"), lambda m: ("可以回答却拒答了", "")),
    (re.compile(r"^wrong comparison: (.*)$"), lambda m: ("对比回答有误", "")),
]


def reason_html(reason: str) -> str:
    """One failure reason in Chinese (what it names, e.g. the missing answer, after it); the English reason
    is the tooltip."""
    for pattern, make in _REASONS:
        m = pattern.match(str(reason))
        if m:
            label, detail = make(m)
            return _tip(label + (f"：{detail}" if detail else ""), reason)
    return _tip("其他原因", reason)


# --------------------------------------------------------------------------- the report


def _summary(variants: Sequence[Mapping]) -> str:
    keys = _differing(variants)
    head = "".join(f"<th>{_settings_cell(v, keys) if len(variants) > 1 else '数值'}</th>" for v in variants)
    rows = []
    for key, label, en, kind in METRICS:
        values = [(v.get("metrics") or {}).get("overall", {}).get(key) for v in variants]
        if all(x is None for x in values):
            continue
        cells = "".join(f'<td>{_value(x, kind)}</td>' for x in values)
        rows.append(f'<tr><th scope="row">{_tip(label, en)}</th>{cells}</tr>')
    return (f'<div class="pq-ev-scroll"><table class="pq-ev-table pq-ev-summary"><thead><tr><th>指标</th>{head}</tr>'
            f'</thead><tbody>{"".join(rows)}</tbody></table></div>')


def _by_type(metrics: Mapping) -> str:
    groups = [(_tip(TYPE_NAMES.get(t, "其他类型"), t), m) for t, m in (metrics.get("by_type") or {}).items()]
    groups += [(_tip("标签：" + TAG_NAMES.get(t, "其他"), f"tag {t}"), m) for t, m in (metrics.get("by_tag") or {}).items()]
    groups.append((_tip("全部", "overall"), metrics.get("overall") or {}))
    cols = [(k, lab) for k, lab in TYPE_COLUMNS if any(m.get(k) is not None for _, m in groups)]
    head = "".join(f"<th>{_tip(lab, _EN.get(k, k))}</th>" for k, lab in cols)
    rows = []
    for name, m in groups:
        cells = "".join(f"<td>{_value(m.get(k), _KIND.get(k, 'num'))}</td>" for k, _ in cols)
        rows.append(f'<tr><th scope="row">{name}</th>{cells}</tr>')
    return (f'<div class="pq-ev-scroll"><table class="pq-ev-table pq-ev-types"><thead><tr><th>类型</th>{head}</tr>'
            f'</thead><tbody>{"".join(rows)}</tbody></table></div>')


def _failure(f: Mapping) -> str:
    exp = f.get("expected") or {}
    got = f.get("got") or {}
    kind = TYPE_NAMES.get(str(f.get("type")), "其他类型")
    where = f"第 {int(f['line'])} 行" if isinstance(f.get("line"), int) else "题目"
    hist = f.get("history") or []
    # what the gold set and the answer say is data (class pq-ev-data); the rest is the report's own words
    parts = [(f'<div class="pq-ev-q">{_tip(where, str(f.get("id") or ""))}（{esc(kind)}）'
              f'<span class="pq-ev-data">{esc(f.get("question"))}</span></div>')]
    if hist:
        parts.append(f'<div class="pq-ev-line">对话：<span class="pq-ev-data">{esc(" → ".join(map(str, hist)))}'
                     '</span></div>')
    reasons = "；".join(reason_html(r) for r in f.get("reasons") or [])
    parts.append(f'<div class="pq-ev-line"><b>原因</b>　{reasons}</div>')
    answers = "、".join(map(str, exp.get("answers") or []))
    if answers:
        parts.append(f'<div class="pq-ev-line"><b>期望</b>　<span class="pq-ev-data">{esc(answers)}</span></div>')
    if got.get("error"):
        parts.append('<div class="pq-ev-line"><b>实际</b>　运行出错</div>')
    elif got.get("answerable") is False:
        parts.append('<div class="pq-ev-line"><b>实际</b>　拒答</div>')
    else:
        text = " ".join(str(got.get("answer") or "").split())
        text = text if len(text) <= 200 else text[:200] + "…"
        parts.append(f'<div class="pq-ev-line"><b>实际</b>　<span class="pq-ev-data">{esc(text)}</span></div>')
    return f'<li class="pq-ev-fail">{"".join(parts)}</li>'


def report_html(report: Mapping, *, head: str = "") -> str:
    """The whole report: when and on what it ran, the summary (one column per setting), the per-type table,
    and (not for a blind report) the questions that failed, folded."""
    variants = list(report.get("variants") or [])
    if not variants:
        return message("这份报告没有可显示的指标。")
    parts = [head] if head else []
    gold = report.get("gold")
    meta = [f"生成于 {when(report.get('created', ''))}"]
    if gold:
        meta.append(f"问答集：{_tip(gold_label(gold), str(gold))}")
    if report.get("limit") not in (None, "", "全部", 0):
        meta.append(f"只评测前 {esc(report['limit'])} 题")
    keys = _differing(variants)
    common = {k: v for k, v in (variants[0].get("settings") or {}).items() if len(variants) == 1 or k not in keys}
    if common:
        meta.append(("设置：" if len(variants) == 1 else "共同设置：") + settings_text(common))
    env = " · ".join(f"{k}={report[k]}" for k in ("store", "embed_model", "judgment") if report.get(k))
    if env:
        meta.append(_tip("运行环境", env))
    parts.append(f'<div class="pq-ev-meta">{"　".join(meta)}</div>')
    if report.get("blind"):
        parts.append('<div class="pq-ev-note">盲测集：只记录汇总指标，不记录任何题目、回答或失败明细。</div>')
    parts.append('<h3 class="pq-ev-h">汇总</h3>' + _summary(variants))
    for v in variants:
        title = "分类型" + (f"（{_settings_cell(v, keys)}）" if len(variants) > 1 else "")
        parts.append(f'<h3 class="pq-ev-h">{title}</h3>' + _by_type(v.get("metrics") or {}))
    if not report.get("blind"):
        for v in variants:
            fails = v.get("failures") or []
            n = (v.get("metrics") or {}).get("overall", {}).get("n")
            which = f"（{_settings_cell(v, keys)}）" if len(variants) > 1 else ""
            if not fails:
                parts.append(f'<div class="pq-ev-note">没有未通过的题目{which}。</div>')
                continue
            total = f"{esc(n)} 题中" if n is not None else ""
            parts.append(f'<details class="pq-details pq-ev-fails"><summary>{total}有 {len(fails)} 题未通过{which}，'
                         f'点击查看</summary><ul>{"".join(_failure(f) for f in fails)}</ul></details>')
    return f'<div class="pq-ev">{"".join(parts)}</div>'


def message(text: str, head: str = "") -> str:
    return f'<div class="pq-ev">{head}<div class="pq-ev-note">{esc(text)}</div></div>'
