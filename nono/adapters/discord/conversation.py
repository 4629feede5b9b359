"""The message listener: turn a Discord message into a ChatService turn and render the answer."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import discord
from discord.ext import commands

from nono.adapters.discord.access import (
    AccessPolicy,
    DiscordOptions,
    conversation_of,
    is_addressed,
    prompt_text,
    speaker_of,
)
from nono.adapters.discord.context import ArrivalOrder, reply_chain
from nono.adapters.discord.render import ReplyRenderer, send_short_reply
from nono.core.chat import ChatService
from nono.core.memory import Quote
from nono.core.replays import Replays
from nono.core.reply import Reply
from nono.core.wording import REFUSAL

log = logging.getLogger(__name__)

#: After refusing a DM, further DMs from that user are ignored for this long (no refusal spam).
REFUSAL_QUIET = 600.0
MAX_REMEMBERED_REFUSALS = 4096


class RefusalMemory:
    """Remembers recent refusals so a non-allowed user gets one short refusal, not one per message."""

    def __init__(self, quiet: float = REFUSAL_QUIET, limit: int = MAX_REMEMBERED_REFUSALS) -> None:
        self.quiet = quiet
        self.limit = limit
        self._last: dict[int, float] = {}

    def __len__(self) -> int:
        return len(self._last)

    def should_refuse(self, user_id: int, now: float) -> bool:
        """True the first time (and again once the quiet period has passed); records the refusal."""
        last = self._last.get(user_id)
        if last is not None and now - last < self.quiet:
            return False
        if len(self._last) >= self.limit:
            self._forget_old(now)
        self._last[user_id] = now
        return True

    def _forget_old(self, now: float) -> None:
        self._last = {uid: at for uid, at in self._last.items() if now - at < self.quiet}
        while len(self._last) >= self.limit:  # all recent: drop the oldest (dicts keep insertion order)
            del self._last[next(iter(self._last))]


class Conversation(commands.Cog):
    """Answers DMs, mentions, replies to Nono and every message in DISCORD_CHANNELS."""

    def __init__(
        self,
        bot: commands.Bot,
        chat: ChatService,
        options: DiscordOptions,
        access: AccessPolicy,
        renderer: ReplyRenderer,
    ) -> None:
        self.bot = bot
        self.chat = chat
        self.options = options
        self.access = access
        self.renderer = renderer
        self.refusals = RefusalMemory()
        self.arrivals = ArrivalOrder()
        self.replays = Replays(chat.store)

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        """Answer `message` if it is addressed to Nono and its author may talk to Nono here."""
        me = self.bot.user
        if me is None or not is_addressed(message, me, self.options.channels):
            return
        in_guild = message.guild is not None
        if in_guild and not self._may_answer_in(message):
            return
        conversation = conversation_of(message.author, message.channel.id, in_guild, self.options.memory_scope)
        text = prompt_text(message, me)

        def start(quotes: list[Quote] | None) -> Reply | None:
            if quotes is None:  # a replay: answered the first time
                return None
            speaker = speaker_of(message.author)
            place = {"channel_id": message.channel.id, "message_id": message.id}
            return self.chat.stream(
                conversation, text, speaker=speaker, quotes=quotes, metadata=_metadata(message), place=place
            )

        # The turn takes its place in the conversation's line in arrival order, even though the store
        # is asked about replays and the reply chain may be fetched first: messages are answered in order.
        reply = await self.arrivals.start(conversation.id, self._context_unless_replayed(message, me), start)
        if reply is None:
            return
        async with reply:  # whatever happens, the place in line is given back
            if not in_guild and not await self.access.allows_dm(message.author, self.bot):
                await reply.aclose()
                await self._refuse(message)
                return
            await self.renderer.render(reply, message)

    async def _context_unless_replayed(self, message: discord.Message, me: discord.ClientUser) -> list[Quote] | None:
        """The reply chain to quote, or None when this message was dispatched before (here or in another process)."""
        if await self.replays.is_replay(f"discord:message:{message.id}"):
            return None
        return await reply_chain(message, me, self.options.reply_chain_depth)

    def _may_answer_in(self, message: discord.Message) -> bool:
        guild = message.guild
        assert guild is not None
        if not self.access.allows_member(message.author, guild):
            log.debug("discord_ignored_not_allowed", extra={"guild_id": guild.id, "user_id": message.author.id})
            return False
        channel = message.channel
        permissions = channel.permissions_for(guild.me)
        in_thread = isinstance(channel, discord.Thread)
        if not (permissions.send_messages_in_threads if in_thread else permissions.send_messages):
            # Answering would fail anyway; don't spend a model call on it.
            log.warning("discord_cannot_send", extra={"guild_id": guild.id, "channel_id": channel.id})
            return False
        return True

    async def _refuse(self, message: discord.Message) -> None:
        log.info("discord_dm_refused", extra={"user_id": message.author.id})
        if self.refusals.should_refuse(message.author.id, asyncio.get_running_loop().time()):
            await send_short_reply(message, REFUSAL)


def _metadata(message: discord.Message) -> dict[str, Any]:
    """Where the message came from, stored with it."""
    return {
        "discord_message_id": str(message.id),
        "discord_channel_id": str(message.channel.id),
        "discord_guild_id": str(message.guild.id) if message.guild else None,
        "discord_author_id": str(message.author.id),
    }
