"""A turn through ChatService: what gets sent to the model, what gets stored, and what the user hears."""

from __future__ import annotations

import asyncio

import pytest

from nono.core.chat import ChatLimits, ChatService
from nono.core.errors import (
    EmptyMessage,
    InvalidUserId,
    MessageTooLong,
    ModelUnavailable,
    StoreUnavailable,
    UnknownPersona,
    UserFacingError,
)

USER = "terminal:alice"


async def collect(reply) -> list[str]:
    async with reply:
        return [chunk async for chunk in reply]


async def test_reply_streams_in_chunks_and_stores_both_messages(store, fake_llm, registry):
    chat = ChatService(store, fake_llm, registry)
    fake_llm.enqueue(["Hel", "lo ", "there"])

    chunks = await collect(chat.stream(USER, "hi"))

    assert chunks == ["Hel", "lo ", "there"]
    history = await chat.history(USER)
    assert [(m.role, m.content) for m in history] == [("user", "hi"), ("assistant", "Hello there")]
    assert history[1].metadata["persona"] == "assistant"
    session = await chat.session(USER)
    assert session.message_count == 2 and session.persona == "assistant"


async def test_second_turn_prompt_contains_the_first_exchange(store, fake_llm, registry):
    chat = ChatService(store, fake_llm, registry)
    fake_llm.enqueue("Nice to meet you, Bob.")
    fake_llm.enqueue("You are Bob.")
    await chat.reply(USER, "My name is Bob.")
    await chat.reply(USER, "What is my name?")

    prompt = fake_llm.history[1].messages
    assert [(m.role, m.content) for m in prompt] == [
        ("system", registry.get("assistant").system_prompt),
        ("user", "My name is Bob."),
        ("assistant", "Nice to meet you, Bob."),
        ("user", "What is my name?"),
    ]


async def test_persona_switch_changes_system_prompt_and_options_but_keeps_memory(chat, fake_llm, registry):
    fake_llm.enqueue("first")
    await chat.reply(USER, "hello")
    await chat.set_persona(USER, "pirate")
    fake_llm.enqueue("Arr")
    reply = await chat.reply(USER, "again")

    sent = fake_llm.history[1]
    pirate = registry.get("pirate")
    assert sent.system == pirate.system_prompt
    assert sent.options.temperature == pirate.temperature and sent.options.max_tokens == pirate.max_tokens
    assert [m.content for m in sent.messages[1:]] == ["hello", "first", "again"]
    assert reply.persona.name == "pirate"


async def test_persona_model_override_and_top_p_reach_the_backend(chat, fake_llm):
    await chat.set_persona(USER, "engineer")
    fake_llm.enqueue("ok")
    await chat.reply(USER, "q")
    assert fake_llm.history[0].options.top_p == 0.9


async def test_unknown_persona_lists_valid_names_and_changes_nothing(chat):
    with pytest.raises(UnknownPersona) as info:
        await chat.set_persona(USER, "../../etc/passwd")
    assert "assistant" in str(info.value) and "pirate" in str(info.value)
    assert await chat.session(USER) is None


@pytest.mark.parametrize("text", ["", "   ", "\n\t", "\x00\x00"])
async def test_empty_message_gets_a_hint_and_nothing_happens(chat, fake_llm, text):
    with pytest.raises(EmptyMessage) as info:
        await chat.reply(USER, text)
    assert "empty" in str(info.value)
    assert fake_llm.history == [] and await chat.history(USER) == []


async def test_too_long_message_is_refused_with_the_limit(sqlite_store, fake_llm, registry):
    chat = ChatService(sqlite_store, fake_llm, registry, ChatLimits(max_message_chars=100))
    with pytest.raises(MessageTooLong) as info:
        await chat.reply(USER, "x" * 101)
    assert "100" in str(info.value)
    assert fake_llm.history == [] and await chat.history(USER) == []


