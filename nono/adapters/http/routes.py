"""The sidecar's HTTP handlers and the route table they are served and documented from.

Handlers translate only: read and validate the request, call ChatService, shape the answer.
Errors are raised and rendered by the error middleware.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import os
from typing import Any

import pydantic_core
from aiohttp import web
from pydantic import BaseModel
from pydantic_core import PydanticSerializationError

import nono
from nono.adapters.http.errors import HttpProblem
from nono.adapters.http.health import readiness
from nono.adapters.http.metrics import CONTENT_TYPE
from nono.adapters.http.models import (
    ActiveOut,
    ActiveQuery,
    ChatIn,
    ChatOut,
    ClearOut,
    HealthOut,
    HistoryOut,
    HistoryQuery,
    PersonaIn,
    PersonaOut,
    PersonasOut,
    ReadyOut,
    ReloadOut,
    SessionOut,
    StartSessionIn,
    TelegramUpdateIn,
    WebhookOut,
)  # fmt: skip
from nono.adapters.http.openapi import RouteSpec
from nono.adapters.http.requests import (
    CHAT,
    METRICS,
    OPENAPI,
    OPTIONS,
    PARTS,
    TELEGRAM_FEED,
    chat_of,
    path_user_id,
    read_body,
    read_query,
)  # fmt: skip
from nono.adapters.http.ws import ws_chat
from nono.adapters.parts import Part
from nono.core.errors import PersonaConfigError
from nono.core.models import Message, Session

TELEGRAM_SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def _json(data: BaseModel | dict[str, Any], status: int = 200) -> web.Response:
    # pydantic's serializer is several times faster than json.dumps over model_dump (bench P7),
    # but UTF-8 cannot carry a lone surrogate, which stored text may hold: those get escapes instead.
    try:
        body = pydantic_core.to_json(data)
    except PydanticSerializationError:
        body = json.dumps(pydantic_core.to_jsonable_python(data)).encode()
    return web.Response(body=body, status=status, content_type="application/json")


def _session(session: Session) -> SessionOut:
    return SessionOut.model_validate(session, from_attributes=True)


# The two list endpoints build SessionOut's and MessageOut's fields as plain dicts: validating
# 50 to 200 objects per page against the models (which only restate what the store returned)
# cost more than the store read itself (bench P7). A test holds these to the models.
def session_out(session: Session) -> dict[str, Any]:
    s = session
    return {"user_id": s.user_id, "persona": s.persona, "created_at": s.created_at,
            "last_activity": s.last_activity, "message_count": s.message_count, "metadata": s.metadata}  # fmt: skip


def message_out(message: Message) -> dict[str, Any]:
    m = message
    return {"seq": m.seq, "role": m.role, "content": m.content, "timestamp": m.timestamp,
            "incomplete": m.incomplete, "metadata": m.metadata}  # fmt: skip


async def health(request: web.Request) -> web.Response:
    """Liveness: answers without touching any dependency."""
    return _json(HealthOut(status="ok", version=nono.__version__))


async def ready(request: web.Request) -> web.Response:
    """Readiness: store, model and every running adapter; 503 names the failing ones."""
    parts: tuple[Part, ...] = request.app[PARTS]
    checks = await readiness(request.app[CHAT], parts)
    ok = all(state == "ok" for state in checks.values())
    return _json(ReadyOut(status="ok" if ok else "failing", checks=checks), 200 if ok else 503)


async def metrics(request: web.Request) -> web.Response:
    body = await request.app[METRICS].render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(request.app[OPENAPI])


async def start_session(request: web.Request) -> web.Response:
    body = await read_body(request, StartSessionIn)
    return _json(_session(await chat_of(request).start_session(body.user_id, body.persona)))


async def chat_turn(request: web.Request) -> web.Response:
    """A whole turn; a given persona is switched to first, exactly like PUT /session/{user_id}/persona.

    The switch waits until the turn is admitted (input, line, rate limit): a refused request changes nothing.
    """
    body = await read_body(request, ChatIn)
    chat = chat_of(request)
    if body.persona is not None:
        chat.personas.get(body.persona)  # an unknown persona is a 404 before the turn counts against any limit
    reply = chat.stream(body.user_id, body.message)
    async with reply:
        if body.persona is not None and reply.refusal is None:
            await chat.set_persona(body.user_id, body.persona)
        async for _ in reply:  # a refused turn raises its refusal here, and is counted like any failed turn
            pass
    assert reply.persona is not None  # set by every finished turn
    out = ChatOut(user_id=body.user_id, reply=reply.text, persona=reply.persona.name, incomplete=reply.incomplete)
    return _json(out)


async def history(request: web.Request) -> web.Response:
    user_id, query = path_user_id(request), read_query(request, HistoryQuery)
    messages = await chat_of(request).history(user_id, query.limit, query.before)
    next_before = messages[0].seq if messages and messages[0].seq else None
    return _json({"user_id": user_id, "messages": [message_out(m) for m in messages], "next_before": next_before})


async def clear(request: web.Request) -> web.Response:
    user_id = path_user_id(request)
    return _json(ClearOut(user_id=user_id, cleared=await chat_of(request).reset(user_id)))


async def set_persona(request: web.Request) -> web.Response:
    user_id = path_user_id(request)
    body = await read_body(request, PersonaIn)
    chat = chat_of(request)
    await chat.set_persona(user_id, body.persona)
    session = await chat.session(user_id)
    assert session is not None  # set_persona creates it
    return _json(_session(session))


async def personas(request: web.Request) -> web.Response:
    chat = chat_of(request)
    listed = [PersonaOut.model_validate(p.model_dump()) for p in chat.list_personas()]
    return _json(PersonasOut(default=chat.personas.default, personas=listed))


async def reload_personas(request: web.Request) -> web.Response:
    """Re-read persona files; a bad file is a 422 naming file and field, and the old set stays."""
    chat = chat_of(request)
    try:
        names = await asyncio.to_thread(chat.reload_personas)
    except PersonaConfigError as exc:
        errors = [_persona_problem(p, chat.personas.directory) for p in exc.problems]
        first = f"{errors[0]['field']}: {errors[0]['message']}"
        detail = f"Persona files are invalid; the current personas were kept. {first}"
        raise HttpProblem(422, "invalid_personas", detail, errors=errors) from None
    return _json(ReloadOut(personas=names))


def _persona_problem(problem: str, directory: os.PathLike | None) -> dict[str, str]:
    """`/srv/personas/a.yaml:3: persona 'x': field …` → field `a.yaml:3`, message `persona 'x': field …`."""
    if directory is not None:  # errors never reveal server paths
        problem = problem.replace(f"{directory}{os.sep}", "").replace(str(directory), "PERSONAS_DIR")
    where, _, message = problem.partition(": ")
    return {"field": where, "message": message or where}


async def active_sessions(request: web.Request) -> web.Response:
    query = read_query(request, ActiveQuery)
    chat = chat_of(request)
    sessions, total = await chat.active_page(query.offset, query.limit)
    listed = [session_out(s) for s in sessions]
    return _json({"sessions": listed, "total": total, "offset": query.offset, "limit": query.limit})


async def telegram_webhook(request: web.Request) -> web.Response:
    """Feed one update to the Telegram adapter, after checking Telegram's secret header."""
    secret = request.app[OPTIONS].telegram_webhook_secret
    given = request.headers.get(TELEGRAM_SECRET_HEADER, "").encode()
    # Checked first, so callers without the secret learn nothing, not even whether webhook mode is on.
    if secret is None or not hmac.compare_digest(given, secret.get_secret_value().encode()):
        raise HttpProblem(403, "forbidden", f"Missing or wrong {TELEGRAM_SECRET_HEADER}.")
    feed = request.app[TELEGRAM_FEED]
    if feed is None:
        raise HttpProblem(404, "not_found", "The Telegram adapter is not running in webhook mode.")
    update = await read_body(request, TelegramUpdateIn)
    await feed(update.model_dump())
    return _json(WebhookOut(ok=True))


