"""At DEBUG each Bot API call the adapter makes is one line (method, chat, status, milliseconds), never the URL
(it carries the bot token) nor what was written; above DEBUG there is none."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nono.core.llm.fake import FakeLLM
from tests.fakes.telegram_server import TOKEN, FakeTelegram
from tests.support.json_log import json_log
from tests.support.telegram import ALICE

REPLY = "Hello Alice, nice to meet you."


async def test_at_debug_each_bot_api_call_is_one_line_without_token_or_text(
    tg: FakeTelegram, telegram_bot: Callable[..., Any], fake_llm: FakeLLM
) -> None:
    fake_llm.enqueue(REPLY)
    with json_log("DEBUG") as log:  # no secrets handed to the formatter: the lines themselves must not carry it
        async with telegram_bot():
            tg.say(tg.users[ALICE], tg.chats[ALICE], "hi, I am Alice")
            await tg.wait_for(lambda: tg.shown(ALICE) == [REPLY])
    calls = log.events("telegram_call")
    methods = [line["method"] for line in calls]
    assert methods[0] == "getMe" and "setMyCommands" in methods
    [sent] = [line for line in calls if line["method"] == "sendMessage"]
    assert (sent["chat_id"], sent["outcome"]) == (ALICE, 200) and sent["ms"] >= 0
    assert TOKEN not in log.text
    assert REPLY not in log.text and "I am Alice" not in log.text


async def test_above_debug_no_call_is_logged(tg: FakeTelegram, telegram_bot: Callable[..., Any]) -> None:
    with json_log("INFO") as log:
        async with telegram_bot():
            pass
    assert not log.events("telegram_call")
