"""Abuse limits as users meet them: RATE_LIMIT_PER_MINUTE, MAX_PENDING_PER_USER and LLM_MAX_QUEUE.

Limits come from Settings through the real wiring (`open_services` → `ChatLimits`, the
Ollama backend's queue bound), and are checked where people meet them: a friendly line on
Telegram and Discord, 429 with Retry-After or 503 on the sidecar. Whoever is limited, other
users carry on, and nothing a refused message carried is stored.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
import simcord

from nono.adapters.discord import NonoBot, create_discord_bot
from nono.bot.options import discord_options
from nono.bot.services import chat_limits
from nono.core.chat import ChatService
from nono.core.errors import Busy
from nono.core.llm.fake import FakeLLM
from tests.fakes.ollama_server import running_ollama
from tests.fakes.telegram_server import FakeTelegram
from tests.hardening.fault_fixtures import (
    ALICE,
    BOB,
    MetricsDelta,
    nono_settings,
    nono_with_telegram,
    ollama_settings,
    running_nono,
    telegram_values,
)
from tests.support.settings import make_settings

SLOW_DOWN = re.compile(r"Slow down a little: try again in (\d+) s\.")
LINE_FULL = "You have too many messages waiting for an answer. Please wait for my replies."


def retry_seconds(text: str) -> int:
    match = SLOW_DOWN.fullmatch(text)
    assert match, f"not a slow-down reply: {text!r}"
    return int(match.group(1))


# -- the sidecar -------------------------------------------------------------------------------------


async def test_the_sidecar_answers_429_with_retry_after_and_other_users_carry_on(tmp_path: Path) -> None:
    llm = FakeLLM(default_reply="ok")
    async with running_nono(nono_settings(tmp_path, rate_limit_per_minute=3), llm=llm) as nono:
        before = await nono.scrape()
        for n in range(3):
            assert (await nono.chat("rest:ann", f"message {n}"))[0] == 200

        status, body, headers = await nono.chat("rest:ann", "one too many")

        assert (status, body["code"]) == (429, "rate_limited")
        seconds = retry_seconds(body["detail"])
        assert headers["Retry-After"] == str(seconds) and 1 <= seconds <= 60
        assert (await nono.chat("rest:bob", "hello"))[0] == 200, "another user is unaffected"
        stored = await nono.stored("rest:ann")
        assert [text for role, text in stored if role == "user"] == ["message 0", "message 1", "message 2"]
        delta = MetricsDelta(before, await nono.scrape())
        assert delta("nono_errors_total", kind="rate_limited") == 1
        assert delta("nono_turns_total", platform="rest", outcome="ok") == 4


async def test_a_refused_chat_request_switches_no_persona(tmp_path: Path) -> None:
    llm = FakeLLM(default_reply="ok")
    async with running_nono(nono_settings(tmp_path, rate_limit_per_minute=1), llm=llm) as nono:
        assert (await nono.chat("rest:cat", "hi"))[0] == 200

        status, _, _ = await nono.chat("rest:cat", "again, as a pirate", persona="pirate")

        assert status == 429
        session = await nono.services.chat.session("rest:cat")
        assert session is not None and session.persona == "assistant", "a refused request changes nothing"
        assert len(llm.history) == 1


async def test_beyond_llm_max_queue_users_are_told_the_bot_is_busy_at_once(tmp_path: Path) -> None:
    async with (
        running_ollama() as (url, ollama),
        running_nono(ollama_settings(tmp_path, url, llm_max_queue=1)) as nono,
    ):
        before = await nono.scrape()
        ollama.enqueue([f"w{i} " for i in range(30)], delay=0.1)  # three seconds of streaming
        first = asyncio.create_task(nono.chat("rest:ann", "a long one"))
        while not ollama.chat_requests:
            await asyncio.sleep(0.01)

        status, body, _ = await nono.chat("rest:bob", "me too")

        assert not first.done(), "Bob was refused while Ann's reply was still streaming, not after it"
        assert (status, body["code"], body["detail"]) == (503, "busy", str(Busy()))
        assert len(ollama.chat_requests) == 1, "the refused turn never reached the model server"
        assert (await first)[0] == 200
        assert await nono.stored("rest:bob") == []
        delta = MetricsDelta(before, await nono.scrape())
        assert delta("nono_errors_total", kind="busy") == 1
        assert delta("nono_turns_total", platform="rest", outcome="ok") == 1

        ollama.enqueue(["Now it's", " your turn."])
        assert (await nono.chat("rest:bob", "me too"))[1]["reply"] == "Now it's your turn."


# -- Telegram ----------------------------------------------------------------------------------------


async def test_telegram_users_over_the_rate_are_asked_to_slow_down_and_others_are_answered(
    tmp_path: Path, tg: FakeTelegram
) -> None:
    llm = FakeLLM(default_reply="ok")
    settings = nono_settings(tmp_path, rate_limit_per_minute=2, **telegram_values(tg))
    async with nono_with_telegram(settings, llm=llm) as nono:
        alice, bob = tg.users[ALICE], tg.users[BOB]
        for n in range(3):
            tg.say(alice, tg.chats[ALICE], f"message {n}")
            await tg.wait_for(lambda n=n: len(tg.shown(ALICE)) == n + 1)
        tg.say(bob, tg.chats[BOB], "hello")
        await tg.wait_for(lambda: tg.shown(BOB) == ["ok"])

        assert tg.shown(ALICE)[:2] == ["ok", "ok"]
        assert 1 <= retry_seconds(tg.shown(ALICE)[2]) <= 60
        assert [t for r, t in await nono.stored(f"telegram:{ALICE}") if r == "user"] == ["message 0", "message 1"]


async def test_telegram_messages_beyond_the_pending_limit_are_told_busy_and_the_rest_keep_order(
    tmp_path: Path, tg: FakeTelegram
) -> None:
    llm, gate = FakeLLM(), asyncio.Event()
    llm.enqueue("answer 0", wait_for=gate)
    llm.enqueue("answer 1")
    settings = nono_settings(tmp_path, max_pending_per_user=1, **telegram_values(tg))
    async with nono_with_telegram(settings, llm=llm) as nono:
        for n in range(3):  # one answered now, one waiting: the third is one too many
            tg.say(tg.users[ALICE], tg.chats[ALICE], f"message {n}")
        await tg.wait_for(lambda: LINE_FULL in tg.shown(ALICE))
        gate.set()
        await tg.wait_for(lambda: len(tg.shown(ALICE)) == 3)

        assert sorted(tg.shown(ALICE)) == sorted([LINE_FULL, "answer 0", "answer 1"])
        assert await nono.stored(f"telegram:{ALICE}") == [
            ("user", "message 0"), ("assistant", "answer 0"), ("user", "message 1"), ("assistant", "answer 1"),
        ]  # fmt: skip


# -- Discord -----------------------------------------------------------------------------------------

DISCORD_SETTINGS = make_settings(rate_limit_per_minute=2, max_pending_per_user=1)


@pytest.fixture
def discord_chat(sqlite_store, fake_llm: FakeLLM, registry) -> ChatService:
    """ChatService with the limits RATE_LIMIT_PER_MINUTE=2 and MAX_PENDING_PER_USER=1 give it."""
    return ChatService(sqlite_store, fake_llm, registry, chat_limits(DISCORD_SETTINGS))


@pytest.fixture
def simcord_bot(discord_chat: ChatService) -> NonoBot:
    return create_discord_bot(discord_chat, discord_options(DISCORD_SETTINGS))


def answers(channel: simcord.ChannelHandle, author_id: int) -> list[str]:
    return [m.content for m in channel.history() if m.author.id != author_id]


async def test_discord_users_over_the_rate_are_asked_to_slow_down_and_others_are_answered(
    simcord_env, fake_llm: FakeLLM, discord_chat: ChatService
) -> None:
    dora, eli = simcord_env.create_user("dora"), simcord_env.create_user("eli")
    for text in ("one.", "two.", "Hi Eli."):
        fake_llm.enqueue(text)

    for n in range(3):
        await dora.send_dm(f"message {n}")
    await eli.send_dm("hello")

    replies = answers(dora.dm_channel, dora.id)
    assert replies[:2] == ["one.", "two."]
    assert 1 <= retry_seconds(replies[2]) <= 60
    assert answers(eli.dm_channel, eli.id) == ["Hi Eli."]
    assert len(await discord_chat.history(f"discord:{dora.id}")) == 4


async def test_discord_messages_beyond_the_pending_limit_are_told_busy_and_the_rest_keep_order(
    simcord_env, fake_llm: FakeLLM, discord_chat: ChatService
) -> None:
    finn = simcord_env.create_user("finn")
    dm = finn.dm_channel
    fake_llm.enqueue(["answer 0"])  # single chunks: SimCord's clock cannot advance while a turn waits in line
    fake_llm.enqueue(["answer 1"])

    for n in range(3):  # arriving together: one answered now, one waiting, one too many
        simcord_env.backend.create_message(dm.id, finn.id, f"message {n}")
    await simcord_env.settle(timeout=30)

    assert sorted(answers(dm, finn.id)) == sorted([LINE_FULL, "answer 0", "answer 1"])
    stored = [m.content for m in await discord_chat.history(f"discord:{finn.id}")]
    assert stored == ["message 0", "answer 0", "message 1", "answer 1"]
