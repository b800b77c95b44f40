"""Whether a text can be taken as a question at all: checked before anything heavy loads, with a message for
the user (Chinese) when it cannot."""
from __future__ import annotations

import re
import unicodedata

MAX_QUESTION_CHARS = 500
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\ufeff]")


class QuestionError(ValueError):
    """A question we cannot take as it is; the message is for the user (Chinese)."""


def clean_question(question: str | None) -> str:
    """Strip control characters and surrounding space; refuse what cannot be a question."""
    if question is None:
        raise QuestionError("请输入问题。")
    q = _CONTROL.sub("", str(question)).strip()
    q = re.sub(r"\s+", " ", q)
    if not q:
        raise QuestionError("请输入问题。")
    if len(q) > MAX_QUESTION_CHARS:
        raise QuestionError(f"问题太长（{len(q)} 字）。请精简到 {MAX_QUESTION_CHARS} 字以内，只保留要问的内容。")
    if not any(unicodedata.category(ch)[0] in "LN" for ch in q):
        raise QuestionError("问题中没有可检索的文字（只有标点或表情符号）。请用文字描述您的问题。")
    return q
