"""The report of `pilotqa bench`: targets computed from the measured figures, the terminal table, bench.md.

Every figure in the report is read from the result dict the parts measured; a target whose figure was not
measured in this run is shown as "—" (never estimated, never carried over from an earlier run).
"""
from __future__ import annotations

from typing import Any

from bench.naive import NAIVE_CHUNK, NAIVE_OVERLAP

# key -> (what, the issue that sets it, limit, unit); the limit of `add_doc_embedded` is the added
# document's own chunk count, measured in the same run
TARGETS = {
    "answer_p50": ("extractive answer p50 / 抽取式回答 p50", 10, 60.0, "ms"),
    "followup_delta": ("follow-up p50 − single-question p50 / 追问与单问 p50 之差", 11, 10.0, "ms"),
    "cold_build": ("cold index build / 冷启动建索引", 10, 120.0, "s"),
    "rebuild_embedded": ("no-change rebuild: chunks embedded / 无变化重建的嵌入数", 13, 0, "chunks"),
    "add_doc_embedded": ("add one document: chunks embedded / 添加一个文档的嵌入数", 13, None, "chunks"),
    "cold_ask": ("cold `pilotqa ask` p50 / 冷启动提问", 12, 3.0, "s"),
    "wrong_call": ("wrong call (unknown pilot) fails, p50 / 错误调用报错", 14, 1.0, "s"),
    "load_errors": ("32 HTTP clients: errors / 32 个并发客户端的错误数", 12, 0, "errors"),
    "cold_build_shipped": ("cold build with the shipped vectors / 用随附向量冷启动建索引", 23, 10.0, "s"),
    "cold_build_unshipped": ("cold build without shipped vectors / 不用随附向量冷启动建索引", 23, 60.0, "s"),
    "unshipped_peak_rss": ("cold build without shipped vectors: peak RSS / 其峰值内存", 23, 800.0, "MB"),
    "cold_ask_5": ("cold `pilotqa ask` p50 over ≥ 5 runs / 冷启动提问（至少 5 次）", 23, 1.2, "s"),
    "facts_build": ("cold build as shipped, fact extraction included / 含事实抽取的完整建索引", 20, 120.0, "s"),
    "aggregate_p50": ("aggregate answer p50 / 跨试点汇总回答 p50", 20, 50.0, "ms"),
    "mixed_errors": ("mixed 32-client load (both runs + LLM requests): errors / 混合负载错误数", 21, 0, "errors"),
    "mixed_mismatches": ("mixed load: answers ≠ asked alone / 与单独提问不一致的回答数", 21, 0, "answers"),
    "hang_p95_ratio": ("extractive p95 with 8 hanging LLM requests ÷ without / 大模型挂起时 p95 之比", 21, 2.0, "×"),
}
COLD_ASK_RUNS = 5   # issue 23 asks for the p50 over at least this many cold runs


def get(res: dict, *path) -> Any:
    cur: Any = res
    for p in path:
        if not isinstance(cur, dict) or p not in cur:
            return None
        cur = cur[p]
    return cur


def evaluate_targets(res: dict) -> dict:
    """Each target's measured value, its limit and whether it was met (None: not measured in this run)."""
    load = get(res, "load_test", "variants") or {}
    mixed = res.get("mixed_load") or {}
    mb, mh = mixed.get("baseline") or {}, mixed.get("hang") or {}
    cold_ask = get(res, "cli", "cold_ask") or {}
    values = {
        "answer_p50": get(res, "latency", "variants", "answer", "p50"),
        "followup_delta": get(res, "followups", "delta_p50_ms"),
        "cold_build": get(res, "index", "cold", "seconds"),
        "rebuild_embedded": get(res, "index", "rebuild_no_change", "embedded"),
        "add_doc_embedded": get(res, "documents", "add", "embedded"),
        "cold_ask": get(res, "cli", "cold_ask", "p50_s"),
        "wrong_call": get(res, "cli", "wrong_call", "p50_s"),
        "load_errors": sum(v.get("errors", 0) for v in load.values()) if load else None,
        "cold_build_shipped": get(res, "index", "cold", "seconds"),
        "cold_build_unshipped": get(res, "unshipped", "seconds"),
        "unshipped_peak_rss": get(res, "unshipped", "peak_rss_mb"),
        "cold_ask_5": cold_ask.get("p50_s") if (cold_ask.get("answered") or 0) >= COLD_ASK_RUNS else None,
        # the whole build a user runs (`pilotqa build`, shipped vectors), its fact extraction measured inside it
        "facts_build": get(res, "index", "cold", "seconds") if get(res, "index", "cold", "facts_seconds") is not None
        else None,
        "aggregate_p50": get(res, "aggregate", "p50"),
        "mixed_errors": (mb.get("errors", 0) + mh.get("errors", 0) + _llm_failures(mh)) if mb or mh else None,
        "mixed_mismatches": (mb.get("mismatches", 0) + mh.get("mismatches", 0)) if mb or mh else None,
        "hang_p95_ratio": mixed.get("p95_ratio"),
    }
    out = {}
    for name, (what, issue, limit, unit) in TARGETS.items():
        if name == "add_doc_embedded":
            limit = get(res, "documents", "add", "document_chunks")
        v = values[name]
        out[name] = {"what": what, "issue": issue, "target": limit, "unit": unit, "value": v,
                     "met": None if v is None or limit is None else bool(v <= limit)}
    return out


