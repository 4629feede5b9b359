"""A loopback OpenAI-compatible server: an aiohttp app that speaks the OpenAI wire format, scripted per request.

It answers as the OpenAI API does: `GET /v1/models`, `POST /v1/chat/completions` with `stream: true`
as server-sent events (`data: {chunk}` lines, a final chunk with `finish_reason`, `data: [DONE]`),
errors as `{"error": {"message", "type", "param", "code"}}` with the status OpenAI uses, and a 401 for
a wrong bearer token. Optionally a llama.cpp-style tokenizer (`/tokenize` or `/extras/tokenize`).

It fails loudly: a chat request with no scripted reply, a parameter OpenAI does not know, a message
role it does not accept or a non-streaming request is answered with an error and recorded in
`problems`; `running_openai` raises AssertionError at exit if any remain.

    async with running_openai() as (base_url, server):
        server.enqueue(["Hel", "lo"])                        # a normal reply
        server.enqueue(["Hel"], end="drop")                  # connection dropped mid-reply
        server.refuse(429, headers={"Retry-After": "1"})     # rate limited
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

DEFAULT_MODEL = "gpt-4o-mini"
#: How a scripted reply ends: a final chunk with `finish` as its finish_reason then [DONE]; [DONE]
#: without any finish_reason; the body ending without either; the TCP connection closed mid-body; an
#: `{"error": ...}` event (what vLLM and llama.cpp send when generation fails mid-way); a data line
#: that is not JSON; no further bytes until the client gives up; not even the response's headers.
End = Literal["finish", "no_finish", "eof", "drop", "error", "garbage", "stall", "hang"]
Tokenizer = Literal["llama.cpp", "extras"]
STREAM_ERROR = "llama_decode returned -1"
# Parameters of POST /v1/chat/completions (OpenAI's API reference); anything else is refused.
KNOWN_PARAMS = {
    "model", "messages", "stream", "stream_options", "temperature", "top_p", "max_tokens",
    "max_completion_tokens", "seed", "stop", "n", "presence_penalty", "frequency_penalty", "logit_bias",
    "logprobs", "top_logprobs", "user", "response_format", "tools", "tool_choice", "parallel_tool_calls",
}  # fmt: skip
ROLES = {"system", "developer", "user", "assistant", "tool"}


class _Refused(Exception):
    """Answer with OpenAI's error body and this status."""

    def __init__(self, status: int, message: str, *, type: str = "invalid_request_error", code: str | None = None,
                 param: str | None = None, headers: Mapping[str, str] | None = None) -> None:  # fmt: skip
        super().__init__(message)
        self.status, self.message, self.type, self.code, self.param = status, message, type, code, param
        self.headers = dict(headers or {})


@dataclass
class Reply:
    """One scripted streamed reply: one chunk per token, `delay` seconds before each."""

    chunks: Sequence[str]
    delay: float = 0.0
    end: End = "finish"
    finish: str = "stop"
    error: str = STREAM_ERROR


