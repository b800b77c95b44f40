"""The documents folder: the knowledge base's source of truth, managed by `pilotqa docs` and the 知识库 tab.

`config.docs_dir` (`data/` by default, `PILOTQA_DOCS_DIR`) holds the documents as they were added (.pdf,
.docx, .txt, .md; hidden files and `README*` are not documents). Their extracted text is kept by hash in
`<docs_dir>/.extracted/` (`rag.ingest.cache`); the index records each document's hash, so citations and the
browser read exactly the text that was indexed.

Every change goes the same way, under one lock: check everything first (name, size, type by content,
extractable text), then copy into the folder atomically, then rebuild the index through `build_index`
(which embeds only chunks whose text it has not embedded before, so one new file costs only its own
chunks), and publish atomically. If the rebuild fails the folder is put back as it was: nothing is ever
half-added, and the previous index keeps serving. Messages are one line, Chinese then English, the same in
the CLI and the app.
"""
from __future__ import annotations

import json
import os
import shutil
import time
import unicodedata
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable, Sequence

from rag.config import Config
from rag.corpus import CorpusError, is_document_name, load_corpus
from rag.corpus import folder as docs_folder
from rag.corpus.folder import ensure_documents
from rag.corpus.ingest import TYPES, Extracted, IngestError, Limits, load, type_label
from rag.corpus.ingest.cache import DIRNAME, ExtractCache
from rag.corpus.plain import PLAIN_NOTE
from rag.files import sha256_file
from rag.index.store import Index, StoreError, build_index

__all__ = ["DocumentError", "DocInfo", "ChangeReport", "list_documents", "add_documents", "remove_document",
           "reindex", "check_name", "page_of", "text_lines", "index_config"]

MAX_NAME_CHARS = 120
Progress = Callable[[float, str], None]


class DocumentError(ValueError):
    """A document operation refused or undone; the message is for people, Chinese / English, one line."""

    def __init__(self, zh: str, en: str):
        self.zh, self.en = zh, en
        super().__init__(f"{zh} / {en}")


class NameClash(DocumentError):
    """Files named as documents the folder has: replacing them needs the user's confirmation (`replace=True`)."""

    def __init__(self, names: list[str]):
        self.names = list(names)
        super().__init__(f"已有同名文档“{'、'.join(self.names)}”。要替换它，请确认替换（命令行加 --replace）",
                         f"a document named {', '.join(self.names)} exists; confirm to replace it (--replace)")


@dataclass
class DocInfo:
    name: str
    type: str                 # "PDF", "Word", "文本", "Markdown"
    pages: int | None
    units: str                # "59 个试点" / "12 个章节，40 段" / "8 段" (a document without headings)
    chunks: int | None        # None: not in the index
    added: str                # local time the file was added (its mtime in the folder)
    status: str               # 已索引 / 待索引 / 已删除（待重建）
    size: int = 0
    sha256: str = ""


@dataclass
class ChangeReport:
    messages: list[str] = field(default_factory=list)   # one line per document changed
    chunks: int = 0            # chunks in the new index
    embedded: int = 0          # chunks embedded for this change (the rest came from the cache)
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    messages_zh: list[str] = field(default_factory=list)  # the same lines in Chinese only (the app shows these)

    def summary_zh(self) -> str:
        return f"索引已更新：共 {self.chunks} 个片段，本次新嵌入 {self.embedded} 个，用时 {self.seconds:.1f} 秒"

    def summary(self) -> str:
        return (f"{self.summary_zh()} / "
                f"index updated: {self.chunks} chunks, {self.embedded} embedded now, {self.seconds:.1f} s")


# --------------------------------------------------------------------------- folder and names


def docs_dir(config: Config) -> Path:
    """The documents folder, seeded with the bundled corpus on first use."""
    return ensure_documents(config)


def index_config(config: Config) -> Config:
    """The configuration that indexes exactly the documents folder (whatever --corpus said)."""
    return config.with_overrides(corpus=(str(docs_dir(config)),))


