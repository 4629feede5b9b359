"""The platform-neutral commands, as a user of any adapter sees them."""

from __future__ import annotations

import pytest

from nono.core.commands import Commands
from nono.core.errors import InvalidInput, UnknownPersona

USER = "telegram:42"


@pytest.fixture
def commands(chat) -> Commands:
    return Commands(chat)


async def test_personas_lists_every_persona_with_the_current_one_marked(commands, registry):
    await commands.persona(USER, "tutor")
    text = await commands.dispatch(USER, "/personas")
    for name in registry.names():
        assert name in text
    assert "▶ tutor" in text and "• pirate" in text


async def test_persona_switch_confirms_and_greets(commands, registry):
    text = await commands.dispatch(USER, "/persona Pirate ")
    assert "Captain Nono" in text and registry.get("pirate").greeting in text
    assert "▶ pirate" in await commands.dispatch(USER, "/persona")


async def test_unknown_persona_lists_valid_names(commands):
    with pytest.raises(UnknownPersona) as info:
        await commands.dispatch(USER, "/persona kraken")
    assert "engineer" in str(info.value) and "kraken" in str(info.value)


async def test_history_shows_recent_messages_and_reset_forgets_them(commands, chat, fake_llm):
    assert await commands.dispatch(USER, "/history") == "No messages yet."
    fake_llm.enqueue("The answer is 4.")
    await chat.reply(USER, "What is 2+2?")
    assert await commands.dispatch(USER, "/history") == "You: What is 2+2?\nNono: The answer is 4."
    assert await commands.dispatch(USER, "/history 1") == "Nono: The answer is 4."
    assert "forgotten" in await commands.dispatch(USER, "/reset")
    assert await commands.dispatch(USER, "/history") == "No messages yet."
    assert "nothing to forget" in await commands.dispatch(USER, "/reset")


@pytest.mark.parametrize("arg", ["0", "51", "many", "-3"])
async def test_history_count_must_be_sensible(commands, arg):
    with pytest.raises(InvalidInput):
        await commands.dispatch(USER, f"/history {arg}")


async def test_help_and_non_commands(commands):
    text = await commands.dispatch(USER, "/help")
    for name in ("/persona", "/personas", "/reset", "/history", "/help"):
        assert name in text
    assert await commands.dispatch(USER, "hello there") is None
    assert await commands.dispatch(USER, "/unknown") is None
    assert "Captain" not in await commands.greeting(USER)
