"""How the CLI reports a failure: one line for the user, never a traceback (`--debug` shows it)."""
from __future__ import annotations

import sys

EXIT_USER = 2


# imported are looked at: an exception cannot come from a module that was never loaded, and importing one
# just to classify an error would slow down every failing call.
USER_ERRORS = (("rag.index.store", "StoreError"), ("rag.corpus", "CorpusError"),
               ("rag.index.embeddings", "EmbeddingError"), ("rag.query.validate", "QuestionError"),
               ("rag.index.documents", "DocumentError"), ("rag.corpus.ingest", "IngestError"),
               ("rag.evaluation", "EvalError"), ("rag.answer", "LLMError"), ("rag.serve.client", "ServerError"),
               ("rag.cli.batch", "BatchError"), ("rag.cli.checks", "UsageError"))



def error_message(exc: BaseException) -> str:
    """One printable line for a failure: the message of a user-facing error, else the type and the text."""
    known = tuple(getattr(sys.modules[m], n) for m, n in USER_ERRORS
                  if m in sys.modules and isinstance(getattr(sys.modules[m], n, None), type))
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, known):
        out = text
    elif isinstance(exc, (FileNotFoundError, PermissionError, IsADirectoryError)) and exc.filename:
        out = f"{exc.strerror}: {exc.filename}"
    else:
        out = f"{type(exc).__name__}: {text} (run with --debug for details)"
    # an undecodable file name (surrogateescape) must not break printing the message itself
    return out.encode("utf-8", "backslashreplace").decode("utf-8")

