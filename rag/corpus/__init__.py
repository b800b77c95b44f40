"""The corpus stage: documents read into `Pilot`s with a section tree and line-exact paragraphs.

`model` (the dataclasses), `structure` (heading levels and the section builder), `pilots` (the pilots file),
`plain` (any other document), `load` (`load_corpus`, `load_indexed`: files and folders to a `Corpus`) and
`ingest/` (.pdf, .docx, .txt, .md to text lines).
"""
from rag.corpus.load import expand_paths, is_document_name, load_corpus, load_indexed, paragraph_line_spans
from rag.corpus.model import Corpus, CorpusError, Paragraph, Pilot, Section, SourceFile
from rag.corpus.pilots import parse_pilot_name

__all__ = [
    "Paragraph", "Section", "Pilot", "SourceFile", "Corpus", "CorpusError",
    "load_corpus", "load_indexed", "expand_paths", "is_document_name", "paragraph_line_spans", "parse_pilot_name",
]
