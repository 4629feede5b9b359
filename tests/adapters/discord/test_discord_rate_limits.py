"""Discord's 429s are counted, and at DEBUG each REST call is one line: discord.py's real HTTP client against a
loopback server that answers like Discord (a 429 with `retry_after`, then the resource).

SimCord replaces discord.py's HTTP client, so its rate-limit path never runs there; here it does.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from discord.http import HTTPClient, Route

from nono.adapters.discord.http_watch import call_trace, counting_rate_limits

TOKEN = "MTIz.discord-test-token"
INTERACTION_TOKEN = "aW50ZXJhY3Rpb246MTIzNDU2Nzg5MDEyMzQ1Njc4OTA6c2VjcmV0LXRva2VuLXZhbHVl"
USER = {"id": "1", "username": "nono", "discriminator": "0", "avatar": None, "global_name": None}


def discord_json(data: Any, status: int = 200, **headers: str) -> web.Response:
    # discord.py reads JSON only under exactly this content type (aiohttp's json_response adds a charset).
    return web.Response(
        body=json.dumps(data).encode(), status=status, headers={"Content-Type": "application/json", **headers}
    )


class FakeDiscordRest:
    """Answers /users/@me; the first call of each channel is refused with 429 (through Discord's proxy, as Discord
    does: discord.py treats a 429 without a `Via` header as a Cloudflare ban)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/api/v10/users/@me", self.me)
        app.router.add_get("/api/v10/channels/{channel_id}", self.channel)
        app.router.add_get("/api/v10/webhooks/{app_id}/{token}/messages/@original", self.original)
        return app

    async def me(self, request: web.Request) -> web.Response:
        return discord_json(USER)

    async def channel(self, request: web.Request) -> web.Response:
        first = not any(path == request.path for path, _ in self.calls)
        status = 429 if first else 200
        self.calls.append((request.path, status))
        if first:
            limited = {"message": "You are being rate limited.", "retry_after": 0.05, "global": False}
            return discord_json(limited, 429, Via="1.1 google")
        return discord_json({"id": request.match_info["channel_id"], "type": 1})

    async def original(self, request: web.Request) -> web.Response:
        return discord_json({"id": "5"})


@pytest.fixture
async def discord_api(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeDiscordRest]:
    fake = FakeDiscordRest()
    async with TestServer(fake.app(), host="127.0.0.1") as server:
        monkeypatch.setattr(Route, "BASE", str(server.make_url("/api/v10")))
        yield fake


async def logged_in(**options: Any) -> HTTPClient:
    http = HTTPClient(asyncio.get_running_loop(), **options)
    await http.static_login(TOKEN)
    return http


async def test_each_429_discord_py_waits_out_is_counted(discord_api: FakeDiscordRest) -> None:
    counted: list[None] = []
    http = await logged_in()
    try:
        with counting_rate_limits(lambda: counted.append(None)):
            assert (await http.request(Route("GET", "/channels/{channel_id}", channel_id=7)))["id"] == "7"
            await http.request(Route("GET", "/channels/{channel_id}", channel_id=7))
            assert (await http.request(Route("GET", "/channels/{channel_id}", channel_id=8)))["id"] == "8"
        await http.request(Route("GET", "/channels/{channel_id}", channel_id=9))  # after the block: not counted
    finally:
        await http.close()
    assert [status for _, status in discord_api.calls] == [429, 200, 200, 429, 200, 429, 200]
    assert len(counted) == 2


async def test_at_log_level_error_a_429_is_still_counted_but_its_warning_not_shown(
    discord_api: FakeDiscordRest, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    discord_logger = logging.getLogger("discord")
    level = discord_logger.level
    discord_logger.setLevel(logging.ERROR)  # what setup_logging does at LOG_LEVEL=ERROR
    counted: list[None] = []
    http = await logged_in()
    try:
        with counting_rate_limits(lambda: counted.append(None)):
            await http.request(Route("GET", "/channels/{channel_id}", channel_id=7))
        assert logging.getLogger("discord.http").getEffectiveLevel() == logging.ERROR, "restored on exit"
    finally:
        await http.close()
        discord_logger.setLevel(level)
    assert len(counted) == 1
    assert not [r for r in caplog.records if r.name.startswith("discord")]


async def test_at_debug_each_call_is_one_line_without_tokens(
    discord_api: FakeDiscordRest, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="nono.adapters.discord.http_watch")
    http = await logged_in(http_trace=call_trace())
    try:
        await http.request(Route("GET", "/channels/{channel_id}", channel_id=7))
        await http.request(Route("GET", "/webhooks/{app}/{token}/messages/@original", app=3, token=INTERACTION_TOKEN))
    finally:
        await http.close()
    calls = [r for r in caplog.records if r.getMessage() == "discord_call"]
    assert [(r.method, r.path, r.outcome) for r in calls] == [  # type: ignore[attr-defined]
        ("GET", "/api/v10/users/@me", 200),
        ("GET", "/api/v10/channels/7", 429),
        ("GET", "/api/v10/channels/7", 200),
        ("GET", "/api/v10/webhooks/3/[token]/messages/@original", 200),
    ]
    assert all(r.ms >= 0 for r in calls)  # type: ignore[attr-defined]
    assert INTERACTION_TOKEN not in caplog.text


def test_above_debug_no_call_is_traced(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="nono.adapters.discord.http_watch")
    assert call_trace() is None