WS_DESCRIPTION = """\
A WebSocket (authenticated like every admin route, before the handshake is accepted).
Send text frames `{"message": "..."}`; the server answers each with `{"type": "chunk", "text": "..."}`
frames, then `{"type": "done", "reply": "...", "persona": "...", "incomplete": false}`.
Errors arrive as `{"type": "error", "code": "...", "status": 422, "message": "..."}` and the socket
stays open. Frames over 64 KiB close the socket with code 1009. A plain GET gets 426."""

_USER_OPERATIONS = ("history", "clear", "set_persona")
_TEXT = {"text/plain": {"schema": {"type": "string"}}}
_OBJECT = {"application/json": {"schema": {"type": "object"}}}


def route_table(metrics_public: bool) -> list[RouteSpec]:
    """Every route the sidecar serves; the OpenAPI document and the auth exemptions come from here."""
    R = RouteSpec
    return [
        R("GET", "/health", "health", health, "Liveness", HealthOut, public=True, tag="ops"),
        R("GET", "/ready", "ready", ready, "Readiness of the store, the model and each adapter", ReadyOut,
          public=True, tag="ops", also=((503, ReadyOut),)),
        R("GET", "/metrics", "metrics", metrics, "Prometheus metrics", _TEXT, public=metrics_public,
          tag="ops"),
        R("GET", "/openapi.json", "openapi", openapi, "This OpenAPI document", _OBJECT, tag="ops"),
        R("POST", "/session/start", "start_session", start_session, "Start or refresh a session", SessionOut,
          body=StartSessionIn, errors=(404, 503), links=_USER_OPERATIONS),
        R("POST", "/chat", "chat", chat_turn, "Run a whole turn and return the reply", ChatOut, body=ChatIn,
          errors=(404, 429, 503), tag="chat", links=_USER_OPERATIONS),
        R("GET", "/session/{user_id}/history", "history", history, "A page of the user's messages, newest last",
          HistoryOut, query=HistoryQuery, errors=(503,)),
        R("DELETE", "/session/{user_id}/clear", "clear", clear, "Forget the user's memory and persona choice",
          ClearOut, errors=(503,)),
        R("PUT", "/session/{user_id}/persona", "set_persona", set_persona, "Switch the user's persona",
          SessionOut, body=PersonaIn, errors=(404, 503)),
        R("GET", "/personas", "personas", personas, "The personas", PersonasOut),
        R("POST", "/personas/reload", "reload_personas", reload_personas, "Re-read the persona files",
          ReloadOut, errors=(422,)),
        R("GET", "/sessions/active", "active_sessions", active_sessions, "Active sessions, most recent first",
          ActiveOut, query=ActiveQuery, errors=(503,)),
        R("GET", "/ws/chat/{user_id}", "ws_chat", ws_chat, "Chat over a WebSocket, streamed", None,
          ok_status=101, errors=(426,), tag="chat", description=WS_DESCRIPTION),
        R("POST", "/telegram/webhook", "telegram_webhook", telegram_webhook, "Telegram's webhook", WebhookOut,
          body=TelegramUpdateIn, public=True, security="telegramSecret", errors=(403, 404), tag="telegram"),
    ]  # fmt: skip


# aiohttp's default segment pattern refuses `{` and `}`, which user ids may contain.
USER_ID_SEGMENT = "{user_id:[^/]+}"


def add_routes(app: web.Application, routes: list[RouteSpec]) -> None:
    for route in routes:
        path = route.path.replace("{user_id}", USER_ID_SEGMENT)
        app.router.add_route(route.method, path, route.handler, name=route.name)
