"""Prompt templates: text files in `prompts/`, filled with str.replace (braces in text are harmless)."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

from rag.answer.types import LLMError

PROMPTS_DIR = Path(__file__).resolve().parent.parent.parent / "prompts"
_DELIM = re.compile(r"<{3,}|>{3,}|＜{3,}|＞{3,}|《{3,}|》{3,}")


def defang(s: str) -> str:
    """Neutralise the delimiter strings if they appear inside user text or passages."""
    return _DELIM.sub(lambda m: "‹" * len(m.group()) if m.group()[0] in "<＜《" else "›" * len(m.group()), s or "")


def load_prompt(name: str, prompts_dir: str | Path | None = None) -> str:
    """Text of `prompts/<name>` (UTF-8). `name` may omit `.txt`; a custom folder falls back to ours."""
    d = Path(prompts_dir) if prompts_dir else PROMPTS_DIR
    p = d / name
    if not p.suffix:
        p = p.with_suffix(".txt")
    if not p.is_file() and prompts_dir:
        p = PROMPTS_DIR / p.name
    try:
        return p.read_text(encoding="utf-8")
    except OSError as exc:
        raise LLMError(f"找不到提示词文件 {p}（prompt file missing）") from exc


def format_passages(passages: Sequence) -> str:
    blocks = []
    for i, p in enumerate(passages, start=1):
        c = p.chunk
        blocks.append(f"<<<资料 {i}>>>\n试点：{defang(c.pilot)}\n章节：{defang(c.section)}\n"
                      f"{defang(c.text)}\n<<<资料结束>>>")
    return "\n\n".join(blocks)


def build_messages(question: str, passages: Sequence, prompts_dir: str | Path | None = None) -> tuple[str, str]:
    """(system, user) prompt texts for answering `question` from `passages`."""
    system = load_prompt("answer_system.txt", prompts_dir)
    user_t = load_prompt("answer_user.txt", prompts_dir)
    user = user_t.replace("{passages}", format_passages(passages)).replace("{n}", str(len(passages)))
    user = user.replace("{question}", defang(question.strip()))
    return system, user
