"""Reply context on Telegram: the message a new one answers, as a quote the core puts in the prompt.

Telegram gives one level only: the `reply_to_message` it attaches carries no reply of its own, and
the Bot API cannot fetch older messages, so unlike Discord there is no chain to follow. When the
person quoted part of the message (`quote`, a TextQuote), that part replaces the whole text; a
quote of a message in another chat (`external_reply`) arrives with no `reply_to_message` at all.
"""

from __future__ import annotations

from telegram import (
    Chat,
    Message,
    MessageOrigin,
    MessageOriginChannel,
    MessageOriginChat,
    MessageOriginHiddenUser,
    MessageOriginUser,
)

from nono.core.memory import Quote

UNKNOWN_AUTHOR = "someone"


def replied_to(message: Message) -> Message | None:
    """The message this one replies to, if the person chose to reply.

    In a forum topic Telegram makes every message a reply to the topic's first (service) message:
    that is where it was written, not what it answers.
    """
    replied = message.reply_to_message
    if replied is None or replied.forum_topic_created is not None:
        return None
    return replied


def quotes_of(message: Message) -> list[Quote]:
    """What `message` replies to, nearest first (one at most on Telegram); empty when that has no text."""
    replied = replied_to(message)
    if message.quote is not None:
        text: str | None = message.quote.text
    elif replied is not None:
        text = replied.text or replied.caption
    else:
        return []
    if not text or not text.strip():  # a sticker, a photo without caption: nothing to read
        return []
    if replied is not None:
        author = _author(replied)
    elif message.external_reply is not None:
        author = _origin_name(message.external_reply.origin)
    else:
        author = UNKNOWN_AUTHOR
    return [Quote(author, text)]


def _author(message: Message) -> str:
    # A channel post or an anonymous admin speaks as a chat (its from_user is a placeholder bot).
    if message.sender_chat is not None:
        return _chat_name(message.sender_chat)
    return message.from_user.full_name if message.from_user is not None else UNKNOWN_AUTHOR


def _origin_name(origin: MessageOrigin) -> str:
    if isinstance(origin, MessageOriginUser):
        return origin.sender_user.full_name
    if isinstance(origin, MessageOriginHiddenUser):
        return origin.sender_user_name
    if isinstance(origin, MessageOriginChat):
        return _chat_name(origin.sender_chat)
    if isinstance(origin, MessageOriginChannel):
        return _chat_name(origin.chat)
    return UNKNOWN_AUTHOR


def _chat_name(chat: Chat) -> str:
    return chat.title or chat.full_name or UNKNOWN_AUTHOR
