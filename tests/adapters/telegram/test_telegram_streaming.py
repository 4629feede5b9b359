"""Streamed replies as Telegram users see them: drafts, live edits within flood limits, long and refused texts."""

from __future__ import annotations

import math

from nono.adapters.telegram.pacing import GROUP_INTERVAL, PRIVATE_INTERVAL
from tests.fakes.telegram_html import utf16
from tests.fakes.telegram_server import Call, FakeTelegram
from tests.support.telegram import ALICE, BOB, GROUP

POSTING = ("sendMessage", "editMessageText", "sendMessageDraft", "deleteMessage")
#: Loopback jitter between the bot's pacer clock and the server's arrival stamps.
JITTER = 0.05


def words(count: int, tag: str = "word") -> list[str]:
    return [f"{tag}{i} " for i in range(count - 1)] + [f"{tag}{count - 1}."]


def posting_calls(tg: FakeTelegram, chat_id: int) -> list[Call]:
    return [c for c in tg.calls if c.method in POSTING and str(c.params.get("chat_id")) == str(chat_id)]


def assert_within_budget(calls: list[Call], interval: float) -> None:
    """No more requests than the chat's limit allows over the span they cover."""
    span = calls[-1].at - calls[0].at
    allowed = 1 + math.floor((span + JITTER) / interval)
    assert len(calls) <= allowed, f"{len(calls)} requests in {span:.2f}s; the limit allows {allowed}"


async def test_private_reply_streams_as_drafts_then_one_complete_message(tg: FakeTelegram, telegram_bot, fake_llm):
    chunks = words(12)
    fake_llm.enqueue(chunks, delay=0.25)
    async with telegram_bot():
        tg.say(tg.users[ALICE], tg.chats[ALICE], "tell me something")
        await tg.wait_for(lambda: tg.shown(ALICE))

    full = "".join(chunks)
    assert tg.shown(ALICE) == [full]
    drafts = tg.calls_to("sendMessageDraft", ALICE)
    assert drafts, "the reply was previewed while it was written"
    assert all(full.startswith(c.params["text"]) for c in drafts), "previews show the reply so far"
    assert len({c.params["draft_id"] for c in drafts}) == 1, "one preview, updated in place"
    assert not tg.calls_to("editMessageText", ALICE)
    assert [c.params["text"] for c in tg.calls_to("sendMessage", ALICE)] == [full]
    assert_within_budget(posting_calls(tg, ALICE), PRIVATE_INTERVAL)


async def test_refused_drafts_fall_back_to_edits_and_are_remembered(tg: FakeTelegram, telegram_bot, fake_llm):
    tg.refuse_drafts = True
    first, second = words(10, "one"), words(3, "two")
    fake_llm.enqueue(first, delay=0.25)
    fake_llm.enqueue(second)
    async with telegram_bot():
        tg.say(tg.users[ALICE], tg.chats[ALICE], "first")
        await tg.wait_for(lambda: tg.shown(ALICE) == ["".join(first)])
        tg.say(tg.users[ALICE], tg.chats[ALICE], "second")
        await tg.wait_for(lambda: len(tg.shown(ALICE)) == 2)

    assert tg.shown(ALICE) == ["".join(first), "".join(second)]
    assert len(tg.calls_to("sendMessageDraft", ALICE)) == 1, "refused once, not asked again in this chat"
    assert tg.calls_to("editMessageText", ALICE), "the first reply grew by edits instead"
    assert_within_budget(posting_calls(tg, ALICE), PRIVATE_INTERVAL)


async def test_group_stream_edits_are_coalesced_within_the_group_limit(tg: FakeTelegram, telegram_bot, fake_llm):
    chunks = words(26)
    fake_llm.enqueue(chunks, delay=0.25)  # about 6.5 s of streaming
    async with telegram_bot():
        tg.say(tg.users[ALICE], tg.chats[GROUP], "@nono_test_bot write slowly")
        await tg.wait_for(lambda: tg.shown(GROUP) == ["".join(chunks)])

    edits = tg.calls_to("editMessageText", GROUP)
    assert len(edits) >= 2, "the message grew while the reply streamed"
    assert len(tg.calls_to("sendMessage", GROUP)) == 1
    assert not tg.calls_to("sendMessageDraft", GROUP), "drafts exist only in private chats"
    assert_within_budget(posting_calls(tg, GROUP), GROUP_INTERVAL)


async def test_two_replies_streaming_in_one_group_share_its_limit(tg: FakeTelegram, telegram_bot, fake_llm):
    alice_reply, bob_reply = words(24, "alice"), words(24, "bob")
    fake_llm.enqueue(alice_reply, delay=0.25)
    fake_llm.enqueue(bob_reply, delay=0.25)
    async with telegram_bot():
        tg.say(tg.users[ALICE], tg.chats[GROUP], "@nono_test_bot you first")
        tg.say(tg.users[BOB], tg.chats[GROUP], "@nono_test_bot and me")
        expected = sorted(["".join(alice_reply), "".join(bob_reply)])
        await tg.wait_for(lambda: sorted(tg.shown(GROUP)) == expected, timeout=60)

    assert len(fake_llm.history) == 2
    assert_within_budget(posting_calls(tg, GROUP), GROUP_INTERVAL)


