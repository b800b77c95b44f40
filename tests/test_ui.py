"""The Gradio app, served for real on 127.0.0.1 and driven with gradio_client (the same API the page uses)."""
from __future__ import annotations

import re
import socket
import threading

import pytest

from rag.config import ROOT, Config
from rag.text import norm

gradio_client = pytest.importorskip("gradio_client")

CORPUS = ROOT / "data" / "pilots-batch2.txt"
FOREST = "到2020年，森林覆盖率达到45%"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(qa, config):
    from ui.app import build_app, launch

    demo = build_app(qa, config)
    port = _free_port()
    launch(demo, config, port=port, prevent_thread_lock=True, quiet=True)
    yield demo, f"http://127.0.0.1:{port}/"
    demo.close()


@pytest.fixture(scope="module")
def client(server):
    return gradio_client.Client(server[1], verbose=False)


def ask(client, question, pilot="全部", answerer="extractive", k=5):
    box, history, html, data = client.predict(question, [], pilot, answerer, k, api_name="/ask")
    return box, history, html, data


def _line_of(fragment: str) -> int:
    for i, line in enumerate(CORPUS.read_text(encoding="utf-8").splitlines(), 1):
        if fragment in line:
            return i
    raise AssertionError(f"{fragment!r} not in corpus")


def _message_text(msg) -> str:
    content = msg["content"] if isinstance(msg, dict) else msg
    if isinstance(content, list):  # gradio may hand content back as [{"type": "text", "text": …}]
        return "".join(c.get("text", "") if isinstance(c, dict) else str(c) for c in content)
    return str(content)


# --------------------------------------------------------------------------- answers


def test_ask_answers_with_citations_among_retrieved(client):
    box, history, html, data = ask(client, "房山区2020年的森林覆盖率目标是多少？")
    assert box == ""
    assert data["answerable"] is True
    assert "45%" in data["answer"]
    assert data["citations"], data
    retrieved = {p["chunk_id"] for p in data["passages"]}
    for c in data["citations"]:
        assert c["chunk_id"] in retrieved
        assert f"[{c['n']}]" in data["answer"]
    assert any(c["pilot"] == "北京市房山区" for c in data["citations"])
    # the chat shows the question and the answer; the panel shows a source card with the sentence marked
    assert history[-2]["role"] == "user" and history[-1]["role"] == "assistant"
    assert "45%" in _message_text(history[-1])
    assert "pq-source" in html and "<mark>" in html and "北京市房山区" in html
    c = data["citations"][0]
    assert f"第 {c['start_line']}" in html


def test_refusal_looks_different(client):
    _, history, html, data = ask(client, "深圳市2020年的城镇化率目标是多少？")
    assert data["answerable"] is False
    assert "文件中没有找到答案" in html and "pq-refusal" in html
    assert "pq-chat-refusal" in _message_text(history[-1])


def test_pilot_filter_and_k(client):
    _, _, _, data = ask(client, "森林覆盖率目标是多少？", pilot="北京市房山区", k=3)
    assert data["passages"] and len(data["passages"]) <= 3
    assert {p["pilot"] for p in data["passages"]} == {"北京市房山区"}


