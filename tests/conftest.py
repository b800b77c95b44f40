"""Shared fixtures: one real index (real corpus, real default model) built once per test session.

The suite leaves the checkout as it found it: before anything reads a setting, every place the app writes
(documents folder, indexes, reports, evaluation runs, the user data folder) is pointed at a session folder
under the system's temporary directory, and `checkout_untouched` fails the session if `data/`, `index/` or
`eval/` changed anyway. The bundled corpus (`data/`) is only read.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from rag.config import ROOT, Config

CORPUS = ROOT / "data" / "pilots-batch2.txt"
SESSION = Path(tempfile.mkdtemp(prefix="pilotqa-tests-"))
os.environ.update(
    PILOTQA_DOCS_DIR=str(SESSION / "docs"), PILOTQA_INDEX_DIR=str(SESSION / "index"),
    PILOTQA_REPORTS_DIR=str(SESSION / "reports"), PILOTQA_RUNS_DIR=str(SESSION / "runs"),
    XDG_DATA_HOME=str(SESSION / "share"),
)
for _name in ("PILOTQA_SERVER", "PILOTQA_API_TOKEN", "PILOTQA_ADMIN_TOKEN", "PILOTQA_CORPUS"):
    os.environ.pop(_name, None)
WATCHED = ("data", "index", "eval", "prompts", "rag/knowledge/data")


def _state() -> dict[str, tuple[int, int]]:
    out = {}
    for top in WATCHED:
        for p in (ROOT / top).rglob("*"):
            if p.is_file() and "__pycache__" not in p.parts and "screenshots" not in p.parts:
                st = p.stat()
                out[str(p.relative_to(ROOT))] = (st.st_size, st.st_mtime_ns)
    return out


def pytest_collection_modifyitems(config, items):
    """Everything outside tests/unit/ runs the real corpus, model, server or browser: `slow`."""
    unit = Path(__file__).parent / "unit"
    for item in items:
        if unit not in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session", autouse=True)
def checkout_untouched():
    """No test writes into the checkout's data, index, eval, prompts or word lists."""
    before = _state()
    yield
    after = _state()
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    shutil.rmtree(SESSION, ignore_errors=True)
    assert not changed, f"the tests changed the checkout: {changed[:20]}"


@pytest.fixture(scope="session")
def corpus():
    """The real corpus, parsed once."""
    from rag.corpus import load_corpus

    return load_corpus([CORPUS])


@pytest.fixture(scope="session")
def index_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("index")


@pytest.fixture(scope="session")
def config(index_dir) -> Config:
    """The default settings, pointed at a session-private index folder (the model cache is shared)."""
    return Config.from_env(index_dir=index_dir)


@pytest.fixture(scope="session")
def embedder(config):
    from rag.index.embeddings import load_embedder

    return load_embedder(config.embed_model, config.model_cache)


@pytest.fixture(scope="session")
def built_index(config, embedder):
    from rag.index.store import Index, build_index

    build_index(config, progress=False, embedder=embedder)
    return Index.load(config.index_path, expect=config)


@pytest.fixture(scope="session")
def qa(config, built_index, embedder):
    from rag.pipeline import PilotQA

    return PilotQA(config, index=built_index, embedder=embedder)


@pytest.fixture()
def index_copy(config, built_index, tmp_path) -> Config:
    """A private copy of the built index (as a plain folder + cache) for tests that damage it."""
    src = config.index_path.resolve()
    dst_root = tmp_path / "index"
    dst_root.mkdir()
    shutil.copytree(src, dst_root / ".builds" / "default-copy")
    os.symlink(".builds/default-copy", dst_root / "default")
    cache = Path(config.index_dir) / ".cache"
    if cache.exists():
        shutil.copytree(cache, dst_root / ".cache")
    return config.with_overrides(index_dir=dst_root)
