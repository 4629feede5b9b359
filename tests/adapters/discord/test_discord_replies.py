"""Reply context: a message replying to another (anyone's) brings that message and its chain into the prompt."""

from __future__ import annotations

import logging

import pytest

from nono.core.chat import ChatService
from nono.core.llm.fake import FakeLLM


def _asked(prompt) -> str:
    """The new user message as the model received it (quoted context included)."""
    return prompt.messages[-1].content


async def _chain(server, *texts: str):
    """Alice and Bob take turns, each message replying to the one before; the last one returned."""
    previous = None
    for i, text in enumerate(texts):
        speaker = server.alice if i % 2 == 0 else server.bob
        previous = await speaker.send(server.channel, text, reply_to=previous)
    return previous


async def test_a_reply_to_another_users_message_quotes_it_with_its_author(
    discord_server, fake_llm: FakeLLM, chat: ChatService
):
    server = discord_server
    fake_llm.enqueue(["Yes, 3pm in Alice's office."])
    bobs = await server.bob.send(server.channel, f"The meeting moved to {server.alice.mention}'s office at 3pm")

    await server.alice.send(server.channel, f"<@{server.bot_id}> is that right?", reply_to=bobs)

    assert _asked(fake_llm.history[0]) == (
        "(Replying to:)\n> Bob: The meeting moved to @Alice's office at 3pm\n\nis that right?"
    )
    [asked, _] = await chat.history(f"discord:channel:{server.channel.id}:person:{server.alice.id}")
    assert asked.content == "is that right?"  # the quote was context, not something Alice said


@pytest.mark.discord_settings(discord_reply_chain_depth=2)
async def test_a_reply_chain_longer_than_the_depth_is_cut_at_the_depth(discord_server, fake_llm: FakeLLM):
    server = discord_server
    fake_llm.enqueue(["Three."])
    last = await _chain(server, "one", "two", "three")

    await server.bob.send(server.channel, f"<@{server.bot_id}> and next?", reply_to=last)

    assert _asked(fake_llm.history[0]) == "(Replying to:)\n> Bob: two\n> Alice: three\n\nand next?"


@pytest.mark.chat_limits(num_ctx=1024)
async def test_a_quote_too_big_for_the_budget_is_dropped_whole_and_the_turn_still_answers(
    discord_server, fake_llm: FakeLLM
):
    server = discord_server
    fake_llm.enqueue(["Here is my short answer."])
    huge = await server.bob.send(server.channel, "lorem ipsum " * 160)

    await server.alice.send(server.channel, f"<@{server.bot_id}> thoughts?", reply_to=huge)

    assert _asked(fake_llm.history[0]) == "thoughts?"
    assert "lorem" not in "".join(m.content for m in fake_llm.history[0].messages)
    assert [m.content for m in server.bot_messages()] == ["Here is my short answer."]


async def test_a_chain_beyond_the_cache_is_fetched_and_an_unreadable_message_ends_it(
    discord_server, fake_llm: FakeLLM, restart_bot, caplog: pytest.LogCaptureFixture
):
    server = discord_server
    first = await server.alice.send(server.channel, "the key is under the mat")
    second = await server.bob.send(server.channel, "which mat?", reply_to=first)
    await restart_bot()  # a fresh bot has none of these in its cache
    fake_llm.enqueue(["I couldn't read that far back."])
    fake_llm.enqueue(["The one at the front door."])
    server.env.inject_error("GET", f"/channels/{server.channel.id}/messages/{first.id}", status=403, code=50001)

    with caplog.at_level(logging.WARNING, logger="nono.adapters.discord.context"):
        await server.alice.send(server.channel, f"<@{server.bot_id}> you tell him", reply_to=second)
    await server.alice.send(server.channel, f"<@{server.bot_id}> please answer", reply_to=second)

    assert _asked(fake_llm.history[0]) == "(Replying to:)\n> Bob: which mat?\n\nyou tell him"
    assert [r.message for r in caplog.records] == ["discord_reply_context_skipped"]
    assert _asked(fake_llm.history[1]) == (
        "(Replying to:)\n> Alice: the key is under the mat\n> Bob: which mat?\n\nplease answer"
    )
    fetches = [r for r in server.env.http_requests if r.method == "GET" and r.path.endswith(f"/messages/{first.id}")]
    assert len(fetches) == 2
    assert len(server.bot_messages()) == 2
