"""Discord: the bot factory and the running part `nono run` enters.

`create_discord_bot` builds an un-started discord.py bot around a ChatService; async setup
(cogs, slash command sync) happens in `setup_hook`. With a shard count it builds the same bot on
discord.py's sharded client, connecting only the shards this process owns. `running` logs in,
keeps the gateway connection in a task, yields a `DiscordPart` and closes everything on exit.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import ExitStack, asynccontextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

import aiohttp
import discord
from discord.ext import commands

from nono.adapters.discord.access import AccessPolicy, DiscordOptions
from nono.adapters.discord.commands import SlashCommands
from nono.adapters.discord.conversation import Conversation
from nono.adapters.discord.http_watch import call_trace, counting_rate_limits
from nono.adapters.discord.links import LinkSlashCommands
from nono.adapters.discord.memory import MemorySlashCommands
from nono.adapters.discord.pacer import ChannelPacer
from nono.adapters.discord.recovery import notify
from nono.adapters.discord.render import NO_MENTIONS, ReplyRenderer
from nono.core.chat import ChatService
from nono.core.errors import ConfigError

log = logging.getLogger(__name__)


class NonoBot(commands.Bot):
    """discord.py bot whose cogs translate Discord events into ChatService calls."""

    def __init__(self, chat: ChatService, options: DiscordOptions, **client_options: Any) -> None:
        intents = discord.Intents.default()
        intents.message_content = True  # privileged: enable it in the developer portal
        trace = call_trace()
        if trace is not None:  # at DEBUG, each REST call is logged; otherwise nothing is traced
            client_options["http_trace"] = trace
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            help_command=None,
            allowed_mentions=NO_MENTIONS,  # anything not given explicit mentions pings nobody
            **client_options,
        )
        self.chat = chat
        self.options = options
        self.pacer = ChannelPacer(options.edit_interval)
        self._recovery: asyncio.Task[None] | None = None

    async def setup_hook(self) -> None:
        """Add the cogs and register the slash commands (runs once, at login)."""
        access = AccessPolicy(self.options)
        await self.add_cog(Conversation(self, self.chat, self.options, access, ReplyRenderer(self.pacer)))
        await self.add_cog(SlashCommands(self.chat, self.options, access))
        await self.add_cog(LinkSlashCommands(self.chat, self.options, access))
        await self.add_cog(MemorySlashCommands(self.chat, self.options, access))
        if self.syncs_commands:
            await self._sync_commands()
        # Replies a crashed process (this one, before a restart) was showing: end them honestly.
        self._recovery = asyncio.create_task(self.chat.deliveries.watch("discord", partial(notify, self)))

    async def close(self) -> None:
        if self._recovery is not None:
            self._recovery.cancel()
            await asyncio.gather(self._recovery, return_exceptions=True)
        await super().close()

    @property
    def owned_shards(self) -> Sequence[int]:
        """The gateway shards this process connects ([0] for an unsharded bot)."""
        return [0]

    @property
    def syncs_commands(self) -> bool:
        """Slash commands belong to the application, not a shard: the process owning shard 0 syncs them, once."""
        return 0 in self.owned_shards

    def shards_connected(self) -> bool:
        """True while every owned shard's gateway connection is open (the unsharded client reconnects itself)."""
        return True

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


class ShardedNonoBot(NonoBot, commands.AutoShardedBot):
    """The same bot on discord.py's sharded client, connecting DISCORD_SHARD_IDS of DISCORD_SHARD_COUNT."""

    def __init__(self, chat: ChatService, options: DiscordOptions) -> None:
        # discord.py launches every shard 0..count-1 when shard_ids is None.
        shard_ids = list(options.shard_ids) or None
        super().__init__(chat, options, shard_count=options.shard_count, shard_ids=shard_ids)

    @property
    def owned_shards(self) -> Sequence[int]:
        return self.shard_ids or range(self.shard_count or 0)

    def shards_connected(self) -> bool:
        # A shard whose connection dropped stays in `shards` (closed) while discord.py reconnects it.
        shards = self.shards
        return all(shard in shards and not shards[shard].is_closed() for shard in self.owned_shards)


def create_discord_bot(chat: ChatService, options: DiscordOptions) -> NonoBot:
    """An un-started bot for `chat`: sharded when the options carry a shard count."""
    if options.shard_count is not None:
        return ShardedNonoBot(chat, options)
    return NonoBot(chat, options)


@dataclass(frozen=True)
class DiscordPart:
    """The logged-in bot and its gateway connection."""

    bot: NonoBot
    connection: asyncio.Task[None]
    name: str = "discord"

    def healthy(self) -> bool:
        bot = self.bot
        return bot.is_ready() and not bot.is_closed() and not self.connection.done() and bot.shards_connected()


@asynccontextmanager
async def running(
    chat: ChatService, options: DiscordOptions, *, on_rate_limited: Callable[[], None] | None = None
) -> AsyncIterator[DiscordPart]:
    """Log in, stay connected in a background task; close on exit. `on_rate_limited`: called on each 429."""
    if options.token is None:
        raise ConfigError("DISCORD_TOKEN is not set")
    with ExitStack() as watch:
        if on_rate_limited is not None:
            watch.enter_context(counting_rate_limits(on_rate_limited))
        async with _connected(chat, options) as part:
            yield part


@asynccontextmanager
async def _connected(chat: ChatService, options: DiscordOptions) -> AsyncIterator[DiscordPart]:
    assert options.token is not None  # checked by `running`
    bot = create_discord_bot(chat, options)
    try:
        await _login(bot, options.token.get_secret_value())
    except BaseException:
        await bot.close()
        raise
    if isinstance(bot, ShardedNonoBot):
        log.info("discord_shards", extra={"shard_count": bot.shard_count, "shard_ids": list(bot.owned_shards)})
    connection = asyncio.create_task(bot.connect(reconnect=True), name="discord-gateway")
    connection.add_done_callback(_report_disconnect)
    try:
        yield DiscordPart(bot, connection)
    finally:
        await bot.close()
        connection.cancel()
        await asyncio.gather(connection, return_exceptions=True)


async def _login(bot: NonoBot, token: str) -> None:
    """Log in; a refused token or an unreachable Discord is an operator problem, said in one line."""
    try:
        await bot.login(token)
    except discord.LoginFailure as exc:
        raise ConfigError("Discord rejected DISCORD_TOKEN; copy the bot token from the developer portal") from exc
    except (OSError, TimeoutError, aiohttp.ClientError, discord.DiscordServerError) as exc:
        # Not a bug to trace back: the network, a proxy or Discord itself is down (the Telegram adapter says the same).
        reason = str(exc) or type(exc).__name__
        raise ConfigError(f"cannot reach the Discord API at {discord.http.Route.BASE}: {reason}") from exc


def _report_disconnect(task: asyncio.Task[None]) -> None:
    """The gateway task only ends on close or on an error discord.py cannot recover from."""
    if task.cancelled() or task.exception() is None:
        return
    exc = task.exception()
    if isinstance(exc, discord.PrivilegedIntentsRequired):
        log.error("discord_intents_missing: enable the Message Content intent for the bot in the developer portal")
    else:
        log.error("discord_connection_failed", exc_info=exc)
