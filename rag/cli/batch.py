"""`pilotqa ask --batch IN.jsonl --out OUT.jsonl`: one answer per input line, in the stable batch format.

A bad line never costs the others: the file is read line by line as bytes, and a line that is not UTF-8, not
JSON, not an object, or has a missing, empty, non-string or repeated id, a bad question or a bad history is
reported with its line number and skipped. Everything is checked before the model loads. Answers go to
`OUT.partial`, one flushed line at a time, which becomes `OUT` only when the batch is done; Ctrl-C (or SIGTERM)
keeps the finished answers in `OUT.partial` and says so.
"""
from __future__ import annotations

import json
import os
import re
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path

MAX_HISTORY = 20   # earlier questions per line, as the HTTP API allows
_SURROGATE = re.compile(r"[\ud800-\udfff]")


class BatchError(ValueError):
    """A batch that cannot start (its files); the message is one line."""


@dataclass
class Item:
    line: int
    id: str
    question: str
    history: list[str] = field(default_factory=list)


def partial_path(out: Path) -> Path:
    return out.with_name(out.name + ".partial")


def check_paths(batch: str, out: str | None) -> tuple[Path, Path]:
    """The input and output paths, or a BatchError saying what is wrong with them."""
    if not out:
        raise BatchError("--batch 需要 --out OUT.jsonl / --batch needs --out OUT.jsonl")
    src, dst = Path(batch), Path(out)
    if src.is_dir():
        raise BatchError(f"--batch {src} 是一个目录，不是问题文件 / --batch {src} is a directory, not a file")
    if not src.is_file():
        raise BatchError(f"找不到问题文件 {src} / batch file not found: {src}")
    if not os.access(src, os.R_OK):
        raise BatchError(f"无法读取问题文件 {src} / cannot read the batch file {src}")
    if dst.is_dir():
        raise BatchError(f"--out {dst} 是一个目录：请给出文件路径，例如 {dst / 'answers.jsonl'} / "
                         f"--out {dst} is a directory: give a file path such as {dst / 'answers.jsonl'}")
    for target, what in ((dst, "--out"), (partial_path(dst), f"--out's {partial_path(dst).name}")):
        if _same_file(src, target):
            raise BatchError(f"{what} 与 --batch 是同一个文件，会覆盖问题 / {what} is the batch file itself: "
                             f"answers would overwrite the questions ({src})")
    parent = dst.parent if str(dst.parent) else Path(".")
    if not parent.is_dir():
        raise BatchError(f"--out 的目录不存在：{parent} / the folder of --out does not exist: {parent}")
    if not os.access(parent, os.W_OK):
        raise BatchError(f"无法写入目录 {parent} / cannot write to {parent}")
    return src, dst


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


# --------------------------------------------------------------------------- reading


def read_batch(src: Path) -> tuple[list[Item], list[tuple[int, str]]]:
    """The usable lines of `src`, and (line number, `path:line: reason`) for each bad line."""
    from rag.query.validate import QuestionError, clean_question  # the evaluation loads only for this command

    items: list[Item] = []
    problems: list[tuple[int, str]] = []
    first_line: dict[str, int] = {}
    with open(src, "rb") as fh:
        for n, raw in enumerate(fh, 1):
            if n == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]  # a UTF-8 byte-order mark (Windows editors)
            if not raw.strip():
                continue
            try:
                item = _parse(raw, n)
                clean_question(item.question)  # refused here, before the model loads (answering cleans it again)
                if item.id in first_line:
                    raise ValueError(f"id {item.id!r} 重复（第 {first_line[item.id]} 行已有）/ "
                                     f"duplicate id {item.id!r} (first on line {first_line[item.id]})")
            except (ValueError, QuestionError) as exc:
                problems.append((n, f"{src}:{n}: {exc}"))
                continue
            first_line[item.id] = n
            items.append(item)
    return items, problems