def document_paths(config: Config) -> list[Path]:
    d = docs_dir(config)
    if not d.is_dir():
        return []
    return sorted(p for p in d.iterdir() if p.is_file() and is_document_name(p.name))


def _key(name: str) -> str:
    """What makes two names the same to a person: NFKC (full-width ａ, ｐｄｆ), case, surrounding space."""
    return unicodedata.normalize("NFKC", name).casefold().strip()


def check_name(name: str, existing: Sequence[str] = ()) -> str:
    """The name a document is stored under, or DocumentError: no path parts, no hidden or reserved names,
    a supported extension, and not a look-alike of another document's name (an exact match is a replace)."""
    raw = name if isinstance(name, str) else str(name)
    shown = raw if len(raw) <= 60 else raw[:60] + "…"
    folded = unicodedata.normalize("NFKC", raw)
    if not raw.strip():
        raise DocumentError("文件名不能为空", "the file name is empty")
    if any(c in folded for c in "/\\") or folded.strip() in (".", ".."):
        raise DocumentError(f"文件名不合法：“{shown}”含有路径（如 ../ 或 /），只能是单纯的文件名",
                            f"invalid file name {shown!r}: it contains a path (../ or /); give a plain file name")
    if any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in raw) or raw != raw.strip():
        raise DocumentError(f"文件名不合法：“{shown.strip()}”含有控制字符或首尾空白",
                            f"invalid file name {shown.strip()!r}: control characters or surrounding spaces")
    if raw.startswith("."):
        raise DocumentError(f"文件名不能以“.”开头：“{shown}”", f"file names cannot start with '.': {shown!r}")
    if len(raw) > MAX_NAME_CHARS or len(raw.encode("utf-8")) > 240:
        raise DocumentError(f"文件名太长（超过 {MAX_NAME_CHARS} 个字符）", f"the file name is too long (over {MAX_NAME_CHARS} characters)")
    if not is_document_name(raw):
        if raw.lower().startswith("readme"):
            raise DocumentError(f"“{shown}”是保留的文件名（说明文件），请改名", f"{shown!r} is a reserved name (README): rename it")
        raise DocumentError(f"不支持的文件类型：“{shown}”，只接受 .pdf、.docx、.txt 和 .md 文件",
                            f"unsupported file type {shown!r}: only .pdf, .docx, .txt and .md")
    for other in existing:
        if other != raw and _key(other) == _key(raw):
            raise DocumentError(f"“{shown}”与已有文档“{other}”名称几乎相同（仅大小写或全角半角不同），请改名后再添加",
                                f"{shown!r} looks like the existing document {other!r} (case/width only): rename it")
    return raw


# --------------------------------------------------------------------------- lock and state


@contextmanager
def _locked(config: Config):
    """One document operation at a time per folder (CLI and app alike); a second one is told to wait. A change a
    crash interrupted is settled first (`rag.corpus.folder.reconcile`), so every operation starts from a folder
    that agrees with the index."""
    if Path(config.docs_dir).resolve() == Path(config.bundled_dir).resolve():
        raise DocumentError(f"内置语料目录是只读的：{config.docs_dir}。请用文档目录（PILOTQA_DOCS_DIR）管理文档",
                            f"the bundled corpus folder is read-only: {config.docs_dir}; use a documents folder")
    docs_dir(config)
    try:
        with docs_folder.locked(config):
            docs_folder.settle(config)
            yield
    except BlockingIOError:
        raise DocumentError("知识库正在更新（另一个添加、删除或重建正在进行），请稍后再试",
                            "another document operation is running; try again shortly") from None


