"""The 知识库 (knowledge base) tab: list, upload, delete and re-index the documents the assistant answers from.

`build_kb_tab(qa, config)` adds the tab inside the caller's `gr.Blocks` / `gr.Tabs`. Every operation goes
through `rag.documents` (the same checks and messages as `pilotqa docs`), runs one at a time
(`concurrency_id="kb"`), and shows its progress. Questions keep being answered from the loaded index while a
rebuild runs (they run under another concurrency id); when the new build is published it is swapped in
with `PilotQA.reload_if_changed()`, so an answer never mixes two indexes.

Managing documents changes what everybody gets answered from: when the app listens beyond this machine
(`config.host` not a loopback address), it requires the `PILOTQA_ADMIN_TOKEN` (`config.admin_token`), and
without a configured token the tab is read-only.

Handlers (all with an `api_name`, so the same checks apply to API calls):
  kb_list()                         -> (table, status, names)
  kb_add(files, token)              -> (table, status, names, files)
  kb_ask_remove(name, token)        -> (confirm row, confirm text, status)
  kb_remove(name, token)            -> (table, status, names, confirm row)
  kb_reindex(token)                 -> (table, status, names)
"""
from __future__ import annotations

import hmac
import logging
from html import escape
from pathlib import Path

import gradio as gr

from rag.config import Config
from rag.index import documents as D

log = logging.getLogger("pilotqa.ui.kb")

HEADERS = ["文件名", "类型", "页数", "试点 / 章节", "片段数", "添加时间", "状态"]
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
    """Managing documents from beyond this machine needs the admin token; without one it is read-only."""
    if tuple(config.corpus) != (str(config.docs_dir),):
        raise Denied("本服务用 --corpus 指定了语料，知识库目录不在使用中：请不带 --corpus 启动后再管理文档。")
    if not needs_token(config):
        return
    if not config.admin_token:
        raise Denied("服务对外开放，且未设置 PILOTQA_ADMIN_TOKEN：知识库只读。请设置管理口令后重启服务。")
    if not isinstance(token, str) or not hmac.compare_digest(token.encode(), str(config.admin_token).encode()):
        raise Denied("管理口令不正确，不能修改知识库。")


