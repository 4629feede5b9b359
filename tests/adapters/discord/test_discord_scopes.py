"""Which conversation a Discord message belongs to: DMs stay private, channels per person or shared, threads apart.

Every check is on what the model received (FakeLLM records each prompt) or what users see.
"""

from __future__ import annotations

import pytest

from nono.core.chat import ChatService
from nono.core.llm.fake import FakeLLM

CHANNEL_SCOPE = pytest.mark.discord_settings(discord_memory_scope="channel")


def _said(prompt) -> str:
    """Everything a prompt holds, system prompt included."""
    return "\n".join(m.content for m in prompt.messages)


def _turns(prompt) -> list[tuple[str, str]]:
    return [(m.role, m.content) for m in prompt.messages[1:]]


@pytest.mark.parametrize("scope", ["person", pytest.param("channel", marks=CHANNEL_SCOPE)])
async def test_a_secret_told_in_a_dm_never_reaches_a_channel_prompt_and_the_dm_keeps_it(
    discord_server, fake_llm: FakeLLM, scope: str
):
    server = discord_server
    for answer in ("I'll keep it safe.", "I can't share that here.", "Noted.", "Your code is swordfish."):
        fake_llm.enqueue([answer])

    await server.alice.send_dm("my door code is swordfish")
    await server.alice.send(server.channel, f"<@{server.bot_id}> what is my door code?")
    await server.bob.send(server.channel, f"<@{server.bot_id}> did Alice tell you her door code?")
    await server.alice.send_dm("what is my door code?")

    dm_1, channel_alice, channel_bob, dm_2 = fake_llm.history
    assert "swordfish" in _said(dm_1)
    assert "swordfish" not in _said(channel_alice) and "swordfish" not in _said(channel_bob)
    assert ("user", "my door code is swordfish") in _turns(dm_2)
    assert [m.content for m in server.bot_messages()] == ["I can't share that here.", "Noted."]


async def test_by_default_two_people_in_one_channel_have_separate_memories(
    discord_server, fake_llm: FakeLLM, chat: ChatService
):
    server = discord_server
    fake_llm.enqueue(["Hi Alice."])
    fake_llm.enqueue(["Hi Bob."])

    await server.alice.send(server.channel, f"<@{server.bot_id}> my secret is 1234")
    await server.bob.send(server.channel, f"<@{server.bot_id}> what is Alice's secret?")

    # A private-looking conversation: one person, so nobody is named in the prompt.
    assert _turns(fake_llm.history[1]) == [("user", "what is Alice's secret?")]
    place = f"discord:channel:{server.channel.id}"
    alices = await chat.history(f"{place}:person:{server.alice.id}")
    assert [m.content for m in alices] == ["my secret is 1234", "Hi Alice."]
    bobs = await chat.history(f"{place}:person:{server.bob.id}")
    assert [m.content for m in bobs] == ["what is Alice's secret?", "Hi Bob."]
    assert await chat.history(f"discord:{server.alice.id}") == []  # her DM conversation is untouched


@CHANNEL_SCOPE
async def test_channel_scope_shares_one_memory_and_names_each_speaker(discord_server, fake_llm, chat):
    server = discord_server
    fake_llm.enqueue(["Noted!"])
    fake_llm.enqueue(["Alice likes tea."])

    await server.alice.send(server.channel, f"<@{server.bot_id}> I like tea")
    await server.bob.send(server.channel, f"<@{server.bot_id}> what does Alice like?")

    assert _turns(fake_llm.history[1]) == [
        ("user", "Alice: I like tea"),
        ("assistant", "Noted!"),
        ("user", "Bob: what does Alice like?"),
    ]
    shared = await chat.history(f"discord:channel:{server.channel.id}")
    assert [(m.speaker_name, m.content) for m in shared if m.role == "user"] == [
        ("Alice", "I like tea"),
        ("Bob", "what does Alice like?"),
    ]


@CHANNEL_SCOPE
async def test_a_thread_is_its_own_conversation_and_the_answer_lands_in_it(discord_server, fake_llm: FakeLLM):
    server = discord_server
    thread = server.open_thread("planning", server.alice)
    fake_llm.enqueue(["Got it: the password is swordfish."])
    fake_llm.enqueue(["I don't know any password here."])
    fake_llm.enqueue(["The password is swordfish."])

    await server.alice.send(server.channel, f"<@{server.bot_id}> the password is swordfish")
    asked = await server.alice.send(thread, f"<@{server.bot_id}> what is the password?")
    await server.bob.send(server.channel, f"<@{server.bot_id}> what is the password?")

    assert "swordfish" not in _said(fake_llm.history[1])
    [in_thread] = server.bot_messages(thread)
    assert in_thread.content == "I don't know any password here."
    assert in_thread.reference.message_id == asked.id
    assert [m.content for m in server.bot_messages()] == [
        "Got it: the password is swordfish.",
        "The password is swordfish.",
    ]
