"""`extract(path)`: one file's text, checked by content (never trusting the extension), without the cache."""
from __future__ import annotations

from pathlib import Path

from rag.corpus.ingest.sniff import sniff
from rag.corpus.ingest.text import extract_text
from rag.corpus.ingest.types import Extracted
from rag.files import sha256_file


def extract(path: str | Path, name: str | None = None, *, sha256: str | None = None) -> Extracted:
    """Extract one file (no cache). `name` is the file name to check and report (default: the path's)."""
    path = Path(path)
    name = name or path.name
    kind = sniff(path, name)
    digest = sha256 or sha256_file(path)
    if kind == "pdf":
        from rag.corpus.ingest.pdf import extract_pdf  # pdfminer loads only when a PDF is read

        return extract_pdf(path, name, digest)
    if kind == "docx":
        from rag.corpus.ingest.docx import extract_docx  # python-docx loads only when a Word file is read

        return extract_docx(path, name, digest)
    return extract_text(path, name, digest, kind)
