"""Who Nono answers on Telegram, and in which conversation.

Private chats: every message, in the person's private conversation. Groups: only messages that
mention the bot, reply to one of its messages, or are commands (PTB's CommandHandler already
checks `/cmd@botname`); each group, and each forum topic, is its own place, where the core's
scope policy gives every person their own conversation or one shared by all (TELEGRAM_MEMORY_SCOPE).
Messages from bots, and those sent through an inline bot (`via_bot`), are never answered.
TELEGRAM_ALLOWED_USERS / TELEGRAM_ALLOWED_CHATS: with neither set everyone may talk; with
either set, a message is allowed when its sender or its chat is listed. Others get one short
refusal (per chat and person), then silence, so a group is not flooded with refusals.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from telegram import Chat, MaybeInaccessibleMessage, Message, MessageEntity, Update, User
from telegram.ext import filters

from nono.adapters.telegram.quotes import replied_to
from nono.core.people import Conversation, Place, Scope, Speaker, group_conversation

#: Refusals remembered; beyond this the memory starts over (someone may get a second refusal).
MAX_REMEMBERED = 10_000


class _FromBot(filters.MessageFilter):
    """Messages sent by a bot: never a turn, or two bots in a group could answer each other forever."""

    def filter(self, message: Message) -> bool:
        return message.from_user is not None and message.from_user.is_bot


#: The messages Nono may answer: new ones (an edit is not a new turn), written by a person themselves.
FROM_PEOPLE = filters.UpdateType.MESSAGE & ~_FromBot() & ~filters.VIA_BOT


class TelegramAccess:
    """The allowlists and the memory scope, applied to Telegram updates."""

    def __init__(
        self,
        allowed_users: Iterable[int] = (),
        allowed_chats: Iterable[int] = (),
        memory_scope: Literal["person", "chat"] = "person",
    ) -> None:
        self.allowed_users = frozenset(allowed_users)
        self.allowed_chats = frozenset(allowed_chats)
        self.scope = Scope.SHARED if memory_scope == "chat" else Scope.PERSON
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

    def conversation(self, user: User, chat: Chat, topic: int | None = None) -> Conversation:
        """Where `user` speaking in `chat` (in forum topic `topic`) is remembered."""
        person = person_of(user)
        if chat.type == Chat.PRIVATE:
            return Conversation.private_of(person)
        key = f"chat:{chat.id}" if topic is None else f"chat:{chat.id}:topic:{topic}"
        return group_conversation(Place("telegram", key), person, self.scope)

    def conversation_of(self, update: object) -> str | None:
        """The conversation an update belongs to (the key that orders its handling), if any."""
        if not isinstance(update, Update) or update.effective_user is None or update.effective_chat is None:
            return None
        return self.conversation(update.effective_user, update.effective_chat, topic_of(update.effective_message)).id


def person_of(user: User) -> str:
    return f"telegram:{user.id}"


def speaker_of(user: User) -> Speaker:
    """The person speaking, named as Telegram shows them (the core cleans the name for prompts)."""
    return Speaker.of(person_of(user), user.full_name)


def topic_of(message: MaybeInaccessibleMessage | None) -> int | None:
    """The forum topic a message is in, if any.

    Replies in ordinary groups carry a `message_thread_id` too; only `is_topic_message` marks a topic.
    """
    if isinstance(message, Message) and message.is_topic_message and message.message_thread_id:
        return message.message_thread_id
    return None


def addressed_text(message: Message, bot: User) -> str | None:
    """The text meant for the bot, its @mention removed; None when a group message is not for it."""
    text = message.text or ""
    if message.chat.type == Chat.PRIVATE:
        return text
    mentions = _mentions_of(message, bot)
    replied = replied_to(message)
    replying = replied is not None and replied.from_user is not None and replied.from_user.id == bot.id
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


def _cut_utf16(text: str, offset: int, length: int) -> str:
    """Remove `length` UTF-16 units at `offset` (Telegram's entity coordinates)."""
    encoded = text.encode("utf-16-le", "surrogatepass")
    kept = encoded[: offset * 2] + encoded[(offset + length) * 2 :]
    return kept.decode("utf-16-le", "surrogatepass")
