"""Ingestion: turn a policy file (.pdf, .docx, .txt, .md) into the text lines the corpus parser reads.

`extract(path, name)` checks the file by its content (never trusting the extension), extracts its text and
returns one `Extracted`: the text line by line, the 1-based PDF page of every line (None for other types),
heading hints from Word styles, and the sha256 of the file's bytes. Every refusal is an `IngestError` whose
message names the file and the fix, in Chinese and English, on one line.

`load(path)` is what the corpus loader calls: the same, through the content-addressed cache kept beside the
documents (`cache`), so a PDF is parsed once, and the text that was indexed stays readable by its
hash after the file changes or is removed.

Both take `limits` (`Limits`: what a file may unpack to, how long and how much memory reading it may take;
default: from the settings, `Limits.from_config`). PDF and Word files are read in a child process that is
stopped at the limit, and a Word file's ZIP directory is checked before anything is inflated (`limits`, `worker`).

Text files are decoded, never repaired: their lines ARE the corpus lines citations point at. PDFs are
repaired (`repair`): page headers, footers and numbers dropped, wrapped lines re-joined into
paragraphs, font artefacts (Kangxi radicals, two-em dashes, ligatures) mapped back to ordinary characters.
"""
from __future__ import annotations

from pathlib import Path

from rag.corpus.ingest.cache import ExtractCache
from rag.corpus.ingest.extract import extract
from rag.corpus.ingest.limits import Limits
from rag.corpus.ingest.types import EXTRACTOR_VERSION, TYPES, Extracted, IngestError, type_label

__all__ = ["Extracted", "IngestError", "Limits", "extract", "load", "EXTRACTOR_VERSION", "TYPES", "type_label"]


def load(path: str | Path, *, sha256: str | None = None, limits: Limits | None = None) -> Extracted:
    """`extract` through the cache beside the file (`<folder>/.extracted/`); parsed once per content."""
    return ExtractCache.beside(Path(path)).load(Path(path), sha256=sha256, limits=limits)