def _llm_failures(hang: dict) -> int:
    """The hanging run's LLM requests that were not answered once the endpoint let them go."""
    llm = hang.get("llm") or {}
    return max(0, (llm.get("requests") or 0) - (llm.get("answered") or 0)) if llm else 0


def _f(v, nd=1) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.{nd}f}"
    return str(v)


def _nd(t: dict) -> int:
    """Decimals of a target's figures: a ratio or a cold `ask` in seconds needs two (1.96 is not 2.0)."""
    return 2 if t["unit"] == "×" or (t["unit"] == "s" and (t["target"] or 0) < 5) else 1


def _state(t: dict, missed: str) -> str:
    return "—" if t["met"] is None else ("met" if t["met"] else missed)


def summary_rows(res: dict) -> list[tuple[str, str]]:
    """One line per measured figure: the terminal table and the summary block of bench.md."""
    rows: list[tuple[str, str]] = []
    env = res.get("env", {})
    rows.append(("machine", f"{env.get('cpu_count')} CPUs, load average {env.get('loadavg_start')} → "
                            f"{env.get('loadavg_end')}"))
    ix = res.get("index")
    if ix:
        c, a = ix["cold"], ix["rebuild_no_change"]
        rows.append(("cold build", f"{_f(c['seconds'])} s, peak RSS {_f(c.get('peak_rss_mb'), 0)} MB, CPU "
                                   f"{_f(c.get('cpu_seconds'))} s, {c.get('chunks')} chunks"))
        rows.append(("no-change rebuild", f"{_f(a['seconds'])} s, embedded {a.get('embedded')} chunks / "
                                          f"{a.get('sentences_embedded')} sentences"))
        if c.get("facts_seconds") is not None:
            rows.append(("fact extraction (cold build)", f"{_f(c['facts_seconds'], 2)} s for {c.get('facts')} facts, "
                                                         f"within the {_f(c['seconds'])} s build"))
    us = res.get("unshipped")
    if us:
        rows.append(("cold build, no shipped vectors", f"{_f(us['seconds'])} s, peak RSS {_f(us.get('peak_rss_mb'), 0)} MB,"
                                                       f" CPU {_f(us.get('cpu_seconds'))} s, embedded {us.get('embedded')}"
                                                       f" chunks / {us.get('sentences_embedded')} sentences, facts "
                                                       f"{_f(us.get('facts_seconds'), 2)} s"))
    dc = res.get("documents")
    if dc:
        ad, rm = dc["add"], dc["remove"]
        rows.append(("docs add (one .docx)", f"{_f(ad['seconds'])} s wall, index update {_f(ad.get('index_update_s'))} s, "
                                             f"embedded {ad.get('embedded')} of its {ad.get('document_chunks')} chunks"))
        rows.append(("docs remove", f"{_f(rm['seconds'])} s wall, embedded {rm.get('embedded')}"))
    cl = res.get("cli")
    if cl:
        ca, wc = cl["cold_ask"], cl["wrong_call"]
        rows.append(("cold pilotqa ask", f"p50 {_f(ca['p50_s'], 2)} s, max {_f(ca['max_s'], 2)} s "
                                         f"({ca['answered']}/{len(ca['runs'])} answered)"))
        rows.append(("wrong call (unknown pilot)", f"p50 {_f(wc['p50_s'], 2)} s, max {_f(wc['max_s'], 2)} s "
                                                   f"({wc['refused']}/{len(wc['runs'])} refused)"))
    ld = res.get("load")
    if ld:
        rows.append(("index load / query embedder", f"{_f(ld['index_load_s'], 2)} s / "
                                                    f"{_f(ld['embedder_and_retriever_s'], 2)} s ({ld['query_embedder']})"))
    for name, v in (get(res, "latency", "variants") or {}).items():
        rows.append((f"latency {name}", f"p50 {_f(v['p50'])} ms, p95 {_f(v['p95'])} ms, hit@5 {_f(v['hit@5'], 3)} "
                                        f"(n={v['n']}, errors {v['errors']})"))
    fu = res.get("followups")
    if fu and fu.get("n"):
        rows.append(("follow-up answer", f"p50 {_f(fu['followup']['p50'])} ms vs single {_f(fu['single']['p50'])} ms "
                                         f"(Δ {_f(fu['delta_p50_ms'])} ms, n={fu['n']}, errors {fu['errors']})"))
    for name, v in (get(res, "load_test", "variants") or {}).items():
        rows.append((f"32 clients, {name}", f"{_f(v['throughput_rps'], 2)} req/s, p50 {_f(v['latency_p50'], 0)} ms, "
                                            f"p95 {_f(v['latency_p95'], 0)} ms, errors {v['errors']}/{v['requests']}, "
                                            f"server RSS {_f(v.get('server_rss_mb'), 0)} MB"))
    ag = res.get("aggregate")
    if ag and ag.get("n"):
        rows.append(("aggregate answer", f"p50 {_f(ag['p50'])} ms, p95 {_f(ag['p95'])} ms (n={ag['n']}, "
                                         f"{ag['questions']} questions × {ag['rounds']}, errors {ag['errors']}; gold "
                                         f"figure stated {ag['gold_figure_stated']}/{ag['gold_checked']})"))
    ml = res.get("mixed_load") or {}
    for name, key in (("baseline", "baseline"), (f"{ml.get('llm_hangs')} LLM hanging + docs", "hang")):
        v = ml.get(key)
        if v:
            rows.append((f"mixed 32 clients, {name}", f"{_f(v['throughput_rps'], 2)} req/s, p50 {_f(v['p50_ms'], 0)} ms, "
                                                     f"p95 {_f(v['p95_ms'], 0)} ms, errors {v['errors']}/{v['requests']}, "
                                                     f"≠ alone {v['mismatches']}"))
    hg = ml.get("hang")
    if hg:
        od, lm, dc = hg["outside_document_changes"], hg["llm"], hg["documents"]
        rows.append(("mixed, hanging run details", f"p95 ratio {_f(ml.get('p95_ratio'), 2)}×; outside document "
                                                   f"changes p95 {_f(od['p95_ms'], 0)} ms (n={od['n']}, ratio "
                                                   f"{_f(ml.get('p95_ratio_outside_document_changes'), 2)}×); docs "
                                                   f"{dc['added']} added / "
                                                   f"{dc['removed']} removed; LLM {lm['pending_end']}/{lm['requests']} "
                                                   f"still pending at the end, {lm['answered']} answered after"))
    nv = res.get("naive")
    if nv and nv.get("hit@5") is not None:
        rows.append(("naive LangChain peer", f"hit@5 {_f(nv['hit@5'], 3)} vs PilotQA {_f(nv['pilotqa_hit@5'], 3)} "
                                             f"({nv['chunks']} chunks, {NAIVE_CHUNK}/{NAIVE_OVERLAP})"))
    if res.get("scale"):
        from bench.scale import table_rows  # each benchmark part loads only when it runs

        rows.extend(table_rows(res["scale"]))
    for t in (res.get("targets") or {}).values():
        rows.append((f"target #{t['issue']}: {t['what'].split(' / ')[0]}",
                     f"{_f(t['value'], _nd(t))} {t['unit']} (≤ {_f(t['target'], _nd(t))}) {_state(t, 'MISSED')}"))
    for e in res.get("errors", []):
        rows.append(("bench error", e))
    return rows


