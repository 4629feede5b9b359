"""/remember, /memory, /forget, /export and /forget_me as a Discord user uses them, driven through SimCord.

The core runs for real on SQLite with the scripted LLM; its clock is the test's, so a /forget_me
confirmation can expire while its buttons are still on screen.
"""

from __future__ import annotations

import json

import discord
import pytest
import simcord

from nono.adapters.discord.memory import ERASE, EXPORT_SENT
from nono.core.chat import ChatLimits, ChatService
from nono.core.errors import InvalidInput, NotAllowed
from nono.core.llm.fake import FakeLLM
from nono.core.memory_commands import EXPORT_CAPTION, FORGET_ME_CANCELLED, PRIVATE_DATA_ONLY, MemoryCommands
from nono.core.people import Conversation
from nono.core.personal_data import CONFIRM_TTL, Erasure
from nono.core.personas import PersonaRegistry
from nono.core.wording import MANAGERS_ONLY
from tests.support.clock import ManualClock
from tests.support.discord import button_labels, shown

NO_SUMMARY = "No summary yet: our conversation still fits in what I read each time."
RESET_DONE = "Done: I've forgotten our conversation, its summary and the facts I remembered here."
EXPIRED = "That confirmation has expired or isn't yours. Send /forget_me again."


@pytest.fixture
def clock() -> ManualClock:
    """The core's clock, moved by the test alone (SimCord's virtual time drives discord.py's timers)."""
    return ManualClock(1_767_225_600.0)  # 2026-01-01


@pytest.fixture
def chat(
    sqlite_store, fake_llm: FakeLLM, registry: PersonaRegistry, limits: ChatLimits, clock: ManualClock
) -> ChatService:
    """The ChatService the bot under test uses, on the test's clock (overrides the shared one)."""
    return ChatService(sqlite_store, fake_llm, registry, limits, clock=clock)


def _facts_reached_the_model(fake_llm: FakeLLM, text: str) -> bool:
    return any(text in message.content for message in fake_llm.history[-1].messages)


async def _chatted_and_remembered(user: simcord.UserHandle, fake_llm: FakeLLM) -> None:
    """One DM exchange and one fact: something for /export and /forget_me to find."""
    fake_llm.enqueue(["What a lovely name."])
    await user.send_dm("my cat is called Whiskers")
    await user.slash("remember", text="I prefer short answers")


async def test_remember_memory_and_forget_in_a_dm(simcord_env, chat: ChatService, fake_llm: FakeLLM):
    tom = simcord_env.create_user("tom", global_name="Tom")

    first = await tom.slash("remember", text="I prefer short answers")
    second = await tom.slash("remember", text="My cat is called   Whiskers")
    fake_llm.enqueue(["Noted."])
    await tom.send_dm("hello")
    listed = await tom.slash("memory")
    forgot_one = await tom.slash("forget", which="1")
    after_one = await tom.slash("memory")
    forgot_all = await tom.slash("forget", which="all")

    assert first.ephemeral and shown(first) == "Noted as fact 1: I prefer short answers"
    assert shown(second) == "Noted as fact 2: My cat is called Whiskers"
    assert _facts_reached_the_model(fake_llm, "- My cat is called Whiskers")
    assert listed.ephemeral
    assert shown(listed) == "\n".join(
        ["Facts I remember here:", "1. I prefer short answers", "2. My cat is called Whiskers", "", NO_SUMMARY]
    )
    assert shown(forgot_one) == "Forgot fact 1."
    assert shown(after_one).splitlines()[:2] == ["Facts I remember here:", "1. My cat is called Whiskers"]
    assert shown(forgot_all) == "Forgot the one fact."
    assert (await chat.facts.view(Conversation.private_of(f"discord:{tom.id}"))).facts == []


