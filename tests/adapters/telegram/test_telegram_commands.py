"""Commands, the persona keyboard, and errors as Telegram users see them."""

from __future__ import annotations

from nono.adapters.telegram.handlers import TEXT_ONLY, UNKNOWN_COMMAND
from nono.core.chat import ChatService
from nono.core.llm.fake import FakeLLM
from nono.core.personas import PersonaRegistry
from nono.core.wording import MODEL_UNAVAILABLE
from tests.fakes.telegram_server import FakeTelegram
from tests.support.telegram import ALICE, GROUP


def buttons(message: dict) -> list[str]:
    return [row[0]["text"] for row in message["reply_markup"]["inline_keyboard"]]


async def test_start_greets_in_the_current_persona_and_explains(tg: FakeTelegram, telegram_bot, registry):
    async with telegram_bot():
        tg.say(tg.users[ALICE], tg.chats[ALICE], "/start")
        await tg.wait_for(lambda: tg.shown(ALICE))

    (text,) = tg.shown(ALICE)
    assert text.startswith(registry.get("assistant").greeting)
    assert "/persona" in text and "/reset" in text


async def test_persona_keyboard_switches_and_the_next_reply_uses_that_persona(
    tg: FakeTelegram, telegram_bot, fake_llm: FakeLLM, registry: PersonaRegistry
):
    alice = tg.users[ALICE]
    fake_llm.enqueue("Arr, ahoy!")
    async with telegram_bot():
        tg.say(alice, tg.chats[ALICE], "/persona")
        keyboard = await tg.wait_for(lambda: next(iter(tg.bot_messages(ALICE)), None))
        assert "✓ Assistant" in buttons(keyboard)
        data = next(
            row[0]["callback_data"]
            for row in keyboard["reply_markup"]["inline_keyboard"]
            if row[0]["text"] == "Captain Nono"
        )
        query = tg.press(alice, keyboard, data)
        await tg.wait_for(lambda: tg.queries[query] and "✓ Captain Nono" in buttons(tg.bot_messages(ALICE)[0]))
        tg.say(alice, tg.chats[ALICE], "hello")
        await tg.wait_for(lambda: len(tg.shown(ALICE)) == 2)

    assert tg.queries[query]["text"].startswith("Now speaking as Captain Nono")
    assert "✓ Assistant" not in buttons(tg.bot_messages(ALICE)[0]), "the keyboard message was edited in place"
    assert fake_llm.history[0].system == registry.get("pirate").system_prompt
    assert tg.shown(ALICE)[1] == "Arr, ahoy!"


async def test_persona_by_name_reset_and_history(
    tg: FakeTelegram, telegram_bot, fake_llm: FakeLLM, registry, chat: ChatService
):
    alice, private = tg.users[ALICE], tg.chats[ALICE]
    fake_llm.enqueue("Step one: listen.")
    fake_llm.enqueue("Hello again.")
    async with telegram_bot():
        for text in ("/persona tutor", "teach me", "/history", "/reset", "/history", "hi", "/persona nobody"):
            count = len(tg.shown(ALICE))
            tg.say(alice, private, text)
            await tg.wait_for(lambda count=count: len(tg.shown(ALICE)) == count + 1)
            await chat.deliveries.idle()  # an answer is stored a store write after Telegram has it

    switched, taught, history, reset, empty, _hello, unknown = tg.shown(ALICE)
    assert switched.startswith("Now speaking as Patient Tutor")
    assert fake_llm.history[0].system == registry.get("tutor").system_prompt
    assert taught == "Step one: listen."
    assert history == "You: teach me\nNono: Step one: listen."
    assert reset.startswith("Done")
    assert empty == "No messages yet."
    assert [m.role for m in fake_llm.history[1].messages] == ["system", "user"], "the reset forgot everything"
    assert fake_llm.history[1].system == registry.get("assistant").system_prompt, "…and the persona choice"
    assert unknown.startswith("Unknown persona 'nobody'") and "pirate" in unknown


async def test_commands_addressed_to_the_bot_in_a_group(tg: FakeTelegram, telegram_bot, registry):
    async with telegram_bot():
        tg.say(tg.users[ALICE], tg.chats[GROUP], "/persona@nono_test_bot engineer")
        await tg.wait_for(lambda: tg.shown(GROUP))

    assert tg.shown(GROUP) == [f"Now speaking as Terse Engineer (engineer).\n{registry.get('engineer').greeting}"]
    assert not tg.calls_to("getChatMember"), "in a group's own conversation per person, each manages their own"


async def test_user_errors_are_answered_and_the_bot_keeps_going(tg: FakeTelegram, telegram_bot, fake_llm: FakeLLM):
    alice, chat = tg.users[ALICE], tg.chats[ALICE]
    fake_llm.enqueue(["Half an ans", "wer"], error=RuntimeError("model process died"))
    fake_llm.enqueue("All good now.")
    async with telegram_bot():
        tg.say(alice, chat, "x" * 4001)  # over MAX_MESSAGE_CHARS
        await tg.wait_for(lambda: len(tg.shown(ALICE)) == 1)
        tg.say(alice, chat, "/frobnicate")
        await tg.wait_for(lambda: len(tg.shown(ALICE)) == 2)
        tg.say(alice, chat, "question")
        await tg.wait_for(lambda: len(tg.shown(ALICE)) == 4)
        tg.say(alice, chat, "again")
        await tg.wait_for(lambda: len(tg.shown(ALICE)) == 5)

    too_long, unknown, partial, failed, recovered = tg.shown(ALICE)
    assert too_long.startswith("Your message is 4001 characters long; the limit is 4000.")
    assert unknown == UNKNOWN_COMMAND
    assert partial == "Half an answer", "what was said stays visible"
    assert failed == MODEL_UNAVAILABLE
    assert recovered == "All good now."


async def test_non_text_messages_in_private_get_a_hint(tg: FakeTelegram, telegram_bot):
    message = tg.user_message(tg.users[ALICE], tg.chats[ALICE], "")
    message.pop("text")
    message["location"] = {"latitude": 48.85, "longitude": 2.35}
    async with telegram_bot():
        tg.push({"message": message})
        await tg.wait_for(lambda: tg.shown(ALICE))

    assert tg.shown(ALICE) == [TEXT_ONLY]
