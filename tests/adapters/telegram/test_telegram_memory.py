"""/remember, /memory, /forget, /export and /forget_me on Telegram: facts per conversation, personal data in private."""

from __future__ import annotations

import dataclasses
import gzip
import json
import secrets
import time
from typing import Any

import pytest

from nono.adapters import telegram
from nono.bot.options import telegram_options
from nono.core.chat import ChatLimits, ChatService
from nono.core.llm.fake import FakeLLM
from nono.core.memory_commands import (
    EXPORT_CAPTION,
    EXPORT_COMPRESSED,
    FORGET_ME_CANCELLED,
    PRIVATE_DATA_ONLY,
    MemoryCommands,
)
from nono.core.people import Conversation, Speaker
from nono.core.personal_data import CONFIRM_TTL, Erasure
from nono.core.personas import PersonaRegistry
from nono.core.wording import MANAGERS_ONLY
from tests.fakes.telegram_server import FakeTelegram
from tests.support.telegram import ALICE, BOB, GROUP

ALICE_ID, BOB_ID = f"telegram:{ALICE}", f"telegram:{BOB}"
ALICE_SPEAKS, BOB_SPEAKS = Speaker.of(ALICE_ID, "Alice"), Speaker.of(BOB_ID, "Bob")
PRIVATE = Conversation.private_of(ALICE_ID)
SHARED_GROUP = Conversation(f"telegram:chat:{GROUP}", shared=True)
ALICE_IN_GROUP = Conversation(f"telegram:chat:{GROUP}:person:{ALICE}")
EXPIRED = "That confirmation has expired or isn't yours. Send /forget_me again."


