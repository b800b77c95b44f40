"""PDF and Word files are read in a child process, stopped after `Limits.timeout` seconds and with its address
space capped at `Limits.memory_bytes` (`RLIMIT_AS`, where the system has it), so no file can hold the knowledge
base busy or grow the server's memory, whatever the parser does with it.

The child is a fresh interpreter (this Python, `-c` with a fixed line that calls `serve_one`; no shell, nothing
of the file on the command line): safe in a threaded server, where fork is not, and it never re-runs the
caller's main script, as multiprocessing's spawn would. It reads one request (path, name, limits) as JSON on
stdin, caps its memory and pdfminer's decompression (`pdf.cap_streams`), extracts, and writes one JSON reply,
the extraction or the refusal, on stdout: nothing it sends is unpickled. The time limit counts from the start of
the child, whose start-up costs about 0.1–0.3 s per file read; the extraction cache keeps that to once per content.
"""
from __future__ import annotations

import json
import os
import signal
import site
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

from rag.corpus.ingest.docx import extract_docx
from rag.corpus.ingest.limits import Limits, Refused, failed, out_of_memory, timed_out, too_large
from rag.corpus.ingest.pdf import StreamBudget, cap_streams, extract_pdf
from rag.corpus.ingest.types import Extracted, IngestError

try:
    import resource
except ImportError:  # not on Windows: no memory limit there, the time limit still holds
    resource = None

_BOOT = "from rag.corpus.ingest.worker import serve_one; serve_one()"
_ROOT = Path(__file__).resolve().parents[3]  # the folder holding the `rag` package this code came from


def extract_isolated(kind: str, path: Path, name: str, sha256: str, limits: Limits) -> Extracted:
    """Extract a "pdf" or "docx" file in a child process within `limits`; every refusal is an IngestError."""
    if not sys.executable:  # an embedded interpreter with no Python to start: read here, within the size limits
        return _extract(kind, path, name, sha256, limits, isolated=False)
    request = json.dumps({"kind": kind, "path": str(path), "name": name, "sha256": sha256, "limits": asdict(limits)})
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_own_path(), env.get("PYTHONPATH", "")) if p)
    safe_path = ["-P"] if sys.version_info >= (3, 11) else []  # no current folder on the child's import path
    proc = subprocess.Popen([sys.executable, *safe_path, "-c", _BOOT], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            env=env, close_fds=True)
    try:
        out, _ = proc.communicate(request.encode("utf-8"), timeout=limits.timeout if limits.timeout > 0 else None)
    except subprocess.TimeoutExpired:
        raise timed_out(name, limits) from None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    try:
        reply = json.loads(out.decode("utf-8", "surrogatepass"))
    except ValueError:  # no reply: the child died (killed, crashed)
        if proc.returncode == -getattr(signal, "SIGKILL", 9):  # the system's out-of-memory killer, most likely
            raise out_of_memory(name, limits) from None
        code = proc.returncode
        raise failed(name, f"读取进程异常退出，退出码 {code}", f"the reading process exited with code {code}") from None
    if "error" in reply:
        raise IngestError(*reply["error"])
    return Extracted(name=reply["name"], kind=reply["kind"], lines=reply["lines"], pages=reply["pages"],
                     sha256=reply["sha256"], title=reply["title"],
                     headings={int(k): v for k, v in reply["headings"].items()}, meta=reply["meta"])


def _own_path() -> str:
    """The folder to put first on the child's import path, so it runs this very code: a source checkout's root;
    nothing when `rag` is installed in site-packages (the child finds it there, after the standard library)."""
    try:
        sites = {Path(p).resolve() for p in [*site.getsitepackages(), site.getusersitepackages()]}
    except AttributeError:  # a virtualenv's old `site` module
        sites = set()
    return "" if _ROOT in sites else str(_ROOT)


def serve_one() -> None:
    """The child process: one request on stdin, one reply on stdout (anything else printed goes to stderr)."""
    reply_to = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    request = json.loads(sys.stdin.buffer.read().decode("utf-8"))
    limits = Limits(**request["limits"])
    _cap_memory(limits.memory_bytes)
    kind, path, name, sha256 = request["kind"], Path(request["path"]), request["name"], request["sha256"]
    error: IngestError | None = None
    ex: Extracted | None = None
    oom = False
    try:
        ex = _extract(kind, path, name, sha256, limits, isolated=True)
    except IngestError as exc:
        error = out_of_memory(name, limits) if exc.code == "damaged" and _near_memory_cap(limits) else exc
    except Refused as stop:
        error = stop.error
    except MemoryError:
        oom = True  # the failed frames are freed when this clause ends; the reply is made after
    except Exception as exc:  # a parser's bug on a strange file: refused, never a traceback for the user
        error = failed(name, type(exc).__name__)
    if oom:
        error = out_of_memory(name, limits)
    if error is not None:
        reply = {"error": [error.name, error.code, error.zh, error.en]}
    else:
        reply = {"name": ex.name, "kind": ex.kind, "lines": ex.lines, "pages": ex.pages, "sha256": ex.sha256,
                 "title": ex.title, "headings": {str(k): v for k, v in ex.headings.items()}, "meta": ex.meta}
    reply_to.write(json.dumps(reply, ensure_ascii=False).encode("utf-8", "surrogatepass"))
    reply_to.close()


def _extract(kind: str, path: Path, name: str, sha256: str, limits: Limits, *, isolated: bool) -> Extracted:
    if kind == "pdf":
        if isolated:  # this process reads one PDF and exits: pdfminer may be changed for good
            cap_streams(StreamBudget(limits.unpacked_bytes, name))
        ex = extract_pdf(path, name, sha256, limits)
    else:
        ex = extract_docx(path, name, sha256, limits)
    if sum(len(s.encode("utf-8", "surrogatepass")) + 1 for s in ex.lines) > limits.text_bytes:
        raise too_large(name, "提取出的文字", "the extracted text", limits.text_bytes)
    return ex


def _near_memory_cap(limits: Limits) -> bool:
    """Whether this process came within 10 % of its memory cap: lxml reports an allocation that failed as an XML
    syntax error ("unknown error"), so a file refused as damaged after that really needed too much memory."""
    if resource is None or limits.memory_bytes <= 0:
        return False
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            peak = next((int(ln.split()[1]) * 1024 for ln in f if ln.startswith("VmPeak:")), 0)
    except (OSError, ValueError, IndexError):
        return False
    return peak >= 0.9 * limits.memory_bytes


def _cap_memory(limit: int) -> None:
    if resource is None or limit <= 0:
        return
    try:
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ValueError, OSError):  # not allowed here (some containers): the time limit still holds
        pass
