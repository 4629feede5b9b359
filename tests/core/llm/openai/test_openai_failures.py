"""The OpenAI backend's failures: each becomes one honest user-facing error, with the operator's detail in the log."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from nono.core.errors import Busy, ModelUnavailable
from nono.core.llm.base import GenerationOptions
from nono.core.llm.openai_errors import (
    BROKEN,
    KEY_REFUSED,
    NO_CONTENT,
    REQUEST_REFUSED,
    SERVER_ERROR,
    UNREACHABLE,
    WRONG_URL,
    retry_after,
)
from nono.core.wording import TOO_SLOW
from tests.core.llm.openai.helpers import HEADER_SECRET, KEY, PROMPT, collect, events, logged, make
from tests.fakes.openai_server import DEFAULT_MODEL, running_openai

# -- failures become honest user-facing errors, with the operator's detail in the log -------------------


async def test_a_refused_key_names_the_setting_and_never_shows_the_key(caplog):
    caplog.set_level(logging.INFO)
    async with running_openai(api_key="sk-the-right-one-0000") as (url, _):
        llm = make(url, api_key=KEY, headers={"X-Secret": HEADER_SECRET})
        with pytest.raises(ModelUnavailable) as caught:
            await collect(llm)
        await llm.aclose()
    assert str(caught.value) == KEY_REFUSED and "OPENAI_API_KEY" in str(caught.value)
    assert caught.value.fallback is False
    [record] = events(caplog, "llm_key_refused")
    assert record.levelno == logging.ERROR and record.status == 401 and "Incorrect API key" in record.error
    assert KEY not in logged(caplog) and HEADER_SECRET not in logged(caplog)


async def test_a_server_that_echoes_the_credentials_has_them_blanked_in_the_log(server, caplog):
    caplog.set_level(logging.INFO)
    llm = make(f"{server.url}/v1", api_key=KEY, headers={"X-Secret": HEADER_SECRET})
    server.refuse(403, f"key {KEY} with header {HEADER_SECRET} may not use this model")
    with pytest.raises(ModelUnavailable, match="OPENAI_API_KEY"):
        await collect(llm)
    await llm.aclose()
    [record] = events(caplog, "llm_key_refused")
    assert "may not use this model" in record.error and "[redacted]" in record.error
    assert KEY not in logged(caplog) and HEADER_SECRET not in logged(caplog)


async def test_an_unknown_model_is_named_with_what_the_server_has(server, caplog):
    caplog.set_level(logging.ERROR)
    llm = make(f"{server.url}/v1", model="gpt-5-ultra")
    with pytest.raises(ModelUnavailable) as caught:
        await collect(llm)
    await llm.aclose()
    message = str(caught.value)
    assert (
        "'gpt-5-ultra'" in message
        and f"It has: gpt-4.1-nano, {DEFAULT_MODEL}." in message
        and "OPENAI_MODEL" in message
    )
    assert caught.value.fallback is False
    [record] = events(caplog, "llm_model_missing")
    assert record.model == "gpt-5-ultra" and record.available == ["gpt-4.1-nano", DEFAULT_MODEL]


async def test_an_address_that_is_not_an_openai_api_is_not_mistaken_for_a_missing_model(server):
    llm = make(server.url)  # OPENAI_BASE_URL without /v1: a common misconfiguration
    with pytest.raises(ModelUnavailable) as caught:
        await collect(llm)
    await llm.aclose()
    assert str(caught.value) == WRONG_URL


async def test_a_429_is_retried_after_the_wait_the_server_asks_for(server, llm, caplog):
    caplog.set_level(logging.INFO)
    server.refuse(429, "Rate limit reached", code="rate_limit_exceeded", headers={"Retry-After": "0"})
    past = format_datetime(datetime.now(UTC) - timedelta(seconds=5), usegmt=True)
    server.refuse(429, "Rate limit reached", headers={"Retry-After": past})
    server.enqueue(["at", " last"])
    assert await collect(llm) == ["at", " last"]
    assert len(server.chat_requests) == 3
    assert [r.retries for r in events(caplog, "llm_rate_limited")] == [0, 1]


async def test_a_429_that_persists_says_busy_after_two_retries(server, llm):
    for _ in range(3):
        server.refuse(429, "Rate limit reached", headers={"Retry-After": "0"})
    with pytest.raises(Busy) as caught:
        await collect(llm)
    assert caught.value.fallback is True and "busy" in str(caught.value)
    assert len(server.chat_requests) == 3 and server.pending == 0


@pytest.mark.parametrize("headers", [{"Retry-After": "3600"}, {}], ids=["too-long", "no-retry-after"])
async def test_a_429_without_a_short_retry_after_says_busy_at_once(server, llm, caplog, headers):
    caplog.set_level(logging.WARNING)
    server.refuse(429, "You exceeded your current quota", code="insufficient_quota", headers=headers)
    with pytest.raises(Busy):
        await collect(llm)
    assert len(server.chat_requests) == 1
    [record] = events(caplog, "llm_rate_limited")
    assert record.gave_up and record.code == "insufficient_quota"


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_a_server_error_lets_another_backend_answer(server, llm, status):
    server.refuse(status, "The server had an error while processing your request.", type="server_error")
    with pytest.raises(ModelUnavailable) as caught:
        await collect(llm)
    assert str(caught.value) == SERVER_ERROR and caught.value.fallback is True


async def test_connection_refused_says_the_server_is_unavailable_and_logs_where(closed_port, caplog):
    caplog.set_level(logging.WARNING)
    url = f"http://127.0.0.1:{closed_port}/v1"
    llm = make(url)
    with pytest.raises(ModelUnavailable) as caught:
        await collect(llm)
    await llm.aclose()
    assert str(caught.value) == UNREACHABLE and caught.value.fallback is True
    [record] = events(caplog, "llm_unreachable")
    assert record.base_url == url and record.model == DEFAULT_MODEL
    assert llm.queue_depth == 0


async def test_a_base_url_with_credentials_is_logged_without_them(closed_port, caplog):
    caplog.set_level(logging.WARNING)
    llm = make(f"http://nono:hunter22@127.0.0.1:{closed_port}/v1")
    with pytest.raises(ModelUnavailable):
        await collect(llm)
    await llm.aclose()
    assert "hunter22" not in logged(caplog)


@pytest.mark.parametrize("end", ["eof", "drop", "error", "garbage", "no_finish"])
async def test_a_stream_that_breaks_midway_fails_after_the_chunks_already_sent(server, llm, end):
    server.enqueue(["The answer", " is"], end=end)
    received: list[str] = []
    with pytest.raises(ModelUnavailable) as caught:
        await collect(llm, into=received)
    assert str(caught.value) == BROKEN and caught.value.fallback is False
    assert received == ["The answer", " is"]
    assert llm.queue_depth == 0


async def test_an_error_event_before_any_content_is_a_broken_reply(server, llm, caplog):
    caplog.set_level(logging.WARNING)
    server.enqueue([], end="error", error="the model runner crashed")
    with pytest.raises(ModelUnavailable, match="partway"):
        await collect(llm)
    [record] = events(caplog, "llm_stream_broken")
    assert record.error == "the model runner crashed"


@pytest.mark.parametrize("finish", ["stop", "length", "content_filter"])
async def test_a_reply_without_any_content_says_so(server, llm, caplog, finish):
    caplog.set_level(logging.WARNING)
    server.enqueue([], finish=finish)
    with pytest.raises(ModelUnavailable) as caught:
        await collect(llm)
    assert str(caught.value) == NO_CONTENT and caught.value.fallback is False
    [record] = events(caplog, "llm_no_content")
    assert record.finish_reason == finish


async def test_a_request_the_server_refuses_is_explained_in_the_log(server, llm, caplog):
    caplog.set_level(logging.ERROR)
    with pytest.raises(ModelUnavailable) as caught:
        await collect(llm, GenerationOptions(temperature=3.0))  # beyond OpenAI's 0..2
    assert str(caught.value) == REQUEST_REFUSED
    [record] = events(caplog, "llm_request_failed")
    assert record.status == 400 and "temperature" in record.error


async def test_no_first_chunk_within_the_timeout(server):
    llm = make(f"{server.url}/v1", timeout=0.3)
    server.enqueue([], end="hang")
    with pytest.raises(ModelUnavailable) as caught:
        await collect(llm)
    await llm.aclose()
    assert str(caught.value) == TOO_SLOW and caught.value.fallback is False
    assert llm.queue_depth == 0


async def test_no_next_chunk_within_the_timeout(server):
    llm = make(f"{server.url}/v1", timeout=0.3)
    server.enqueue(["Thinking"], end="stall")
    received: list[str] = []
    with pytest.raises(ModelUnavailable, match="took too long"):
        await collect(llm, into=received)
    await llm.aclose()
    assert received == ["Thinking"]


async def test_requests_beyond_max_queue_are_refused_at_once(server):
    llm = make(f"{server.url}/v1", max_queue=1)
    server.enqueue(["first"], end="stall")
    held = llm.stream(PROMPT, GenerationOptions())
    assert await anext(held) == "first"
    assert llm.queue_depth == 1

    with pytest.raises(Busy) as caught:
        await collect(llm)
    assert caught.value.fallback is True
    assert len(server.chat_requests) == 1  # the refused one never reached the server

    await held.aclose()
    assert llm.queue_depth == 0
    server.enqueue(["again"])
    assert await collect(llm) == ["again"]
    await llm.aclose()


def test_retry_after_reads_seconds_milliseconds_and_dates():
    now = datetime(2025, 1, 1, tzinfo=UTC).timestamp()
    assert retry_after({"retry-after": "3"}, now) == 3.0
    assert retry_after({"retry-after-ms": "250", "retry-after": "3"}, now) == 0.25
    assert retry_after({"retry-after": "Wed, 01 Jan 2025 00:00:07 GMT"}, now) == 7.0
    assert retry_after({"retry-after": "Tue, 31 Dec 2024 00:00:00 GMT"}, now) == 0.0
    assert retry_after({"retry-after": "soon"}, now) is None
    assert retry_after({}, now) is None
