"""OpenAILLM against a real server nobody here wrote: llama-cpp-python's `llama_cpp.server` with SmolLM2.

One server and one embedded model per module. The server applies the model's chat template itself,
so the comparison with the local backend is on text: the same prompt at temperature 0 must give
the same reply through both.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator

import httpx2
import openai
import pytest

from nono.core.llm.base import ChatMessage, GenerationOptions, ModelInfo
from nono.core.llm.local_llm import LocalLLM
from nono.core.llm.openai_llm import OpenAILLM
from tests.support.llama_server import LlamaServer, llama_server

pytestmark = pytest.mark.slow

SEED = 1234
MAX_TOKENS = 16
STORY = [
    ChatMessage("system", "You are a helpful assistant."),
    ChatMessage("user", "Write a long story about a dragon."),
]


@pytest.fixture(scope="module")
def server() -> Iterator[LlamaServer]:
    with llama_server() as running:
        yield running


@pytest.fixture(scope="module")
def local_llm() -> Iterator[LocalLLM]:
    llm = LocalLLM(seed=SEED)
    yield llm
    asyncio.run(llm.aclose())


@pytest.fixture
async def llm(server: LlamaServer) -> AsyncIterator[OpenAILLM]:
    backend = OpenAILLM(base_url=server.base_url, api_key=None, model=server.model, headers={}, timeout=60)
    yield backend
    await backend.aclose()


class PlainGreedy(httpx2.AsyncHTTPTransport):
    """Adds llama_cpp.server's own `repeat_penalty: 1.0` to each chat request.

    Its default is 1.1, which the OpenAI API has no parameter to change; the local backend applies
    no penalty. Everything else in the request is what OpenAILLM sends.
    """

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if request.url.path.endswith("/chat/completions"):
            body = {**json.loads(request.content), "repeat_penalty": 1.0}
            headers = [(k, v) for k, v in request.headers.items() if k.lower() != "content-length"]
            request = httpx2.Request(request.method, request.url, headers=headers, json=body)
        return await super().handle_async_request(request)


def greedy() -> GenerationOptions:
    return GenerationOptions(temperature=0.0, max_tokens=MAX_TOKENS, seed=SEED)


async def test_a_reply_streams_in_several_chunks(llm: OpenAILLM):
    chunks = [chunk async for chunk in llm.stream(STORY, GenerationOptions(max_tokens=16, seed=SEED))]
    assert len(chunks) > 1 and "".join(chunks).strip()
    assert llm.queue_depth == 0


async def test_temperature_zero_gives_the_same_text_as_the_local_backend(server: LlamaServer, local_llm: LocalLLM):
    client = openai.AsyncOpenAI(
        base_url=server.base_url,
        api_key="not-needed",
        max_retries=0,
        http_client=httpx2.AsyncClient(transport=PlainGreedy()),
    )
    remote = OpenAILLM(base_url=server.base_url, api_key=None, model=server.model, client=client)
    served = "".join([chunk async for chunk in remote.stream(STORY, greedy())])
    await client.close()
    local = "".join([chunk async for chunk in local_llm.stream(STORY, greedy())])
    assert served.strip() and served == local


async def test_the_server_lists_its_model_and_answers_health(llm: OpenAILLM, server: LlamaServer):
    assert await llm.list_models() == [ModelInfo(server.model)]
    await llm.health()


async def test_counts_learnt_from_the_servers_tokenizer_equal_the_local_models(llm: OpenAILLM, local_llm: LocalLLM):
    texts = ["Hello world, how are you?", "Ünïcödé, and a dragon 🐉!", "def double(x):\n    return x * 2\n"]
    estimates = [llm.count_tokens(text) for text in texts]
    assert await llm.learn_counts() is True
    exact = [llm.count_tokens(text) for text in texts]
    assert exact == [local_llm.count_tokens(text) for text in texts]
    assert exact != estimates
