"""When Nono answers on Discord, whom it remembers, and what users see when something fails."""

from __future__ import annotations

import asyncio

import pytest

from nono.core.llm.fake import FakeLLM
from nono.core.wording import MODEL_UNAVAILABLE


def _user_turns(prompt) -> list[str]:
    return [m.content for m in prompt.messages if m.role == "user"]


async def test_dm_conversation_remembers_the_first_exchange(simcord_env, fake_llm: FakeLLM):
    carol = simcord_env.create_user("carol")
    fake_llm.enqueue(["Nice to meet you, Carol."])
    fake_llm.enqueue(["Your name is Carol."])

    first = await carol.send_dm("My name is Carol.")
    second = await carol.send_dm("What is my name?")

    dm = carol.dm_channel.history()
    assert [(m.author.id == carol.id, m.content) for m in dm] == [
        (True, "My name is Carol."),
        (False, "Nice to meet you, Carol."),
        (True, "What is my name?"),
        (False, "Your name is Carol."),
    ]
    assert dm[1].reference.message_id == first.id and dm[3].reference.message_id == second.id
    contents = [(m.role, m.content) for m in fake_llm.history[1].messages[1:]]
    assert contents == [
        ("user", "My name is Carol."),
        ("assistant", "Nice to meet you, Carol."),
        ("user", "What is my name?"),
    ]


async def test_a_mention_is_answered_and_the_mention_is_not_in_the_prompt(discord_server, fake_llm: FakeLLM):
    fake_llm.enqueue(["Four."])

    asked = await discord_server.alice.send(discord_server.channel, f"<@{discord_server.bot_id}> what is 2+2?")

    [answer] = discord_server.bot_messages()
    assert answer.content == "Four."
    assert answer.reference.message_id == asked.id
    assert _user_turns(fake_llm.history[0]) == ["what is 2+2?"]


async def test_a_message_without_mention_is_ignored(discord_server, fake_llm: FakeLLM):
    await discord_server.alice.send(discord_server.channel, "just chatting with Bob")
    await discord_server.alice.send(discord_server.channel, "@everyone lunch?")

    assert discord_server.bot_messages() == []
    assert fake_llm.history == []


async def test_a_reply_to_nono_is_answered_but_a_reply_to_someone_else_is_not(discord_server, fake_llm: FakeLLM):
    server = discord_server
    fake_llm.enqueue(["Paris."])
    fake_llm.enqueue(["About two million people."])
    await server.alice.send(server.channel, f"<@{server.bot_id}> capital of France?")
    [paris] = server.bot_messages()

    bobs = await server.bob.send(server.channel, "I think it's Lyon")
    await server.alice.send(server.channel, "no, Bob", reply_to=bobs)
    await server.alice.send(server.channel, "how many people live there?", reply_to=paris)

    assert [m.content for m in server.bot_messages()] == ["Paris.", "About two million people."]
    # The answer replied to Alice's question: both come along as quoted context.
    assert _user_turns(fake_llm.history[1])[-1] == (
        "(Replying to:)\n> Alice: capital of France?\n> TestBot: Paris.\n\nhow many people live there?"
    )


async def test_bots_webhooks_and_itself_are_never_answered(discord_server, fake_llm: FakeLLM, simcord_env):
    server = discord_server
    other_bot = server.guild.add_member(simcord_env.create_user("helperbot", bot=True))
    hook = server.guild.create_webhook(server.channel, "news")

    await other_bot.send(server.channel, f"<@{server.bot_id}> hello fellow bot")
    await hook.send(f"<@{server.bot_id}> breaking news")

    assert server.bot_messages() == []
    assert fake_llm.history == []


async def test_a_listed_channel_gets_an_answer_to_every_message(discord_server, fake_llm: FakeLLM, restart_bot):
    server = discord_server
    lounge = server.guild.create_text_channel("ask-nono")
    await restart_bot(discord_channels=[lounge.id])
    fake_llm.enqueue(["Hello Alice!"])

    await server.alice.send(lounge, "hello")
    await server.alice.send(server.channel, "hello")  # not listed, not mentioned

    assert [m.content for m in server.bot_messages(lounge)] == ["Hello Alice!"]
    assert server.bot_messages() == []


