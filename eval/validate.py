#!/usr/bin/env python3
"""Check an evaluation file (eval/SCHEMA.md) against the corpus, mechanically.

    python eval/validate.py eval/test.jsonl            # counts, and problems by id and kind only
    python eval/validate.py eval/test.jsonl --show     # problems with the offending text (for the writer)

Standalone on purpose: it parses data/pilots-batch2.txt itself and imports nothing from `rag`, so a blind
writer can run it without reading the project's code, and the developers can run it without seeing the
blind questions (without --show it prints no question, answer or evidence text). Exit 1 on any problem.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import unicodedata
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "data" / "pilots-batch2.txt"
TYPES = {"number", "fact", "list", "cross", "unanswerable", "overview", "count",
         "followup", "compare", "followup_unanswerable", "aggregate"}
FIELDS = {"id", "question", "answers", "pilot", "section", "evidence", "type"}
OPTIONAL = {"tags", "history", "within", "op", "result", "place", "doc"}
# A fact-table row (eval/facts*.jsonl): one figure a plan states
FACT_FIELDS = {"pilot", "measure", "kind", "year", "value", "unit", "text", "line", "note"}
CORE_UNITS = {"常住人口城镇化率": "%", "户籍人口城镇化率": "%", "常住人口": "万人", "面积": "平方公里"}
NUM = re.compile(r"\d+(?:\.\d+)?")
TOP = re.compile(r"^[一二三四五六七八九十]+、")


def norm(s: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", s or ""))


def parse_corpus(path: Path = CORPUS):
    """pilot name -> (first line, end line, [(line index, top heading)]) — 0-based line indices."""
    lines = path.read_text(encoding="utf-8").split("\n")
    starts = []
    for i, raw in enumerate(lines):
        t = raw.strip()
        if ("国家新型城镇化" in t and t.replace(" ", "").endswith("工作方案要点") and not t.startswith("|")
                and not t.startswith("第二批")):
            starts.append((t.split("国家新型城镇化")[0].strip(), i))
    pilots = {}
    for k, (name, s) in enumerate(starts):
        e = starts[k + 1][1] if k + 1 < len(starts) else len(lines)
        heads = [(j, lines[j].strip()) for j in range(s + 1, e) if TOP.match(lines[j].strip())]
        pilots[name] = (s, e, heads)
    return lines, pilots


LINES, PILOTS = parse_corpus()
NLINES = [norm(x) for x in LINES]


def section_of(name: str, i: int) -> str:
    sec = "引言"
    for j, h in PILOTS[name][2]:
        if j <= i:
            sec = h
    return sec


def evidence_lines(name: str, section: str, ev: str) -> list[int]:
    s, e, _ = PILOTS[name]
    ev = norm(ev)
    return [i for i in range(s + 1, e) if ev in NLINES[i] and section_of(name, i) == section]


def pilot_text(name: str, within: str | None = None) -> str:
    s, e, _ = PILOTS[name]
    return "".join(NLINES[i] for i in range(s, e) if not within or within in section_of(name, i))


def _as_list(v):
    return v if isinstance(v, list) else ([] if v is None else [v])


def check_single(row, pilot, section, ev, answers, problems, kind="single"):
    if not (isinstance(pilot, str) and pilot in PILOTS):
        problems.append(("unknown pilot", repr(pilot)))
        return
    if not (isinstance(section, str) and isinstance(ev, str)):
        problems.append(("section/evidence must be strings", ""))
        return
    heads = {h for _, h in PILOTS[pilot][2]} | {"引言"}
    if section not in heads:
        problems.append(("section is not a top-level heading of the pilot", section))
        return
    if not 10 <= len(ev) <= 60:
        problems.append(("evidence length not 10-60", ev))
    hits = evidence_lines(pilot, section, ev)
    if not hits:
        problems.append(("evidence not on one line of the pilot under that section", ev))
        return
    s, e, _ = PILOTS[pilot]
    for a in answers:
        na = norm(a)
        if kind == "overview":
            if not any(na in norm(h) for _, h in PILOTS[pilot][2]):
                problems.append(("overview answer is not a top-level heading title", a))
            continue
        if not any(na in NLINES[j] for i in hits for j in range(max(s + 1, i - 3), min(e, i + 4))):
            problems.append(("answer not within ±3 lines of the evidence", a))


def check_row(row: dict) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    missing = FIELDS - set(row)
    extra = set(row) - FIELDS - OPTIONAL
    if missing or extra:
        problems.append(("fields", f"missing {sorted(missing)} extra {sorted(extra)}"))
        return problems
    t = row["type"]
    if t not in TYPES:
        return [("bad type", repr(t))]
    if not isinstance(row["question"], str) or not row["question"].strip():
        return [("empty question", "")]
    answers = row["answers"]
    if not isinstance(answers, list) or not all(isinstance(a, str) for a in answers):
        return [("answers must be a list of strings", "")]
    if "history" in row:
        h = row["history"]
        if not isinstance(h, list) or not all(isinstance(x, str) and x.strip() for x in h):
            problems.append(("history must be a list of non-empty strings", ""))
    if t.startswith("followup") and not row.get("history"):
        problems.append(("a follow-up needs a history", ""))
    pilot, section, ev = row["pilot"], row["section"], row["evidence"]
    if "doc" in row and t not in ("unanswerable", "followup_unanswerable"):
        return problems + check_doc(row)
    if "doc" in row and not doc_lines(row["doc"]):
        problems.append(("unknown doc", repr(row["doc"])))
    if t in ("unanswerable", "followup_unanswerable"):
        if answers:
            problems.append(("unanswerable must have answers []", ""))
        if section is not None or ev is not None:
            problems.append(("unanswerable must have section/evidence null", ""))
        if pilot is not None and not all(p in PILOTS for p in _as_list(pilot)):
            problems.append(("unknown pilot", repr(pilot)))
        return problems
    if t == "count":
        if len(answers) != 1 or not answers[0].strip().isdigit():
            problems.append(("count answers must be one number in digits", repr(answers)))
        if pilot is not None and pilot not in PILOTS:
            problems.append(("unknown pilot", repr(pilot)))
        return problems
    if t == "cross":
        ps, ss, es = _as_list(pilot), _as_list(section), _as_list(ev)
        if not (isinstance(pilot, list) and len(ps) == len(ss) == len(es) >= 2):
            return problems + [("cross needs parallel pilot/section/evidence lists of 2+", "")]
        if len(set(ps)) != len(ps):
            problems.append(("duplicate pilots", ""))
        terms = [norm(a) for a in answers if norm(a)]
        if not terms:
            return problems + [("cross answers must hold the qualifying term(s)", "")]
        within = row.get("within")
        for p, s, e in zip(ps, ss, es):
            if p not in PILOTS:
                problems.append(("unknown pilot", p))
                continue
            if not any(tm in norm(e) for tm in terms):
                problems.append(("evidence lacks every term", f"{p}: {e}"))
            if not evidence_lines(p, s, e):
                problems.append(("evidence not found under that section", f"{p} / {s}: {e}"))
        actual = sorted(n for n in PILOTS if any(tm in pilot_text(n, within) for tm in terms))
        if sorted(ps) != actual:
            miss = sorted(set(actual) - set(ps))
            more = sorted(set(ps) - set(actual))
            problems.append(("pilot list incomplete or too long", f"missing {miss}; not containing a term {more}"))
        return problems
    if t == "aggregate":
        ps, ss, es = _as_list(pilot), _as_list(section), _as_list(ev)
        if not (isinstance(pilot, list) and len(ps) == len(ss) == len(es) == len(answers)):
            return problems + [("aggregate needs parallel pilot/section/evidence/answers lists", "")]
        if not ps and not row.get("result"):
            problems.append(("aggregate: no pilot and no result", ""))
        if "result" in row and not (isinstance(row["result"], str) and NUM.search(row["result"])):
            problems.append(("aggregate result must be a string holding a number", repr(row.get("result"))))
        for p, s_, e, a in zip(ps, ss, es, answers):
            check_single(row, p, s_, e, [a], problems)
        return problems
    if t == "compare":
        ps, ss, es = _as_list(pilot), _as_list(section), _as_list(ev)
        if not (isinstance(pilot, list) and len(ps) == len(ss) == len(es) == len(answers) >= 2):
            return problems + [("compare needs parallel pilot/section/evidence/answers lists of 2+", "")]
        if all(a == "" for a in answers):
            problems.append(("compare: no pilot answered", ""))
        for p, s, e, a in zip(ps, ss, es, answers):
            if a == "" and e == "" and s == "":
                if p not in PILOTS:
                    problems.append(("unknown pilot", p))
                continue
            check_single(row, p, s, e, [a], problems)
        return problems
    if t == "list" and not 2 <= len(answers) <= 4:
        problems.append(("list needs 2-4 answers", ""))
    if t != "list" and not answers:
        problems.append(("needs at least one answer", ""))
    check_single(row, pilot, section, ev, answers, problems, kind="overview" if t == "overview" else "single")
    return problems


def doc_lines(doc) -> list[str]:
    """The normalised lines of an evaluation document (eval/<folder>/<name>.txt), [] if there is none."""
    if not isinstance(doc, str) or ".." in doc:
        return []
    path = ROOT / "eval" / doc
    return [norm(x) for x in path.read_text(encoding="utf-8").split("\n")] if path.is_file() else []


def check_doc(row: dict) -> list[tuple[str, str]]:
    """A question about an added document: evidence on one line of it, answers within 3 lines."""
    lines = doc_lines(row["doc"])
    if not lines:
        return [("unknown doc", repr(row["doc"]))]
    if row["pilot"] is not None:
        return [("a document question has pilot null", "")]
    ev = row["evidence"]
    if not (isinstance(ev, str) and 6 <= len(ev) <= 60):
        return [("evidence must be a string of 6-60 characters", repr(ev))]
    hits = [i for i, x in enumerate(lines) if norm(ev) in x]
    if not hits:
        return [("evidence not on one line of the document", ev)]
    if row["type"] == "list" and not 2 <= len(row["answers"]) <= 6:
        return [("list needs 2-6 answers", "")]
    return [("answer not within ±3 lines of the evidence", a) for a in row["answers"]
            if not any(norm(a) in lines[j] for i in hits for j in range(max(0, i - 3), min(len(lines), i + 4)))]


def check_fact(row: dict) -> list[tuple[str, str]]:
    """A fact-table row: its figure is on its line, inside its pilot, and its value reads the figure."""
    missing, extra = FACT_FIELDS - set(row), set(row) - FACT_FIELDS - {"province", "qualifier", "chunk_id"}
    if missing or extra:
        return [("fields", f"missing {sorted(missing)} extra {sorted(extra)}")]
    problems = []
    p = row["pilot"]
    if p not in PILOTS:
        return [("unknown pilot", repr(p))]
    if row["kind"] not in ("base", "target"):
        problems.append(("kind must be base or target", repr(row["kind"])))
    if not isinstance(row["year"], int) or not 2000 <= row["year"] <= 2035:
        problems.append(("year must be an integer year", repr(row["year"])))
    if not isinstance(row["value"], (int, float)) or isinstance(row["value"], bool):
        problems.append(("value must be a number", repr(row["value"])))
    want = CORE_UNITS.get(row["measure"])
    if want and row["unit"] != want:
        problems.append(("core measure in the wrong unit", f"{row['measure']}: {row['unit']} (want {want})"))
    line = row["line"]
    s, e, _ = PILOTS[p]
    if not isinstance(line, int) or not s + 1 <= line - 1 < e:
        return problems + [("line is not inside the pilot", repr(line))]
    text = norm(row["text"])
    if not text or text not in NLINES[line - 1]:
        problems.append(("text is not on that line", f"{line}: {row['text']}"))
    elif isinstance(row["value"], (int, float)):
        nums = [float(x) for x in NUM.findall(text)]
        scales = (1, 1e4, 1e-4, 1e2, 1e-2, 1e8, 1e-8)
        if nums and not any(abs(n * k - row["value"]) <= 1e-6 * max(1.0, abs(row["value"])) for n in nums for k in scales):
            problems.append(("value does not read the figure", f"{row['value']} from {row['text']}"))
    return problems


def validate(path: Path) -> tuple[list[dict], list[tuple[int, str, str, str]]]:
    rows, problems = [], []
    seen: set[str] = set()
    for ln, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw)
        except json.JSONDecodeError as exc:
            problems.append((ln, "?", "bad JSON", str(exc)))
            continue
        rid = str(row.get("id", f"<line {ln}>") if isinstance(row, dict) else f"<line {ln}>")
        if not isinstance(row, dict):
            problems.append((ln, rid, "not an object", ""))
            continue
        if rid in seen:
            problems.append((ln, rid, "duplicate id", ""))
        seen.add(rid)
        rows.append(row)
        if "question" not in row and "measure" in row:  # a fact-table file
            problems.extend((ln, rid, kind, detail) for kind, detail in check_fact(row))
            continue
        problems.extend((ln, rid, kind, detail) for kind, detail in check_row(row))
    return rows, problems


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file")
    ap.add_argument("--show", action="store_true", help="print the offending text of each problem")
    args = ap.parse_args(argv)
    path = Path(args.file)
    if not path.is_file():
        print(f"no such file: {path}", file=sys.stderr)
        return 2
    rows, problems = validate(path)
    types = Counter(r.get("type", "fact-row") for r in rows)
    tags = Counter(t for r in rows for t in (r.get("tags") or []))
    covered = {p for r in rows for p in _as_list(r.get("pilot")) if p}
    print(f"{path}: {len(rows)} items; types {dict(sorted(types.items()))}")
    print(f"tags {dict(sorted(tags.items()))}; pilots covered {len(covered & set(PILOTS))}/{len(PILOTS)}")
    for ln, rid, kind, detail in problems:
        print(f"  line {ln} ({rid}): {kind}" + (f": {detail}" if args.show and detail else ""))
    print("OK" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
