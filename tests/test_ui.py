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


def ask(client, question, pilot="全部", answerer="extractive", k=5, conv=None):
    """One question through the page's own endpoint; `conv` is the conversation the browser keeps."""
    api = "/ask_llm" if answerer == "llm" else "/ask"
    box, history, html, data, _ = client.predict(question, conv or [], pilot, "全部", k, api_name=api)
    return box, history, html, data


def ask_turn(client, question, conv):
    """Ask within a conversation; returns (chat, sources html, answer data, new conversation)."""
    _, history, html, data, conv = client.predict(question, conv, "全部", "全部", 5, api_name="/ask")
    return history, html, data, conv


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
            results[i] = c.predict(q, [], "全部", "全部", 5, api_name="/ask")
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
        _, history, html, data, _ = r
        assert norm(data["question"]) == norm(q)
        assert data["answerable"] is True, data["answer"]
        assert expect in norm(data["answer"]), (q, data["answer"])
        assert any(c["pilot"] == pilot for c in data["citations"]), (q, data["citations"])
        assert q[:4] in _message_text(history[0])


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


# --------------------------------------------------------------------------- rendering is inert


HOSTILE = ('<img src="http://127.0.0.1:9/t.png" onerror="alert(1)"><script>alert(2)</script>'
           "![t](http://127.0.0.1:9/md.png) [点这里](http://127.0.0.1:9/x) <a href='http://127.0.0.1:9/a'>a</a>"
           "<style>body{background:url(http://127.0.0.1:9/s.png)}</style>")


def _hostile_answer(**kw) -> dict:
    """An answer dict (Answer.to_dict() shape) whose every text field carries markup, images and links."""
    passage = {"rank": 1, "chunk_id": "c1", "pilot": "某试点<b>", "section": "一、<i>目标</i>", "start_line": 3,
               "end_line": 4, "score": 0.9, "text": f"前文{HOSTILE}。到2020年，目标<达到>45%。"}
    cit = {"n": 1, "chunk_id": "c1", "pilot": "某试点<b>", "section": "一、<i>目标</i>", "start_line": 4, "end_line": 4,
           "quote": "到2020年，目标<达到>45%。", "doc": f"x{HOSTILE}.pdf", "page": 2}
    d = {"question": f"问{HOSTILE}", "answer": f"目标<达到>45%[1]。{HOSTILE}", "answerable": True, "citations": [cit],
         "passages": [passage], "grounded": True, "notice": f"注意{HOSTILE}", "resolved_question": f"理解{HOSTILE}",
         "shape": "single", "rows": [], "unsupported": [{"claim": f"投资800亿元{HOSTILE}", "reason": f"原因{HOSTILE}"}]}
    d.update(kw)
    return d


