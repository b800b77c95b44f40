"""Why a refusal refused: the constraint the closest sentence failed (its year, qualifier, measure, place or the
kind of answer), said in the answer, so a user who sees a likely-looking sentence under 最接近的内容 knows why it
was not taken as the answer — and can ask again differently."""
from __future__ import annotations

from rag.query.info import QuestionInfo


def refusal_reason(info: QuestionInfo, closest) -> str:
    """One sentence on why `closest` (a judged candidate) is not the answer; "" when nothing is worth saying."""
    gate = closest.gate
    years = "、".join(f"{y}年" for y in info.years)
    if gate == "year":
        stated = "、".join(f"{y}年" for y in sorted(closest.years))
        if info.years and not stated:
            return f"（未作为答案：文件没有写明{years}的情况。）"
        if info.years:
            return f"（未作为答案：最接近的内容说的是{stated}，不是{years}。）"
        return "（未作为答案：最接近的内容说的是另一个时期（基期或目标年）。）"
    if gate == "qualifier":
        asked = info.qualifier or "所问口径"
        return f"（未作为答案：最接近的内容是另一种口径，不是{asked}的。）"
    if gate == "measure":
        return f"（未作为答案：最接近的内容说的不是{info.measure or '所问的指标'}本身。）"
    if gate == "type":
        return "（未作为答案：最接近的内容没有所问的数字或金额。）"
    if gate in ("pilot", "place"):
        return "（未作为答案：最接近的内容说的是别的地方。）"
    if gate is None and info.asks_figure and getattr(closest, "x", None) is not None:
        return "（未作为答案：最接近的内容与问题所问的事项不够吻合。）"
    return ""
