"""Every turn is one `turn` line: where, which persona and backend, how it ended, how fast. DEBUG adds a summary
of the stream (one line per reply, never one per chunk); what people wrote appears only with LOG_MESSAGE_TEXT."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from nono.bot.services import open_services
from nono.bot.turn_log import TurnLog
from nono.core.chat import ChatService
from nono.core.errors import ModelUnavailable
from nono.core.llm.fake import FakeLLM
from tests.support.json_log import json_log
from tests.support.settings import make_settings

QUESTION = "what is my secret plan"
ANSWER = ["The ", "plan ", "is ", "safe."]


@pytest.fixture
def logged_chat(chat: ChatService) -> ChatService:
    chat.add_listener(TurnLog())
    return chat


async def test_each_turn_is_one_info_line_with_its_timings_and_without_text(
    logged_chat: ChatService, fake_llm: FakeLLM
) -> None:
    fake_llm.enqueue(ANSWER)
    with json_log("INFO") as log:
        await logged_chat.reply("telegram:42", QUESTION)
    [turn] = log.events("turn")
    assert turn["level"] == "INFO" and turn["logger"] == "nono.turns"
    assert {k: turn[k] for k in ("platform", "user_id", "persona", "backend", "outcome")} == {
        "platform": "telegram", "user_id": "telegram:42", "persona": "assistant", "backend": "fake", "outcome": "ok",
    }  # fmt: skip
    assert 0 <= turn["ttft_s"] <= turn["duration_s"]
    assert "chunks" not in turn, "the stream summary is DEBUG detail"
    assert "secret plan" not in log.text and "safe." not in log.text


async def test_at_debug_the_line_sums_up_the_stream_but_still_holds_no_text(
    logged_chat: ChatService, fake_llm: FakeLLM
) -> None:
    fake_llm.enqueue(ANSWER)
    with json_log("DEBUG") as log:
        await logged_chat.reply("rest:ann", QUESTION)
    [turn] = log.events("turn")
    assert turn["chunks"] == len(ANSWER) and turn["chars"] == len("".join(ANSWER))
    assert turn["stream_s"] >= 0 and turn["chunk_gap_ms"] >= 0
    assert not [line for line in log.lines() if "chunk" in line["event"]], "no line per chunk"
    assert "secret plan" not in log.text and "safe." not in log.text


async def test_a_failed_turn_names_its_error(logged_chat: ChatService, fake_llm: FakeLLM) -> None:
    fake_llm.enqueue(["par"], error=ModelUnavailable())
    with json_log("INFO") as log, pytest.raises(ModelUnavailable):
        await logged_chat.reply("discord:7", QUESTION)
    [turn] = log.events("turn")
    assert (turn["outcome"], turn["error"], turn["platform"]) == ("error", "model_unavailable", "discord")


@pytest.mark.parametrize("level", ["INFO", "DEBUG"])
async def test_log_message_text_adds_what_was_said_and_answered(tmp_path: Path, fake_llm: FakeLLM, level: str) -> None:
    # Wired as `nono run` wires it: the setting reaches both the turn listener and the formatter.
    settings = make_settings(tmp_path, log_message_text=True, log_level=level)
    fake_llm.enqueue(ANSWER)
    with json_log(level, message_text=settings.log_message_text) as log:
        async with open_services(settings, llm=fake_llm) as services:
            await services.chat.reply("terminal:bo", QUESTION)
    [turn] = log.events("turn")
    assert (turn["text"], turn["reply"]) == (QUESTION, "".join(ANSWER))


async def test_without_log_message_text_the_wired_line_has_no_text(tmp_path: Path, fake_llm: FakeLLM) -> None:
    settings = make_settings(tmp_path, log_level="DEBUG")
    assert settings.log_message_text is False
    fake_llm.enqueue(ANSWER)
    with json_log("DEBUG", message_text=settings.log_message_text) as log:
        async with open_services(settings, llm=fake_llm) as services:
            await services.chat.reply("terminal:bo", QUESTION)
    [turn] = log.events("turn")
    assert "text" not in turn and "reply" not in turn
    assert "secret plan" not in log.text


def test_the_formatter_drops_text_fields_any_line_carries_unless_asked() -> None:
    for message_text, shown in ((False, False), (True, True)):
        with json_log("DEBUG", message_text=message_text) as log:
            logging.getLogger("nono.somewhere").debug("careless", extra={"content": "my diary", "user_id": "rest:x"})
        [line] = log.events("careless")
        assert line["user_id"] == "rest:x"
        assert ("content" in line) is shown
