"""Which conversation a Telegram message belongs to: private chats, groups per person or shared, forum topics."""

from __future__ import annotations

import pytest

from nono.core.chat import ChatService
from nono.core.llm.fake import FakeLLM
from nono.core.people import Conversation
from tests.fakes.telegram_server import FakeTelegram
from tests.support.telegram import ALICE, BOB, FORUM, GROUP, ROBOT

SECRET = "My locker code is 4711, keep it to yourself."


def said(prompt) -> list[str]:
    """What a prompt holds besides the system prompt."""
    return [m.content for m in prompt.messages[1:]]


@pytest.mark.parametrize("scope", [{}, {"telegram_memory_scope": "chat"}], ids=["person", "chat"])
async def test_what_is_said_in_private_never_reaches_a_group_prompt(
    tg: FakeTelegram, telegram_bot, fake_llm: FakeLLM, scope: dict
):
    alice, private, group = tg.users[ALICE], tg.chats[ALICE], tg.chats[GROUP]
    for answer in ("Noted.", "I don't know any locker code.", "It is 4711."):
        fake_llm.enqueue(answer)
    async with telegram_bot(**scope):
        tg.say(alice, private, SECRET)
        await tg.wait_for(lambda: tg.shown(ALICE) == ["Noted."])
        tg.say(alice, group, "@nono_test_bot what is my locker code?")
        await tg.wait_for(lambda: tg.shown(GROUP))
        tg.say(alice, private, "What is my locker code?")
        await tg.wait_for(lambda: len(tg.shown(ALICE)) == 2)

    _, in_group, back_in_private = fake_llm.history
    assert not any("4711" in text for text in said(in_group)), "the group turn saw the private chat"
    assert said(back_in_private)[0] == SECRET, "the private chat still remembers"


async def test_two_people_in_a_group_have_separate_memories_by_default(
    tg: FakeTelegram, telegram_bot, fake_llm: FakeLLM
):
    group = tg.chats[GROUP]
    fake_llm.enqueue("Tea it is, Alice.")
    fake_llm.enqueue("You haven't told me yet.")
    async with telegram_bot():
        tg.say(tg.users[ALICE], group, "@nono_test_bot I love green tea")
        await tg.wait_for(lambda: tg.shown(GROUP))
        tg.say(tg.users[BOB], group, "@nono_test_bot what do I love?")
        await tg.wait_for(lambda: len(tg.shown(GROUP)) == 2)

    assert said(fake_llm.history[1]) == ["what do I love?"], "Bob's prompt holds nothing of Alice's"


async def test_in_chat_scope_a_group_shares_one_conversation_naming_each_speaker(
    tg: FakeTelegram, telegram_bot, chat: ChatService, fake_llm: FakeLLM
):
    alice, bob, group = tg.users[ALICE], tg.users[BOB], tg.chats[GROUP]
    fake_llm.enqueue("Hi Alice.")
    fake_llm.enqueue("Hi Bob, Alice was here.")
    async with telegram_bot(telegram_memory_scope="chat"):
        tg.say(alice, group, "@nono_test_bot hello")
        await tg.wait_for(lambda: len(tg.shown(GROUP)) == 1)
        tg.say(bob, group, "@nono_test_bot who was here?")
        await tg.wait_for(lambda: len(tg.shown(GROUP)) == 2)
        await chat.deliveries.idle()  # stored once Telegram has the final text
        history = await chat.history(Conversation(f"telegram:chat:{GROUP}", shared=True))

    assert [m.content for m in fake_llm.history[1].messages[1:]] == [
        "Alice: hello",
        "Hi Alice.",
        "Bob: who was here?",
    ]
    assert len(history) == 4


async def test_forum_topics_are_separate_conversations_answered_in_their_topic(
    tg: FakeTelegram, telegram_bot, fake_llm: FakeLLM
):
    alice, forum = tg.users[ALICE], tg.chats[FORUM]
    trips, recipes = tg.add_topic(forum, "Trips", alice), tg.add_topic(forum, "Recipes", alice)
    corner = tg.add_topic(forum, "Nono's corner", tg.bot)
    fake_llm.enqueue("Lisbon, noted.")
    fake_llm.enqueue("Which flight? This topic is about recipes.")
    async with telegram_bot(telegram_memory_scope="chat"):
        # Written in a topic the bot opened, yet not addressed to it: not answered.
        tg.say(alice, forum, "just chatting here", topic=corner)
        tg.say(alice, forum, "@nono_test_bot we fly to Lisbon", topic=trips)
        await tg.wait_for(lambda: tg.shown(FORUM))
        tg.say(alice, forum, "@nono_test_bot where do we fly?", topic=recipes)
        await tg.wait_for(lambda: len(tg.shown(FORUM)) == 2)
        tg.say(alice, forum, "/history", topic=trips)
        await tg.wait_for(lambda: len(tg.shown(FORUM)) == 3)

    # Telegram makes each topic message a reply to the topic's first message: that is neither a quote nor,
    # in the bot's own topic, a reply to the bot.
    assert said(fake_llm.history[0]) == ["Alice: we fly to Lisbon"]
    assert said(fake_llm.history[1]) == ["Alice: where do we fly?"], "the Recipes topic knows nothing of Trips"
    assert [c.params.get("message_thread_id") for c in tg.calls_to("sendMessage", FORUM)] == [trips, recipes, trips]
    assert tg.shown(FORUM)[2] == "You: we fly to Lisbon\nNono: Lisbon, noted."


async def test_messages_from_bots_and_through_inline_bots_are_ignored(
    tg: FakeTelegram, telegram_bot, fake_llm: FakeLLM
):
    alice, robot, group = tg.users[ALICE], tg.users[ROBOT], tg.chats[GROUP]
    fake_llm.enqueue("Hello Alice.")
    async with telegram_bot():
        tg.say(robot, group, "@nono_test_bot answer me, fellow bot")
        tg.say(robot, group, "/help@nono_test_bot")
        tg.say(robot, tg.chats[ROBOT], "hello from one bot to another")
        tg.say(alice, group, "@nono_test_bot look at this gif", via_bot=robot)
        tg.say(alice, tg.chats[ALICE], "a sticker pack, through a bot", via_bot=robot)
        tg.say(alice, group, "@nono_test_bot hi")
        await tg.wait_for(lambda: tg.shown(GROUP))

    assert tg.shown(GROUP) == ["Hello Alice."]
    assert tg.shown(ALICE) == [] and tg.shown(ROBOT) == []
    assert [p.messages[-1].content for p in fake_llm.history] == ["hi"]