def _parse(raw: bytes, n: int) -> Item:
    """One line → an Item; ValueError with a "中文 / English" reason."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        shown = raw.decode("utf-8", "replace").strip()  # the line with its bad bytes replaced, to find it by
        shown = shown if len(shown) <= 60 else shown[:60] + "…"
        raise ValueError(f"不是有效的 UTF-8 文本（第 {exc.start + 1} 字节）/ invalid UTF-8 at byte {exc.start + 1}: "
                         f"{shown}") from None
    try:
        obj = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"JSON 格式错误 / bad JSON ({getattr(exc, 'msg', exc)}, column {getattr(exc, 'colno', '?')})") from None
    if not isinstance(obj, dict):
        raise ValueError(f"不是 JSON 对象 / not a JSON object (a {_kind(obj)})")
    if "id" not in obj:
        raise ValueError("缺少 id / missing id")
    qid = obj["id"]
    if not isinstance(qid, str):
        raise ValueError(f"id 必须是字符串 / id must be a string, not {_kind(qid)}")
    if not qid.strip():
        raise ValueError("id 为空 / empty id")
    if "question" not in obj:
        raise ValueError("缺少 question / missing question")
    question = obj["question"]
    if not isinstance(question, str):
        raise ValueError(f"question 必须是字符串 / question must be a string, not {_kind(question)}")
    history = obj.get("history")
    if history is None:
        history = []
    if not isinstance(history, list) or not all(isinstance(h, str) for h in history):
        raise ValueError("history 必须是之前问题的字符串列表 / history must be a list of earlier questions (strings)")
    if len(history) > MAX_HISTORY:
        raise ValueError(f"history 超过 {MAX_HISTORY} 条 / history has more than {MAX_HISTORY} questions")
    for what, value in (("id", qid), ("question", question), *(("history", h) for h in history)):
        if _SURROGATE.search(value):
            raise ValueError(f"{what} 含有无效字符（孤立代理项）/ {what} holds a lone surrogate (e.g. \\ud800)")
    return Item(n, qid, question, list(history))


def _kind(v) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(v), "number" if isinstance(v, (int, float)) else type(v).__name__)


# --------------------------------------------------------------------------- answering


def run_batch(open_backend, args, src: Path, out: Path, items: list[Item], bad_lines: list[int]) -> int:
    """Answer `items` into `out` (through `OUT.partial`); returns the exit status."""
    backend = open_backend()
    partial = partial_path(out)
    n_ok, failed = 0, []
    restore = _sigterm_as_interrupt()
    try:
        with open(partial, "w", encoding="utf-8", newline="\n") as fout:
            for i, item in enumerate(items, 1):
                try:
                    record = backend.record(item.question, item.id, history=item.history, pilot=args.pilot,
                                            k=args.k, answerer=args.answerer, mode=args.mode,
                                            doc=args.doc)
                except Exception as exc:  # noqa: BLE001 - one question's failure must not lose the others
                    if not _this_question_only(exc):
                        raise
                    failed.append(item.line)
                    print(f"警告 / warning: {src}:{item.line}: 未能回答 / not answered: {_reason(exc)}", file=sys.stderr)
                    continue
                fout.write(json.dumps(record, ensure_ascii=False) + "\n")
                fout.flush()  # a kill loses at most the answer being written
                n_ok += 1
                if sys.stderr.isatty():
                    print(f"\r{i}/{len(items)}", end="", file=sys.stderr, flush=True)
        if sys.stderr.isatty():
            print("\r", end="", file=sys.stderr)
    except KeyboardInterrupt:
        print(f"\n已中断：已完成的 {n_ok} 个回答保存在 {partial} / interrupted: the {n_ok} finished answers are "
              f"kept in {partial}", file=sys.stderr)
        return 130
    except Exception:
        if partial.exists():
            print(f"已完成的 {n_ok} 个回答保存在 {partial} / the {n_ok} finished answers are kept in {partial}",
                  file=sys.stderr)
        raise
    finally:
        restore()
    os.replace(partial, out)
    notes = []
    if bad_lines:
        notes.append(f"跳过 {len(bad_lines)} 行格式错误：第 {_numbers(bad_lines)} 行")
    if failed:
        notes.append(f"{len(failed)} 个问题未能回答：第 {_numbers(failed)} 行")
    shown = str(out).encode("utf-8", "backslashreplace").decode("utf-8")  # an undecodable file name prints too
    print(f"已回答 {n_ok} 个问题 → {shown}" + (f"（{'；'.join(notes)}）" if notes else ""))
    return 0


def _this_question_only(exc: Exception) -> bool:
    """Whether a failure belongs to one question (skip it) rather than to the run (stop, keep what is done):
    a question the pipeline refuses, an error reply to it, a bug it triggers; not a server gone away or a
    full disk."""
    from rag.serve.client import ServerError  # the HTTP client loads only for a command that asks

    if isinstance(exc, ServerError):
        return exc.status is not None and 400 <= exc.status < 500 and exc.status != 401
    return not isinstance(exc, OSError)


def _reason(exc: Exception) -> str:
    from rag.cli.errors import error_message  # noqa: E402 - kept beside its one use

    return error_message(exc)


def _numbers(lines: list[int], most: int = 10) -> str:
    shown = "、".join(map(str, lines[:most]))
    return shown + ("……" if len(lines) > most else "")


def _sigterm_as_interrupt():
    """While answering, SIGTERM (e.g. `timeout`) stops like Ctrl-C: the finished answers are kept."""
    def handler(signum, frame):
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread (an embedding caller): leave signals alone
        return lambda: None
    return lambda: signal.signal(signal.SIGTERM, previous)
