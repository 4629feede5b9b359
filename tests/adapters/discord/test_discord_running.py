"""The Discord adapter's `running`, the part `nono run` enters: login, gateway connection, health, clean shutdown.

SimCord attaches to a bot it is handed, but `running` builds and starts its own, so
these tests point discord.py's real HTTP and gateway clients at a loopback fake of Discord
instead: the login endpoints, the command sync, and a gateway that says HELLO and READY.
Anything else the bot asks for is recorded and fails the test.
"""

from __future__ import annotations

import asyncio
import json

import discord
import pytest
import yarl
from aiohttp import WSMsgType, web

from nono.adapters.discord import DiscordOptions, running
from nono.bot.options import discord_options
from nono.core.commands import COMMANDS
from nono.core.errors import ConfigError
from tests.support.settings import make_settings

TOKEN = "good-token"
APP_ID = "3333333333333333333"
BOT_USER = {"id": APP_ID, "username": "Nono", "discriminator": "0", "global_name": None, "avatar": None, "bot": True}


def _json(data: object, status: int = 200) -> web.Response:
    # Exactly Discord's content type: discord.py decodes JSON only when it reads "application/json".
    return web.Response(body=json.dumps(data).encode(), status=status, headers={"Content-Type": "application/json"})


class FakeDiscord:
    """Just enough of Discord's REST API and gateway (JSON, uncompressed) for a bot to log in and connect."""

    def __init__(self) -> None:
        self.identify: dict | None = None
        self.synced: list[dict] | None = None
        self.unexpected: list[str] = []
        self.gateway_url = ""

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/api/v10/users/@me", self.me)
        app.router.add_get("/api/v10/oauth2/applications/@me", self.application)
        app.router.add_put(f"/api/v10/applications/{APP_ID}/commands", self.sync)
        app.router.add_get("/gateway/", self.gateway)
        app.router.add_route("*", "/{tail:.*}", self.other)
        return app

    @staticmethod
    def _authorized(request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bot {TOKEN}"

    async def me(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return _json({"message": "401: Unauthorized", "code": 0}, status=401)
        return _json(BOT_USER)

    async def application(self, request: web.Request) -> web.Response:
        assert self._authorized(request)
        return _json(
            {
                "id": APP_ID,
                "name": "Nono",
                "icon": None,
                "description": "",
                "summary": "",
                "bot_public": True,
                "bot_require_code_grant": False,
                "verify_key": "0" * 64,
                "owner": BOT_USER,
                "flags": 0,
                "team": None,
            }
        )

    async def sync(self, request: web.Request) -> web.Response:
        assert self._authorized(request)
        self.synced = await request.json()
        return _json(
            [{**c, "id": str(4000 + i), "application_id": APP_ID, "version": "1"} for i, c in enumerate(self.synced)]
        )

    async def gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_str(json.dumps({"op": 10, "d": {"heartbeat_interval": 45000}, "s": None, "t": None}))
        async for message in ws:
            if message.type != WSMsgType.TEXT:
                break
            payload = json.loads(message.data)
            if payload["op"] == 2:
                self.identify = payload["d"]
                ready = {
                    "v": 10,
                    "user": BOT_USER,
                    "guilds": [],
                    "session_id": "session",
                    "resume_gateway_url": self.gateway_url,
                    "application": {"id": APP_ID, "flags": 0},
                }
                await ws.send_str(json.dumps({"op": 0, "t": "READY", "s": 1, "d": ready}))
            elif payload["op"] == 1:
                await ws.send_str(json.dumps({"op": 11, "d": None, "s": None, "t": None}))
            else:
                self.unexpected.append(f"gateway op {payload['op']}")
        return ws

    async def other(self, request: web.Request) -> web.Response:
        self.unexpected.append(f"{request.method} {request.path}")
        return _json({"message": "not faked", "code": 0}, status=404)


@pytest.fixture
async def fake_discord(aiohttp_server, monkeypatch) -> FakeDiscord:
    fake = FakeDiscord()
    server = await aiohttp_server(fake.app())
    base = f"http://{server.host}:{server.port}"
    fake.gateway_url = f"ws://{server.host}:{server.port}/gateway/"
    # discord.py's own endpoints are class constants; point them at the fake.
    monkeypatch.setattr(discord.http.Route, "BASE", f"{base}/api/v10")
    monkeypatch.setattr(discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(fake.gateway_url))
    yield fake
    assert fake.unexpected == []


def options(token: str | None) -> DiscordOptions:
    return discord_options(make_settings(discord_token=token))


async def test_running_logs_in_connects_reports_health_and_closes(fake_discord, chat):
    async with running(chat, options(TOKEN)) as part:
        async with asyncio.timeout(30):
            while not part.healthy():
                await asyncio.sleep(0.05)
        assert (part.name, part.bot.user.id) == ("discord", int(APP_ID))

    assert not part.healthy() and part.bot.is_closed()
    assert fake_discord.identify["token"] == TOKEN
    assert discord.Intents._from_value(fake_discord.identify["intents"]).message_content
    assert sorted(c["name"] for c in fake_discord.synced) == sorted(COMMANDS)


async def test_a_rejected_token_is_a_configuration_error(fake_discord, chat):
    with pytest.raises(ConfigError, match="DISCORD_TOKEN"):
        async with running(chat, options("wrong-token")):
            pytest.fail("must not start with a rejected token")


async def test_a_missing_token_is_a_configuration_error(chat):
    with pytest.raises(ConfigError, match="DISCORD_TOKEN is not set"):
        async with running(chat, options(None)):
            pytest.fail("must not start without a token")
