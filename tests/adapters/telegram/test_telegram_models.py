"""/models as a Telegram user sees it, through the real adapter and the loopback Bot API."""

from __future__ import annotations

import pytest

from nono.core.chat import ChatService
from tests.fakes.telegram_server import FakeTelegram
from tests.support.model_backends import GPT, QWEN, REFUSED, model_backends, model_registry
from tests.support.telegram import ALICE, GROUP


@pytest.fixture
def chat(sqlite_store, personas_dir) -> ChatService:
    """Three backends (local, ollama, openai whose server refuses to list), and personas on each."""
    return ChatService(sqlite_store, model_backends(failing=("openai",)), model_registry(personas_dir))


async def test_models_marks_the_model_of_the_persona_chosen_here(tg: FakeTelegram, telegram_bot):
    alice, private = tg.users[ALICE], tg.chats[ALICE]
    async with telegram_bot():
        for text in ("/models", "/persona scout", "/models"):
            count = len(tg.shown(ALICE))
            tg.say(alice, private, text)
            await tg.wait_for(lambda count=count: len(tg.shown(ALICE)) == count + 1)

    before, _switched, after = (text.splitlines() for text in tg.shown(ALICE))
    assert before[:3] == [
        "Assistant answers here with SmolLM2-135M-Instruct-Q8_0.gguf (local).",
        "local (default backend):",
        "▶ SmolLM2-135M-Instruct-Q8_0.gguf (145 MB, 8K context)",
    ]
    assert after[0] == f"Scout answers here with {QWEN.name} (ollama)."
    assert f"▶ {QWEN.name} (4.7 GB)" in after and "• SmolLM2-135M-Instruct-Q8_0.gguf (145 MB, 8K context)" in after
    # Plain text: a model name's underscores and slashes reach the user as they are.
    assert not tg.bot_messages(ALICE)[-1].get("entities")
    assert after[-1] == f"openai: can't list its models: {REFUSED}"


async def test_models_in_a_group_answers_the_asker_and_is_in_the_command_menu(tg: FakeTelegram, telegram_bot):
    async with telegram_bot():
        tg.say(tg.users[ALICE], tg.chats[GROUP], "/persona@nono_test_bot cloud")
        await tg.wait_for(lambda: tg.shown(GROUP))
        tg.say(tg.users[ALICE], tg.chats[GROUP], "/models@nono_test_bot")
        await tg.wait_for(lambda: len(tg.shown(GROUP)) == 2)

    lines = tg.shown(GROUP)[1].splitlines()
    assert lines[0] == f"Cloud answers here with {GPT.name} (openai)."
    assert "ollama:" in lines and "• llama3.2:latest (2.0 GB)" in lines
    assert tg.bot_messages(GROUP)[1]["reply_to_message"]["text"] == "/models@nono_test_bot"
    assert "models" in [c["command"] for c in tg.commands]