async def test_flood_wait_during_a_stream_is_waited_out_and_the_reply_completes(tg, telegram_bot, fake_llm):
    tg.refuse_drafts = True  # edit streaming in a private chat
    tg.inject("editMessageText", 429, "Too Many Requests: retry after 1", retry_after=1)
    chunks = words(12)
    fake_llm.enqueue(chunks, delay=0.25)
    async with telegram_bot():
        tg.say(tg.users[ALICE], tg.chats[ALICE], "go")
        await tg.wait_for(lambda: tg.shown(ALICE) == ["".join(chunks)])

    calls = posting_calls(tg, ALICE)
    refused = next(c for c in calls if c.status == 429)
    later = [c for c in calls if c.at > refused.at]
    assert later, "the edit was retried"
    assert all(c.at >= refused.at + 1 - JITTER for c in later), "nothing was sent before retry_after passed"


async def test_refused_formatting_is_resent_as_plain_text(tg: FakeTelegram, telegram_bot, fake_llm):
    reply = "Here is **bold** and `code`."
    tg.inject(
        "sendMessage",
        400,
        'Bad Request: can\'t parse entities: Unsupported start tag "b" at byte offset 8',
        when=lambda params: params.get("parse_mode") == "HTML",
    )
    fake_llm.enqueue(reply)
    async with telegram_bot():
        tg.say(tg.users[ALICE], tg.chats[ALICE], "format something")
        await tg.wait_for(lambda: tg.shown(ALICE))

    assert tg.shown(ALICE) == [reply], "the user got the whole reply, as plain text"
    sent = tg.calls_to("sendMessage", ALICE)
    assert [c.status for c in sent] == [400, 200]
    assert "parse_mode" not in sent[1].params


async def test_a_9000_character_code_reply_arrives_as_three_well_formed_messages(tg, telegram_bot, fake_llm):
    lines = [f"    total += {i}  # step {i} 🚀 keeps a running sum" for i in range(178)]
    code = "def run():\n    total = 0\n" + "\n".join(lines) + "\n    return total"
    reply = f"Here is the program:\n\n```python\n{code}\n```\n\nRun it with `python run.py`."
    assert 8800 < len(reply) < 9200 and utf16(reply) > len(reply)
    fake_llm.enqueue([reply[i : i + 500] for i in range(0, len(reply), 500)])
    async with telegram_bot():
        tg.say(tg.users[ALICE], tg.chats[ALICE], "write a long program")
        await tg.wait_for(lambda: len(tg.shown(ALICE)) == 3 and tg.shown(ALICE)[-1].endswith("python run.py."))

    messages = tg.bot_messages(ALICE)
    assert len(messages) == 3
    for message in messages:  # the fake parsed each as Telegram would: tags balanced, size checked
        assert utf16(message["text"]) <= 4096
        pre = [e for e in message["entities"] if e["type"] == "pre"]
        assert len(pre) == 1 and pre[0]["language"] == "python", "each part carries its piece of the code block"
    shown_code = "\n".join(_pre_text(m) for m in messages)
    assert shown_code == code, "nothing lost or repeated across the cuts"
    assert messages[0]["text"].startswith("Here is the program:")


def _pre_text(message: dict) -> str:
    (pre,) = [e for e in message["entities"] if e["type"] == "pre"]
    encoded = message["text"].encode("utf-16-le", "surrogatepass")
    return encoded[pre["offset"] * 2 : (pre["offset"] + pre["length"]) * 2].decode("utf-16-le", "surrogatepass")


async def test_when_telegram_stops_a_reply_the_core_keeps_what_was_said(tg: FakeTelegram, telegram_bot, fake_llm, chat):
    tg.refuse_drafts = True  # edit streaming in a private chat
    tg.inject("editMessageText", 403, "Forbidden: bot was blocked by the user")
    fake_llm.enqueue(words(40), delay=0.1)
    fake_llm.enqueue("Still here for others.")
    async with telegram_bot():
        tg.say(tg.users[ALICE], tg.chats[ALICE], "hello")
        await tg.wait_for(lambda: any(c.status == 403 for c in tg.calls))
        tg.say(tg.users[BOB], tg.chats[BOB], "anyone?")
        await tg.wait_for(lambda: tg.shown(BOB) == ["Still here for others."])
    history = await chat.history(f"telegram:{ALICE}")

    assert [m.role for m in history] == ["user", "assistant"]
    assert history[1].incomplete, "the cut-off reply is stored, marked incomplete"
    assert "".join(words(40)).startswith(history[1].content)
    assert len(tg.shown(ALICE)) == 1, "no error message is sent to someone who blocked the bot"
