"""Replies on Telegram: the message replied to (or the part of it quoted) reaches the prompt with its author."""

from __future__ import annotations

from nono.core.chat import ChatService
from nono.core.llm.fake import FakeLLM
from nono.core.memory import QUOTES_HEADER
from nono.core.people import Place, Scope, group_conversation
from tests.fakes.telegram_server import FakeTelegram
from tests.support.telegram import ALICE, BOB, CAROL, FORUM, GROUP

PLAN = "Let's go to Paris in April, then Rome in May."


def prompt_ending(fake_llm: FakeLLM, question: str) -> str:
    """The last message of the prompt that asked `question` (replies in two chats may reach the model in any order)."""
    (text,) = [p.messages[-1].content for p in fake_llm.history if p.messages[-1].content.endswith(question)]
    return text


async def test_a_reply_brings_the_replied_message_and_its_author_and_a_quote_only_its_part(
    tg: FakeTelegram, telegram_bot, chat: ChatService, fake_llm: FakeLLM
):
    alice, group, forum = tg.users[ALICE], tg.chats[GROUP], tg.chats[FORUM]
    fake_llm.enqueue("Sounds lovely.")
    fake_llm.enqueue("Sounds lovely.")
    plan_here, plan_there = tg.say(alice, group, PLAN), tg.say(alice, forum, PLAN)
    async with telegram_bot():
        # Two chats, so the two answers are not paced one after the other.
        tg.say(tg.users[BOB], group, "@nono_test_bot is this a good idea?", reply_to=plan_here["message_id"])
        tg.say(tg.users[CAROL], forum, "@nono_test_bot how long?", reply_to=plan_there["message_id"], quote="Rome")
        await tg.wait_for(lambda: tg.shown(GROUP) and tg.shown(FORUM))
        await chat.deliveries.idle()  # stored once Telegram has the final text
        bobs = group_conversation(Place("telegram", f"chat:{GROUP}"), f"telegram:{BOB}", Scope.PERSON)
        stored = await chat.history(bobs)

    whole, part = prompt_ending(fake_llm, "is this a good idea?"), prompt_ending(fake_llm, "how long?")
    assert whole == f"{QUOTES_HEADER}\n> Alice: {PLAN}\n\nis this a good idea?"
    assert part == f"{QUOTES_HEADER}\n> Alice: Rome\n\nhow long?", "only the quoted part, not the whole message"
    assert [m.content for m in stored] == ["is this a good idea?", "Sounds lovely."], "the quote is not stored"
