"""The `openai` backend: any OpenAI-compatible server through the official `openai` AsyncOpenAI client.

llama.cpp's server, llama-cpp-python's `llama_cpp.server`, vLLM, LM Studio, LocalAI, OpenRouter and
OpenAI itself all speak `POST /v1/chat/completions` with `stream: true` (server-sent events) and
`GET /v1/models`. Failures are translated once, in `openai_errors`; token counts come from the
server's tokenizer when it has one (`openai_tokens`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, cast

import openai
from openai.types.chat import ChatCompletionChunk, ChatCompletionMessageParam

from nono.core.errors import ConfigError, ModelUnavailable
from nono.core.llm.base import ChatMessage, GenerationOptions, ModelInfo
from nono.core.llm.openai_errors import (
    BROKEN,
    NO_CONTENT,
    Redactor,
    Translator,
    is_unknown_model,
    safe_url,
)
from nono.core.llm.openai_tokens import TokenCounts
from nono.core.llm.stream_queue import StreamQueue

log = logging.getLogger(__name__)

#: Sent as the bearer token when OPENAI_API_KEY is unset: local servers want none, the client wants one.
NO_KEY = "not-needed"
#: How long the "unknown model" message may wait for the server's model list.
LISTING_WAIT = 5.0


class OpenAILLM:
    """Streams chat replies from an OpenAI-compatible server."""

    name = "openai"

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        model: str,
        headers: Mapping[str, str] | None = None,
        timeout: float = 60,
        max_queue: int = 32,
        client: openai.AsyncOpenAI | None = None,
    ) -> None:
        if timeout <= 0 or max_queue < 1:
            raise ConfigError(f"OpenAILLM needs timeout > 0 and max_queue >= 1 (got {timeout}, {max_queue})")
        #: OPENAI_BASE_URL without any user:password@ in it: safe to show (logs, /ready).
        self.base_url = safe_url(base_url)
        self._model = model
        self.timeout = timeout
        self.max_queue = max_queue
        self._queue = StreamQueue(self.name, max_queue)
        headers = dict(headers or {})
        self._owns_client = client is None
        self._client = client if client is not None else _client(base_url, api_key, headers, timeout)
        self._errors = Translator(base_url, Redactor([api_key or "", *headers.values()]), timeout)
        self._counts = TokenCounts(self._client, base_url, model, timeout)

    @property
    def model(self) -> str:
        """The model a persona without `model:` is answered by (OPENAI_MODEL, or MODEL_NAME)."""
        return self._model

    def count_tokens(self, text: str) -> int:
        """Exact once the server's tokenizer counted `text` (see `learn_counts`), else the conservative estimate."""
        return self._counts.count(text)

    async def learn_counts(self) -> bool:
        """Ask the server's tokenizer (llama.cpp servers have one) for what was only estimated."""
        return await self._counts.learn()

    def stream(self, messages: Sequence[ChatMessage], options: GenerationOptions) -> AsyncIterator[str]:
        """Yield the reply as text chunks; raise ModelUnavailable (or Busy) on any failure."""
        return self._queue.run(self._chat(messages, options))

    @property
    def queue_depth(self) -> int:
        """Streams in progress (for metrics); more than LLM_MAX_QUEUE at once are refused with Busy."""
        return self._queue.depth

    async def _chat(self, messages: Sequence[ChatMessage], options: GenerationOptions) -> AsyncGenerator[str]:
        model = options.model or self._model
        chunks = await self._open(messages, options, model)
        try:
            wrote = False
            while True:
                chunk = await self._next(chunks, model)
                if chunk is None:  # a complete reply ends with a finish_reason; a body without one was cut
                    log.warning("llm_stream_truncated", extra={**self._errors.where(model), "wrote": wrote})
                    raise ModelUnavailable(BROKEN)
                choices = getattr(chunk, "choices", None)
                if not choices:  # a usage-only chunk, or a keep-alive some servers send as `{}`
                    continue
                text, finish = _text(choices[0]), getattr(choices[0], "finish_reason", None)
                if text:
                    wrote = True
                    yield text
                if finish is not None:
                    if not wrote:  # "length": max_tokens spent (on reasoning?); "content_filter": withheld
                        log.warning("llm_no_content", extra={**self._errors.where(model), "finish_reason": finish})
                        raise ModelUnavailable(NO_CONTENT)
                    return  # the reply is complete: what follows ([DONE], usage) tells the user nothing
        finally:
            await chunks.close()

    async def _open(
        self, messages: Sequence[ChatMessage], options: GenerationOptions, model: str
    ) -> openai.AsyncStream[ChatCompletionChunk]:
        """The response stream, once the server accepted the request; a 429 is retried as Retry-After asks."""
        retries = 0
        while True:
            try:
                async with asyncio.timeout(self.timeout):
                    chunks = await self._client.chat.completions.create(
                        model=model, messages=wire_messages(messages), stream=True, **sampling(options)
                    )
                return cast(openai.AsyncStream[ChatCompletionChunk], chunks)  # stream=True: the overload is lost
            except openai.RateLimitError as exc:
                wait = self._errors.rate_limited(exc, model, retries)  # raises Busy when it should not wait
                retries += 1
                await asyncio.sleep(wait)
            except openai.APIStatusError as exc:
                if is_unknown_model(exc, model):
                    raise self._errors.unknown_model(exc, model, await self._model_names()) from exc
                raise self._errors.translate(exc, model, started=False) from exc
            except (openai.OpenAIError, TimeoutError, ValueError) as exc:
                raise self._errors.translate(exc, model, started=False) from exc

    async def _next(self, chunks: openai.AsyncStream[ChatCompletionChunk], model: str) -> ChatCompletionChunk | None:
        """The next event, or None at the end of the body; `timeout` bounds the wait for each one."""
        with self._translated(model, started=True):
            async with asyncio.timeout(self.timeout):
                return await anext(chunks, None)

    async def health(self) -> None:
        """Raise ModelUnavailable unless the server answers its model listing."""
        await self.list_models()

    async def list_models(self) -> list[ModelInfo]:
        """The models the server lists (`GET /v1/models`), with their context window where the server says."""
        with self._translated(self._model, started=False):
            async with asyncio.timeout(self.timeout):
                page = await self._client.models.list()
        return [model_info(entry.model_dump()) for entry in page.data]

    async def aclose(self) -> None:
        """Close the HTTP client if this backend created it."""
        if self._owns_client:
            await self._client.close()

    async def _model_names(self) -> list[str] | None:
        """What the server lists, for an "unknown model" message; None when it cannot say quickly."""
        try:
            async with asyncio.timeout(min(self.timeout, LISTING_WAIT)):
                page = await self._client.models.list()
        except (openai.OpenAIError, TimeoutError, ValueError) as exc:
            log.warning("llm_models_unknown", extra={**self._errors.where(self._model), "error": repr(exc)})
            return None
        return sorted(entry.id for entry in page.data)

    @contextmanager
    def _translated(self, model: str, *, started: bool) -> Iterator[None]:
        try:
            yield
        except (openai.OpenAIError, TimeoutError, ValueError) as exc:
            raise self._errors.translate(exc, model, started=started) from exc


