"""Discord pulling the rug mid-reply, for real: permissions revoked and the reply deleted while it streams.

The Discord adapter's own tests inject REST errors (a refused first post, a 404 on an edit);
here SimCord's world changes under the bot the way a moderator changes it — a permission
overwrite, a deleted message — and Discord's own checks produce the errors. Each time the
failure is logged, nothing crashes, the partial reply is stored marked incomplete, and the
user's next message still works.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import discord
import pytest
from simcord.backend.models.channel import Overwrite
from simcord.enums import OverwriteType

from nono.adapters.discord import NonoBot, create_discord_bot
from nono.bot.options import discord_options
from nono.core.chat import ChatService
from nono.core.llm.fake import FakeLLM
from tests.support.settings import make_settings

LONG_REPLY = [f"Sentence number {i:02d} keeps the reply going and going.".ljust(100) for i in range(40)]
#: The fastest STREAM_EDIT_INTERVAL: a write failure is noticed well before the reply is complete.
EDIT_INTERVAL = 0.2


@pytest.fixture
def simcord_bot(chat: ChatService) -> NonoBot:
    return create_discord_bot(chat, discord_options(make_settings(stream_edit_interval=EDIT_INTERVAL)))


def on_first_bot_message(bot: NonoBot, channel_id: int, action: Callable[[discord.Message], None]) -> None:
    """Run `action` once, as soon as the bot's first message in the channel exists."""
    fired: list[int] = []

    async def listener(message: discord.Message) -> None:
        if not fired and message.author.id == bot.user.id and message.channel.id == channel_id:
            fired.append(message.id)
            action(message)

    bot.add_listener(listener, "on_message")


def write_failures(caplog: pytest.LogCaptureFixture) -> list[tuple[int, int]]:
    return [(r.status, r.code) for r in caplog.records if r.message == "discord_write_failed"]


@pytest.mark.simcord(settle_timeout=60)
async def test_send_permission_revoked_mid_reply_is_logged_and_the_user_is_answered_elsewhere(
    simcord_env, simcord_bot: NonoBot, fake_llm: FakeLLM, chat: ChatService, caplog
):
    guild = simcord_env.create_guild("Club")
    channel = guild.create_text_channel("general")
    alice = guild.add_member(simcord_env.create_user("alice"))
    bot_id = simcord_bot.user.id
    deny = Overwrite(bot_id, OverwriteType.MEMBER, deny=discord.Permissions(send_messages=True).value)
    on_first_bot_message(simcord_bot, channel.id, lambda _: simcord_env.backend.set_overwrite(channel.id, deny))
    # 4,000 characters, still being written for a second after the text outgrows the first message.
    fake_llm.enqueue(LONG_REPLY, delay=0.05)
    fake_llm.enqueue("Answered in private.")

    with caplog.at_level(logging.WARNING):
        await alice.send(channel, f"<@{bot_id}> tell me a long story")
        await alice.send(channel, f"<@{bot_id}> are you still there?")  # Nono may no longer write here
        await alice.user.send_dm("are you still there?")

    shown = [m.content for m in channel.history() if m.author.id == bot_id]
    assert len(shown) == 1 and "".join(LONG_REPLY).startswith(shown[0]), "the first part stayed, nothing more"
    assert (403, 50013) in write_failures(caplog)
    asked, cut = (await chat.history(f"discord:channel:{channel.id}:person:{alice.id}"))[:2]
    assert asked.content == "tell me a long story"
    assert cut.incomplete and "".join(LONG_REPLY).startswith(cut.content) and len(cut.content) >= len(shown[0])
    assert [m.content for m in alice.user.dm_channel.history() if m.author.id == bot_id] == ["Answered in private."]
    assert len(fake_llm.history) == 2, "no model call for the channel Nono can no longer answer in"
    assert simcord_env.errors == []


@pytest.mark.simcord(settle_timeout=60)
async def test_a_reply_deleted_by_a_moderator_mid_stream_stops_cleanly_and_the_next_message_works(
    simcord_env, simcord_bot: NonoBot, fake_llm: FakeLLM, chat: ChatService, caplog
):
    guild = simcord_env.create_guild("Club")
    channel = guild.create_text_channel("general")
    bob = guild.add_member(simcord_env.create_user("bob"))
    bot_id = simcord_bot.user.id
    on_first_bot_message(
        simcord_bot, channel.id, lambda message: simcord_env.backend.delete_message(channel.id, message.id)
    )
    fake_llm.enqueue([f"word{i} " for i in range(40)], delay=0.05)
    fake_llm.enqueue("A fresh answer.")

    with caplog.at_level(logging.WARNING):
        await bob.send(channel, f"<@{bot_id}> explain slowly")
        await bob.send(channel, f"<@{bot_id}> and briefly?")

    assert [m.content for m in channel.history() if m.author.id == bot_id] == ["A fresh answer."]
    assert write_failures(caplog) == [(404, 10008)], "the edit of the deleted message failed once, then it stopped"
    stored = await chat.history(f"discord:channel:{channel.id}:person:{bob.id}")
    assert [m.content for m in stored[2:]] == ["and briefly?", "A fresh answer."]
    assert stored[1].incomplete and "".join(f"word{i} " for i in range(40)).startswith(stored[1].content)
    assert simcord_env.errors == []
