"""The JSON HTTP API, served beside the web app by `rag/server.py` (OpenAPI docs at `/docs`).

    POST /api/ask      {"question", "history"?, "pilot"?, "k"?, "answerer"?, "mode"?} -> the `ask --json` object
    POST /api/search   {"question", "pilot"?, "k"?, "mode"?}    -> ranked passages
    POST /api/cite     {"text", "k"?}                            -> verdict and source lines of a quote
    GET  /api/pilots                                             -> pilots by province
    POST /api/eval     {"k"?, "limit"?}                          -> a gold-set run written to eval/runs/<time>/
    GET  /healthz      the process is up;  GET /readyz  the index and the model are loaded

The process keeps no conversation: a follow-up sends its earlier questions as `history`, so any replica can
answer any request. Errors are JSON, `{"error": {"message": "中文 / English", "message_zh", "message_en",
"type", "code", ...}}` (the OpenAI shape, so OpenAI clients show the message), never a traceback.
"""
from __future__ import annotations

import logging
import time
from dataclasses import asdict, is_dataclass
from functools import partial
from pathlib import Path
from typing import Annotated, Any, Callable, Literal

import anyio
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictInt
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("pilotqa.api")

MAX_K = 50
MAX_HISTORY = 20
# Pipeline calls at once. The model and the answerers are CPU-bound: more threads than this only add
# contention, and waiting requests queue here (their query embeddings are batched: rag/batching.py).
WORKERS = 8

# English for the facade's Chinese user messages (QuestionError), by their opening words.
_ENGLISH = (
    ("请输入问题", "Please enter a question."),
    ("问题太长", "The question is too long: keep it within 500 characters."),
    ("问题中没有可检索的文字", "The question has no searchable text (only punctuation or emoji)."),
    ("没有名为", "Unknown pilot."),
    ("未知的回答方式", "Unknown answerer."),
    ("未配置大模型", "No LLM is configured (set PILOTQA_LLM_BASE_URL and PILOTQA_LLM_MODEL)."),
    ("大模型繁忙", "The LLM is busy; try again later."),
)
GENERIC_ZH = "服务器处理请求时出错，请稍后重试；如果一直出现，请联系管理员查看服务器日志。"
GENERIC_EN = "The server failed to handle the request; try again later, or ask the administrator to check the logs."


class ApiError(Exception):
    """An expected failure with its HTTP status and a message in Chinese and English."""

    def __init__(self, status: int, zh: str, en: str, code: str, type_: str = "invalid_request_error",
                 **extra: Any):
        super().__init__(en)
        self.status, self.zh, self.en, self.code, self.type, self.extra = status, zh, en, code, type_, extra


def error_body(zh: str, en: str, code: str, type_: str = "invalid_request_error", **extra: Any) -> dict:
    return {"error": {"message": f"{zh} / {en}", "message_zh": zh, "message_en": en, "type": type_,
                      "code": code, "param": None, **extra}}


def error_response(status: int, zh: str, en: str, code: str, type_: str = "invalid_request_error",
                   headers: dict | None = None, **extra: Any) -> JSONResponse:
    return JSONResponse(error_body(zh, en, code, type_, **extra), status_code=status, headers=headers)


def english_for(zh: str) -> str:
    for prefix, en in _ENGLISH:
        if zh.startswith(prefix):
            return en
    return "The request cannot be answered as given (see the Chinese message)."


def question_error(exc: Exception, qa=None, pilot: str | None = None) -> ApiError:
    """A facade QuestionError as a 400; an unknown pilot carries the closest names as `suggestions`."""
    zh = str(exc)
    if zh.startswith("没有名为") and pilot:
        sugg = getattr(exc, "suggestions", None)
        if sugg is None and qa is not None:
            try:
                from rag.retrieval.hybrid import suggest_pilots  # the retriever loads only with the pipeline

                sugg = suggest_pilots(pilot, qa.index.aliases, getattr(qa.index, "gazetteer", None))
            except Exception:  # noqa: BLE001 - suggestions are a courtesy; the message already names them
                sugg = []
        en = f"Unknown pilot {pilot!r}." + (f" Did you mean: {', '.join(sugg)}?" if sugg else "")
        return ApiError(400, zh, en, "unknown_pilot", suggestions=list(sugg or []))
    return ApiError(400, zh, english_for(zh), "bad_question")


