"""Persona names that try to reach files: refused everywhere, and personas come only from the loaded set.

Next to a private copy of the persona directory lies a perfectly valid persona file that was
never loaded (`outside.yaml`, persona `outside`). Every way a user can name a persona — the
sidecar's PUT …/persona, `/chat` and `/session/start`, Telegram's `/persona NAME` and the
callback data of its inline keyboard (forged by a client), Discord's `/persona`, the
terminal's `/persona` — is tried with traversal, encoded traversal, absolute paths and that
outside file: each is a 404/422 or a clear "unknown persona" reply, and the session keeps
its persona.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from nono.adapters.discord import NonoBot, create_discord_bot
from nono.adapters.telegram.handlers import PERSONA_DATA
from nono.adapters.terminal import run_terminal
from nono.bot.options import discord_options
from nono.core.chat import ChatService
from nono.core.errors import UnknownPersona
from nono.core.llm.fake import FakeLLM
from nono.core.personas import PersonaRegistry
from tests.adapters.http.helpers import AUTH
from tests.fakes.telegram_server import FakeTelegram
from tests.hardening.fault_fixtures import (
    ALICE,
    nono_settings,
    nono_with_telegram,
    running_nono,
    telegram_values,
)
from tests.support.settings import make_settings, shipped_personas_beside

OUTSIDE = "name: outside\ndisplay_name: Outsider\nsystem_prompt: You were never loaded.\n"


def hostile_names(outside: Path) -> list[str]:
    """Names that point at files, in the spellings attackers use; the last one is a name nobody loaded."""
    return [
        "../../etc/passwd",
        "..%2f..%2fetc%2fpasswd",
        "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "%252e%252e%252fetc%252fpasswd",
        "..\\..\\windows\\win.ini",
        "/etc/passwd",
        str(outside),
        str(outside.with_suffix("")),
        "../outside",
        "../outside.yaml",
        "pirate/../../outside",
        "./pirate",
        "pirate.yaml",
        "..",
        "outside",
    ]


@pytest.fixture
def personas(tmp_path: Path) -> Path:
    """A copy of the shipped personas, with a valid persona file right outside the directory."""
    return shipped_personas_beside(tmp_path, "outside.yaml", OUTSIDE)


@pytest.fixture
def names(personas: Path) -> list[str]:
    return hostile_names(personas.parent / "outside.yaml")


def loaded(personas: Path) -> list[str]:
    return PersonaRegistry.from_directory(personas, "assistant").names()


async def test_the_sidecar_refuses_every_hostile_name_on_every_route(
    tmp_path: Path, personas: Path, names: list[str]
) -> None:
    llm = FakeLLM()
    async with running_nono(nono_settings(tmp_path, personas_dir=personas), llm=llm) as nono:
        for name in [*names, "pirate\x00", "pirate\n"]:
            for method, path, body in (
                ("PUT", "/session/rest:eve/persona", {"persona": name}),
                ("POST", "/chat", {"user_id": "rest:eve", "message": "hi", "persona": name}),
                ("POST", "/session/start", {"user_id": "rest:eve", "persona": name}),
            ):
                response = await nono.client.request(method, path, headers=AUTH, json=body)
                problem = await response.json(content_type=None)
                assert response.status in (404, 422), (name, path, problem)
                assert response.content_type == "application/problem+json"
                assert str(personas) not in problem["detail"] and "root:" not in problem["detail"]
        assert await nono.services.chat.session("rest:eve") is None
        assert llm.history == []
        assert "outside" not in nono.services.personas
        response = await nono.client.post("/personas/reload", headers=AUTH)
        assert (await response.json())["personas"] == loaded(personas), "a reload reads only the directory"


async def test_telegram_refuses_hostile_names_typed_or_forged_in_the_keyboards_callback_data(
    tmp_path: Path, personas: Path, names: list[str], tg: FakeTelegram
) -> None:
    settings = nono_settings(tmp_path, personas_dir=personas, **telegram_values(tg))
    async with nono_with_telegram(settings, llm=FakeLLM()) as nono:
        alice, chat = tg.users[ALICE], tg.chats[ALICE]
        for name in (names[0], names[6], names[-1]):  # typed: a few (private chats take one reply a second)
            shown = len(tg.shown(ALICE))
            tg.say(alice, chat, f"/persona {name}")
            await tg.wait_for(lambda shown=shown: len(tg.shown(ALICE)) > shown)
            assert tg.shown(ALICE)[-1].startswith("Unknown persona"), name

        tg.say(alice, chat, "/persona")
        await tg.wait_for(lambda: tg.bot_messages(ALICE)[-1].get("reply_markup"))
        keyboard = tg.bot_messages(ALICE)[-1]
        for name in names:  # forged: every one (callback answers are not paced)
            data = (PERSONA_DATA + name).encode()[:64].decode("utf-8", "ignore")  # what a client can send
            query = tg.press(alice, keyboard, data)
            await tg.wait_for(lambda query=query: tg.queries[query])
            assert tg.queries[query]["text"].startswith("Unknown persona"), data
            assert tg.queries[query]["show_alert"] is True
        session = await nono.services.chat.session(f"telegram:{ALICE}")
        assert session is None or session.persona == "assistant"

        query = tg.press(alice, keyboard, PERSONA_DATA + "pirate")  # the control: a real button works
        await tg.wait_for(lambda: tg.queries[query])
        assert (await nono.services.chat.get_persona(f"telegram:{ALICE}")).name == "pirate"


@pytest.fixture
def persona_registry(personas: Path) -> PersonaRegistry:
    return PersonaRegistry.from_directory(personas, "assistant")


@pytest.fixture
def persona_chat(sqlite_store, fake_llm: FakeLLM, persona_registry: PersonaRegistry) -> ChatService:
    return ChatService(sqlite_store, fake_llm, persona_registry)


@pytest.fixture
def simcord_bot(persona_chat: ChatService) -> NonoBot:
    return create_discord_bot(persona_chat, discord_options(make_settings()))


async def test_discord_refuses_hostile_names_privately_and_suggests_none(
    simcord_env, persona_chat: ChatService, names: list[str]
) -> None:
    guild = simcord_env.create_guild("Club")
    channel = guild.create_text_channel("general")
    mallory = guild.add_member(simcord_env.create_user("mallory"))

    for name in names:
        result = await mallory.slash(channel, "persona", name=name)
        shown = "\n".join([result.response.content, *(m.content for m in result.followups)])
        assert result.ephemeral and shown.startswith("Unknown persona"), name
        assert await mallory.autocomplete(channel, "persona", "name", name) == [], name

    for conversation in (f"discord:{mallory.id}", f"discord:channel:{channel.id}:person:{mallory.id}"):
        assert await persona_chat.session(conversation) is None
    assert [m for m in channel.history() if m.author.id == simcord_env.bot.user.id] == []
    # The one error handler answered each; SimCord still records what the command raised.
    assert [type(e.original) for e in simcord_env.errors] == [UnknownPersona] * len(names)


async def test_the_terminal_refuses_hostile_names(persona_chat: ChatService, names: list[str]) -> None:
    stdin = io.StringIO("".join(f"/persona {name}\n" for name in names))
    stdout = io.StringIO()

    await run_terminal(persona_chat, "terminal:eve", stdin, stdout)

    lines = stdout.getvalue().splitlines()
    assert len(lines) == len(names) and all(line.startswith("Unknown persona") for line in lines)
    assert await persona_chat.session("terminal:eve") is None
