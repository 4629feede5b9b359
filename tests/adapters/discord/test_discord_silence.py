"""@everyone, @here and role pings do not address Nono: where it must stay silent, it answers and stores nothing.

The pings are sent by a moderator who may mention everyone, so Discord really flags them
(`mention_everyone`, `role_mentions`), as a bot that took "I was pinged" from those flags
(discord.py's `mentioned_in` counts @everyone) would see them.
"""

from __future__ import annotations

import discord
import pytest

from nono.core.chat import ChatService
from nono.core.llm.fake import FakeLLM
from tests.adapters.discord.conftest import Server

PINGS = ["@everyone is anyone around?", "@here quick question about the rules", "{role} can someone help me?"]


@pytest.mark.parametrize("listed", [False, True], ids=["no-listed-channels", "another-channel-listed"])
async def test_everyone_here_and_role_pings_get_no_answer_and_store_nothing(
    discord_server: Server, fake_llm: FakeLLM, chat: ChatService, restart_bot, listed: bool
) -> None:
    server = discord_server
    if listed:  # DISCORD_CHANNELS names another channel: this one still needs a mention
        await restart_bot(discord_channels=[server.guild.create_text_channel("ask-nono").id])
    moderators = server.guild.create_role("Moderators", permissions=discord.Permissions(mention_everyone=True))
    helpers = server.guild.create_role("Helpers", mentionable=True)
    mia = server.guild.add_member(server.env.create_user("mia"), roles=[moderators])
    fake_llm.enqueue(["Hello Mia."])

    for ping in PINGS:
        await mia.send(server.channel, ping.format(role=f"<@&{helpers.id}>"))
    await mia.send(server.channel, f"<@{server.bot_id}> hello")  # the bot is listening: this one it answers

    sent = [m for m in server.channel.history() if m.author.id == mia.id]
    assert [m.mention_everyone for m in sent] == [True, True, False, False], "Discord flagged the pings"
    assert [r.id for r in sent[2].role_mentions] == [helpers.id]
    assert [m.content for m in server.bot_messages()] == ["Hello Mia."]
    assert len(fake_llm.history) == 1 and fake_llm.history[0].messages[-1].content == "hello"
    stored = await chat.history(f"discord:channel:{server.channel.id}:person:{mia.id}")
    assert [m.content for m in stored] == ["hello", "Hello Mia."]
