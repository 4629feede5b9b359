"""Discord fixtures: the real bot from `create_discord_bot`, run by SimCord against an in-memory Discord.

`simcord_bot` is the hook SimCord's pytest plugin asks for; `simcord_env` (from the plugin)
is the running world. Settings for one test come from `@pytest.mark.discord_settings(...)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import discord
import pytest
import simcord

from nono.adapters.discord import NonoBot, create_discord_bot
from nono.bot.options import discord_options
from nono.bot.settings import Settings
from nono.core.chat import ChatLimits, ChatService
from tests.support.settings import make_settings


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "discord_settings(**values): Settings fields for the Discord bot under test")
    config.addinivalue_line("markers", "chat_limits(**values): ChatLimits fields for the ChatService under test")


@pytest.fixture
def limits(request: pytest.FixtureRequest) -> ChatLimits:
    marker = request.node.get_closest_marker("chat_limits")
    return ChatLimits(**(marker.kwargs if marker else {}))


@pytest.fixture
def discord_settings(request: pytest.FixtureRequest) -> Settings:
    marker = request.node.get_closest_marker("discord_settings")
    values = marker.kwargs if marker else {}
    return make_settings(**values)


@pytest.fixture
def simcord_bot(chat: ChatService, discord_settings: Settings) -> NonoBot:
    return create_discord_bot(chat, discord_options(discord_settings))


@dataclass
class Server:
    """A guild with one text channel and two members, as most tests need."""

    env: simcord.Env
    guild: simcord.GuildHandle
    channel: simcord.ChannelHandle
    alice: simcord.MemberActor
    bob: simcord.MemberActor

    @property
    def bot_id(self) -> int:
        return self.env.bot.user.id

    def bot_messages(self, channel: simcord.ChannelHandle | None = None) -> list[discord.Message]:
        """What the bot posted in the channel (oldest first), as users see it now."""
        return [m for m in (channel or self.channel).history() if m.author.id == self.bot_id]

    def open_thread(self, name: str, owner: simcord.MemberActor) -> simcord.ChannelHandle:
        """A public thread in the channel, as a member opens one (SimCord has no actor verb for it)."""
        thread = self.env.backend.create_thread(self.channel.id, name, owner.id)
        return simcord.ChannelHandle(self.env, self.guild, thread)


@pytest.fixture
def discord_server(simcord_env: simcord.Env) -> Server:
    guild = simcord_env.create_guild("Nono Club")
    channel = guild.create_text_channel("general")
    alice = guild.add_member(simcord_env.create_user("alice", global_name="Alice"))
    bob = guild.add_member(simcord_env.create_user("bob", global_name="Bob"))
    return Server(simcord_env, guild, channel, alice, bob)


@dataclass(frozen=True)
class Edit:
    """One MESSAGE_UPDATE as Discord clients receive it."""

    message_id: int
    channel_id: int
    content: str
    at: datetime  # the simulated clock's edited_timestamp


@pytest.fixture
def discord_edits(simcord_bot: NonoBot) -> list[Edit]:
    """Every edit of a message, in the order Discord announced them."""
    edits: list[Edit] = []

    async def record(payload: discord.RawMessageUpdateEvent) -> None:
        data = payload.data
        at = datetime.fromisoformat(data["edited_timestamp"])
        edits.append(Edit(payload.message_id, payload.channel_id, data["content"], at))

    simcord_bot.add_listener(record, "on_raw_message_edit")
    return edits


@pytest.fixture
def post_together(simcord_env: simcord.Env):
    """`await post_together((channel_id, author_id, text), ...)`: messages arriving at the same instant.

    An actor's `send` waits for the bot to finish reacting, so two actor sends never overlap.
    To have several messages in flight at once, this creates them in SimCord's backend (what
    `send` does, minus the wait), then lets the bot run until it is idle.
    """

    async def post(*posts: tuple[int, int, str], timeout: float = 30) -> None:
        for channel_id, author_id, text in posts:
            simcord_env.backend.create_message(channel_id, author_id, text)
        await simcord_env.settle(timeout=timeout)

    return post


@pytest.fixture
def restart_bot(simcord_env: simcord.Env, chat: ChatService):
    """`await restart_bot(**settings)`: swap in a new bot (ids only known once the world exists; an empty cache)."""

    async def restart(**values: object) -> NonoBot:
        bot = create_discord_bot(chat, discord_options(make_settings(**values)))
        await simcord_env.restart_bot(bot)
        return bot

    return restart