def _indexed(config: Config) -> dict[str, str]:
    """path → sha256 of the documents in the published index (empty when there is none)."""
    try:
        data = json.loads((Path(config.index_path) / "manifest.json").read_text(encoding="utf-8"))
        return {c["path"]: c["sha256"] for c in data.get("corpus", [])}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def _rebuild(config: Config, progress: Progress | None, embedder, before: dict[str, str]) -> ChangeReport:
    if progress:
        progress(0.5, "正在更新索引（只嵌入新增或改动的片段）……")
    report = build_index(index_config(config), progress=progress is not None, embedder=embedder)
    keep = set(before.values()) | set(_indexed(config).values())
    ExtractCache(docs_dir(config) / DIRNAME).prune(keep)  # the old index may still be serving: keep its text
    # "indexed as a plain document" is how every non-pilots document is read: not worth a warning here
    warnings = [w for w in report.warnings if PLAIN_NOTE not in w]
    return ChangeReport(chunks=report.chunks, embedded=report.embedded, seconds=report.seconds, warnings=warnings)


# --------------------------------------------------------------------------- operations


def add_documents(config: Config, files: Sequence[str | Path], names: Sequence[str | None] | None = None, *,
                  progress: Progress | None = None, embedder=None, replace: bool = False) -> ChangeReport:
    """Check, copy and index `files` (stored as `names`, default their own names); all or nothing. A file whose
    name a document already has replaces it only with `replace` (the user confirmed), and the replaced version
    is kept until the new index is published."""
    if not files:
        raise DocumentError("没有选择要添加的文件", "no file given")
    names = list(names) if names else [None] * len(files)
    limit = float(config.max_upload_mb)
    limits = Limits.from_config(config)  # what a file may unpack to, and how long reading it may take
    with _locked(config):
        folder = docs_dir(config)
        folder.mkdir(parents=True, exist_ok=True)
        existing = [p.name for p in document_paths(config)]
        checked: list[str] = []
        for src, name in zip(files, names):
            name = check_name(name or Path(src).name, existing + checked)
            if name in checked:
                raise DocumentError(f"同一个文件“{name}”选择了两次", f"{name!r} was given twice")
            checked.append(name)
        clash = [n for n in checked if n in existing]
        if clash and not replace:  # before anything is read: the user is asked first
            raise NameClash(clash)
        planned: list[tuple[Path, str, Extracted]] = []
        for i, (src, name) in enumerate(zip(files, checked)):
            src = Path(src)
            if not src.is_file():
                raise DocumentError(f"找不到文件：{src}", f"no such file: {src}")
            size = src.stat().st_size
            if size > limit * 1024 * 1024:
                raise DocumentError(f"无法添加 {name}：文件太大（{size / 1048576:.1f} MB），上限为 {limit:g} MB",
                                    f"{name}: file too large ({size / 1048576:.1f} MB; the limit is {limit:g} MB)")
            if progress:
                progress(0.4 * i / len(files), f"正在读取 {name}……")
            try:
                ex = ExtractCache(folder / DIRNAME).load(src, name=name, limits=limits)
            except IngestError as exc:
                raise DocumentError(f"无法添加 {exc.name}：{exc.zh}", f"{exc.name}: {exc.en}") from None
            planned.append((src, name, ex))
        before = _indexed(config)
        backups: list[tuple[Path, Path | None]] = []   # (document, its previous version or None)
        entries = []
        for src, name, ex in planned:
            dst = folder / name
            held = folder / DIRNAME / f".held-{os.getpid()}-{name}" if dst.exists() else None
            backups.append((dst, held))
            entries.append({"name": name, "new": ex.sha256, "held": str(held) if held else None})
        # written down first: a crash from here on is finished or undone by what the published index holds
        docs_folder.begin(config, entries)
        try:
            for (src, name, ex), (dst, held) in zip(planned, backups):
                tmp = folder / DIRNAME / f".new-{os.getpid()}-{name}"
                shutil.copyfile(src, tmp)
                if held is not None:
                    os.link(dst, held)  # the replaced version stays until the new index is published
                os.replace(tmp, dst)  # atomic: the folder never holds half a file
            report = _rebuild(config, progress, embedder, before)
        except BaseException as exc:
            docs_folder.undo(config)
            if isinstance(exc, DocumentError):
                raise
            raise DocumentError(f"索引更新失败，已撤销本次添加：{_why(exc)}",
                                f"the index update failed; nothing was added: {_why(exc)}") from exc
        docs_folder.finish(config)
    for (_, name, ex), (_, old) in zip(planned, backups):  # `old`: the version it replaced
        verb = ("已更新", "updated") if old is not None else ("已添加", "added")
        report.messages.append(f"{verb[0]} {name}（{_describe_zh(ex)}） / {verb[1]} {name} ({_describe_en(ex)})")
        report.messages_zh.append(f"{verb[0]} {name}（{_content_zh(ex, folder / name)}）")
        report.warnings.extend(f"{name}: {w}" for w in ex.meta.get("warnings", []))
    return report


