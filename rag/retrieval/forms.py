"""The JSON form of a retrieval (`/api/search`, `pilotqa search --json`): one form wherever it is shown."""
from __future__ import annotations

import csv
import io


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


FACT_FIELDS = ("pilot", "province", "measure", "qualifier", "kind", "year", "value", "unit", "text", "line",
               "chunk_id", "note")


def fact_dict(f) -> dict:
    """A fact-table row in the published schema (`pilotqa facts --json`, `/api/facts`)."""
    return {k: getattr(f, k) for k in FACT_FIELDS}


def facts_csv(facts) -> str:
    """The table as CSV (UTF-8 with a BOM, so that spreadsheet programs read the Chinese right)."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(FACT_FIELDS)
    for f in facts:
        w.writerow([getattr(f, k) for k in FACT_FIELDS])
    return "\ufeff" + buf.getvalue()
