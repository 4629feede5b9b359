"""Discord: the bot factory and the running context manager `nono run` enters.

`create_discord_bot` builds an un-started discord.py bot around a ChatService; async setup
(cogs, slash command sync) happens in `setup_hook`. `discord_running` logs in, keeps the
gateway connection in a task and closes everything on exit.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import discord
from discord.ext import commands

from nono.adapters.discord.access import AccessPolicy, DiscordOptions
from nono.adapters.discord.commands import SlashCommands
from nono.adapters.discord.conversation import Conversation
from nono.adapters.discord.pacer import ChannelPacer
from nono.adapters.discord.render import NO_MENTIONS, ReplyRenderer
from nono.core.chat import ChatService
from nono.core.errors import ConfigError

if TYPE_CHECKING:  # adapters never import nono.bot at run time: bot depends on adapters, not back
    from nono.bot.services import Services
    from nono.bot.settings import Settings

log = logging.getLogger(__name__)


def discord_options(settings: Settings) -> DiscordOptions:
    """The DISCORD_* settings (and STREAM_EDIT_INTERVAL) as plain values."""
    return DiscordOptions(
        channels=frozenset(settings.discord_channels),
        guild_ids=tuple(settings.discord_guild_ids),
        memory_scope=settings.discord_memory_scope,
        allowed_guilds=frozenset(settings.discord_allowed_guilds),
        allowed_roles=frozenset(settings.discord_allowed_roles),
        allowed_users=frozenset(settings.discord_allowed_users),
        edit_interval=settings.stream_edit_interval,
    )


class NonoBot(commands.Bot):
    """discord.py bot whose cogs translate Discord events into ChatService calls."""

    def __init__(self, chat: ChatService, options: DiscordOptions) -> None:
        intents = discord.Intents.default()
        intents.message_content = True  # privileged: enable it in the developer portal
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            help_command=None,
            allowed_mentions=NO_MENTIONS,  # anything not given explicit mentions pings nobody
        )
        self.chat = chat
        self.options = options
        self.pacer = ChannelPacer(options.edit_interval)

    async def setup_hook(self) -> None:
        """Add the cogs and register the slash commands (runs once, at login)."""
        access = AccessPolicy(self.options)
        await self.add_cog(Conversation(self, self.chat, self.options, access, ReplyRenderer(self.pacer)))
        await self.add_cog(SlashCommands(self.chat, self.options, access))
        await self._sync_commands()

    async def _sync_commands(self) -> None:
        """To DISCORD_GUILD_IDS when set (instant, for development), else globally."""
        try:
            if not self.options.guild_ids:
                synced = await self.tree.sync()
                log.info("discord_commands_synced", extra={"scope": "global", "count": len(synced)})
                return
            for guild_id in self.options.guild_ids:
                guild = discord.Object(guild_id)
                self.tree.copy_global_to(guild=guild)
                synced = await self.tree.sync(guild=guild)
                log.info("discord_commands_synced", extra={"guild_id": guild_id, "count": len(synced)})
        except discord.HTTPException as exc:
            # Usually the bot was invited without the applications.commands scope: chat still works.
            log.error("discord_command_sync_failed", extra={"status": exc.status, "code": exc.code, "error": exc.text})

    async def on_ready(self) -> None:
        log.info("discord_ready", extra={"user_id": self.user.id if self.user else None, "guilds": len(self.guilds)})

    async def on_message(self, message: discord.Message) -> None:
        """No prefix commands: the Conversation cog answers messages."""


def create_discord_bot(chat: ChatService, settings: Settings) -> NonoBot:
    """An un-started bot for `chat`, configured from the DISCORD_* settings."""
    return NonoBot(chat, discord_options(settings))


@asynccontextmanager
async def discord_running(services: Services) -> AsyncIterator[NonoBot]:
    """Log in, stay connected in a background task, register health; close on exit."""
    token = services.settings.discord_token
    if token is None:
        raise ConfigError("DISCORD_TOKEN is not set")
    bot = create_discord_bot(services.chat, services.settings)
    try:
        await bot.login(token.get_secret_value())
    except discord.LoginFailure as exc:
        await bot.close()
        raise ConfigError("Discord rejected DISCORD_TOKEN; copy the bot token from the developer portal") from exc
    except BaseException:
        await bot.close()
        raise
    connection = asyncio.create_task(bot.connect(reconnect=True), name="discord-gateway")
    connection.add_done_callback(_report_disconnect)
    services.adapters["discord"] = lambda: bot.is_ready() and not bot.is_closed() and not connection.done()
    try:
        yield bot
    finally:
        services.adapters.pop("discord", None)
        await bot.close()
        connection.cancel()
        await asyncio.gather(connection, return_exceptions=True)


def _report_disconnect(task: asyncio.Task[None]) -> None:
    """The gateway task only ends on close or on an error discord.py cannot recover from."""
    if task.cancelled() or task.exception() is None:
        return
    exc = task.exception()
    if isinstance(exc, discord.PrivilegedIntentsRequired):
        log.error("discord_intents_missing: enable the Message Content intent for the bot in the developer portal")
    else:
        log.error("discord_connection_failed", exc_info=exc)
