"""The command line as a user meets it: `pilotqa` as a real process on the session's index (cold start without
torch, wrong calls that fail before anything loads, batches with bad lines, Ctrl-C, the chat REPL), and server
mode against a real HTTP server. Timings are printed (run with -s to see them), never asserted tightly."""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from rag.config import ROOT
from rag.text import norm

FOREST_Q = "房山区2020年的森林覆盖率目标是多少？"
URBAN_Q = "房山区2020年常住人口城镇化率目标是多少？"
FOLLOW_UP = "那户籍人口城镇化率呢？"
COMPARE_Q = "房山和威县到2020年常住人口城镇化率的目标分别是多少？"
BATCH_KEYS = ["id", "question", "answer", "answerable", "citations", "passages", "timings_ms"]
CITATION_KEYS = ["n", "chunk_id", "pilot", "section", "start_line", "end_line", "quote"]
PASSAGE_KEYS = ["rank", "chunk_id", "pilot", "section", "start_line", "end_line", "score", "text"]
TOKEN = "cli-test-token-5e1d"


# --------------------------------------------------------------------------- helpers


def _env(config, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PILOTQA_SERVER", "PILOTQA_API_TOKEN")}
    env.update(PILOTQA_INDEX_DIR=str(config.index_dir), PYTHONIOENCODING="utf-8", **extra)
    return env


def pilotqa(config, *args, stdin: str | None = None, timeout: float = 120, **env):
    """`python -m rag.cli ARGS` as a child process (bytes arguments pass through undecoded)."""
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "rag.cli", *args], env=_env(config, **env), cwd=ROOT, input=stdin,
                       capture_output=True, text=True, encoding="utf-8", errors="replace", timeout=timeout)
    r.seconds = time.perf_counter() - t0
    return r


def one_line_error(r, *needles: str) -> str:
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip() and not ln.startswith("使用服务器")]
    assert len(lines) == 1 and lines[0].startswith("错误 / error:"), r.stderr
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


@pytest.fixture()
def in_process(qa, config, monkeypatch, capsys):
    """rag.cli.main in this process on the session's PilotQA and index folder (the early checks read its name
    lists); `loads` counts how often it was opened."""
    import rag.cli.backend
    import rag.cli.main

    monkeypatch.setenv("PILOTQA_INDEX_DIR", str(config.index_dir))
    opened = []
    monkeypatch.setattr(rag.cli.backend, "open_pipeline", lambda cfg: opened.append(cfg) or qa)

    def run(*argv):
        rc = rag.cli.main.main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return rc, out, err

    run.opened = opened
    return run


# --------------------------------------------------------------------------- a cold ask


def test_cold_ask_answers_without_torch(config, built_index):
    """A first `pilotqa ask` in a fresh process: the answer, the one-line citation label, and no torch."""
    code = ("import sys, rag.cli.main\n"
            "rc = rag.cli.main.main(sys.argv[1:])\n"
            "heavy = [m for m in ('torch', 'sentence_transformers', 'transformers') if m in sys.modules]\n"
            "print('HEAVY=' + ','.join(heavy), file=sys.stderr)\n"
            "sys.exit(rc)\n")
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", code, "ask", FOREST_Q], env=_env(config), cwd=ROOT,
                       capture_output=True, text=True, encoding="utf-8", timeout=120)
    seconds = time.perf_counter() - t0
    print(f"\ncold `pilotqa ask`: {seconds:.2f} s")
    assert r.returncode == 0, r.stderr
    assert "45%" in norm(r.stdout) and "北京市房山区" in r.stdout
    assert "第 91 行" in r.stdout and "91–91" not in r.stdout  # one line is "第 N 行", not "第 N–N 行"
    heavy = re.search(r"^HEAVY=(.*)$", r.stderr, re.M)
    assert heavy and heavy.group(1) == "", r.stderr
    assert seconds < 60


# --------------------------------------------------------------------------- wrong calls


