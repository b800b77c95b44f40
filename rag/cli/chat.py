"""`pilotqa chat`: a conversation in the terminal, with follow-up questions.

Each question is sent with the earlier questions of the conversation (`history`), so a bare "那<口径>的呢？" is
understood from what came before; the answer shows that understanding as its 理解为 line. Line editing and
recall come from readline. Commands: /new (start over), /pilot NAME (only that pilot; /pilot alone: all),
/help, /quit (or Ctrl-D). Ctrl-C clears the line being typed or stops the answer being computed.
"""
from __future__ import annotations

import re
import sys

from rag.cli.output import print_answer

HELP = ("命令 / commands:  /new 重新开始对话 (start over)   /pilot 名称 只问这个试点，/pilot 不带名称则不限 "
        "(scope to a pilot; alone: all pilots)   /help 帮助   /quit 退出 (or Ctrl-D)")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
ALL = ("全部", "all")   # /pilot 全部: every pilot again


def run_chat(backend, args, out=None, read=input) -> int:
    """The REPL over `backend` (`rag.client.Local` or `Remote`); returns the exit status."""
    out = out or sys.stdout
    interactive = sys.stdin.isatty()
    if interactive:
        try:
            import readline  # noqa: F401 - importing it gives input() line editing and recall
        except ImportError:  # pragma: no cover - not on every platform
            pass
    history: list[str] = []
    scope: str | None = None if args.pilot in (None, "", *ALL) else backend.resolve_pilot(args.pilot)
    if interactive:
        print("试点问答 · 对话模式（追问会结合前面的问题理解）。" + HELP, file=out)
    while True:
        prompt = ((f"[{scope}] " if scope else "") + "问 › ") if interactive else ""
        try:
            line = read(prompt)
        except EOFError:
            if interactive:
                print(file=out)
            return 0
        except KeyboardInterrupt:
            print(file=out)
            continue
        except UnicodeDecodeError:
            print("错误 / error: 输入不是有效的 UTF-8 文本 / the input is not valid UTF-8", file=out)
            continue
        line = line.strip()
        if not line:
            continue
        if line.startswith("/"):
            cmd, _, arg = line[1:].partition(" ")
            cmd, arg = cmd.lower(), arg.strip()
            if cmd in ("quit", "exit", "q"):
                return 0
            if cmd == "new":
                history.clear()
                print("已开始新的对话。" + (f"（仍只问 {scope}；/pilot 取消）" if scope else ""), file=out)
            elif cmd == "pilot":
                scope = _scope(backend, arg, scope, out)
            elif cmd == "help":
                print(HELP, file=out)
            else:
                print(f"未知命令 /{cmd} / unknown command. " + HELP, file=out)
            continue
        if _SURROGATE.search(line):
            print("错误 / error: 输入含有无效字符 / the input holds invalid characters", file=out)
            continue
        try:
            answer = backend.ask(line, history=history, pilot=scope, k=args.k, answerer=args.answerer,
                                 mode=args.mode)
        except KeyboardInterrupt:
            print("（已取消 / cancelled）", file=out)
            continue
        except Exception as exc:  # noqa: BLE001 - a failed question must not end the conversation
            print(f"错误 / error: {_one_line(exc)}", file=out)
            continue
        print_answer(answer, out)
        print(file=out)
        history.append(line)


def _scope(backend, name: str, current: str | None, out) -> str | None:
    if not name or name in ALL:
        print("不限试点。", file=out)
        return None
    try:
        pilot = backend.resolve_pilot(name)
    except Exception as exc:  # noqa: BLE001 - an unknown name: say so, keep the current scope
        print(f"错误 / error: {_one_line(exc)}", file=out)
        return current
    print(f"只问 {pilot}。", file=out)
    return pilot


def _one_line(exc: Exception) -> str:
    from rag.cli.errors import error_message  # noqa: E402 - kept beside its one use

    return error_message(exc)
