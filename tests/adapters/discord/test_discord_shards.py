"""DISCORD_SHARD_COUNT / DISCORD_SHARD_IDS: one process serving some of the bot's shards.

SimCord runs discord.py's sharded client against its in-memory Discord the way Discord routes
events: a guild lives on shard (guild_id >> 22) % count, DMs on shard 0, and an event reaches the
process only if it owns that shard. SimCord attaches its shards without a gateway handshake, so
the last tests run `running` against a loopback gateway to check the IDENTIFY each shard sends.
"""

from __future__ import annotations

import asyncio
import json
import logging

import discord
import pytest
import simcord
import yarl
from aiohttp import WSMsgType, web

from nono.adapters.discord import DiscordPart, running
from nono.bot.options import discord_options
from nono.core.commands import COMMANDS
from nono.core.llm.fake import FakeLLM
from tests.adapters.discord.test_discord_running import APP_ID, BOT_USER, TOKEN, FakeDiscord
from tests.support.settings import make_settings

# This process serves shards 0 and 2 of 3; another one serves shard 1.
SHARDS = {"discord_shard_count": 3, "discord_shard_ids": "0,2"}


def _guild_on(env: simcord.Env, shard: int) -> tuple[simcord.ChannelHandle, simcord.MemberActor]:
    """A guild whose id Discord routes to `shard`, with a channel and a member."""
    guild = env.create_guild(f"Guild on shard {shard}", shard_id=shard)
    return guild.create_text_channel("general"), guild.add_member(env.create_user(f"member{shard}"))


def _answers(channel: simcord.ChannelHandle, env: simcord.Env) -> list[str]:
    return [m.content for m in channel.history() if m.author.id == env.bot.user.id]


@pytest.mark.discord_settings(**SHARDS)
async def test_a_process_answers_its_shards_guilds_and_dms_and_never_sees_other_shards(
    simcord_env: simcord.Env, fake_llm: FakeLLM
):
    env = simcord_env
    mine, member = _guild_on(env, 2)
    theirs, stranger = _guild_on(env, 1)
    fake_llm.enqueue(["Hello from shard 2."])
    fake_llm.enqueue(["Hello in private."])

    await member.send(mine, f"<@{env.bot.user.id}> hi")
    await member.user.send_dm("hi")
    await stranger.send(theirs, f"<@{env.bot.user.id}> anyone?")

    assert isinstance(env.bot, discord.AutoShardedClient)
    assert (env.bot.shard_count, sorted(env.bot.shards)) == (3, [0, 2])
    assert _answers(mine, env) == ["Hello from shard 2."]
    assert [m.content for m in member.user.dm_channel.history() if m.author.bot] == ["Hello in private."]
    # Shard 1's guild is another process's: this one never receives it, so it neither answers nor asks the model.
    assert env.bot.get_guild(theirs.guild.id) is None
    assert _answers(theirs, env) == []
    assert len(fake_llm.history) == 2


@pytest.mark.discord_settings(**SHARDS)
async def test_the_process_owning_shard_0_syncs_the_slash_commands_that_work_on_every_shard(
    simcord_env: simcord.Env,
):
    channel, member = _guild_on(simcord_env, 2)

    result = await member.slash(channel, "personas")

    assert sorted(simcord_env.backend.commands[None]) == sorted((name, 1) for name in COMMANDS)
    assert "assistant" in result.response.content


@pytest.mark.discord_settings(discord_shard_count=2, discord_shard_ids="1")
async def test_a_process_without_shard_0_gets_no_dms_and_leaves_command_sync_to_shard_0(
    simcord_env: simcord.Env, fake_llm: FakeLLM
):
    env = simcord_env
    channel, member = _guild_on(env, 1)
    fake_llm.enqueue(["Shard 1 here."])

    await member.send(channel, f"<@{env.bot.user.id}> hi")
    await member.user.send_dm("hello?")  # Discord delivers DMs to shard 0 only: the other process answers

    assert _answers(channel, env) == ["Shard 1 here."]
    assert len(fake_llm.history) == 1
    assert env.backend.commands == {}  # syncing from every process would race; shard 0's process does it


