"""What users see while an answer streams: one reply message growing by paced edits, split past 2000
characters, never pinging anyone, and surviving Discord refusing a write."""

from __future__ import annotations

import itertools
import logging

import discord
import pytest

from nono.core.llm.fake import FakeLLM

INTERVAL = 1.0  # STREAM_EDIT_INTERVAL's default, which these tests run with


def _chunks(count: int) -> list[str]:
    return [f"word{i:02d}" if i == 0 else f" word{i:02d}" for i in range(count)]


def _long_reply_with_code() -> str:
    para = "Nono explains things in plain words, one step at a time, so that everyone can follow along. "
    intro = "\n\n".join(para * 3 for _ in range(5)) + "\n\n"
    code = "```python\n" + "\n".join(f"print('line {i:03d} of the example program')" for i in range(50)) + "\n```\n\n"
    outro = "\n\n".join(para * 3 for _ in range(4))
    return intro + code + outro


def _fences_balanced(text: str) -> bool:
    return sum(1 for line in text.split("\n") if line.startswith("```")) % 2 == 0


@pytest.mark.simcord(settle_timeout=30)
async def test_a_long_reply_with_code_arrives_as_three_well_formed_messages(discord_server, fake_llm: FakeLLM):
    server = discord_server
    reply = _long_reply_with_code()
    assert 4400 < len(reply) < 4700
    fake_llm.enqueue(reply)

    await server.alice.send(server.channel, f"<@{server.bot_id}> explain with an example")

    parts = [m.content for m in server.bot_messages()]
    assert len(parts) == 3
    assert all(len(part) <= 2000 and _fences_balanced(part) for part in parts)
    # The code block was cut between two lines: closed by a fence on its own line at the end of one
    # message, reopened with its language at the start of the next. Without those, nothing is lost.
    cut = next(i for i, part in enumerate(parts) if part.endswith("\n```"))
    assert parts[cut + 1].startswith("```python\nprint(")
    parts[cut] = parts[cut].removesuffix("```")
    parts[cut + 1] = parts[cut + 1].removeprefix("```python\n")
    assert "".join(parts) == reply


@pytest.mark.simcord(settle_timeout=30)
async def test_a_streamed_reply_is_edited_at_a_paced_rate_and_ends_complete(discord_server, fake_llm, discord_edits):
    server = discord_server
    chunks, delay = _chunks(30), 0.1
    fake_llm.enqueue(chunks, delay=delay)
    duration = len(chunks) * delay  # ~3 s of streaming

    await server.alice.send(server.channel, f"<@{server.bot_id}> tell me a long story")

    [answer] = server.bot_messages()
    full = "".join(chunks)
    assert answer.content == full
    edits = [e for e in discord_edits if e.message_id == answer.id]
    assert 2 <= len(edits) <= duration / INTERVAL + 1
    assert edits[-1].content == answer.content  # the last edit carries the complete text
    assert all(full.startswith(e.content) for e in edits)  # the text only ever grows
    gaps = [(b.at - a.at).total_seconds() for a, b in itertools.pairwise(edits)]
    assert all(gap >= INTERVAL - 1e-3 for gap in gaps)


@pytest.mark.simcord(settle_timeout=30)
async def test_two_replies_streaming_in_one_channel_share_its_edit_budget(
    discord_server, fake_llm, discord_edits, post_together
):
    server = discord_server
    for _ in range(2):
        fake_llm.enqueue(_chunks(30), delay=0.1)

    await post_together(
        (server.channel.id, server.alice.id, f"<@{server.bot_id}> story for Alice"),
        (server.channel.id, server.bob.id, f"<@{server.bot_id}> story for Bob"),
    )

    answers = server.bot_messages()
    assert [m.content for m in answers] == ["".join(_chunks(30))] * 2
    edits = sorted((e for e in discord_edits if e.channel_id == server.channel.id), key=lambda e: e.at)
    assert {e.message_id for e in edits} == {m.id for m in answers}  # both were edited...
    gaps = [(b.at - a.at).total_seconds() for a, b in itertools.pairwise(edits)]
    assert all(gap >= INTERVAL - 1e-3 for gap in gaps)  # ...but never faster than one edit per interval
    span = (edits[-1].at - edits[0].at).total_seconds()
    assert len(edits) <= span / INTERVAL + 1


