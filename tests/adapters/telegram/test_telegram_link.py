"""/link and /unlink on Telegram: codes in private chats only, proposals and questions confirmed with buttons."""

from __future__ import annotations

import logging
import re

import pytest

from nono.core.chat import ChatService
from nono.core.link_commands import NOT_LINKED, PRIVATE_ONLY
from nono.core.llm.fake import FakeLLM
from nono.core.people import Speaker
from nono.core.wording import LINK_KEPT
from tests.fakes.telegram_server import FakeTelegram
from tests.support.telegram import ALICE, BOB, GROUP

CODE = re.compile(r"\b[A-Z2-7]{5}-[A-Z2-7]{5}\b")
ALICE_ID, ALICE_ON_DISCORD = f"telegram:{ALICE}", "discord:4242"


def buttons(message: dict) -> dict[str, str]:
    """The inline buttons under a message: label → callback data."""
    return {b["text"]: b["callback_data"] for row in message["reply_markup"]["inline_keyboard"] for b in row}


async def test_link_gives_a_code_in_private_only_and_a_wrong_code_is_refused(
    tg: FakeTelegram, telegram_bot, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG, "nono")
    async with telegram_bot():
        tg.say(tg.users[ALICE], tg.chats[ALICE], "/link")
        tg.say(tg.users[BOB], tg.chats[GROUP], "/link")
        tg.say(tg.users[BOB], tg.chats[BOB], "/link WRONG-CODE2")
        await tg.wait_for(lambda: tg.shown(ALICE) and tg.shown(GROUP) and tg.shown(BOB))

    code = CODE.search(tg.shown(ALICE)[0])
    assert code is not None and f"/link {code.group()}" in tg.shown(ALICE)[0]
    ours = [record for record in caplog.records if record.name.startswith("nono")]
    assert ours and not [r for r in ours if code.group() in f"{r.getMessage()} {r.__dict__}"], "codes are never logged"
    assert tg.shown(GROUP) == [PRIVATE_ONLY]
    assert tg.shown(BOB)[0].startswith("That code is wrong, used or expired.")


async def test_confirming_with_the_button_links_the_accounts_and_their_private_chats(
    tg: FakeTelegram, telegram_bot, chat: ChatService, fake_llm: FakeLLM
):
    alice, private = tg.users[ALICE], tg.chats[ALICE]
    discord = Speaker.of(ALICE_ON_DISCORD, "alice_d")
    fake_llm.enqueue("Noted, blue.")
    fake_llm.enqueue("Blue, you told me on Discord.")
    await chat.reply(ALICE_ON_DISCORD, "My favourite colour is blue.", speaker=discord)
    code = await chat.links.code(discord)
    async with telegram_bot():
        tg.say(alice, private, f"/link {code}")
        proposal = await tg.wait_for(lambda: next(iter(tg.bot_messages(ALICE)), None))
        assert list(buttons(proposal)) == ["Confirm ✓", "Cancel"]
        assert ALICE_ON_DISCORD in proposal["text"], "the proposal names the other account"
        confirm = buttons(proposal)["Confirm ✓"]
        await chat.links.confirm(ALICE_ON_DISCORD, confirm.removeprefix("link:yes:"))  # her tap on Discord
        tap = tg.press(alice, proposal, confirm)
        await tg.wait_for(lambda: tg.queries[tap] and tg.shown(ALICE)[0].startswith("Linked with"))
        tg.say(alice, private, "What is my favourite colour?")
        await tg.wait_for(lambda: len(tg.shown(ALICE)) == 2)

    assert set(await chat.links.linked(ALICE_ID)) == {ALICE_ID, ALICE_ON_DISCORD}
    assert "reply_markup" not in tg.bot_messages(ALICE)[0], "the buttons are gone once used"
    assert fake_llm.history[-1].messages[1].content == "My favourite colour is blue.", "one private conversation"


async def test_unlink_asks_first_and_only_the_unlink_button_splits(tg: FakeTelegram, telegram_bot, chat: ChatService):
    alice, private = tg.users[ALICE], tg.chats[ALICE]
    await chat.links.join(ALICE_ID, ALICE_ON_DISCORD)
    async with telegram_bot():
        tg.say(tg.users[BOB], tg.chats[BOB], "/unlink")
        for choice in ("Keep", "Unlink"):
            count = len(tg.shown(ALICE))
            tg.say(alice, private, "/unlink")
            question = await tg.wait_for(lambda count=count: tg.bot_messages(ALICE)[count:])
            assert list(buttons(question[0])) == ["Unlink", "Keep"] and ALICE_ON_DISCORD in question[0]["text"]
            tap = tg.press(alice, question[0], buttons(question[0])[choice])
            await tg.wait_for(lambda tap=tap: tg.queries[tap])
            if choice == "Keep":
                assert set(await chat.links.linked(ALICE_ID)) == {ALICE_ID, ALICE_ON_DISCORD}
        await tg.wait_for(lambda: tg.shown(ALICE)[1].startswith("Unlinked."))

    assert tg.shown(BOB) == [NOT_LINKED]
    assert tg.shown(ALICE)[0] == LINK_KEPT
    assert await chat.links.linked(ALICE_ID) == (ALICE_ID,)
