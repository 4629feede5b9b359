"""Who Nono answers on Telegram, and what they see: private chats, groups, memory, access."""

from __future__ import annotations

import asyncio

from nono.core.llm.fake import FakeLLM
from tests.fakes.telegram_server import FakeTelegram
from tests.support.telegram import ALICE, BOB, CAROL, GROUP


async def test_private_conversation_is_answered_and_remembered(tg: FakeTelegram, telegram_bot, fake_llm: FakeLLM):
    alice = tg.users[ALICE]
    thinking = asyncio.Event()
    fake_llm.enqueue("Hello **Alice**! Nice to meet you.", wait_for=thinking)  # a slow model
    fake_llm.enqueue("You told me your name is Alice.")  # a fast one
    async with telegram_bot():
        tg.say(alice, tg.chats[ALICE], "Hi, I'm Alice")
        await tg.wait_for(lambda: tg.calls_to("sendChatAction", ALICE))  # "typing…" while the model thinks
        thinking.set()
        await tg.wait_for(lambda: tg.shown(ALICE) == ["Hello Alice! Nice to meet you."])
        tg.say(alice, tg.chats[ALICE], "What's my name?")
        await tg.wait_for(lambda: len(tg.shown(ALICE)) == 2)

    assert tg.shown(ALICE)[1] == "You told me your name is Alice."
    first = tg.bot_messages(ALICE)[0]
    assert first["entities"] == [{"type": "bold", "offset": 6, "length": 5}]
    # The second prompt carried the first exchange: memory, per user.
    second = [(m.role, m.content) for m in fake_llm.history[1].messages[1:]]
    assert second == [
        ("user", "Hi, I'm Alice"),
        ("assistant", "Hello **Alice**! Nice to meet you."),
        ("user", "What's my name?"),
    ]
    # Only the slow reply needed "typing…"; the fast one was on screen within TYPING_DELAY.
    assert len(tg.calls_to("sendChatAction", ALICE)) == 1
    assert [c["command"] for c in tg.commands] == [
        "start",
        "help",
        "persona",
        "personas",
        "models",
        "reset",
        "history",
        "remember",
        "memory",
        "forget",
        "export",
        "forget_me",
        "link",
        "unlink",
    ]


async def test_group_answers_only_mentions_replies_and_commands(tg: FakeTelegram, telegram_bot, fake_llm: FakeLLM):
    alice, bob, group = tg.users[ALICE], tg.users[BOB], tg.chats[GROUP]
    fake_llm.enqueue("I was mentioned.")
    fake_llm.enqueue("You replied to me.")
    async with telegram_bot():
        tg.say(alice, group, "just chatting among humans")
        tg.say(bob, group, "hey @someone_else look")
        mention = tg.say(alice, group, "@nono_test_bot what is 2+2?")
        await tg.wait_for(lambda: tg.shown(GROUP) == ["I was mentioned."])
        answer = tg.bot_messages(GROUP)[0]
        tg.say(bob, group, "thanks, and why?", reply_to=answer["message_id"])
        await tg.wait_for(lambda: len(tg.shown(GROUP)) == 2)
        tg.say(bob, group, "/help@nono_test_bot")
        tg.say(bob, group, "/help@other_bot")
        await tg.wait_for(lambda: len(tg.shown(GROUP)) == 3)

    assert tg.shown(GROUP)[1] == "You replied to me."
    assert tg.shown(GROUP)[2].startswith("Talk to me")
    assert len(tg.shown(GROUP)) == 3, "the message to another bot and the humans' talk got no answer"
    # The model read the question without the @mention; each person has their own memory, and
    # Bob's reply brings the answer he replied to along as context.
    assert fake_llm.history[0].messages[-1].content == "what is 2+2?"
    assert [m.content for m in fake_llm.history[1].messages[1:]] == [
        "(Replying to:)\n> Nono: I was mentioned.\n\nthanks, and why?"
    ]
    # In a group, answers quote the message they answer.
    assert answer["reply_to_message"]["message_id"] == mention["message_id"]


async def test_allowlist_refuses_others_once(tg: FakeTelegram, telegram_bot, fake_llm: FakeLLM):
    alice, bob, carol, group = tg.users[ALICE], tg.users[BOB], tg.users[CAROL], tg.chats[GROUP]
    fake_llm.enqueue("Hello Alice.")
    fake_llm.enqueue("Hello group.")
    async with telegram_bot(telegram_allowed_users=str(ALICE), telegram_allowed_chats=str(GROUP)):
        tg.say(bob, tg.chats[BOB], "let me in")
        tg.say(bob, tg.chats[BOB], "please?")
        tg.say(bob, tg.chats[BOB], "/persona pirate")
        tg.say(alice, tg.chats[ALICE], "hi")
        await tg.wait_for(lambda: tg.shown(ALICE) == ["Hello Alice."])
        tg.say(carol, group, "@nono_test_bot hi from an allowed group")
        await tg.wait_for(lambda: tg.shown(GROUP) == ["Hello group."])

    assert len(tg.shown(BOB)) == 1, "one short refusal, then silence"
    assert "not available" in tg.shown(BOB)[0]
    assert fake_llm.pending == 0 and len(fake_llm.history) == 2