async def test_forget_offers_the_facts_by_number_as_you_type(simcord_env):
    una = simcord_env.create_user("una")
    await una.slash("remember", text="I live in Lyon")
    await una.slash("remember", text="My cat is called Whiskers")

    everything = await una.autocomplete("forget", "which", "")
    narrowed = await una.autocomplete("forget", "which", "cat")

    assert [(c["name"], c["value"]) for c in everything] == [
        ("1. I live in Lyon", "1"),
        ("2. My cat is called Whiskers", "2"),
        ("all", "all"),
    ]
    assert [c["value"] for c in narrowed] == ["2"]


async def test_reset_forgets_the_facts_too(simcord_env):
    vera = simcord_env.create_user("vera")
    await vera.slash("remember", text="I prefer short answers")

    reset = await vera.slash("reset")
    listed = await vera.slash("memory")

    assert shown(reset) == RESET_DONE
    assert shown(listed).splitlines()[0] == "I don't remember any facts here yet. Add one with /remember TEXT."


@pytest.mark.discord_settings(discord_memory_scope="channel")
async def test_in_a_shared_channel_only_managers_change_what_it_remembers(
    discord_server, simcord_env, chat: ChatService
):
    server = discord_server
    mods = server.guild.create_role("Mods", permissions=discord.Permissions(manage_guild=True))
    mia = server.guild.add_member(simcord_env.create_user("mia"), roles=[mods])
    shared = Conversation(f"discord:channel:{server.channel.id}", shared=True)

    refused = await server.bob.slash(server.channel, "remember", text="Bob is the boss")
    kept_out = (await chat.facts.view(shared)).facts
    noted = await mia.slash(server.channel, "remember", text="We meet on Fridays")
    bobs_view = await server.bob.slash(server.channel, "memory")
    not_forgotten = await server.bob.slash(server.channel, "forget", which="all")

    assert refused.ephemeral and shown(refused) == MANAGERS_ONLY
    assert kept_out == []
    assert noted.ephemeral and shown(noted) == "Noted as fact 1: We meet on Fridays"
    assert shown(bobs_view).splitlines()[:2] == ["Facts I remember here:", "1. We meet on Fridays"]
    assert shown(not_forgotten) == MANAGERS_ONLY
    assert [f.text for f in (await chat.facts.view(shared)).facts] == ["We meet on Fridays"]
    assert [type(e.original) for e in simcord_env.errors] == [NotAllowed, NotAllowed]
    assert server.channel.history() == []  # every answer was for the asker only


@pytest.mark.parametrize(
    "scope",
    [
        pytest.param("person", marks=pytest.mark.discord_settings(discord_memory_scope="person")),
        pytest.param("channel", marks=pytest.mark.discord_settings(discord_memory_scope="channel")),
    ],
)
async def test_a_fact_remembered_in_a_dm_never_reaches_a_prompt_in_a_server(
    scope, discord_server, simcord_env, fake_llm: FakeLLM
):
    server = discord_server
    wendy = simcord_env.create_user("wendy")
    in_server = server.guild.add_member(wendy)
    await wendy.slash("remember", text="My secret word is papaya")

    fake_llm.enqueue(["Hi there."])
    await in_server.send(server.channel, f"<@{server.bot_id}> what is my secret word?")
    in_the_server = _facts_reached_the_model(fake_llm, "papaya")
    fake_llm.enqueue(["Papaya."])
    await wendy.send_dm("what is my secret word?")

    assert not in_the_server
    assert _facts_reached_the_model(fake_llm, "- My secret word is papaya")  # the DM's own prompt has it


async def test_export_in_a_dm_sends_the_file_there(simcord_env, fake_llm: FakeLLM):
    xavi = simcord_env.create_user("xavi")
    await _chatted_and_remembered(xavi, fake_llm)

    result = await xavi.slash("export")

    assert result.ephemeral and shown(result) == EXPORT_SENT
    [delivered] = [m for m in xavi.dm_channel.history() if m.attachments]
    [file] = delivered.attachments
    document = json.loads(await file.read())
    [conversation] = document["conversations"]
    assert delivered.content == EXPORT_CAPTION and not delivered.flags.ephemeral
    assert file.filename == f"nono-export-discord-{xavi.id}.json"
    assert document["person"] == f"discord:{xavi.id}"
    assert [m["content"] for m in conversation["messages"]] == ["my cat is called Whiskers", "What a lovely name."]
    assert [f["text"] for f in conversation["facts"]] == ["I prefer short answers"]


