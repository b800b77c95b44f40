"""Validation of the QA gold set eval/gold.jsonl against the corpus.

Standalone: parses data/pilots-batch2.txt itself (does not import the rag package).
All text comparisons use NFKC + whitespace removal.
"""
import json
import re
import unicodedata
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "data" / "pilots-batch2.txt"
GOLD = ROOT / "eval" / "gold.jsonl"

FIELDS = {"id", "question", "answers", "pilot", "section", "evidence", "type"}
TYPES = {"number", "fact", "list", "cross", "unanswerable"}
# share of each type: (min, max); spec target ~40/25/12/10/13 %
MIX = {
    "number": (0.30, 0.50),
    "fact": (0.18, 0.35),
    "list": (0.08, 0.20),
    "cross": (0.07, 0.16),
    "unanswerable": (0.09, 0.20),
}
TOP = re.compile(r"^[一二三四五六七八九十]+、")


def norm(s):
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", s))


def parse_corpus():
    lines = CORPUS.read_text(encoding="utf-8").split("\n")
    starts = []
    for i, l in enumerate(lines):
        t = l.strip()
        if ("国家新型城镇化" in t and t.endswith("工作方案要点")
                and not t.startswith("|") and t != "第二批国家新型城镇化综合试点 工作方案要点"):
            starts.append((t.split("国家新型城镇化")[0].strip(), i))
    pilots = {}
    for k, (name, s) in enumerate(starts):
        e = starts[k + 1][1] if k + 1 < len(starts) else len(lines)
        heads = [(j, lines[j].strip()) for j in range(s + 1, e) if TOP.match(lines[j].strip())]
        pilots[name] = (s, e, heads)
    return lines, pilots


LINES, PILOTS = parse_corpus()
NLINES = [norm(l) for l in LINES]
PTEXT = {n: norm("\n".join(LINES[s:e])) for n, (s, e, _) in PILOTS.items()}


def section_of(name, i):
    s, e, heads = PILOTS[name]
    sec = "引言"
    for j, h in heads:
        if j <= i:
            sec = h
    return sec


def load_gold():
    rows = []
    for ln, raw in enumerate(GOLD.read_text(encoding="utf-8").splitlines(), 1):
        if not raw.strip():
            continue
        try:
            rows.append(json.loads(raw))
        except json.JSONDecodeError as ex:
            pytest.fail(f"gold.jsonl line {ln}: invalid JSON ({ex})")
    return rows


GOLD_ROWS = load_gold()
IDS = [r.get("id", f"<line{k}>") for k, r in enumerate(GOLD_ROWS, 1)]


def evidence_lines(name, section, ev):
    """Indices of lines inside pilot `name`, under `section`, containing `ev` verbatim."""
    s, e, _ = PILOTS[name]
    return [i for i in range(s + 1, e) if ev in LINES[i] and section_of(name, i) == section]


# ---------------------------------------------------------------- corpus sanity
def test_corpus_parsed():
    assert len(PILOTS) == 59, f"expected 59 pilots, parsed {len(PILOTS)}"
    assert "上海市浦东新区（临港地区）" in PILOTS  # the wrapped heading
    for name, (s, e, heads) in PILOTS.items():
        assert len(heads) >= 3, f"{name}: only {len(heads)} top-level sections"


# ---------------------------------------------------------------- whole-file checks
def test_size_ids_mix_coverage():
    assert len(GOLD_ROWS) >= 150, f"only {len(GOLD_ROWS)} questions"
    dup = [k for k, c in Counter(IDS).items() if c > 1]
    assert not dup, f"duplicate ids: {dup}"
    types = Counter(r.get("type") for r in GOLD_ROWS)
    n = len(GOLD_ROWS)
    for t, (lo, hi) in MIX.items():
        share = types.get(t, 0) / n
        assert lo <= share <= hi, f"type {t}: {types.get(t, 0)}/{n} = {share:.0%} not in [{lo:.0%}, {hi:.0%}]"
    covered = set()
    for r in GOLD_ROWS:
        p = r.get("pilot")
        covered.update(p if isinstance(p, list) else [p] if p else [])
    missing = [p for p in PILOTS if p not in covered]
    assert not missing, f"pilots never covered: {missing}"
    secs = Counter()
    for r in GOLD_ROWS:
        s = r.get("section")
        for x in (s if isinstance(s, list) else [s] if s else []):
            secs["引言" if x == "引言" else x[:2]] += 1
    for kind in ("引言", "一、", "二、", "三、"):
        assert secs[kind] > 0, f"no question with evidence under section kind {kind}"


