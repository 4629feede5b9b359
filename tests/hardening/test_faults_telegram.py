"""Telegram's own refusals, one method at a time: flood waits and unparsable formatting never cost a reply.

The adapter's tests cover a 429 on `editMessageText` (private chat, edit streaming) and a
"can't parse entities" on `sendMessage`; here the other methods a streamed reply uses get the
same treatment: a 429 with `retry_after` on `sendMessage` (the final message after drafts, and
the first message of a reply grown by edits) and on `sendMessageDraft`, and a 400 "can't parse
entities" on `editMessageText` and on `sendMessageDraft`. Private chats throughout: their
one-second pacing keeps the waits short. Each time the person sees the whole reply, once.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from nono.core.llm.fake import FakeLLM
from tests.fakes.telegram_server import Call, FakeTelegram
from tests.hardening.fault_fixtures import (
    ALICE,
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
        return await nono.stored(f"telegram:{ALICE}")


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
