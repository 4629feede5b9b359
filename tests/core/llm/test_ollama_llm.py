"""OllamaLLM: the real `ollama` client against a loopback server speaking Ollama's HTTP API."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import ollama
import pytest

from nono.core.chat import ChatLimits, ChatService
from nono.core.errors import Busy, ConfigError, ModelUnavailable
from nono.core.llm.base import ChatMessage, GenerationOptions
from nono.core.llm.ollama_llm import BROKEN, UNREACHABLE, OllamaLLM
from nono.core.personas import PersonaRegistry
from nono.core.wording import TOO_SLOW
from tests.fakes.ollama_server import DEFAULT_MODEL, FakeOllama, running_ollama

PROMPT = [ChatMessage("system", "You are terse."), ChatMessage("user", "Say hello")]
LOGGER = "nono.core.llm.ollama_llm"


@pytest.fixture
async def server() -> AsyncIterator[FakeOllama]:
    async with running_ollama(models=[DEFAULT_MODEL, "qwen2.5:0.5b"]) as (_, fake):
        yield fake


@pytest.fixture
async def llm(server: FakeOllama) -> AsyncIterator[OllamaLLM]:
    backend = OllamaLLM(server.url, DEFAULT_MODEL, timeout=5)
    yield backend
    await backend.aclose()


async def collect(llm: OllamaLLM, options: GenerationOptions | None = None, into: list[str] | None = None):
    chunks = [] if into is None else into
    async for chunk in llm.stream(PROMPT, options or GenerationOptions()):
        chunks.append(chunk)
    return chunks


# -- streaming and what is sent ------------------------------------------------------------


async def test_streams_the_reply_and_sends_options_keep_alive_and_messages(server, llm):
    server.enqueue(["Hel", "lo", ", world"])
    options = GenerationOptions(temperature=0.2, max_tokens=64, top_p=0.9, num_ctx=1024, seed=7)

    assert await collect(llm, options) == ["Hel", "lo", ", world"]

    [sent] = server.chat_requests
    assert sent["model"] == DEFAULT_MODEL
    assert sent["stream"] is True
    assert sent["keep_alive"] == "5m"
    assert sent["messages"] == [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Say hello"},
    ]
    assert sent["options"] == {"temperature": 0.2, "num_predict": 64, "num_ctx": 1024, "top_p": 0.9, "seed": 7}
    assert llm.queue_depth == 0


async def test_unset_top_p_and_seed_are_left_to_the_server(server, llm):
    server.enqueue(["ok"])
    await collect(llm, GenerationOptions(temperature=0.7, max_tokens=32, num_ctx=2048))
    assert server.chat_requests[0]["options"] == {"temperature": 0.7, "num_predict": 32, "num_ctx": 2048}


async def test_a_per_request_model_overrides_the_default(server, llm):
    server.enqueue(["hi"])
    await collect(llm, GenerationOptions(model="qwen2.5:0.5b"))
    assert server.chat_requests[0]["model"] == "qwen2.5:0.5b"


async def test_max_tokens_reaches_the_server_as_num_predict(server, llm):
    server.enqueue(["one", " two", " three", " four"])
    assert await collect(llm, GenerationOptions(max_tokens=2)) == ["one", " two"]


@pytest.mark.parametrize(("configured", "sent"), [("300", 300.0), (-1, -1), ("1h30m", "1h30m")])
async def test_keep_alive_is_sent_in_a_form_ollama_accepts(server, configured, sent):
    llm = OllamaLLM(server.url, DEFAULT_MODEL, keep_alive=configured)
    server.enqueue(["ok"])
    await collect(llm)
    await llm.aclose()
    assert server.chat_requests[0]["keep_alive"] == sent


async def test_no_keep_alive_leaves_the_servers_default(server):
    llm = OllamaLLM(server.url, DEFAULT_MODEL, keep_alive=None)
    server.enqueue(["ok"])
    await collect(llm)
    await llm.aclose()
    assert "keep_alive" not in server.chat_requests[0]


def test_an_invalid_keep_alive_fails_at_start_up_naming_the_setting():
    with pytest.raises(ConfigError, match="OLLAMA_KEEP_ALIVE"):
        OllamaLLM("http://127.0.0.1:1", DEFAULT_MODEL, keep_alive="forever")


@pytest.mark.parametrize(("timeout", "max_queue"), [(0, 32), (60, 0)])
def test_a_zero_timeout_or_queue_fails_at_start_up(timeout, max_queue):
    with pytest.raises(ConfigError):
        OllamaLLM("http://127.0.0.1:1", DEFAULT_MODEL, timeout=timeout, max_queue=max_queue)


# -- failures become honest user-facing errors -------------------------------------------------


async def test_unknown_model_tells_the_operator_to_pull_it(server, caplog):
    caplog.set_level(logging.ERROR, logger=LOGGER)
    llm = OllamaLLM(server.url, "mistral-nemo")
    with pytest.raises(ModelUnavailable, match=r"ollama pull mistral-nemo"):
        await collect(llm)
    await llm.aclose()
    [record] = [r for r in caplog.records if r.getMessage() == "llm_model_missing"]
    assert record.levelno == logging.ERROR and record.model == "mistral-nemo"


async def test_connection_refused_says_the_server_is_unavailable_and_logs_the_host(closed_port, caplog):
    caplog.set_level(logging.WARNING, logger=LOGGER)
    host = f"http://127.0.0.1:{closed_port}"
    llm = OllamaLLM(host, DEFAULT_MODEL)
    with pytest.raises(ModelUnavailable) as caught:
        await collect(llm)
    await llm.aclose()
    assert str(caught.value) == UNREACHABLE
    assert any(r.getMessage() == "llm_unreachable" and r.host == host for r in caplog.records)
    assert llm.queue_depth == 0


@pytest.mark.parametrize("end", ["eof", "drop", "garbage", "error"])
async def test_a_stream_that_breaks_midway_fails_after_the_chunks_already_sent(server, llm, end):
    server.enqueue(["The answer", " is"], end=end)
    received: list[str] = []
    with pytest.raises(ModelUnavailable) as caught:
        await collect(llm, into=received)
    assert str(caught.value) == BROKEN
    assert received == ["The answer", " is"]
    assert llm.queue_depth == 0


async def test_a_runner_crash_before_any_content_is_a_clear_error(server, llm):
    server.enqueue([], end="error")
    with pytest.raises(ModelUnavailable, match="unavailable"):
        await collect(llm)


async def test_ollamas_own_full_queue_says_busy(server, llm):
    server.enqueue(["never"], end="busy")
    with pytest.raises(Busy, match="busy"):
        await collect(llm)


async def test_a_host_that_is_not_an_ollama_api_is_not_mistaken_for_a_missing_model(server):
    llm = OllamaLLM(server.url + "/v1", DEFAULT_MODEL)  # a common misconfiguration
    with pytest.raises(ModelUnavailable) as caught:
        await collect(llm)
    await llm.aclose()
    assert str(caught.value) == UNREACHABLE
    assert "ollama pull" not in str(caught.value)


async def test_no_first_token_within_the_timeout(server):
    llm = OllamaLLM(server.url, DEFAULT_MODEL, timeout=0.3)
    server.enqueue([], end="stall")
    with pytest.raises(ModelUnavailable) as caught:
        await collect(llm)
    await llm.aclose()
    assert str(caught.value) == TOO_SLOW
    assert llm.queue_depth == 0


async def test_no_next_chunk_within_the_timeout(server):
    llm = OllamaLLM(server.url, DEFAULT_MODEL, timeout=0.3)
    server.enqueue(["Thinking"], end="stall")
    received: list[str] = []
    with pytest.raises(ModelUnavailable, match="took too long"):
        await collect(llm, into=received)
    await llm.aclose()
    assert received == ["Thinking"]


async def test_requests_beyond_max_queue_are_refused_at_once(server):
    llm = OllamaLLM(server.url, DEFAULT_MODEL, max_queue=1)
    server.enqueue(["first"], end="stall")
    held = llm.stream(PROMPT, GenerationOptions())
    assert await anext(held) == "first"
    assert llm.queue_depth == 1

    with pytest.raises(Busy):
        await collect(llm)
    assert len(server.chat_requests) == 1  # the refused one never reached the server

    await held.aclose()
    assert llm.queue_depth == 0
    server.enqueue(["again"])
    assert await collect(llm) == ["again"]
    await llm.aclose()


# -- health and lifecycle --------------------------------------------------------------------


async def test_health_passes_when_the_model_is_installed(server):
    llm = OllamaLLM(server.url, "llama3.2:1b")
    await llm.health()
    await llm.aclose()
    assert [(r.method, r.path) for r in server.requests] == [("GET", "/api/tags")]


async def test_health_matches_an_untagged_name_to_latest():
    async with running_ollama(models=["phi3:latest"]) as (url, _):
        llm = OllamaLLM(url, "phi3")
        await llm.health()
        await llm.aclose()


async def test_health_fails_when_the_server_is_down(closed_port):
    llm = OllamaLLM(f"http://127.0.0.1:{closed_port}", DEFAULT_MODEL)
    with pytest.raises(ModelUnavailable) as caught:
        await llm.health()
    await llm.aclose()
    assert str(caught.value) == UNREACHABLE


async def test_health_fails_when_the_model_is_missing(server):
    llm = OllamaLLM(server.url, "gemma2:2b")
    with pytest.raises(ModelUnavailable, match=r"ollama pull gemma2:2b"):
        await llm.health()
    await llm.aclose()


async def test_aclose_closes_only_a_client_it_created(server):
    own = OllamaLLM(server.url, DEFAULT_MODEL)
    given = ollama.AsyncClient(host=server.url)
    borrowed = OllamaLLM(server.url, DEFAULT_MODEL, client=given)
    await own.aclose()
    await borrowed.aclose()
    assert own._client._client.is_closed
    assert not given._client.is_closed
    server.enqueue(["still works"])
    assert await collect(borrowed) == ["still works"]
    await given.close()


# -- the fake refuses what Ollama refuses ----------------------------------------------------------


HI = [{"role": "user", "content": "hi"}]
BAD_CONTENT = [{"role": "user", "content": 3}]


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "error"),
    [
        ("POST", "/api/chatt", {"model": DEFAULT_MODEL}, 404, None),
        ("GET", "/api/chat", None, 405, None),
        ("POST", "/api/chat", "{not json", 400, "invalid character"),
        ("POST", "/api/chat", "", 400, "missing request body"),
        ("POST", "/api/chat", {"messages": HI}, 400, "model is required"),
        ("POST", "/api/chat", {"model": "nope", "messages": HI}, 404, 'model "nope" not found, try pulling it first'),
        ("POST", "/api/chat", {"model": DEFAULT_MODEL, "messages": "hi"}, 400, "cannot unmarshal"),
        ("POST", "/api/chat", {"model": DEFAULT_MODEL, "messages": BAD_CONTENT}, 400, "cannot unmarshal"),
        ("POST", "/api/chat", {"model": DEFAULT_MODEL, "keep_alive": "5 minutes"}, 400, "invalid duration"),
        ("POST", "/api/chat", {"model": DEFAULT_MODEL, "options": {"top_p": "high"}}, 400, "must be of type float"),
        ("POST", "/api/show", {}, 400, "model is required"),
        ("POST", "/api/show", {"model": "nope"}, 404, "model 'nope' not found"),
    ],
)
async def test_the_fake_refuses_what_ollama_refuses(server, method, path, body, status, error):
    content = body if isinstance(body, str) else None
    async with httpx.AsyncClient(base_url=server.url) as http:
        response = await http.request(method, path, content=content, json=None if content is not None else body)
    assert response.status_code == status
    if error is None:
        assert response.text == f"{status} {'page not found' if status == 404 else 'method not allowed'}"
    else:
        assert error in response.json()["error"]
    assert server.problems == []


async def test_the_fake_fails_loudly_on_requests_ollama_would_not_honour(server):
    unknown_option = {"model": DEFAULT_MODEL, "messages": HI, "options": {"max_tokens": 5}}
    async with httpx.AsyncClient(base_url=server.url) as http:
        refused = await http.post("/api/chat", json=unknown_option)
        unscripted = await http.post("/api/chat", json={**unknown_option, "options": {}})
    assert refused.status_code == 400 and "unknown option 'max_tokens'" in refused.json()["error"]
    assert unscripted.status_code == 500 and "no reply scripted" in unscripted.json()["error"]
    assert len(server.problems) == 2
    server.problems.clear()  # seen; otherwise running_ollama raises at exit


async def test_the_fake_answers_non_streaming_chat_and_show_like_ollama(server):
    server.enqueue(["Hello", " there"])
    async with ollama.AsyncClient(host=server.url) as client:
        reply = await client.chat(model=DEFAULT_MODEL, messages=[{"role": "user", "content": "hi"}])
        shown = await client.show(DEFAULT_MODEL)
    assert reply.message.content == "Hello there" and reply.done and reply.done_reason == "stop"
    assert shown.details.family == "llama"


# -- through ChatService: a broken stream stores nothing ----------------------------------------


async def test_chat_service_stores_a_good_turn_and_nothing_of_a_broken_one(server, llm, sqlite_store, registry):
    chat = ChatService(sqlite_store, llm, registry)
    server.enqueue(["Hello", " from", " Ollama"])
    reply = await chat.reply("discord:42", "hi")
    assert reply.text == "Hello from Ollama"

    server.enqueue(["Half an"], end="drop")
    with pytest.raises(ModelUnavailable, match="partway"):
        await chat.reply("discord:42", "and then?")

    history = await chat.history("discord:42")
    assert [(m.role, m.content) for m in history] == [("user", "hi"), ("assistant", "Hello from Ollama")]


async def test_chat_service_sends_the_personas_settings_and_model(server, llm, sqlite_store, tmp_path: Path):
    (tmp_path / "coder.yaml").write_text(
        "name: coder\ndisplay_name: Coder\nsystem_prompt: You write code.\n"
        "temperature: 0.1\nmax_tokens: 200\ntop_p: 0.8\nmodel: qwen2.5:0.5b\n"
    )
    chat = ChatService(sqlite_store, llm, PersonaRegistry.from_directory(tmp_path, "coder"))
    server.enqueue(["print(1)"])
    reply = await chat.reply("telegram:7", "write code")
    assert reply.text == "print(1)"

    [sent] = server.chat_requests
    assert sent["model"] == "qwen2.5:0.5b"
    assert sent["messages"] == [
        {"role": "system", "content": "You write code."},
        {"role": "user", "content": "write code"},
    ]
    assert sent["options"] == {"temperature": 0.1, "num_predict": 200, "num_ctx": chat.limits.num_ctx, "top_p": 0.8}
    assert len(await chat.history("telegram:7")) == 2


async def test_chat_service_times_out_honestly_and_stores_nothing(server, sqlite_store, registry):
    llm = OllamaLLM(server.url, DEFAULT_MODEL, timeout=0.3)
    chat = ChatService(sqlite_store, llm, registry)
    server.enqueue([], end="stall")
    with pytest.raises(ModelUnavailable, match="took too long"):
        await chat.reply("terminal:alice", "are you there?")
    await llm.aclose()
    assert await chat.history("terminal:alice") == []


async def test_chat_service_caps_a_stream_that_never_ends(server, llm, sqlite_store, registry):
    chat = ChatService(sqlite_store, llm, registry, ChatLimits(max_reply_chars=40))
    server.enqueue(["la "], end="forever")
    reply = await chat.reply("rest:x", "sing")
    assert reply.incomplete and len(reply.text) == 40
    [_, stored] = await chat.history("rest:x")
    assert stored.content == reply.text and stored.metadata.get("incomplete") is True
    assert llm.queue_depth == 0