# ---------------------------------------------------------------- per-question checks
@pytest.mark.parametrize("row", GOLD_ROWS, ids=IDS)
def test_question(row):
    qid = row.get("id")
    assert set(row) == FIELDS, f"{qid}: fields {sorted(row)} != {sorted(FIELDS)}"
    assert isinstance(qid, str) and qid, f"{qid}: id must be a non-empty string"
    assert isinstance(row["question"], str) and row["question"].strip(), f"{qid}: empty question"
    assert isinstance(row["answers"], list) and all(isinstance(a, str) and a.strip() for a in row["answers"]), \
        f"{qid}: answers must be a list of non-empty strings"
    t = row["type"]
    assert t in TYPES, f"{qid}: bad type {t!r}"
    pilot, section, ev, answers = row["pilot"], row["section"], row["evidence"], row["answers"]

    if t == "unanswerable":
        assert answers == [], f"{qid}: unanswerable must have answers []"
        assert section is None and ev is None, f"{qid}: unanswerable must have section/evidence null"
        assert pilot is None or (isinstance(pilot, str) and pilot in PILOTS), f"{qid}: bad pilot {pilot!r}"
        return

    if t == "cross":
        assert isinstance(pilot, list) and isinstance(section, list) and isinstance(ev, list), \
            f"{qid}: cross needs list pilot/section/evidence"
        assert len(pilot) == len(section) == len(ev) >= 2, f"{qid}: cross lists not parallel or < 2 pilots"
        assert len(set(pilot)) == len(pilot), f"{qid}: duplicate pilots"
        assert len(answers) == 1, f"{qid}: cross answers must hold exactly the distinctive term"
        term = norm(answers[0])
        for p, s, e in zip(pilot, section, ev):
            assert p in PILOTS, f"{qid}: unknown pilot {p!r}"
            assert isinstance(e, str) and 10 <= len(e) <= 60, f"{qid}: evidence length {len(e)} for {p}"
            assert term in norm(e), f"{qid}: evidence for {p} lacks term {answers[0]!r}"
            assert evidence_lines(p, s, e), f"{qid}: evidence {e!r} not found in {p} under {s}"
        actual = sorted(n for n, txt in PTEXT.items() if term in txt)
        assert sorted(pilot) == actual, \
            f"{qid}: term {answers[0]!r} occurs in {actual}, gold lists {sorted(pilot)}"
        return

    # number / fact / list: a single pilot
    assert isinstance(pilot, str) and pilot in PILOTS, f"{qid}: unknown pilot {pilot!r}"
    assert isinstance(section, str) and isinstance(ev, str), f"{qid}: section/evidence must be strings"
    heads = {h for _, h in PILOTS[pilot][2]} | {"引言"}
    assert section in heads, f"{qid}: section {section!r} is not a heading of {pilot}"
    assert 10 <= len(ev) <= 60, f"{qid}: evidence length {len(ev)}"
    hits = evidence_lines(pilot, section, ev)
    assert hits, f"{qid}: evidence {ev!r} not found on one line of {pilot} under {section}"
    if t == "list":
        assert 2 <= len(answers) <= 4, f"{qid}: list needs 2-4 answers, has {len(answers)}"
    else:
        assert len(answers) >= 1, f"{qid}: {t} needs at least one answer"
    s, e, _ = PILOTS[pilot]
    for a in answers:
        na = norm(a)
        ok = any(na in NLINES[j] for i in hits for j in range(max(s + 1, i - 3), min(e, i + 4)))
        assert ok, f"{qid}: answer {a!r} not within ±3 lines of evidence in {pilot}"