def remove_document(config: Config, name: str, *, progress: Progress | None = None, embedder=None) -> ChangeReport:
    """Delete one document (its name as listed) and its chunks from the index; undone if the rebuild fails."""
    with _locked(config):
        folder = docs_dir(config)
        names = [p.name for p in document_paths(config)]
        if name not in names:
            like = [n for n in names if _key(n) == _key(str(name))]
            hint = f"，您是不是要删除“{like[0]}”？" if like else "。用 `pilotqa docs list` 查看文档名"
            raise DocumentError(f"知识库中没有名为“{name}”的文档{hint}", f"no document named {name!r} in the knowledge base")
        if len(names) == 1:
            raise DocumentError("这是知识库中唯一的文档，不能删除（至少保留一个文档）",
                                "this is the only document: the knowledge base needs at least one")
        before = _indexed(config)
        path = folder / name
        held = folder / DIRNAME / f".held-{os.getpid()}-{name}"
        docs_folder.begin(config, [{"name": name, "new": None, "held": str(held), "held_sha": sha256_file(path)}])
        try:
            os.replace(path, held)
            report = _rebuild(config, progress, embedder, before)
        except BaseException as exc:
            docs_folder.undo(config)
            raise DocumentError(f"索引更新失败，已撤销删除：{_why(exc)}",
                                f"the index update failed; nothing was removed: {_why(exc)}") from exc
        docs_folder.finish(config)
    report.messages.append(f"已删除 {name} / removed {name}")
    report.messages_zh.append(f"已删除 {name}")
    return report


def reindex(config: Config, *, progress: Progress | None = None, embedder=None) -> ChangeReport:
    """Rebuild the index from the documents folder (nothing re-embedded that was embedded before)."""
    with _locked(config):
        if not document_paths(config):
            raise DocumentError(f"文档目录中没有文档：{docs_dir(config)}", f"no documents in {docs_dir(config)}")
        try:
            report = _rebuild(config, progress, embedder, _indexed(config))
        except Exception as exc:
            raise DocumentError(f"重建索引失败：{_why(exc)}", f"the rebuild failed: {_why(exc)}") from exc
    report.messages.append("已按文档目录重建索引 / re-indexed from the documents folder")
    report.messages_zh.append("已按文档目录重建索引")
    return report