@pytest.mark.chat_limits(max_message_chars=40)
async def test_a_user_error_gets_a_short_reply_and_the_next_message_works(simcord_env, fake_llm, chat):
    dave = simcord_env.create_user("dave")
    fake_llm.enqueue(["Short and sweet."])

    await dave.send_dm("x" * 41)
    await dave.send_dm("short one")

    replies = [m.content for m in dave.dm_channel.history() if m.author.id != dave.id]
    assert replies == [
        "Your message is 41 characters long; the limit is 40. Please shorten it or split it into several messages.",
        "Short and sweet.",
    ]
    assert [m.content for m in await chat.history(f"discord:{dave.id}")] == ["short one", "Short and sweet."]


async def test_a_model_failure_is_reported_and_nothing_is_stored(simcord_env, fake_llm: FakeLLM, chat):
    erin = simcord_env.create_user("erin")
    fake_llm.enqueue(["Half an ans"], error=RuntimeError("backend fell over"))
    fake_llm.enqueue(["A whole answer."])

    await erin.send_dm("question one")
    await erin.send_dm("question two")

    replies = [m.content for m in erin.dm_channel.history() if m.author.id != erin.id]
    assert replies == [
        "Half an ans",  # what had been shown stays; the error follows
        MODEL_UNAVAILABLE,
        "A whole answer.",
    ]
    assert [m.content for m in await chat.history(f"discord:{erin.id}")] == ["question two", "A whole answer."]


async def test_an_empty_mention_is_told_to_say_something(discord_server, fake_llm: FakeLLM):
    await discord_server.alice.send(discord_server.channel, f"<@{discord_server.bot_id}>   ")

    [answer] = discord_server.bot_messages()
    assert answer.content == "Your message is empty. Type something and I'll answer."
    assert fake_llm.history == []


async def test_typing_shows_while_waiting_for_the_first_words(simcord_env, fake_llm: FakeLLM):
    fred = simcord_env.create_user("fred")
    fake_llm.enqueue(["Let me think", " about that."], delay=0.2)

    await fred.send_dm("hard question")

    channel = f"/channels/{fred.dm_channel.id}"
    writes = [(r.method, r.path) for r in simcord_env.http_requests if r.path.startswith(channel)]
    assert writes[0] == ("POST", f"{channel}/typing")
    assert writes[1] == ("POST", f"{channel}/messages")


async def test_one_users_messages_are_answered_in_order(simcord_env, fake_llm: FakeLLM, post_together):
    gina = simcord_env.create_user("gina")
    dm = gina.dm_channel
    # Single-chunk answers: SimCord's clock cannot advance while a turn waits in the user's line.
    fake_llm.enqueue(["The first answer."])
    fake_llm.enqueue(["The second answer."])

    await post_together((dm.id, gina.id, "first question"), (dm.id, gina.id, "second question"))

    history = dm.history()
    asked = {m.content: m.id for m in history if m.author.id == gina.id}
    answers = [m for m in history if m.author.id != gina.id]
    assert [m.content for m in answers] == ["The first answer.", "The second answer."]
    assert [m.reference.message_id for m in answers] == [asked["first question"], asked["second question"]]
    # The second turn started only after the first was stored: its prompt holds the whole first exchange.
    assert [(m.role, m.content) for m in fake_llm.history[1].messages[1:]] == [
        ("user", "first question"),
        ("assistant", "The first answer."),
        ("user", "second question"),
    ]


async def test_different_users_are_answered_concurrently(discord_server, fake_llm, chat, post_together):
    server = discord_server
    bob_done = asyncio.Event()
    bob_id = f"discord:{server.bob.id}"
    chat.add_listener(lambda record: bob_done.set() if record.user_id == bob_id else None)
    # Alice's answer cannot finish before Bob's: answered one at a time, this would never settle.
    fake_llm.enqueue("Alice's answer.", wait_for=bob_done)
    fake_llm.enqueue(["Bob's answer."])

    await post_together(
        (server.channel.id, server.alice.id, f"<@{server.bot_id}> alice asks"),
        (server.channel.id, server.bob.id, f"<@{server.bot_id}> bob asks"),
    )

    assert [m.content for m in server.bot_messages()] == ["Bob's answer.", "Alice's answer."]
