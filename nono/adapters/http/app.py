"""The aiohttp sidecar: health, readiness, metrics, the REST admin API and WebSocket chat.

`create_sidecar_app(chat, options, …)` builds the app (state under `web.AppKey`, lifecycle in
`cleanup_ctx`); `running(chat, options, …)` serves it on the configured host and port inside
the caller's event loop, next to the other adapters. Endpoints are listed in docs/sidecar.md.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiohttp import web

from nono.adapters.http.access import ACCESS_LOG, JsonAccessLogger
from nono.adapters.http.auth import auth_middleware, check_exposure
from nono.adapters.http.errors import error_middleware
from nono.adapters.http.metrics import SidecarMetrics, counting_middleware
from nono.adapters.http.models import MAX_BODY_BYTES
from nono.adapters.http.openapi import build_openapi
from nono.adapters.http.options import HttpOptions
from nono.adapters.http.requests import (
    CHAT,
    METRICS,
    OPENAPI,
    OPTIONS,
    PARTS,
    PUBLIC_ROUTES,
    SOCKETS,
    TELEGRAM_FEED,
)  # fmt: skip
from nono.adapters.http.routes import add_routes, route_table
from nono.adapters.http.ws import close_sockets
from nono.adapters.parts import Feed, Part
from nono.core.chat import ChatService
from nono.core.errors import ConfigError

log = logging.getLogger(__name__)

__all__ = ["HttpPart", "create_sidecar_app", "running"]


def create_sidecar_app(
    chat: ChatService,
    options: HttpOptions,
    *,
    parts: Iterable[Part] = (),
    telegram_feed: Feed | None = None,
    metrics: SidecarMetrics | None = None,
) -> web.Application:
    """The sidecar app; ConfigError when it would expose an unauthenticated admin API.

    `parts` are the other running adapters (/ready asks each); `telegram_feed` takes the updates
    posted to /telegram/webhook while the Telegram adapter runs in webhook mode. `metrics` is given
    when the wiring built it first, to hand its counters to the platform adapters.
    """
    check_exposure(options, webhook=telegram_feed is not None)
    metrics = metrics or SidecarMetrics(chat)
    app = web.Application(
        client_max_size=MAX_BODY_BYTES,
        middlewares=[counting_middleware(metrics), error_middleware(metrics.count_internal_error), auth_middleware],
    )
    routes = route_table(options.metrics_public)
    app[CHAT] = chat
    app[OPTIONS] = options
    app[PARTS] = tuple(parts)
    app[TELEGRAM_FEED] = telegram_feed
    app[METRICS] = metrics
    app[OPENAPI] = build_openapi(routes, chat.limits.max_message_chars)
    app[PUBLIC_ROUTES] = frozenset(route.name for route in routes if route.public)
    app[SOCKETS] = weakref.WeakSet()
    add_routes(app, routes)
    app.cleanup_ctx.append(_count_turns)
    app.on_shutdown.append(close_sockets)
    return app


async def _count_turns(app: web.Application) -> AsyncIterator[None]:
    """Metrics follow turns only while the app runs."""
    app[METRICS].attach()
    yield
    app[METRICS].detach()


@dataclass(frozen=True)
class HttpPart:
    """The serving sidecar and the base URL it listens on."""

    url: str
    name: str = "sidecar"

    def healthy(self) -> bool:
        return True  # it answers /ready itself; while it runs, it serves


@asynccontextmanager
async def running(
    chat: ChatService,
    options: HttpOptions,
    *,
    parts: Iterable[Part] = (),
    telegram_feed: Feed | None = None,
    metrics: SidecarMetrics | None = None,
) -> AsyncIterator[HttpPart]:
    """Serve the sidecar until the block exits."""
    app = create_sidecar_app(chat, options, parts=parts, telegram_feed=telegram_feed, metrics=metrics)
    # aiohttp closes a connection that has not sent a whole request within keepalive_timeout, counted from
    # the connection's start or the previous answer: the header deadline (the body's is in read_json).
    # A caller who hangs up does not cancel its turn (handler_cancellation): it ends and is stored as usual.
    runner = web.AppRunner(
        app, shutdown_timeout=options.shutdown_grace, keepalive_timeout=options.read_timeout,
        handler_cancellation=False, access_log=ACCESS_LOG, access_log_class=JsonAccessLogger,
    )  # fmt: skip
    await runner.setup()
    try:
        site = web.TCPSite(runner, options.host, options.port, reuse_port=options.reuse_port or None)
        try:
            await site.start()
        except OSError as exc:
            raise ConfigError(
                f"the sidecar cannot listen on {options.host}:{options.port}: "
                f"{exc.strerror or exc} (set SIDECAR_HOST/SIDECAR_PORT)"
            ) from exc
        url = _base_url(runner)
        if options.token_bytes is None:
            log.warning("sidecar_without_admin_token", extra={"url": url, "access": "local callers only"})
        log.info("sidecar_listening", extra={"url": url})
        yield HttpPart(url)
    finally:
        await runner.cleanup()


def _base_url(runner: web.AppRunner) -> str:
    host, port = runner.addresses[0][:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
