"""A loopback Ollama: an aiohttp app that speaks Ollama's HTTP API, scripted per request.

It answers like Ollama does (NDJSON `/api/chat` streams, `/api/tags`, `/api/show`, a plain
"404 page not found" for unknown paths, 400 `{"error": ...}` for malformed bodies, 404 for
unknown models) so a client that works here sends what the real server accepts.

It fails loudly: a chat request with no scripted reply, an option name Ollama does not
know or a message role outside system/user/assistant/tool is answered with an error and
recorded in `problems`; `running_ollama` raises AssertionError at exit if any remain.

    async with running_ollama() as (url, ollama):
        ollama.enqueue(["Hel", "lo"], delay=0.01)           # a normal reply
        ollama.enqueue(["Hel"], end="drop")                  # connection dropped mid-reply
        ollama.enqueue([], end="stall")                      # no first token, ever
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from collections import deque
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from aiohttp import web

DEFAULT_MODEL = "llama3.2:1b"
#: How a scripted reply ends: a normal final line; a clean end of body without that final
#: line (a proxy cut it short); the TCP connection closed mid-body; bytes
#: that are not NDJSON; an `{"error": ...}` line (as Ollama sends when a runner dies); no
#: further bytes until the client gives up; the chunks repeated without end; Ollama's 503 when
#: its own queue (OLLAMA_MAX_QUEUE) is full, before anything is generated.
End = Literal["done", "eof", "drop", "garbage", "error", "stall", "forever", "busy"]
GARBAGE = b"\x00\xff\xfe<html><body>502 Bad Gateway</body></html>\n"
RUNNER_ERROR = "an error was encountered while running the model: unexpected EOF"
SERVER_BUSY = "server busy, please try again.  maximum pending requests exceeded"

# Option names Ollama's api.Options accepts, with the JSON type each must have.
KNOWN_OPTIONS: dict[str, str] = {
    **dict.fromkeys(
        (
            "num_ctx",
            "num_predict",
            "top_k",
            "seed",
            "num_keep",
            "repeat_last_n",
            "num_batch",
            "num_gpu",
            "main_gpu",
            "num_thread",
        ),
        "integer",
    ),
    **dict.fromkeys(
        ("temperature", "top_p", "min_p", "typical_p", "repeat_penalty", "presence_penalty", "frequency_penalty"),
        "float",
    ),
    **dict.fromkeys(("use_mmap", "numa", "penalize_newline"), "bool"),
    "stop": "array",
}
_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "integer": (int, float),
    "float": (int, float),
    "bool": (bool,),
    "array": (list,),
}
ROLES = {"system", "user", "assistant", "tool"}
# Go's time.ParseDuration grammar, which Ollama applies to a string keep_alive.
_DURATION = re.compile(r"[-+]?(0|((\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h))+)")


class _Refused(Exception):
    """Answer the request with `{"error": message}` and this status, as Ollama does."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


@dataclass
class ChatScript:
    """One scripted /api/chat reply: one chunk per token, `delay` seconds before each."""

    chunks: Sequence[str]
    delay: float = 0.0
    end: End = "done"
    error: str = RUNNER_ERROR


@dataclass(frozen=True)
class Recorded:
    """A request as received: JSON bodies parsed, anything else kept as text."""

    method: str
    path: str
    body: Any