class Clock:
    """The time the core sees: the real one, moved forward by `offset` seconds."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def chat(sqlite_store, fake_llm: FakeLLM, registry: PersonaRegistry, limits: ChatLimits, clock: Clock):
    """The shared `chat` fixture, on a clock the test can move (confirmations expire)."""
    return ChatService(sqlite_store, fake_llm, registry, limits, clock=clock)


async def converse(tg: FakeTelegram, user: int, chat_id: int, *texts: str) -> list[str]:
    """`user` sends each text in turn, waiting for the answer to each; the answers."""
    for text in texts:
        count = len(tg.shown(chat_id))
        tg.say(tg.users[user], tg.chats[chat_id], text)
        await tg.wait_for(lambda count=count: len(tg.shown(chat_id)) > count)
    return tg.shown(chat_id)[-len(texts) :]


def buttons(message: dict) -> dict[str, str]:
    """The inline buttons under a message: label → callback data."""
    return {b["text"]: b["callback_data"] for row in message["reply_markup"]["inline_keyboard"] for b in row}


async def talk(chat: ChatService, fake_llm: FakeLLM, conversation: Conversation, speaker: Speaker, text: str) -> None:
    fake_llm.enqueue("Noted.")
    await chat.reply(conversation, text, speaker=speaker)


async def test_remember_memory_and_forget_in_a_private_chat(tg: FakeTelegram, telegram_bot, chat: ChatService):
    async with telegram_bot():
        answers = await converse(
            tg, ALICE, ALICE,
            "/remember I prefer   short answers", "/remember My cat is called Miso", "/memory",
            "/forget 1", "/memory", "/forget 5", "/forget all", "/memory", "/forget",
        )  # fmt: skip

    noted, noted_again, listing, forgot, shorter, wrong, all_gone, empty, bare = answers
    assert (noted, noted_again) == ("Noted as fact 1: I prefer short answers", "Noted as fact 2: My cat is called Miso")
    assert listing.startswith("Facts I remember here:\n1. I prefer short answers\n2. My cat is called Miso\n")
    assert forgot == "Forgot fact 1."
    assert shorter.startswith("Facts I remember here:\n1. My cat is called Miso\n")
    assert wrong == "/forget takes the number of a fact from /memory: a number from 1 to 1, or all."
    assert all_gone == "Forgot the one fact."
    assert empty.startswith("I don't remember any facts here yet.")
    assert bare.startswith("Say which fact to forget")
    assert await chat.facts.facts(ALICE_ID) == []


async def test_in_a_shared_group_only_administrators_change_the_facts(
    tg: FakeTelegram, telegram_bot, chat: ChatService
):
    tg.set_member(GROUP, ALICE, "administrator")
    async with telegram_bot(telegram_memory_scope="chat"):
        refused = await converse(tg, BOB, GROUP, "/remember The meeting is on Monday")
        assert await chat.facts.facts(SHARED_GROUP.id) == [], "nothing stored"
        noted = await converse(tg, ALICE, GROUP, "/remember The meeting is on Friday")
        listing, forget = await converse(tg, BOB, GROUP, "/memory", "/forget all")

    assert refused == [MANAGERS_ONLY] and forget == MANAGERS_ONLY
    assert noted == ["Noted as fact 1: The meeting is on Friday"]
    assert listing.startswith("Facts I remember here:\n1. The meeting is on Friday\n"), "anyone may look"
    (fact,) = await chat.facts.facts(SHARED_GROUP.id)
    assert (fact.text, fact.author) == ("The meeting is on Friday", ALICE_ID)


async def test_export_sends_the_persons_own_data_as_a_json_document_in_private_only(
    tg: FakeTelegram, telegram_bot, chat: ChatService, fake_llm: FakeLLM
):
    await talk(chat, fake_llm, PRIVATE, ALICE_SPEAKS, "Hi, I'm Alice")
    await talk(chat, fake_llm, ALICE_IN_GROUP, ALICE_SPEAKS, "Hello group")
    await talk(chat, fake_llm, Conversation.private_of(BOB_ID), BOB_SPEAKS, "My secret is swordfish")
    await talk(chat, fake_llm, Conversation(f"telegram:chat:{GROUP}:person:{BOB}"), BOB_SPEAKS, "Bob was here")
    async with telegram_bot():
        await converse(tg, ALICE, ALICE, "/remember I like tea")
        refusals = await converse(tg, ALICE, GROUP, "/export", "/forget_me")
        tg.say(tg.users[ALICE], tg.chats[ALICE], "/export")
        ((message, upload),) = await tg.wait_for(lambda: tg.documents(ALICE))

    assert refusals == [PRIVATE_DATA_ONLY, PRIVATE_DATA_ONLY] and tg.documents(GROUP) == []
    assert message["caption"] == EXPORT_CAPTION
    assert (upload.filename, upload.content_type) == (f"nono-export-telegram-{ALICE}.json", "application/json")
    export = json.loads(upload.data)
    assert export["person"] == ALICE_ID
    conversations = {c["id"]: c for c in export["conversations"]}
    assert set(conversations) == {ALICE_ID, ALICE_IN_GROUP.id}
    private = conversations[ALICE_ID]
    said = [(m["role"], m["content"]) for m in private["messages"]]
    assert said == [("user", "Hi, I'm Alice"), ("assistant", "Noted.")]
    assert [f["text"] for f in private["facts"]] == ["I like tea"]
    assert [m["content"] for m in conversations[ALICE_IN_GROUP.id]["messages"]] == ["Hello group", "Noted."]
    assert b"swordfish" not in upload.data and b"Bob" not in upload.data, "nobody else's messages"


async def test_an_export_too_big_for_telegram_is_compressed_or_refused(
    tg: FakeTelegram, chat: ChatService, fake_llm: FakeLLM, telegram_settings
):
    limit = 8 * 1024
    tg.upload_limit = limit  # the fake refuses bigger uploads, as Telegram does over 50 MB
    for _ in range(6):
        await talk(chat, fake_llm, PRIVATE, ALICE_SPEAKS, "tea " * 500)  # repetitive: compresses well
        await talk(chat, fake_llm, Conversation.private_of(BOB_ID), BOB_SPEAKS, secrets.token_urlsafe(1500))
    options = dataclasses.replace(telegram_options(telegram_settings()), upload_limit=limit)
    async with telegram.running(chat, options):
        tg.say(tg.users[ALICE], tg.chats[ALICE], "/export")
        tg.say(tg.users[BOB], tg.chats[BOB], "/export")
        ((message, upload),) = await tg.wait_for(lambda: tg.documents(ALICE))
        await tg.wait_for(lambda: tg.shown(BOB))

    assert message["caption"] == EXPORT_COMPRESSED
    assert (upload.filename, upload.content_type) == (f"nono-export-telegram-{ALICE}.json.gz", "application/gzip")
    assert len(upload.data) <= limit < len(gzip.decompress(upload.data))
    assert json.loads(gzip.decompress(upload.data))["person"] == ALICE_ID
    assert tg.documents(BOB) == []
    assert tg.shown(BOB)[0].startswith("Your data is too large to send here even compressed.")
    assert [c.status for c in tg.calls_to("sendDocument")] == [200], "nothing was sent that Telegram would refuse"


async def ask_to_forget(tg: FakeTelegram) -> dict[str, Any]:
    """Alice sends /forget_me; the question with its buttons."""
    count = len(tg.bot_messages(ALICE))
    tg.say(tg.users[ALICE], tg.chats[ALICE], "/forget_me")
    return (await tg.wait_for(lambda: tg.bot_messages(ALICE)[count:]))[0]


async def press(tg: FakeTelegram, user: int, message: dict[str, Any], data: str) -> dict[str, Any]:
    """`user` presses a button; Telegram's answer to the press (the short notice they see)."""
    tap = tg.press(tg.users[user], message, data)
    return await tg.wait_for(lambda: tg.queries[tap])