def _assert_inert(html: str):
    """Only our markup: parsed as a browser would, no element that loads or links anything and no attribute
    that could (src, href, style, on*); the hostile text is there, as text."""
    from html.parser import HTMLParser

    found: list[tuple[str, list]] = []

    class P(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.append((tag, attrs))

    P().feed(html)
    tags = {t for t, _ in found}
    assert not tags & {"img", "script", "style", "a", "iframe", "link", "object", "embed", "svg", "video", "audio",
                       "i", "form", "input"}, tags
    attrs = {name for _, a in found for name, _ in a}
    assert attrs <= {"class", "id", "type", "title", "data-pilot", "data-start", "data-end", "data-turn"}, attrs
    assert "&lt;img" in html or "HOSTILE" in html or "![" in html


def test_question_answer_and_corpus_text_render_inert():
    from ui.render import (
        answer_bubble,
        compare_table,
        highlight,
        outline_html,
        question_bubble,
        sources_html,
        streaming_bubble,
    )

    ans = _hostile_answer()
    html = sources_html(ans, 0)
    _assert_inert(html)
    assert "<mark>到2020年，目标&lt;达到&gt;45%</mark>" in html
    assert "第 2 页" in html and "&lt;img" in html   # doc and page of the citation; the tag shown as text
    for piece in (answer_bubble(ans, 0), question_bubble(ans["question"], 0), streaming_bubble(ans["answer"], 0),
                  compare_table([{"pilot": HOSTILE, "answer": HOSTILE, "quote": HOSTILE, "n": 1, "start_line": 3,
                                  "end_line": 3}]),
                  outline_html("p", [{"title": HOSTILE, "level": 1, "start_line": 1, "paragraphs": [(2, 2, HOSTILE)]}])):
        _assert_inert(piece)
    # refusals echo the question: still inert
    _assert_inert(answer_bubble(_hostile_answer(answerable=False), 1))
    assert highlight("a<b>c", ["<b>"]) == "a<mark>&lt;b&gt;</mark>c"


def test_answer_bubble_marks_checks_and_markers():
    from ui.render import answer_bubble, sources_html, streaming_bubble

    ans = _hostile_answer(notice="大模型暂时不可用，以下为抽取式回答。", grounded=False)
    bubble = answer_bubble(ans, 2)
    assert "pq-turn-2" in bubble and '<sup class="cite-n cite-n-1">[1]</sup>' in bubble
    assert "理解为：" in bubble
    assert "<del>投资800亿元" in bubble and "已从回答中删除" in bubble     # unsupported claims struck, with reason
    assert "未能全部在原文中核实" in bubble and "大模型暂时不可用" in bubble
    html = sources_html(ans, 2)
    assert 'data-turn="2"' in html and "pq-ungrounded" in html and "第 3 问" in html
    live = streaming_bubble("森林覆盖率达到45%[1]", 2)
    assert "尚未核验" in live and "pq-unverified" in live


def test_passage_cited_twice_is_one_card_with_its_markers():
    from ui.render import sources_html

    ans = _hostile_answer()
    c1 = dict(ans["citations"][0])
    c2 = dict(c1, n=2, quote="前文", start_line=3, end_line=3)
    c3 = dict(c1)  # the same marker twice ("[1] [1]" before)
    html = sources_html(dict(ans, citations=[c1, c2, c3]), 0)
    assert html.count('class="pq-card pq-source') == 1
    assert html.count('<span class="pq-n">[1]</span>') == 1 and '<span class="pq-n">[2]</span>' in html
    assert "第 3–4 行" in html and "第 4–4 行" not in html


def test_compare_table_rows():
    from ui.render import answer_bubble

    rows = [{"pilot": "北京市房山区", "answer": "到2020年，常住人口城镇化率达到75%", "quote": "到2020年，常住人口城镇化率达到75%",
             "n": 1, "start_line": 83, "end_line": 83},
            {"pilot": "上海市浦东新区（临港地区）", "answer": None, "quote": "", "n": None, "start_line": None, "end_line": None}]
    ans = {"question": "q", "answer": "北京市房山区：…[1]。\n上海市浦东新区（临港地区）：文件未提及。\n比较：只有一个试点给出数字。",
           "answerable": True, "shape": "compare", "rows": rows, "citations": [], "passages": []}
    html = answer_bubble(ans, 0)
    assert '<table class="pq-compare">' in html
    assert "<th>试点</th><th>回答</th><th>原文</th><th>行号</th>" in html
    assert "文件未提及" in html and "cite-n-1" in html and ">83<" in html
    assert "比较：只有一个试点给出数字。" in html and html.count("北京市房山区") == 1


def _cited_answer(n_pilots: int, **kw) -> dict:
    """A which-pilots answer citing one passage of each of `n_pilots` pilots."""
    cits, passages, names = [], [], []
    for i in range(1, n_pilots + 1):
        name = f"试点{i}号<img src=x>"
        quote = f"第{i}条：大力推进海绵城市建设，完善排水防涝设施，提升城市韧性和承载能力"
        cits.append({"n": i, "chunk_id": f"c{i}", "pilot": name, "section": "二、任务", "start_line": 10 * i,
                     "end_line": 10 * i, "quote": quote, "doc": "a.txt", "page": None})
        passages.append({"rank": i, "chunk_id": f"c{i}", "pilot": name, "section": "二、任务", "start_line": 10 * i,
                         "end_line": 10 * i, "score": 0.5, "text": "前文。" + quote + "。"})
        names.append(f"{name}[{i}]")
    d = {"question": "哪些试点提出建设海绵城市？", "answer": f"共有{n_pilots}个试点提出“海绵城市”：" + "、".join(names) + "。",
         "answerable": True, "citations": cits, "passages": passages, "grounded": True, "shape": "cross",
         "is_cross": True, "rows": []}
    d.update(kw)
    return d


def test_sources_beyond_five_fold_behind_one_summary():
    from ui.render import sources_html

    html = sources_html(_cited_answer(8), 0)
    _assert_inert(html)
    head, fold = html.split('<details class="pq-details pq-more">', 1)
    assert head.count('class="pq-card pq-source') == 5 and fold.count('class="pq-card pq-source') == 3
    assert "<summary>展开其余 3 条来源</summary>" in fold and "引用来源（8）" in head
    few = sources_html(_cited_answer(5), 0)
    assert "pq-more" not in few and few.count('class="pq-card pq-source') == 5


def test_which_pilots_answer_opens_with_a_table():
    from ui.render import answer_bubble, basis_snippet

    bubble = answer_bubble(_cited_answer(3), 0)
    _assert_inert(bubble)
    assert bubble.index('<table class="pq-compare pq-which">') < bubble.index('<div class="pq-answer">')
    assert "<th>试点</th><th>依据</th>" in bubble and bubble.count("<tr>") == 4  # the head and one row per pilot
    assert '试点2号&lt;img src=x&gt;<sup class="cite-n cite-n-2">[2]</sup>' in bubble
    assert "<b>海绵城市</b>" in bubble and "…" in bubble  # the cited words around the term, cut
    # one pilot is no table; nor is an answer that is not a which-pilots one
    assert "pq-which" not in answer_bubble(_cited_answer(1), 0)
    assert "pq-which" not in answer_bubble(_cited_answer(3, shape="single", is_cross=False), 0)
    # the snippet keeps the term in view and escapes the rest
    snip = basis_snippet("一二三四五六七八九十<script>一二三四五六七八九十海绵城市一二三四五六七八九十一二三", ["海绵城市"], 16)
    assert snip.startswith("…") and snip.endswith("…") and "<b>海绵城市</b>" in snip and "<script>" not in snip
    assert basis_snippet("短句", ["海绵城市"]) == "短句"


def test_eval_report_is_chinese_with_the_english_names_as_tooltips():
    import html as H
    import json

    from ui.evalview import reason_html, report_html

    report = json.loads((ROOT / "eval" / "reports" / "latest.json").read_text(encoding="utf-8"))
    page = report_html(report)
    for label, en in (("命中率@1", "hit@1"), ("前五命中率", "hit@5"), ("平均倒数排名@10", "MRR@10")):
        assert f'title="{en}' in page and f">{label}</span>" in page
    assert "检索方式：向量" in page and "检索方式：混合" in page and "共同设置：回答方式：抽取式，每题取 5 段" in page
    # what the page shows (tags, tooltips and the gold set's own words taken out) has no Latin-letter word
    shown = re.sub(r'<span class="pq-ev-data">.*?</span>', "", page)
    shown = H.unescape(re.sub(r"<[^>]+>", " ", shown))
    assert not re.findall(r"[A-Za-z]+", shown), sorted(set(re.findall(r"[A-Za-z]+", shown)))
    one = dict(report, variants=[dict(report["variants"][-1], settings={"k": 5, "mode": "hybrid",
                                                                          "answerer": "extractive"})])
    assert "设置：检索方式：混合，回答方式：抽取式，每题取 5 段" in report_html(one)
    reason = reason_html("wrong answer: missing 13 公里")
    assert ">回答有误，缺少：13 公里<" in reason and 'title="wrong answer: missing 13 公里"' in reason
    assert ">其他原因<" in reason_html("something new")
    blind = report_html(dict(report, blind=True))
    assert "盲测集" in blind and "未通过" not in blind


def test_outline_shows_each_item_once(qa):
    """Numbered items whose heading opens their paragraph ("1.打造…平台。用国际视野…") appeared twice."""
    from ui.render import outline_html

    for name in ("甘肃省敦煌市", "宁东"):
        outline = qa.pilot_outline(name)
        html = outline_html(name, outline)
        ids = re.findall(r'id="(L\d+)"', html)
        assert len(ids) == len(set(ids)), name
        for sec in outline:
            title = sec["title"]
            if re.match(r"^\d+[.．]", title):
                assert html.count(R_esc(title)) == 1, (name, title)


def test_conversation_storage_tolerates_foreign_data_and_exports_markdown():
    from ui import chat as C

    assert C.coerce(None) == C.empty() and C.coerce("x") == C.empty()
    assert C.history_of(C.coerce(["甲？", "", 3, "乙？"])) == ["甲？", "乙？"]
    conv = C.coerce({"turns": [{"q": "房山？", "a": _hostile_answer()}, {"q": "", "err": "请输入问题。"}, "junk",
                               {"q": "坏", "a": "not a dict", "err": "出错"}]})
    assert len(conv["turns"]) == 3 and C.history_of(conv) == ["房山？"]  # errored turns are not history
    md = C.export_markdown(conv)
    assert "## 第 1 问：房山？" in md and "[1] 某试点" in md and "第 4 行" in md and "第 2 页" in md
    assert "![" not in md.replace("!\\[", "") and "<img" not in md
    assert len(C.coerce({"turns": [{"q": str(i)} for i in range(100)]})["turns"]) == C.MAX_TURNS


# --------------------------------------------------------------------------- conversations through the API


def test_follow_up_and_comparison_keep_their_own_sources(client):
    conv = []
    _, html1, d1, conv = ask_turn(client, "房山区2020年常住人口城镇化率目标是多少？", conv)
    assert d1["answerable"] and "75%" in d1["answer"].replace(" ", "")
    chat, html2, d2, conv = ask_turn(client, "它的森林覆盖率目标呢？", conv)
    assert d2["resolved_question"] and "房山" in d2["resolved_question"]
    assert "45%" in d2["answer"] and "理解为：" in _message_text(chat[-1])
    assert len(conv["turns"]) == 2 and conv["turns"][0]["a"]["answer"] == d1["answer"]
    chat, _, d3, conv = ask_turn(client, "和青冈县比呢？", conv)
    assert d3["shape"] == "compare" and len(d3["rows"]) == 2
    assert "pq-compare" in _message_text(chat[-1])
    assert len(chat) == 6
    # each turn keeps its own sources: the first answer's panel is line 83, not the latest answer's
    from ui import chat as C

    first, _ = C.turn_view(C.coerce(conv), 0)
    line = d1["citations"][0]["start_line"]
    assert f"第 {line} 行" in first and 'data-turn="0"' in first and "常住人口城镇化率" in first


def test_api_caller_may_pass_history_as_questions(client):
    _, _, data, conv = ask_turn(client, "它的森林覆盖率目标呢？", ["房山区2020年常住人口城镇化率目标是多少？"])
    assert "45%" in data["answer"] and data["resolved_question"]


# --------------------------------------------------------------------------- citation lookup and browsing


def test_cite_verbatim_with_line_numbers(client):
    html = client.predict(FOREST, api_name="/cite")
    line = _line_of("森林覆盖率达到45%")
    assert "原文一致" in html and "pq-exact" in html
    assert "北京市房山区" in html
    assert f'data-start="{line}"' in html
    assert f"第 {line} 行" in html or f"第 {line}–" in html
    assert "<mark>" in html


def test_cite_changed_figure_differs_with_the_figure_marked(client):
    html = client.predict("到2020年，森林覆盖率达到46%", api_name="/cite")
    assert "与原文不一致" in html and "原文一致" not in html.replace("与原文不一致", "")
    assert '<span class="pq-diff-changed" title="与原文不同">6</span>' in html
    assert "引文为 <span class=\"pq-diff-changed\">46</span>，原文为 <b class=\"pq-diff-src\">45</b>" in html
    assert '<b class="pq-diff-src">45</b>' in html.split("最接近的原文", 1)[1]  # the source's figure picked out
    assert "1.000" not in html


def test_cite_made_up_sentence_is_absent(client):
    html = client.predict("到2020年，全市建成火星移民示范基地十二座，引进外星企业五百家。", api_name="/cite")
    assert "文件中没有" in html and "pq-diff-changed" not in html


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
    html = client.predict("latest", api_name="/eval_report")
    assert isinstance(html, str) and 'class="pq-ev"' in html
    with pytest.raises(Exception):  # only the listed reports can be asked for
        client.predict("../../etc", api_name="/eval_report")
    from ui.evaltab import show_report

    assert "没有这次评测运行的报告。" in show_report(Config.from_env(), "../../etc")


def test_llm_asks_extractive_asks_and_cite_have_separate_limits(server):
    """Hung LLM calls must not hold the slots that extractive asks and cite need: separate events, separate
    concurrency groups. (The timing itself is shown in a browser: tests/test_browser_safety.py.)"""
    demo, _ = server
    fns = {fn.api_name: fn for fn in demo.fns.values() if fn.api_name}
    groups = {name: fns[name].concurrency_id for name in ("ask", "ask_llm", "cite", "run_eval")}
    assert len(set(groups.values())) == 4, groups
    assert fns["ask_llm"].concurrency_limit >= 1 and fns["ask"].concurrency_limit >= 4
    # the evaluation's progress bar is drawn on the report only, not once per output
    dep = next(d for d in demo.config["dependencies"] if d.get("api_name") == "run_eval")
    assert len(dep["show_progress_on"]) == 1


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
    from rag.pipeline import PilotQA
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
    _, history, html, data = ask(dead_llm_client, "房山区2020年的森林覆盖率目标是多少？", answerer="llm")
    assert data.get("notice"), data
    assert "大模型" in data["notice"]
    assert "45%" in data["answer"]
    assert "pq-notice" in html and R_esc(data["notice"]) in html
    assert "提示" in _message_text(history[-1])


def test_run_eval_writes_a_run_folder_not_the_reports(qa, config, tmp_path):
    """运行评测 (and its endpoint) writes eval/runs/<timestamp>/ and shows it; the reports stay untouched."""
    import shutil

    from ui import evaltab
    from ui.app import build_app, launch

    cfg = config.with_overrides(reports_dir=tmp_path / "reports")
    before = set(evaltab.list_runs(cfg))
    demo = build_app(qa, cfg)
    port = _free_port()
    launch(demo, cfg, port=port, prevent_thread_lock=True, quiet=True)
    try:
        c = gradio_client.Client(f"http://127.0.0.1:{port}/", verbose=False)
        md0 = c.predict("latest", api_name="/eval_report")
        assert "暂无评测报告" in md0
        md, which = c.predict("gold.jsonl", 5, 4, api_name="/run_eval")
        assert "评测完成" in md and "4 题" in md and "开发集" in md, md[:500]
        assert "命中率@1" in md and 'title="hit@1' in md and "每题取 5 段" in md
        which = which.get("value") if isinstance(which, dict) else which  # the picker's update
        new = set(evaltab.list_runs(cfg)) - before
        assert len(new) == 1 and which in new
        run = evaltab.runs_dir(cfg) / which
        assert {p.name for p in run.iterdir()} >= {f"{which}.md", f"{which}.json", f"{which}.png"}
        assert not (tmp_path / "reports").exists()
        md2 = c.predict(which, api_name="/eval_report")
        assert "汇总" in md2 and "只评测前 4 题" in md2 and "评测完成" not in md2
    finally:
        demo.close()
        for name in set(evaltab.list_runs(cfg)) - before:
            shutil.rmtree(evaltab.runs_dir(cfg) / name, ignore_errors=True)