class FakeOllama:
    """The server's state: installed models, scripted replies, recorded requests."""

    def __init__(self, models: Iterable[str] = (DEFAULT_MODEL,)) -> None:
        self.models = [_canonical(m) for m in models]
        self.requests: list[Recorded] = []
        self.problems: list[str] = []
        self.url = ""
        self._scripts: deque[ChatScript] = deque()
        self._echo: float | None = None
        self._closing = asyncio.Event()

    def enqueue(
        self,
        chunks: Sequence[str] = ("Hello", " there", "!"),
        *,
        delay: float = 0.0,
        end: End = "done",
        error: str = RUNNER_ERROR,
    ) -> None:
        """Script the reply to the next /api/chat request."""
        self._scripts.append(ChatScript(list(chunks), delay, end, error))

    def echo(self, delay: float = 0.0) -> None:
        """From now on, answer every unscripted request with `re: <its last message>`, after `delay` s.

        For many processes sharing one model, where who asks first is the point of the test.
        """
        self._echo = delay

    @property
    def pending(self) -> int:
        return len(self._scripts)

    @property
    def chat_requests(self) -> list[dict[str, Any]]:
        """Bodies of every POST /api/chat, in arrival order."""
        return [r.body for r in self.requests if r.path == "/api/chat" and r.method == "POST"]

    def close(self) -> None:
        """Release stalled and endless replies so the server can shut down."""
        self._closing.set()

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        app.router.add_get("/", self._root)
        app.router.add_post("/api/chat", self._chat)
        app.router.add_get("/api/tags", self._tags)
        app.router.add_post("/api/show", self._show)
        return app

    # -- plumbing -------------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler) -> web.StreamResponse:
        raw = await request.read()
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        self.requests.append(Recorded(request.method, request.path, body))
        try:
            return await handler(request)
        except _Refused as exc:
            return web.json_response({"error": exc.message}, status=exc.status)
        except web.HTTPMethodNotAllowed:  # gin with HandleMethodNotAllowed, as Ollama runs it
            return web.Response(status=405, text="405 method not allowed")
        except web.HTTPNotFound:
            return web.Response(status=404, text="404 page not found")

    def _problem(self, message: str) -> _Refused:
        self.problems.append(message)
        return _Refused(400, f"fake ollama: {message}")

    async def _body(self, request: web.Request) -> dict[str, Any]:
        raw = await request.read()
        if not raw.strip():
            raise _Refused(400, "missing request body")
        try:
            body = json.loads(raw)
        except ValueError as exc:
            raise _Refused(400, f"invalid character in request body: {exc}") from None
        if not isinstance(body, dict):
            raise _Refused(400, "json: cannot unmarshal into Go value of type api.Request")
        return body

    def _model(self, body: dict[str, Any], *, chat: bool) -> str:
        name = body.get("model") or ("" if chat else body.get("name"))
        if not isinstance(name, str) or not name:
            raise _Refused(400, "model is required")
        if _canonical(name) not in self.models:
            message = f'model "{name}" not found, try pulling it first' if chat else f"model '{name}' not found"
            raise _Refused(404, message)
        return name

    # -- endpoints ----------------------------------------------------------------------------

    async def _root(self, request: web.Request) -> web.Response:
        return web.Response(text="Ollama is running")

    async def _tags(self, request: web.Request) -> web.Response:
        return web.json_response({"models": [_listing(m) for m in self.models]})

    async def _show(self, request: web.Request) -> web.Response:
        name = self._model(await self._body(request), chat=False)
        return web.json_response(
            {
                "modelfile": f"FROM {name}\n",
                "parameters": "",
                "template": "{{ .Prompt }}",
                "details": _details(),
                "model_info": {"general.architecture": "llama"},
                "capabilities": ["completion"],
                "modified_at": _now(),
            }
        )

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await self._body(request)
        self._check_chat(body)
        model = self._model(body, chat=True)
        if not body.get("messages"):  # Ollama only loads the model and says so
            return web.json_response(_line(model, "", done=True, reason="load"))
        if not self._scripts and self._echo is not None:
            last = str(body["messages"][-1].get("content", ""))
            self._scripts.append(ChatScript([f"re: {last}"], self._echo, "done", RUNNER_ERROR))
        if not self._scripts:
            self.problems.append(f"no reply scripted for chat request {body!r}")
            raise _Refused(500, "fake ollama: no reply scripted for this request")
        script = self._scripts.popleft()
        if script.end == "busy":
            raise _Refused(503, SERVER_BUSY)
        num_predict = int((body.get("options") or {}).get("num_predict") or 0)
        if body.get("stream", True):
            return await self._stream(request, model, script, num_predict)
        return await self._whole(request, model, script, num_predict)

    def _check_chat(self, body: dict[str, Any]) -> None:
        messages = body.get("messages", [])
        if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
            raise _Refused(400, _unmarshal("ChatRequest.messages", "[]api.Message"))
        for m in messages:
            if not isinstance(m.get("role"), str) or not isinstance(m.get("content", ""), str):
                raise _Refused(400, _unmarshal("Message.messages.content", "string"))
            if m["role"] not in ROLES:
                raise self._problem(f"message role {m['role']!r} is not one Ollama's templates render")
        if not isinstance(body.get("stream", True), bool):
            raise _Refused(400, _unmarshal("ChatRequest.stream", "bool"))
        keep_alive = body.get("keep_alive")
        if isinstance(keep_alive, str) and not _DURATION.fullmatch(keep_alive):
            raise _Refused(400, f'time: invalid duration "{keep_alive}"')
        options = body.get("options") or {}
        if not isinstance(options, dict):
            raise _Refused(400, _unmarshal("ChatRequest.options", "map[string]interface {}"))
        for key, value in options.items():
            if key not in KNOWN_OPTIONS:
                raise self._problem(f"unknown option {key!r} (Ollama would ignore it silently)")
            kind = KNOWN_OPTIONS[key]
            if not isinstance(value, _JSON_TYPES[kind]) or (isinstance(value, bool) and kind != "bool"):
                raise _Refused(400, f'option "{key}" must be of type {kind}')

    # -- replies ------------------------------------------------------------------------------

    def _tokens(self, script: ChatScript, num_predict: int) -> Iterable[str]:
        if script.end == "forever":  # a misbehaving server: ignores num_predict
            return itertools.cycle(script.chunks or ["."])
        return script.chunks[:num_predict] if num_predict > 0 else script.chunks

    async def _stream(self, request, model: str, script: ChatScript, num_predict: int) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        count = 0
        for chunk in self._tokens(script, num_predict):
            await asyncio.sleep(script.delay)  # sleep(0) still lets the loop breathe during an endless stream
            if self._closing.is_set():
                return response
            await _send(request, response, _encode(_line(model, chunk)))
            count += 1
        if script.end == "done":
            final = _line(model, "", done=True, reason=_reason(script, num_predict), count=count)
            await _send(request, response, _encode(final))
        elif script.end == "error":
            if not response.prepared:  # before any content Ollama answers with a plain JSON error
                raise _Refused(500, script.error)
            await _send(request, response, _encode({"error": script.error}))
        elif script.end == "garbage":
            await _send(request, response, GARBAGE)
        elif script.end == "stall":
            await self._closing.wait()
        elif script.end == "drop":
            await _send(request, response, b"")
            request.transport.close()  # mid-body: the client sees an incomplete chunked read
            return response
        await response.write_eof()
        return response

    async def _whole(self, request, model: str, script: ChatScript, num_predict: int) -> web.StreamResponse:
        if script.end in ("stall", "forever"):
            await self._closing.wait()
        if script.end == "error":
            raise _Refused(500, script.error)
        if script.end == "drop":
            request.transport.close()
            return web.Response()
        if script.end == "garbage":
            return web.Response(body=GARBAGE, content_type="application/json")
        tokens = list(self._tokens(script, num_predict))
        return web.json_response(
            _line(model, "".join(tokens), done=True, reason=_reason(script, num_predict), count=len(tokens))
        )