async def test_nul_bytes_and_lone_surrogates_are_cleaned_not_fatal(chat, fake_llm):
    fake_llm.enqueue("fine")
    await chat.reply(USER, "a\x00b \ud800 c")
    stored = (await chat.history(USER))[0].content
    assert "\x00" not in stored and stored.startswith("ab ")
    stored.encode("utf-8")  # storable and sendable everywhere


@pytest.mark.parametrize("user_id", ["", "alice", "discord: 12", "x" * 200, "tele\x00gram:1", "discord:\n1"])
async def test_invalid_user_ids_are_refused_and_never_stored(chat, fake_llm, user_id):
    with pytest.raises(InvalidUserId):
        await chat.reply(user_id, "hello")
    with pytest.raises(InvalidUserId):
        await chat.set_persona(user_id, "pirate")
    assert fake_llm.history == []
    assert await chat.active_page() == ([], 0)


async def test_llm_failure_mid_stream_stores_nothing(store, fake_llm, registry):
    chat = ChatService(store, fake_llm, registry)
    fake_llm.enqueue(["partial ", "answer"], error=ModelUnavailable())
    reply = chat.stream(USER, "hi")
    got = []
    with pytest.raises(ModelUnavailable):
        async with reply:
            async for chunk in reply:
                got.append(chunk)
    assert got == ["partial ", "answer"]
    assert await chat.history(USER) == []


async def test_unexpected_backend_exception_becomes_model_unavailable(chat, fake_llm):
    fake_llm.enqueue(["x"], error=RuntimeError("segfault-ish"))
    with pytest.raises(ModelUnavailable) as info:
        await chat.reply(USER, "hi")
    assert "try again" in str(info.value)
    assert await chat.history(USER) == []


async def test_reply_stopped_by_the_reader_is_stored_marked_incomplete(chat, fake_llm):
    fake_llm.enqueue(["one ", "two ", "three"])
    reply = chat.stream(USER, "count")
    async with reply:
        async for _ in reply:
            break  # the user pressed stop after the first chunk
    history = await chat.history(USER)
    assert [m.content for m in history] == ["count", "one "]
    assert history[1].incomplete and reply.incomplete


async def test_cancelled_turn_keeps_the_partial_reply_marked_incomplete(chat, fake_llm):
    hold = asyncio.Event()
    fake_llm.enqueue(["started ", "never read"])
    got_first = asyncio.Event()

    async def run():
        reply = chat.stream(USER, "go")
        async with reply:
            async for _ in reply:
                got_first.set()
                await hold.wait()

    task = asyncio.create_task(run())
    await got_first.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    history = await chat.history(USER)
    assert [m.content for m in history] == ["go", "started "]
    assert history[1].incomplete


async def test_reply_capped_at_max_reply_chars_is_marked_incomplete(sqlite_store, fake_llm, registry):
    chat = ChatService(sqlite_store, fake_llm, registry, ChatLimits(max_reply_chars=100))
    fake_llm.enqueue(["x" * 60, "y" * 60, "z" * 60])
    reply = await chat.reply(USER, "talk forever")
    assert reply.text == "x" * 60 + "y" * 40
    assert reply.incomplete and (await chat.history(USER))[1].incomplete


class _DownStore:
    """A store whose server is gone: every call raises the store error contract."""

    lines = None  # one process's store (the shared lines fail the same way: tests/core/test_shared_lines.py)

    def __getattr__(self, name):
        async def fail(*args, **kwargs):
            raise StoreUnavailable()

        return fail


async def test_store_down_gives_a_clear_error_and_no_model_call(fake_llm, registry):
    chat = ChatService(_DownStore(), fake_llm, registry)
    with pytest.raises(StoreUnavailable) as info:
        await chat.reply(USER, "hi")
    assert "temporarily unavailable" in str(info.value)
    assert fake_llm.history == []


