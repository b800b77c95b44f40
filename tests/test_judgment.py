"""The fitted sentence-support judgment (`rag.answer.judgment`): its committed parameters, the logical gates
that close sentences whatever the model says, and `pilotqa fit` (refuses a test split; fits a small dev
subset into a temporary file, never the committed one). Retrievals come from the session's real retriever."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from rag.answer import ExtractiveAnswerer
from rag.answer import judgment as J
from rag.config import ROOT
from rag.retrieval.hybrid import Passage, Retrieval
from rag.text import norm

BAOTOU, FANGSHAN, HONGHE = "内蒙古自治区包头市", "北京市房山区", "云南省红河州"


def judged(qa, question):
    r = qa.retriever.retrieve(question)
    return r, J.candidates(r.info, r)


def sentence(cands, text):
    return next(c for c in cands if norm(text) in c.n)


# --------------------------------------------------------------------------- the committed parameters


def test_committed_parameters_load():
    p = J.load_params()
    assert p.features == J.FEATURES and len(p.weights) == len(p.mean) == len(p.scale) == len(J.FEATURES)
    assert all(math.isfinite(w) for w in (*p.weights, p.bias)) and all(s > 0 for s in p.scale)
    assert 0.0 < p.threshold < 1.0
    data = json.loads(J.PARAMS_PATH.read_text(encoding="utf-8"))
    fitted_on = data["fitted_on"] if isinstance(data["fitted_on"], list) else [data["fitted_on"]]
    assert data["command"].startswith("pilotqa fit") and fitted_on
    assert not any("test" in Path(f).stem.lower() for f in fitted_on)  # never a blind split
    assert data["positives"] > 0 and data["rows"] > data["positives"]


def test_foreign_or_missing_parameters_are_a_clear_error(tmp_path):
    bad = tmp_path / "judgment.json"
    data = json.loads(J.PARAMS_PATH.read_text(encoding="utf-8"))
    data["features"] = data["features"][:-1]
    bad.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(RuntimeError, match="pilotqa fit"):
        J.load_params(str(bad))
    with pytest.raises(RuntimeError, match="pilotqa fit"):
        J.load_params(str(tmp_path / "missing.json"))


# --------------------------------------------------------------------------- the gates


def test_the_answering_sentence_is_judged_best(qa):
    r, cands = judged(qa, "包头市的国境线长多少公里？")
    best = max(cands, key=lambda c: c.p)
    assert "国境线88公里" in best.n and best.eligible and best.p >= J.load_params().threshold
    assert r.passages[best.pi].chunk.pilot == BAOTOU


def test_gate_another_year(qa):
    _, cands = judged(qa, "包头市2030年常住人口城镇化率要达到多少？")
    c = sentence(cands, "到2020年，常住人口城镇化率达到85%")
    assert c.gate == "year" and c.p == 0.0 and c.p_raw > 0.0  # closed, yet still "closest" for the refusal
    assert not any(x.eligible and x.p >= J.load_params().threshold for x in cands)


def test_gate_another_qualifier(qa):
    _, cands = judged(qa, "包头市2020年户籍人口城镇化率要达到多少？")
    assert sentence(cands, "到2020年，常住人口城镇化率达到85%").gate == "qualifier"


def test_gate_missing_figure_and_measure(qa):
    from rag.text import has_figure

    _, cands = judged(qa, "包头市的国境线长多少公里？")
    figureless = [c for c in cands if not has_figure(c.n)]
    assert figureless and all(c.gate is not None and c.p == 0.0 for c in figureless)
    _, cands = judged(qa, "孝义市的森林覆盖率要达到多少？")
    assert cands and all(not c.eligible for c in cands if "%" in c.n)
    assert {c.gate for c in cands} <= {"measure", "type", "heading", "year"}


def test_gate_the_parent_place_must_be_named(qa):
    # "荆州市的…" asks about the city: 松滋's own rate does not name 荆州市
    _, cands = judged(qa, "荆州市的城镇化率是多少？")
    assert sentence(cands, "常住人口城镇化率达到 58%").gate == "place"


def test_gate_another_pilot_and_the_answer_that_follows(qa):
    """房山's forest goal asked, 红河's passages mixed in (55%): they cannot answer, and the answer is 45%."""
    q = "房山区2020年森林覆盖率要达到多少？"
    own = qa.retriever.retrieve(q)
    other = qa.retriever.retrieve("红河州的森林覆盖率目标是多少？")
    assert any("55%" in p.chunk.text for p in other.passages)
    passages = [Passage(i + 1, p.chunk, p.score, p.scores) for i, p in enumerate([*other.passages, *own.passages])]
    mixed = Retrieval(question=q, passages=passages, pilots=own.pilots, info=own.info, qvec=own.qvec,
                      sentence_vectors={**own.sentence_vectors, **other.sentence_vectors}, idf=own.idf,
                      timings_ms={"total": 1.0})
    cands = J.candidates(own.info, mixed)
    for c in cands:
        if mixed.passages[c.pi].chunk.pilot != FANGSHAN:
            assert c.gate == "pilot" and c.p == 0.0
    ans = ExtractiveAnswerer().answer(q, mixed)
    assert ans.answerable and "45%" in ans.text and "55%" not in ans.text
    assert {c.pilot for c in ans.citations} == {FANGSHAN}


def test_the_threshold_is_the_bar(qa):
    """The same judged sentences, the same model: only the refusal threshold decides whether it answers."""
    from dataclasses import replace

    q = "孝义市2017年的常住人口城镇化率目标定为多少？"
    r = qa.retriever.retrieve(q)
    p = J.load_params()
    best = max(J.candidates(r.info, r, params=p), key=lambda c: c.p).p
    assert ExtractiveAnswerer(params=p).answer(q, r).answerable
    assert ExtractiveAnswerer(params=replace(p, threshold=max(0.0, best - 0.01))).answer(q, r).answerable
    strict = ExtractiveAnswerer(params=replace(p, threshold=min(1.0, best + 0.01))).answer(q, r)
    assert not strict.answerable and "最接近的内容" in strict.text and "75%" in strict.text


# --------------------------------------------------------------------------- pilotqa fit


def test_fit_refuses_a_test_split(qa, tmp_path):
    from rag.evaluation import EvalError
    from rag.evaluation.fitting import fit

    before = J.PARAMS_PATH.read_bytes()
    # refused by its name, before it is read: the file does not even exist
    for name in ("test.jsonl", "dialog-test.jsonl", "my-TEST-split.jsonl"):
        with pytest.raises(EvalError, match="blind test split"):
            fit(qa, tmp_path / name, out=tmp_path / "j.json")
    assert not (tmp_path / "j.json").exists() and J.PARAMS_PATH.read_bytes() == before


def test_fit_cli_refuses_a_test_split(qa, monkeypatch, capsys, tmp_path):
    import rag.cli.backend
    import rag.cli.main

    monkeypatch.setattr(rag.cli.backend, "open_pipeline", lambda cfg: qa)
    rc = rag.cli.main.main(["fit", "--gold", str(tmp_path / "test.jsonl"), "--out", str(tmp_path / "j.json")])
    err = capsys.readouterr().err
    assert rc == 2 and "blind test split" in err and "Traceback" not in err


def test_fit_on_a_small_dev_subset_writes_a_usable_file(qa, tmp_path):
    from rag.evaluation.fitting import fit

    rows, seen = [], {"answerable": 0, "unanswerable": 0}
    for line in (ROOT / "eval" / "gold.jsonl").read_text(encoding="utf-8").splitlines():
        d = json.loads(line)
        kind = "unanswerable" if d["type"] == "unanswerable" else ("answerable" if d["type"] in ("number", "fact") else "")
        if kind and seen[kind] < (12 if kind == "answerable" else 4):
            seen[kind] += 1
            rows.append(line)
    subset = tmp_path / "dev-subset.jsonl"
    subset.write_text("\n".join(rows) + "\n", encoding="utf-8")
    committed = J.PARAMS_PATH.read_bytes()
    out = tmp_path / "judgment.json"
    data = fit(qa, subset, out=out, command="pilotqa fit (test subset)")
    assert J.PARAMS_PATH.read_bytes() == committed  # the committed model is untouched
    saved = json.loads(out.read_text(encoding="utf-8"))
    fitted_on = saved["fitted_on"] if isinstance(saved["fitted_on"], list) else [saved["fitted_on"]]
    assert fitted_on == [subset.as_posix()] and saved["command"] == "pilotqa fit (test subset)"
    assert 0 < saved["dev"]["questions"] <= 16  # the subset only
    assert 0 < saved["positives"] < saved["rows"] == data["rows"]
    params = J.load_params(str(out))
    assert params.features == J.FEATURES and 0 < params.threshold < 1
    # usable: it ranks the answering sentence first, and an answerer on it gives that sentence (as the answer or,
    # below its threshold, as the closest content) and refuses a year trap
    q = "包头市的国境线长多少公里？"
    r = qa.retriever.retrieve(q)
    assert "国境线88公里" in max(J.candidates(r.info, r, params=params), key=lambda c: c.p_raw).n
    answerer = ExtractiveAnswerer(params_path=str(out))
    assert "88" in answerer.answer(q, r).text
    q = "包头市2030年常住人口城镇化率要达到多少？"
    assert not answerer.answer(q, qa.retriever.retrieve(q)).answerable