def format_table(res: dict) -> str:
    rows = summary_rows(res)
    w = max(len(r[0]) for r in rows)
    return "\n".join(f"{a.ljust(w)}  {b}" for a, b in rows)


def format_md(res: dict) -> str:
    env = res.get("env", {})
    lines = ["# PilotQA 基准测试 / benchmark", "",
             f"Run {env.get('started')} on {env.get('cpu_count')} CPUs, Python {env.get('python')}; load average "
             f"{env.get('loadavg_start')} at the start, {env.get('loadavg_end')} at the end (per part below; a load "
             "above the CPU count means other work shared the machine and latencies are inflated). "
             f"{'Quick run (subsampled questions, fewer requests). ' if res.get('quick') else ''}"
             f"Questions: {res.get('questions')}. Every figure was measured in this run; bench.json holds them all.",
             "", "```", format_table(res), "```", ""]
    tg = res.get("targets")
    if tg:
        lines += ["## 目标 / Targets", "", "| target | issue | value | limit | |", "|---|---|---|---|---|"]
        for t in tg.values():
            lines.append(f"| {t['what']} | #{t['issue']} | {_f(t['value'], _nd(t))} {t['unit']} | ≤ {_f(t['target'], _nd(t))} | "
                         f"{_state(t, '**missed**')} |")
        lines.append("")
    lines += _md_latency(res) + _md_index(res) + _md_cli(res)
    if res.get("load_test"):
        from bench.loadtest import format_md as load_md  # each benchmark part loads only when it runs

        lines += [load_md(res["load_test"])]
    if res.get("mixed_load"):
        from bench.mixed import format_md as mixed_md  # each benchmark part loads only when it runs

        lines += mixed_md(res["mixed_load"])
    lines += _md_aggregate(res)
    lines += _md_naive(res)
    if res.get("scale"):
        from bench.scale import format_md as scale_md  # each benchmark part loads only when it runs

        lines += scale_md(res["scale"])
    tl = res.get("timeline")
    if tl:
        lines += ["## 各部分用时与负载 / Parts: time and load average", "", "| part | seconds | load at start | at end |",
                  "|---|---|---|---|"]
        lines += [f"| {n} | {_f(t['seconds'])} | {t['loadavg_start']} | {t['loadavg_end']} |" for n, t in tl.items()]
        lines.append("")
    if res.get("errors"):
        lines += ["## Bench errors", ""] + [f"- {e}" for e in res["errors"]] + [""]
    return "\n".join(lines)