async def test_listeners_hear_each_turn_outcome(chat, fake_llm):
    records = []
    chat.add_listener(records.append)
    fake_llm.enqueue("ok reply")
    await chat.reply(USER, "hi")
    with pytest.raises(EmptyMessage):
        await chat.reply(USER, " ")
    assert [(r.platform, r.outcome, r.error) for r in records] == [
        ("terminal", "ok", None),
        ("terminal", "error", "empty_message"),
    ]
    assert records[0].chars == len("ok reply") and records[0].time_to_first_token is not None


async def test_a_broken_listener_does_not_break_the_turn(chat, fake_llm):
    chat.add_listener(lambda record: 1 / 0)
    fake_llm.enqueue("still fine")
    assert (await chat.reply(USER, "hi")).text == "still fine"


async def test_a_removed_listener_is_no_longer_called(chat, fake_llm):
    removed, kept = [], []
    chat.add_listener(removed.append)
    chat.add_listener(kept.append)
    fake_llm.enqueue("first")
    await chat.reply(USER, "hi")
    chat.remove_listener(removed.append)
    chat.remove_listener(removed.append)  # already gone: ignored
    fake_llm.enqueue("second")
    await chat.reply(USER, "again")
    assert len(removed) == 1 and len(kept) == 2


async def test_a_listener_removing_itself_mid_turn_does_not_hide_the_turn_from_the_next(chat, fake_llm):
    heard = []

    def once(record) -> None:
        chat.remove_listener(once)
        heard.append(("once", record.outcome))

    chat.add_listener(once)
    chat.add_listener(lambda record: heard.append(("always", record.outcome)))
    for text in ("one", "two"):
        fake_llm.enqueue("ok")
        await chat.reply(USER, text)
    assert heard == [("once", "ok"), ("always", "ok"), ("always", "ok")]


async def test_reset_forgets_history_and_persona(chat, fake_llm):
    await chat.set_persona(USER, "pirate")
    fake_llm.enqueue("Arr")
    await chat.reply(USER, "hi")
    assert await chat.reset(USER) is True
    assert await chat.history(USER) == []
    assert (await chat.get_persona(USER)).name == "assistant"
    assert await chat.reset(USER) is False


async def test_active_sessions_leave_after_timeout_but_memory_stays(sqlite_store, fake_llm, registry):
    now = [1000.0]
    chat = ChatService(sqlite_store, fake_llm, registry, ChatLimits(session_timeout=60), clock=lambda: now[0])
    await chat.set_persona("rest:a", "pirate")
    fake_llm.enqueue("hi")
    await chat.reply("rest:b", "hello")
    assert [s.user_id for s in (await chat.active_page()).sessions] == ["rest:b", "rest:a"]
    now[0] += 61
    assert await chat.active_page() == ([], 0) and await chat.count_active() == 0
    assert (await chat.get_persona("rest:a")).name == "pirate"
    assert len(await chat.history("rest:b")) == 2


async def test_shutdown_lets_quick_turns_finish_and_stores_slow_ones_marked_incomplete(chat, fake_llm):
    fake_llm.enqueue(["quick ", "answer"], delay=0.01)
    never = asyncio.Event()
    fake_llm.enqueue(["slow ", "start"])
    slow_first = asyncio.Event()

    async def slow():
        reply = chat.stream("rest:slow", "take your time")
        async with reply:
            async for _ in reply:
                slow_first.set()
                await never.wait()  # the platform is slow to take the next chunk

    quick = asyncio.create_task(chat.reply("rest:quick", "hi"))
    slow_task = asyncio.create_task(slow())
    await slow_first.wait()
    await chat.shutdown(grace=0.5)

    assert (await quick).text == "quick answer"
    assert slow_task.cancelled()
    stored = await chat.history("rest:slow")
    assert [m.content for m in stored] == ["take your time", "slow "] and stored[1].incomplete
    with pytest.raises(UserFacingError, match="restarting"):
        await chat.reply("rest:late", "hello?")
