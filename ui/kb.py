"""The 知识库 (knowledge base) tab: list, upload, delete and re-index the documents the assistant answers from.

`build_kb_tab(qa, config)` adds the tab inside the caller's `gr.Blocks` / `gr.Tabs`. Every operation goes
through `rag.documents` (the same checks and messages as `pilotqa docs`), runs one at a time
(`concurrency_id="kb"`), and shows its progress. Questions keep being answered from the loaded index while a
rebuild runs (they run under another concurrency id); when the new build is published it is swapped in
with `PilotQA.reload_if_changed()`, so an answer never mixes two indexes.

Managing documents changes what everybody gets answered from: when `PILOTQA_ADMIN_TOKEN` is set
(`config.admin_token`) every change needs it, on any host; without one, the tab manages documents only when the
app listens on this machine alone (a loopback address), and is read-only beyond it.

Only files that came through the app's own upload are accepted: a path a client names that is not in Gradio's
upload folder (e.g. a server file sent as FileData through the API) is refused, never read. A file named like a
document the folder has is not replaced until the user confirms (替换); the replaced version is kept until the
new index is published.

Handlers (all with an `api_name`, so the same checks apply to API calls):
  kb_list()                         -> (table, status, names)
  kb_add(files, token)              -> (table, status, names, files, replace row, replace text)
  kb_add_replace(files, token)      -> the same, replacing documents of the same name
  kb_ask_remove(name, token)        -> (confirm row, confirm text, status)
  kb_remove(name, token)            -> (table, status, names, confirm row)
  kb_reindex(token)                 -> (table, status, names)
"""
from __future__ import annotations

import hmac
import logging
import re
from html import escape
from pathlib import Path

import gradio as gr

from rag.config import Config
from rag.index import documents as D

log = logging.getLogger("pilotqa.ui.kb")

HEADERS = ["文件名", "类型", "页数", "内容", "片段数", "添加时间", "状态"]
TYPES_ZH = {"Markdown": "文本"}   # the table's 类型 column; a Markdown file is a text file to a reader
# Warnings the library writes in English, said in Chinese here (any other English one is logged, and counted)
_WARNINGS = [(re.compile(r"not UTF-8; decoded as GB18030"), "文件不是 UTF-8 编码，已按 GB18030 读取"),
             (re.compile(r"duplicate pilot/document name"), "与已有文档的标题重名，请检查是否重复添加"),
             (re.compile(r"embedding cache could not be read"), "嵌入缓存无法读取，已全部重新嵌入"),
             (re.compile(r"has no text"), "有一节没有正文"),
             (re.compile(r"table of contents .* disagree"), "目录与正文中的试点标题不一致")]
_CJK = re.compile(r"[\u4e00-\u9fff]")
LOOPBACK = ("127.0.0.1", "localhost", "::1")
GENERIC_ERROR = "抱歉，操作没有完成，请稍后重试。如果一直出现，请联系管理员查看服务器日志。"


def needs_token(config: Config) -> bool:
    return str(config.host) not in LOOPBACK


def _status(text: str, kind: str = "info") -> str:
    colours = {"ok": ("#ecfdf5", "#065f46"), "error": ("#fef2f2", "#7f1d1d"), "info": ("#f8fafc", "#475569")}
    bg, fg = colours.get(kind, colours["info"])
    body = "<br>".join(escape(line) for line in text.split("\n"))
    return (f'<div class="pq-kb-status pq-kb-{kind}" style="background:{bg};color:{fg};padding:.6em .9em;'
            f'border-radius:8px;line-height:1.6">{body}</div>')


class Denied(Exception):
    """A management request this caller may not make; the message says why (Chinese)."""


def authorise(config: Config, token) -> None:
    """A configured admin token is needed for every change, on any host (a reverse proxy on this machine makes
    every visitor look local); without one, only an app on a loopback address may change documents."""
    if tuple(config.corpus) != (str(config.docs_dir),):
        raise Denied("本服务用 --corpus 指定了语料，知识库目录不在使用中：请不带 --corpus 启动后再管理文档。")
    if config.admin_token:
        if not isinstance(token, str) or not hmac.compare_digest(token.encode(), str(config.admin_token).encode()):
            raise Denied("管理口令不正确，不能修改知识库。")
        return
    if needs_token(config):
        raise Denied("服务对外开放，且未设置 PILOTQA_ADMIN_TOKEN：知识库只读。请设置管理口令后重启服务。")


def uploaded_paths(files) -> list[str]:
    """The paths of files the app's own upload stored; anything else (a server path a client named) is refused."""
    from gradio.utils import get_upload_folder  # where Gradio keeps uploads (GRADIO_TEMP_DIR or the temp folder)

    root = Path(get_upload_folder()).resolve()
    out = []
    for f in files or []:
        raw = f if isinstance(f, str) else getattr(f, "path", None) or getattr(f, "name", None) or str(f)
        path = Path(str(raw))
        try:
            real = path.resolve(strict=True)
        except (OSError, RuntimeError):
            real = None
        if real is None or not real.is_relative_to(root) or not real.is_file():
            raise Denied(f"只能添加通过本页面上传的文件：“{path.name}”不是上传的文件，已拒绝。")
        out.append(str(real))
    return out


