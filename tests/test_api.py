"""The HTTP API against real servers: `pilotqa serve` as a child process (the JSON API, the OpenAI-compatible
endpoint with the official `openai` client, the web app beside them, the eval-run folder), and an in-thread
uvicorn bound to 0.0.0.0 with a token (token enforcement, the LLM answerer through /v1)."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from rag.serve.server import free_port
from rag.config import ROOT
from rag.text import norm

openai = pytest.importorskip("openai")

FOREST_Q = "房山区2020年的森林覆盖率目标是多少？"
FOREST = "到2020年，森林覆盖率达到45%"
TOKEN = "test-token-4c1f9e2a"


@pytest.fixture(scope="module")
def server(config, built_index, tmp_path_factory):
    """`pilotqa serve` (python -m rag.cli serve) on a free loopback port, on the session's index."""
    from bench.loadtest import start_server, stop_server

    work = tmp_path_factory.mktemp("api")
    runs = work / "runs"
    proc, url = start_server(config, work / "serve.log", PILOTQA_RUNS_DIR=str(runs), PILOTQA_API_TOKEN="")
    yield url, runs
    stop_server(proc)


@pytest.fixture(scope="module")
def http(server):
    with httpx.Client(base_url=server[0], timeout=60) as c:
        yield c


def _error(r: httpx.Response, status: int) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    err = r.json()["error"]
    assert err["message_zh"] and err["message_en"] and " / " in err["message"]
    assert "Traceback" not in r.text
    return err


# --------------------------------------------------------------------------- JSON API


def test_ask_returns_the_ask_json_object_with_verified_citations(http):
    r = http.post("/api/ask", json={"question": FOREST_Q})
    assert r.status_code == 200, r.text
    data = r.json()
    for key in ("id", "question", "answer", "answerable", "citations", "passages", "timings_ms", "grounded",
                "notice", "pilots", "answerer", "is_cross", "shape", "rows", "resolved_question", "unsupported"):
        assert key in data
    assert data["answerable"] and "45%" in data["answer"]
    texts = {p["chunk_id"]: norm(p["text"]) for p in data["passages"]}
    assert data["citations"]
    for c in data["citations"]:
        assert c["pilot"] == "北京市房山区" or c["chunk_id"] in texts
        assert norm(c["quote"]) in texts[c["chunk_id"]]
        assert c["start_line"] <= c["end_line"]


def test_ask_takes_history_pilot_and_k(http):
    r = http.post("/api/ask", json={"question": "森林覆盖率目标是多少？", "pilot": "房山", "k": 3,
                                    "history": ["房山区的主要任务有哪些？"], "answerer": "extractive"})
    assert r.status_code == 200, r.text
    data = r.json()
    assert len(data["passages"]) <= 3 and all(p["pilot"] == "北京市房山区" for p in data["passages"])


def test_parallel_requests_each_get_their_own_answer(http, server):
    questions = [FOREST_Q, "天津东丽区总面积是多少？", "哪些试点提出建设海绵城市？", "威县如何推进农业转移人口市民化？"] * 2

    def one(q):
        with httpx.Client(base_url=server[0], timeout=60) as c:
            return q, c.post("/api/ask", json={"question": q}).json()

    with ThreadPoolExecutor(8) as ex:
        for q, data in ex.map(one, questions):
            assert data["question"] == q


def test_search_cite_and_pilots(http):
    r = http.post("/api/search", json={"question": FOREST_Q, "k": 4})
    assert r.status_code == 200, r.text
    s = r.json()
    assert 1 <= len(s["passages"]) <= 4 and s["passages"][0]["rank"] == 1
    assert any(FOREST in p["text"] for p in s["passages"])

    r = http.post("/api/cite", json={"text": FOREST})
    assert r.status_code == 200, r.text
    cite = r.json()
    assert cite["verdict"] == "verbatim" and cite["matches"][0]["pilot"] == "北京市房山区"
    assert "/" not in cite["matches"][0]["source"]  # no server paths in replies

    p = http.get("/api/pilots").json()
    assert p["count"] == 59 and any("北京市房山区" in g["pilots"] for g in p["provinces"])


def test_unknown_pilot_is_400_with_suggestions(http):
    err = _error(http.post("/api/ask", json={"question": FOREST_Q, "pilot": "房山县"}), 400)
    assert err["code"] == "unknown_pilot" and "北京市房山区" in err["suggestions"]


@pytest.mark.parametrize("body, status", [
    ({}, 422),                                                  # no question
    ({"question": 42}, 422),                                    # wrong type
    ({"question": FOREST_Q, "k": 0}, 422),                      # out of range
    ({"question": FOREST_Q, "quesiton": "typo"}, 422),          # unknown field
    ({"question": FOREST_Q, "history": "not a list"}, 422),
    ({"question": "   "}, 400),                                 # the facade's own checks, with its message
    ({"question": "问" * 600}, 400),
    ({"question": FOREST_Q, "answerer": "oracle"}, 400),
])
def test_bad_input_is_a_json_error(http, body, status):
    _error(http.post("/api/ask", json=body), status)