def _md_latency(res: dict) -> list[str]:
    lines: list[str] = []
    lat = res.get("latency")
    if lat:
        lines += ["## 检索与回答延迟 / Latency (ms; dev questions, variants interleaved, query caches cleared)", "",
                  "| variant | n | p50 | p95 | mean | hit@5 | errors |", "|---|---|---|---|---|---|---|"]
        for name, v in lat["variants"].items():
            lines.append(f"| {name} | {v['n']} | {_f(v['p50'])} | {_f(v['p95'])} | {_f(v['mean'])} | "
                         f"{_f(v['hit@5'], 3)} | {v['errors']} |")
        for n, st in (lat.get("stages_ms") or {}).items():
            lines.append(f"\nStage medians for {n} (ms, the pipeline's own timings): "
                         + ", ".join(f"{k} {v}" for k, v in st.items()))
        lines += ["", "hit@5: a top-5 passage contains the gold evidence line (normalised), for number, fact, list and "
                      "overview questions; the same rule for PilotQA and the naive peer.", ""]
    fu = res.get("followups")
    if fu and fu.get("n"):
        f, s = fu["followup"], fu["single"]
        lines += ["## 追问 / Follow-ups (`qa.ask(q, history=...)`, each timed beside one single question)", "",
                  "| | n | p50 ms | p95 ms | mean ms |", "|---|---|---|---|---|",
                  f"| follow-up | {f['n']} | {_f(f['p50'])} | {_f(f['p95'])} | {_f(f['mean'])} |",
                  f"| single question | {s['n']} | {_f(s['p50'])} | {_f(s['p95'])} | {_f(s['mean'])} |", "",
                  f"p50 difference {_f(fu['delta_p50_ms'])} ms; {fu.get('resolved')} of {fu['n']} follow-ups were "
                  f"resolved into a standalone question; errors {fu['errors']}.", ""]
    return lines


