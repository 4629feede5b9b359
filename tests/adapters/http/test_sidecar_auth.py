"""Who gets in: the admin token on every protected route, and the zero-config loopback rule without one."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from nono.adapters.http.requests import CHAT, PUBLIC_ROUTES
from nono.bot.settings import Settings
from nono.core.errors import ConfigError
from nono.core.llm.fake import FakeLLM
from tests.adapters.http.helpers import AUTH, TOKEN, make_app, make_chat, make_settings

PUBLIC = {("GET", "/health"), ("GET", "/ready"), ("POST", "/telegram/webhook")}


def routes_of(app: web.Application) -> Iterator[tuple[str, str, str | None]]:
    """(method, concrete path, route name) for every route the app serves."""
    for route in app.router.routes():
        info = route.resource.get_info()  # type: ignore[union-attr]
        path = info.get("path") or info["formatter"]
        yield route.method, re.sub(r"\{\w+\}", "rest:someone", path), route.name


def protected(app: web.Application) -> list[tuple[str, str]]:
    return [(m, p) for m, p, name in routes_of(app) if name not in app[PUBLIC_ROUTES]]


async def test_every_protected_route_needs_the_token(client: TestClient, app: web.Application) -> None:
    routes = protected(app)
    assert {(m, p) for m, p, _ in routes_of(app)} - set(routes) == PUBLIC
    for method, path in routes:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
            response = await client.request(method, path, headers=headers, json={"user_id": "rest:someone"})
            assert response.status == 401, (method, path, headers)
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
            assert response.content_type == "application/problem+json"
            assert TOKEN not in await response.text()
    # Nothing reached the store.
    assert await client.app[CHAT].session("rest:someone") is None
    assert await client.app[CHAT].links.linked("rest:someone") == ("rest:someone",)


async def test_the_right_token_opens_them(client: TestClient) -> None:
    assert (await client.get("/personas", headers=AUTH)).status == 200
    assert (await client.get("/personas", headers={"Authorization": f"bearer  {TOKEN}"})).status == 200


async def test_public_routes_need_no_token(client: TestClient) -> None:
    assert (await client.get("/health")).status == 200
    assert (await client.get("/ready")).status == 200
    webhook = await client.post("/telegram/webhook", json={"update_id": 1})
    assert webhook.status == 403  # Telegram's secret header, not the admin token


@pytest.mark.parametrize("settings_values", [{"metrics_public": True}])
async def test_metrics_public_opens_only_metrics(client: TestClient, settings_values: dict) -> None:
    assert (await client.get("/metrics")).status == 200
    assert (await client.get("/personas")).status == 401


async def test_websocket_is_refused_before_the_handshake(client: TestClient) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await client.ws_connect("/ws/chat/rest:someone")
    assert refused.value.status == 401
    with pytest.raises(aiohttp.WSServerHandshakeError):
        await client.ws_connect("/ws/chat/rest:someone", headers={"Authorization": "Bearer nope"})


# -- zero-config: no ADMIN_TOKEN, loopback bind -------------------------------------------


@pytest.fixture
async def open_client(aiohttp_client: Callable[..., Any], tmp_path: Path, sidecar_personas: Path, sqlite_store: Any):
    settings = make_settings(tmp_path, admin_token=None)
    return await aiohttp_client(make_app(settings, make_chat(settings, sqlite_store, FakeLLM())))


@pytest.mark.parametrize("host", [None, "localhost:8080", "127.0.0.1", "[::1]:8080", "LOCALHOST"])
async def test_local_callers_need_no_token(open_client: TestClient, host: str | None) -> None:
    headers = {"Host": host} if host else {}
    assert (await open_client.get("/personas", headers=headers)).status == 200


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8080", "127.0.0.1.evil.example", "10.0.0.5:8080"])
async def test_dns_rebinding_hosts_are_refused(open_client: TestClient, host: str) -> None:
    response = await open_client.post("/session/start", headers={"Host": host}, json={"user_id": "rest:victim"})
    assert response.status == 403
    assert response.content_type == "application/problem+json"
    assert (await open_client.get("/session/rest:victim/history")).status == 200
    assert (await (await open_client.get("/session/rest:victim/history")).json())["messages"] == []


async def test_cross_site_origins_are_refused(open_client: TestClient) -> None:
    evil = await open_client.post("/personas/reload", headers={"Origin": "https://evil.example"})
    assert evil.status == 403
    local = await open_client.post("/personas/reload", headers={"Origin": "http://localhost:3000"})
    assert local.status == 200
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await open_client.ws_connect("/ws/chat/rest:someone", headers={"Origin": "https://evil.example"})
    assert refused.value.status == 403


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.5", "nono.example.org", ""])
def test_no_token_on_a_public_bind_refuses_to_start(tmp_path: Path, sidecar_personas: Path, host: str) -> None:
    settings = make_settings(tmp_path, admin_token=None, sidecar_host=host)
    with pytest.raises(ConfigError, match="ADMIN_TOKEN"):
        make_app(settings, make_chat(settings, object(), FakeLLM()))


@pytest.mark.parametrize("token", [None, "", "   "])
def test_an_empty_token_counts_as_none(tmp_path: Path, sidecar_personas: Path, token: str | None) -> None:
    settings = make_settings(tmp_path, admin_token=token, sidecar_host="0.0.0.0")
    with pytest.raises(ConfigError):
        make_app(settings, make_chat(settings, object(), FakeLLM()))


def test_a_token_allows_a_public_bind(tmp_path: Path, sidecar_personas: Path) -> None:
    settings: Settings = make_settings(tmp_path, sidecar_host="0.0.0.0")
    assert isinstance(make_app(settings, make_chat(settings, object(), FakeLLM())), web.Application)
