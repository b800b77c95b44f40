"""The index's life as `pilotqa bench` measures it, every step a real `pilotqa` child process:

1. a cold build (`pilotqa build`) of a private documents folder holding copies of the configured corpus,
   into a private index folder whose vector cache starts empty (the model export cache is shared, so nothing
   is exported again): wall time, CPU time and the child's own peak RSS;
2. the same build again with nothing changed: it must embed nothing;
3. `pilotqa docs add` of one small Word document written here with python-docx: how many chunks were
   embedded (only the new document's, issue 13) and how long it took, wall and the index update alone;
4. `pilotqa docs remove` of it, which leaves the index as the cold build made it for the later parts;
5. (`bench_unshipped`, issue 23) a cold build with the shipped passage vectors switched off
   (`PILOTQA_SHIPPED_VECTORS=0`) into another empty index folder: every chunk and sentence is embedded now.

Every build also reports what `pilotqa build` does not print, from its `BuildReport` (`bench.common`'s `--peak`
entry keeps it): the fact table's rows and the time spent extracting them (issue 20), the texts whose vector
came shipped.
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

from bench.common import config_env, log, run_child
from rag.config import Config

ADDED_DOC = "基准测试补充材料.docx"
# A plain (non-pilots) document: its own heading tree, figures the corpus does not state, about six chunks.
_DOC_SECTIONS = [
    ("一、总体目标", [
        "到2025年，示范区常住人口城镇化率达到68.5%，户籍人口城镇化率达到52.3%，新增城镇就业岗位4.2万个。",
        "到2025年，示范区城市建成区绿地率达到41%，污水集中处理率达到97%，生活垃圾无害化处理率保持100%。",
    ]),
    ("二、主要任务", [
        "（一）推进农业转移人口市民化。全面放开落户限制，以居住证为载体，推动基本公共服务覆盖全部常住人口，"
        "三年内新建保障性租赁住房1.8万套，随迁子女在公办学校就读比例不低于92%。",
        "（二）建立多元化投融资机制。设立城镇化发展基金30亿元，引导社会资本参与基础设施建设，"
        "探索以使用者付费为基础的项目收益模式，规范政府和社会资本合作。",
        "（三）改革完善土地管理制度。盘活存量建设用地1200公顷，推进农村集体经营性建设用地入市，"
        "建立城乡统一的建设用地市场，土地增值收益主要用于农业农村。",
    ]),
    ("三、保障措施", [
        "成立由市长任组长的示范区建设领导小组，领导小组办公室设在市发展改革委，每季度调度一次工作进展。",
        "建立年度考核评估制度，将示范区建设成效纳入各部门绩效考核，评估结果向社会公开。",
    ]),
]


def write_docx(path: Path) -> Path:
    """The document `docs add` ingests: Word heading styles and plain paragraphs, as a real one has."""
    import docx  # python-docx loads only when a Word file is read or written

    doc = docx.Document()
    doc.add_heading("某市新型城镇化示范区建设方案要点", level=1)
    for title, paragraphs in _DOC_SECTIONS:
        doc.add_heading(title, level=2)
        for text in paragraphs:
            doc.add_paragraph(text)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc.save(str(path))
    return path


def private_config(config: Config, work: Path) -> Config:
    """`config` on a documents folder of copies of its corpus documents and an empty index folder in `work`."""
    from rag.corpus import expand_paths  # the evaluation loads only for this command

    docs = work / "docs"
    docs.mkdir(parents=True, exist_ok=True)
    for p in expand_paths(list(config.corpus)):
        shutil.copyfile(p, docs / Path(p).name)
    return config.with_overrides(docs_dir=docs, corpus=(str(docs),), index_dir=work / "index")


def _number(pattern: str, lines: list[str], cast=int):
    m = re.search(pattern, " ".join(lines))
    return cast(m.group(1)) if m else None


def _checked(step: str, res: dict) -> dict:
    if res["exit"] != 0:
        raise RuntimeError(f"{step} failed (exit {res['exit']}): {' / '.join(res['output'][-3:])}")
    out = res["output"]
    rep = res.pop("build_report", None) or {}
    for key in ("facts", "facts_seconds", "shipped"):
        if key in rep:
            res[key] = rep[key]
    res["chunks"] = _number(r"(\d+) 个片段", out)
    res["embedded"] = _number(r"新嵌入 (\d+)", out)
    res["index_update_s"] = _number(r"(?:用时 |）[，,])([\d.]+) 秒", out, float)
    res["sentences_embedded"] = _number(r"候选句 \d+ 个（新嵌入 (\d+)）", out)
    return res


def bench_index(cfg: Config, work: Path) -> dict:
    """Steps 1 and 2 of the module docstring on `cfg` (a `private_config`)."""
    env = config_env(cfg)
    log("cold build (child process, empty vector cache)…")
    cold = _checked("cold build", run_child(["build", "--quiet"], env, cfg.root, work / "build-cold.log", peak=True))
    log(f"cold build {cold['seconds']} s, peak RSS {cold['peak_rss_mb']} MB; no-change rebuild…")
    again = _checked("no-change rebuild", run_child(["build", "--quiet"], env, cfg.root, work / "build-again.log",
                                                    peak=True))
    log(f"no-change rebuild {again['seconds']} s, embedded {again['embedded']}")
    return {"documents": sorted(p.name for p in Path(cfg.docs_dir).iterdir() if p.is_file()),
            "cold": cold, "rebuild_no_change": again}


def bench_add_document(cfg: Config, work: Path) -> dict:
    """Steps 3 and 4 of the module docstring: add one Word document to the indexed folder, then remove it."""
    from rag.index.documents import list_documents  # the documents folder is read only for this command

    env = config_env(cfg)
    doc = write_docx(work / "incoming" / ADDED_DOC)
    log(f"pilotqa docs add {ADDED_DOC} (child process)…")
    add = _checked("docs add", run_child(["docs", "add", str(doc), "--quiet"], env, cfg.root, work / "docs-add.log"))
    info = {d.name: d for d in list_documents(cfg)}
    add["document_chunks"] = info[ADDED_DOC].chunks if ADDED_DOC in info else None
    log(f"docs add: {add['embedded']} embedded ({add['document_chunks']} chunks in the document), "
        f"{add['seconds']} s; docs remove…")
    remove = _checked("docs remove", run_child(["docs", "remove", ADDED_DOC, "--quiet"], env, cfg.root,
                                               work / "docs-remove.log"))
    return {"file": ADDED_DOC, "bytes": doc.stat().st_size, "add": add, "remove": remove}


def bench_unshipped(cfg: Config, work: Path) -> dict:
    """Step 5 of the module docstring: the cold build without the shipped vectors (its own empty index folder,
    removed afterwards; the exported model is shared, so nothing is exported again)."""
    index_dir = work / "index-unshipped"
    env = config_env(cfg.with_overrides(index_dir=index_dir, shipped_vectors=False))
    log("cold build without the shipped vectors (child process, PILOTQA_SHIPPED_VECTORS=0, empty vector cache)…")
    try:
        res = _checked("cold build without shipped vectors",
                       run_child(["build", "--quiet"], env, cfg.root, work / "build-unshipped.log", peak=True))
    finally:
        shutil.rmtree(index_dir, ignore_errors=True)
    log(f"cold build without shipped vectors {res['seconds']} s, peak RSS {res['peak_rss_mb']} MB, "
        f"embedded {res['embedded']} chunks / {res['sentences_embedded']} sentences")
    return res
