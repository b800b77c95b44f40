"""`pilotqa serve`: one process, one port: the JSON API (`rag/api.py`), the OpenAI-compatible endpoint
(`rag/openai_api.py`) and the Gradio web app (`ui.app.build_app`), on uvicorn.

Start-up order: refuse an unsafe binding (beyond loopback without `PILOTQA_API_TOKEN`) before anything slow;
build a missing or stale index; load the index and the model once; warm the query path; serve.

Security, applied to every request by `Guard` before any route runs:
- `/api/*` and `/v1/*` need `Authorization: Bearer <PILOTQA_API_TOKEN>` whenever a token is set (and one must
  be set to bind beyond 127.0.0.1); the comparison is constant-time. The web app then asks for the same token
  at Gradio's login, so its endpoints (ask, search, eval) need it too, on any host;
- request bodies over 64 KB are refused with 413, by Content-Length and by counting a streamed body (the web
  app's document upload route gets the configured upload size instead);
- a web-app call that names a file not in Gradio's upload folder (a server path sent as FileData) is refused
  with 403 before Gradio copies that file anywhere.

Replicas are stateless: the process holds only caches (question vectors, the parsed corpus), the conversation
comes with each request (`history`), so N processes behind a reverse proxy answer alike (docs/deploy.md).
"""
from __future__ import annotations

import gc
import hmac
import ipaddress
import json
import logging
import socket
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from rag.config import Config

MAX_BODY = 64 * 1024
PROTECTED = ("/api", "/v1")
UPLOAD_PATHS = ("/gradio_api/upload",)  # the web app's file upload (the 知识库 tab), capped at max_upload_mb
GRADIO_API = "/gradio_api/"              # the web app's calls: files they name must be uploads
EXIT_USER = 2


class ServeError(Exception):
    """A setting that makes serving unsafe or impossible; the message says what to do."""


def is_loopback(host: str) -> bool:
    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # "", "0.0.0.0"-like names, host names: reachable from elsewhere


def local_url(host: str, port: int) -> str:
    """The URL this machine reaches a server bound to `host` at (a wildcard address: through loopback)."""
    host = host if is_loopback(host) else "127.0.0.1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def check_binding(config: Config) -> None:
    """Binding beyond loopback without an API token would open the API to the network: refuse."""
    if not is_loopback(config.host) and not config.api_token:
        raise ServeError(
            f"绑定到 {config.host or '所有地址'} 时必须设置访问令牌（API token）：export PILOTQA_API_TOKEN=<一段随机字符串>"
            f"（例如 python -c 'import secrets; print(secrets.token_urlsafe(32))'），或只绑定 127.0.0.1。")


def check_port(config: Config) -> None:
    """A port already in use is said before the index and the model are loaded, not after."""
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: TIME_WAIT is no conflict
        try:
            s.bind((config.host, config.port))
        except OSError as exc:
            raise ServeError(f"无法监听 {config.host}:{config.port}：端口可能已被占用（{exc.strerror}），"
                             "可用 --port 换一个。") from None


def foreign_files(body: bytes) -> list[str]:
    """The files a web-app call names that did not come through the app's upload route: FileData whose path is
    not in Gradio's upload folder (Gradio would copy any server file it names into its cache before the
    handler ran), or that names no path at all (a URL Gradio would fetch)."""
    try:
        data = json.loads(body or b"null")
    except ValueError:
        return []  # not JSON: Gradio refuses it itself
    from gradio.utils import get_upload_folder  # gradio loads only to serve the web app

    root = Path(get_upload_folder()).resolve()
    found: list[str] = []

    def walk(x) -> None:
        if isinstance(x, dict):
            meta = x.get("meta")
            if isinstance(meta, dict) and meta.get("_type") == "gradio.FileData" or "path" in x and "orig_name" in x:
                where = x.get("path")
                try:
                    real = Path(str(where)).resolve() if where else None
                except (OSError, RuntimeError, ValueError):
                    real = None
                if real is None or not real.is_relative_to(root):
                    found.append(str(where or x.get("url") or ""))
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    walk(data)
    return found


def _protected(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in PROTECTED)


