"""/models as any adapter's user sees it: every backend's models, the default backend and the answering one marked."""

from __future__ import annotations

import pytest

from nono.core.chat import ChatService
from nono.core.commands import Commands
from nono.core.llm.base import ModelInfo
from nono.core.llm.fake import FakeLLM
from nono.core.model_list import MAX_NAMES
from nono.core.personas import Persona
from tests.support.model_backends import REFUSED, model_backends, model_registry

USER = "telegram:42"
#: Telegram's limit for one message; Discord's (2000) is met by splitting, as for any command answer.
TELEGRAM_LIMIT = 4096


def commands_over(sqlite_store, personas_dir, *extra: Persona, **backends) -> Commands:
    return Commands(ChatService(sqlite_store, model_backends(**backends), model_registry(personas_dir, *extra)))


async def test_every_backend_is_listed_with_the_default_and_the_answering_model_marked(sqlite_store, personas_dir):
    commands = commands_over(sqlite_store, personas_dir)

    text = await commands.dispatch(USER, "/models")

    assert text == "\n".join([
        "Assistant answers here with SmolLM2-135M-Instruct-Q8_0.gguf (local).",
        "local (default backend):",
        "▶ SmolLM2-135M-Instruct-Q8_0.gguf (145 MB, 8K context)",
        "ollama:",
        "• llama3.2:latest (2.0 GB)",
        "• hf.co/bartowski/Qwen2.5-7B-Instruct-GGUF:Q4_K_M (4.7 GB)",
        "openai:",
        "• openai/gpt-4o-mini (128K context)",
        "• anthropic/claude-3.5-haiku (200K context)",
    ])  # fmt: skip


async def test_switching_persona_moves_the_mark_to_its_backend_and_model(sqlite_store, personas_dir):
    commands = commands_over(sqlite_store, personas_dir)

    await commands.dispatch(USER, "/persona scout")
    scout = (await commands.dispatch(USER, "/models")).splitlines()
    await commands.dispatch(USER, "/persona cloud")
    cloud = (await commands.dispatch(USER, "/models")).splitlines()

    assert scout[0] == "Scout answers here with hf.co/bartowski/Qwen2.5-7B-Instruct-GGUF:Q4_K_M (ollama)."
    assert "▶ hf.co/bartowski/Qwen2.5-7B-Instruct-GGUF:Q4_K_M (4.7 GB)" in scout
    assert "• SmolLM2-135M-Instruct-Q8_0.gguf (145 MB, 8K context)" in scout
    assert cloud[0] == "Cloud answers here with openai/gpt-4o-mini (openai)."
    assert [line for line in cloud if line.startswith("▶")] == ["▶ openai/gpt-4o-mini (128K context)"]


async def test_a_backend_that_cannot_list_says_why_and_the_others_are_still_shown(sqlite_store, personas_dir):
    commands = commands_over(sqlite_store, personas_dir, failing=("openai",))
    await commands.dispatch(USER, "/persona cloud")

    lines = (await commands.dispatch(USER, "/models")).splitlines()

    assert lines[0] == "Cloud answers here with openai/gpt-4o-mini (openai)."
    assert lines[-1] == f"openai: can't list its models: {REFUSED}"
    assert "• llama3.2:latest (2.0 GB)" in lines and "ollama:" in lines and "local (default backend):" in lines


async def test_a_long_listing_is_capped_but_never_hides_the_answering_model(sqlite_store, personas_dir):
    hundreds = [ModelInfo(f"vendor-{i:03}/some-long-model-name-{i:03}-instruct-preview") for i in range(300)]
    last = Persona(name="last", display_name="Last", system_prompt="x", backend="openai", model=hundreds[-1].name)
    commands = commands_over(sqlite_store, personas_dir, last, openai=hundreds, ollama=hundreds[:200])
    await commands.dispatch(USER, "/persona last")

    text = await commands.dispatch(USER, "/models")

    openai = text.split("\nopenai:\n", 1)[1].splitlines()
    assert openai[0] == f"▶ {hundreds[-1].name}"
    assert openai[1:MAX_NAMES] == [f"• {m.name}" for m in hundreds[: MAX_NAMES - 1]]
    assert openai[MAX_NAMES:] == [f"… and {300 - MAX_NAMES} more"]
    assert f"… and {200 - MAX_NAMES} more" in text
    assert len(text) < TELEGRAM_LIMIT


async def test_a_persona_model_its_server_does_not_list_is_still_shown_marked(sqlite_store, personas_dir):
    gone = Persona(name="gone", display_name="Gone", system_prompt="x", backend="ollama", model="mistral:7b")
    commands = commands_over(sqlite_store, personas_dir, gone)
    await commands.dispatch(USER, "/persona gone")

    lines = (await commands.dispatch(USER, "/models")).splitlines()

    ollama = lines[lines.index("ollama:") + 1 :][:3]
    assert ollama == ["▶ mistral:7b (not listed by its server)", "• llama3.2:latest (2.0 GB)",
                      "• hf.co/bartowski/Qwen2.5-7B-Instruct-GGUF:Q4_K_M (4.7 GB)"]  # fmt: skip


async def test_an_ollama_model_named_without_its_tag_marks_the_latest_one(sqlite_store, personas_dir):
    llama = Persona(name="llama", display_name="Llama", system_prompt="x", backend="ollama", model="llama3.2")
    commands = commands_over(sqlite_store, personas_dir, llama)
    await commands.dispatch(USER, "/persona llama")

    lines = (await commands.dispatch(USER, "/models")).splitlines()

    assert "▶ llama3.2:latest (2.0 GB)" in lines
    assert not any("not listed" in line for line in lines)


@pytest.mark.parametrize(
    ("info", "shown"),
    [
        (ModelInfo("m", 999_999), "m (1 MB)"),
        (ModelInfo("m", 1), "m (1 MB)"),
        (ModelInfo("m", 9_990_000_000, 131_072), "m (10.0 GB, 128K context)"),
        (ModelInfo("m", context=4000), "m (4K context)"),
        (ModelInfo("m", context=4196), "m (4,196 context)"),
        (ModelInfo("m"), "m"),
    ],
)
async def test_sizes_and_contexts_are_shown_when_known(sqlite_store, personas_dir, info, shown):
    commands = commands_over(sqlite_store, personas_dir, local=[ModelInfo("own"), info])
    assert f"• {shown}" in (await commands.models(USER)).splitlines()


async def test_one_backend_alone_is_the_default_and_help_names_the_command(sqlite_store, registry):
    commands = Commands(ChatService(sqlite_store, FakeLLM(), registry))

    assert await commands.dispatch(USER, "/models") == "\n".join(
        ["Assistant answers here with fake-model (fake).", "fake (default backend):", "▶ fake-model"]
    )
    assert "/models — " in commands.help()
