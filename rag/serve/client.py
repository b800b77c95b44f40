"""A small HTTP client for a running `pilotqa serve`: what `pilotqa ask|search|cite|chat` use when a server is
set (`--server URL`, `PILOTQA_SERVER`), so a call costs one request instead of loading the index and the model.

It speaks the JSON API of `rag/api.py` (`POST /api/ask|search|cite`), sends `api_token` as a bearer token, and
turns every failure (server down, timeout, refused token, an error reply) into one `ServerError` line. Only the
standard library is used, so a CLI call in server mode imports nothing heavy.
"""
from __future__ import annotations

import ipaddress
import json
import socket
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Sequence

DEFAULT_TIMEOUT = 120.0   # an LLM answer may take a while; the server bounds it with its own llm_timeout


class ServerError(Exception):
    """The server could not be used or refused the request; the message is one line for the user. `status` is
    the HTTP status of an error reply (None when no reply came)."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


def check_url(url: str) -> str:
    """The server's base URL without a trailing slash; a malformed one is a ServerError naming the form."""
    raw = (url or "").strip()
    parts = urllib.parse.urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ServerError(f"服务器地址应形如 http://127.0.0.1:7860，而不是 {raw!r} / "
                          f"the server URL must look like http://127.0.0.1:7860, not {raw!r}")
    try:
        parts.port  # noqa: B018 - raises ValueError on a port out of range or not a number
    except ValueError:
        raise ServerError(f"服务器地址的端口无效：{raw!r} / the server URL has an invalid port: {raw!r}") from None
    return raw.rstrip("/")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Client:
    """`ask`, `search` and `cite` against `url`; each returns the server's JSON reply as a dict."""

    def __init__(self, url: str, token: str = "", timeout: float = DEFAULT_TIMEOUT):
        self.url = check_url(url)
        self.token = token or ""
        self.timeout = float(timeout)
        parts = urllib.parse.urlsplit(self.url)
        local = _is_loopback(parts.hostname or "")
        # The token crosses the network in the clear: worth a warning (said by the CLI).
        self.token_in_clear = bool(self.token) and parts.scheme == "http" and not local
        # A proxy from the environment must not see requests meant for this machine (nor their token).
        handlers = [urllib.request.ProxyHandler({})] if local else []
        self._opener = urllib.request.build_opener(*handlers)

    def ask(self, question: str, *, history: Sequence[str] | None = None, pilot: str | None = None,
            k: int | None = None, answerer: str | None = None, mode: str | None = None,
            doc: str | None = None) -> dict:
        body = {"question": question, "history": list(history or []), "pilot": pilot, "doc": doc, "k": k,
                "answerer": answerer, "mode": mode}
        return self._post("/api/ask", body)

    def search(self, question: str, *, pilot: str | None = None, k: int | None = None,
               mode: str | None = None, doc: str | None = None) -> dict:
        return self._post("/api/search", {"question": question, "pilot": pilot, "doc": doc, "k": k, "mode": mode})

    def cite(self, text: str, *, k: int | None = None) -> dict:
        return self._post("/api/cite", {"text": text, "k": k})

    # ------------------------------------------------------------------ transport

    def _post(self, path: str, body: dict[str, Any]) -> dict:
        data = json.dumps({k: v for k, v in body.items() if v is not None}, ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json; charset=utf-8", "Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        req = urllib.request.Request(self.url + path, data=data, headers=headers, method="POST")
        try:
            with self._opener.open(req, timeout=self.timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            raise ServerError(self._http_error(exc), exc.code) from None
        except (socket.timeout, TimeoutError):
            raise ServerError(f"服务器 {self.url} 在 {self.timeout:g} 秒内没有回答 / "
                              f"the server {self.url} did not answer within {self.timeout:g} s") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ServerError(f"无法连接服务器 {self.url}（{reason}）：请先运行 `pilotqa serve`，或去掉 --server / "
                              f"PILOTQA_SERVER / cannot reach the server {self.url} ({reason})") from None
        try:
            reply = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise ServerError(f"{self.url}{path} 的回复不是 JSON：这是 PilotQA 服务器吗？ / "
                              f"the reply of {self.url}{path} is not JSON: is this a PilotQA server?") from None
        if not isinstance(reply, dict):
            raise ServerError(f"{self.url}{path} 的回复格式不对 / unexpected reply from {self.url}{path}")
        return reply

    def _http_error(self, exc: urllib.error.HTTPError) -> str:
        """One line from an error reply: the API's own message when there is one (`{"error": {"message"}}`)."""
        try:
            payload = json.loads(exc.read().decode("utf-8"))
        except Exception:  # noqa: BLE001 - any unreadable body: the status line is all there is
            payload = None
        err = payload.get("error") if isinstance(payload, dict) else None
        message = err.get("message") if isinstance(err, dict) else (err if isinstance(err, str) else None)
        if exc.code == 401:
            hint = ("服务器拒绝了令牌：请检查 PILOTQA_API_TOKEN" if self.token
                    else "服务器需要令牌：请设置 PILOTQA_API_TOKEN")
            return f"{hint} / the server wants a valid bearer token (PILOTQA_API_TOKEN)"
        if exc.code == 404 and not message:
            return f"{self.url} 没有 PilotQA 接口（HTTP 404）：这是 PilotQA 服务器吗？ / no PilotQA API at {self.url}"
        return str(message) if message else f"服务器返回 HTTP {exc.code} / the server answered HTTP {exc.code}"


# --------------------------------------------------------------------------- the same calls in-process

# The stable batch record (README "Batch output format"): `Answer.to_json(id)`'s keys; a server replies with
# `Answer.to_dict()`, a superset, so a batch answered by a server is cut back to exactly these.
BATCH_KEYS = ("id", "question", "answer", "answerable", "citations", "passages", "timings_ms")
CITATION_KEYS = ("n", "chunk_id", "pilot", "section", "start_line", "end_line", "quote")


def batch_record(answer: dict, id: str) -> dict:
    """An `ask --json` object cut to the stable batch record."""
    rec = {k: answer.get(k) for k in BATCH_KEYS}
    rec["id"] = id
    rec["citations"] = [{k: c.get(k) for k in CITATION_KEYS} for c in answer.get("citations") or []]
    return rec


class Remote(Client):
    """A server, behind the calls the CLI makes (`Local` is the same on an in-process PilotQA)."""

    def record(self, question: str, id: str, **kw) -> dict:
        return batch_record(self.ask(question, **kw), id)

    def resolve_pilot(self, name: str) -> str:
        return name  # the server checks it with the next question (and names the closest pilots)


class Local:
    """An in-process `PilotQA` with `Remote`'s calls, each returning what the server would send."""

    def __init__(self, qa):
        self.qa = qa

    def ask(self, question: str, *, history: Sequence[str] | None = None, pilot: str | None = None,
            k: int | None = None, answerer: str | None = None, mode: str | None = None,
            doc: str | None = None) -> dict:
        return self._answer(question, history, pilot, k, answerer, mode, doc).to_dict()

    def record(self, question: str, id: str, *, history: Sequence[str] | None = None, pilot: str | None = None,
               k: int | None = None, answerer: str | None = None, mode: str | None = None,
               doc: str | None = None) -> dict:
        return self._answer(question, history, pilot, k, answerer, mode, doc).to_json(id=id)

    def resolve_pilot(self, name: str) -> str:
        return self.qa.resolve_pilot(name) or name

    def _answer(self, question, history, pilot, k, answerer, mode, doc=None):
        return self.qa.ask(question, k=k, mode=mode, pilot=pilot, answerer=answerer or "extractive",
                           history=list(history) if history else None, doc=doc)

    def search(self, question: str, *, pilot: str | None = None, k: int | None = None,
               mode: str | None = None, doc: str | None = None) -> dict:
        from rag.retrieval.forms import search_dict  # numpy-free, but only a local search needs it

        return search_dict(self.qa.search(question, k=k, mode=mode, pilot=pilot, doc=doc))

    def cite(self, text: str, *, k: int | None = None) -> dict:
        return self.qa.cite(text, **({"k": k} if k else {})).to_dict()