class Guard:
    """Pure ASGI middleware: the bearer token on /api and /v1, and the body size limit on every request."""

    def __init__(self, app, token: str = "", max_body: int = MAX_BODY, upload_max: int | None = None):
        self.app = app
        self.token = token.encode("utf-8")
        self.max_body = max_body
        self.upload_max = upload_max or max_body

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope.get("path", "")
        headers = {k.decode("latin-1").lower(): v for k, v in scope.get("headers", [])}
        if self.token and _protected(path) and not self._authorised(headers.get("authorization", b"")):
            return await _reply(send, 401, "缺少或错误的访问令牌：请在请求头中加入 Authorization: Bearer <令牌>。",
                                "Missing or wrong API token: send Authorization: Bearer <token>.", "invalid_api_key",
                                "authentication_error", [(b"www-authenticate", b"Bearer")])
        limit = self.upload_max if path.startswith(UPLOAD_PATHS) else self.max_body
        length = headers.get("content-length")
        if length is not None:
            try:
                too_big = int(length) > limit
            except ValueError:
                return await _reply(send, 400, "请求头 Content-Length 无效。", "Invalid Content-Length header.",
                                    "bad_content_length")
            if too_big:
                return await _too_big(send, limit)
        if limit > self.max_body:  # an upload: the route streams it to disk itself, and Content-Length bounds it
            return await self.app(scope, receive, send)
        # Read the body here (at most `limit` bytes are ever held), then replay it to the app: a chunked body
        # without Content-Length is cut off as soon as it passes the limit.
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            body = message.get("body", b"")
            size += len(body)
            if size > limit:
                return await _too_big(send, limit)
            chunks.append(body)
            if not message.get("more_body", False):
                break
        if path.startswith(GRADIO_API) and scope.get("method") == "POST":
            foreign = foreign_files(b"".join(chunks))
            if foreign:
                return await _reply(send, 403, f"只能使用通过本页面上传的文件：“{Path(foreign[0]).name}”不是上传的文件，已拒绝。",
                                    "Only files uploaded through this app may be used; a server path was refused.",
                                    "file_not_uploaded")
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()  # after the body: disconnect notices, as the app expects

        return await self.app(scope, replay, send)

    def _authorised(self, value: bytes) -> bool:
        scheme, _, given = value.partition(b" ")
        return scheme.lower() == b"bearer" and hmac.compare_digest(given.strip(), self.token)


async def _reply(send, status: int, zh: str, en: str, code: str, type_: str = "invalid_request_error",
                 extra_headers: list | None = None) -> None:
    from rag.serve.api import error_body  # the API loads only to serve

    raw = json.dumps(error_body(zh, en, code, type_), ensure_ascii=False).encode("utf-8")
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode()),
               (b"connection", b"close")] + (extra_headers or [])
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": raw})


async def _too_big(send, limit: int) -> None:
    kb = limit // 1024
    await _reply(send, 413, f"请求内容太大（上限 {kb} KB）。", f"Request body too large (limit {kb} KB).",
                 "request_too_large")


# --------------------------------------------------------------------------- the app


def create_app(qa, config: Config, *, default_answerer: str | None = None, ui: bool = True):
    """The FastAPI app: API routes first, then the Gradio app mounted at `/` (it gets every other path)."""
    from fastapi import FastAPI  # fastapi loads only to serve

    from rag.serve import api, openai_api  # the API loads only to serve

    app = FastAPI(title="PilotQA API", version="1", docs_url="/docs", redoc_url=None, openapi_url="/openapi.json",
                  description="试点问答 PilotQA：带可核实引用的问答接口 / question answering with verified citations. "
                              "Send `Authorization: Bearer <PILOTQA_API_TOKEN>` when the server has a token.")
    app.state.service = api.Service(qa, config, default_answerer)
    api.install_error_handlers(app)
    app.include_router(api.router)
    app.include_router(openai_api.router)
    app.include_router(api.fallback)
    if ui:
        _mount_ui(app, qa, config, default_answerer)
    upload_max = int(float(getattr(config, "max_upload_mb", 0) or 0) * 1024 * 1024) or None
    app.add_middleware(Guard, token=config.api_token, max_body=MAX_BODY, upload_max=upload_max)
    return app


def _mount_ui(app, qa, config: Config, default_answerer: str | None) -> None:
    import gradio as gr  # gradio loads only to serve the web app

    from ui import app as ui_app  # the web app loads only to serve

    demo = ui_app.build_app(qa, config, default_answerer=default_answerer)  # queued by build_app
    upload = getattr(config, "max_upload_mb", None)
    # With an API token, the web app is an answering entry point like /api: Gradio's own login asks for the token
    # (any user name) and every Gradio route, its /gradio_api/call/* endpoints included, needs that session.
    auth = _token_login(config.api_token) if config.api_token else None
    gr.mount_gradio_app(app, demo, path="/", server_name=config.host, server_port=config.port, show_error=False,
                        max_file_size=int(float(upload) * 1024 * 1024) if upload else None, auth=auth,
                        auth_message="请输入访问令牌（PILOTQA_API_TOKEN）作为密码，用户名可任意填写。" if auth else None,
                        **ui_app.launch_kwargs())


def _token_login(token: str):
    """Gradio's login check: the password must be the API token (compared in constant time)."""
    expected = token.encode("utf-8")

    def check(username: str, password: str) -> bool:
        return isinstance(password, str) and hmac.compare_digest(password.encode("utf-8"), expected)

    return check


