"""Who gets in: the admin token on every protected route, and the zero-config loopback rule without one."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from pydantic import ValidationError

from nono.adapters.http.requests import CHAT, PUBLIC_ROUTES
from nono.bot.cli import main
from nono.bot.settings import Settings
from nono.core.errors import ConfigError
from nono.core.llm.fake import FakeLLM
from tests.adapters.http.helpers import (
    AUTH,
    TOKEN,
    make_app,
    make_chat,
    make_settings,
    raw_connection,
    status_line,
)  # fmt: skip

PUBLIC = {("GET", "/health"), ("GET", "/ready"), ("POST", "/telegram/webhook")}
PUBLIC |= {("GET", "/openapi.json"), ("GET", "/docs"), ("GET", "/docs/rest:someone")}  # a browser sends no token

#: A store these start-up checks never reach (one process's: no shared lines).
UNREACHED = SimpleNamespace(lines=None)


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


@pytest.mark.parametrize(
    "host",
    [
        "evil.example", "evil.example:8080", "127.0.0.1.evil.example", "10.0.0.5:8080",
        "localhost.attacker.example", "localhost.attacker.example:8080", "LOCALHOST.attacker.example.",
    ],
)  # fmt: skip
async def test_dns_rebinding_hosts_are_refused(open_client: TestClient, host: str) -> None:
    response = await open_client.post("/session/start", headers={"Host": host}, json={"user_id": "rest:victim"})
    assert response.status == 403
    assert response.content_type == "application/problem+json"
    assert (await open_client.get("/session/rest:victim/history")).status == 200
    assert (await (await open_client.get("/session/rest:victim/history")).json())["messages"] == []


def other_origins(port: int) -> list[str]:
    """Origins of pages that are not the sidecar at 127.0.0.1:`port` (the test client's Host)."""
    return [
        "https://evil.example", "null", "not a url", f"http://127.0.0.1:{port + 1}", "http://localhost:3000",
        f"http://localhost:{port}", f"https://127.0.0.1:{port}", "http://127.0.0.1",
    ]  # fmt: skip


async def test_only_the_sidecars_own_origin_is_served(open_client: TestClient) -> None:
    port = open_client.port
    for origin in other_origins(port):
        refused = await open_client.post("/personas/reload", headers={"Origin": origin})
        assert refused.status == 403, origin
        assert refused.content_type == "application/problem+json"
        with pytest.raises(aiohttp.WSServerHandshakeError) as handshake:
            await open_client.ws_connect("/ws/chat/rest:someone", headers={"Origin": origin})
        assert handshake.value.status == 403, origin
    own = await open_client.post("/personas/reload", headers={"Origin": f"http://127.0.0.1:{port}"})
    assert own.status == 200
    ws = await open_client.ws_connect("/ws/chat/rest:someone", headers={"Origin": f"http://127.0.0.1:{port}"})
    await ws.close()


PROXIED = [
    {"X-Forwarded-For": "127.0.0.1"},
    {"Forwarded": "for=127.0.0.1;proto=http"},
    {"X-Real-IP": "127.0.0.1"},
    {"X-Forwarded-Host": "localhost"},
    {"x-forwarded-proto": "https"},
    {"Via": "1.1 proxy"},
]


@pytest.mark.parametrize("headers", PROXIED, ids=lambda h: next(iter(h)))
async def test_requests_through_a_proxy_are_refused_without_a_token(open_client: TestClient, headers: dict) -> None:
    # nginx in front of the sidecar sends Host: 127.0.0.1:8080 and the caller's address in these headers.
    response = await open_client.post("/session/start", headers=headers, json={"user_id": "rest:victim"})
    assert response.status == 403
    assert response.content_type == "application/problem+json"
    problem = await response.json()
    assert problem["code"] == "forbidden"
    assert "proxy" in problem["detail"] and "ADMIN_TOKEN" in problem["detail"]
    assert next(iter(headers)).lower() in problem["detail"].lower(), "names the header that gave the proxy away"
    with pytest.raises(aiohttp.WSServerHandshakeError) as handshake:
        await open_client.ws_connect("/ws/chat/rest:victim", headers=headers)
    assert handshake.value.status == 403
    assert (await open_client.get("/health", headers=headers)).status == 200, "public routes stay public"
    assert await open_client.app[CHAT].session("rest:victim") is None


async def test_with_a_token_a_proxy_is_fine(client: TestClient) -> None:
    assert (await client.get("/personas", headers={**AUTH, "X-Forwarded-For": "203.0.113.9"})).status == 200


async def raw_status(client: TestClient, head: str) -> int:
    """The status of a request sent as written: `head` is the request line and headers."""
    reader, writer = await raw_connection(client.host, client.port, head.encode() + b"\r\n")
    try:
        return await status_line(reader)
    finally:
        writer.close()


async def test_a_request_without_a_host_header_is_refused(open_client: TestClient) -> None:
    # HTTP/1.0 allows leaving Host out; aiohttp's own clients always send one, hence the raw socket.
    assert await raw_status(open_client, "GET /personas HTTP/1.0\r\n") == 403
    assert await raw_status(open_client, "GET /personas HTTP/1.0\r\nHost: 127.0.0.1\r\n") == 200
    assert await raw_status(open_client, "GET /health HTTP/1.0\r\n") == 200


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.5", "nono.example.org", ""])
def test_no_token_on_a_public_bind_refuses_to_start(tmp_path: Path, sidecar_personas: Path, host: str) -> None:
    settings = make_settings(tmp_path, admin_token=None, sidecar_host=host)
    with pytest.raises(ConfigError, match="ADMIN_TOKEN"):
        make_app(settings, make_chat(settings, UNREACHED, FakeLLM()))


@pytest.mark.parametrize("token", [None, "", "   "])
def test_an_empty_token_counts_as_none(tmp_path: Path, sidecar_personas: Path, token: str | None) -> None:
    settings = make_settings(tmp_path, admin_token=token, sidecar_host="0.0.0.0")
    with pytest.raises(ConfigError):
        make_app(settings, make_chat(settings, UNREACHED, FakeLLM()))


def test_a_token_allows_a_public_bind(tmp_path: Path, sidecar_personas: Path) -> None:
    settings: Settings = make_settings(tmp_path, sidecar_host="0.0.0.0")
    assert isinstance(make_app(settings, make_chat(settings, UNREACHED, FakeLLM())), web.Application)


@pytest.mark.parametrize("token", ["s3cr3t", "fifteen-chars-0", "   fifteen-chars-0   ", "0123456789abcde\n"])
def test_a_short_token_refuses_a_public_bind(tmp_path: Path, sidecar_personas: Path, token: str) -> None:
    settings = make_settings(tmp_path, admin_token=token, sidecar_host="0.0.0.0")
    with pytest.raises(ConfigError, match="at least 16 characters") as refused:
        make_app(settings, make_chat(settings, UNREACHED, FakeLLM()))
    assert token.strip() not in str(refused.value) and "\n" not in str(refused.value)
    sixteen = make_settings(tmp_path, admin_token=" 0123456789abcdef ", sidecar_host="0.0.0.0")
    assert isinstance(make_app(sixteen, make_chat(sixteen, UNREACHED, FakeLLM())), web.Application)
    loopback = make_settings(tmp_path, admin_token=token, sidecar_host="127.0.0.1")
    assert isinstance(make_app(loopback, make_chat(loopback, UNREACHED, FakeLLM())), web.Application)


WEBHOOK = {"telegram_webhook_url": "https://bot.example.org/telegram/webhook", "telegram_webhook_secret": "s3cret"}


@pytest.mark.parametrize("token", [None, "", "  "])
def test_webhook_mode_requires_an_admin_token(tmp_path: Path, sidecar_personas: Path, token: str | None) -> None:
    with pytest.raises(ValidationError, match="ADMIN_TOKEN is required when TELEGRAM_WEBHOOK_URL is set"):
        make_settings(tmp_path, admin_token=token, **WEBHOOK)
    # Options built some other way (model_copy skips validation) are refused by the sidecar itself.
    unchecked = make_settings(tmp_path, **WEBHOOK).model_copy(update={"admin_token": None})
    with pytest.raises(ConfigError, match="ADMIN_TOKEN is required"):
        make_app(unchecked, make_chat(unchecked, UNREACHED, FakeLLM()), feed=_no_feed)
    assert isinstance(make_app(unchecked, make_chat(unchecked, UNREACHED, FakeLLM())), web.Application)


async def _no_feed(update: Any) -> None:
    pytest.fail("nothing is fed")


def test_webhook_mode_without_a_token_stops_nono_before_it_starts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env
    monkeypatch.setenv("TELEGRAM_WEBHOOK_URL", WEBHOOK["telegram_webhook_url"])
    monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", WEBHOOK["telegram_webhook_secret"])
    monkeypatch.delenv("ADMIN_TOKEN", raising=False)
    assert main(["run"]) == 2
    err = capsys.readouterr().err
    assert [line for line in err.splitlines() if "ADMIN_TOKEN" in line] == [
        "  (settings): Value error, ADMIN_TOKEN is required when TELEGRAM_WEBHOOK_URL is set"
    ]