@pytest.mark.discord_settings(**SHARDS)
async def test_health_is_red_while_an_owned_shard_is_disconnected(simcord_env: simcord.Env, fake_llm: FakeLLM):
    env = simcord_env
    channel, member = _guild_on(env, 2)
    gateway = asyncio.get_running_loop().create_future()  # `running`'s connection task, still running
    part = DiscordPart(env.bot, gateway)
    assert part.healthy()

    await env.bot.get_shard(2).disconnect()
    await member.send(channel, f"<@{env.bot.user.id}> are you there?")
    down = part.healthy()
    await env.bot.get_shard(2).reconnect()
    await env.settle()
    up = part.healthy()
    gateway.cancel()

    assert (down, up) == (False, True)
    assert _answers(channel, env) == []  # Discord does not queue a dropped shard's events
    assert fake_llm.history == []


class ShardedGateway(FakeDiscord):
    """The loopback Discord of test_discord_running, answering each IDENTIFY with its shard's READY."""

    def __init__(self) -> None:
        super().__init__()
        self.identified: list[list[int]] = []

    async def gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_str(json.dumps({"op": 10, "d": {"heartbeat_interval": 45000}, "s": None, "t": None}))
        async for message in ws:
            if message.type != WSMsgType.TEXT:
                break
            payload = json.loads(message.data)
            if payload["op"] == 2:
                assert payload["d"]["token"] == TOKEN
                shard = payload["d"]["shard"]
                self.identified.append(shard)
                ready = {
                    "v": 10,
                    "user": BOT_USER,
                    "guilds": [],
                    "session_id": f"session-{shard[0]}",
                    "resume_gateway_url": self.gateway_url,
                    "shard": shard,
                    "application": {"id": APP_ID, "flags": 0},
                }
                await ws.send_str(json.dumps({"op": 0, "t": "READY", "s": 1, "d": ready}))
            elif payload["op"] == 1:
                await ws.send_str(json.dumps({"op": 11, "d": None, "s": None, "t": None}))
            else:
                self.unexpected.append(f"gateway op {payload['op']}")
        return ws


@pytest.fixture
async def sharded_gateway(aiohttp_server, monkeypatch) -> ShardedGateway:
    fake = ShardedGateway()
    server = await aiohttp_server(fake.app())
    fake.gateway_url = f"ws://{server.host}:{server.port}/gateway/"
    monkeypatch.setattr(discord.http.Route, "BASE", f"http://{server.host}:{server.port}/api/v10")
    monkeypatch.setattr(discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(fake.gateway_url))
    yield fake
    assert fake.unexpected == []


async def _connect_and_close(chat, **shards: object) -> None:
    async with running(chat, discord_options(make_settings(discord_token=TOKEN, **shards))) as part:
        async with asyncio.timeout(30):
            while not part.healthy():
                await asyncio.sleep(0.05)


async def test_running_identifies_only_the_owned_shard_and_says_so(sharded_gateway, chat, caplog):
    with caplog.at_level(logging.INFO, logger="nono.adapters.discord.bot"):
        await _connect_and_close(chat, discord_shard_count=4, discord_shard_ids="2")

    assert sharded_gateway.identified == [[2, 4]]
    assert sharded_gateway.synced is None  # not shard 0's process
    [line] = [r for r in caplog.records if r.getMessage() == "discord_shards"]
    assert (line.shard_count, line.shard_ids) == (4, [2])


@pytest.mark.slow  # discord.py spaces IDENTIFYs 5 s apart, as Discord's rate limit requires
async def test_running_identifies_each_owned_shard_once_and_syncs_commands_on_shard_0(sharded_gateway, chat):
    await _connect_and_close(chat, discord_shard_count=4, discord_shard_ids="3,0")

    assert sorted(sharded_gateway.identified) == [[0, 4], [3, 4]]
    assert sorted(c["name"] for c in sharded_gateway.synced) == sorted(COMMANDS)
