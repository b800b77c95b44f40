"""Text files (.txt, .md): decoded, never edited, so their lines are exactly the lines citations point at."""
from __future__ import annotations

from pathlib import Path

from rag.corpus.ingest.limits import Limits, size, too_large
from rag.corpus.ingest.types import Extracted, IngestError


def decode(data: bytes) -> tuple[str, str]:
    """(text, encoding): UTF-8 (with or without BOM), UTF-16 with a BOM, else GB18030; ValueError if none fits."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16"), "utf-16"
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    return data.decode("gb18030"), "gb18030"


def split_lines(text: str) -> list[str]:
    """Lines as `sed -n Np` counts them: split on \\n, a final newline ends the last line, \\r dropped."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [ln.rstrip("\r") for ln in lines]


def extract_text(path: Path, name: str, sha256: str, kind: str, limits: Limits | None = None) -> Extracted:
    limits = limits or Limits()
    n = path.stat().st_size
    if n > limits.text_bytes:  # the file is its text: refused before it is read into memory
        raise too_large(name, f"文本文件（{size(n)}）", f"the text file ({size(n)})", limits.text_bytes)
    try:
        text, encoding = decode(path.read_bytes())
    except UnicodeDecodeError:
        raise IngestError(name, "encoding", "无法识别文本编码，请另存为 UTF-8 编码后再添加",
                          "cannot decode the text as UTF-8 or GB18030: save it as UTF-8") from None
    if not text.strip():
        raise IngestError(name, "empty", "文件是空的，没有任何文字", "the file is empty (no text)")
    lines = split_lines(text)
    return Extracted(name=name, kind=kind, lines=lines, pages=[None] * len(lines), sha256=sha256,
                     meta={"encoding": encoding, "n_pages": None})
