"""Who Nono answers on Telegram, and as which conversation.

Private chats: every message. Groups: only messages that mention the bot, reply to one of
its messages, or are commands (PTB's CommandHandler already checks `/cmd@botname`).
TELEGRAM_ALLOWED_USERS / TELEGRAM_ALLOWED_CHATS: with neither set everyone may talk; with
either set, a message is allowed when its sender or its chat is listed. Others get one short
refusal (per chat and person), then silence, so a group is not flooded with refusals.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from telegram import Chat, Message, MessageEntity, Update, User

#: Refusals remembered; beyond this the memory starts over (someone may get a second refusal).
MAX_REMEMBERED = 10_000


class TelegramAccess:
    """The allowlists and the memory scope, applied to Telegram updates."""

    def __init__(
        self,
        allowed_users: Iterable[int] = (),
        allowed_chats: Iterable[int] = (),
        memory_scope: Literal["user", "chat"] = "user",
    ) -> None:
        self.allowed_users = frozenset(allowed_users)
        self.allowed_chats = frozenset(allowed_chats)
        self.memory_scope = memory_scope
        self._refused: set[tuple[int, int]] = set()

    def allows(self, user: User | None, chat: Chat) -> bool:
        """True when nothing is restricted, or the sender or the chat is listed."""
        if not self.allowed_users and not self.allowed_chats:
            return True
        return chat.id in self.allowed_chats or (user is not None and user.id in self.allowed_users)

    def first_refusal(self, user: User | None, chat: Chat) -> bool:
        """True the first time this person is refused in this chat (answer them once, then stay quiet)."""
        key = (chat.id, user.id if user else 0)
        if key in self._refused:
            return False
        if len(self._refused) >= MAX_REMEMBERED:
            self._refused.clear()
        self._refused.add(key)
        return True

    def conversation(self, user: User, chat: Chat) -> str:
        """The core's user id: `telegram:<user>`, or `telegram:chat:<chat>` for a group in chat scope."""
        if self.memory_scope == "chat" and chat.type != Chat.PRIVATE:
            return f"telegram:chat:{chat.id}"
        return f"telegram:{user.id}"

    def conversation_of(self, update: object) -> str | None:
        """The conversation an update belongs to (the key that orders its handling), if any."""
        if not isinstance(update, Update) or update.effective_user is None or update.effective_chat is None:
            return None
        return self.conversation(update.effective_user, update.effective_chat)

    def prompt_text(self, text: str, user: User, chat: Chat) -> str:
        """What the model reads: in a shared group conversation, who said it comes first."""
        if self.memory_scope == "chat" and chat.type != Chat.PRIVATE and text.strip():
            name = " ".join(user.full_name.split())[:64] or str(user.id)
            return f"{name}: {text}"
        return text


def addressed_text(message: Message, bot: User) -> str | None:
    """The text meant for the bot, its @mention removed; None when a group message is not for it."""
    text = message.text or ""
    if message.chat.type == Chat.PRIVATE:
        return text
    mentions = _mentions_of(message, bot)
    replying = message.reply_to_message is not None and _from_bot(message.reply_to_message, bot)
    if not mentions and not replying:
        return None
    for entity in sorted(mentions, key=lambda e: e.offset, reverse=True):
        text = _cut_utf16(text, entity.offset, entity.length)
    return text.strip()


def _mentions_of(message: Message, bot: User) -> list[MessageEntity]:
    found = []
    username = (bot.username or "").lower()
    for entity, value in message.parse_entities([MessageEntity.MENTION, MessageEntity.TEXT_MENTION]).items():
        if (entity.type == MessageEntity.MENTION and username and value.lower() == f"@{username}") or (
            entity.type == MessageEntity.TEXT_MENTION and entity.user is not None and entity.user.id == bot.id
        ):
            found.append(entity)
    return found


def _from_bot(message: Message, bot: User) -> bool:
    return message.from_user is not None and message.from_user.id == bot.id


def _cut_utf16(text: str, offset: int, length: int) -> str:
    """Remove `length` UTF-16 units at `offset` (Telegram's entity coordinates)."""
    encoded = text.encode("utf-16-le", "surrogatepass")
    kept = encoded[: offset * 2] + encoded[(offset + length) * 2 :]
    return kept.decode("utf-16-le", "surrogatepass")
