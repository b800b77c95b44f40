"""jieba's word frequencies as a memory-mapped trie, so a question process does not unpack jieba's dictionary.

jieba keeps its dictionary as one Python dict of ~500,000 words and word prefixes (`Tokenizer.FREQ`), loaded
from its marshal cache at first use: most of a cold `pilotqa ask` after the imports (about a second on a
2-core machine). The same table is written once per machine as a marisa trie (`<cache>/jieba-<key>.marisa`,
keyed by jieba's version and its dictionary file) and opened with mmap, which costs milliseconds.
`Frequencies` answers exactly the lookups jieba makes (`in`, `[]`, `get`) and keeps the words a process adds
(`add_word`: the pilots' names) in a small dict in front of the trie, so segmentation is the same as with
jieba's own table, token for token.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

_FMT = "<I"  # frequencies fit 32 bits (jieba's largest is under a million)


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pilotqa"


class Frequencies:
    """A read-only trie of jieba's table, with the words added in this process in front of it."""

    def __init__(self, trie, total: int):
        self._trie = trie
        self._added: dict[str, int] = {}
        self.total = total

    def __contains__(self, key: str) -> bool:
        return key in self._added or key in self._trie

    def __getitem__(self, key: str) -> int:
        v = self._added.get(key)
        if v is not None:
            return v
        found = self._trie.get(key)
        if found is None:
            raise KeyError(key)
        return found[0][0]

    def get(self, key: str, default=None):
        v = self._added.get(key)
        if v is not None:
            return v
        found = self._trie.get(key)
        return default if found is None else found[0][0]

    def __setitem__(self, key: str, value: int) -> None:
        self._added[key] = int(value)

    def __len__(self) -> int:
        return len(self._trie) + sum(1 for k in self._added if k not in self._trie)


def _key() -> str:
    """jieba's version and its dictionary file's size and time: a new jieba gets a new trie."""
    import jieba  # only where a tokenizer is set up

    path = Path(jieba.__file__).resolve().parent / jieba.DEFAULT_DICT_NAME
    st = path.stat()
    raw = f"{jieba.__version__}|{path}|{st.st_size}|{st.st_mtime_ns}"
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def attach(tokenizer, folder: Path | None = None) -> bool:
    """Give an uninitialised jieba `tokenizer` its table from the trie (writing the trie first if this machine
    has none). False, and the tokenizer is left to initialise itself, when marisa-trie is missing or the
    tokenizer uses a dictionary of its own."""
    try:
        import marisa_trie  # the trie library is optional: without it jieba loads its own table
    except ImportError:
        return False
    if tokenizer.dictionary is not None:  # a dictionary of its own (jieba's default is None)
        return False
    folder = folder or cache_dir()
    try:
        key = _key()
    except OSError:
        return False
    path = folder / f"jieba-{key}.marisa"
    total_path = folder / f"jieba-{key}.total"
    trie = marisa_trie.RecordTrie(_FMT)
    try:
        trie.mmap(str(path))
        total = int(total_path.read_text(encoding="ascii"))
    except (OSError, ValueError, RuntimeError):  # none yet (or damaged): marisa reports I/O as RuntimeError
        tokenizer.initialize()  # jieba's own load, once per machine: the trie is written from it
        trie = marisa_trie.RecordTrie(_FMT, ((k, (int(v),)) for k, v in tokenizer.FREQ.items()))
        total = int(tokenizer.total)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + f".tmp{os.getpid()}")
            trie.save(str(tmp))
            tmp_total = total_path.with_name(total_path.name + f".tmp{os.getpid()}")
            tmp_total.write_text(str(total), encoding="ascii")
            os.replace(tmp_total, total_path)
            os.replace(tmp, path)
        except OSError:
            pass  # a read-only cache: this process keeps the table it built
    tokenizer.FREQ = Frequencies(trie, total)
    tokenizer.total = total
    tokenizer.initialized = True
    return True
