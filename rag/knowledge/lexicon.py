"""The word lists of the project, read from `rag/data/` (one list per file, its first line a `#` comment).

Lists are data, not code: a reviewer sees in one place every word the analysis treats specially, and a
change to a list never touches a rule. Each file is read once per process.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"


def _lines(name: str) -> list[str]:
    out = []
    for raw in (DATA / name).read_text(encoding="utf-8").splitlines():
        s = raw.strip()
        if s and not s.startswith("#"):
            out.append(s)
    return out


@lru_cache(maxsize=None)
def words(name: str) -> frozenset[str]:
    """A one-word-per-line list (e.g. `not_places.txt`)."""
    return frozenset(_lines(name))


@lru_cache(maxsize=None)
def ordered(name: str) -> tuple[str, ...]:
    """A one-word-per-line list in file order (when order matters, e.g. provinces)."""
    return tuple(_lines(name))


@lru_cache(maxsize=None)
def table(name: str) -> dict[str, tuple[str, ...]]:
    """A two-column TSV `key<TAB>a|b|c` → {key: (a, b, c)}; later duplicate keys extend earlier ones."""
    out: dict[str, tuple[str, ...]] = {}
    for line in _lines(name):
        key, _, rest = line.partition("\t")
        vals = tuple(v.strip() for v in rest.split("|") if v.strip())
        out[key.strip()] = out.get(key.strip(), ()) + vals
    return out


@lru_cache(maxsize=None)
def groups(name: str) -> tuple[tuple[str, ...], ...]:
    """A file of space-separated groups, one group per line (a trailing * on a member is dropped; see
    `defaults`)."""
    return tuple(tuple(w.rstrip("*") for w in line.split()) for line in _lines(name))


@lru_cache(maxsize=None)
def defaults(name: str) -> frozenset[str]:
    """The members marked with * in a group file."""
    return frozenset(w.rstrip("*") for line in _lines(name) for w in line.split() if w.endswith("*"))