@asynccontextmanager
async def running_ollama(models: Iterable[str] = (DEFAULT_MODEL,)) -> AsyncIterator[tuple[str, FakeOllama]]:
    """Serve a FakeOllama on 127.0.0.1 (a free port); yield its base URL and the server."""
    server = FakeOllama(models)
    # handler_cancellation: a client that gives up (timeout) ends its handler, as in Go.
    runner = web.AppRunner(server.app(), handler_cancellation=True, shutdown_timeout=2.0, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        server.url = f"http://{host}:{port}"
        yield server.url, server
    finally:
        server.close()
        await runner.cleanup()
    if server.problems:
        raise AssertionError("the fake Ollama saw unexpected requests:\n" + "\n".join(server.problems))


def _canonical(name: str) -> str:
    """Ollama's name matching: case-insensitive, `:latest` when no tag is given."""
    name = name.lower()
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _details() -> dict[str, Any]:
    return {
        "parent_model": "",
        "format": "gguf",
        "family": "llama",
        "families": ["llama"],
        "parameter_size": "1.2B",
        "quantization_level": "Q4_K_M",
    }


def _listing(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "model": name,
        "modified_at": _now(),
        "size": 807_694_464,
        "digest": "baf6a787fdffd633537aa2eb51cfd54cb93ff08e28040095462bb63daf552878",
        "details": _details(),
    }


def _line(model: str, content: str, *, done: bool = False, reason: str = "stop", count: int = 0) -> dict[str, Any]:
    line: dict[str, Any] = {
        "model": model,
        "created_at": _now(),
        "message": {"role": "assistant", "content": content},
        "done": done,
    }
    if done:
        line.update(
            done_reason=reason,
            total_duration=1_000_000 * (count + 1),
            load_duration=100_000,
            prompt_eval_count=10,
            prompt_eval_duration=200_000,
            eval_count=count,
            eval_duration=1_000_000 * count,
        )
    return line


def _unmarshal(field: str, go_type: str) -> str:
    """The wording of Go's encoding/json when a field has the wrong JSON type."""
    return f"json: cannot unmarshal into Go struct field {field} of type {go_type}"


def _reason(script: ChatScript, num_predict: int) -> str:
    return "length" if 0 < num_predict < len(script.chunks) else "stop"


async def _send(request: web.Request, response: web.StreamResponse, data: bytes) -> None:
    # Like Go's net/http, nothing (not even the status line) goes out before the first write.
    if not response.prepared:
        await response.prepare(request)
    if data:
        await response.write(data)


def _encode(line: dict[str, Any]) -> bytes:
    return json.dumps(line, ensure_ascii=False).encode("utf-8") + b"\n"