def load(config: Config):
    """Build a missing or stale index, load it and the model, batch query embeddings, warm the query path."""
    from rag.index.batching import QueryBatcher, worth_batching  # the query batcher loads only to serve
    from rag.index.store import build_index, staleness  # the index loads only for a command that needs it
    from rag.pipeline import PilotQA  # the pipeline (index, model) loads only for a command that answers

    why = staleness(config)
    if why:
        print(f"需要构建索引（{why}）……", file=sys.stderr)
        report = build_index(config, progress=True)
        print(f"已构建索引 {report.path}：{report.chunks} 个片段", file=sys.stderr)
    if why or verbose(config):
        print("正在加载索引与模型……", file=sys.stderr)
    qa = PilotQA(config, langchain=True)  # the server answers through the LangChain Runnable
    if config.query_batch > 1 and worth_batching(qa.embedder):
        # PilotQA rebuilds its retriever from `qa.embedder` on an index reload, so the wrapper stays in place.
        qa.embedder = QueryBatcher(qa.embedder, max_batch=config.query_batch)
        qa.retriever.embedder = qa.embedder
    qa.search("城镇化试点的主要任务")  # first-call costs (lazy imports, allocator warm-up) before the first user
    qa.retriever.clear_cache()
    # The loaded index, model and dictionaries are millions of long-lived objects: frozen, the garbage collector
    # stops walking them in every full collection while serving, and at exit (seconds on a busy machine). An index
    # replaced by a reload is still freed by reference counting (its arrays are most of its memory).
    gc.freeze()
    return qa


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running(app, host: str = "127.0.0.1", port: int | None = None, timeout: float = 30.0):
    """Serve `app` with uvicorn in a background thread of this process (tests, notebooks); yields its URL."""
    import uvicorn  # uvicorn loads only to serve

    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning",
                                           timeout_graceful_shutdown=2))  # idle keep-alive clients do not hold it up
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the server on {host}:{port} did not start")
        time.sleep(0.05)
    try:
        yield local_url(host, port)
    finally:
        server.should_exit = True
        thread.join(10)


_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO}
_LEVEL_ZH = {"DEBUG": "调试", "INFO": "信息", "WARNING": "警告", "ERROR": "错误", "CRITICAL": "严重错误"}


def verbose(config: Config) -> bool:
    """`serve -v` or PILOTQA_LOG=debug|info: the libraries' own log lines and uvicorn's access log are shown."""
    return str(getattr(config, "log", "") or "").strip().lower() in _LEVELS


class _ChineseLevel(logging.Formatter):
    """Log lines with the level in Chinese (警告, 错误); the logger's name stays, it is what a search finds."""

    def format(self, record: logging.LogRecord) -> str:
        record.level_zh = _LEVEL_ZH.get(record.levelname, record.levelname)
        return super().format(record)


def setup_logging(config: Config) -> None:
    """Quiet by default: one handler on stderr that passes warnings and errors only, so the libraries' INFO
    and DEBUG lines (faiss's loader, bm25s, httpx, gradio) and Python's warnings about libraries stay out
    of the terminal. `serve -v` / PILOTQA_LOG=debug (or info) shows everything from that level up."""
    level = _LEVELS.get(str(getattr(config, "log", "") or "").strip().lower(), logging.WARNING)
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(level)  # loggers that set their own level (bm25s: DEBUG) still pass through this handler
    handler.setFormatter(_ChineseLevel("%(asctime)s %(level_zh)s %(name)s: %(message)s", "%H:%M:%S"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)  # DeprecationWarning and the like: through the handler, at WARNING
    if level == logging.WARNING:
        logging.getLogger("py.warnings").setLevel(logging.ERROR)  # library deprecations are not the user's
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):  # uvicorn's lines through the same handler
        lg = logging.getLogger(name)
        lg.handlers.clear()
        lg.propagate = True


def serve(config: Config, answerer: str | None = None) -> int:
    """Serve until Ctrl-C; an unsafe or impossible setting is one clear line and exit status 2."""
    import uvicorn  # uvicorn loads only to serve

    try:
        check_binding(config)
        check_port(config)
    except ServeError as exc:
        print(f"错误 / error: {exc}", file=sys.stderr)
        return EXIT_USER
    setup_logging(config)
    # Requests run concurrently on a small machine: one torch thread per request avoids the oversubscription
    # that turns a 25 ms query embedding into a 1 s one whenever anything else is running (see the bench).
    if config.torch_threads <= 0:
        config = config.with_overrides(torch_threads=1)
    qa = load(config)
    if answerer == "llm" and not config.llm_configured:
        print("警告：未配置大模型，将使用抽取式回答。", file=sys.stderr)
    app = create_app(qa, config, default_answerer=answerer)
    if not is_loopback(config.host):
        print(f"注意：服务绑定在 {config.host or '所有地址'}，同一网络中的其他机器也能访问；/api 与 /v1 需要访问令牌。",
              file=sys.stderr)
    if verbose(config):
        print("接口文档 /docs，OpenAI 兼容接口 /v1；按 Ctrl+C 停止。", file=sys.stderr)
    print(f"试点问答已启动：{local_url(config.host, config.port)}", flush=True)
    uvicorn.run(app, host=config.host, port=config.port, log_level="info" if verbose(config) else "warning",
                server_header=False, timeout_graceful_shutdown=2, log_config=None)
    return 0