def _md_index(res: dict) -> list[str]:
    ix, dc = res.get("index"), res.get("documents")
    if not ix and not dc:
        return []
    lines = ["## 索引 / Index (each step a `pilotqa` child process)", "",
             "| step | wall s | index update s | chunks in index | chunks embedded | sentences embedded | "
             "peak RSS MB | CPU s |", "|---|---|---|---|---|---|---|---|"]
    steps = []
    if ix:
        steps += [("cold build (empty vector cache)", ix["cold"]), ("no-change rebuild", ix["rebuild_no_change"])]
    if res.get("unshipped"):
        steps += [("cold build without shipped vectors (`PILOTQA_SHIPPED_VECTORS=0`)", res["unshipped"])]
    if dc:
        steps += [(f"docs add {dc['file']} ({dc['add'].get('document_chunks')} chunks)", dc["add"]),
                  (f"docs remove {dc['file']}", dc["remove"])]
    for name, r in steps:
        lines.append(f"| {name} | {_f(r['seconds'])} | {_f(r.get('index_update_s'))} | {_f(r.get('chunks'))} | "
                     f"{_f(r.get('embedded'))} | {_f(r.get('sentences_embedded'))} | {_f(r.get('peak_rss_mb'), 0)} | "
                     f"{_f(r.get('cpu_seconds'))} |")
    if ix:
        lines += ["", f"Documents: {', '.join(ix['documents'])} (copies, in a private documents folder). Peak RSS is "
                      "the child's own VmHWM; wall time of `docs add` includes loading the passage model."]
        facts = [(n, r) for n, r in steps if r.get("facts_seconds") is not None]
        if facts:
            lines += ["", "Fact extraction inside each build (the build's own `facts_seconds`; the fact cache of a new "
                          "index folder starts empty): " + "; ".join(
                              f"{n}: {_f(r['facts_seconds'], 2)} s, {r.get('facts')} facts, vectors shipped "
                              f"{r.get('shipped')}" for n, r in facts) + "."]
    return lines + [""]


def _md_cli(res: dict) -> list[str]:
    cl = res.get("cli")
    if not cl:
        return []
    ca, wc = cl["cold_ask"], cl["wrong_call"]
    lines = ["## 命令行 / Command line, cold (a fresh `pilotqa` process each, no server)", "",
             "| call | runs | p50 s | max s | each s |", "|---|---|---|---|---|",
             f"| `pilotqa ask QUESTION --json` | {ca['answered']}/{len(ca['runs'])} answered | {_f(ca['p50_s'], 2)} | "
             f"{_f(ca['max_s'], 2)} | {', '.join(_f(r['seconds'], 2) for r in ca['runs'])} |",
             f"| `pilotqa ask --pilot {wc['pilot']} …` | {wc['refused']}/{len(wc['runs'])} refused | "
             f"{_f(wc['p50_s'], 2)} | {_f(wc['max_s'], 2)} | {', '.join(_f(r['seconds'], 2) for r in wc['runs'])} |"]
    msg = next((r.get("message") for r in wc["runs"] if r.get("message")), None)
    if msg:
        lines += ["", f"The wrong call's message: {msg}"]
    return lines + [""]


def _md_naive(res: dict) -> list[str]:
    nv = res.get("naive")
    if not nv or nv.get("hit@5") is None:
        return []
    return ["## 朴素 LangChain 对照 / The naive LangChain peer", "",
            f"RecursiveCharacterTextSplitter(chunk_size={NAIVE_CHUNK}, chunk_overlap={NAIVE_OVERLAP}) over each whole "
            f"document → {nv['chunks']} chunks, FAISS IndexFlatIP over the same embedding model, dense top 5.", "",
            "| | hit@5 | questions | retrieval p50 ms | p95 ms |", "|---|---|---|---|---|",
            f"| naive | {_f(nv['hit@5'], 3)} | {nv['hit_n']} | {_f(nv['p50_ms'])} | {_f(nv['p95_ms'])} |",
            f"| PilotQA hybrid | {_f(nv['pilotqa_hit@5'], 3)} | {nv['hit_n']} | {_f(nv['pilotqa_p50_ms'])} | "
            f"{_f(nv['pilotqa_p95_ms'])} |", ""]


def _md_aggregate(res: dict) -> list[str]:
    ag = res.get("aggregate")
    if not ag or not ag.get("n"):
        return []
    return ["## 跨试点汇总 / Aggregate answers over all pilots (issue 20)", "",
            f"`PilotQA.ask` in this warm process, query-vector cache cleared before each call: {ag['questions']} dev "
            f"aggregate questions (eval/aggregate.jsonl and the issue's own example) × {ag['rounds']} rounds.", "",
            "| n | p50 ms | p95 ms | mean ms | errors | gold figure stated |", "|---|---|---|---|---|---|",
            f"| {ag['n']} | {_f(ag['p50'])} | {_f(ag['p95'])} | {_f(ag['mean'])} | {ag['errors']} | "
            f"{ag['gold_figure_stated']}/{ag['gold_checked']} |", ""] + (
        ["Stage medians (ms, the pipeline's own timings): "
         + ", ".join(f"{k} {v}" for k, v in ag["stages_ms"].items()), ""] if ag.get("stages_ms") else [])