def _why(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text if len(text) <= 200 else text[:200] + "…"


def _describe_zh(ex: Extracted) -> str:
    pages = f"，{ex.n_pages} 页" if ex.n_pages else ""
    return f"{type_label(ex.kind)}{pages}，{sum(1 for s in ex.lines if s.strip())} 段文字"


def _describe_en(ex: Extracted) -> str:
    pages = f", {ex.n_pages} pages" if ex.n_pages else ""
    return f"{ex.kind}{pages}, {sum(1 for s in ex.lines if s.strip())} paragraphs"


# --------------------------------------------------------------------------- listing


def list_documents(config: Config, chunks: Sequence | None = None) -> list[DocInfo]:
    """Every document in the folder (and any the index still holds), with what the index knows of it.

    `chunks`: the loaded index's chunks (the app passes its own); None reads the published index. A change a
    crash interrupted is settled first, so what is listed is what the index holds.
    """
    if Path(config.docs_dir).is_dir():
        docs_folder.reconcile(config)
    if chunks is None:
        chunks = _published_chunks(config)
    # by file name: names are unique in one folder, and an index keeps serving if the folder is moved
    per_name: dict[str, int] = {}
    for c in chunks or []:
        per_name[Path(c.source).name] = per_name.get(Path(c.source).name, 0) + 1
    indexed = {Path(p).name: sha for p, sha in _indexed(config).items()}
    out: list[DocInfo] = []
    cache = ExtractCache(docs_dir(config) / DIRNAME)
    for p in document_paths(config):
        st = p.stat()
        sha = sha256_file(p)
        units = _units(p)
        ex = cache.get(sha)
        status = "已索引" if indexed.get(p.name) == sha else ("待索引（已改动）" if p.name in indexed else "待索引")
        out.append(DocInfo(name=p.name, type=type_label(ex.kind if ex else TYPES.get(p.suffix.lower(), "")),
                           pages=ex.n_pages if ex else None, units=units, chunks=per_name.get(p.name),
                           added=time.strftime("%Y-%m-%d %H:%M", time.localtime(st.st_mtime)), status=status,
                           size=st.st_size, sha256=sha))
    present = {p.name for p in document_paths(config)}
    for name in indexed:
        if name not in present:
            out.append(DocInfo(name=name, type="", pages=None, units="", chunks=per_name.get(name), added="",
                               status="已删除（待重建）"))
    return out


def _units(path: Path) -> str:
    """What a document holds, as the index reads it: its pilots, or a plain document's sections and paragraphs."""
    try:
        corpus = load_corpus([path])  # extracts into the cache when not there yet
    except CorpusError as exc:
        return f"无法读取：{exc}"
    pilots = [q for q in corpus.pilots if q.province]
    return f"{len(pilots)} 个试点" if pilots else _plain_units(corpus.pilots)


def _content_zh(ex: Extracted, path: Path) -> str:
    """The app's line for an added document: its type, pages and what it holds (as the 知识库 table says)."""
    units = _units(path)
    if units.startswith("无法读取"):
        return _describe_zh(ex)
    pages = f"，{ex.n_pages} 页" if ex.n_pages else ""
    return f"{type_label(ex.kind)}{pages}，{units}"


def _plain_units(docs: Sequence) -> str:
    """What a plain document holds, as it really is: its sections (a Markdown file's top-level parts count as
    sections too) and paragraphs, or its paragraphs alone when it has no headings."""
    sections = sum(1 for q in docs for _ in q.iter_sections()) + (len(docs) if len(docs) > 1 else 0)
    paragraphs = sum(1 for q in docs for _ in q.paragraphs())
    return f"{sections} 个章节，{paragraphs} 段" if sections else f"{paragraphs} 段"


def _published_chunks(config: Config):
    try:
        index = Index.load(config.index_path)
    except (StoreError, OSError, ValueError):
        return []
    try:
        return list(index.chunks)
    finally:
        close = getattr(index, "close", None)
        if close:
            close()


# --------------------------------------------------------------------------- lookups for citations


@lru_cache(maxsize=64)
def _extraction(source: str, stamp: tuple) -> Extracted | None:
    path = Path(source)
    if path.is_file():
        try:
            return load(path)
        except (IngestError, OSError):
            return None
    # removed since it was indexed: its text is still kept by hash beside the documents
    cache = ExtractCache(path.parent / DIRNAME)
    found = [ex for sha in cache.shas() if (ex := cache.get(sha)) is not None and ex.name == path.name]
    return found[0] if len(found) == 1 else None


def _stamp(source: str) -> tuple:
    try:
        st = os.stat(source)
        return (st.st_mtime_ns, st.st_size)
    except OSError:
        return ()


def page_of(source: str, line: int) -> int | None:
    """The 1-based PDF page of `line` of an indexed document (`Chunk.source`); None for other types."""
    if not source or not str(source).lower().endswith(".pdf"):
        return None
    ex = _extraction(str(source), _stamp(str(source)))
    return ex.page(int(line)) if ex else None


def text_lines(source: str) -> tuple[str, ...] | None:
    """The lines of an indexed document as indexed (a PDF's or Word file's extracted text); None if unknown."""
    ex = _extraction(str(source), _stamp(str(source))) if source else None
    return tuple(ex.lines) if ex else None