WRONG_CALLS = [
    pytest.param(["ask", "森林覆盖率目标是多少？", "--pilot", "房山县"], ["房山县", "北京市房山区"], id="unknown-pilot"),
    pytest.param(["search", "森林覆盖率", "--pilot", "fangshan"], ["北京市房山区"], id="unknown-pilot-pinyin"),
    pytest.param(["ask", ""], ["请输入问题"], id="empty-question"),
    pytest.param(["ask", "房" * 600], ["问题太长"], id="long-question"),
    pytest.param(["cite", "？？！！"], ["没有可检索的文字"], id="punctuation-quote"),
    pytest.param(["ask", FOREST_Q, "-k", "0"], ["-k"], id="k-zero"),
    pytest.param(["ask", FOREST_Q, "--answerer", "llm"], ["PILOTQA_LLM_BASE_URL"], id="llm-not-configured"),
    pytest.param(["ask"], ["--batch"], id="no-question"),
    pytest.param(["ask", FOREST_Q, "--out", "x.jsonl"], ["--out"], id="out-without-batch"),
    pytest.param(["ask", FOREST_Q, "--server", "localhost:7860"], ["http://"], id="bad-server-url"),
]


@pytest.mark.parametrize("argv,needles", WRONG_CALLS)
def test_wrong_calls_fail_before_anything_loads(in_process, argv, needles):
    rc, out, err = in_process(*argv)
    assert rc == 2 and "Traceback" not in err, err
    assert err.startswith("错误 / error:") and len(err.strip().splitlines()) == 1, err
    for n in needles:
        assert n in err, (n, err)
    assert in_process.opened == [], "the pipeline was loaded for a call that was wrong from the start"


def test_wrong_calls_through_a_real_process_are_fast(config, built_index):
    """Measured as a user runs them: a fresh process each (figures printed); bytes that are not UTF-8 in argv
    get a clear message, not `TypeError: TextEncodeInput…`."""
    calls = {
        "unknown pilot": ["ask", "森林覆盖率", "--pilot", "深圳"],
        "invalid UTF-8 question": ["ask", "房山区".encode() + b"\xff\xfe" + "森林".encode()],
        "invalid UTF-8 pilot": ["search", FOREST_Q, "--pilot", b"\xb7\xbf\xc9\xbd"],  # 房山 in GBK
        "too long": ["search", "问" * 501],
    }
    times = {}
    for what, argv in calls.items():
        r = pilotqa(config, *argv)
        times[what] = r.seconds
        line = one_line_error(r)
        assert "TextEncodeInput" not in line and "TypeError" not in line, line
        if "UTF-8" in what:
            assert "UTF-8" in line, line
    print("\nwrong calls (s): " + ", ".join(f"{k} {v:.2f}" for k, v in times.items()))
    assert max(times.values()) < 15  # generous: the figures above are the measurement


def test_json_errors_go_to_stdout_too(in_process):
    rc, out, err = in_process("ask", "森林覆盖率", "--pilot", "深圳", "--json")
    assert rc == 2 and "深圳" in err
    data = json.loads(out)
    assert set(data) == {"error"} and "深圳" in data["error"]


def test_corpus_flag_leaves_the_question_alone(in_process, config):
    from rag.cli.parser import build_parser

    corpus = str(ROOT / "data" / "pilots-batch2.txt")
    args = build_parser().parse_args(["ask", "--corpus", corpus, FOREST_Q])
    assert args.question == FOREST_Q and args.corpus == [corpus]
    rc, out, err = in_process("ask", "--corpus", corpus, FOREST_Q)
    assert rc == 0, err
    assert "45%" in norm(out)


def test_ask_json_has_resolved_question_and_the_batch_fields(in_process):
    rc, out, err = in_process("ask", "--json", FOREST_Q)
    assert rc == 0, err
    data = json.loads(out)
    assert "resolved_question" in data and data["resolved_question"] is None
    assert [k for k in data if k in BATCH_KEYS] == BATCH_KEYS and data["answerable"]


