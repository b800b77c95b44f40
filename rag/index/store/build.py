"""Building an index: parse, chunk, embed what the verified cache lacks, hand the result to the backend, publish.

Layout: `index/<name>` is a symlink to `index/.builds/<name>-<stamp>/`. A build writes a complete new
directory and then swaps the symlink with one atomic `os.replace`, so a crash or a kill mid-build never
leaves a half index and a running server never sees one. Files are JSON, JSON Lines, `.npy` (loaded with
`allow_pickle=False`) and FAISS's own format: nothing is unpickled. (A Milvus backend updates its server in
place before the publish; see `milvus_backend`.)
"""
from __future__ import annotations

import json
import os
import re
import resource
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from rag.config import Config
from rag.corpus import Corpus, load_corpus
from rag.corpus.folder import seed_if_default
from rag.files import sha256_file
from rag.index.chunk_stats import simplified_texts
from rag.index.chunking import chunk_corpus, chunk_stats
from rag.index.embeddings import Embedder, load_embedder, model_id_of
from rag.index.facts import extract_facts
from rag.index.store.base import BuildData
from rag.index.store.cache import VectorCache
from rag.index.store.errors import StoreError
from rag.index.store.manifest import FORMAT_VERSION, Manifest, settings_of, store_of, versions
from rag.index.store.registry import backend_for
from rag.index.store.shipped import ShippedVectors, write_shipped
from rag.index.store.tokens import add_words, tokenize
from rag.knowledge.gazetteer import gazetteer as make_gazetteer
from rag.text import candidate_sentences


@dataclass
class BuildReport:
    path: Path
    chunks: int
    embedded: int                 # chunks whose vector was computed now
    reused: int                   # chunks whose vector came from the cache
    seconds: float
    peak_rss_mb: float
    stats: dict
    warnings: list[str] = field(default_factory=list)
    skipped: bool = False
    sentences: int = 0
    sentences_embedded: int = 0
    repaired: int = 0             # cached vectors (chunks + sentences) that failed their check and were re-embedded
    store: dict = field(default_factory=dict)   # the manifest's `store` section (backend, index type, sync counts)
    facts: int = 0                # rows of the fact table
    facts_seconds: float = 0.0    # time spent extracting it
    shipped: int = 0              # texts (chunks + sentences) whose vector came with the bundled corpus


