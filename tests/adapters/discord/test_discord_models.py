"""/models as a Discord user sees it: every backend's models, privately, the answering one marked, names literal."""

from __future__ import annotations

import re

import pytest

from nono.core.chat import ChatService
from tests.support.discord import shown
from tests.support.model_backends import QWEN, REFUSED, model_backends, model_registry


@pytest.fixture
def chat(sqlite_store, personas_dir) -> ChatService:
    """Three backends (local, ollama, openai whose server refuses to list), and personas on each."""
    return ChatService(sqlite_store, model_backends(failing=("openai",)), model_registry(personas_dir))


def unescaped(text: str) -> str:
    """What Discord displays for Markdown-escaped text."""
    return re.sub(r"\\([\\*_~|`>#\-\[\]])", r"\1", text)


async def test_models_answers_privately_with_the_personas_model_marked(discord_server, chat):
    server = discord_server

    await server.alice.slash(server.channel, "persona", name="scout")
    result = await server.alice.slash(server.channel, "models")

    assert result.ephemeral
    lines = unescaped(shown(result)).splitlines()
    assert lines[0] == f"Scout answers here with {QWEN.name} (ollama)."
    assert f"▶ {QWEN.name} (4.7 GB)" in lines
    assert "local (default backend):" in lines and "• llama3.2:latest (2.0 GB)" in lines
    assert lines[-1] == f"openai: can't list its models: {REFUSED}"
    # Underscores in model names are escaped, so Discord shows them instead of turning text italic.
    assert "Q4\\_K\\_M" in shown(result)
    assert server.bot_messages() == []  # nothing in the channel for everyone to see


async def test_models_in_a_dm_marks_the_default_backends_model(simcord_env):
    result = await simcord_env.create_user("jane").slash("models")

    assert result.ephemeral
    lines = unescaped(shown(result)).splitlines()
    assert lines[:3] == [
        "Assistant answers here with SmolLM2-135M-Instruct-Q8_0.gguf (local).",
        "local (default backend):",
        "▶ SmolLM2-135M-Instruct-Q8_0.gguf (145 MB, 8K context)",
    ]
