"""Evaluation over documents other than the pilots: a gold file whose items name a `doc` (a .txt under eval/)
is scored against a knowledge base of its own — the bundled pilots plus those documents, each added the way a
user adds one (as .docx, and as .pdf printed by chromium when it is there), in a temporary folder.

Why rendered rather than added as .txt: the judgment has to carry over to what users upload, and a PDF's line
breaks, headers and page numbers or a .docx's headings are part of what the pipeline must cope with.
"""
from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

from rag.config import Config

CHROMIUM = os.environ.get("PILOTQA_CHROMIUM", "/usr/bin/chromium")
# Lines a plan typesets as headings: 一、… (level 1) and （一）… (level 2), short and without a full stop.
_H1 = re.compile(r"^[一二三四五六七八九十]+、\S{1,30}$")
_H2 = re.compile(r"^（[一二三四五六七八九十]+）[^。；]{1,30}$")


def doc_sources(items: Sequence, gold_path: Path) -> list[Path]:
    """The documents a gold file's items ask about, as files beside the gold file (sorted, each once)."""
    found = sorted({(Path(gold_path).parent / it.doc).resolve() for it in items if getattr(it, "doc", "")})
    missing = [p for p in found if not p.is_file()]
    if missing:
        from rag.evaluation.gold import EvalError  # noqa: PLC0415 - only on this error path

        raise EvalError(f"{gold_path}: documents not found: {', '.join(str(p) for p in missing)}")
    return found


def write_docx(src: Path, out: Path) -> Path:
    """A .docx of a text file: the first line as its title, 一、/（一） lines as headings, the rest paragraphs."""
    import docx  # noqa: PLC0415 - python-docx loads only for this evaluation

    lines = [ln.strip() for ln in src.read_text(encoding="utf-8").splitlines() if ln.strip()]
    d = docx.Document()
    if lines:
        d.add_paragraph(lines[0], style="Title")
    for ln in lines[1:]:
        if _H1.match(ln):
            d.add_heading(ln, level=1)
        elif _H2.match(ln):
            d.add_heading(ln, level=2)
        else:
            d.add_paragraph(ln)
    tmp = out.with_name(out.name + ".part")
    d.save(str(tmp))
    os.replace(tmp, out)
    return out


def print_pdf(src: Path, out: Path) -> Path | None:
    """A PDF of a text file printed by headless chromium (one paragraph per line); None without chromium."""
    if not Path(CHROMIUM).is_file():
        return None
    lines = src.read_text(encoding="utf-8").splitlines()
    page = out.with_suffix(".html")
    body = "\n".join(f"<p>{html.escape(t) if t.strip() else '&nbsp;'}</p>" for t in lines)
    page.write_text("<!doctype html><html><head><meta charset='utf-8'><style>body{font-family:'Noto Serif CJK SC',"
                    "'Noto Sans CJK SC';font-size:14px;line-height:1.7}p{margin:0 0 .6em 0}</style></head><body>"
                    + body + "</body></html>", encoding="utf-8")
    try:
        subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                        "--disable-component-update", "--disable-sync", "--no-first-run",
                        f"--print-to-pdf={out}", page.as_uri()], check=True, capture_output=True, timeout=120)
    except (OSError, subprocess.SubprocessError):
        return None
    finally:
        page.unlink(missing_ok=True)
    return out if out.is_file() and out.stat().st_size else None


def render(sources: Sequence[Path], folder: Path) -> list[Path]:
    """Each source as a user would upload it: alternately .docx and .pdf (a .docx where no chromium prints)."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i, src in enumerate(sources):
        made = print_pdf(src, folder / f"{src.stem}.pdf") if i % 2 else None
        out.append(made or write_docx(src, folder / f"{src.stem}.docx"))
    return out


@contextmanager
def documents_knowledge_base(config: Config, sources: Sequence[Path], *, progress: bool = False) -> Iterator[Config]:
    """A temporary knowledge base: the bundled pilots and `sources` (rendered and added as uploads); yields its
    Config and removes everything afterwards. The configured documents folder and index are never touched."""
    from rag.index.documents import add_documents  # noqa: PLC0415 - the index loads only for this evaluation

    tmp = Path(tempfile.mkdtemp(prefix="pilotqa-docs-eval-"))
    try:
        cfg = config.with_overrides(docs_dir=tmp / "documents", index_dir=tmp / "index")
        files = render(sources, tmp / "uploads")
        add_documents(cfg, files, progress=(lambda frac, msg: print(msg)) if progress else None)
        yield cfg
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
