"""A mock OpenAI-compatible LLM endpoint that accepts every connection, reads the request and never answers.

`pilotqa bench` configures the server's `llm` answerer against it (issue 21: "8 LLM requests hang"), so the
LLM requests sit in the server's LLM pool while the extractive load runs beside them. `release()` lets every
held request go: the connection is closed without a reply, which the server's LLM client sees as a failed call
(the extractive fallback). Standard library only; it runs in the bench's own process, on loopback.

    with HangingLLM() as llm:
        llm.base_url      # http://127.0.0.1:PORT/v1, for PILOTQA_LLM_BASE_URL
        llm.requests      # requests received so far
        llm.hanging       # requests held right now
"""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # quiet
        pass

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        server: _Server = self.server  # type: ignore[assignment]
        try:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
        except (OSError, ValueError):
            pass
        with server.lock:
            server.requests += 1
            server.hanging += 1
            server.paths.append(self.path)
        try:
            server.released.wait()  # never answers until the bench lets go
        finally:
            with server.lock:
                server.hanging -= 1
        self.close_connection = True  # closed without a reply: the client's call fails

    do_GET = do_POST  # GET /v1/models and the like hang just the same


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.released = threading.Event()
        self.requests = 0
        self.hanging = 0
        self.paths: list[str] = []


class HangingLLM:
    """The mock on a free loopback port, served from a daemon thread until `close()`."""

    def __init__(self):
        self._server = _Server()
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
                                        daemon=True)
        self._thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    @property
    def requests(self) -> int:
        return self._server.requests

    @property
    def hanging(self) -> int:
        return self._server.hanging

    def release(self) -> None:
        """Let every held request (and any later one) end at once, without a reply."""
        self._server.released.set()

    def close(self) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "HangingLLM":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
