"""Claim-level verification of a written answer (an LLM's), held to the extractive answer's standard.

The answer is split into claims (sentences). A claim stands only if it cites (`[n]`) a retrieved passage
that supports it:

- every figure it states (numbers, years, percentages) occurs in that passage, and a figure that no
  retrieved passage contains is always unsupported;
- every pilot or place it names is the passage's pilot or occurs in the passage;
- the passage covers the claim's content (IDF-weighted bigram share, `SUPPORT_BAR`).

A claim without a marker is unsupported (it cites nothing), unless it states nothing: a lead-in such as
"根据资料：" or a refusal sentence. Unsupported claims are removed from the shown text and listed with the
reason; kept markers are renumbered 1.. by first appearance.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Sequence

from rag.answer.citations import make_citation, original_span
from rag.answer.types import Citation, Unsupported
from rag.knowledge.gazetteer import stem
from rag.text import bigrams, candidate_sentences, contains_number, norm, numbers_in, strip_quote

_MARKER = re.compile(r"[\[［【]\s*(\d{1,3}(?:\s*[,，、]\s*\d{1,3})*)\s*[\]］】]")
# sentence ends; an ASCII "!" that opens Markdown image syntax ("![…](…)") ends nothing
_CLAIM_END = re.compile(r"(?<=[。！？；?;\n])|(?<=!)(?!\[)")
# The share of a claim's content bigrams its cited passage must contain. A verification bar (a paraphrase
# keeps most of its words; an invented clause does not), not an answer-selection weight.
SUPPORT_BAR = 0.6
_REFUSAL = re.compile(r"文件中?(?:并)?(?:没有|未|无)|资料中?(?:并)?(?:没有|未|无)|未(?:提及|提到|涉及|找到|包含)|"
                      r"没有(?:提及|提到|涉及|找到|相关|包含|给出)|无法回答|无法(?:确定|找到)|不包含|无相关|并未")
_LEAD_IN = re.compile(r"^(根据|依据|按照|据)[^，,：:]{0,30}?(工作方案要点|方案|资料|文件)[，,：:]?")
_FILLER = re.compile(r"^(根据|依据|按照|据)?(以上|上述|所给|提供的|检索到的)?(资料|材料|文件|内容|信息)?(显示|可知|来看|中)?"
                     r"[，,：:]?$|^(以下是|如下|总结|综上|具体如下|答案|回答)[：:，,]?$")


@dataclass
class Verified:
    text: str
    citations: list[Citation]
    unsupported: list[Unsupported] = field(default_factory=list)
    refusal: bool = False

    @property
    def grounded(self) -> bool:
        """Nothing the writer said was removed, and something cited is shown."""
        return bool(self.citations) and not self.unsupported


def is_refusal_text(text: str) -> bool:
    """Does the writer say the documents do not contain the answer? (judged on its first sentence)"""
    s = (text or "").strip()
    first = re.split(r"[。！？!?\n]", s, maxsplit=1)[0] if s else ""
    return bool(_REFUSAL.search(first)) or (len(s) <= 40 and bool(_REFUSAL.search(s)))


def split_claims(text: str) -> list[str]:
    """Sentences of a written answer; a marker written after the full stop ("…45%。[1]") stays with its
    sentence. (Markup is kept as text: the display escapes it, and such a claim cites nothing.)"""
    out: list[str] = []
    for piece in _CLAIM_END.split(text or ""):
        if not piece.strip():
            continue
        if out and not _MARKER.sub("", piece).strip():
            out[-1] = out[-1] + piece.strip()
        else:
            out.append(piece)
    return out


def _idf_weights(claim_n: str, idf: dict[str, float] | None) -> dict[str, float]:
    default = (max(idf.values()) * 0.5) if idf else 1.0
    return {b: (idf or {}).get(b, default) for b in bigrams(claim_n) if not re.search(r"\d", b)}


def support(claim_n: str, hay: str, idf: dict[str, float] | None = None) -> float:
    w = _idf_weights(claim_n, idf)
    if not w:
        return 1.0
    bg = bigrams(hay)
    return sum(v for b, v in w.items() if b in bg) / sum(w.values())


def _states_nothing(claim_n: str) -> bool:
    core = _MARKER.sub("", claim_n)
    return len(core) < 4 or bool(_FILLER.match(core))


def _best_quote(claim_n: str, chunk) -> str:
    """The passage sentence the claim rests on (the claim itself, in the passage's characters, when it is
    verbatim)."""
    hay = norm(chunk.text)
    if claim_n and claim_n in hay:
        return original_span(chunk.text, claim_n) or claim_n
    sents = candidate_sentences(chunk.text)
    if not sents:
        return strip_quote(chunk.text)[:80]
    cb = bigrams(claim_n)
    return max(sents, key=lambda s: (len(cb & bigrams(norm(s))) / (len(cb) or 1), -abs(len(norm(s)) - len(claim_n))))


def verify(text: str, passages: Sequence, *, idf: dict[str, float] | None = None,
           place_names: Sequence[str] = ()) -> Verified:
    """Check every claim of `text` against the passages it was written from (numbered 1..len)."""
    all_n = [norm(p.chunk.text) for p in passages]

    names = {norm(x) for x in place_names if len(norm(x)) >= 2}
    names |= {stem(x) for x in names if len(stem(x)) >= 2}
    places = sorted(names, key=len, reverse=True)
    numbers: dict[int, int] = {}
    cits: list[Citation] = []
    seen: set[tuple[int, str]] = set()
    shown: list[str] = []
    bad: list[Unsupported] = []
    refusal = is_refusal_text(text)
    for claim in split_claims(text):
        body = _MARKER.sub("", claim).strip()
        claim_n = norm(body)
        # what the claim says, its subject's names aside (the names are checked against the passage below)
        said_n = _LEAD_IN.sub("", claim_n)
        for pl in places:
            said_n = said_n.replace(pl, "")
        refs = [int(x) for m in _MARKER.finditer(claim) for x in re.split(r"[,，、]", m.group(1)) if x.strip()]
        if _states_nothing(claim_n) or (refusal and is_refusal_text(body) and not numbers_in(claim_n)):
            shown.append(body if not refs else claim)
            continue
        figures = [x for x in numbers_in(claim_n)]
        orphan = [x for x in figures if not any(contains_number(h, x) for h in all_n)]
        if orphan:
            bad.append(Unsupported(body, f"数字 {'、'.join(orphan)} 不在任何检索到的原文中"))
            continue
        valid = [k for k in refs if 1 <= k <= len(passages)]
        if not refs:
            bad.append(Unsupported(body, "没有标注来源"))
            continue
        if not valid:
            bad.append(Unsupported(body, f"引用的编号 {'、'.join(map(str, refs))} 不存在"))
            continue
        kept: list[int] = []
        reason = ""
        for k in dict.fromkeys(valid):
            chunk = passages[k - 1].chunk
            hay = all_n[k - 1]
            missing = [x for x in figures if not contains_number(hay, x)]
            if missing:
                reason = f"数字 {'、'.join(missing)} 不在所引原文 [{k}] 中"
                continue
            foreign = [pl for pl in places if pl in claim_n and pl not in hay and pl not in norm(chunk.pilot)]
            if foreign:
                reason = f"“{foreign[0]}”不在所引原文 [{k}] 中"
                continue
            sup = support(said_n or claim_n, hay, idf)
            if sup < SUPPORT_BAR:
                reason = f"所引原文 [{k}] 不支持这句话（覆盖 {sup:.0%}）"
                continue
            n = numbers.setdefault(k, len(numbers) + 1)
            if n not in kept:
                kept.append(n)
            quote = _best_quote(claim_n, chunk)
            cit = make_citation(n, chunk, quote)
            if cit and (n, norm(cit.quote)) not in seen:
                seen.add((n, norm(cit.quote)))
                cits.append(cit)
        if not kept:
            bad.append(Unsupported(body, reason or "所引原文不支持这句话"))
            continue
        end = body[-1] if body and body[-1] in "。！？；!?;" else ""
        core = body[:-1] if end else body
        shown.append(core + "".join(f"[{n}]" for n in kept) + (end or "。"))
    clean = re.sub(r"[ \t]+([，。；！？])", r"\1", "".join(shown)).strip()
    return Verified(clean, cits, bad, refusal)


__all__ = ["Verified", "verify", "split_claims", "is_refusal_text", "support", "SUPPORT_BAR"]
