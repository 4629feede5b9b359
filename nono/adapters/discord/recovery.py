"""After a crash: replies another (dead) process was showing in Discord get an honest ending.

The record in flight names the channel, the message answered, the messages that showed the
reply and how far its text had got. Those messages are edited in place into a short note and
the text (more messages when it needs them, none left over); a reply that never reached a
message gets a new one answering the question. Then the core stores the turn as incomplete.
"""

from __future__ import annotations

import contextlib
import logging

import discord

from nono.adapters.discord.render import DISCORD_LIMIT, NO_MENTIONS, REPLY_MENTIONS
from nono.adapters.splitting import split_message
from nono.core.deliveries import resolution_text
from nono.core.store.inflight import InFlight

log = logging.getLogger(__name__)


async def notify(client: discord.Client, record: InFlight) -> bool:
    """Show the note in the channel; True once shown or when the channel is out of reach for good."""
    channel_id = int(record.place["channel_id"])
    channel = client.get_partial_messageable(channel_id)  # no fetch: a DM channel works the same
    shown = [channel.get_partial_message(int(message_id)) for message_id in record.progress.message_ids]
    parts = [part for part in split_message(resolution_text(record), DISCORD_LIMIT) if part.strip()]
    answered = discord.MessageReference(
        message_id=int(record.place["message_id"]), channel_id=channel_id, fail_if_not_exists=False
    )
    try:
        for index, part in enumerate(parts):
            if index < len(shown):
                try:
                    await shown[index].edit(content=part, allowed_mentions=NO_MENTIONS)
                    continue
                except discord.NotFound:  # someone deleted it: say it in a new message instead
                    pass
            if index == 0:
                await channel.send(part, reference=answered, allowed_mentions=REPLY_MENTIONS)
            else:
                await channel.send(part, allowed_mentions=NO_MENTIONS)
        for extra in shown[len(parts) :]:
            with contextlib.suppress(discord.NotFound):  # already gone
                await extra.delete()
    except (discord.Forbidden, discord.NotFound) as exc:  # no access any more, or the channel is gone
        log.warning("discord_resolution_undeliverable", extra={"channel_id": channel_id, "status": exc.status})
        return True
    except discord.HTTPException as exc:  # Discord trouble: the next sweep tries again
        log.warning("discord_resolution_failed", extra={"channel_id": channel_id, "status": exc.status})
        return False
    log.info("discord_reply_resolved", extra={"channel_id": channel_id, "turn_id": record.turn_id})
    return True
