"""What the tests count in the corpus themselves (never taken from an answer)."""
from __future__ import annotations

from rag.text import norm


def pilot_texts(corpus) -> dict[str, str]:
    """Each pilot's whole text — heading, intro, section titles and paragraphs — normalised (`rag.text.norm`)."""
    out = {}
    for p in corpus.pilots:
        parts = [p.heading, *(x.text for x in p.intro)]
        for _, sec in p.iter_sections():
            parts += [sec.title, *(x.text for x in sec.paragraphs)]
        out[p.name] = norm("".join(parts))
    return out