def units_zh(units: str) -> str:
    """The 内容 column: a document that could not be read says so, without the library's English reason."""
    if not units:
        return "—"
    return "无法读取" if units.startswith("无法读取") else units


def warnings_zh(warnings) -> list[str]:
    """注意：… lines in Chinese. A warning the library wrote in English is said in Chinese when it is a known
    one; the others are logged for the administrator and counted."""
    out, other = [], 0
    for w in warnings:
        text = str(w)
        zh = next((z for pattern, z in _WARNINGS if pattern.search(text)), None)
        if zh:
            name = Path(text.split(":", 1)[0].strip()).name if ":" in text else ""
            out.append(f"注意：{name}：{zh}" if name else f"注意：{zh}")
        elif _CJK.search(text):
            out.append(f"注意：{text}")
        else:
            other += 1
            log.warning("知识库提示（document warning）: %s", text)
    if other:
        out.append(f"注意：另有 {other} 条技术提示，已记入服务器日志。")
    return out


def build_kb_tab(qa, config: Config) -> None:
    """The 知识库 tab, created in the current Blocks context (call it inside `with gr.Tabs():`)."""
    guarded = needs_token(config) or bool(config.admin_token)  # the token field, wherever a token is needed

    def rows():
        try:
            docs = D.list_documents(config, chunks=list(qa.index.chunks))
        except Exception:  # noqa: BLE001 - the table must always render
            log.exception("列出文档失败（listing documents failed）")
            return [], []
        table = [[d.name, TYPES_ZH.get(d.type, d.type) or "—", d.pages or "—", units_zh(d.units),
                  "—" if d.chunks is None else d.chunks, d.added or "—", d.status] for d in docs]
        return table, [d.name for d in docs if d.status != "已删除（待重建）"]

    def change(operation, token, progress) -> tuple[str, bool]:
        """Run one document operation for an authorised caller; (status html, whether it succeeded).

        On success the new build is swapped in; on any failure the index is unchanged and says why."""
        try:
            authorise(config, token)
            report = operation(lambda fraction, message: progress(fraction, desc=message))
        except Exception as exc:  # noqa: BLE001 - every failure becomes a message, never a traceback
            return failure(exc), False
        try:
            qa.reload_if_changed()
        except Exception:  # noqa: BLE001 - the old index keeps serving
            log.exception("文档改动后新索引未能载入，继续用原索引（reload_if_changed failed）")
        return _status(report_text(report), "ok"), True

    def report_text(report) -> str:
        return "\n".join(report.messages_zh + [report.summary_zh()] + warnings_zh(report.warnings))

    def failure(exc: Exception) -> str:
        if isinstance(exc, D.DocumentError):
            return _status(exc.zh, "error")
        if isinstance(exc, Denied):
            return _status(str(exc), "error")
        log.exception("文档操作失败（document operation failed）: %s", exc)
        return _status(GENERIC_ERROR, "error")

    def refresh():
        table, names = rows()
        return table, _status(f"共 {len(table)} 个文档。", "info"), gr.Dropdown(choices=names, value=None)

    # Progress shows the operation's own Chinese steps (not tqdm's bars: theirs are the libraries' English words)
    def add_files(files, token, replace: bool, progress):
        clash: list[str] = []

        def operation(report_progress):
            paths = uploaded_paths(files)
            if not paths:
                raise D.DocumentError("请先选择要上传的文件", "choose files to upload first")
            try:
                # Gradio keeps an upload under its original (already sanitised) file name; it is checked again
                return D.add_documents(config, paths, [Path(p).name for p in paths], progress=report_progress,
                                       replace=replace)
            except D.NameClash as exc:
                clash.extend(exc.names)
                raise

        msg, ok = change(operation, token, progress)
        table, names = rows()
        if clash:  # ask first: nothing was read or changed
            text = (f"已有同名文档“{'、'.join(clash)}”。替换后，新版本建好索引之前旧版本仍会保留。"
                    "确定要替换吗？")
            return (table, _status(f"尚未添加：已有同名文档“{'、'.join(clash)}”，请确认是否替换。", "info"),
                    gr.skip(), gr.skip(), gr.Row(visible=True), _status(text, "info"))
        return (table, msg, gr.Dropdown(choices=names, value=None), None if ok else gr.skip(),
                gr.Row(visible=False), "")

    def add(files, token, progress=gr.Progress()):
        return add_files(files, token, False, progress)

    def add_replace(files, token, progress=gr.Progress()):
        return add_files(files, token, True, progress)

    def ask_remove(name, token):
        try:
            authorise(config, token)
            if not name:
                raise D.DocumentError("请先在列表中选择要删除的文档", "choose a document first")
            text = f"确定要删除“{name}”吗？文件及其全部片段将从知识库中移除，此操作不能撤销。"
            return gr.Row(visible=True), _status(text, "info"), gr.skip()
        except Exception as exc:  # noqa: BLE001
            return gr.Row(visible=False), "", failure(exc)

    def remove(name, token, progress=gr.Progress()):
        msg, _ = change(lambda p: D.remove_document(config, name, progress=p), token, progress)
        table, names = rows()
        return table, msg, gr.Dropdown(choices=names, value=None), gr.Row(visible=False)

    def reindex(token, progress=gr.Progress()):
        msg, _ = change(lambda p: D.reindex(config, progress=p), token, progress)
        table, names = rows()
        return table, msg, gr.Dropdown(choices=names, value=None)

    table0, names0 = rows()
    with gr.Tab("知识库", id="kb"):
        gr.HTML(f'<div class="pq-intro">知识库中的文档（<span class="pq-tip" title="{escape(str(config.docs_dir))}">'
                f'文档目录</span>）。可上传 PDF、Word 和<span class="pq-tip" title=".txt .md">纯文本</span>文件，'
                f'单个不超过 <span title="{config.max_upload_mb:g} MB">{config.max_upload_mb:g} 兆字节</span>；'
                '扫描版 PDF 需先做文字识别。添加或删除后只重新嵌入改动的文档，更新期间问答照常使用原索引，'
                '完成后自动切换。</div>', apply_default_css=False)
        table = gr.Dataframe(value=table0, headers=HEADERS, interactive=False, wrap=True, elem_id="pq-kb-table",
                             label="文档列表", show_label=False)
        status = gr.HTML(_status(f"共 {len(table0)} 个文档。", "info"), elem_id="pq-kb-status")
        token = gr.Textbox(label="管理口令", type="password", visible=guarded, elem_id="pq-kb-token",
                           info="服务器上设置的管理口令（环境变量 PILOTQA_ADMIN_TOKEN）")
        upload = gr.File(label="选择要上传的文档", file_count="multiple", file_types=[".pdf", ".docx", ".txt", ".md"],
                         type="filepath", elem_id="pq-kb-upload", height=140)
        with gr.Row():
            add_btn = gr.Button("添加到知识库", variant="primary", elem_id="pq-kb-add", scale=2)
            reindex_btn = gr.Button("重新索引", elem_id="pq-kb-reindex", scale=1)
            refresh_btn = gr.Button("刷新列表", elem_id="pq-kb-refresh", scale=1)
        with gr.Row(equal_height=True):
            # custom values reach the handler, which checks the name itself (the API names documents added since)
            pick = gr.Dropdown(choices=names0, value=None, label="选择文档", elem_id="pq-kb-pick", scale=3,
                               allow_custom_value=True)
            del_btn = gr.Button("删除所选文档", variant="stop", elem_id="pq-kb-delete", scale=1)
        with gr.Row(visible=False) as replace_row:
            replace_text = gr.HTML(elem_id="pq-kb-replace-text")
            replace_yes = gr.Button("替换", variant="stop", elem_id="pq-kb-replace", scale=0, min_width=120)
            replace_no = gr.Button("取消", elem_id="pq-kb-replace-cancel", scale=0, min_width=80)
        with gr.Row(visible=False) as confirm_row:
            confirm_text = gr.HTML(elem_id="pq-kb-confirm-text")
            yes = gr.Button("确认删除", variant="stop", elem_id="pq-kb-confirm", scale=0, min_width=120)
            no = gr.Button("取消", elem_id="pq-kb-cancel", scale=0, min_width=80)

        kb = {"concurrency_id": "kb", "concurrency_limit": 1}
        refresh_btn.click(refresh, outputs=[table, status, pick], api_name="kb_list")
        add_outputs = [table, status, pick, upload, replace_row, replace_text]
        add_btn.click(add, inputs=[upload, token], outputs=add_outputs, api_name="kb_add", **kb)
        replace_yes.click(add_replace, inputs=[upload, token], outputs=add_outputs, api_name="kb_add_replace", **kb)
        replace_no.click(lambda: (gr.Row(visible=False), _status("已取消，未作改动。", "info")),
                         outputs=[replace_row, status], api_visibility="private", queue=False)
        del_btn.click(ask_remove, inputs=[pick, token], outputs=[confirm_row, confirm_text, status],
                      api_name="kb_ask_remove", queue=False)
        no.click(lambda: gr.Row(visible=False), outputs=confirm_row, api_visibility="private", queue=False)
        yes.click(remove, inputs=[pick, token], outputs=[table, status, pick, confirm_row], api_name="kb_remove", **kb)
        reindex_btn.click(reindex, inputs=[token], outputs=[table, status, pick], api_name="kb_reindex", **kb)