@pytest.mark.parametrize("command", ["export", "forget_me"])
async def test_personal_data_commands_are_refused_in_a_server(command, discord_server, simcord_env, fake_llm):
    server = discord_server
    ann = simcord_env.create_user("ann")
    in_server = server.guild.add_member(ann)
    await _chatted_and_remembered(ann, fake_llm)

    result = await in_server.slash(server.channel, command)

    assert result.ephemeral and shown(result) == PRIVATE_DATA_ONLY
    assert button_labels(result) == []
    assert [type(e.original) for e in simcord_env.errors] == [InvalidInput]
    assert server.channel.history() == []
    assert not any(m.attachments for m in ann.dm_channel.history())


async def test_forget_me_asks_first_and_cancel_erases_nothing(simcord_env, chat: ChatService, fake_llm: FakeLLM):
    yuki = simcord_env.create_user("yuki")
    await _chatted_and_remembered(yuki, fake_llm)

    asked = await yuki.slash("forget_me")
    question, buttons = shown(asked), button_labels(asked)
    await yuki.click(asked.response, label="Cancel")

    assert asked.ephemeral and question == MemoryCommands.forget_me_question(f"Press {ERASE}")
    assert buttons == [ERASE, "Cancel"]
    assert asked.response.content == FORGET_ME_CANCELLED and button_labels(asked) == []
    assert len(await chat.history(f"discord:{yuki.id}")) == 2


async def test_only_the_asker_can_press_forget_me(simcord_env, chat: ChatService, fake_llm: FakeLLM):
    zoe, eve = simcord_env.create_user("zoe"), simcord_env.create_user("eve")
    await _chatted_and_remembered(zoe, fake_llm)
    asked = await zoe.slash("forget_me")

    # The question is ephemeral in Zoe's DM: Discord shows it (and its buttons) to nobody else.
    with pytest.raises(simcord.SetupError):
        await eve.click(asked.response, label=ERASE)

    assert button_labels(asked) == [ERASE, "Cancel"]
    assert len(await chat.history(f"discord:{zoe.id}")) == 2


async def test_forget_me_confirmed_erases_everything_and_says_how_much(
    simcord_env, chat: ChatService, fake_llm: FakeLLM
):
    abe = simcord_env.create_user("abe")
    person = f"discord:{abe.id}"
    await _chatted_and_remembered(abe, fake_llm)

    asked = await abe.slash("forget_me")
    await abe.click(asked.response, label=ERASE)
    listed = await abe.slash("memory")

    assert asked.response.content == Erasure(conversations=1, messages=2, facts=1).describe()
    assert button_labels(asked) == []
    assert await chat.history(person) == []
    assert shown(listed).splitlines()[0] == "I don't remember any facts here yet. Add one with /remember TEXT."
    assert (await chat.personal_data.export(person))["conversations"] == []


async def test_an_expired_forget_me_confirmation_is_refused(
    simcord_env, chat: ChatService, fake_llm: FakeLLM, clock: ManualClock
):
    bea = simcord_env.create_user("bea")
    await _chatted_and_remembered(bea, fake_llm)
    asked = await bea.slash("forget_me")

    clock.now += CONFIRM_TTL + 1  # the core stops honouring it just before the buttons go
    await bea.click(asked.response, label=ERASE)

    assert asked.response.content == EXPIRED and button_labels(asked) == []
    assert [type(e) for e in simcord_env.errors] == [InvalidInput]  # the buttons' error handler answered it
    assert len(await chat.history(f"discord:{bea.id}")) == 2


async def test_unpressed_forget_me_buttons_go_when_the_confirmation_expires(simcord_env, fake_llm: FakeLLM):
    cid = simcord_env.create_user("cid")
    asked = await cid.slash("forget_me")
    question = shown(asked)

    await simcord_env.advance_time(CONFIRM_TTL + 1)

    assert button_labels(asked) == [] and shown(asked) == question
