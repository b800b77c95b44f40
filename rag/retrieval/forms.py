"""The JSON form of a retrieval (`/api/search`, `pilotqa search --json`): one form wherever it is shown."""
from __future__ import annotations


def passage_dict(p) -> dict:
    """A retrieved `Passage` in the `/api/search` form (what `search --json` prints)."""
    c = p.chunk
    return {"rank": p.rank, "chunk_id": c.id, "pilot": c.pilot, "section": c.section, "start_line": c.start_line,
            "end_line": c.end_line, "score": round(float(p.score), 6),
            "scores": {k: round(float(v), 6) for k, v in (p.scores or {}).items()}, "text": c.text}


def search_dict(r) -> dict:
    """A `Retrieval` in the `/api/search` form."""
    return {"question": r.question, "mode": r.mode, "pilots": list(r.pilots), "is_cross": bool(r.is_cross),
            "unknown_place": getattr(r, "unknown_place", None), "passages": [passage_dict(p) for p in r.passages],
            "timings_ms": {k: round(float(v), 2) for k, v in (r.timings_ms or {}).items()}}