def test_malformed_json_and_unknown_routes(http):
    _error(http.post("/api/ask", content=b"{not json", headers={"content-type": "application/json"}), 422)
    _error(http.get("/api/ask"), 405)
    _error(http.get("/api/nothing-here"), 404)


def test_bodies_over_64kb_are_refused(http):
    big = json.dumps({"question": "问" * 40000}).encode()
    assert len(big) > 64 * 1024
    assert _error(http.post("/api/ask", content=big, headers={"content-type": "application/json"}), 413)
    # without Content-Length (chunked): counted as it streams
    chunks = (big[i:i + 8192] for i in range(0, len(big), 8192))
    assert _error(http.post("/api/ask", content=chunks, headers={"content-type": "application/json"}), 413)
    # just under the limit is read and answered (here: refused as too long a question, by the facade)
    ok = json.dumps({"question": "问" * 7000}).encode()
    assert len(ok) < 64 * 1024
    _error(http.post("/api/ask", content=ok, headers={"content-type": "application/json"}), 400)


def test_health_ready_docs_and_the_web_app(http):
    assert http.get("/healthz").json() == {"status": "ok"}
    ready = http.get("/readyz").json()
    assert ready["status"] == "ready" and ready["chunks"] > 900 and ready["model"]
    assert ready["query_embedder"] and "query_batching" in ready
    assert "swagger" in http.get("/docs").text.lower()
    paths = http.get("/openapi.json").json()["paths"]
    assert {"/api/ask", "/api/search", "/api/cite", "/api/pilots", "/v1/chat/completions", "/v1/models"} <= set(paths)
    page = http.get("/")
    assert page.status_code == 200 and "gradio" in page.text.lower()


def test_loopback_server_has_no_token_and_binds_loopback(http, server):
    assert http.get("/api/pilots").status_code == 200
    assert server[0].startswith("http://127.0.0.1:")


# --------------------------------------------------------------------------- OpenAI-compatible endpoint


@pytest.fixture(scope="module")
def oa(server):
    with openai.OpenAI(base_url=server[0] + "/v1", api_key="unused", max_retries=0, timeout=60) as client:
        yield client  # closed before the server stops: no idle connection holds up its shutdown


def test_openai_client_non_streaming(oa):
    assert [m.id for m in oa.models.list()] == ["pilotqa"]
    r = oa.chat.completions.create(model="pilotqa", messages=[{"role": "system", "content": "你是助手"},
                                                              {"role": "user", "content": FOREST_Q}])
    text = r.choices[0].message.content
    assert "45%" in text and "[^1]" in text
    assert "[^1]: 北京市房山区 · " in text and "第 " in text and "“" in text
    assert r.model_extra["pilotqa"]["citations"][0]["pilot"] == "北京市房山区"


def test_openai_client_streaming_matches_non_streaming(oa):
    msgs = [{"role": "user", "content": "房山区的主要任务有哪些？"}, {"role": "assistant", "content": "……"},
            {"role": "user", "content": [{"type": "text", "text": FOREST_Q}]}]
    whole = oa.chat.completions.create(model="pilotqa", messages=msgs).choices[0].message.content
    stream = oa.chat.completions.create(model="pilotqa", messages=msgs, stream=True)
    pieces, finish, extra = [], None, None
    for chunk in stream:
        delta = chunk.choices[0].delta
        if delta.content:
            pieces.append(delta.content)
        finish = chunk.choices[0].finish_reason or finish
        extra = (chunk.model_extra or {}).get("pilotqa") or extra
    assert "".join(pieces) == whole and len(pieces) > 1
    assert finish == "stop" and extra["answerable"]


def test_openai_errors(oa):
    with pytest.raises(openai.NotFoundError):
        oa.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": FOREST_Q}])
    with pytest.raises(openai.BadRequestError) as ei:
        oa.chat.completions.create(model="pilotqa", messages=[{"role": "user", "content": FOREST_Q}],
                                   extra_body={"pilot": "房山县"})
    assert "北京市房山区" in str(ei.value)
    with pytest.raises(openai.BadRequestError):
        oa.chat.completions.create(model="pilotqa", messages=[{"role": "assistant", "content": "hi"}])


# --------------------------------------------------------------------------- evaluation runs


def _reports_digest(folder) -> str:
    """The report files an evaluation would write (the other files there are other commands' business)."""
    h = hashlib.sha256()
    for p in sorted(folder.glob("*")):
        if p.is_file() and p.name.startswith(("latest.", "report.")):
            h.update(p.name.encode() + p.read_bytes())
    return h.hexdigest()


