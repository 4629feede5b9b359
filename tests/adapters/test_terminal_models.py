"""/models in the terminal chat, through its real stdin/stdout handling with piped input."""

from __future__ import annotations

import io

from nono.adapters.terminal import run_terminal
from nono.core.chat import ChatService
from tests.support.model_backends import GPT, REFUSED, model_backends, model_registry

USER = "terminal:alice"


async def test_models_lists_every_backend_and_follows_the_persona(sqlite_store, personas_dir):
    chat = ChatService(sqlite_store, model_backends(failing=("ollama",)), model_registry(personas_dir))
    stdout = io.StringIO()

    await run_terminal(chat, USER, io.StringIO("/models\n/persona cloud\n/models\n"), stdout)

    before, after = stdout.getvalue().split("Now speaking as Cloud (cloud).\n")
    assert before.splitlines() == [
        "Assistant answers here with SmolLM2-135M-Instruct-Q8_0.gguf (local).",
        "local (default backend):",
        "▶ SmolLM2-135M-Instruct-Q8_0.gguf (145 MB, 8K context)",
        f"ollama: can't list its models: {REFUSED}",
        "openai:",
        "• openai/gpt-4o-mini (128K context)",
        "• anthropic/claude-3.5-haiku (200K context)",
    ]
    assert after.splitlines()[0] == f"Cloud answers here with {GPT.name} (openai)."
    assert "▶ openai/gpt-4o-mini (128K context)" in after.splitlines()
    assert "• SmolLM2-135M-Instruct-Q8_0.gguf (145 MB, 8K context)" in after.splitlines()
