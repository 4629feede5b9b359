"""Everything Nono posts to Telegram goes through one Outbox: paced per chat, 429s waited out."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
from collections.abc import Iterator

from telegram import Bot, InlineKeyboardMarkup, InputFile, Message, ReplyParameters
from telegram.constants import ChatAction
from telegram.error import BadRequest, TelegramError

from nono.adapters.splitting import split_message, utf16_len
from nono.adapters.telegram.format import MESSAGE_LIMIT
from nono.adapters.telegram.pacing import ChatPacer, is_not_modified, paced

log = logging.getLogger(__name__)

#: Telegram shows "typing…" for five seconds; renew it a little before it fades.
TYPING_EVERY = 4.5
#: A reply that shows up within a second (a fast model) needs no "typing…": that saves one Bot
#: API call per reply, a third of the calls when a crowd writes at once (bench P4).
TYPING_DELAY = 1.0
#: Previews (drafts and edits of replies still being written) per second, all chats together.
#: Each chat may refresh about once a second; when more replies stream at once than this, each
#: one's preview refreshes less often, so a crowd costs Telegram and our CPU a bounded rate and
#: every final text still goes out the moment it is written (bench P4: 1,000 replies at once).
PREVIEW_RATE = 30.0
#: Chats remembered as refusing drafts; beyond this the memory starts over (it is only an optimisation).
MAX_REMEMBERED = 10_000


class Outbox:
    """The bot, its per-chat pacer, and what we learned about chats (which ones refuse drafts)."""

    def __init__(self, bot: Bot, pacer: ChatPacer) -> None:
        self.bot = bot
        self.pacer = pacer
        self._no_drafts: set[int] = set()
        self._draft_ids = itertools.count(1)
        self.streaming = 0  # replies being written now

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Count a reply as streaming while the block runs."""
        self.streaming += 1
        try:
            yield
        finally:
            self.streaming -= 1

    def preview_spacing(self) -> float:
        """Seconds between two previews of one reply, so that all of them together stay within PREVIEW_RATE."""
        return self.streaming / PREVIEW_RATE

    def drafts_allowed(self, chat_id: int) -> bool:
        """Drafts exist only in private chats (positive ids), and only until Telegram refuses them there."""
        return chat_id > 0 and chat_id not in self._no_drafts

    def refuse_drafts(self, chat_id: int) -> None:
        if len(self._no_drafts) >= MAX_REMEMBERED:
            self._no_drafts.clear()
        self._no_drafts.add(chat_id)

    def new_draft_id(self) -> int:
        """A fresh non-zero draft id: updates of one draft animate, a new id starts a new preview."""
        return next(self._draft_ids)

    async def notice(
        self,
        chat_id: int,
        text: str,
        *,
        reply_to: int | None = None,
        markup: InlineKeyboardMarkup | None = None,
        thread_id: int | None = None,
    ) -> Message | None:
        """Send plain text (command answers, errors), split when longer than one message; the last is returned."""
        parts = split_message(text, MESSAGE_LIMIT, utf16_len) if utf16_len(text) > MESSAGE_LIMIT else [text]
        message = None
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            reply = ReplyParameters(reply_to, allow_sending_without_reply=True) if reply_to and not index else None
            send = functools.partial(
                self.bot.send_message,
                chat_id,
                part,
                reply_parameters=reply,
                reply_markup=markup if last else None,
                message_thread_id=thread_id,
            )
            message = await paced(self.pacer, chat_id, send)
        return message

    async def edit_notice(
        self, chat_id: int, message_id: int, text: str, markup: InlineKeyboardMarkup | None = None
    ) -> None:
        """Replace a message we sent (the persona keyboard); an unchanged message is fine."""
        try:
            await paced(
                self.pacer,
                chat_id,
                lambda: self.bot.edit_message_text(text[:MESSAGE_LIMIT], chat_id, message_id, reply_markup=markup),
            )
        except BadRequest as exc:
            if not is_not_modified(exc):
                raise

    async def document(self, chat_id: int, document: InputFile, caption: str) -> Message | None:
        """Upload a file into a chat (an /export), with a plain-text caption."""
        return await paced(self.pacer, chat_id, lambda: self.bot.send_document(chat_id, document, caption=caption))

    async def keep_typing(self, chat_id: int, until: asyncio.Event, thread_id: int | None = None) -> None:
        """Show "typing…" from TYPING_DELAY on, until `until` is set. Cosmetic: failures are logged, never raised.

        Like previews, it is spaced out when many replies stream at once: an overloaded bot
        would otherwise answer its own slowness with more calls.
        """
        wait = TYPING_DELAY
        while not await _set_within(until, max(wait, self.preview_spacing())):
            try:
                await self.bot.send_chat_action(chat_id, ChatAction.TYPING, message_thread_id=thread_id)
            except TelegramError as exc:
                log.info("telegram_typing_failed", extra={"chat_id": chat_id, "error": str(exc)})
            wait = TYPING_EVERY


async def _set_within(event: asyncio.Event, seconds: float) -> bool:
    """Whether `event` is set now or becomes set within `seconds`."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()
    return event.is_set()
