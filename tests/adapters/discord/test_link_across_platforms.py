"""One person across platforms, end to end: real discord.py through SimCord and real PTB over the loopback Bot API,
both on one ChatService, as `nono run` serves them.

Alice links her Discord account and her Telegram account with /link. Her private chats become one conversation; her
groups on both platforms never see it, and /unlink splits it back.
"""

from __future__ import annotations

import re

from nono.core.chat import ChatService
from nono.core.llm.fake import FakeLLM
from tests.fakes.telegram_server import FakeTelegram
from tests.support.telegram import ALICE, GROUP

CODE = re.compile(r"Your link code: (\S+)")
SECRET = "my locker code is PLUM-42"


def _buttons(message: dict) -> dict[str, str]:
    return {b["text"]: b["callback_data"] for row in message["reply_markup"]["inline_keyboard"] for b in row}


def _prompt(fake_llm: FakeLLM) -> str:
    return "\n".join(m.content for m in fake_llm.history[-1].messages)


async def test_link_joins_private_chats_across_platforms_and_groups_never_see_them(
    discord_server, tg: FakeTelegram, telegram_bot, chat: ChatService, fake_llm: FakeLLM
):
    server, alice_tg, private = discord_server, tg.users[ALICE], tg.chats[ALICE]
    for _ in range(6):  # one answer per turn below
        fake_llm.enqueue("ok")
    await server.alice.send_dm(SECRET)  # said on Discord, in private

    issued = await server.alice.user.slash("link")
    code = CODE.search(issued.response.content)[1]
    async with telegram_bot():
        tg.say(alice_tg, private, f"/link {code}")
        proposal = await tg.wait_for(lambda: next(iter(tg.bot_messages(ALICE)), None))
        assert f"Discord account “Alice” (discord:{server.alice.id})" in proposal["text"]
        tap = tg.press(alice_tg, proposal, _buttons(proposal)["Confirm ✓"])
        await tg.wait_for(lambda: tg.queries[tap] and tg.shown(ALICE)[0].startswith("Confirmed on this side"))
        assert len(await chat.history(f"telegram:{ALICE}")) == 0, "nothing joined before both confirmed"

        asked = await server.alice.user.slash("link")  # the request waits for her on Discord
        assert "Telegram account" in asked.response.content
        await server.alice.user.click(asked.response, label="Confirm")
        assert asked.response.content.startswith("Linked with Telegram account")

        tg.say(alice_tg, private, "what is my locker code?")
        await tg.wait_for(lambda: len(tg.shown(ALICE)) == 2)
        assert SECRET in _prompt(fake_llm), "a Telegram DM continues the Discord DM"

        tg.say(alice_tg, tg.chats[GROUP], "@nono_test_bot what is my locker code?")
        await tg.wait_for(lambda: tg.shown(GROUP))
        assert "PLUM-42" not in _prompt(fake_llm), "a Telegram group never sees the private conversation"
        await server.alice.send(server.channel, f"<@{server.bot_id}> what is my locker code?")
        assert "PLUM-42" not in _prompt(fake_llm), "nor does a Discord channel"

        count = len(tg.shown(ALICE))
        tg.say(alice_tg, private, "/unlink")
        question = await tg.wait_for(lambda: tg.bot_messages(ALICE)[count:])
        tap = tg.press(alice_tg, question[0], _buttons(question[0])["Unlink"])
        await tg.wait_for(lambda: tg.queries[tap] and any(t.startswith("Unlinked.") for t in tg.shown(ALICE)))
        tg.say(alice_tg, private, "and now?")
        await tg.wait_for(lambda: tg.shown(ALICE)[-1] == "ok" and len(fake_llm.history) == 5)
        assert "PLUM-42" not in _prompt(fake_llm), "unlinked, the Discord DM went back to Discord"

    await server.alice.send_dm("and here?")
    assert SECRET in _prompt(fake_llm)
    assert await chat.links.linked(f"discord:{server.alice.id}") == (f"discord:{server.alice.id}",)
