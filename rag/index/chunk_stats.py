"""Statistics of the indexed chunks that the retriever derives once at start-up and the answer judgment reads:
the years that govern a dash-led goal, the bigram IDF of lexical coverage, and the chunks' simplified texts."""
from __future__ import annotations

import math

from rag.text import bigrams, candidate_sentences, norm, to_simplified, years_in


def simplified_texts(chunks) -> dict[str, list[str]]:
    """Each chunk's text and its own heading, simplified (opencc) and normalised, in chunk order: what key terms
    and descriptions are matched against. The build stores them (`search_texts.json`), because the opencc pass
    is the slowest part of a question process's start-up; an older index gets them computed at load."""
    return {"texts": [norm(to_simplified(c.text)) for c in chunks],
            "sections": [norm(to_simplified(c.section.split(" > ")[-1])) for c in chunks]}


def lead_years(chunks) -> dict[str, frozenset]:
    """The years that govern a dash-led goal ("——集镇人口达 6.6 万人…"): those of the last sentence stating a
    year in the paragraph before the goals ("到 2020 年，将板桥镇打造为…"), in the same section of the same pilot."""
    out: dict[str, frozenset] = {}
    lead: frozenset = frozenset()
    prev_key = None
    for c in chunks:
        key = (c.pilot, c.top_section)
        if key != prev_key:
            lead, prev_key = frozenset(), key
        if c.text.lstrip().startswith("——"):
            if lead:
                out[c.id] = lead
            continue
        for s in reversed(candidate_sentences(c.text)):
            ys = years_in(norm(s))
            if ys:
                lead = frozenset(ys)
                break
        else:
            lead = frozenset()
    return out


def document_years(chunks) -> dict[str, frozenset]:
    """Every year each pilot or document states anywhere: a year none of its sentences names is one it says
    nothing about, whatever a sentence without a year says."""
    out: dict[str, set] = {}
    for c in chunks:
        out.setdefault(c.pilot, set()).update(years_in(norm(c.text)))
    return {p: frozenset(ys) for p, ys in out.items()}


def bigram_idf(texts: list[str]) -> dict[str, float]:
    """log((N+1)/(df+0.5)) per character bigram over the chunks: common bigrams like 城镇 weigh little."""
    df: dict[str, int] = {}
    for t in texts:
        for b in bigrams(t):
            df[b] = df.get(b, 0) + 1
    n = len(texts)
    return {b: math.log((n + 1) / (c + 0.5)) for b, c in df.items()}
