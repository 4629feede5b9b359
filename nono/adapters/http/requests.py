"""The app's state keys, and reading requests: JSON bodies and query strings into models, ids in paths."""

from __future__ import annotations

import asyncio
import json
import re
import weakref
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from nono.adapters.http.errors import ClientClosed, HttpProblem, invalid_request
from nono.adapters.http.metrics import SidecarMetrics
from nono.adapters.http.models import MAX_CHARS
from nono.adapters.http.options import HttpOptions
from nono.adapters.parts import Feed, Part
from nono.core.chat import ChatService
from nono.core.users import validate_person_id, validate_user_id

CHAT = web.AppKey("chat", ChatService)
OPTIONS = web.AppKey("options", HttpOptions)
#: The other running adapters, asked by /ready.
PARTS: web.AppKey[tuple[Part, ...]] = web.AppKey("parts")
TELEGRAM_FEED: web.AppKey[Feed | None] = web.AppKey("telegram_feed")
METRICS = web.AppKey("metrics", SidecarMetrics)
OPENAPI = web.AppKey("openapi", dict)
#: Names of the routes that skip the admin token (health, readiness, Telegram's webhook, maybe metrics).
PUBLIC_ROUTES = web.AppKey("public_routes", frozenset)
#: Open WebSockets, closed with "going away" when the app shuts down.
SOCKETS: web.AppKey[weakref.WeakSet[web.WebSocketResponse]] = web.AppKey("sockets")

ModelT = TypeVar("ModelT", bound=BaseModel)
_DIGITS = re.compile(r"[0-9]{1,20}")


def chat_of(request: web.Request) -> ChatService:
    return request.app[CHAT]


def path_conversation_id(request: web.Request) -> str:
    """The `{conversation_id}` path segment (`{user_id}` on the old routes), validated like any stored id (→ 422)."""
    info = request.match_info
    return validate_user_id(info["conversation_id"] if "conversation_id" in info else info["user_id"])


def path_person(request: web.Request, name: str) -> str:
    """A person id path segment (`{person_id}`, `{other_id}`), validated (InvalidUserId → 422)."""
    return validate_person_id(request.match_info[name])


def validation_context(request: web.Request) -> dict[str, Any]:
    return {MAX_CHARS: chat_of(request).limits.max_message_chars}


async def read_json(request: web.Request) -> Any:
    """The body as JSON: 415 unless declared JSON, 413 over 64 KiB, 408 when too slow, 400 when malformed.

    ClientClosed when the client hangs up before the whole body has arrived.
    """
    if request.content_type != "application/json":
        raise HttpProblem(415, "unsupported_media_type", "Send the body as JSON with Content-Type: application/json.")
    seconds = request.app[OPTIONS].read_timeout
    try:
        async with asyncio.timeout(seconds):  # a trickling body would otherwise hold its handler forever
            raw = await request.read()  # aiohttp raises 413 past client_max_size
    except ConnectionError:  # aiohttp fails the body with ConnectionResetError when the connection is lost
        raise ClientClosed from None
    except TimeoutError:
        detail = f"The request body did not arrive within {seconds:g} seconds."
        raise HttpProblem(408, "request_timeout", detail, close=True) from None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise HttpProblem(400, "malformed_json", "The body is not valid JSON.") from None


async def read_body(request: web.Request, model: type[ModelT]) -> ModelT:
    """The JSON body validated by `model` (unknown or mistyped fields → 422 naming them)."""
    data = await read_json(request)
    try:
        return model.model_validate(data, context=validation_context(request))
    except ValidationError as exc:
        raise invalid_request(exc, "body") from None


def read_query(request: web.Request, model: type[ModelT]) -> ModelT:
    """Query parameters validated by `model`: whole numbers only where numbers belong, each name once."""
    data: dict[str, Any] = {}
    for name in request.query:
        values = request.query.getall(name)
        if len(values) > 1:
            problem = [{"field": name, "message": "given more than once"}]
            raise HttpProblem(422, "invalid_request", f"Invalid query: {name}: given more than once", errors=problem)
        value = values[0]
        data[name] = int(value) if _DIGITS.fullmatch(value) else value
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise invalid_request(exc, "query") from None


def parse_frame(text: str, model: type[ModelT], context: dict[str, Any]) -> ModelT:
    """A WebSocket text frame as `model`; HttpProblem (rendered as an error frame) when it is not."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise HttpProblem(400, "bad_frame", 'Send JSON text frames like {"message": "Hello"}.') from None
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        raise invalid_request(exc, "frame") from None
