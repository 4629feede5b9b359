"""What every Telegram handler starts and ends with: who asks, where, may they, and the answer in the same place."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from telegram import CallbackQuery, Chat, InlineKeyboardMarkup, Message, Update, User

from nono.adapters.telegram.access import TelegramAccess, speaker_of, topic_of
from nono.adapters.telegram.managers import ChatManagers
from nono.adapters.telegram.outbox import Outbox
from nono.core.people import Conversation, Speaker
from nono.core.wording import REFUSAL

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Asker:
    """A person's request: who they are, the message it came with (or whose button they tapped), the conversation."""

    user: User
    message: Message
    conversation: Conversation

    @property
    def chat(self) -> Chat:
        return self.message.chat

    @property
    def speaker(self) -> Speaker:
        return speaker_of(self.user)


class Gate:
    """The access rules, the chats' managers and the outbox, as the handlers use them."""

    def __init__(self, access: TelegramAccess, outbox: Outbox, managers: ChatManagers) -> None:
        self.access = access
        self.outbox = outbox
        self.managers = managers

    def asker(self, message: Message | None, user: User | None) -> Asker | None:
        """Who asks, in which conversation; None when the update carries no person's message."""
        if message is None or user is None:
            return None
        return Asker(user, message, self.access.conversation(user, message.chat, topic_of(message)))

    async def admit(self, update: Update) -> Asker | None:
        """The asker of a message, or None (after a refusal, once) when they are not allowed.

        It awaits only to refuse: an allowed message reaches its handler without giving up the loop.
        """
        asker = self.asker(update.message, update.effective_user)
        if asker is None:
            return None
        if not self.access.allows(asker.user, asker.chat):
            await self.refuse(asker.message)
            return None
        return asker

    async def admit_press(self, query: CallbackQuery) -> Asker | None:
        """The asker of a button tap, or None once the tap has been answered (refused, or its message is gone)."""
        message = query.message
        if not isinstance(message, Message):  # too old for Telegram to show us; the tap still counts
            await query.answer()
            return None
        if not self.access.allows(query.from_user, message.chat):
            await query.answer(REFUSAL, show_alert=True)
            return None
        return self.asker(message, query.from_user)

    async def manages(self, asker: Asker) -> bool:
        """May the asker change their conversation for everyone? Only a shared one needs a chat manager."""
        if not asker.conversation.shared:
            return True
        return await self.managers.is_manager(asker.chat.id, asker.user.id)

    async def refuse(self, message: Message) -> None:
        if self.access.first_refusal(message.from_user, message.chat):
            user_id = message.from_user.id if message.from_user else None
            log.info("telegram_refused", extra={"chat_id": message.chat.id, "from_id": user_id})
            await self.outbox.notice(message.chat.id, REFUSAL, reply_to=reply_to(message))

    async def answer(self, message: Message, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
        """Answer in the chat (and forum topic) of `message`, quoting it in groups."""
        await self.outbox.notice(
            message.chat.id, text, reply_to=reply_to(message), markup=markup, thread_id=topic_of(message)
        )

    async def settle(self, query: CallbackQuery, text: str) -> None:
        """Answer a button tap with `text`, which also replaces the message that had the buttons (and them)."""
        await query.answer(text[:200])
        message = query.message
        if isinstance(message, Message):
            await self.outbox.edit_notice(message.chat.id, message.message_id, text)


def reply_to(message: Message) -> int | None:
    """In groups, answers quote the message they answer; in a private chat that is only noise."""
    return None if message.chat.type == Chat.PRIVATE else message.message_id