def _client(base_url: str, api_key: str | None, headers: dict[str, str], timeout: float) -> openai.AsyncOpenAI:
    # Our own asyncio timeouts bound each wait (and say "too slow"); the client's read timeout is a
    # backstop behind them, so a client timeout can only be a connect timeout: the server is down.
    limits = openai.Timeout(timeout + 5, connect=min(timeout / 2, 10))
    return openai.AsyncOpenAI(
        base_url=base_url,
        api_key=api_key or NO_KEY,
        default_headers=headers,
        max_retries=0,  # 429s are retried here, within the reply's bounds; nothing else is worth retrying
        timeout=limits,
    )


def wire_messages(messages: Sequence[ChatMessage]) -> list[ChatCompletionMessageParam]:
    """Our messages as the API's message objects (roles system, user, assistant)."""
    return [cast(ChatCompletionMessageParam, {"role": m.role, "content": m.content}) for m in messages]


def sampling(options: GenerationOptions) -> dict[str, Any]:
    """The OpenAI parameters for our sampling settings; unset ones are left to the server."""
    result: dict[str, Any] = {"temperature": options.temperature, "max_tokens": options.max_tokens}
    if options.top_p is not None:
        result["top_p"] = options.top_p
    if options.seed is not None:
        result["seed"] = options.seed
    return result


def model_info(entry: Mapping[str, Any]) -> ModelInfo:
    """One `/v1/models` entry; the context window from vLLM (`max_model_len`), OpenRouter (`context_length`)
    or llama.cpp's server (`meta.n_ctx_train`, the model's trained context), its size from `meta.size`."""
    meta: Mapping[str, Any] = entry["meta"] if isinstance(entry.get("meta"), Mapping) else {}
    context = _positive(entry.get("max_model_len")) or _positive(entry.get("context_length"))
    return ModelInfo(
        str(entry.get("id")),
        size=_positive(meta.get("size")),
        context=context or _positive(meta.get("n_ctx_train")),
    )


def _positive(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _text(choice: Any) -> str:
    """The text of one streamed choice ("" for a role-only or final chunk, or content that is not text)."""
    content = getattr(getattr(choice, "delta", None), "content", None)
    return content if isinstance(content, str) else ""
