"""A DM refused after its turn was started gives the place in line back: the person's next message is answered.

The adapter starts the turn first (to keep arrival order) and checks who may DM after; a
refusal closes the turn unread. With one turn at a time allowed, a kept place would answer
the next message with "too many messages waiting" instead.
"""

from __future__ import annotations

import pytest

from nono.core.chat import ChatService
from nono.core.llm.fake import FakeLLM
from nono.core.wording import REFUSAL

HOME = 3_333_333_333_333_333_333


@pytest.mark.chat_limits(max_pending_per_user=0)
@pytest.mark.discord_settings(discord_allowed_guilds=[HOME])
async def test_a_refused_dm_gives_its_place_back_and_the_next_dm_is_answered(
    simcord_env, fake_llm: FakeLLM, chat: ChatService
) -> None:
    home = simcord_env.create_guild("Home", id=HOME)
    oscar = simcord_env.create_user("oscar")
    fake_llm.enqueue(["Welcome, Oscar."])

    await oscar.send_dm("hello?")  # not a member of an allowed server yet: refused
    home.add_member(oscar)
    await oscar.send_dm("hello again")

    bot_id = simcord_env.bot.user.id
    assert [m.content for m in oscar.dm_channel.history() if m.author.id == bot_id] == [REFUSAL, "Welcome, Oscar."]
    assert chat.waiting(f"discord:{oscar.id}") == 0
    assert [m.content for m in await chat.history(f"discord:{oscar.id}")] == ["hello again", "Welcome, Oscar."]
    assert len(fake_llm.history) == 1, "the refused DM never reached the model"