def test_cite_shows_verdict_and_changed_figure(in_process):
    rc, out, err = in_process("cite", "到2020年，森林覆盖率达到45%")
    assert rc == 0, err
    assert out.startswith("原文一致") and "北京市房山区" in out and "第 91 行" in out
    rc, out, err = in_process("cite", "到2020年，房山区森林覆盖率达到46%")
    assert rc == 1, err
    assert "与原文不一致" in out and "46" in out and "45" in out


CITE_CASES = [  # (quote, exit status, verdict, what the terminal shows)
    pytest.param("到2020年，森林覆盖率达到45%", 0, "verbatim", ["原文一致", "北京市房山区", "第 91 行"], id="verbatim"),
    pytest.param("到2020年，森林覆盖率达到46%", 1, "differs", ["与原文不一致", "引文为 46，原文为 45"], id="differs"),
    pytest.param("永安市到2020年户籍人口城镇化率提高到六成", 1, "paraphrase",
                 ["意思相近（非原文）", "福建省永安市 · 一、总体目标 · 第 1241 行", "原文：到 2020 年，常住人口城镇化率"],
                 id="paraphrase"),
    pytest.param("青冈县到2020年常住人口城镇化率要提高到六成", 1, "paraphrase",
                 ["意思相近（非原文）", "引文为 六成，原文为 65%", "提高到【六成】", "黑龙江省青冈县"],
                 id="paraphrase-changed-figure"),
    pytest.param("房山区将在五年内新建二十座大型水上乐园", 2, "absent", ["文件中没有"], id="absent"),
]


@pytest.mark.parametrize("quote,status,verdict,shown", CITE_CASES)
def test_cite_exit_status_is_the_verdict(in_process, quote, status, verdict, shown):
    """0 原文一致, 1 与原文不一致 or 意思相近, 2 文件中没有 — as text and as --json, with nothing on stderr."""
    rc, out, err = in_process("cite", quote)
    assert (rc, err) == (status, ""), (rc, err)
    for needle in shown:
        assert needle in out, (needle, out)
    rc, out, err = in_process("cite", quote, "--json")
    assert (rc, err) == (status, "") and json.loads(out)["verdict"] == verdict


def test_cite_diff_shows_the_documents_characters(in_process):
    """The quote typed with a half-width comma: the marked diff shows the document's own full-width ，."""
    rc, out, err = in_process("cite", "到2020年,森林覆盖率达到46%")
    assert rc == 1, err
    line = next(ln for ln in out.splitlines() if "引文对照" in ln)
    assert line.strip() == "引文对照：到2020年，森林覆盖率达到4【6】%", line


def test_cite_exit_status_through_a_real_process(config, built_index):
    """The statuses as a shell sees them: a paraphrase exits 1, an invented statement 2 (no error line), and a
    usage error 2 with its one error line."""
    r = pilotqa(config, "cite", "永安市到2020年户籍人口城镇化率提高到六成", "--json")
    assert r.returncode == 1, r.stderr
    assert json.loads(r.stdout)["label"] == "意思相近（非原文）"
    r = pilotqa(config, "cite", "房山区将在五年内新建二十座大型水上乐园")
    assert r.returncode == 2 and r.stdout.startswith("文件中没有") and "错误" not in r.stderr, r.stderr
    one_line_error(pilotqa(config, "cite", "？？！！"), "没有可检索的文字")


