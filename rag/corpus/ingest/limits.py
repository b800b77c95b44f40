"""What one file may unpack to while it is read, so a hostile or broken file is refused fast, never left running.

A 1.7 MB .docx can hold 600 MB of XML, a PDF a flate stream that inflates to gigabytes, or a small piece of
text drawn a million times. `Limits` bounds, each by default 20 × the upload limit (`Config.max_upload_mb`):

* `unpacked_bytes`: a Word file's uncompressed parts (all together, from the ZIP directory, before anything is
  parsed) and a PDF's decompressed streams (all together, counted as they are inflated);
* `text_bytes`: the text extracted (a PDF's counted line by line as its pages are read) and a text file's size;

and also:

* `ratio`: how much one ZIP part of at least `RATIO_MIN` bytes may inflate (Word's XML: about 5–30 ×);
* `timeout`: seconds a PDF or Word file may take to read (`Config.extract_timeout`); 0 = no limit;
* `memory_bytes`: the address space of the process that reads a PDF or Word file (`RLIMIT_AS`); 0 = none.

PDF and Word files are read in a child process (`worker`), stopped when the time runs out, so no limit depends
on the parser giving control back. Every refusal is an `IngestError` naming the file and the fix.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from rag.config import Config
from rag.corpus.ingest.types import IngestError

MIB = 1024 * 1024
UNPACK_FACTOR = 20        # text / XML a file may unpack to, per byte of the upload limit
RATIO_MIN = 1 * MIB       # smaller ZIP entries are never called bombs, whatever their ratio
MAX_ENTRIES = 10_000      # parts in one Word file (a real one has tens, a few hundred with many images)


def _upload_bytes(max_upload_mb: float) -> int:
    mb = float(max_upload_mb) if max_upload_mb and float(max_upload_mb) > 0 else float(Config.max_upload_mb)
    return int(mb * MIB)


@dataclass(frozen=True)
class Limits:
    unpacked_bytes: int = UNPACK_FACTOR * _upload_bytes(Config.max_upload_mb)
    text_bytes: int = UNPACK_FACTOR * _upload_bytes(Config.max_upload_mb)
    ratio: float = 200.0
    timeout: float = Config.extract_timeout
    memory_bytes: int = 2048 * MIB

    @classmethod
    def from_config(cls, config: Config, **smaller) -> "Limits":
        """The limits `config` sets (upload limit, extraction timeout); `smaller` may only tighten them."""
        unpacked = UNPACK_FACTOR * _upload_bytes(config.max_upload_mb)
        base = cls(unpacked_bytes=unpacked, text_bytes=unpacked, timeout=max(0.0, float(config.extract_timeout)))
        return replace(base, **{k: _tighter(getattr(base, k), v) for k, v in smaller.items()})


def _tighter(mine, given):
    """The smaller of two limits, where 0 (or less) is no limit at all."""
    if given <= 0:
        return mine
    return type(mine)(given if mine <= 0 else min(mine, given))


def default_limits() -> Limits:
    """The limits of the environment's settings (`PILOTQA_MAX_UPLOAD_MB`, `PILOTQA_EXTRACT_TIMEOUT`), for callers
    that pass none (the corpus loader reads paths, not a Config); the defaults if a setting there is invalid."""
    try:
        return Limits.from_config(Config.from_env())
    except (ValueError, TypeError):  # a malformed PILOTQA_* value: the command that reads it says so, not this
        return Limits()


class Refused(BaseException):
    """A limit reached deep inside a parser's callback. A BaseException, so that no `except Exception` in
    pdfminer or python-docx can swallow it; `extract_*` turn it back into its `IngestError`."""

    def __init__(self, error: IngestError):
        super().__init__(str(error))
        self.error = error


def size(n: float) -> str:
    """A byte count for people: "1000 MB", "2.5 MB", "64 KB"."""
    if n >= 100 * MIB:
        return f"{n / MIB:.0f} MB"
    if n >= MIB:
        return f"{n / MIB:.1f} MB"
    return f"{max(1, round(n / 1024))} KB"


# --------------------------------------------------------------------------- the refusals


def too_large(name: str, what_zh: str, what_en: str, limit: int) -> IngestError:
    return IngestError(name, "too_large", f"{what_zh}超过上限 {size(limit)}，请拆分成几个较小的文件后再添加",
                       f"{what_en} exceeds the limit of {size(limit)}: split it into smaller files")


def timed_out(name: str, limits: Limits) -> IngestError:
    return IngestError(name, "timeout", f"读取文件超时（超过 {limits.timeout:g} 秒），文件可能过大或结构异常；请拆分成较小的文件"
                       "后再添加（管理员可调大 PILOTQA_EXTRACT_TIMEOUT）",
                       f"reading the file took over {limits.timeout:g} s (too large or malformed): split it into "
                       "smaller files (admins: PILOTQA_EXTRACT_TIMEOUT)")


def out_of_memory(name: str, limits: Limits) -> IngestError:
    return IngestError(name, "memory", f"读取文件所需的内存超过上限 {size(limits.memory_bytes)}，文件可能过大或结构异常；"
                       "请拆分成较小的文件后再添加",
                       f"reading the file needs more than {size(limits.memory_bytes)} of memory (too large or "
                       "malformed): split it into smaller files")


def failed(name: str, why: str, why_en: str | None = None) -> IngestError:
    return IngestError(name, "failed", f"读取文件时出错（{why}），文件可能已损坏；请重新导出或另存后再添加",
                       f"reading the file failed ({why_en or why}): it may be damaged; export or save it again")
