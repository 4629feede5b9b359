"""OpenAILLM: the real `openai` client against a loopback server speaking the OpenAI wire format."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest

from nono.core.chat import ChatService
from nono.core.errors import Busy, ConfigError, ModelUnavailable
from nono.core.llm.base import ChatMessage, GenerationOptions, ModelInfo, estimate_tokens
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
from nono.core.llm.openai_llm import OpenAILLM
from nono.core.personas import PersonaRegistry
from nono.core.wording import TOO_SLOW
from tests.fakes.openai_server import DEFAULT_MODEL, FakeOpenAI, running_openai

PROMPT = [ChatMessage("system", "You are terse."), ChatMessage("user", "Say hello")]
KEY = "sk-proj-Zq8sEcReT0nly4TeStS9x"
HEADER_SECRET = "or-attribution-s3cr3t-value"


@pytest.fixture
async def server() -> AsyncIterator[FakeOpenAI]:
    async with running_openai(models=[DEFAULT_MODEL, "gpt-4.1-nano"]) as (_, fake):
        yield fake


def make(url: str, *, api_key: str | None = None, model: str = DEFAULT_MODEL, **options) -> OpenAILLM:
    return OpenAILLM(base_url=url, api_key=api_key, model=model, headers=options.pop("headers", {}), **options)


@pytest.fixture
async def llm(server: FakeOpenAI) -> AsyncIterator[OpenAILLM]:
    backend = make(f"{server.url}/v1", timeout=5)
    yield backend
    await backend.aclose()


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port bound but not listening: connecting to it is refused, and nobody else can take it."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    yield sock.getsockname()[1]
    sock.close()


async def collect(llm: OpenAILLM, options: GenerationOptions | None = None, into: list[str] | None = None):
    chunks = [] if into is None else into
    async for chunk in llm.stream(PROMPT, options or GenerationOptions()):
        chunks.append(chunk)
    return chunks


def logged(caplog: pytest.LogCaptureFixture) -> str:
    """Everything the log holds: messages, every extra field, tracebacks."""
    return "\n".join(
        json.dumps(record.__dict__, default=str) + (caplog.handler.format(record) if record.exc_info else "")
        for record in caplog.records
    )


def events(caplog: pytest.LogCaptureFixture, name: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage() == name]


# -- streaming and what is sent ------------------------------------------------------------------


async def test_streams_the_reply_and_sends_the_model_messages_and_options(server, llm):
    server.enqueue(["Hel", "lo", ", world"])
    options = GenerationOptions(temperature=0.2, max_tokens=64, top_p=0.9, seed=7)

    assert await collect(llm, options) == ["Hel", "lo", ", world"]

    [sent] = server.chat_requests
    assert sent.body == {
        "model": DEFAULT_MODEL,
        "messages": [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Say hello"}],
        "stream": True,
        "temperature": 0.2,
        "max_tokens": 64,
        "top_p": 0.9,
        "seed": 7,
    }
    assert llm.queue_depth == 0


async def test_unset_top_p_and_seed_are_left_to_the_server(server, llm):
    server.enqueue(["ok"])
    await collect(llm, GenerationOptions(temperature=0.7, max_tokens=32))
    assert set(server.chat_requests[0].body) == {"model", "messages", "stream", "temperature", "max_tokens"}


async def test_a_personas_model_overrides_the_default(server, llm):
    server.enqueue(["hi"])
    await collect(llm, GenerationOptions(model="gpt-4.1-nano"))
    assert server.chat_requests[0].body["model"] == "gpt-4.1-nano"
    assert llm.model == DEFAULT_MODEL


async def test_a_reply_cut_at_max_tokens_is_a_complete_reply(server, llm):
    server.enqueue(["one", " two", " three", " four"])
    assert await collect(llm, GenerationOptions(max_tokens=2)) == ["one", " two"]


async def test_the_key_and_the_extra_headers_are_sent(server):
    llm = make(f"{server.url}/v1", api_key=KEY, headers={"HTTP-Referer": "https://nono.example", "X-Title": "Nono"})
    server.enqueue(["ok"])
    await collect(llm)
    await llm.aclose()
    headers = server.chat_requests[0].headers
    assert headers["authorization"] == f"Bearer {KEY}"
    assert headers["http-referer"] == "https://nono.example" and headers["x-title"] == "Nono"


async def test_without_a_key_a_placeholder_is_sent_for_servers_that_need_none(server, llm):
    server.enqueue(["ok"])
    await collect(llm)
    assert server.chat_requests[0].headers["authorization"] == "Bearer not-needed"


@pytest.mark.parametrize(("timeout", "max_queue"), [(0, 32), (60, 0)])
def test_a_zero_timeout_or_queue_fails_at_start_up(timeout, max_queue):
    with pytest.raises(ConfigError):
        make("http://127.0.0.1:1/v1", timeout=timeout, max_queue=max_queue)


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


# -- model listing and health ------------------------------------------------------------------------


async def test_list_models_gives_each_model_and_its_context_where_the_server_says():
    fields = {
        "Qwen/Qwen2.5-7B-Instruct": {"max_model_len": 32768},  # vLLM
        "model.gguf": {"meta": {"n_ctx_train": 8192, "size": 4_920_734_976}},  # llama.cpp's server
    }
    async with running_openai(models=["Qwen/Qwen2.5-7B-Instruct", "model.gguf", "plain"], model_fields=fields) as (
        url,
        _,
    ):
        llm = make(url)
        listed = await llm.list_models()
        await llm.aclose()
    assert listed == [
        ModelInfo("Qwen/Qwen2.5-7B-Instruct", context=32768),
        ModelInfo("model.gguf", size=4_920_734_976, context=8192),
        ModelInfo("plain"),
    ]


async def test_health_passes_when_the_server_lists_its_models(server, llm):
    await llm.health()
    assert server.paths() == ["GET /v1/models"]


async def test_health_fails_when_the_server_is_down(closed_port):
    llm = make(f"http://127.0.0.1:{closed_port}/v1")
    with pytest.raises(ModelUnavailable) as caught:
        await llm.health()
    await llm.aclose()
    assert str(caught.value) == UNREACHABLE


async def test_health_fails_with_a_refused_key():
    async with running_openai(api_key="sk-the-right-one-0000") as (url, _):
        llm = make(url, api_key="sk-wrong")
        with pytest.raises(ModelUnavailable, match="OPENAI_API_KEY"):
            await llm.health()
        await llm.aclose()


# -- token counts: the server's tokenizer where it has one ------------------------------------------------

WORDS = "one two three four five six seven eight nine ten"  # the fake counts a token per word


@pytest.mark.parametrize(("tokenizer", "path", "body"), [
    ("extras", "/extras/tokenize", {"input": WORDS, "model": DEFAULT_MODEL}),  # llama_cpp.server
    ("llama.cpp", "/tokenize", {"content": WORDS}),  # llama.cpp's own server
])  # fmt: skip
async def test_learn_counts_asks_the_servers_tokenizer_for_what_was_estimated(tokenizer, path, body):
    async with running_openai(tokenizer=tokenizer) as (url, fake):
        llm = make(url)
        assert llm.count_tokens(WORDS) == estimate_tokens(WORDS) != 10
        assert await llm.learn_counts() is True
        assert llm.count_tokens(WORDS) == 10
        assert await llm.learn_counts() is False  # nothing new to count
        await llm.aclose()
    counted = [r.body for r in fake.requests if r.path == path]
    assert counted[-1] == body and len(counted) == 2  # a probe that found the endpoint, then the text


async def test_without_a_tokenizer_estimates_stay_and_nothing_is_asked_again(server, llm):
    assert llm.count_tokens(WORDS) == estimate_tokens(WORDS)
    assert await llm.learn_counts() is False
    asked = server.paths()
    assert asked == ["POST /tokenize", "POST /extras/tokenize"]
    llm.count_tokens("something new")
    assert await llm.learn_counts() is False
    assert server.paths() == asked
    assert llm.count_tokens(WORDS) == estimate_tokens(WORDS)


async def test_a_tokenizer_in_trouble_is_asked_again_later():
    async with running_openai(tokenizer="extras", tokenizer_status=503) as (url, fake):
        llm = make(url)
        llm.count_tokens(WORDS)
        assert await llm.learn_counts() is False
        fake.tokenizer_status = None
        llm.count_tokens(WORDS)
        assert await llm.learn_counts() is True
        assert llm.count_tokens(WORDS) == 10
        await llm.aclose()


async def test_learn_counts_never_raises_when_the_server_is_down(closed_port):
    llm = make(f"http://127.0.0.1:{closed_port}/v1")
    llm.count_tokens(WORDS)
    assert await llm.learn_counts() is False
    assert llm.count_tokens(WORDS) == estimate_tokens(WORDS)
    await llm.aclose()


# -- lifecycle -----------------------------------------------------------------------------------------------


async def test_aclose_closes_only_a_client_it_created(server):
    import openai

    given = openai.AsyncOpenAI(base_url=f"{server.url}/v1", api_key="x", max_retries=0)
    borrowed = OpenAILLM(base_url=f"{server.url}/v1", api_key=None, model=DEFAULT_MODEL, client=given)
    await borrowed.aclose()
    server.enqueue(["still works"])
    assert await collect(borrowed) == ["still works"]
    await given.close()


# -- the fake refuses what OpenAI refuses ------------------------------------------------------------------


async def test_the_fake_fails_loudly_on_requests_openai_would_not_honour(server):
    chat = {"model": DEFAULT_MODEL, "messages": [{"role": "user", "content": "hi"}], "stream": True}
    async with httpx.AsyncClient(base_url=server.url) as http:
        unknown = await http.post("/v1/chat/completions", json={**chat, "num_predict": 5})
        unscripted = await http.post("/v1/chat/completions", json=chat)
        missing = await http.post("/v1/chat/completions", json={**chat, "model": "nope"})
    assert unknown.status_code == 400 and "num_predict" in unknown.json()["error"]["message"]
    assert unscripted.status_code == 500 and "no reply scripted" in unscripted.json()["error"]["message"]
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "model_not_found"
    assert len(server.problems) == 2
    server.problems.clear()  # seen; otherwise running_openai raises at exit


# -- through ChatService: a broken stream stores nothing ------------------------------------------------------


async def test_chat_service_stores_a_good_turn_and_nothing_of_a_broken_one(server, llm, sqlite_store, registry):
    chat = ChatService(sqlite_store, llm, registry)
    server.enqueue(["Hello", " from", " the server"])
    reply = await chat.reply("discord:42", "hi")
    assert reply.text == "Hello from the server"

    server.enqueue(["Half an"], end="drop")
    with pytest.raises(ModelUnavailable, match="partway"):
        await chat.reply("discord:42", "and then?")

    history = await chat.history("discord:42")
    assert [(m.role, m.content) for m in history] == [("user", "hi"), ("assistant", "Hello from the server")]


async def test_chat_service_sends_the_personas_settings_and_model(server, llm, sqlite_store, tmp_path: Path):
    (tmp_path / "coder.yaml").write_text(
        "name: coder\ndisplay_name: Coder\nsystem_prompt: You write code.\n"
        "temperature: 0.1\nmax_tokens: 200\ntop_p: 0.8\nmodel: gpt-4.1-nano\n"
    )
    chat = ChatService(sqlite_store, llm, PersonaRegistry.from_directory(tmp_path, "coder"))
    server.enqueue(["print(1)"])
    reply = await chat.reply("telegram:7", "write code")
    assert reply.text == "print(1)"

    [sent] = server.chat_requests
    assert sent.body["model"] == "gpt-4.1-nano"
    assert sent.body["messages"] == [
        {"role": "system", "content": "You write code."},
        {"role": "user", "content": "write code"},
    ]
    assert (sent.body["temperature"], sent.body["max_tokens"], sent.body["top_p"]) == (0.1, 200, 0.8)
