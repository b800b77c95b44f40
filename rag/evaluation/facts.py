"""Scoring the fact table against a gold table (`eval/facts*.jsonl`, eval/SCHEMA.md): precision and recall per
measure, a row right when its pilot, measure, kind, year and value all agree. Only the gold table's pilots are
scored (a dev table covers 15 pilots, the blind one the other 44)."""
from __future__ import annotations

import json
from pathlib import Path

from rag.evaluation.gold import EvalError

CORE = ("常住人口城镇化率", "户籍人口城镇化率", "常住人口", "面积")


def is_fact_table(path: str | Path) -> bool:
    """Whether a gold file is a fact table (rows with a measure, no question)."""
    try:
        with open(path, encoding="utf-8") as fh:
            first = next((json.loads(line) for line in fh if line.strip()), {})
    except (OSError, ValueError):
        return False
    return isinstance(first, dict) and "measure" in first and "question" not in first


def load_table(path: str | Path) -> list[dict]:
    rows = []
    for i, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            rows.append({"pilot": row["pilot"], "measure": row["measure"], "kind": row["kind"],
                         "year": int(row["year"]), "value": float(row["value"]), "text": row.get("text", ""),
                         "line": row.get("line")})
        except (ValueError, KeyError, TypeError) as exc:
            raise EvalError(f"{path}:{i}: not a fact-table row ({exc})") from None
    if not rows:
        raise EvalError(f"fact table is empty: {path}")
    return rows


def _key(row) -> tuple:
    return (row["pilot"], row["measure"], row["kind"], int(row["year"]))


def score(facts: list, gold: list[dict], *, blind: bool = False) -> dict:
    """{"by_measure": {measure: {precision, recall, n_gold, n_extracted, right}}, "core": {…}, "other": {…},
    "unscored": [measures the gold table does not cover],
    "misses": [...]} — misses (gold rows not extracted, extracted rows that are wrong) only when not blind."""
    pilots = {g["pilot"] for g in gold}
    gold_by = {_key(g): g for g in gold}
    scored = {g["measure"] for g in gold}  # a measure the gold table does not cover is not scored
    mine = {_key(f.to_dict()): f.to_dict() for f in facts if f.pilot in pilots and f.measure in scored}
    right = {k for k, f in mine.items() if k in gold_by and abs(f["value"] - gold_by[k]["value"]) < 1e-6}
    measures = sorted({k[1] for k in gold_by} | {k[1] for k in mine}, key=lambda m: (m not in CORE, m))

    def group(sel) -> dict:
        g = [k for k in gold_by if sel(k[1])]
        m = [k for k in mine if sel(k[1])]
        r = [k for k in right if sel(k[1])]
        return {"precision": len(r) / len(m) if m else None, "recall": len(r) / len(g) if g else None,
                "n_gold": len(g), "n_extracted": len(m), "right": len(r)}

    out = {"pilots": len(pilots), "by_measure": {m: group(lambda x, m=m: x == m) for m in measures},
           "unscored": sorted({f.measure for f in facts} - scored),
           "core": group(lambda x: x in CORE), "other": group(lambda x: x not in CORE)}
    if not blind:
        out["misses"] = [{"gold": gold_by.get(k), "extracted": mine.get(k)}
                         for k in sorted(set(gold_by) | set(mine), key=str) if k not in right]
    return out


def format_score(s: dict) -> str:
    lines = [f"{'指标':<14}{'精确率':>8}{'召回率':>8}{'金标':>6}{'抽取':>6}"]
    for m, v in list(s["by_measure"].items()) + [("核心四项", s["core"]), ("其他指标", s["other"])]:
        p = "—" if v["precision"] is None else f"{v['precision']:.3f}"
        r = "—" if v["recall"] is None else f"{v['recall']:.3f}"
        lines.append(f"{m:<14}{p:>8}{r:>8}{v['n_gold']:>6}{v['n_extracted']:>6}")
    return "\n".join(lines)
