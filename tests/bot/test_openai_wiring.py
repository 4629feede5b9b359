"""LLM_BACKEND=openai from Settings: the key and the extra headers reach the server and never the log."""

from __future__ import annotations

import json
import logging

import pytest

from nono.bot.backends import build_backends
from nono.bot.services import open_services
from nono.core.errors import ModelUnavailable
from nono.core.llm.base import ChatMessage, GenerationOptions
from nono.core.llm.openai_llm import OpenAILLM
from tests.fakes.openai_server import DEFAULT_MODEL, running_openai
from tests.support.settings import make_settings

KEY = "sk-or-v1-0123456789abcdefWIRING"
HEADERS = {"HTTP-Referer": "https://bot.example/wiring-referer", "X-Title": "Nono wiring title"}


def openai_settings(tmp_path, url: str):
    return make_settings(
        tmp_path,
        llm_backend="openai",
        openai_base_url=url,
        openai_api_key=KEY,
        openai_headers=json.dumps(HEADERS),
        model_name=DEFAULT_MODEL,
    )


async def test_settings_build_an_openai_backend_that_sends_the_key_and_headers(tmp_path):
    async with running_openai(api_key=KEY) as (url, server):
        backends = build_backends(openai_settings(tmp_path, url))
        llm = backends.default_llm
        assert isinstance(llm, OpenAILLM) and llm.model == DEFAULT_MODEL and backends.names == ("openai",)
        server.enqueue(["hi", " there"])
        chunks = [c async for c in llm.stream([ChatMessage("user", "hello")], GenerationOptions())]
        await backends.aclose()
    assert chunks == ["hi", " there"]
    [sent] = server.chat_requests
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.headers["http-referer"] == HEADERS["HTTP-Referer"] and sent.headers["x-title"] == HEADERS["X-Title"]


async def test_a_refused_key_fails_the_turn_and_neither_key_nor_headers_reach_the_log(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)  # the client libraries' debug lines too
    wanted = "sk-the-one-the-server-wants"
    async with (
        running_openai(api_key=wanted) as (url, server),
        open_services(openai_settings(tmp_path, url)) as services,
    ):
        with pytest.raises(ModelUnavailable, match="OPENAI_API_KEY"):
            await services.chat.reply("terminal:alice", "hello")
    assert any(r.getMessage() == "llm_key_refused" for r in caplog.records)
    assert server.chat_requests  # the key was tried, and refused
    logged = "\n".join(json.dumps(r.__dict__, default=str) for r in caplog.records) + caplog.text
    for secret in (KEY, *HEADERS.values()):
        assert secret not in logged
    import sys

    print(sorted({(r.name, r.getMessage()[:60]) for r in caplog.records}), file=sys.stderr)
