"""Slash commands as a Discord user uses them: /persona (autocomplete), /personas, /reset, /history, /help."""

from __future__ import annotations

import discord
import pytest

from nono.core.commands import COMMANDS
from nono.core.errors import NotAllowed, UnknownPersona
from nono.core.llm.fake import FakeLLM
from nono.core.personas import PersonaRegistry
from nono.core.wording import MANAGERS_ONLY
from tests.support.discord import shown

GUILD_ID = 1_111_111_111_111_111_111
RESET_DONE = "Done: I've forgotten our conversation, its summary and the facts I remembered here."


async def test_persona_switch_changes_the_system_prompt_the_model_gets(discord_server, fake_llm, registry):
    server = discord_server
    fake_llm.enqueue(["Arr, a fine question, matey!"])

    switched = await server.alice.slash(server.channel, "persona", name="pirate")
    await server.alice.send(server.channel, f"<@{server.bot_id}> what is the sea?")

    assert switched.ephemeral
    assert shown(switched).startswith("Now speaking as Captain Nono (pirate).")
    assert fake_llm.history[0].system == registry.get("pirate").system_prompt
    assert [m.content for m in server.bot_messages()] == ["Arr, a fine question, matey!"]


async def test_persona_autocomplete_offers_the_loaded_personas(discord_server, registry: PersonaRegistry):
    server = discord_server

    everything = await server.alice.autocomplete(server.channel, "persona", "name", "")
    narrowed = await server.alice.autocomplete(server.channel, "persona", "name", "PIR")

    assert [choice["value"] for choice in everything] == registry.names()
    assert [choice["value"] for choice in narrowed] == ["pirate"]


async def test_persona_without_a_name_shows_the_current_one_and_the_list(discord_server, registry):
    listed = shown(await discord_server.alice.slash(discord_server.channel, "persona"))

    assert listed.splitlines()[0] == "Personas:"
    assert f"▶ {registry.default}" in listed
    assert all(name in listed for name in registry.names())


async def test_an_unknown_persona_is_answered_privately_with_the_valid_names(discord_server, simcord_env, registry):
    result = await discord_server.alice.slash(discord_server.channel, "persona", name="dragon")

    assert result.ephemeral
    assert shown(result) == str(UnknownPersona("dragon", registry.names()))
    assert discord_server.bot_messages() == []  # nothing in the channel for everyone to see
    # The one error handler answered it; SimCord still records the command's exception.
    assert [type(e.original) for e in simcord_env.errors] == [UnknownPersona]


async def test_reset_then_history_shows_nothing(discord_server, fake_llm: FakeLLM, chat):
    server = discord_server
    fake_llm.enqueue(["Hello Alice."])
    await server.alice.send(server.channel, f"<@{server.bot_id}> hello")
    before = await server.alice.slash(server.channel, "history")

    reset = await server.alice.slash(server.channel, "reset")
    after = await server.alice.slash(server.channel, "history")

    assert shown(before) == "You: hello\nNono: Hello Alice."
    assert reset.ephemeral and shown(reset) == RESET_DONE
    assert after.ephemeral and shown(after) == "No messages yet."
    assert await chat.history(f"discord:channel:{server.channel.id}:person:{server.alice.id}") == []


async def test_history_is_private_and_only_the_askers(discord_server, fake_llm: FakeLLM):
    server = discord_server
    fake_llm.enqueue(["Answer one."])
    fake_llm.enqueue(["Answer two."])
    await server.alice.send(server.channel, f"<@{server.bot_id}> alice asks")
    await server.bob.send(server.channel, f"<@{server.bot_id}> bob asks")

    result = await server.bob.slash(server.channel, "history", count=1)

    assert result.ephemeral
    assert shown(result) == "Nono: Answer two."
    assert [m.content for m in server.channel.history(viewer=server.alice) if m.author.id == server.bot_id] == [
        "Answer one.",
        "Answer two.",
    ]


async def test_a_long_history_is_split_into_several_private_messages(discord_server, fake_llm: FakeLLM):
    server = discord_server
    for i in range(12):
        fake_llm.enqueue([f"Answer {i}: " + "long words here " * 12])
        await server.alice.send(server.channel, f"<@{server.bot_id}> question {i}: " + "padding text " * 14)

    result = await server.alice.slash(server.channel, "history", count=24)

    messages = [result.response, *result.followups]
    assert len(messages) >= 2 and all(len(m.content) <= 2000 and m.ephemeral for m in messages)
    assert shown(result).count("You: question") == 12


async def test_help_lists_every_command(simcord_env):
    result = await simcord_env.create_user("jane").slash("help")

    assert result.ephemeral
    assert all(f"/{name}" in shown(result) for name in COMMANDS)


@pytest.mark.discord_settings(discord_memory_scope="channel")
async def test_in_a_shared_channel_only_managers_may_switch_the_persona_or_reset(
    discord_server, fake_llm: FakeLLM, chat, registry, simcord_env
):
    server = discord_server
    fake_llm.enqueue(["Hello everyone."])
    await server.alice.send(server.channel, f"<@{server.bot_id}> hi all")

    persona = await server.bob.slash(server.channel, "persona", name="pirate")
    reset = await server.bob.slash(server.channel, "reset")

    assert persona.ephemeral and shown(persona) == MANAGERS_ONLY
    assert reset.ephemeral and shown(reset) == MANAGERS_ONLY
    assert [type(e.original) for e in simcord_env.errors] == [NotAllowed, NotAllowed]
    shared = f"discord:channel:{server.channel.id}"
    assert (await chat.get_persona(shared)).name == registry.default
    assert len(await chat.history(shared)) == 2


@pytest.mark.discord_settings(discord_memory_scope="channel")
async def test_a_manager_switches_a_shared_channels_persona_for_everyone_and_resets_it(
    discord_server, fake_llm: FakeLLM, chat, registry, simcord_env
):
    server = discord_server
    mods = server.guild.create_role("Mods", permissions=discord.Permissions(manage_guild=True))
    mia = server.guild.add_member(simcord_env.create_user("mia", global_name="Mia"), roles=[mods])
    fake_llm.enqueue(["Ahoy, crew!"])

    switched = await mia.slash(server.channel, "persona", name="pirate")
    await server.bob.send(server.channel, f"<@{server.bot_id}> hi all")
    bobs_view = await server.bob.slash(server.channel, "history")
    mias_view = await mia.slash(server.channel, "history")
    reset = await mia.slash(server.channel, "reset")

    assert shown(switched).startswith("Now speaking as Captain Nono (pirate).")
    assert fake_llm.history[0].system == registry.get("pirate").system_prompt
    assert shown(bobs_view) == "You: hi all\nNono: Ahoy, crew!"
    assert shown(mias_view) == "Bob: hi all\nNono: Ahoy, crew!"
    assert shown(reset) == RESET_DONE
    assert await chat.history(f"discord:channel:{server.channel.id}") == []


@pytest.mark.discord_settings(discord_guild_ids=[GUILD_ID])
async def test_commands_sync_to_the_development_guild_only(simcord_env):
    dev = simcord_env.create_guild("Dev", id=GUILD_ID)
    elsewhere = simcord_env.create_guild("Elsewhere")
    kim = simcord_env.create_user("kim")
    in_dev, outside = dev.add_member(kim), elsewhere.add_member(kim)
    dev_channel, other_channel = dev.create_text_channel("dev"), elsewhere.create_text_channel("general")

    assert set(in_dev.available_commands(dev_channel)) == set(COMMANDS)
    assert outside.available_commands(other_channel) == ()
    assert kim.available_commands() == ()  # not in DMs either: guild commands only
