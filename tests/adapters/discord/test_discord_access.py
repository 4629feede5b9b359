"""DISCORD_ALLOWED_GUILDS / _ROLES / _USERS: who Nono answers, and the one refusal a stranger's DM gets."""

from __future__ import annotations

import pytest
from discord import app_commands

from nono.adapters.discord.conversation import RefusalMemory
from nono.core.llm.fake import FakeLLM
from nono.core.wording import REFUSAL

ALLOWED_GUILD = 2_222_222_222_222_222_222


def _answers(channel, bot_id: int) -> list[str]:
    return [m.content for m in channel.history() if m.author.id == bot_id]


@pytest.mark.discord_settings(discord_allowed_guilds=[ALLOWED_GUILD])
async def test_only_allowed_servers_are_answered(simcord_env, fake_llm: FakeLLM):
    home = simcord_env.create_guild("Home", id=ALLOWED_GUILD)
    other = simcord_env.create_guild("Other")
    lena = simcord_env.create_user("lena")
    home_channel, other_channel = home.create_text_channel("chat"), other.create_text_channel("chat")
    at_home, elsewhere = home.add_member(lena), other.add_member(lena)
    bot_id = simcord_env.bot.user.id
    fake_llm.enqueue(["Welcome home."])

    await elsewhere.send(other_channel, f"<@{bot_id}> hi")
    await at_home.send(home_channel, f"<@{bot_id}> hi")

    assert _answers(other_channel, bot_id) == []
    assert _answers(home_channel, bot_id) == ["Welcome home."]
    assert len(fake_llm.history) == 1


async def test_allowed_roles_decide_who_is_answered_in_a_server(discord_server, fake_llm, restart_bot):
    server = discord_server
    friends = server.guild.create_role("Friends of Nono")
    max_ = server.guild.add_member(server.env.create_user("max"), roles=[friends])
    await restart_bot(discord_allowed_roles=[friends.id])
    fake_llm.enqueue(["Hi Max."])

    await server.alice.send(server.channel, f"<@{server.bot_id}> hi")
    await max_.send(server.channel, f"<@{server.bot_id}> hi")
    refused = await server.alice.slash(server.channel, "reset")

    assert [m.content for m in server.bot_messages()] == ["Hi Max."]
    assert refused.ephemeral and refused.response.content == REFUSAL
    # SimCord records the failed check; the one error handler answered it.
    assert [type(e) for e in server.env.errors] == [app_commands.CheckFailure]


async def test_allowed_users_are_answered_everywhere_and_strangers_get_one_refusal(
    discord_server, fake_llm, restart_bot
):
    server = discord_server
    await restart_bot(discord_allowed_users=[server.alice.id])
    fake_llm.enqueue(["Hi Alice."])
    fake_llm.enqueue(["Hi again, Alice."])

    await server.alice.send(server.channel, f"<@{server.bot_id}> hi")
    await server.bob.send(server.channel, f"<@{server.bot_id}> hi")
    await server.alice.user.send_dm("hi in private")
    await server.bob.user.send_dm("let me in")
    await server.bob.user.send_dm("please?")

    assert [m.content for m in server.bot_messages()] == ["Hi Alice."]
    assert _answers(server.alice.user.dm_channel, server.bot_id) == ["Hi again, Alice."]
    assert _answers(server.bob.user.dm_channel, server.bot_id) == [REFUSAL]  # once, not per message
    assert len(fake_llm.history) == 2


@pytest.mark.discord_settings(discord_allowed_guilds=[ALLOWED_GUILD])
async def test_members_of_an_allowed_server_may_dm(simcord_env, fake_llm: FakeLLM):
    home = simcord_env.create_guild("Home", id=ALLOWED_GUILD)
    member = home.add_member(simcord_env.create_user("nina"))
    stranger = simcord_env.create_user("oscar")
    fake_llm.enqueue(["Hi Nina."])

    await member.send_dm("hello")
    await stranger.send_dm("hello")

    bot_id = simcord_env.bot.user.id
    assert _answers(member.user.dm_channel, bot_id) == ["Hi Nina."]
    assert _answers(stranger.dm_channel, bot_id) == [REFUSAL]


async def test_without_allowlists_everyone_is_answered(simcord_env, fake_llm: FakeLLM):
    paul = simcord_env.create_user("paul")
    fake_llm.enqueue(["Hi Paul."])

    await paul.send_dm("hello")

    assert _answers(paul.dm_channel, simcord_env.bot.user.id) == ["Hi Paul."]


def test_refusals_are_remembered_for_a_while_and_the_memory_stays_bounded():
    memory = RefusalMemory(quiet=600, limit=3)

    assert memory.should_refuse(1, now=0)
    assert not memory.should_refuse(1, now=599)
    assert memory.should_refuse(1, now=601)
    for user_id in range(2, 10):
        memory.should_refuse(user_id, now=700)
    assert len(memory) <= 3
