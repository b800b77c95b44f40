"""The documents folder on disk: which files in it are documents, and its first use.

The repository's `data/` holds the bundled corpus and is read-only to the app. The knowledge base a user
changes is the documents folder (`config.docs_dir`, `PILOTQA_DOCS_DIR`; by default under
`~/.local/share/pilotqa/docs`): on first use it is created with a copy of the bundled documents, so the app
answers from the pilots at once, and whatever is added, replaced or removed there never touches `data/`.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from rag.config import Config
from rag.corpus.load import is_document_name


def ensure_documents(config: Config) -> Path:
    """The documents folder, created with a copy of the bundled corpus when it does not exist yet.

    Made beside its final place and renamed into it, so a crash never leaves half a seed; a folder that
    exists is left alone, even when empty (the user may have removed every document)."""
    folder = Path(config.docs_dir)
    if folder.exists():
        return folder
    bundled = Path(config.bundled_dir)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.with_name(f".{folder.name}.seeding-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    if bundled.is_dir() and bundled.resolve() != folder.resolve():
        for p in sorted(bundled.iterdir()):
            if p.is_file() and is_document_name(p.name):
                shutil.copy2(p, tmp / p.name)
    try:
        os.replace(tmp, folder)
    except OSError:  # another process seeded it first
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def seed_if_default(config: Config) -> None:
    """Seed the documents folder when it is what the configuration indexes (not an explicit --corpus)."""
    if tuple(config.corpus) == (str(config.docs_dir),):
        ensure_documents(config)
