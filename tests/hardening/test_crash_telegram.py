"""A crash mid-reply on Telegram: a real `nono run` (long polling), `kill -9`, a restart over the same store.

Alice asks in her private chat (the reply shows as a draft, which is not a message) and Bob in a
group (the reply is a real message, edited as it grows); the model writes a few words slowly and
then stalls, so the process dies with both replies on screen and their progress in the store.
Carol's reply has not got its first word when the process dies. The restarted process waits out
the dead owner's lease (TURN_LEASE) and ends each reply once, in place: the group's message is
edited into the restart note and the text it had; Alice, who had no message yet, gets one; Carol
is asked to ask again. The store holds each question with the partial answer, marked incomplete
and interrupted. A graceful restart and a start after it resolve nothing again.
Run on SQLite and on the real Redis.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from nono.core.models import Message
from nono.core.store.base import Store
from nono.core.store.redis_store import RedisStore
from nono.core.store.sqlite_store import SQLiteStore
from nono.core.wording import RESTARTED_NOTHING, RESTARTED_PARTIAL
from tests.conftest import REDIS_URL
from tests.fakes.ollama_server import DEFAULT_MODEL, running_ollama
from tests.fakes.telegram_server import BOT_USER, POSTING, TOKEN, FakeTelegram, running_telegram
from tests.support.nono_process import nono_env, start_logged, until
from tests.support.redis_server import free_port

pytestmark = pytest.mark.slow

ALICE, BOB, CAROL, GROUP = 1001, 1002, 1003, -1001234567890
ALICE_CHAT, BOB_CHAT, CAROL_CHAT = "telegram:1001", f"telegram:chat:{GROUP}:person:{BOB}", "telegram:1003"
#: Ten words 0.2 s apart, then the model stalls: the reply is still being written when the process dies.
STORY = ["Once"] + [f" upon{n}" for n in range(1, 10)]
PARTIAL = "".join(STORY)
NOTE = f"{RESTARTED_PARTIAL}\n\n{PARTIAL}"
TIMEOUT = 20.0


@asynccontextmanager
async def opened(tmp_path: Path, settings: dict[str, str]) -> AsyncIterator[Store]:
    """The store the nono processes share, opened by the test beside them."""
    store: Store
    if settings["STORE"] == "sqlite":
        store = SQLiteStore(tmp_path / "data" / "nono.sqlite3")
    else:
        store = RedisStore.from_url(settings["REDIS_URL"], prefix=settings["KEY_PREFIX"])
    try:
        yield store
    finally:
        await store.aclose()


async def progress_saved(store: Store) -> bool:
    """The three replies are recorded in flight with all the text the model wrote; Bob's with its message."""
    records = {orphan.record.conversation_id: orphan.record for orphan in await store.inflight.records()}
    alice, bob = records.get(ALICE_CHAT), records.get(BOB_CHAT)
    return bool(
        alice and bob and CAROL_CHAT in records
        and alice.progress.text == PARTIAL and bob.progress.text == PARTIAL and bob.progress.message_ids
    )  # fmt: skip


def typing_left_on(tg: FakeTelegram, chat_id: int, since: int) -> bool:
    """Whether a "typing…" sent after call `since` in the chat was never followed by a message (it would show)."""
    calls = [c for c in tg.calls[since:] if str(c.params.get("chat_id")) == str(chat_id)]
    typing = [i for i, c in enumerate(calls) if c.method == "sendChatAction"]
    if not typing:
        return False
    after = calls[typing[-1] + 1 :]
    return not any(c.method in ("sendMessage", "editMessageText") and c.ok for c in after)


async def turns(store: Store, conversation_id: str) -> list[tuple[str, str, dict]]:
    return [(m.role, m.content, _flags(m)) for m in await store.history(conversation_id, 20)]


def _flags(message: Message) -> dict:
    return {k: v for k, v in message.metadata.items() if k in ("incomplete", "interrupted")}


@pytest.fixture(params=["sqlite", "redis"])
def store_settings(request: pytest.FixtureRequest) -> dict[str, str]:
    """STORE, and on the shared Redis a KEY_PREFIX of this test's own (its keys are deleted afterwards)."""
    if request.param == "redis":
        return {"STORE": "redis", "REDIS_URL": REDIS_URL, "KEY_PREFIX": request.getfixturevalue("redis_prefix")}
    return {"STORE": "sqlite"}


