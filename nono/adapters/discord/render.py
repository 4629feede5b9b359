"""Render a streamed reply into Discord: typing, a reply message, paced edits, continuation messages.

The whole reply text is re-split with the shared splitter on every write, so the messages on
screen always match `split_message(text, 2000)`: finished parts stay as they are, the last
one grows by edits, and a new message starts when the text outgrows the current one. All
writes after the first message go through the channel's pacer, and the final write carries
the complete text.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import discord

from nono.adapters.discord.pacer import ChannelPacer
from nono.adapters.splitting import split_message
from nono.core.errors import UserFacingError
from nono.core.reply import Reply
from nono.core.wording import EMPTY_REPLY, GENERIC_ERROR

log = logging.getLogger(__name__)

DISCORD_LIMIT = 2000
#: Discord shows "typing…" for about 10 s after each request.
TYPING_PULSE = 8.0

#: Replies ping at most the person replied to; model text never pings anyone.
REPLY_MENTIONS = discord.AllowedMentions(everyone=False, users=False, roles=False, replied_user=True)
NO_MENTIONS = discord.AllowedMentions.none()


def failure_text(exc: BaseException) -> str:
    """What the user is told when handling their message or command failed (the one mapping)."""
    if isinstance(exc, UserFacingError):
        return str(exc)
    log.error("discord_handler_failed", exc_info=exc)
    return GENERIC_ERROR


class LiveReply:
    """The Discord messages showing one reply; `write_next` brings them one step closer to the text."""

    def __init__(
        self, source: discord.Message, limit: int = DISCORD_LIMIT,
        on_message: Callable[[int], Awaitable[None]] | None = None,
    ) -> None:  # fmt: skip
        self.source = source
        self.on_message = on_message  # told each new message's id (the reply's record in flight)
        self.channel = source.channel
        self.limit = limit
        self.text = ""
        self.messages: list[discord.Message] = []
        self.shown: list[str] = []
        self.broken = False  # a write failed: stop writing (and generating)
        self.editor: asyncio.Task[None] | None = None  # the task making paced writes, while one runs

    def pending(self) -> tuple[int, str] | None:
        """The first message (index, content) that differs from what the text says it should be."""
        parts = [part for part in split_message(self.text, self.limit) if part.strip()]
        for index, part in enumerate(parts):
            if index >= len(self.shown) or self.shown[index] != part:
                return index, part
        return None

    async def write_next(self) -> bool:
        """Post or edit one message; False when there was nothing to do or the write failed."""
        step = self.pending()
        if step is None or self.broken:
            return False
        index, content = step
        try:
            if index < len(self.messages):
                mentions = REPLY_MENTIONS if index == 0 else NO_MENTIONS
                await self.messages[index].edit(content=content, allowed_mentions=mentions)
            else:
                posted = await self._post(content, first=index == 0)
                self.messages.append(posted)
                self.shown.append("")
                if self.on_message is not None:
                    await self.on_message(posted.id)
        except discord.HTTPException as exc:
            self._give_up(exc)
            return False
        self.shown[index] = content
        return True

    async def _post(self, content: str, *, first: bool) -> discord.Message:
        if first:
            reference = self.source.to_reference(fail_if_not_exists=False)
            return await self.channel.send(content, reference=reference, allowed_mentions=REPLY_MENTIONS)
        return await self.channel.send(content, allowed_mentions=NO_MENTIONS)

    def _give_up(self, exc: discord.HTTPException) -> None:
        # Forbidden (permissions changed), NotFound (our message was deleted) or Discord trouble:
        # the user cannot see more of this reply, so stop; the bot carries on with other messages.
        self.broken = True
        log.warning(
            "discord_write_failed",
            extra={"channel_id": self.channel.id, "status": exc.status, "code": exc.code, "error": exc.text},
        )


class ReplyRenderer:
    """Streams replies into channels, sharing one pacer across every reply."""

    def __init__(self, pacer: ChannelPacer) -> None:
        self.pacer = pacer

    async def render(self, reply: Reply, source: discord.Message) -> None:
        """Show `reply` as an answer to `source`; a failure becomes a short reply.

        The turn is stored complete once Discord accepted the final text, else incomplete.
        """
        live = LiveReply(source, on_message=reply.shown)
        try:
            async with reply:
                await self._stream(reply, live)
                await self._settle(live)
                if not live.messages and not live.broken:
                    live.text = EMPTY_REPLY
                    await live.write_next()
                if not live.broken:
                    await reply.delivered()
        except Exception as exc:  # UserFacingError, or a bug: either way the user hears about it
            await self._settle(live)  # keep what was shown before the failure, complete
            await send_short_reply(source, failure_text(exc))

    async def _stream(self, reply: Reply, live: LiveReply) -> None:
        typing = asyncio.create_task(_keep_typing(live.channel))
        try:
            async for chunk in reply:
                live.text += chunk
                if live.broken:
                    break  # closing the reply stores what was said, marked incomplete
                if live.messages:
                    self._kick(live)
                elif live.pending() is not None:
                    typing.cancel()
                    await live.write_next()  # the first message goes out at once
                    self.pacer.note(live.channel.id)
        except asyncio.CancelledError:
            if live.editor is not None:
                live.editor.cancel()
            raise
        finally:
            typing.cancel()

    def _kick(self, live: LiveReply) -> None:
        """Make sure an editor is on its way; a running one will pick up the new text itself."""
        if live.editor is not None and live.editor.done():
            finished, live.editor = live.editor, None
            finished.result()  # surface a failure of the previous one
        if live.editor is None:
            live.editor = asyncio.create_task(self._flush(live))

    async def _flush(self, live: LiveReply) -> None:
        """Wait for the channel's slot, show the latest text; repeat until the messages match it.

        Text arriving while we wait is coalesced into the next write.
        """
        while live.messages and not live.broken and live.pending() is not None:
            await self.pacer.wait(live.channel.id)
            await live.write_next()

    async def _settle(self, live: LiveReply) -> None:
        """After the last chunk: let the editor finish, then make sure the complete text is shown."""
        if live.editor is not None:
            await live.editor
            live.editor = None
        await self._flush(live)


async def send_short_reply(source: discord.Message, text: str) -> None:
    """Answer `source` with one short line (an error, a refusal); a failure to send is logged, never raised."""
    try:
        await source.channel.send(
            text, reference=source.to_reference(fail_if_not_exists=False), allowed_mentions=REPLY_MENTIONS
        )
    except discord.HTTPException as exc:
        log.warning("discord_write_failed", extra={"channel_id": source.channel.id, "status": exc.status})


async def _keep_typing(channel: discord.abc.Messageable) -> None:
    """Show "typing…" until cancelled; a channel that refuses it is logged once and left alone."""
    while True:
        try:
            await channel.typing()
        except discord.HTTPException as exc:
            log.warning("discord_typing_failed", extra={"status": exc.status})
            return
        await asyncio.sleep(TYPING_PULSE)
