"""Long flood waits: a 429 asking for five seconds is waited out, and what was being sent still arrives whole.

A wait no longer than the pacing interval (the other tests' `retry_after=1`) would be honoured
by pacing alone; five seconds is not. The loopback Bot API answers like Telegram: after the 429
it refuses everything the bot posts in that chat until the wait is over. The pacer and the fake
share a clock that only waits move, so the five seconds pass at once (the slow test in
tests/hardening/test_faults_telegram.py waits them for real, through the running adapter).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from telegram import Bot

from nono.adapters.telegram.outbox import Outbox
from nono.adapters.telegram.pacing import ChatPacer
from nono.adapters.telegram.request import AiohttpRequest
from nono.adapters.telegram.stream import deliver
from nono.core.chat import ChatService
from nono.core.llm.fake import FakeLLM
from tests.fakes.telegram_server import POSTING, TOKEN, Call, FakeTelegram
from tests.support.clock import ManualClock
from tests.support.telegram import ALICE, BOB, GROUP

WAIT = 5
WORDS = [f"word{i} " for i in range(11)] + ["end."]
REPLY = "".join(WORDS)
#: Three paragraphs, each near a message's limit: a notice of three messages.
PARAGRAPHS = [f"Paragraph {n}: " + ("lorem ipsum " * 300).strip() for n in range(3)]


class WaitingClock(ManualClock):
    """The pacer's and the fake's time; a wait returns at once, having moved the clock."""

    async def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.0)
        await asyncio.sleep(0)


@pytest.fixture
def clock(tg: FakeTelegram) -> WaitingClock:
    clock = WaitingClock()
    tg.clock = clock
    return clock


@asynccontextmanager
async def outbox_on(tg: FakeTelegram, clock: WaitingClock) -> AsyncIterator[Outbox]:
    """The adapter's Outbox on a real PTB Bot talking to the loopback Bot API, paced on `clock`."""
    bot = Bot(TOKEN, base_url=tg.base_url, request=AiohttpRequest(), get_updates_request=AiohttpRequest())
    async with bot:
        yield Outbox(bot, ChatPacer(clock=clock, sleep=clock.sleep))


async def call(tg: FakeTelegram, method: str, **params: Any) -> tuple[int, dict[str, Any]]:
    """One raw Bot API call, as any client would make it."""
    async with aiohttp.ClientSession() as session, session.post(f"{tg.base_url}{TOKEN}/{method}", json=params) as r:
        return r.status, await r.json()


def from_call(n: int) -> Callable[[dict[str, Any]], bool]:
    """Matches the `n`-th call (and later ones) of the method it is given to."""
    seen = itertools.count(1)
    return lambda params: next(seen) >= n


def the_flood_wait(tg: FakeTelegram, chat_id: int) -> Call:
    """The one 429: a second one would mean the bot posted in the chat before the wait was over."""
    [refused] = [c for c in tg.calls if c.status == 429]
    later = [c for c in tg.calls if c.method in POSTING and c.params.get("chat_id") == chat_id and c.at > refused.at]
    assert later, "the bot posted again after the wait"
    assert min(c.at for c in later) >= refused.at + WAIT, "nothing was posted in the chat before retry_after"
    return refused


async def test_the_fake_holds_a_flooded_chat_until_the_wait_is_over_and_only_that_chat(
    tg: FakeTelegram, clock: WaitingClock
) -> None:
    tg.flood("sendMessageDraft", WAIT)
    draft = {"chat_id": ALICE, "draft_id": 1, "text": "…"}
    assert (await call(tg, "sendMessageDraft", **draft))[1]["parameters"] == {"retry_after": WAIT}
    clock.now += 2
    status, body = await call(tg, "sendMessage", chat_id=ALICE, text="too early")
    assert (status, body["parameters"]) == (429, {"retry_after": WAIT - 2}), "every posting method, the time left"
    assert (await call(tg, "sendMessage", chat_id=BOB, text="another chat"))[0] == 200
    clock.now += WAIT - 2
    assert (await call(tg, "sendMessage", chat_id=ALICE, text="on time"))[0] == 200


@pytest.mark.parametrize(
    ("method", "drafts", "nth"),
    [("sendMessageDraft", True, 2), ("sendMessage", True, 1), ("editMessageText", False, 2), ("sendMessage", False, 1)],
    ids=["a-draft-mid-stream", "the-final-message-after-drafts", "an-edit-mid-stream", "the-first-message-of-edits"],
)
async def test_a_long_flood_wait_in_a_streamed_reply_is_waited_out_and_the_whole_reply_arrives_once(
    tg: FakeTelegram, clock: WaitingClock, chat: ChatService, fake_llm: FakeLLM, method: str, drafts: bool, nth: int
) -> None:
    tg.refuse_drafts = not drafts
    tg.flood(method, WAIT, when=from_call(nth))
    fake_llm.enqueue(WORDS, delay=0.02)
    async with outbox_on(tg, clock) as outbox:
        await deliver(chat.stream(f"telegram:{ALICE}", "go"), outbox, ALICE)

    assert tg.shown(ALICE) == [REPLY]
    refused = the_flood_wait(tg, ALICE)
    assert refused.method == method
    if nth > 1:
        assert refused.params["text"] != REPLY, "the wait came while the reply was still being written"
    stored = await chat.history(f"telegram:{ALICE}")
    assert [(m.content, m.incomplete) for m in stored] == [("go", False), (REPLY, False)]


@pytest.mark.parametrize("nth", [1, 2], ids=["on-the-first-message", "on-the-second-message"])
async def test_a_long_flood_wait_on_a_notice_is_waited_out_and_every_part_arrives_in_order(
    tg: FakeTelegram, clock: WaitingClock, nth: int
) -> None:
    tg.flood("sendMessage", WAIT, when=from_call(nth))
    async with outbox_on(tg, clock) as outbox:
        last = await outbox.notice(GROUP, "\n\n".join(PARAGRAPHS), reply_to=None)

    assert tg.shown(GROUP) == PARAGRAPHS
    assert last is not None and last.text == PARAGRAPHS[-1]
    the_flood_wait(tg, GROUP)
