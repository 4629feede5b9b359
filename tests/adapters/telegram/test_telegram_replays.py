"""Replayed updates: an update Telegram sends again is acknowledged and answered once.

Through the webhook route, by polling after a crash, after a restart over the same SQLite file,
and with two Applications (two processes' worth) on one Redis. Each test ends by sending a fresh
update from the same person and waiting for its answer: a conversation's updates are handled in
order, so by then every replay before it has been dealt with.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from pathlib import Path

import pytest

from nono.adapters import telegram
from nono.adapters.http import create_sidecar_app
from nono.bot.options import http_options, telegram_options
from nono.core.chat import ChatService
from nono.core.llm.fake import FakeLLM
from nono.core.personas import PersonaRegistry
from nono.core.store.redis_store import RedisStore
from nono.core.store.sqlite_store import SQLiteStore
from nono.core.wording import STORE_UNAVAILABLE
from tests.conftest import REDIS_URL
from tests.fakes.telegram_server import FakeTelegram
from tests.support.telegram import ALICE

WEBHOOK = {
    "telegram_webhook_url": "https://bot.example.org/telegram/webhook",
    "telegram_webhook_secret": "s3cret-Token_42",
    "admin_token": "webhook-mode-admin-token",  # webhook mode requires one
}
HEADER = {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK["telegram_webhook_secret"]}


def asked(llm: FakeLLM) -> list[str]:
    """The newest user message of every prompt the model was given."""
    return [prompt.messages[-1].content for prompt in llm.history]


async def test_an_update_posted_three_times_to_the_webhook_is_answered_once(
    tg: FakeTelegram, telegram_bot, telegram_settings, chat: ChatService, fake_llm: FakeLLM, aiohttp_client,
    caplog: pytest.LogCaptureFixture,
):  # fmt: skip
    caplog.set_level(logging.INFO, "nono")
    fake_llm.enqueue("First answer.")
    fake_llm.enqueue("Second answer.")
    async with telegram_bot(**WEBHOOK) as part:
        options = http_options(telegram_settings(**WEBHOOK))
        client = await aiohttp_client(create_sidecar_app(chat, options, parts=[part], telegram_feed=part.feed))
        update = tg.make_update(tg.users[ALICE], tg.chats[ALICE], "hello")
        statuses = []
        for _ in range(3):
            async with client.post("/telegram/webhook", json=update, headers=HEADER) as posted:
                statuses.append(posted.status)
        fresh = tg.make_update(tg.users[ALICE], tg.chats[ALICE], "and now?")
        await client.post("/telegram/webhook", json=fresh, headers=HEADER)
        await tg.wait_for(lambda: len(tg.shown(ALICE)) == 2)

    assert statuses == [200, 200, 200], "a replay is acknowledged, so Telegram stops sending it"
    assert tg.shown(ALICE) == ["First answer.", "Second answer."]
    assert asked(fake_llm) == ["hello", "and now?"]
    replayed = [r for r in caplog.records if r.getMessage() == "event_replayed"]
    assert [r.event_id for r in replayed] == [f"telegram:update:{tg.bot['id']}:{update['update_id']}"] * 2


async def test_an_update_polled_again_after_a_crash_is_not_answered_again(
    tg: FakeTelegram, telegram_bot, fake_llm: FakeLLM
):
    fake_llm.enqueue("First answer.")
    fake_llm.enqueue("Second answer.")
    async with telegram_bot():
        update = tg.push({"message": tg.user_message(tg.users[ALICE], tg.chats[ALICE], "hello")})
        await tg.wait_for(lambda: tg.shown(ALICE))
    # The process died before getUpdates confirmed the offset: Telegram hands the update out again.
    tg.updates.append(copy.deepcopy(update))
    async with telegram_bot():
        tg.say(tg.users[ALICE], tg.chats[ALICE], "and now?")
        await tg.wait_for(lambda: len(tg.shown(ALICE)) == 2)

    assert tg.shown(ALICE) == ["First answer.", "Second answer."]
    assert asked(fake_llm) == ["hello", "and now?"]


async def test_a_replay_after_a_restart_over_the_same_sqlite_file_is_not_answered(
    tg: FakeTelegram, telegram_bot, telegram_settings, fake_llm: FakeLLM, registry: PersonaRegistry, tmp_path: Path
):
    fake_llm.enqueue("First answer.")
    fake_llm.enqueue("Second answer.")
    update = tg.make_update(tg.users[ALICE], tg.chats[ALICE], "hello")
    async with telegram_bot(**WEBHOOK) as part:  # on the `chat` fixture: SQLite at tmp_path/nono.sqlite3
        await part.feed(update)
        await tg.wait_for(lambda: tg.shown(ALICE))

    store = SQLiteStore(tmp_path / "nono.sqlite3")  # the next process: a new store over the same file
    try:
        restarted = ChatService(store, fake_llm, registry)
        async with telegram.running(restarted, telegram_options(telegram_settings(**WEBHOOK))) as part:
            await part.feed(update)
            await part.feed(tg.make_update(tg.users[ALICE], tg.chats[ALICE], "and now?"))
            await tg.wait_for(lambda: len(tg.shown(ALICE)) == 2)
    finally:
        await store.aclose()

    assert tg.shown(ALICE) == ["First answer.", "Second answer."]
    assert asked(fake_llm) == ["hello", "and now?"]


async def test_two_applications_on_one_redis_answer_an_update_once(
    tg: FakeTelegram, telegram_settings, fake_llm: FakeLLM, registry: PersonaRegistry, redis_prefix: str
):
    stores = [RedisStore.from_url(REDIS_URL, prefix=redis_prefix) for _ in range(2)]
    options = telegram_options(telegram_settings(**WEBHOOK))
    for text in ("First answer.", "Second answer.", "Third answer."):
        fake_llm.enqueue(text)
    update = tg.make_update(tg.users[ALICE], tg.chats[ALICE], "hello")
    try:
        async with (
            telegram.running(ChatService(stores[0], fake_llm, registry), options) as one,
            telegram.running(ChatService(stores[1], fake_llm, registry), options) as other,
        ):
            # Telegram retried a delivery that one worker was still handling; a load balancer sent it elsewhere.
            await asyncio.gather(one.feed(update), other.feed(update))
            await tg.wait_for(lambda: tg.shown(ALICE))
            # Each worker has dealt with its copy once its next update from Alice is answered.
            await one.feed(tg.make_update(tg.users[ALICE], tg.chats[ALICE], "and now?"))
            await tg.wait_for(lambda: len(tg.shown(ALICE)) == 2)
            await other.feed(tg.make_update(tg.users[ALICE], tg.chats[ALICE], "and now?"))
            await tg.wait_for(lambda: len(tg.shown(ALICE)) == 3)
    finally:
        for store in stores:
            await store.aclose()

    assert tg.shown(ALICE) == ["First answer.", "Second answer.", "Third answer."]
    assert asked(fake_llm) == ["hello", "and now?", "and now?"]


async def test_when_the_store_cannot_tell_the_update_is_let_through(
    tg: FakeTelegram, telegram_settings, fake_llm: FakeLLM, registry: PersonaRegistry, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
):  # fmt: skip
    caplog.set_level(logging.WARNING, "nono")
    (tmp_path / "unreadable.sqlite3").mkdir()  # a directory where the file should be: every store call fails
    store = SQLiteStore(tmp_path / "unreadable.sqlite3")
    try:
        chat = ChatService(store, fake_llm, registry)
        async with telegram.running(chat, telegram_options(telegram_settings(**WEBHOOK))) as part:
            await part.feed(tg.make_update(tg.users[ALICE], tg.chats[ALICE], "hello"))
            await tg.wait_for(lambda: tg.shown(ALICE))
    finally:
        await store.aclose()

    # Answering twice beats never answering: the person hears that memory is down, not nothing.
    assert tg.shown(ALICE) == [STORE_UNAVAILABLE]
    assert any(r.getMessage() == "replay_check_skipped" for r in caplog.records)
