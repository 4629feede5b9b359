"""In a group everyone shares (TELEGRAM_MEMORY_SCOPE=chat), only its administrators change the persona or /reset."""

from __future__ import annotations

import logging

import pytest

from nono.core.chat import ChatService
from nono.core.llm.fake import FakeLLM
from nono.core.people import Conversation, Speaker
from nono.core.wording import MANAGERS_ONLY, MANAGERS_UNKNOWN
from tests.fakes.telegram_server import FakeTelegram
from tests.support.telegram import ALICE, BOB, CAROL, GROUP

SHARED = {"telegram_memory_scope": "chat"}


@pytest.fixture
async def shared_group(tg: FakeTelegram, chat: ChatService, fake_llm: FakeLLM) -> Conversation:
    """The group's shared conversation with one exchange in it; Alice administers the group, Carol created it."""
    tg.set_member(GROUP, ALICE, "administrator")
    tg.set_member(GROUP, CAROL, "creator")
    conversation = Conversation(f"telegram:chat:{GROUP}", shared=True)
    fake_llm.enqueue("Hello everyone.")
    await chat.reply(conversation, "hello", speaker=Speaker.of(f"telegram:{ALICE}", "Alice"))
    return conversation


async def test_a_member_is_refused_and_nothing_changes(
    tg: FakeTelegram, telegram_bot, chat: ChatService, shared_group: Conversation
):
    bob, group = tg.users[BOB], tg.chats[GROUP]
    async with telegram_bot(**SHARED):
        tg.say(bob, group, "/persona")  # anyone may look at the personas
        keyboard = await tg.wait_for(lambda: next(iter(tg.bot_messages(GROUP)), None))
        tap = tg.press(bob, keyboard, "persona:pirate")
        await tg.wait_for(lambda: tg.queries[tap])
        tg.say(bob, group, "/reset")
        tg.say(bob, group, "/persona pirate")
        await tg.wait_for(lambda: len(tg.shown(GROUP)) == 3)

    assert tg.queries[tap] == {"text": MANAGERS_ONLY, "show_alert": True}
    assert tg.shown(GROUP)[1:] == [MANAGERS_ONLY, MANAGERS_ONLY]
    assert len(await chat.history(shared_group)) == 2, "the shared memory is intact"
    assert (await chat.get_persona(shared_group)).name == "assistant"
    assert len(tg.calls_to("getChatMember", GROUP)) == 1, "Telegram was asked once; the answer was remembered"


async def test_the_groups_administrators_switch_the_persona_and_reset(
    tg: FakeTelegram, telegram_bot, chat: ChatService, shared_group: Conversation
):
    group = tg.chats[GROUP]
    async with telegram_bot(**SHARED):
        tg.say(tg.users[ALICE], group, "/persona pirate")
        await tg.wait_for(lambda: tg.shown(GROUP))
        assert (await chat.get_persona(shared_group)).name == "pirate"
        tg.say(tg.users[CAROL], group, "/reset")
        await tg.wait_for(lambda: len(tg.shown(GROUP)) == 2)

    assert tg.shown(GROUP)[0].startswith("Now speaking as Captain Nono")
    assert tg.shown(GROUP)[1].startswith("Done")
    assert await chat.history(shared_group) == []


async def test_when_telegram_cannot_say_who_manages_the_group_nothing_changes_and_the_person_is_told_why(
    tg: FakeTelegram, telegram_bot, chat: ChatService, shared_group: Conversation, caplog: pytest.LogCaptureFixture
):
    tg.inject("getChatMember", 400, "Bad Request: CHAT_ADMIN_REQUIRED")
    caplog.set_level(logging.WARNING, "nono.adapters.telegram")
    async with telegram_bot(**SHARED):
        tg.say(tg.users[ALICE], tg.chats[GROUP], "/reset")
        await tg.wait_for(lambda: tg.shown(GROUP))

    assert tg.shown(GROUP) == [MANAGERS_UNKNOWN]
    assert len(await chat.history(shared_group)) == 2
    assert "telegram_manager_lookup_failed" in caplog.messages
