"""Telegram's own refusals, one method at a time: flood waits and unparsable formatting never cost a reply.

The adapter's tests cover a 429 on `editMessageText` (private chat, edit streaming) and a
"can't parse entities" on `sendMessage`; here the other methods a streamed reply uses get the
same treatment: a 429 with `retry_after` on `sendMessage` (the final message after drafts, and
the first message of a reply grown by edits) and on `sendMessageDraft`, and a 400 "can't parse
entities" on `editMessageText` and on `sendMessageDraft`. Private chats throughout: their
one-second pacing keeps the waits short. Each time the person sees the whole reply, once.
One slow test waits out a five-second flood wait for real, longer than any pacing interval,
through the running adapter (tests/adapters/telegram/test_telegram_flood.py covers each method
with a clock that only waits move).
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest

from nono.core.llm.fake import FakeLLM
from tests.fakes.telegram_server import Call, FakeTelegram
from tests.hardening.fault_fixtures import (
    ALICE,
    BOB,
    Nono,
    nono_settings,
    nono_with_telegram,
    telegram_values,
)

WORDS = [f"word{i} " for i in range(11)] + ["end."]
REPLY = "".join(WORDS)
MARKDOWN = ["Here is ", "**bold** ", "and ", "`code` ", "for ", "you."]
MARKDOWN_REPLY = "".join(MARKDOWN)
ENTITY_ERROR = 'Bad Request: can\'t parse entities: Unsupported start tag "b" at byte offset 8'
#: Loopback jitter between the bot's pacer clock and the server's arrival stamps.
JITTER = 0.05
#: Longer than any pacing interval: only waiting out retry_after keeps the bot quiet this long.
LONG_WAIT = 5


def flood(tg: FakeTelegram, method: str) -> None:
    tg.inject(method, 429, "Too Many Requests: retry after 1", retry_after=1)


def calls_after(tg: FakeTelegram, refused: Call, chat_id: int) -> list[Call]:
    posting = ("sendMessage", "editMessageText", "sendMessageDraft", "deleteMessage")
    in_chat = [c for c in tg.calls if c.method in posting and str(c.params.get("chat_id")) == str(chat_id)]
    return [c for c in in_chat if c.at > refused.at]


def refused_call(tg: FakeTelegram, method: str, status: int) -> Call:
    [call] = [c for c in tg.calls if c.method == method and c.status == status]
    return call


@pytest.fixture
def fake_llm() -> FakeLLM:
    return FakeLLM()


async def run_turn(tmp_path: Path, tg: FakeTelegram, fake_llm: FakeLLM, chat_id: int, text: str, expected: str):
    """One message to Nono in `chat_id`, waiting until the whole reply shows; returns the stored turn."""
    settings = nono_settings(tmp_path, **telegram_values(tg))
    async with nono_with_telegram(settings, llm=fake_llm) as nono:
        tg.say(tg.users[ALICE], tg.chats[chat_id], text)
        await tg.wait_for(lambda: expected in tg.shown(chat_id))
        return await stored_turn(nono)


async def stored_turn(nono: Nono) -> list[tuple[str, str]]:
    """Alice's stored history once it holds the turn: a turn is stored after Telegram accepted its final text,
    so it may land just after the person sees it."""
    deadline = time.monotonic() + 10
    while not (stored := await nono.stored(f"telegram:{ALICE}")) and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    return stored


@pytest.mark.parametrize("drafts", [True, False], ids=["final-message-after-drafts", "first-message-of-edits"])
async def test_a_flood_wait_on_send_message_is_waited_out_and_the_whole_reply_arrives_once(
    tmp_path: Path, tg: FakeTelegram, fake_llm: FakeLLM, caplog, drafts: bool
) -> None:
    tg.refuse_drafts = not drafts
    flood(tg, "sendMessage")
    fake_llm.enqueue(WORDS, delay=0.05)
    with caplog.at_level(logging.WARNING):
        stored = await run_turn(tmp_path, tg, fake_llm, ALICE, "go", REPLY)

    assert tg.shown(ALICE) == [REPLY]
    refused = refused_call(tg, "sendMessage", 429)
    later = calls_after(tg, refused, ALICE)
    assert later and all(c.at >= refused.at + 1 - JITTER for c in later), "nothing was sent before retry_after"
    assert any(c.method == "sendMessage" and c.ok for c in later), "the message was sent again"
    assert stored == [("user", "go"), ("assistant", REPLY)]
    assert any(r.message == "telegram_flood_wait" for r in caplog.records)


async def test_a_flood_wait_on_a_draft_is_waited_out_and_drafts_go_on(
    tmp_path: Path, tg: FakeTelegram, fake_llm: FakeLLM
) -> None:
    flood(tg, "sendMessageDraft")
    fake_llm.enqueue(WORDS, delay=0.2)  # still writing well after the wait
    await run_turn(tmp_path, tg, fake_llm, ALICE, "go", REPLY)

    assert tg.shown(ALICE) == [REPLY]
    refused = refused_call(tg, "sendMessageDraft", 429)
    later = calls_after(tg, refused, ALICE)
    assert all(c.at >= refused.at + 1 - JITTER for c in later), "nothing was sent before retry_after"
    assert any(c.method == "sendMessageDraft" and c.ok for c in later), "a flood wait is not a refusal of drafts"
    assert not tg.calls_to("editMessageText", ALICE), "the reply did not fall back to edits"


async def test_formatting_refused_in_an_edit_is_resent_as_plain_text(
    tmp_path: Path, tg: FakeTelegram, fake_llm: FakeLLM
) -> None:
    tg.refuse_drafts = True  # the reply grows by edits
    tg.inject("editMessageText", 400, ENTITY_ERROR, when=lambda params: params.get("parse_mode") == "HTML")
    fake_llm.enqueue(MARKDOWN, delay=0.4)  # still writing after the refusal
    await run_turn(tmp_path, tg, fake_llm, ALICE, "format it", MARKDOWN_REPLY)

    assert tg.shown(ALICE) == [MARKDOWN_REPLY], "the whole reply, as plain text"
    edits = tg.calls_to("editMessageText", ALICE)
    refused = next(i for i, c in enumerate(edits) if c.status == 400)
    assert edits[refused].params.get("parse_mode") == "HTML"
    assert edits[refused + 1 :] and all("parse_mode" not in c.params and c.ok for c in edits[refused + 1 :])
    assert len(tg.bot_messages(ALICE)) == 1, "resent by editing the same message, not as a second one"


async def test_formatting_refused_in_a_draft_is_resent_as_plain_text(
    tmp_path: Path, tg: FakeTelegram, fake_llm: FakeLLM
) -> None:
    tg.inject("sendMessageDraft", 400, ENTITY_ERROR, when=lambda params: params.get("parse_mode") == "HTML")
    fake_llm.enqueue(MARKDOWN, delay=0.4)  # still writing after the refusal
    stored = await run_turn(tmp_path, tg, fake_llm, ALICE, "format it", MARKDOWN_REPLY)

    assert tg.shown(ALICE) == [MARKDOWN_REPLY]
    drafts = tg.calls_to("sendMessageDraft", ALICE)
    refused = next(i for i, c in enumerate(drafts) if c.status == 400)
    assert drafts[refused + 1 :] and all("parse_mode" not in c.params and c.ok for c in drafts[refused + 1 :])
    assert not tg.calls_to("editMessageText", ALICE), "a formatting refusal is not a refusal of drafts"
    assert stored == [("user", "format it"), ("assistant", MARKDOWN_REPLY)]


@pytest.mark.slow
async def test_a_five_second_flood_wait_delays_a_streamed_reply_and_a_command_answer_but_loses_nothing(
    tmp_path: Path, tg: FakeTelegram, fake_llm: FakeLLM
) -> None:
    """Alice's first draft and Bob's /help answer are refused for five seconds, side by side, for real."""
    tg.flood("sendMessageDraft", LONG_WAIT, when=lambda params: params.get("chat_id") == ALICE)
    tg.flood("sendMessage", LONG_WAIT, when=lambda params: params.get("chat_id") == BOB)
    fake_llm.enqueue(WORDS, delay=0.2)  # still being written when its first draft is refused
    settings = nono_settings(tmp_path, **telegram_values(tg))
    async with nono_with_telegram(settings, llm=fake_llm) as nono:
        tg.say(tg.users[ALICE], tg.chats[ALICE], "go")
        tg.say(tg.users[BOB], tg.chats[BOB], "/help")
        await tg.wait_for(lambda: REPLY in tg.shown(ALICE) and tg.shown(BOB))
        stored = await stored_turn(nono)

    assert tg.shown(ALICE) == [REPLY]
    assert stored == [("user", "go"), ("assistant", REPLY)]
    answer = refused_call(tg, "sendMessage", 429)
    assert tg.shown(BOB) == [answer.params["text"]], "the command answer arrived whole, once"
    draft = refused_call(tg, "sendMessageDraft", 429)
    for refused, chat_id in ((draft, ALICE), (answer, BOB)):
        later = calls_after(tg, refused, chat_id)
        assert later and all(c.at >= refused.at + LONG_WAIT - JITTER for c in later), "nothing before retry_after"
