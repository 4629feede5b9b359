"""OpenAILLM: the real `openai` client against a loopback server speaking the OpenAI wire format."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from nono.core.chat import ChatService
from nono.core.errors import ConfigError, ModelUnavailable
from nono.core.llm.base import GenerationOptions, ModelInfo, estimate_tokens
from nono.core.llm.openai_errors import (
    UNREACHABLE,
)
from nono.core.llm.openai_llm import OpenAILLM
from nono.core.personas import PersonaRegistry
from tests.core.llm.openai.helpers import KEY, collect, make
from tests.fakes.openai_server import DEFAULT_MODEL, running_openai

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
