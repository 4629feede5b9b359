"""Everything Nono posts to Telegram goes through one Outbox: paced per chat, 429s waited out."""

from __future__ import annotations

import asyncio
import itertools
import logging

from telegram import Bot, InlineKeyboardMarkup, Message, ReplyParameters
from telegram.constants import ChatAction
from telegram.error import BadRequest, TelegramError

from nono.adapters.splitting import split_message, utf16_len
from nono.adapters.telegram_format import MESSAGE_LIMIT
from nono.adapters.telegram_pacing import ChatPacer, is_not_modified, paced

log = logging.getLogger(__name__)

#: Telegram shows "typing…" for five seconds; renew it a little before it fades.
TYPING_EVERY = 4.5
#: Chats remembered as refusing drafts; beyond this the memory starts over (it is only an optimisation).
MAX_REMEMBERED = 10_000


class Outbox:
    """The bot, its per-chat pacer, and what we learned about chats (which ones refuse drafts)."""

    def __init__(self, bot: Bot, pacer: ChatPacer) -> None:
        self.bot = bot
        self.pacer = pacer
        self._no_drafts: set[int] = set()
        self._draft_ids = itertools.count(1)

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
            message = await paced(
                self.pacer,
                chat_id,
                lambda part=part, reply=reply, last=last: self.bot.send_message(
                    chat_id,
                    part,
                    reply_parameters=reply,
                    reply_markup=markup if last else None,
                    message_thread_id=thread_id,
                ),
            )
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

    async def keep_typing(self, chat_id: int, until: asyncio.Event, thread_id: int | None = None) -> None:
        """Show "typing…" until `until` is set. It is cosmetic: failures are logged, never raised."""
        while not until.is_set():
            try:
                await self.bot.send_chat_action(chat_id, ChatAction.TYPING, message_thread_id=thread_id)
            except TelegramError as exc:
                log.info("telegram_typing_failed", extra={"chat_id": chat_id, "error": str(exc)})
            try:
                await asyncio.wait_for(until.wait(), TYPING_EVERY)
            except TimeoutError:
                continue