def install_error_handlers(app: FastAPI) -> None:
    """Every failure of a route becomes the JSON error shape; unexpected ones are logged, not shown."""
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError):
        return error_response(exc.status, exc.zh, exc.en, exc.code, exc.type, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        # Name the fields and the problems, without echoing the input back.
        problems = [{"field": ".".join(str(p) for p in e.get("loc", ()) if p != "body"), "problem": e.get("msg", "")}
                    for e in exc.errors()]
        where = "; ".join(f"{p['field'] or 'body'}: {p['problem']}" for p in problems[:5])
        return error_response(422, "请求格式不正确：" + where, "Invalid request: " + where, "invalid_request",
                              problems=problems)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        zh = {404: "没有这个接口。", 405: "该接口不支持这种请求方法。"}.get(exc.status_code, "请求无法处理。")
        return error_response(exc.status_code, zh, str(exc.detail), f"http_{exc.status_code}",
                              headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, GENERIC_ZH, GENERIC_EN, "internal_error", "server_error")


# --------------------------------------------------------------------------- the shared pipeline


class Service:
    """What the routes share: the loaded PilotQA, the settings, and the bound on concurrent pipeline calls."""

    def __init__(self, qa, config, default_answerer: str | None = None, workers: int = WORKERS):
        self.qa = qa
        self.config = config
        llm_ok = bool(config.llm_configured)
        self.default_answerer = default_answerer if (default_answerer and (default_answerer != "llm" or llm_ok)) \
            else "extractive"
        self.workers = workers
        # LLM answers wait in a pool of their own (a hung endpoint fills only that one), so extractive asks,
        # search and cite always find a worker; the LLM pool's size is the LLM's own concurrency
        self.llm_workers = max(1, int(getattr(config, "llm_concurrency", 4)))
        self._limiter: anyio.CapacityLimiter | None = None
        self._llm_limiter: anyio.CapacityLimiter | None = None

    async def run(self, fn: Callable, *args, llm: bool = False, **kwargs):
        """`fn(*args, **kwargs)` in a worker thread (at most `workers` at once, or `llm_workers` for LLM answers);
        facade errors become 400s."""
        from rag.query.validate import QuestionError  # the evaluation loads only for this command

        if self._limiter is None:  # created inside the event loop that uses it
            self._limiter = anyio.CapacityLimiter(self.workers)
            self._llm_limiter = anyio.CapacityLimiter(self.llm_workers)
        limiter = self._llm_limiter if llm else self._limiter
        try:
            return await anyio.to_thread.run_sync(partial(fn, *args, **kwargs), limiter=limiter)
        except QuestionError as exc:
            raise question_error(exc, self.qa, kwargs.get("pilot")) from None

    async def call(self, method: str, *args, **kwargs):
        """`qa.<method>(*args, **kwargs)` in a worker thread, on the newest published index; an LLM answer in the
        LLM's own pool."""
        llm = kwargs.get("answerer") not in (None, "extractive")
        if llm and method in ("ask", "stream_ask"):  # llm_timeout runs from arrival: the wait for a worker counts
            kwargs.setdefault("deadline", time.monotonic() + float(self.config.llm_timeout))
        return await self.run(self._call, method, *args, llm=llm, **kwargs)

    def _call(self, method: str, *args, **kwargs):
        return getattr(self.fresh(), method)(*args, **kwargs)

    def fresh(self):
        """The PilotQA, switched to a newly published index first (a broken one never stops answering).
        Called in worker threads: loading a new build must not hold up the event loop."""
        try:
            self.qa.reload_if_changed()
        except Exception:  # noqa: BLE001
            log.exception("reload_if_changed failed")
        return self.qa


def service(request: Request) -> Service:
    return request.app.state.service


# --------------------------------------------------------------------------- request bodies

Text = Annotated[str, Field(max_length=4000)]


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: str = Field(description="问题 / the question (at most 500 characters)")
    history: list[Text] = Field(default_factory=list, max_length=MAX_HISTORY,
                                description="earlier user questions of the conversation, oldest first")
    pilot: str | None = Field(None, max_length=200, description="only this pilot (name or short form)")
    doc: str | None = Field(None, max_length=255, description="only this document (file name as listed)")
    k: StrictInt | None = Field(None, ge=1, le=MAX_K, description="passages to retrieve")
    answerer: str | None = Field(None, max_length=40, description="extractive (default) or llm")
    mode: Literal["dense", "bm25", "hybrid"] | None = None


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: str
    pilot: str | None = Field(None, max_length=200)
    doc: str | None = Field(None, max_length=255)
    k: StrictInt | None = Field(None, ge=1, le=MAX_K)
    mode: Literal["dense", "bm25", "hybrid"] | None = None


class CiteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(description="a sentence (verbatim or paraphrased) to find in the documents")
    k: StrictInt | None = Field(None, ge=1, le=MAX_K)


class EvalRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    k: StrictInt | None = Field(None, ge=1, le=20)
    limit: StrictInt | None = Field(None, ge=1, description="only the first N gold questions")


# --------------------------------------------------------------------------- serialisation


def answer_dict(ans) -> dict:
    return ans.to_dict() if hasattr(ans, "to_dict") else ans.to_json()


def cite_dict(result) -> Any:
    """`CiteResult.to_dict()`; file paths are shown by name only (no server paths in replies)."""
    if isinstance(result, list):  # an older facade returned the matches alone
        data: Any = {"matches": [asdict(m) for m in result]}
    elif hasattr(result, "to_dict"):
        data = result.to_dict()
    else:
        data = asdict(result) if is_dataclass(result) else result
    for m in data.get("matches", []) if isinstance(data, dict) else []:
        if isinstance(m, dict) and m.get("source"):
            m["source"] = Path(m["source"]).name
    return data


# --------------------------------------------------------------------------- routes

router = APIRouter()


@router.get("/healthz", tags=["ops"], summary="The process is up")
async def healthz() -> dict:
    return {"status": "ok"}


@router.get("/readyz", tags=["ops"], summary="The index and the model are loaded")
async def readyz(request: Request):
    svc: Service | None = getattr(request.app.state, "service", None)
    if svc is not None:  # the index that answers: a newly published one is switched to first
        await svc.run(svc.fresh)
    qa = svc.qa if svc else None
    chunks = len(getattr(getattr(qa, "index", None), "chunks", None) or []) if qa else 0
    if qa is None or getattr(qa, "embedder", None) is None or chunks == 0:
        return error_response(503, "索引或模型尚未加载。", "The index or the model is not loaded yet.", "not_ready",
                              "server_error")
    from rag.index.batching import QueryBatcher  # the query batcher loads only to serve

    emb = qa.embedder
    batched = isinstance(emb, QueryBatcher)
    batching = {"max_batch": emb.max_batch, "model_calls": emb.calls, "batched_questions": emb.batched} \
        if batched else None
    return {"status": "ready", "chunks": chunks, "index": getattr(qa.index, "build_id", None),
            "model": getattr(emb, "model_id", None), "store": getattr(svc.config, "store", "faiss"),
            "query_embedder": type(emb.inner if batched else emb).__name__, "query_batching": batching}


@router.post("/api/ask", tags=["api"], summary="Answer a question with verified citations")
async def api_ask(body: AskRequest, request: Request) -> dict:
    svc = service(request)
    ans = await svc.call("ask", body.question, k=body.k, mode=body.mode, pilot=body.pilot, doc=body.doc,
                         answerer=body.answerer or svc.default_answerer, history=list(body.history))
    return answer_dict(ans)


@router.post("/api/search", tags=["api"], summary="Ranked passages for a question")
async def api_search(body: SearchRequest, request: Request) -> dict:
    from rag.retrieval.forms import search_dict  # the one JSON form of a search, shared with `pilotqa search --json`

    svc = service(request)
    return search_dict(await svc.call("search", body.question, k=body.k, mode=body.mode, pilot=body.pilot,
                                      doc=body.doc))


@router.post("/api/cite", tags=["api"], summary="Is this quote in the documents, and where")
async def api_cite(body: CiteRequest, request: Request):
    svc = service(request)
    kwargs = {"k": body.k} if body.k else {}
    return cite_dict(await svc.call("cite", body.text, **kwargs))


@router.get("/api/pilots", tags=["api"], summary="The pilots, by province")
async def api_pilots(request: Request) -> dict:
    by = await service(request).call("pilots_by_province")  # on the index that answers now
    return {"count": sum(len(v) for v in by.values()),
            "provinces": [{"province": p, "pilots": list(names)} for p, names in by.items()]}


@router.get("/api/facts", tags=["api"], summary="The plans' figures as data, each with its line")
async def api_facts(request: Request, measure: str | None = None, year: int | None = None, pilot: str | None = None,
                    kind: str | None = None) -> dict:
    from rag.retrieval.forms import fact_dict  # the one JSON form of a fact row, shared with `pilotqa facts --json`

    svc = service(request)
    rows = await svc.call("facts", measure=measure, year=year, pilot=pilot, kind=kind)
    return {"count": len(rows), "facts": [fact_dict(f) for f in rows]}


@router.post("/api/eval", tags=["api"], summary="Evaluate on the gold set into eval/runs/<time>/")
async def api_eval(request: Request, body: EvalRequest | None = None) -> dict:
    from rag.evaluation.runs import EvalBusy, run_evaluation  # an evaluation run loads only when one is asked for

    svc = service(request)
    body = body or EvalRequest()
    try:
        return await svc.run(lambda: run_evaluation(svc.fresh(), svc.config, k=body.k, limit=body.limit))
    except EvalBusy as exc:
        zh, en = str(exc).split(" / ", 1)
        raise ApiError(409, zh, en, "eval_busy") from None


API_PATHS = {"/api/ask": "POST", "/api/search": "POST", "/api/cite": "POST", "/api/pilots": "GET",
             "/api/eval": "POST", "/v1/chat/completions": "POST", "/v1/models": "GET"}


# Registered last (after the /v1 routes too): the catch-all must not shadow a real route.
fallback = APIRouter()


@fallback.api_route("/api/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
@fallback.api_route("/v1/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
async def api_unknown(request: Request):
    """Unknown API paths answer in JSON here rather than falling through to the web app's 404 page."""
    path = request.url.path.rstrip("/")
    if path in API_PATHS:
        method = API_PATHS[path]
        return error_response(405, f"该接口只接受 {method} 请求。", f"{path} accepts {method} only.",
                              "method_not_allowed", headers={"Allow": method})
    return error_response(404, "没有这个接口，请查看 /docs。", f"No such endpoint: {path} (see /docs).", "not_found")
