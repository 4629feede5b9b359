"""End to end with the real SmolLM2: `nono chat` prints what a direct greedy generation produces."""

from __future__ import annotations

import io

import pytest

from nono.adapters.terminal_adapter import run_terminal
from nono.core.chat import ChatService
from nono.core.llm.base import ChatMessage
from nono.core.personas import PersonaRegistry

pytestmark = pytest.mark.slow

GREEDY_PERSONA = """\
name: greedy
display_name: Greedy
system_prompt: You are a helpful assistant. Answer in one short sentence.
temperature: 0
max_tokens: 40
"""


@pytest.fixture(scope="module")
def local_llm():
    from nono.core.llm.local_llm import LocalLLM

    llm = LocalLLM(n_ctx=2048, n_threads=2)
    yield llm
    llm.llama.close()


async def test_terminal_reply_equals_direct_greedy_generation_and_is_stored(tmp_path, sqlite_store, local_llm):
    from tests.support.greedy import greedy_reply

    (tmp_path / "greedy.yaml").write_text(GREEDY_PERSONA)
    registry = PersonaRegistry.from_directory(tmp_path, "greedy")
    chat = ChatService(sqlite_store, local_llm, registry)
    stdout = io.StringIO()

    await run_terminal(chat, "terminal:alice", io.StringIO("What is the capital of France?\n"), stdout)

    persona = registry.get("greedy")
    expected = greedy_reply(
        local_llm,
        [ChatMessage("system", persona.system_prompt), ChatMessage("user", "What is the capital of France?")],
        persona.max_tokens,
    )
    assert expected.strip()
    assert stdout.getvalue() == expected + "\n"
    history = await chat.history("terminal:alice")
    assert [(m.role, m.content) for m in history] == [
        ("user", "What is the capital of France?"),
        ("assistant", expected),
    ]
