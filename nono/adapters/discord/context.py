"""Reply context: the message a Discord message replies to, and that one's own reply chain, as quotes.

Cache first, then the API; a message that cannot be read (deleted, no permission, Discord
trouble) is logged and ends the chain there. The core fits the quotes into the token budget.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import discord

from nono.adapters.discord.access import prompt_text
from nono.core.memory import Quote

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


async def reply_chain(message: discord.Message, me: discord.ClientUser, depth: int) -> list[Quote]:
    """What `message` replies to, then what that replied to, and so on: at most `depth` messages, nearest first."""
    quotes: list[Quote] = []
    seen = {message.id}
    current = message
    for hop in range(depth):
        target = await _replied_to(current, first=hop == 0)
        if target is None or target.id in seen:
            break
        seen.add(target.id)
        text = prompt_text(target, me)
        if text:  # an image or a sticker alone gives the model nothing to read
            quotes.append(Quote(target.author.display_name, text))
        current = target
    return quotes


async def _replied_to(message: discord.Message, *, first: bool) -> discord.Message | None:
    reference = message.reference
    if reference is None or reference.message_id is None or reference.type is not discord.MessageReferenceType.reply:
        return None  # not a reply (a forward quotes another channel, which may be private)
    if reference.channel_id != message.channel.id:
        return None
    # Discord sends the replied-to message along with a reply, but never the ones further up.
    resolved = reference.resolved if first else None
    if isinstance(resolved, discord.DeletedReferencedMessage):
        return None
    known = resolved or reference.cached_message
    if known is not None:
        return known
    try:
        return await message.channel.fetch_message(reference.message_id)
    except discord.HTTPException as exc:  # NotFound (deleted), Forbidden (no history access), Discord trouble
        log.warning(
            "discord_reply_context_skipped",
            extra={"channel_id": message.channel.id, "message_id": reference.message_id, "status": exc.status},
        )
        return None


class ArrivalOrder:
    """Starts a conversation's turns in the order their messages arrived, though gathering context may await.

    The core answers a conversation's turns in the order they are started. Fetching a reply chain
    from the API suspends; without this a quick second message could overtake the first. When
    nothing needs fetching nothing suspends, so the usual path costs no scheduling at all.
    """

    def __init__(self) -> None:
        self._last: dict[str, asyncio.Future[None]] = {}

    def __len__(self) -> int:
        return len(self._last)

    async def start(self, key: str, gathering: Awaitable[T], start: Callable[[T], R]) -> R:
        """Await `gathering`, then wait until every earlier message of `key` has started; then `start(gathered)`."""
        before = self._last.get(key)
        mine: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._last[key] = mine
        try:
            gathered = await gathering
            if before is not None:
                await before
            return start(gathered)
        finally:
            if not mine.done():  # a cancelled follower may have cancelled it already
                mine.set_result(None)
            if self._last.get(key) is mine:
                del self._last[key]
