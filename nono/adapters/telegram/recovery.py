"""After a crash: replies another (dead) process was showing in Telegram chats get an honest ending.

The record in flight says where the reply was (chat, topic, the message it answered), which
messages showed it and how far the text had got. Those messages are edited in place into a short
note and the text (more messages when it needs them, none left over); a reply that never reached
a message gets a new one answering the question. Then the core stores the turn as incomplete.
"""

from __future__ import annotations

import logging

from telegram.error import BadRequest, Forbidden, TelegramError

from nono.adapters.telegram.outbox import Outbox
from nono.adapters.telegram.stream import StreamedReply
from nono.core.deliveries import resolution_text
from nono.core.store.inflight import InFlight

log = logging.getLogger(__name__)


async def notify(outbox: Outbox, record: InFlight) -> bool:
    """Show the note in the chat; True once shown or when the chat is out of reach for good."""
    place = record.place
    chat_id = int(place["chat_id"])
    live = StreamedReply(outbox, chat_id, reply_to=place.get("reply_to"), thread_id=place.get("thread_id"))
    live.adopt([int(message_id) for message_id in record.progress.message_ids])
    live.feed(resolution_text(record))
    live.finish()
    try:
        with outbox.writing():
            await live.run()
    except (Forbidden, BadRequest) as exc:  # blocked, chat gone, messages deleted: nobody left to tell
        log.warning("telegram_resolution_undeliverable", extra={"chat_id": chat_id, "error": exc.message})
        return True
    except TelegramError as exc:  # Telegram unreachable: the next sweep tries again
        log.warning("telegram_resolution_failed", extra={"chat_id": chat_id, "error": str(exc)})
        return False
    log.info("telegram_reply_resolved", extra={"chat_id": chat_id, "turn_id": record.turn_id})
    return True
