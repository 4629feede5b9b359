"""The sidecar's operational and persona handlers, and the table of every route it serves and documents.

Handlers translate only: read and validate the request, call ChatService, shape the answer.
Errors are raised and rendered by the error middleware. Conversation routes live in
conversations.py, people routes in people.py, memory routes (facts, summary, export, erasure) in memory.py,
the model listing in model_routes.py.
"""

from __future__ import annotations

import asyncio
import hmac
import os

from aiohttp import web

import nono
from nono.adapters.http.conversations import conversation_routes
from nono.adapters.http.docs_ui import docs_routes
from nono.adapters.http.errors import HttpProblem
from nono.adapters.http.health import readiness
from nono.adapters.http.memory import memory_routes
from nono.adapters.http.metrics import CONTENT_TYPE
from nono.adapters.http.model_routes import model_routes
from nono.adapters.http.models import (
    HealthOut,
    PersonaOut,
    PersonasOut,
    ReadyOut,
    ReloadOut,
    TelegramUpdateIn,
    WebhookOut,
)  # fmt: skip
from nono.adapters.http.openapi import PATH_PARAMETER, RouteSpec
from nono.adapters.http.people import people_routes
from nono.adapters.http.requests import CHAT, METRICS, OPENAPI, OPTIONS, PARTS, TELEGRAM_FEED, chat_of, read_body
from nono.adapters.http.responses import json_response
from nono.adapters.parts import Part
from nono.core.errors import PersonaConfigError

TELEGRAM_SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


async def health(request: web.Request) -> web.Response:
    """Liveness: answers without touching any dependency."""
    return json_response(HealthOut(status="ok", version=nono.__version__))


async def ready(request: web.Request) -> web.Response:
    """Readiness: store, model and every running adapter; 503 names the failing ones."""
    parts: tuple[Part, ...] = request.app[PARTS]
    checks, backends = await readiness(request.app[CHAT], parts)
    ok = all(state == "ok" for state in checks.values())
    body = ReadyOut(status="ok" if ok else "failing", checks=checks, backends=backends)
    return json_response(body, 200 if ok else 503)


async def metrics(request: web.Request) -> web.Response:
    body = await request.app[METRICS].render(request.app[PARTS])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(request.app[OPENAPI])


async def personas(request: web.Request) -> web.Response:
    chat = chat_of(request)
    listed = [PersonaOut.model_validate(p.model_dump()) for p in chat.list_personas()]
    return json_response(PersonasOut(default=chat.personas.default, personas=listed))


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
    return json_response(ReloadOut(personas=names))


def _persona_problem(problem: str, directory: os.PathLike | None) -> dict[str, str]:
    """`/srv/personas/a.yaml:3: persona 'x': field …` → field `a.yaml:3`, message `persona 'x': field …`."""
    if directory is not None:  # errors never reveal server paths
        problem = problem.replace(f"{directory}{os.sep}", "").replace(str(directory), "PERSONAS_DIR")
    where, _, message = problem.partition(": ")
    return {"field": where, "message": message or where}


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
    return json_response(WebhookOut(ok=True))


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
        R("GET", "/openapi.json", "openapi", openapi, "This OpenAPI document", _OBJECT, public=True, tag="ops"),
        *docs_routes(),
        *conversation_routes(),
        *people_routes(),
        *memory_routes(),
        *model_routes(),
        R("GET", "/personas", "personas", personas, "The personas", PersonasOut),
        R("POST", "/personas/reload", "reload_personas", reload_personas, "Re-read the persona files",
          ReloadOut, errors=(422,)),
        R("POST", "/telegram/webhook", "telegram_webhook", telegram_webhook, "Telegram's webhook", WebhookOut,
          body=TelegramUpdateIn, public=True, security="telegramSecret", errors=(403, 404), tag="telegram"),
    ]  # fmt: skip


def add_routes(app: web.Application, routes: list[RouteSpec]) -> None:
    for route in routes:
        # aiohttp's default segment pattern refuses `{` and `}`, which stored ids may contain: every id is
        # matched up to the next slash and then validated, so a bad id is a 422 naming the rule, not a 404.
        path = PATH_PARAMETER.sub(r"{\1:[^/]+}", route.path)
        app.router.add_route(route.method, path, route.handler, name=route.name)
