"""Gradio's own words (status messages, the upload area, menus it draws) in Chinese, whatever the browser's
language: `gr.I18n` translations for `launch()` / `mount_gradio_app()` (ui/app.py `launch_kwargs`).

Gradio picks its words by the browser's language, and its Simplified Chinese table lacks a few keys (the
"common.complete" status was shown as that key). So the words of the components this app uses are given
here (Gradio's own Chinese where it has them), for Chinese browsers. A browser set to another language still
gets Gradio's words (the upload area's "Drop File Here") in that language: Gradio loads its own table for
English after any given here, and picks the language before the page could say otherwise.
"""
from __future__ import annotations

WORDS = {
    "common": {"complete": "完成", "error": "错误", "loading": "加载中", "clear": "清除", "download": "下载",
               "edit": "编辑", "empty": "空", "remove": "移除", "submit": "提交", "undo": "撤销", "or": "或",
               "settings": "设置", "share": "分享", "language": "语言", "display_theme": "显示主题"},
    "upload_text": {"click_to_upload": "点击上传", "drop_file": "将文件拖放到此处", "drop_csv": "将表格文件拖放到此处",
                    "drop_image": "将图像拖放到此处", "paste_clipboard": "从剪贴板粘贴"},
    "file": {"uploading": "正在上传……"},
    "dataframe": {"sort_column": "排序列", "sort_ascending": "升序排序", "sort_descending": "降序排序",
                  "clear_sort": "清除排序", "new_row": "新行", "new_column": "添加列", "delete_row": "删除行",
                  "delete_column": "删除列", "add_row_above": "在上方添加行", "add_row_below": "在下方添加行",
                  "add_column_left": "在左侧添加列", "add_column_right": "在右侧添加列",
                  "incorrect_format": "格式不正确", "drop_to_upload": "将表格文件拖放到此处"},
    "dropdown": {"dropdown": "下拉菜单"},
    "chatbot": {"edit": "编辑", "retry": "重试", "undo": "撤销", "submit": "发送", "cancel": "取消", "like": "赞",
                "dislike": "踩", "clear": "清空对话"},
    "number": {"number": "数字"},
    "slider": {"slider": "滑块"},
    "blocks": {"connection_can_break": "在手机上，如果此页面失去焦点或设备休眠，连接可能中断，需要重新提交。",
               "lost_connection": "与服务器的连接已断开，正在重新连接……",
               "waiting_for_inputs": "正在等待文件上传完成，请稍后重试。"},
    "errors": {"use_via_api": "通过接口使用", "runtime_error": "运行出错",
               "contact_page_author": "请联系管理员。"},
}

GRADIO_WORDS = {locale: WORDS for locale in ("zh-CN", "zh-TW")}