def test_parallel_questions_each_get_their_own_answer(server):
    url = server[1]
    questions = [
        ("北京市房山区", "房山区2020年的森林覆盖率目标是多少？", "45%"),
        ("天津市东丽区", "天津东丽区总面积是多少？", "478.8"),
        ("河北省威县", "河北威县到2020年常住人口城镇化率目标是多少？", "43.2%"),
        ("山西省孝义市", "孝义市2014年户籍人口城镇化率是多少？", "48%"),
        ("内蒙古自治区包头市", "包头市的国境线有多长？", "88"),
        ("吉林省梨树县", "吉林梨树县的幅员面积是多少？", "4209"),
        ("上海市浦东新区（临港地区）", "上海临港地区区域总面积是多少？", "315"),
        ("福建省永安市", "福建永安市面积多大？", "2942"),
    ]
    results: dict[int, object] = {}

    def worker(i, q):
        try:
            c = gradio_client.Client(url, verbose=False)
            results[i] = c.predict(q, [], "全部", "extractive", 5, api_name="/ask")
        except Exception as exc:  # noqa: BLE001 - reported below
            results[i] = exc

    threads = [threading.Thread(target=worker, args=(i, q)) for i, (_, q, _) in enumerate(questions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=180)
    assert len(results) == len(questions)
    for i, (pilot, q, expect) in enumerate(questions):
        r = results[i]
        assert not isinstance(r, Exception), f"{q}: {r!r}"
        _, history, html, data = r
        assert norm(data["question"]) == norm(q)
        assert data["answerable"] is True, data["answer"]
        assert expect in norm(data["answer"]), (q, data["answer"])
        assert any(c["pilot"] == pilot for c in data["citations"]), (q, data["citations"])
        assert _message_text(history[0]).startswith(q[:4])


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("question", ["", "   ", "问" * 10_000])
def test_bad_questions_get_a_friendly_message(client, question):
    box, history, html, data = ask(client, question)
    assert "error" in data, data
    msg = data["error"]
    assert re.search(r"[\u4e00-\u9fff]", msg), msg
    assert "Traceback" not in html and "Error" not in msg
    assert "pq-refusal" in html
    assert R_esc(msg) in html


def R_esc(s):
    from ui.render import esc

    return esc(s)


def test_script_in_question_is_escaped(client):
    q = "<script>alert('x')</script>房山区森林覆盖率<img src=x onerror=alert(1)>"
    _, history, html, data = ask(client, q)
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;" in html
    for m in history:
        t = _message_text(m)
        assert "<script>" not in t and "<img" not in t


def test_markup_in_passage_text_is_escaped():
    """Passage text from a corpus is data: a tag in it is shown, not rendered."""
    from types import SimpleNamespace as NS

    from ui.render import highlight, sources_html

    chunk = NS(id="c1", pilot="某试点<b>", section="一、<i>目标</i>", start_line=3, end_line=4,
               text="前文<script>alert(1)</script>。到2020年，目标<达到>45%。")
    passage = NS(rank=1, chunk=chunk, score=0.9)
    cit = NS(n=1, chunk_id="c1", pilot=chunk.pilot, section=chunk.section, start_line=4, end_line=4,
             quote="到2020年，目标<达到>45%。")
    ans = NS(text="目标<达到>45%[1]", answerable=True, citations=[cit], passages=[passage], grounded=True, notice=None)
    html = sources_html(ans, "问<script>")
    assert "<script>" not in html and "<i>" not in html and "<b>" not in html
    assert "<mark>到2020年，目标&lt;达到&gt;45%</mark>" in html
    assert highlight("a<b>c", ["<b>"]) == "a<mark>&lt;b&gt;</mark>c"


def test_ungrounded_and_notice_are_shown():
    from types import SimpleNamespace as NS

    from ui.render import sources_html

    ans = NS(text="生成的回答", answerable=True, citations=[], passages=[], grounded=False,
             notice="大模型暂时不可用（连接被拒绝），以下为抽取式回答。")
    html = sources_html(ans, "问题")
    assert "pq-ungrounded" in html and "未能全部在原文中核实" in html
    assert "大模型暂时不可用" in html and "pq-notice" in html


# --------------------------------------------------------------------------- citation lookup and browsing


def test_cite_finds_known_sentence_with_line_numbers(client):
    html = client.predict(FOREST, api_name="/cite")
    line = _line_of("森林覆盖率达到45%")
    assert "原文" in html and "pq-exact" in html
    assert "北京市房山区" in html
    assert f'data-start="{line}"' in html
    assert f"第 {line} 行" in html or f"第 {line}–" in html
    assert "<mark>" in html


def test_cite_paraphrase_gives_approximate_matches(client):
    html = client.predict("房山要让森林覆盖的比例在二〇二〇年提高到接近一半", api_name="/cite")
    assert "近似匹配" in html
    assert "pq-approx" in html


def test_cite_bad_input(client):
    html = client.predict("<script>x</script>", api_name="/cite")
    assert "<script>" not in html


def test_browse_returns_pilot_sections(client, qa):
    html = client.predict("北京市房山区", api_name="/browse")
    outline = qa.pilot_outline("北京市房山区")
    from ui.render import esc

    for sec in outline[:4]:
        assert esc(sec["title"]) in html
    line = _line_of("森林覆盖率达到45%")
    assert f'id="L{line}"' in html
    assert "pq-para" in html


def test_browse_unknown_pilot_is_friendly(client):
    html = client.predict("火星市", api_name="/browse")
    assert "没有名为" in html


def test_eval_report_endpoint(client):
    md, png = client.predict(api_name="/eval_report")
    assert isinstance(md, str) and md


# --------------------------------------------------------------------------- binding


def test_binds_loopback_by_default(server):
    demo, url = server
    assert Config.from_env(env={}).host == "127.0.0.1"
    assert demo.server_name == "127.0.0.1"
    assert url.startswith("http://127.0.0.1:")
    # not reachable on another local address (when the machine has one)
    port = int(url.rstrip("/").rsplit(":", 1)[1])
    try:
        other = socket.gethostbyname(socket.gethostname())
    except OSError:
        other = None
    if other and not other.startswith("127."):
        with socket.socket() as s:
            s.settimeout(2)
            assert s.connect_ex((other, port)) != 0


# --------------------------------------------------------------------------- LLM configured but down


@pytest.fixture(scope="module")
def dead_llm_client(qa, config):
    from rag.pilotqa import PilotQA
    from ui.app import build_app, launch

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    cfg = config.with_overrides(llm_base_url=f"http://127.0.0.1:{dead}/v1", llm_model="absent", llm_timeout=3)
    qa2 = PilotQA(cfg, index=qa.index, embedder=qa.embedder)
    demo = build_app(qa2, cfg)
    port = _free_port()
    launch(demo, cfg, port=port, prevent_thread_lock=True, quiet=True)
    yield gradio_client.Client(f"http://127.0.0.1:{port}/", verbose=False)
    demo.close()


def test_llm_down_falls_back_with_notice(dead_llm_client):
    _, history, html, data = dead_llm_client.predict("房山区2020年的森林覆盖率目标是多少？", [], "全部", "llm", 5,
                                                     api_name="/ask")
    assert data.get("notice"), data
    assert "大模型" in data["notice"]
    assert "45%" in data["answer"]
    assert "pq-notice" in html and R_esc(data["notice"]) in html
    assert "提示" in _message_text(history[-1])


def test_run_eval_writes_and_shows_a_report(qa, config, tmp_path):
    from ui.app import build_app, launch

    cfg = config.with_overrides(reports_dir=tmp_path)
    demo = build_app(qa, cfg)
    port = _free_port()
    launch(demo, cfg, port=port, prevent_thread_lock=True, quiet=True)
    try:
        c = gradio_client.Client(f"http://127.0.0.1:{port}/", verbose=False)
        md0, png0 = c.predict(api_name="/eval_report")
        assert "暂无评测报告" in md0 and png0 is None
        md, png = c.predict(5, api_name="/run_eval")
        assert "评测完成" in md, md[:500]
        assert (tmp_path / "latest.md").is_file() and (tmp_path / "latest.png").is_file()
        assert png
    finally:
        demo.close()