EMBED_GROUP = 64     # texts per embedding call (ordered by length, so each call pads little)
TOKEN_BUDGET = 2400  # characters of text in one model call: 8 passages of the chunker's 300, 16 short sentences


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def build_index(config: Config, *, progress: bool = True, embedder=None, corpus: Corpus | None = None) -> BuildReport:
    """Parse, chunk, embed chunks and their sentences (only what the cache lacks), and publish `index/<name>`."""
    t0 = time.perf_counter()
    backend_for(store_of(config))  # an unknown store fails before any parsing or model loading
    if corpus is None:
        seed_if_default(config)
    corpus = corpus or load_corpus(config.corpus)
    settings = settings_of(config)
    chunks = chunk_corpus(corpus, settings)
    if not chunks:
        raise StoreError("the corpus produced no text to index")
    # the model loads only if some text has no vector yet (shipped or cached): a rebuild of known texts, and
    # the first build of the bundled corpus, need no model at all
    if embedder is None and model_id_of(config.embed_model) is None:
        embedder = load_embedder(config.embed_model, config.model_cache)  # only loading says what it is
    model_id = embedder.model_id if embedder is not None else model_id_of(config.embed_model)
    root = Path(config.index_dir)
    root.mkdir(parents=True, exist_ok=True)
    shipped = ShippedVectors(Path(config.bundled_dir) / "vectors" if config.shipped_vectors else None, model_id)
    cache = VectorCache(root, model_id, embedder.dim if embedder is not None else (shipped.dim or None))
    warnings = list(corpus.warnings)
    if cache.unreadable:
        warnings.append("the embedding cache could not be read; everything was embedded again")

    chunk_texts = [c.embed_text for c in chunks]
    sentences = [candidate_sentences(c.text) for c in chunks]
    flat_sentences = [s for ss in sentences for s in ss]
    chunk_keys = [cache.key(t) for t in chunk_texts]
    sentence_keys = [cache.key(s) for s in flat_sentences]
    # one embedding call for every text the cache lacks; a sentence equal to another text is embedded once
    wanted = dict(zip(chunk_keys, chunk_texts))
    wanted.update((k, s) for k, s in zip(sentence_keys, flat_sentences) if k not in wanted)
    missing = [k for k in wanted if k not in shipped and cache.get(k) is None]
    new: dict[str, np.ndarray] = {}
    if missing:
        embedder = embedder or load_embedder(config.embed_model, config.model_cache)
        if cache.dim != embedder.dim:
            cache = VectorCache(root, model_id, embedder.dim)
        new = embed_in_batches(embedder, [wanted[k] for k in missing], missing, progress=progress)
    repaired = sum(1 for k in missing if k in cache.damaged_keys or k in shipped.damaged_keys)

    def vec(k: str) -> np.ndarray:
        if k in new:
            return new[k]
        v = shipped.get(k)
        return v if v is not None else cache.get(k)

    dim = cache.dim or shipped.dim
    vectors = np.vstack([vec(k) for k in chunk_keys]).astype(np.float32)
    svecs = np.vstack([vec(k) for k in sentence_keys]).astype(np.float32) if sentence_keys \
        else np.zeros((0, dim), np.float32)
    offsets = np.concatenate([[0], np.cumsum([len(s) for s in sentences])]).astype(np.int64)
    cache.save(new)

    t_facts = time.perf_counter()
    facts = extract_facts(corpus, chunks, cache_dir=root / ".cache" / "facts")
    facts_seconds = time.perf_counter() - t_facts
    gaz = make_gazetteer(corpus)
    add_words(a for names in gaz.get("aliases", {}).values() for a in names)
    tokens = [tokenize(t) for t in chunk_texts]
    data = BuildData(name=config.index_name, chunks=chunks, vectors=vectors, tokens=tokens, chunk_keys=chunk_keys,
                     sentence_vectors=svecs, sentence_offsets=offsets, sentence_keys=sentence_keys, gazetteer=gaz,
                     model_id=model_id, facts=facts)
    meta = {
        "corpus": [{"path": s.path, "sha256": s.sha256, "n_lines": s.n_lines, "kind": s.kind} for s in corpus.sources],
        "embed_model": config.embed_model,
        "chunking": asdict(settings),
        "counts": {"pilots": len(corpus.pilots), "sources": len(corpus.sources), "facts": len(facts)},
    }
    path, manifest = write_build(config, data, meta, t0)
    new_chunk_keys = set(chunk_keys) & set(new)
    return BuildReport(
        path=path,
        chunks=len(chunks),
        embedded=sum(1 for k in chunk_keys if k in new_chunk_keys),
        reused=sum(1 for k in chunk_keys if k not in new_chunk_keys),
        seconds=round(time.perf_counter() - t0, 2),
        peak_rss_mb=round(_peak_rss_mb(), 1),
        stats=manifest.chunk_stats,
        warnings=warnings,
        sentences=len(flat_sentences),
        sentences_embedded=sum(1 for k in dict.fromkeys(sentence_keys) if k in new),
        repaired=repaired,
        store=manifest.store,
        facts=len(facts),
        facts_seconds=round(facts_seconds, 3),
        shipped=sum(1 for k in wanted if k in shipped and k not in new),
    )


def ship_vectors(config: Config, *, progress: bool = True) -> tuple[Path, int]:
    """Write the vectors of every text a build of the bundled corpus embeds as the shipped set
    (`<bundled_dir>/vectors`): a maintainer's step after the corpus, the chunking or the model changed.
    Vectors come from the cache or are embedded now, never from an older shipped set."""
    corpus = load_corpus([config.bundled_dir])
    chunks = chunk_corpus(corpus, settings_of(config))
    embedder = load_embedder(config.embed_model, config.model_cache)
    cache = VectorCache(Path(config.index_dir), embedder.model_id, embedder.dim)
    texts = [c.embed_text for c in chunks] + [s for c in chunks for s in candidate_sentences(c.text)]
    wanted = {cache.key(t): t for t in texts}
    missing = [k for k in wanted if cache.get(k) is None]
    new = embed_in_batches(embedder, [wanted[k] for k in missing], missing, progress=progress)
    cache.save(new)
    vectors = {k: new[k] if k in new else cache.get(k) for k in wanted}
    return write_shipped(Path(config.bundled_dir) / "vectors", embedder.model_id, vectors), len(vectors)


