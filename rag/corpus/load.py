"""Loading the corpus: parse the pilots' work-plan file(s) into `Pilot`s with a section tree and line-exact paragraphs.

Shape of a *pilots* file (see data/README.md): front matter with a Markdown-table TOC, then one block per
pilot opening with a heading such as `北京市房山区国家新型城镇化综合试点 工作方案要点`; inside a pilot an
intro, then `一、` (level 1) → `（一）` (level 2) → `1.` / `1．` / `- 1.` / `一是` (level 3) sections.

Decisions (documented here because downstream code relies on them):

* **Line numbers** are 1-based and count `\\n`-separated lines exactly as `sed -n Np` does; every
  `Paragraph` keeps the lines it came from, so a citation always points at the original file.
* **Display text is never edited.** Paragraph text is the stripped original line. PDF scars are repaired
  only structurally: a line that does not end a sentence (no 。！？；：” … at its end), is not a pure heading,
  and is followed — across blank line(s) — by a line that is not a heading, is a sentence broken by a page
  break; the two lines become ONE paragraph, joined *without* a newline so a phrase spanning the break
  (`新型农` + `村社区`) reads continuously. Stray spaces (`10 万`) stay in the display text; every
  comparison uses `rag.text.norm`.
* **Numbered items** (`1.`, `一是`) are always text (a bare one is a sentence broken by a page break).
  A title taken from a line of text (inline heading, numbered item) is its first sentence, cut at the first
  ，when longer than 40 characters; a pure heading line keeps its full title.
* **Inline headings** such as `（一）加强组织领导。成立以区长…` give the section title `（一）加强组织领导`
  (text up to the first 。！？；：) and the full original line is kept as the section's paragraph, so
  quotes match the file. A heading line without such punctuation is a pure heading (title only).
* **Levels** of pilots: derived from the place name's suffix — 高新区, 新区, 自治州/州, 旗, 镇, 乡, 县, 区,
  市; twin places `津市市—澧县` get the concatenation of their parts' levels (`市县`).
* **Any file type** the ingestion reads (`rag.ingest`: .pdf, .docx, .txt, .md, checked by content) is
  loaded as the lines of its extracted text; for a text file these are its own lines, for a PDF the
  repaired paragraphs with the page of every line (`Corpus.page(source, line)`), for Word the paragraphs
  with heading-style hints. `Pilot.source` stays the file's path (its name is the citation's `doc`).
* **Other documents** (no pilot heading) are not rejected: they become `Pilot`-like documents with
  `level="文档"` and their own heading tree (`rag.plain`: one per file, or one per top-level `#` heading of
  a Markdown file), and a note is added to `Corpus.warnings` saying how each was read.
* **Duplicate pilot names** across files are all kept (each chunk id includes its source and lines, so
  they stay distinct) and a warning is added; `Corpus.pilot(name)` returns the first one loaded.
* The TOC of each pilots file is parsed and compared with the pilots found in it (a mismatch is a warning);
  `Corpus.toc` is the TOC of the first pilots file.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from rag.corpus.ingest import TYPES
from rag.corpus.ingest.cache import ExtractCache
from rag.corpus.model import Corpus, CorpusError, Paragraph, SourceFile, read_document
from rag.corpus.pilots import PROVINCE, parse_pilots_file
from rag.corpus.plain import parse_plain_file
from rag.corpus.structure import PILOT_HEADING
from rag.files import sha256_file


def expand_paths(paths: Sequence[str | Path] | str | Path) -> list[Path]:
    """Files as given, directories expanded to the documents inside (sorted). Missing → CorpusError.

    A directory's documents are its .pdf, .docx, .txt and .md files, except hidden files and `README*`
    (a documents folder's own notes, like data/README.md).
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    if not paths:
        raise CorpusError("no corpus path given: pass at least one document or a directory")
    out: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if not p.exists():
            raise CorpusError(f"corpus path not found: {p} (check the path, or set PILOTQA_DOCS_DIR / --corpus)")
        if p.is_dir():
            found = sorted(q for q in p.iterdir() if q.is_file() and is_document_name(q.name, TYPES))
            if not found:
                raise CorpusError(f"corpus directory has no .txt or .md files (nor .pdf or .docx documents): {p}")
            out.extend(found)
        else:
            out.append(p)
    seen: set = set()
    uniq = []
    for p in out:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            uniq.append(p)
    return uniq


def is_document_name(name: str, types=None) -> bool:
    """Whether a file in a documents folder is a document (not hidden, not README*, a known extension)."""
    return (not name.startswith(".") and not name.lower().startswith("readme")
            and Path(name).suffix.lower() in (types or TYPES))



def load_corpus(paths: Sequence[str | Path] | str | Path) -> Corpus:
    """Load one or more documents / directories of documents (sorted) into a `Corpus`."""
    corpus = Corpus(pilots=[], sources=[], warnings=[], toc=[])
    for p in expand_paths(paths):
        try:
            sha = sha256_file(p)
        except OSError as exc:
            raise CorpusError(f"cannot read corpus file {p}: {exc}") from exc
        _add_file(corpus, str(p), sha, read_document(p, sha))
    return corpus


def load_indexed(records: Sequence[dict]) -> Corpus:
    """The corpus an index was built from (its manifest's `{path, sha256}` records), each document read by
    its recorded hash from the extraction cache: exactly the indexed text, even after the file changed or
    was removed (while a rebuild runs, the previous index keeps being served with its own text)."""
    corpus = Corpus(pilots=[], sources=[], warnings=[], toc=[])
    for rec in records:
        p, sha = Path(rec["path"]), rec.get("sha256") or ""
        ex = ExtractCache.beside(p).get(sha) if sha else None
        if ex is None:
            ex = read_document(p)  # no kept text (an older index): the file as it is now
            sha = ex.sha256
        ex.name = p.name
        _add_file(corpus, str(p), sha, ex)
    return corpus


def _add_file(corpus: Corpus, path: str, sha: str, ex) -> None:
    """Parse one document's extracted text into `corpus` (pilots file or plain document)."""
    if ex.meta.get("encoding") == "gb18030":
        corpus.warnings.append(f"{path}: not UTF-8; decoded as GB18030")
    corpus.warnings.extend(f"{path}: {w}" for w in ex.meta.get("warnings", []))
    lines = ex.lines
    corpus.keep_text(path, lines, ex.pages)
    heads = [i for i, ln in enumerate(lines, 1)
             if (m := PILOT_HEADING.match(ln)) and PROVINCE.match(m.group(1).replace(" ", ""))]
    if heads:
        pilots, toc, joins = parse_pilots_file(path, lines, heads, corpus.warnings)
        corpus.n_page_joins += len(joins)
        kind = "pilots"
        if not corpus.toc and toc:
            corpus.toc = toc
    else:
        pilots = parse_plain_file(path, lines, corpus.warnings, title=ex.title, headings=ex.headings)
        kind = "plain"
    known = {q.name: q.source for q in corpus.pilots}
    for q in pilots:
        if q.name in known:
            corpus.warnings.append(f"duplicate pilot/document name {q.name!r} in {path} (also in {known[q.name]});"
                                   " both kept, lookups by name return the first")
    corpus.pilots.extend(pilots)
    corpus.sources.append(SourceFile(path=path, sha256=sha, n_lines=len(lines), kind=kind, doc_type=ex.kind,
                                     n_pages=ex.n_pages))


def paragraph_line_spans(par: Paragraph, lines: list[str]) -> list[tuple[int, int, int]]:
    """[(line_no, start, end)]: which character range of `par.text` comes from which file line."""
    if par.start_line == par.end_line:
        return [(par.start_line, 0, len(par.text))]
    out = []
    pos = 0
    for ln in range(par.start_line, par.end_line + 1):
        s = lines[ln - 1].strip()
        if not s:
            continue
        k = par.text.find(s, pos)
        if k < 0:  # should not happen; fall back to the whole paragraph on every line
            return [(x, 0, len(par.text)) for x in range(par.start_line, par.end_line + 1) if lines[x - 1].strip()]
        out.append((ln, k, k + len(s)))
        pos = k + len(s)
    return out