@pytest.mark.simcord(settle_timeout=30)
async def test_a_busy_channel_does_not_slow_another(discord_server, fake_llm, discord_edits, post_together):
    server = discord_server
    other = server.guild.create_text_channel("random")
    for _ in range(2):
        fake_llm.enqueue(_chunks(20), delay=0.1)

    await post_together(
        (server.channel.id, server.alice.id, f"<@{server.bot_id}> story one"),
        (other.id, server.bob.id, f"<@{server.bot_id}> story two"),
    )

    first_edit = {}
    for edit in sorted(discord_edits, key=lambda e: e.at):
        first_edit.setdefault(edit.channel_id, edit.at)
    # Each channel got its first edit one interval after its own first message, at the same moment.
    assert first_edit[server.channel.id] == first_edit[other.id]


async def test_model_text_never_pings_anyone(discord_server, fake_llm: FakeLLM, simcord_env):
    server = discord_server
    mods = server.guild.create_role("Mods", mentionable=True)
    fake_llm.enqueue(f"Hey @everyone and @here! Paging <@&{mods.id}> and <@{server.bob.id}>.")

    await server.alice.send(server.channel, f"<@{server.bot_id}> announce it")

    [answer] = server.bot_messages()
    assert "@everyone" in answer.content and f"<@{server.bob.id}>" in answer.content
    assert answer.mention_everyone is False
    # SimCord's record of who was notified: only Alice, through the reply to her own message.
    notified = simcord_env.backend.get_message(server.channel.id, answer.id)
    assert notified.ping_user_ids == [server.alice.id]
    assert notified.ping_role_ids == []
    # Control: the same mentions do notify when a person allowed to ping everyone writes them.
    heralds = server.guild.create_role("Heralds", permissions=discord.Permissions(mention_everyone=True))
    herald = server.guild.add_member(simcord_env.create_user("herald"), roles=[heralds])
    shout = await herald.send(server.channel, f"@everyone <@&{mods.id}>")
    shouted = simcord_env.backend.get_message(server.channel.id, shout.id)
    assert shouted.mention_everyone is True and shouted.ping_role_ids == [mods.id]


async def test_a_channel_nono_may_not_write_in_is_left_alone(discord_server, fake_llm: FakeLLM, caplog):
    server = discord_server
    quiet = server.guild.create_text_channel(
        "quiet", overwrites={server.guild.me: discord.PermissionOverwrite(send_messages=False)}
    )
    fake_llm.enqueue("Still here.")

    with caplog.at_level(logging.WARNING):
        await server.alice.send(quiet, f"<@{server.bot_id}> hello?")
    await server.alice.send(server.channel, f"<@{server.bot_id}> hello?")

    assert server.bot_messages(quiet) == []
    assert [m.content for m in server.bot_messages()] == ["Still here."]
    assert len(fake_llm.history) == 1  # no model call was spent on the channel it cannot answer in
    assert any(r.message == "discord_cannot_send" for r in caplog.records)


async def test_a_refused_post_is_logged_and_the_next_message_works(simcord_env, fake_llm: FakeLLM, caplog):
    hank = simcord_env.create_user("hank")
    fake_llm.enqueue(["Lost answer."])
    fake_llm.enqueue(["Second answer."])
    simcord_env.inject_error("POST", "/channels/*/messages", status=403, code=50013, message="Missing Permissions")

    with caplog.at_level(logging.WARNING):
        await hank.send_dm("first")
    await hank.send_dm("second")

    assert [m.content for m in hank.dm_channel.history() if m.author.id != hank.id] == ["Second answer."]
    failures = [r for r in caplog.records if r.message == "discord_write_failed"]
    assert [(r.status, r.code) for r in failures] == [(403, 50013)]


@pytest.mark.simcord(settle_timeout=30)
async def test_a_reply_deleted_while_streaming_stops_cleanly(simcord_env, fake_llm: FakeLLM, chat, caplog):
    ivy = simcord_env.create_user("ivy")
    fake_llm.enqueue(_chunks(30), delay=0.1)
    fake_llm.enqueue(["Next answer."])
    simcord_env.inject_error("PATCH", "/channels/*/messages/*", status=404, code=10008, message="Unknown Message")

    with caplog.at_level(logging.WARNING):
        await ivy.send_dm("long one")
    await ivy.send_dm("short one")

    replies = [m.content for m in ivy.dm_channel.history() if m.author.id != ivy.id]
    assert replies == ["word00", "Next answer."]  # the first edit failed: nothing more was written there
    stored = await chat.history(f"discord:{ivy.id}")
    assert stored[1].incomplete and "".join(_chunks(30)).startswith(stored[1].content)
    assert [m.content for m in stored[2:]] == ["short one", "Next answer."]
    assert [r.status for r in caplog.records if r.message == "discord_write_failed"] == [404]
