"""The documents folder on disk: which files in it are documents, and its first use.

The repository's `data/` holds the bundled corpus and is read-only to the app. The knowledge base a user
changes is the documents folder (`config.docs_dir`, `PILOTQA_DOCS_DIR`; by default under
`~/.local/share/pilotqa/docs`): on first use it is created with a copy of the bundled documents, so the app
answers from the pilots at once, and whatever is added, replaced or removed there never touches `data/`.
"""
from __future__ import annotations

import fcntl
import json
import os
import shutil
from contextlib import contextmanager
from pathlib import Path

from rag.config import Config
from rag.corpus.load import is_document_name
from rag.files import atomic_write, sha256_file


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
    """Seed the documents folder when it is what the configuration indexes (not an explicit --corpus), and settle
    a change a crash interrupted before anything reads it."""
    if tuple(config.corpus) == (str(config.docs_dir),):
        ensure_documents(config)
        reconcile(config)


# --------------------------------------------------------------------------- changes that survive a crash
#
# A change to the folder (add, replace, remove) is written down before it starts (`JOURNAL`, beside the
# extracted text) and decided by the index: a change whose result the published index holds is done; one it does
# not hold is undone. `reconcile` runs before anything reads the folder to build or list, so after a kill -9 at any
# point the folder and the index agree: a document is either indexed or not there.

JOURNAL = ".extracted/journal.json"


def _published_hashes(config: Config) -> set[str] | None:
    """The content hashes of the documents the published index was built from (None: no index)."""
    try:
        data = json.loads((Path(config.index_path) / "manifest.json").read_text(encoding="utf-8"))
        return {c["sha256"] for c in data.get("corpus", [])}
    except (OSError, ValueError, KeyError, TypeError):
        return None


def begin(config: Config, entries: list[dict]) -> None:
    """Write down a change before it touches the folder: [{"name", "new": sha or None, "held": path or None}]
    (`new`: the hash of the file being put in place; `held`: where the replaced or removed version waits)."""
    atomic_write(Path(config.docs_dir) / JOURNAL, json.dumps({"entries": entries}, ensure_ascii=False))


def finish(config: Config) -> None:
    """The change is published (or undone): the versions it held go, and so does the journal."""
    path = Path(config.docs_dir) / JOURNAL
    try:
        entries = json.loads(path.read_text(encoding="utf-8")).get("entries", [])
    except (OSError, ValueError):
        entries = []
    for e in entries:
        if e.get("held"):
            Path(e["held"]).unlink(missing_ok=True)
    path.unlink(missing_ok=True)


def undo(config: Config) -> None:
    """Put the folder back as it was before the journal's change."""
    folder = Path(config.docs_dir)
    path = folder / JOURNAL
    try:
        entries = json.loads(path.read_text(encoding="utf-8")).get("entries", [])
    except (OSError, ValueError):
        path.unlink(missing_ok=True)
        return
    for e in reversed(entries):
        dst = folder / e["name"]
        if e.get("new") and dst.exists() and sha256_file(dst) == e["new"]:
            dst.unlink()  # only the new file: a crash before it was put in place leaves the old one there
        held = Path(e["held"]) if e.get("held") else None
        if held is not None and held.exists():
            os.replace(held, dst)
    path.unlink(missing_ok=True)


@contextmanager
def locked(config: Config):
    """One change to the folder at a time, across processes (CLI and app alike); BlockingIOError when another is
    running. The lock is the kernel's: a process that dies holding it releases it."""
    d = Path(config.docs_dir) / ".extracted"
    d.mkdir(parents=True, exist_ok=True)
    with open(d / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def reconcile(config: Config) -> str | None:
    """Finish or undo a change a crash interrupted, by what the published index holds; what was done, or None.
    A change still running (its process holds the lock) is left alone."""
    path = Path(config.docs_dir) / JOURNAL
    if not path.exists():
        return None
    try:
        with locked(config):
            return settle(config)
    except BlockingIOError:
        return None


def settle(config: Config) -> str | None:
    """Finish or undo the journal's change by what the published index holds (the caller holds the lock)."""
    path = Path(config.docs_dir) / JOURNAL
    if not path.exists():
        return None
    try:
        entries = json.loads(path.read_text(encoding="utf-8")).get("entries", [])
    except (OSError, ValueError):
        entries = []
    published = _published_hashes(config) or set()
    done = bool(entries) and all(
        (e["new"] in published) if e.get("new") else (e.get("held_sha") not in published) for e in entries)
    if done:
        finish(config)
        return "finished"
    undo(config)
    return "undone"
