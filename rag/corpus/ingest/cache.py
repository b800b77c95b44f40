"""The extracted text of every document, kept by content hash beside the documents (`<folder>/.extracted/`), or,
for a folder the app must not write (the bundled corpus, a read-only folder), in the user's cache
(`~/.cache/pilotqa/extracted/`).

One entry per (file bytes, extractor version): `<sha256>-v<N>/text.txt` (the lines, UTF-8) and `meta.json`
(name, kind, the page of every line, Word headings, …). Entries never change once written (a changed file
is a new entry), so the index can name the text it was built from by hash, and citations and the browser
keep showing exactly that text while the file is replaced or removed and a rebuild runs. Written to a
temporary folder and renamed into place: a crash leaves no half entry. JSON only, nothing unpickled.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from rag.config import ROOT, cache_home
from rag.corpus.ingest.extract import extract
from rag.corpus.ingest.limits import Limits
from rag.corpus.ingest.text import split_lines
from rag.corpus.ingest.types import EXTRACTOR_VERSION, Extracted
from rag.files import sha256_file

DIRNAME = ".extracted"
BUNDLED = ROOT / "data"  # the repository's corpus: read-only to the app


class ExtractCache:
    def __init__(self, root: Path):
        self.root = Path(root)

    @classmethod
    def beside(cls, path: Path) -> "ExtractCache":
        """The cache for a file: beside it, unless its folder is the bundled corpus or not writable."""
        folder = Path(path).parent
        try:
            bundled = folder.resolve() == BUNDLED.resolve()
        except OSError:
            bundled = False
        if bundled or not os.access(folder, os.W_OK):
            return cls(cache_home() / "extracted")
        return cls(folder / DIRNAME)

    def entry(self, sha256: str) -> Path:
        return self.root / f"{sha256}-v{EXTRACTOR_VERSION}"

    def get(self, sha256: str) -> Extracted | None:
        d = self.entry(sha256)
        try:
            meta = json.loads((d / "meta.json").read_text(encoding="utf-8"))
            text = (d / "text.txt").read_text(encoding="utf-8")
        except (OSError, ValueError):
            return None

        lines = split_lines(text)
        pages = meta.pop("pages", None) or [None] * len(lines)
        if len(pages) != len(lines):
            return None  # damaged entry: extract again
        headings = {int(k): int(v) for k, v in meta.pop("headings", {}).items()}
        return Extracted(name=meta.pop("name"), kind=meta.pop("kind"), lines=lines, pages=pages, sha256=sha256,
                         title=meta.pop("title", ""), headings=headings, meta=meta.get("meta", {}))

    def put(self, ex: Extracted) -> bool:
        """Store an extraction; False when the folder is not writable (the caller keeps it in memory)."""
        final = self.entry(ex.sha256)
        if (final / "meta.json").exists():
            return True
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=self.root))
            tmp.chmod(0o755)  # mkdtemp makes it private; the server may run as another user than the CLI
        except OSError:
            return False
        try:
            (tmp / "text.txt").write_text(ex.text, encoding="utf-8")
            meta = {"name": ex.name, "kind": ex.kind, "title": ex.title, "pages": ex.pages,
                    "headings": {str(k): v for k, v in ex.headings.items()}, "meta": ex.meta,
                    "version": EXTRACTOR_VERSION}
            (tmp / "meta.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
            os.replace(tmp, final)
        except OSError:  # another process stored the same entry first, or the disk is full
            shutil.rmtree(tmp, ignore_errors=True)
            return (final / "meta.json").exists()
        return True

    def load(self, path: Path, *, sha256: str | None = None, name: str | None = None,
             limits: Limits | None = None) -> Extracted:
        """The extraction of `path` (from the cache when present, else extracted within `limits` and stored)."""
        digest = sha256 or sha256_file(path)
        hit = self.get(digest)
        if hit is not None:
            hit.name = name or Path(path).name  # the same bytes under another name: same text
            return hit
        ex = extract(path, name, sha256=digest, limits=limits)
        self.put(ex)
        return ex

    def shas(self) -> set[str]:
        if not self.root.is_dir():
            return set()
        suffix = f"-v{EXTRACTOR_VERSION}"
        return {d.name[: -len(suffix)] for d in self.root.iterdir() if d.name.endswith(suffix)}

    def prune(self, keep: set[str]) -> int:
        """Drop entries whose hash is not in `keep` (and older extractor versions); returns how many."""
        if not self.root.is_dir():
            return 0
        n = 0
        for d in self.root.iterdir():
            sha, _, ver = d.name.partition("-v")
            if d.is_dir() and (sha not in keep or ver != str(EXTRACTOR_VERSION) or d.name.startswith(".tmp-")):
                shutil.rmtree(d, ignore_errors=True)
                n += 1
        return n
