"""`extract(path)`: one file's text, checked by content (never trusting the extension), without the cache.

PDF and Word files are read in a child process within `Limits` (`worker`); a Word file's ZIP directory is
checked here first, so a zip bomb is refused before any process starts or anything is inflated.
"""
from __future__ import annotations

from pathlib import Path

from rag.corpus.ingest.docx import check_package
from rag.corpus.ingest.limits import Limits, default_limits
from rag.corpus.ingest.sniff import sniff
from rag.corpus.ingest.text import extract_text
from rag.corpus.ingest.types import Extracted
from rag.corpus.ingest.worker import extract_isolated
from rag.files import sha256_file


def extract(path: str | Path, name: str | None = None, *, sha256: str | None = None,
            limits: Limits | None = None) -> Extracted:
    """Extract one file (no cache). `name` is the file name to check and report (default: the path's);
    `limits` default to the environment's settings (`default_limits`)."""
    path = Path(path)
    name = name or path.name
    kind = sniff(path, name)
    limits = limits or default_limits()
    digest = sha256 or sha256_file(path)
    if kind == "docx":
        check_package(path, name, limits, inflate=False)
    if kind in ("pdf", "docx"):
        return extract_isolated(kind, path, name, digest, limits)
    return extract_text(path, name, digest, kind, limits)