def embed_in_batches(embedder, texts: list[str], keys: list[str], *, progress: bool = False,
                     group: int = EMBED_GROUP) -> dict[str, np.ndarray]:
    """Embed `texts` a group at a time, longest first: the tokenised inputs and activations of one group are
    all that is held at once, which keeps a cold build's peak memory flat as the corpus grows."""
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    bar = None
    if progress:
        from tqdm import tqdm  # the bar only where a person watches

        bar = tqdm(total=len(texts), desc="嵌入", unit="段")
    out: dict[str, np.ndarray] = {}
    for start in range(0, len(order), group):
        part = order[start:start + group]
        longest = max(len(texts[i]) for i in part)
        kwargs = {}
        if isinstance(embedder, Embedder):  # at most about TOKEN_BUDGET characters in one model call
            kwargs["batch_size"] = max(1, min(embedder.passage_batch_size, TOKEN_BUDGET // max(1, longest)))
        vecs = embedder.embed_passages([texts[i] for i in part], progress=False, **kwargs)
        for i, v in zip(part, vecs):
            out[keys[i]] = np.asarray(v, dtype=np.float32)
        if bar is not None:
            bar.update(len(part))
    if bar is not None:
        bar.close()
    return out


def write_build(config: Config, data: BuildData, meta: dict, t0: float | None = None) -> tuple[Path, Manifest]:
    """Write the shared files, let the configured backend store `data`, write the manifest and publish.

    `meta` gives the manifest's corpus-side fields (`corpus`, `embed_model`, `chunking`, `counts`)."""
    t0 = time.perf_counter() if t0 is None else t0
    backend = backend_for(store_of(config))
    root = Path(config.index_dir)
    builds = root / ".builds"
    builds.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S") + f"-{os.getpid()}"
    tmp = builds / f".tmp-{config.index_name}-{stamp}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        with open(tmp / "chunks.jsonl", "w", encoding="utf-8") as f:
            for c in data.chunks:
                f.write(json.dumps(asdict(c), ensure_ascii=False) + "\n")
        with open(tmp / "tokens.jsonl", "w", encoding="utf-8") as f:
            for t in data.tokens:
                f.write(json.dumps(t, ensure_ascii=False) + "\n")
        (tmp / "gazetteer.json").write_text(json.dumps(data.gazetteer, ensure_ascii=False, indent=1), encoding="utf-8")
        (tmp / "search_texts.json").write_text(json.dumps(simplified_texts(data.chunks), ensure_ascii=False),
                                               encoding="utf-8")
        with open(tmp / "facts.jsonl", "w", encoding="utf-8") as f:
            for fact in data.facts:
                f.write(json.dumps(fact.to_dict(), ensure_ascii=False) + "\n")
        store = backend.write(data, tmp, config)
        files = sorted(p.name for p in tmp.iterdir() if p.is_file())
        manifest = Manifest(
            format=FORMAT_VERSION,
            name=config.index_name,
            corpus=meta["corpus"],
            embed_model=meta["embed_model"],
            model_id=data.model_id,
            dim=data.dim,
            chunking=meta["chunking"],
            counts={**meta.get("counts", {}), "chunks": len(data.chunks), "sentences": int(data.sentence_offsets[-1])},
            chunk_stats=chunk_stats(data.chunks),
            versions=versions(),
            files={name: sha256_file(tmp / name) for name in files},
            created=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            build_seconds=round(time.perf_counter() - t0, 2),
            store=store,
        )
        (tmp / "manifest.json").write_text(json.dumps(asdict(manifest), ensure_ascii=False, indent=2), encoding="utf-8")
        final = builds / f"{config.index_name}-{stamp}"
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    publish(root / config.index_name, final)
    return root / config.index_name, manifest


def publish(link: Path, target: Path) -> None:
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
    # exactly `<name>-<stamp>`: `default-…` must not match the builds of `default--chunk_max_chars=150`
    ours = re.compile(re.escape(link.name) + r"-\d{8}-\d{6}-\d+$")
    for d in target.parent.iterdir():
        if ours.match(d.name) and d.resolve() not in keep:
            shutil.rmtree(d, ignore_errors=True)
        elif d.name.startswith(".tmp-") and ours.match(d.name[5:]) and not _pid_alive(d.name):
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