def test_eval_writes_only_a_new_run_folder(http, server):
    runs = server[1]
    before = _reports_digest(ROOT / "eval" / "reports")
    r = http.post("/api/eval", json={"limit": 3, "k": 5}, timeout=300)
    assert r.status_code == 200, r.text
    data = r.json()
    folder = runs / data["run"]
    assert data["questions"] == 3 and sorted(p.name for p in folder.iterdir()) == ["report.json", "report.md",
                                                                                   "report.png"]
    assert all(p.stat().st_mode & 0o044 for p in folder.iterdir())  # readable reports, not 0600
    assert _reports_digest(ROOT / "eval" / "reports") == before
    # a second run gets its own folder
    assert http.post("/api/eval", json={"limit": 1}, timeout=300).json()["run"] != data["run"]
    # the default run folder is git-ignored
    ignored = subprocess.run(["git", "check-ignore", "-q", "eval/runs/20250101-000000/report.json"], cwd=ROOT)
    assert ignored.returncode == 0


def test_query_batcher_embeds_concurrent_questions_together(embedder):
    import numpy as np

    from rag.index.batching import QueryBatcher

    questions = [f"第{i}个试点的城镇化率目标是多少？" for i in range(12)]
    alone = embedder.embed_queries(questions)
    batcher = QueryBatcher(embedder, max_batch=4)
    with ThreadPoolExecutor(6) as ex:
        together = np.vstack(list(ex.map(lambda q: batcher.embed_queries([q]), questions)))
    assert batcher.calls < len(questions) and batcher.batched > 0
    assert np.min(np.sum(alone * together, axis=1)) > 0.9999  # each caller gets its own question's vector
    assert batcher.dim == embedder.dim and batcher.embed_queries([]).shape[0] == 0


def test_load_test_smoke(server):
    from bench.loadtest import drive

    res = drive(server[0], [FOREST_Q, "天津东丽区总面积是多少？"], clients=4, requests=8)
    assert res["ok"] == 8 and res["errors"] == 0 and res["latency_p95"] >= res["latency_p50"] > 0


# --------------------------------------------------------------------------- beyond loopback: the token


def test_binding_beyond_loopback_without_token_refuses_to_start(config):
    from bench.common import config_env

    t0 = time.perf_counter()
    env = config_env(config, PILOTQA_HOST="0.0.0.0", PILOTQA_PORT=str(free_port()), PILOTQA_API_TOKEN="")
    p = subprocess.run([sys.executable, "-m", "rag.cli", "serve"], env=env, cwd=ROOT, capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 2 and "PILOTQA_API_TOKEN" in p.stderr and "Traceback" not in p.stderr
    assert time.perf_counter() - t0 < 30  # refused before any index or model loading


@pytest.fixture(scope="module")
def public(qa, config):
    """The app bound to 0.0.0.0 with a token, in a uvicorn thread; its LLM is the fake endpoint."""
    from llm_server import KEY, base_url, running_server

    from rag.pipeline import PilotQA
    from rag.serve.server import create_app, running

    with running_server("cite1") as llm:
        cfg = config.with_overrides(host="0.0.0.0", api_token=TOKEN, llm_base_url=base_url(llm),
                                    llm_model="fake-model", llm_api_key=KEY, llm_timeout=10)
        app = create_app(PilotQA(cfg, index=qa.index, embedder=qa.embedder), cfg, ui=False)
        with running(app, host="0.0.0.0") as url:
            yield url, llm


def test_token_is_enforced_on_api_and_v1(public):
    url, _ = public
    with httpx.Client(base_url=url, timeout=60) as c:
        for path in ("/api/pilots", "/v1/models"):
            err = _error(c.get(path), 401)
            assert err["code"] == "invalid_api_key"
            _error(c.get(path, headers={"Authorization": "Bearer wrong"}), 401)
            _error(c.get(path, headers={"Authorization": TOKEN}), 401)  # not a bearer header
            assert c.get(path, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
        assert _error(c.post("/api/ask", json={"question": FOREST_Q}), 401)
        assert c.get("/healthz").status_code == 200 and c.get("/readyz").status_code == 200  # probes stay open
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=url + "/v1", api_key="wrong", max_retries=0).models.list()


def test_llm_answer_streams_verified_text_with_token(public):
    url, llm = public
    oa = openai.OpenAI(base_url=url + "/v1", api_key=TOKEN, max_retries=0, timeout=60)
    msgs = [{"role": "user", "content": FOREST_Q}]
    stream = oa.chat.completions.create(model="pilotqa", messages=msgs, stream=True, extra_body={"answerer": "llm"})
    text = "".join(c.choices[0].delta.content or "" for c in stream)
    assert "45%" in text and "[^1]: 北京市房山区" in text
    assert any(r["path"] == "/v1/chat/completions" for r in llm.requests)  # the LLM wrote it
    llm.mode = "wrong"  # a claim no retrieved passage supports never reaches the client
    stream = oa.chat.completions.create(model="pilotqa", messages=msgs, stream=True, extra_body={"answerer": "llm"})
    text = "".join(c.choices[0].delta.content or "" for c in stream)
    assert "478.8" not in text