async def test_forget_me_erases_only_when_its_asker_confirms(
    tg: FakeTelegram, telegram_bot, chat: ChatService, fake_llm: FakeLLM
):
    await talk(chat, fake_llm, PRIVATE, ALICE_SPEAKS, "Hi, I'm Alice")
    await talk(chat, fake_llm, ALICE_IN_GROUP, ALICE_SPEAKS, "Hello group")
    await chat.facts.remember(PRIVATE, "I like tea", ALICE_ID)
    async with telegram_bot():
        question = await ask_to_forget(tg)
        assert question["text"] == MemoryCommands.forget_me_question("Press Erase everything")
        assert list(buttons(question)) == ["Erase everything", "Cancel"]
        erase, cancel = buttons(question).values()
        assert await press(tg, BOB, question, erase) == {"text": "This isn't your button.", "show_alert": False}
        assert await press(tg, ALICE, question, cancel) == {"text": FORGET_ME_CANCELLED, "show_alert": False}
        assert len(await chat.history(PRIVATE)) == 2, "Bob's press and Cancel erased nothing"
        assert await press(tg, ALICE, question, erase) == {"text": EXPIRED, "show_alert": True}, "cancelled for good"

        question = await ask_to_forget(tg)
        answer = await press(tg, ALICE, question, buttons(question)["Erase everything"])

    erased = Erasure(conversations=2, messages=4, facts=1).describe()
    assert answer == {"text": erased, "show_alert": False}
    assert tg.shown(ALICE) == [FORGET_ME_CANCELLED, erased], "each question was replaced by its outcome"
    assert not any("reply_markup" in m for m in tg.bot_messages(ALICE)), "no buttons left to press"
    assert await chat.history(PRIVATE) == [] and await chat.history(ALICE_IN_GROUP) == []
    assert await chat.facts.facts(ALICE_ID) == []


async def test_a_forget_me_button_pressed_after_five_minutes_erases_nothing(
    tg: FakeTelegram, telegram_bot, chat: ChatService, fake_llm: FakeLLM, clock: Clock
):
    await talk(chat, fake_llm, PRIVATE, ALICE_SPEAKS, "Hi, I'm Alice")
    async with telegram_bot():
        question = await ask_to_forget(tg)
        clock.offset += CONFIRM_TTL + 1
        answer = await press(tg, ALICE, question, buttons(question)["Erase everything"])

    assert answer == {"text": EXPIRED, "show_alert": True}
    assert len(await chat.history(PRIVATE)) == 2


@pytest.mark.parametrize("scope", ["person", "chat"])
async def test_a_fact_remembered_in_private_never_reaches_a_group_prompt(
    tg: FakeTelegram, telegram_bot, fake_llm: FakeLLM, scope: str
):
    fake_llm.enqueue("Hello Alice.")
    fake_llm.enqueue("Hello group.")
    async with telegram_bot(telegram_memory_scope=scope):
        await converse(tg, ALICE, ALICE, "/remember My PIN is 4321", "hello")
        await converse(tg, ALICE, GROUP, "@nono_test_bot what do you know about me?")

    in_private, in_group = (" ".join(m.content for m in prompt.messages) for prompt in fake_llm.history)
    assert "My PIN is 4321" in in_private, "the fact reaches its own conversation"
    assert "4321" not in in_group