def build_kb_tab(qa, config: Config) -> None:
    """The 知识库 tab, created in the current Blocks context (call it inside `with gr.Tabs():`)."""
    guarded = needs_token(config)

    def rows():
        try:
            docs = D.list_documents(config, chunks=list(qa.index.chunks))
        except Exception:  # noqa: BLE001 - the table must always render
            log.exception("listing documents failed")
            return [], []
        table = [[d.name, d.type or "—", d.pages or "—", d.units or "—", "—" if d.chunks is None else d.chunks,
                  d.added or "—", d.status] for d in docs]
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
            log.exception("reload_if_changed failed after a document change")
        return _status(report_text(report), "ok"), True

    def report_text(report) -> str:
        return "\n".join(report.messages + [report.summary()] + [f"注意：{w}" for w in report.warnings])

    def failure(exc: Exception) -> str:
        if isinstance(exc, (Denied, D.DocumentError)):
            return _status(str(exc), "error")
        log.exception("document operation failed: %s", exc)
        return _status(GENERIC_ERROR, "error")

    def refresh():
        table, names = rows()
        return table, _status(f"共 {len(table)} 个文档。", "info"), gr.Dropdown(choices=names, value=None)

    def add(files, token, progress=gr.Progress(track_tqdm=True)):
        paths = [f if isinstance(f, str) else getattr(f, "name", str(f)) for f in (files or [])]

        def operation(report_progress):
            if not paths:
                raise D.DocumentError("请先选择要上传的文件", "choose files to upload first")
            # Gradio keeps an upload under its original (already sanitised) file name; it is checked again
            return D.add_documents(config, paths, [Path(p).name for p in paths], progress=report_progress)

        msg, ok = change(operation, token, progress)
        table, names = rows()
        return table, msg, gr.Dropdown(choices=names, value=None), None if ok else gr.skip()

    def ask_remove(name, token):
        try:
            authorise(config, token)
            if not name:
                raise D.DocumentError("请先在列表中选择要删除的文档", "choose a document first")
            text = f"确定要删除“{name}”吗？文件及其全部片段将从知识库中移除，此操作不能撤销。"
            return gr.Row(visible=True), _status(text, "info"), gr.skip()
        except Exception as exc:  # noqa: BLE001
            return gr.Row(visible=False), "", failure(exc)

    def remove(name, token, progress=gr.Progress(track_tqdm=True)):
        msg, _ = change(lambda p: D.remove_document(config, name, progress=p), token, progress)
        table, names = rows()
        return table, msg, gr.Dropdown(choices=names, value=None), gr.Row(visible=False)

    def reindex(token, progress=gr.Progress(track_tqdm=True)):
        msg, _ = change(lambda p: D.reindex(config, progress=p), token, progress)
        table, names = rows()
        return table, msg, gr.Dropdown(choices=names, value=None)

    table0, names0 = rows()
    with gr.Tab("知识库", id="kb"):
        gr.Markdown(f"知识库中的文档（目录 `{escape(str(config.docs_dir))}`）。可上传 PDF、Word（.docx）、.txt、.md 文件，"
                    f"单个不超过 {config.max_upload_mb:g} MB；扫描版 PDF 需先做 OCR。添加或删除后只重新嵌入改动的文档，"
                    "更新期间问答照常使用原索引，完成后自动切换。")
        table = gr.Dataframe(value=table0, headers=HEADERS, interactive=False, wrap=True, elem_id="pq-kb-table",
                             label="文档列表", show_label=False)
        status = gr.HTML(_status(f"共 {len(table0)} 个文档。", "info"), elem_id="pq-kb-status")
        token = gr.Textbox(label="管理口令（PILOTQA_ADMIN_TOKEN）", type="password", visible=guarded,
                           elem_id="pq-kb-token")
        upload = gr.File(label="选择要上传的文档", file_count="multiple", file_types=[".pdf", ".docx", ".txt", ".md"],
                         type="filepath", elem_id="pq-kb-upload", height=140)
        with gr.Row():
            add_btn = gr.Button("添加到知识库", variant="primary", elem_id="pq-kb-add", scale=2)
            reindex_btn = gr.Button("重新索引", elem_id="pq-kb-reindex", scale=1)
            refresh_btn = gr.Button("刷新列表", elem_id="pq-kb-refresh", scale=1)
        with gr.Row(equal_height=True):
            pick = gr.Dropdown(choices=names0, value=None, label="选择文档", elem_id="pq-kb-pick", scale=3)
            del_btn = gr.Button("删除所选文档", variant="stop", elem_id="pq-kb-delete", scale=1)
        with gr.Row(visible=False) as confirm_row:
            confirm_text = gr.HTML(elem_id="pq-kb-confirm-text")
            yes = gr.Button("确认删除", variant="stop", elem_id="pq-kb-confirm", scale=0, min_width=120)
            no = gr.Button("取消", elem_id="pq-kb-cancel", scale=0, min_width=80)

        kb = {"concurrency_id": "kb", "concurrency_limit": 1}
        refresh_btn.click(refresh, outputs=[table, status, pick], api_name="kb_list")
        add_btn.click(add, inputs=[upload, token], outputs=[table, status, pick, upload], api_name="kb_add", **kb)
        del_btn.click(ask_remove, inputs=[pick, token], outputs=[confirm_row, confirm_text, status],
                      api_name="kb_ask_remove", queue=False)
        no.click(lambda: gr.Row(visible=False), outputs=confirm_row, api_visibility="private", queue=False)
        yes.click(remove, inputs=[pick, token], outputs=[table, status, pick, confirm_row], api_name="kb_remove", **kb)
        reindex_btn.click(reindex, inputs=[token], outputs=[table, status, pick], api_name="kb_reindex", **kb)
