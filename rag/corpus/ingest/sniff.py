"""What a file really is, from its first bytes: PDF, Word (.docx), text, or something we refuse.

The extension only has to agree with the content: a PNG renamed `.pdf`, an Excel file renamed `.docx` or a
PDF renamed `.txt` is refused with a message that says what the content is.
"""
from __future__ import annotations

import zipfile
from pathlib import Path

from rag.corpus.ingest.types import TYPES, IngestError

# magic bytes of formats people upload by mistake → what to call them in the message
_BINARY = (
    (b"\x89PNG", "PNG 图片", "a PNG image"), (b"\xff\xd8\xff", "JPEG 图片", "a JPEG image"),
    (b"GIF8", "GIF 图片", "a GIF image"), (b"II*\x00", "TIFF 图片", "a TIFF image"),
    (b"MM\x00*", "TIFF 图片", "a TIFF image"), (b"Rar!", "RAR 压缩包", "a RAR archive"),
    (b"7z\xbc\xaf", "7z 压缩包", "a 7z archive"), (b"\x1f\x8b", "gzip 压缩包", "a gzip archive"),
    (b"\x7fELF", "可执行程序", "an executable"), (b"MZ", "可执行程序", "an executable"),
)
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"   # old Word .doc / Excel .xls / WPS


def sniff(path: Path, name: str) -> str:
    """The kind of `path` ("pdf", "docx", "txt", "md"), or IngestError naming what is wrong."""
    ext = Path(name).suffix.lower()
    if ext not in TYPES:
        if ext == ".doc" or ext == ".wps":
            raise IngestError(name, "old_word", "不支持旧版 Word（.doc/.wps）文件，请在 Word 中另存为 .docx 后再添加",
                              "old Word (.doc/.wps) files are not supported: save it as .docx first")
        raise IngestError(name, "unsupported", "不支持的文件类型，只接受 PDF、Word（.docx）、.txt 和 .md 文件",
                          "unsupported file type: only PDF, Word (.docx), .txt and .md files are accepted")
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(8192)
    except OSError as exc:
        raise IngestError(name, "unreadable", f"无法读取文件（{exc.strerror}）", f"cannot read the file ({exc.strerror})")
    if size == 0 or (size <= len(head) and not head.strip()):
        raise IngestError(name, "empty", "文件是空的，没有任何内容", "the file is empty")
    if b"%PDF-" in head[:1024]:
        content = "pdf"
    elif head.startswith(b"PK\x03\x04"):
        content = _zip_kind(path, name)
    elif head.startswith(_OLE):
        raise IngestError(name, "old_word", "这是旧版 Office 文件（.doc/.xls），请在 Word 中另存为 .docx 后再添加",
                          "this is an old Office file (.doc/.xls): save it as .docx first")
    else:
        for magic, zh, en in _BINARY:
            if head.startswith(magic):
                raise _mismatch(name, ext, zh, en)
        if b"\x00" in head and not head.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 text has NULs
            raise _mismatch(name, ext, "二进制数据", "binary data")
        content = "text"
    kind = TYPES[ext]
    if content != ("text" if kind in ("txt", "md") else kind):
        zh, en = {"pdf": ("PDF 文件", "a PDF"), "docx": ("Word 文件", "a Word file"),
                  "text": ("纯文本", "plain text")}[content]
        raise _mismatch(name, ext, zh, en)
    return kind


def _zip_kind(path: Path, name: str) -> str:
    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
    except (zipfile.BadZipFile, OSError, ValueError):
        raise IngestError(name, "damaged", "文件已损坏，无法打开（ZIP 结构错误）",
                          "the file is damaged (broken ZIP structure)") from None
    if "word/document.xml" in names:
        return "docx"
    if any(n.startswith("xl/") for n in names):
        what = ("Excel 表格", "an Excel workbook")
    elif any(n.startswith("ppt/") for n in names):
        what = ("PowerPoint 演示文稿", "a PowerPoint file")
    else:
        what = ("ZIP 压缩包", "a ZIP archive")
    raise _mismatch(name, Path(name).suffix.lower(), *what)


def _mismatch(name: str, ext: str, zh: str, en: str) -> IngestError:
    want = {".pdf": ("PDF", "PDF"), ".docx": ("Word 文档", "Word document"), ".txt": ("文本", "text"),
            ".md": ("文本", "text")}[ext]
    return IngestError(name, "mismatch", f"文件扩展名是 {ext}，但内容是{zh}，不是{want[0]}（文件可能已损坏或被改了扩展名）",
                       f"named {ext} but the content is {en}, not {want[1]} (damaged or renamed?)")
