"""A message Discord dispatches again (a resumed session, another shard's process) is answered once."""

from __future__ import annotations

from pathlib import Path

import simcord

from nono.adapters.discord import create_discord_bot
from nono.bot.options import discord_options
from nono.core.chat import ChatService
from nono.core.llm.fake import FakeLLM
from nono.core.personas import PersonaRegistry
from nono.core.store.sqlite_store import SQLiteStore
from tests.adapters.discord.conftest import Server
from tests.support.settings import make_settings


async def dispatch_again(env: simcord.Env, channel: simcord.ChannelHandle, message_id: int) -> None:
    """Send MESSAGE_CREATE for a message already posted, as Discord replays it, and let the bot react."""
    env.backend.announce_message_create(env.backend.messages[channel.id][message_id])
    await env.settle()


async def test_a_message_dispatched_twice_is_answered_once(discord_server: Server, fake_llm: FakeLLM):
    server = discord_server
    fake_llm.enqueue(["Four."])
    fake_llm.enqueue(["Six."])

    asked = await server.alice.send(server.channel, f"<@{server.bot_id}> what is 2+2?")
    await dispatch_again(server.env, server.channel, asked.id)
    await server.alice.send(server.channel, f"<@{server.bot_id}> and 3+3?")

    assert [m.content for m in server.bot_messages()] == ["Four.", "Six."]
    assert len(fake_llm.history) == 2


async def test_a_replay_reaching_a_restarted_bot_over_the_same_store_is_not_answered(
    discord_server: Server, fake_llm: FakeLLM, registry: PersonaRegistry, tmp_path: Path
):
    server = discord_server
    fake_llm.enqueue(["Four."])
    fake_llm.enqueue(["Six."])
    asked = await server.alice.send(server.channel, f"<@{server.bot_id}> what is 2+2?")

    # The next process: a new bot, a new store over the same SQLite file (the `chat` fixture's).
    store = SQLiteStore(tmp_path / "nono.sqlite3")
    try:
        restarted = ChatService(store, fake_llm, registry)
        await server.env.restart_bot(create_discord_bot(restarted, discord_options(make_settings())))
        await dispatch_again(server.env, server.channel, asked.id)
        await server.alice.send(server.channel, f"<@{server.bot_id}> and 3+3?")
        await server.env.shutdown()  # the bot and its turns end while the store is open
    finally:
        await store.aclose()

    assert [m.content for m in server.bot_messages()] == ["Four.", "Six."]
    assert len(fake_llm.history) == 2