def test_cite_help_says_the_exit_statuses(capsys):
    from rag.cli.parser import build_parser

    with pytest.raises(SystemExit) as exit_:
        build_parser(["cite"]).parse_args(["cite", "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    for needle in ("0  原文一致", "1  与原文不一致", "意思相近（非原文）", "2  文件中没有", "用法错误"):
        assert needle in text, needle


def _actions(parser, path=("pilotqa",)):
    """(command path, action) for every action of `parser` and of every subcommand under it."""
    import argparse

    for action in parser._actions:
        yield path, action
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _actions(sub, (*path, name))


def test_every_flag_of_every_command_has_help():
    """Every flag and argument of every command (the commands other packages register included) says what it
    is for in --help."""
    import argparse

    from rag.cli.parser import build_parser

    actions = list(_actions(build_parser()))
    missing = [f"{' '.join(path)} {'/'.join(a.option_strings) or a.dest}" for path, a in actions
               if not a.help or a.help == argparse.SUPPRESS]
    assert not missing, missing
    commands = {path[1] for path, _ in actions if len(path) > 1}
    assert {"build", "search", "ask", "chat", "cite", "pilots", "eval", "fit", "docs", "serve"} <= commands
    flags = {(path[-1], o) for path, a in actions for o in a.option_strings}
    assert {("search", "-k"), ("ask", "--json"), ("ask", "--mode"), ("ask", "--answerer"), ("serve", "--port"),
            ("cite", "--json"), ("list", "--json")} <= flags


def test_pilots_lists_every_pilot_without_loading(in_process, qa):
    rc, out, err = in_process("pilots", "--json")
    assert rc == 0, err
    data = json.loads(out)
    assert data["count"] == len(qa.pilot_names()) == 59
    assert in_process.opened == []


# --------------------------------------------------------------------------- batch


def _batch_lines() -> list[bytes]:
    good = lambda i, q, **kw: json.dumps({"id": f"q{i}", "question": q, **kw}, ensure_ascii=False).encode()  # noqa: E731
    return [
        good(1, FOREST_Q),                                                   # 1
        b'{"id": "bad-utf8", "question": "\xe6\x88\xbf\xff\xfe"}',            # 2 invalid UTF-8
        b'{"id": "surrogate", "question": "\\ud800\xe6\x88\xbf"}',          # 3 lone surrogate escape
        b'{"id": "x", "question": ',                                        # 4 bad JSON
        b'{"question": "' + FOREST_Q.encode() + b'"}',                       # 5 missing id
        b'{"id": "", "question": "' + FOREST_Q.encode() + b'"}',             # 6 empty id
        b'{"id": null, "question": "' + FOREST_Q.encode() + b'"}',           # 7 null id
        b'{"id": {"a": 1}, "question": "' + FOREST_Q.encode() + b'"}',       # 8 object id
        good(1, URBAN_Q),                                                    # 9 duplicate id
        b"",                                                                 # 10 blank: ignored
        good(2, FOLLOW_UP, history=[URBAN_Q]),                               # 11 a follow-up with history
        good(3, FOREST_Q, history="not a list"),                             # 12 bad history
        good(4, "？" * 3),                                                    # 13 no searchable text
        good(5, "威县2017年常住人口城镇化率要到多少？"),                          # 14
    ]


def test_batch_with_bad_lines_writes_every_good_line(in_process, qa, tmp_path):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_bytes(b"\n".join(_batch_lines()) + b"\n")
    rc, stdout, err = in_process("ask", "--batch", src, "--out", out)
    assert rc == 0, err
    assert "Traceback" not in err
    bad = sorted(int(m) for m in re.findall(rf"{re.escape(str(src))}:(\d+):", err))
    assert bad == [2, 3, 4, 5, 6, 7, 8, 9, 12, 13], err
    for needle in ("UTF-8", "surrogate", "JSON", "missing id", "empty id", "null", "object", "duplicate id 'q1'",
                   "history"):
        assert needle in err, needle
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in records] == ["q1", "q2", "q5"]
    for r in records:  # exactly the README's batch format
        assert list(r) == BATCH_KEYS
        assert all(list(c) == CITATION_KEYS for c in r["citations"])
        assert all(list(p) == PASSAGE_KEYS for p in r["passages"])
        assert list(r["timings_ms"]) == ["retrieve", "answer", "total"]
    assert "45%" in norm(records[0]["answer"])
    # the history reached the pipeline: the follow-up is answered as the facade answers it with that history
    expected = qa.ask(FOLLOW_UP, history=[URBAN_Q]).to_json(id="q2")
    assert records[1]["answer"] == expected["answer"]
    assert [c["chunk_id"] for c in records[1]["citations"]] == [c["chunk_id"] for c in expected["citations"]]
    assert "已回答 3 个问题" in stdout and not (tmp_path / "out.jsonl.partial").exists()


def test_batch_refuses_to_overwrite_its_input(in_process, tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": "a", "question": FOREST_Q}, ensure_ascii=False) + "\n", encoding="utf-8")
    before = src.read_bytes()
    for out in (src, tmp_path / "." / "in.jsonl"):
        rc, _, err = in_process("ask", "--batch", src, "--out", out)
        assert rc == 2 and "--out" in err and "Traceback" not in err, err
    link = tmp_path / "link.jsonl"
    link.symlink_to(src)
    rc, _, err = in_process("ask", "--batch", src, "--out", link)
    assert rc == 2, err
    assert src.read_bytes() == before and in_process.opened == []


def test_batch_out_is_a_directory(in_process, tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": "a", "question": FOREST_Q}, ensure_ascii=False) + "\n", encoding="utf-8")
    outdir = tmp_path / "answers"
    outdir.mkdir()
    before = sorted(p.name for p in tmp_path.iterdir())
    rc, _, err = in_process("ask", "--batch", src, "--out", outdir)
    assert rc == 2 and "目录" in err and "is a directory" in err and str(outdir) in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == before and list(outdir.iterdir()) == []
    assert in_process.opened == []


def test_batch_of_only_bad_lines_is_an_error_without_output(in_process, tmp_path):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_bytes(b"\xff\xfe\n{oops\n")
    rc, _, err = in_process("ask", "--batch", src, "--out", out)
    assert rc == 2 and f"{src}:1:" in err and f"{src}:2:" in err and "no usable question" in err, err
    assert not out.exists() and in_process.opened == []


def test_ctrl_c_keeps_finished_answers_in_partial(config, built_index, tmp_path):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    qs = [FOREST_Q, URBAN_Q, "威县2017年常住人口城镇化率要到多少？"] * 60
    src.write_text("".join(json.dumps({"id": f"q{i}", "question": q}, ensure_ascii=False) + "\n"
                           for i, q in enumerate(qs)), encoding="utf-8")
    partial = tmp_path / "out.jsonl.partial"
    proc = subprocess.Popen([sys.executable, "-m", "rag.cli", "ask", "--batch", str(src), "--out", str(out)],
                            env=_env(config), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not (partial.exists() and partial.read_bytes().count(b"\n") >= 2):
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    err = err.decode("utf-8")
    assert proc.returncode == 130, err
    assert str(partial) in err and "Traceback" not in err, err
    lines = partial.read_text(encoding="utf-8").splitlines()
    assert 2 <= len(lines) < len(qs)
    assert [json.loads(x)["id"] for x in lines] == [f"q{i}" for i in range(len(lines))]  # whole lines, in order
    assert not out.exists()


# --------------------------------------------------------------------------- chat


def test_chat_follow_up_comparison_and_commands(config, built_index):
    script = "\n".join([URBAN_Q, FOLLOW_UP, "/pilot 深圳", "/pilot 房山", "森林覆盖率目标是多少？", "/new", "/pilot",
                        COMPARE_Q, "/unknown", "/quit", "这一行不会被问到"]) + "\n"
    r = pilotqa(config, "chat", stdin=script)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "Traceback" not in out + r.stderr
    assert "75%" in norm(out)                                   # the first question
    assert "理解为：" in out                                      # the follow-up, as understood
    assert "没有名为“深圳”的试点" in out and "只问 北京市房山区" in out
    assert "45%" in norm(out)                                   # asked inside the /pilot scope
    assert "已开始新的对话" in out and "不限试点" in out and "未知命令" in out
    # the comparison as aligned rows (pilot | lines | answer [n]): every column starts at the same width
    from rag.cli.output import width

    rows = [m for m in (re.match(r"^(\S+ +)((?:第 [\d–]+ 行|—|出处) +)(.*)$", ln) for ln in out.splitlines()) if m]
    assert [m.group(1).strip() for m in rows] == ["试点", "北京市房山区", "河北省威县"], out
    assert len({width(m.group(1)) for m in rows}) == 1 and len({width(m.group(1) + m.group(2)) for m in rows}) == 1
    assert "75%[1]" in norm(rows[1].group(3)), rows[1].group(3)
    assert "这一行不会被问到" not in out


# --------------------------------------------------------------------------- server mode


@pytest.fixture(scope="module")
def api_server(qa, config):
    """The real JSON API (rag.server.create_app, no web UI) in a uvicorn thread, with a token."""
    import uvicorn

    from rag.serve.server import create_app

    cfg = config.with_overrides(api_token=TOKEN)
    app = create_app(qa, cfg, ui=False)
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))  # any free port
    th = threading.Thread(target=srv.run, daemon=True)
    th.start()
    deadline = time.time() + 30
    while not srv.started and time.time() < deadline:
        time.sleep(0.05)
    port = srv.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    th.join(10)


def test_server_mode_ask_search_cite(config, api_server):
    env = {"PILOTQA_SERVER": api_server, "PILOTQA_API_TOKEN": TOKEN}
    r = pilotqa(config, "ask", FOREST_Q, **env)
    print(f"\n`pilotqa ask` through the server: {r.seconds:.2f} s")
    assert r.returncode == 0, r.stderr
    assert api_server in r.stderr and "45%" in norm(r.stdout) and "第 91 行" in r.stdout
    r = pilotqa(config, "search", FOREST_Q, "--json", **env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)[0]["pilot"] == "北京市房山区"
    r = pilotqa(config, "cite", "到2020年，森林覆盖率达到45%", "--server", api_server, PILOTQA_API_TOKEN=TOKEN)
    assert r.returncode == 0 and r.stdout.startswith("原文一致"), r.stderr
    r = pilotqa(config, "ask", "森林覆盖率", "--pilot", "深圳", "--json", **env)  # checked by the server
    assert json.loads(r.stdout)["error"] and "深圳" in one_line_error(r)


def test_server_mode_batch_matches_local(in_process, config, api_server, tmp_path, monkeypatch):
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in [
        {"id": "a", "question": FOREST_Q}, {"id": "b", "question": FOLLOW_UP, "history": [URBAN_Q]}]) + "\n",
        encoding="utf-8")
    rc, _, err = in_process("ask", "--batch", src, "--out", tmp_path / "local.jsonl")
    assert rc == 0, err
    monkeypatch.setenv("PILOTQA_API_TOKEN", TOKEN)
    rc, _, err = in_process("ask", "--batch", src, "--out", tmp_path / "remote.jsonl", "--server", api_server)
    assert rc == 0 and api_server in err, err
    local, remote = ([json.loads(x) for x in (tmp_path / f"{n}.jsonl").read_text(encoding="utf-8").splitlines()]
                     for n in ("local", "remote"))
    for a, b in zip(local, remote, strict=True):
        assert list(b) == BATCH_KEYS
        a.pop("timings_ms"), b.pop("timings_ms")
        assert a == b


@pytest.mark.parametrize("case", ["no-token", "wrong-token", "nobody-listening"])
def test_server_problems_are_one_line(config, api_server, case):
    with socket.socket() as closed:  # bound but not listening: connections to it are refused
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}" if case == "nobody-listening" else api_server
        token = {"no-token": "", "wrong-token": "nope"}.get(case, TOKEN)
        r = pilotqa(config, "ask", FOREST_Q, "--server", url, PILOTQA_API_TOKEN=token)
    line = one_line_error(r)
    assert ("PILOTQA_API_TOKEN" in line) if case != "nobody-listening" else ("pilotqa serve" in line), line
    assert token not in line or not token
