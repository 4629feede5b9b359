"""/link and /unlink on Discord: ephemeral codes, and Confirm/Cancel buttons that call the core.

The Telegram side is played by the core's Linker directly (the full cross-platform run lives with
the bot's tests); everything on the Discord side goes through SimCord, buttons pressed as a user would.
"""

from __future__ import annotations

import re

from nono.core.chat import ChatService
from nono.core.errors import InvalidInput
from nono.core.linking import CODE_TTL
from nono.core.llm.fake import FakeLLM
from nono.core.people import Speaker
from tests.support.discord import button_labels, shown

TESS = Speaker.of("telegram:4242", "Tess")
TESS_ACCOUNT = "Telegram account “Tess” (telegram:4242)"


async def test_link_in_a_dm_gives_a_private_code_and_cancel_drops_the_request(simcord_env, chat: ChatService):
    tom = simcord_env.create_user("tom", global_name="Tom")

    issued = await tom.slash("link")
    code = re.search(r"Your link code: (\S+)", shown(issued))[1]
    await chat.links.propose(TESS, code)  # Tess types it on Telegram
    asked = await tom.slash("link")
    question = shown(asked)
    await tom.click(asked.response, label="Cancel")

    assert issued.ephemeral and f"send /link {code} to me in a private chat" in shown(issued)
    assert (
        asked.ephemeral and question == f"Link this account with {TESS_ACCOUNT}? Only confirm if that account is yours."
    )
    assert asked.response.content == "Cancelled: nothing was linked."
    assert button_labels(asked) == []
    assert await chat.links.linked(f"discord:{tom.id}") == (f"discord:{tom.id}",)


async def test_link_in_a_server_channel_answers_only_the_asker(discord_server):
    server = discord_server

    result = await server.alice.slash(server.channel, "link")

    assert result.ephemeral and shown(result).startswith("Your link code: ")
    assert server.channel.history() == []  # nobody else sees a thing


async def test_link_with_a_wrong_code_says_so_privately(simcord_env):
    uma = simcord_env.create_user("uma")

    result = await uma.slash("link", code="ABCDE-FGHIJ")

    assert result.ephemeral
    assert shown(result).startswith("That code is wrong, used or expired.")
    assert [type(e.original) for e in simcord_env.errors] == [InvalidInput]


async def test_confirm_buttons_join_the_private_chats_and_unlink_splits_them(
    simcord_env, chat: ChatService, fake_llm: FakeLLM
):
    vic = simcord_env.create_user("vic", global_name="Vic")
    vics = f"discord:{vic.id}"
    fake_llm.enqueue(["What a lovely name."])
    await chat.reply(TESS.person, "my cat is called Whiskers", speaker=TESS)
    code = await chat.links.code(TESS)

    proposed = await vic.slash("link", code=code)
    buttons = button_labels(proposed)
    await vic.click(proposed.response, label="Confirm")
    confirmed_here = proposed.response.content
    proposal = await chat.links.pending(TESS.person)
    await chat.links.confirm(TESS.person, proposal.id)  # Tess presses her button on Telegram
    fake_llm.enqueue(["Whiskers."])
    await vic.send_dm("what is my cat called?")

    assert proposed.ephemeral and buttons == ["Confirm", "Cancel"]
    assert confirmed_here.startswith(f"Confirmed on this side. Now confirm on the {TESS_ACCOUNT}")
    assert set(await chat.links.linked(vics)) == {vics, TESS.person}
    assert ("user", "my cat is called Whiskers") in [(m.role, m.content) for m in fake_llm.history[1].messages]

    unlink = await vic.slash("unlink")
    question, unlink_buttons = shown(unlink), button_labels(unlink)
    await vic.click(unlink.response, label="Confirm")

    assert unlink.ephemeral and question.startswith(f"Unlink this account from {TESS.person}?")
    assert unlink_buttons == ["Confirm"]
    assert unlink.response.content.startswith("Unlinked.")
    assert await chat.links.linked(vics) == (vics,)
    assert [m.content for m in await chat.history(vics)] == ["what is my cat called?", "Whiskers."]


async def test_confirming_a_request_the_other_side_cancelled_says_it_expired(simcord_env, chat: ChatService):
    xena = simcord_env.create_user("xena")
    proposed = await xena.slash("link", code=await chat.links.code(TESS))
    proposal = await chat.links.pending(TESS.person)
    await chat.links.cancel(TESS.person, proposal.id)  # Tess pressed Cancel on Telegram

    await xena.click(proposed.response, label="Confirm")

    assert proposed.response.content == "That link request has expired. Start again with /link."
    assert button_labels(proposed) == []
    assert [type(e) for e in simcord_env.errors] == [InvalidInput]  # the buttons' error handler answered it
    assert await chat.links.linked(f"discord:{xena.id}") == (f"discord:{xena.id}",)


async def test_unpressed_buttons_are_taken_away_when_the_request_expires(simcord_env, chat: ChatService):
    wes = simcord_env.create_user("wes")
    proposed = await wes.slash("link", code=await chat.links.code(TESS))
    question, buttons = shown(proposed), button_labels(proposed)

    await simcord_env.advance_time(CODE_TTL + 1)

    assert buttons == ["Confirm", "Cancel"]
    assert button_labels(proposed) == []
    assert shown(proposed) == question
