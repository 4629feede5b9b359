"""The aiohttp sidecar: health, readiness, metrics, the REST admin API and WebSocket chat.

`create_sidecar_app(services)` builds the app (state under `web.AppKey`, lifecycle in
`cleanup_ctx`); `sidecar_running(services)` serves it on SIDECAR_HOST:SIDECAR_PORT inside the
caller's event loop, next to the adapters. Endpoints are listed in docs/sidecar.md.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web

from nono.bot.services import Services
from nono.adapters.http.auth import admin_token, auth_middleware, check_exposure
from nono.adapters.http.errors import error_middleware
from nono.adapters.http.metrics import SidecarMetrics
from nono.adapters.http.openapi import build_openapi
from nono.adapters.http.models import MAX_BODY_BYTES
from nono.adapters.http.requests import METRICS, OPENAPI, PUBLIC_ROUTES, SERVICES, SOCKETS
from nono.adapters.http.routes import add_routes, route_table
from nono.adapters.http.ws import close_sockets
from nono.core.errors import ConfigError

log = logging.getLogger(__name__)

__all__ = ["create_sidecar_app", "sidecar_running"]


def create_sidecar_app(services: Services) -> web.Application:
    """The sidecar app for these services; ConfigError when it would expose an unauthenticated admin API."""
    settings = services.settings
    check_exposure(settings)
    metrics = SidecarMetrics(services.chat, services.llm)
    app = web.Application(
        client_max_size=MAX_BODY_BYTES,
        middlewares=[error_middleware(metrics.count_internal_error), auth_middleware],
    )
    routes = route_table(settings)
    app[SERVICES] = services
    app[METRICS] = metrics
    app[OPENAPI] = build_openapi(routes, settings)
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


@asynccontextmanager
async def sidecar_running(services: Services) -> AsyncIterator[str]:
    """Serve the sidecar until the block exits; yields the base URL it listens on."""
    settings = services.settings
    app = create_sidecar_app(services)
    runner = web.AppRunner(app, shutdown_timeout=settings.shutdown_grace)
    await runner.setup()
    try:
        site = web.TCPSite(runner, settings.sidecar_host, settings.sidecar_port)
        try:
            await site.start()
        except OSError as exc:
            raise ConfigError(
                f"the sidecar cannot listen on {settings.sidecar_host}:{settings.sidecar_port}: "
                f"{exc.strerror or exc} (set SIDECAR_HOST/SIDECAR_PORT)"
            ) from exc
        url = _base_url(runner)
        if admin_token(settings) is None:
            log.warning("sidecar_without_admin_token", extra={"url": url, "access": "local callers only"})
        log.info("sidecar_listening", extra={"url": url})
        yield url
    finally:
        await runner.cleanup()


def _base_url(runner: web.AppRunner) -> str:
    host, port = runner.addresses[0][:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