@dataclass(frozen=True)
class Recorded:
    """A request as received: headers (names lower-cased), JSON body parsed, anything else as text."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class FakeOpenAI:
    """The server's state: listed models, scripted replies, recorded requests."""

    models: list[str] = field(default_factory=lambda: [DEFAULT_MODEL])
    #: When set, every request must carry `Authorization: Bearer <api_key>` (else 401, as OpenAI answers).
    api_key: str | None = None
    tokenizer: Tokenizer | None = None
    #: Extra fields of a model's `/v1/models` entry (vLLM's max_model_len, llama.cpp's meta).
    model_fields: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: A status the tokenizer answers with instead of counting (a server having trouble).
    tokenizer_status: int | None = None
    requests: list[Recorded] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    url: str = ""

    def __post_init__(self) -> None:
        self._scripts: deque[Reply | _Refused] = deque()
        self._closing = asyncio.Event()

    def enqueue(self, chunks: Sequence[str] = ("Hello", " there", "!"), *, delay: float = 0.0, end: End = "finish",
                finish: str = "stop", error: str = STREAM_ERROR) -> None:  # fmt: skip
        """Script the streamed reply to the next chat request."""
        self._scripts.append(Reply(list(chunks), delay, end, finish, error))

    def refuse(self, status: int, message: str = "refused", *, type: str = "invalid_request_error",
               code: str | None = None, headers: Mapping[str, str] | None = None) -> None:  # fmt: skip
        """Script an error answer (status, OpenAI error body, headers such as Retry-After) to the next chat request."""
        self._scripts.append(_Refused(status, message, type=type, code=code, headers=headers))

    @property
    def pending(self) -> int:
        return len(self._scripts)

    @property
    def chat_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.path == "/v1/chat/completions"]

    def paths(self) -> list[str]:
        return [f"{r.method} {r.path}" for r in self.requests]

    def close(self) -> None:
        """Release stalled replies so the server can shut down."""
        self._closing.set()

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/v1/chat/completions", self._chat)
        if self.tokenizer == "llama.cpp":
            app.router.add_post("/tokenize", self._tokenize)
        elif self.tokenizer == "extras":
            app.router.add_post("/extras/tokenize", self._tokenize)
        return app

    # -- plumbing ------------------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler) -> web.StreamResponse:
        raw = await request.read()
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        headers = {name.lower(): value for name, value in request.headers.items()}
        self.requests.append(Recorded(request.method, request.path, headers, body))
        try:
            self._check_key(headers)
            return await handler(request)
        except _Refused as exc:
            error = {"message": exc.message, "type": exc.type, "param": exc.param, "code": exc.code}
            return web.json_response({"error": error}, status=exc.status, headers=exc.headers)
        except web.HTTPNotFound:  # as FastAPI (llama_cpp.server) answers an unknown path
            return web.json_response({"detail": "Not Found"}, status=404)

    def _check_key(self, headers: dict[str, str]) -> None:
        if self.api_key is None:
            return
        sent = headers.get("authorization", "").removeprefix("Bearer ")
        if sent != self.api_key:  # OpenAI shows the first and last few characters only
            shown = f"{sent[:3]}{'*' * max(len(sent) - 7, 0)}{sent[-4:]}" if len(sent) > 7 else "***"
            message = f"Incorrect API key provided: {shown}. You can find your API key at https://platform.openai.com/account/api-keys."
            raise _Refused(401, message, code="invalid_api_key")

    def _problem(self, message: str, status: int = 400) -> _Refused:
        self.problems.append(message)
        return _Refused(status, f"fake openai: {message}")

    # -- endpoints ---------------------------------------------------------------------------------

    async def _models(self, request: web.Request) -> web.Response:
        data = [
            {
                "id": name,
                "object": "model",
                "created": 1_700_000_000,
                "owned_by": "fake",
                **self.model_fields.get(name, {}),
            }
            for name in self.models
        ]
        return web.json_response({"object": "list", "data": data})

    async def _tokenize(self, request: web.Request) -> web.Response:
        if self.tokenizer_status is not None:
            raise _Refused(self.tokenizer_status, "tokenizer unavailable", type="server_error")
        body = self.requests[-1].body
        field_name = "content" if self.tokenizer == "llama.cpp" else "input"
        if not isinstance(body, dict) or not isinstance(body.get(field_name), str):
            raise self._problem(f"tokenize without a string {field_name!r}: {body!r}", status=422)
        # One token per whitespace-separated word: unlike the estimate, so a test can tell which one counted.
        return web.json_response({"tokens": list(range(len(body[field_name].split())))})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = self.requests[-1].body
        model = self._check_chat(body)
        if not self._scripts:
            raise self._problem(f"no reply scripted for chat request {body!r}", status=500)
        script = self._scripts.popleft()
        if isinstance(script, _Refused):
            raise script
        return await self._stream(request, model, script, body.get("max_tokens"))

    def _check_chat(self, body: Any) -> str:
        if not isinstance(body, dict):
            raise _Refused(400, "We could not parse the JSON body of your request.")
        if unknown := sorted(set(body) - KNOWN_PARAMS):
            raise self._problem(f"Unrecognized request argument supplied: {', '.join(unknown)}")
        if body.get("stream") is not True:
            raise self._problem("Nono always streams; a non-streaming chat request is not scripted")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise _Refused(400, "[] is too short - 'messages'", param="messages")
        for m in messages:
            if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
                raise self._problem(f"message {m!r} is not one OpenAI accepts")
        for name, low, high in (("temperature", 0, 2), ("top_p", 0, 1)):
            value = body.get(name)
            if value is not None and (not isinstance(value, (int, float)) or not low <= value <= high):
                raise _Refused(400, f"Invalid '{name}': {value!r}.", param=name, code="invalid_value")
        for name in ("max_tokens", "seed"):
            value = body.get(name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
                raise _Refused(400, f"Invalid type for '{name}': expected an integer.", param=name)
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise _Refused(400, "you must provide a model parameter", param="model")
        if model not in self.models:
            message = f"The model `{model}` does not exist or you do not have access to it."
            raise _Refused(404, message, code="model_not_found")
        return model

    async def _stream(
        self, request: web.Request, model: str, script: Reply, max_tokens: int | None
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        if script.end == "hang":  # still queued or thinking: the client waits for the status line
            await self._closing.wait()
            return response
        await response.prepare(request)
        chunks, finish = list(script.chunks), script.finish
        if max_tokens is not None and len(chunks) > max_tokens:
            chunks, finish = chunks[:max_tokens], "length"
        stamp, ident = int(time.time()), f"chatcmpl-fake{len(self.requests)}"

        async def send(delta: dict[str, Any], reason: str | None = None) -> None:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": reason}
            event = {"id": ident, "object": "chat.completion.chunk", "created": stamp, "model": model,
                     "system_fingerprint": "fp_fake", "choices": [choice]}  # fmt: skip
            await response.write(b"data: " + json.dumps(event).encode() + b"\n\n")

        await send({"role": "assistant", "content": ""})
        for chunk in chunks:
            await asyncio.sleep(script.delay)
            await send({"content": chunk})
        if script.end == "finish":
            await send({}, finish)
        elif script.end == "error":
            error = {"message": script.error, "type": "server_error", "param": None, "code": None}
            await response.write(b"data: " + json.dumps({"error": error}).encode() + b"\n\n")
        elif script.end == "garbage":
            await response.write(b"data: <html><body>502 Bad Gateway</body></html>\n\n")
        elif script.end == "stall":
            await self._closing.wait()
        elif script.end == "drop":
            request.transport.close()  # mid-body: the client sees an incomplete chunked read
            return response
        if script.end in ("finish", "no_finish"):
            await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response


@asynccontextmanager
async def running_openai(
    models: Iterable[str] = (DEFAULT_MODEL,), **options: Any
) -> AsyncIterator[tuple[str, FakeOpenAI]]:
    """Serve a FakeOpenAI on 127.0.0.1 (a free port); yield its base URL (ending in /v1) and the server."""
    server = FakeOpenAI(list(models), **options)
    # handler_cancellation: a client that gives up (timeout) ends its handler, as a real server notices.
    runner = web.AppRunner(server.app(), handler_cancellation=True, shutdown_timeout=2.0, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        server.url = f"http://{host}:{port}"
        yield f"{server.url}/v1", server
    finally:
        server.close()
        await runner.cleanup()
    if server.problems:
        raise AssertionError("the fake OpenAI server saw unexpected requests:\n" + "\n".join(server.problems))
