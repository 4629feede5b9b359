"""A failing model server, end to end: what the user sees, what is stored, what `/metrics` counts.

Nono runs from Settings with LLM_BACKEND=ollama (the real `OllamaLLM` on the official client)
against the loopback fake Ollama, behind the real sidecar app and the real Telegram adapter.
The backend-level behaviour (exception types, logs) is in tests/core/llm/test_ollama_llm.py;
here each fault is followed through to the person chatting and to the operator's metrics.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from nono.core.llm.ollama_llm import BROKEN, SERVER_BUSY, UNREACHABLE
from nono.core.wording import TOO_SLOW
from tests.fakes.ollama_server import FakeOllama, running_ollama
from tests.fakes.telegram_server import FakeTelegram
from tests.hardening.fault_fixtures import (
    ALICE,
    ClosedPort,
    MetricsDelta,
    nono_with_telegram,
    ollama_on_port,
    ollama_settings,
    running_nono,
    telegram_values,
)

#: LLM_TIMEOUT for these tests: long enough for loopback, short enough to wait out.
TIMEOUT = 0.5

# fault -> (chunks sent before it, how the stream ends, what the user is told, error code)
FAULTS = {
    "dies_mid_reply": (["The answer", " is"], "drop", BROKEN, "model_unavailable"),
    "cut_without_final_line": (["The answer"], "eof", BROKEN, "model_unavailable"),
    "garbage_bytes": (["The answer"], "garbage", BROKEN, "model_unavailable"),
    "garbage_first": ([], "garbage", BROKEN, "model_unavailable"),
    "runner_error_line": (["The answer"], "error", BROKEN, "model_unavailable"),
    "no_first_token": ([], "stall", TOO_SLOW, "model_unavailable"),
    "no_next_token": (["Thinking"], "stall", TOO_SLOW, "model_unavailable"),
    "server_queue_full": ([], "busy", SERVER_BUSY, "busy"),
}


@pytest.fixture
async def ollama() -> FakeOllama:
    async with running_ollama() as (_, fake):
        yield fake


@pytest.mark.parametrize("fault", list(FAULTS))
async def test_a_failing_model_is_a_clear_503_stores_nothing_is_counted_and_the_next_turn_works(
    tmp_path: Path, ollama: FakeOllama, fault: str
) -> None:
    chunks, end, told, code = FAULTS[fault]
    async with running_nono(ollama_settings(tmp_path, ollama.url, llm_timeout=TIMEOUT)) as nono:
        before = await nono.scrape()
        ollama.enqueue(chunks, end=end)

        status, body, _ = await nono.chat("rest:ann", "What is the answer?")

        assert (status, body["code"], body["detail"]) == (503, code, told)
        assert await nono.stored("rest:ann") == [], "no half-stored turn"
        delta = MetricsDelta(before, await nono.scrape())
        assert delta("nono_turns_total", platform="rest", outcome="error") == 1
        assert delta("nono_errors_total", kind=code) == 1
        assert delta("nono_turns_total", platform="rest", outcome="ok") == 0
        assert delta("nono_errors_total", kind="internal") == 0

        # The process stayed up and recovers by itself: the next turn is answered and stored alone.
        ollama.enqueue(["Forty", "-two."])
        status, body, _ = await nono.chat("rest:ann", "And now?")
        assert (status, body["reply"]) == (200, "Forty-two.")
        assert await nono.stored("rest:ann") == [("user", "And now?"), ("assistant", "Forty-two.")]
        assert nono.services.llm.queue_depth == 0


async def test_a_refused_connection_is_a_clear_503_not_ready_and_recovers_when_the_server_returns(
    tmp_path: Path, closed_port: ClosedPort
) -> None:
    host = f"http://127.0.0.1:{closed_port.port}"
    async with running_nono(ollama_settings(tmp_path, host, llm_timeout=5)) as nono:
        before = await nono.scrape()

        status, body, _ = await nono.chat("rest:bo", "Hello?")

        assert (status, body["code"], body["detail"]) == (503, "model_unavailable", UNREACHABLE)
        assert await nono.stored("rest:bo") == []
        delta = MetricsDelta(before, await nono.scrape())
        assert delta("nono_turns_total", platform="rest", outcome="error") == 1
        assert delta("nono_errors_total", kind="model_unavailable") == 1
        assert await nono.ready() == (503, {"store": "ok", "llm": "failing"})
        assert (await nono.client.get("/health")).status == 200

        async with ollama_on_port(closed_port) as ollama:  # the model server comes back where it was
            assert await nono.ready() == (200, {"store": "ok", "llm": "ok"})
            ollama.enqueue(["Back", " again."])
            status, body, _ = await nono.chat("rest:bo", "Hello?")
            assert (status, body["reply"]) == (200, "Back again.")
        assert await nono.stored("rest:bo") == [("user", "Hello?"), ("assistant", "Back again.")]


async def test_a_stream_that_never_ends_is_capped_stored_incomplete_and_frees_the_model(
    tmp_path: Path, ollama: FakeOllama
) -> None:
    settings = ollama_settings(tmp_path, ollama.url, llm_timeout=TIMEOUT, max_reply_chars=120)
    async with running_nono(settings) as nono:
        before = await nono.scrape()
        ollama.enqueue(["la "], end="forever")  # ignores num_predict, never sends the final line

        status, body, _ = await nono.chat("rest:cy", "Sing forever")

        assert status == 200 and body["incomplete"] is True
        assert body["reply"] == ("la " * 40)[:120]
        [asked, answered] = await nono.services.chat.history("rest:cy")
        assert asked.content == "Sing forever" and answered.content == body["reply"] and answered.incomplete
        after = await nono.scrape()
        delta = MetricsDelta(before, after)
        assert delta("nono_turns_total", platform="rest", outcome="incomplete") == 1
        assert delta("nono_turns_total", platform="rest", outcome="error") == 0
        assert MetricsDelta("", after)("nono_llm_queue_depth") == 0, "the endless stream was closed"

        ollama.enqueue(["Done."])
        assert (await nono.chat("rest:cy", "Stop"))[1]["reply"] == "Done."


async def test_replies_are_capped_at_max_tokens_by_the_server(tmp_path: Path, ollama: FakeOllama) -> None:
    async with running_nono(ollama_settings(tmp_path, ollama.url)) as nono:
        limit = nono.services.personas.get("assistant").max_tokens
        ollama.enqueue([f"w{i} " for i in range(limit + 50)])  # a model that would go on and on

        status, body, _ = await nono.chat("rest:di", "Talk")

        assert status == 200 and body["incomplete"] is False
        assert body["reply"] == "".join(f"w{i} " for i in range(limit))
        assert ollama.chat_requests[-1]["options"]["num_predict"] == limit


# -- through the Telegram adapter: the person in the chat, the store and the operator's metrics --------

TELEGRAM_FAULTS = {
    "dies_mid_reply": (["Half an"], "drop", BROKEN, ["Half an", BROKEN]),
    "no_first_token": ([], "stall", TOO_SLOW, [TOO_SLOW]),
}


@pytest.mark.parametrize("fault", list(TELEGRAM_FAULTS))
async def test_a_telegram_user_is_told_nothing_is_stored_the_error_is_counted_and_the_bot_goes_on(
    tmp_path: Path, ollama: FakeOllama, tg: FakeTelegram, fault: str
) -> None:
    chunks, end, told, shown = TELEGRAM_FAULTS[fault]
    settings = ollama_settings(tmp_path, ollama.url, llm_timeout=TIMEOUT, **telegram_values(tg))
    async with nono_with_telegram(settings) as nono:
        alice, chat = tg.users[ALICE], tg.chats[ALICE]
        before = await nono.scrape()
        ollama.enqueue(chunks, end=end)

        tg.say(alice, chat, "What is the answer?")
        await tg.wait_for(lambda: told in tg.shown(ALICE))

        assert tg.shown(ALICE) == shown, "what was shown stays, and the honest error follows it"
        assert await nono.stored(f"telegram:{ALICE}") == []
        delta = MetricsDelta(before, await nono.scrape())
        assert delta("nono_turns_total", platform="telegram", outcome="error") == 1
        assert delta("nono_errors_total", kind="model_unavailable") == 1

        ollama.enqueue(["It is", " 42."])
        tg.say(alice, chat, "Try again?")
        await tg.wait_for(lambda: tg.shown(ALICE)[-1:] == ["It is 42."])
        assert await nono.stored(f"telegram:{ALICE}") == [("user", "Try again?"), ("assistant", "It is 42.")]
        assert await nono.ready() == (200, {"store": "ok", "llm": "ok", "telegram": "ok"})
        delta = MetricsDelta(before, await nono.scrape())
        assert delta("nono_turns_total", platform="telegram", outcome="ok") == 1
