"""Pilot names as users type them: a name, short form or alias → the pilot, and the closest pilots to a name
that is none of them (edit distance on the names and on their pinyin).

Kept apart from `rag.retrieval` (which re-exports both) so that the CLI can check `--pilot` against the index
folder's name lists before loading anything: this module imports only `difflib` and the text helpers, not
numpy or langchain.
"""
from __future__ import annotations

import difflib

from rag.knowledge.gazetteer import pinyin_of
from rag.text import norm, to_simplified


def resolve_pilot(name: str, aliases: dict[str, list[str]], gazetteer: dict | None = None) -> str:
    """A pilot name or alias → its full name; unknown → ValueError naming the closest pilots (by edit
    distance on the names and on their pinyin)."""
    key = norm(to_simplified(name or ""))
    for pilot, names in aliases.items():
        if key == norm(pilot) or key in (norm(a) for a in names):
            return pilot
    sugg = suggest_pilots(name, aliases, gazetteer)
    msg = f"unknown pilot {name!r}"
    if sugg:
        msg += "; did you mean: " + ", ".join(sugg)
    err = ValueError(msg)
    err.suggestions = sugg  # type: ignore[attr-defined]
    raise err


def suggest_pilots(name: str, aliases: dict[str, list[str]], gazetteer: dict | None = None, n: int = 5) -> list[str]:
    """The pilots whose names (or their pinyin) are closest to `name`, best first."""
    key = norm(to_simplified(name or "")).lower()
    scored: dict[str, float] = {}
    for pilot, names in aliases.items():
        for a in [pilot, *names]:
            r = difflib.SequenceMatcher(None, key, norm(a).lower()).ratio()
            scored[pilot] = max(scored.get(pilot, 0.0), r)
    info = (gazetteer or {}).get("pilots") or {}
    key_py = pinyin_of(key) if key and not key.isascii() else key
    if key_py:
        for pilot, meta in info.items():
            for py in meta.get("pinyin") or ():
                r = difflib.SequenceMatcher(None, key_py, py).ratio()
                scored[pilot] = max(scored.get(pilot, 0.0), r * 0.95)
    best = sorted(scored, key=lambda p: -scored[p])
    return [p for p in best if scored[p] >= 0.3][:n]
