"""Shared fixtures: one real index (real corpus, real default model) built once per test session."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from rag.config import ROOT, Config

CORPUS = ROOT / "data" / "pilots-batch2.txt"


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