async def test_a_reply_cut_by_kill_9_is_ended_once_in_place_after_the_restart(
    tmp_path: Path, store_settings: dict[str, str]
) -> None:
    logs = [tmp_path / f"nono-{n}.log" for n in range(3)]
    async with (
        running_ollama() as (ollama_url, ollama),
        running_telegram() as tg,
        opened(tmp_path, store_settings) as store,
    ):
        alice, bob, carol = tg.add_user(ALICE, "Alice"), tg.add_user(BOB, "Bob"), tg.add_user(CAROL, "Carol")
        group = tg.add_group(GROUP, "Nono Club")
        ollama.enqueue(STORY, delay=0.2, end="stall")
        ollama.enqueue(STORY, delay=0.2, end="stall")
        env = nono_env(
            tmp_path, **store_settings, OLLAMA_HOST=ollama_url, MODEL_NAME=DEFAULT_MODEL, SIDECAR_PORT=str(free_port()),
            TELEGRAM_TOKEN=TOKEN, TELEGRAM_BASE_URL=tg.base_url, TURN_LEASE="2", LOCK_LEASE="2",
            STREAM_EDIT_INTERVAL="0.2",
            PTB_TIMEDELTA="true",
        )  # fmt: skip
        process = await start_logged(tmp_path, env, logs[0])
        try:
            tg.say(alice, tg.chats[ALICE], "Tell me a story.")
            asked = tg.say(bob, group, f"@{BOT_USER['username']} Tell me a story too.")
            await tg.wait_for(lambda: len(ollama.chat_requests) == 2)
            ollama.enqueue([], end="stall")  # Carol's reply never gets its first word
            tg.say(carol, tg.chats[CAROL], "Are you there?")
            await until(lambda: progress_saved(store), "the three replies recorded in flight", logs[0])
            await tg.wait_for(lambda: tg.shown(GROUP) == [PARTIAL] and tg.drafts.get(ALICE, {}).get("text") == PARTIAL)
            [cut] = tg.bot_messages(GROUP)
            process.kill()  # a crash: nothing gets to tidy up
            await process.wait()
            crashed = len(tg.calls)

            process = await start_logged(tmp_path, env, logs[1])
            await tg.wait_for(lambda: tg.shown(ALICE) and tg.shown(CAROL) and tg.shown(GROUP) != [PARTIAL])
            await until(lambda: _settled(store), "the three turns stored", logs[1])
            ollama.enqueue(["Welcome", " back."])  # the line is free again: the next question is answered
            tg.say(alice, tg.chats[ALICE], "Are you back?")
            await tg.wait_for(lambda: "Welcome back." in tg.shown(ALICE))
            process.send_signal(signal.SIGTERM)  # a graceful stop is not a crash: nothing left to resolve
            assert await asyncio.wait_for(process.wait(), TIMEOUT) == 0, logs[1].read_text()
            stopped = len(tg.calls)

            process = await start_logged(tmp_path, env, logs[2])
            ollama.enqueue(["Still", " here."])
            tg.say(bob, group, f"@{BOT_USER['username']} Still there?")
            await tg.wait_for(lambda: "Still here." in tg.shown(GROUP))
            process.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(process.wait(), TIMEOUT) == 0, logs[2].read_text()
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        output = "\n".join(log.read_text() for log in logs if log.exists())
        assert_chats(tg, cut, asked, crashed, stopped, output)
        await assert_history(store, ollama.chat_requests)
        assert output.count('"event": "inflight_resolved"') == 3, output


def assert_chats(tg: FakeTelegram, cut: dict, asked: dict, crashed: int, stopped: int, output: str) -> None:
    """One resolution per reply, in place, and nothing else: no duplicate, no bare partial text, no typing left."""
    assert tg.shown(GROUP) == [NOTE, "Still here."], output
    assert tg.bot_messages(GROUP)[0]["message_id"] == cut["message_id"], "the cut message itself is edited"
    assert cut["reply_to_message"]["message_id"] == asked["message_id"]
    assert tg.shown(ALICE) == [NOTE, "Welcome back."], output
    assert tg.shown(CAROL) == [RESTARTED_NOTHING], output
    assert not any(typing_left_on(tg, chat_id, crashed) for chat_id in (ALICE, CAROL, GROUP)), output
    # Nothing is resolved twice: after the graceful stop, only Bob's new answer is written.
    after_stop = [c for c in tg.calls[stopped:] if c.method in POSTING and c.method != "sendChatAction"]
    assert {str(c.params["chat_id"]) for c in after_stop} == {str(GROUP)}, output
    assert [c.method for c in after_stop].count("sendMessage") == 1, output
    assert all(str(c.params.get("message_id")) != str(cut["message_id"]) for c in after_stop), output


async def assert_history(store: Store, chat_requests: list[dict]) -> None:
    """Each cut turn is stored once, with what it had, marked incomplete and interrupted; the model reads it."""
    assert await store.inflight.records() == []
    interrupted = {"incomplete": True, "interrupted": True}
    assert await turns(store, ALICE_CHAT) == [
        ("user", "Tell me a story.", {}), ("assistant", PARTIAL, interrupted),
        ("user", "Are you back?", {}), ("assistant", "Welcome back.", {}),
    ]  # fmt: skip
    assert (await turns(store, BOB_CHAT))[:2] == [
        ("user", "Tell me a story too.", {}), ("assistant", PARTIAL, interrupted)
    ]  # fmt: skip
    assert await turns(store, CAROL_CHAT) == [("user", "Are you there?", {}), ("assistant", "", interrupted)]
    [welcomed] = [r for r in chat_requests if r["messages"][-1]["content"] == "Are you back?"]
    assert [m["content"] for m in welcomed["messages"][-3:]] == [
        "Tell me a story.", PARTIAL, "Are you back?"
    ], "the interrupted turn is part of what the model reads next"  # fmt: skip


async def _settled(store: Store) -> bool:
    return not await store.inflight.records() and len(await store.history(ALICE_CHAT, 20)) == 2
