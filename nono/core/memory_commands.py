"""/remember, /memory, /forget, /export and /forget_me, worded once for every platform.

Platforms deliver the answers their own way (Discord ephemerally, with buttons; Telegram with an
inline keyboard; the terminal as text) but the behaviour and the words live here.
"""

from __future__ import annotations

from nono.core.chat import ChatService
from nono.core.errors import InvalidInput
from nono.core.people import ConversationLike, Speaker, as_conversation
from nono.core.personal_data import CONFIRM_TTL, Erasure
from nono.core.store.base import Summary

#: Shown before the /forget_me confirmation button.
FORGET_ME_QUESTION = (
    "This erases everything I store about you: our private conversation, your own conversations in groups, "
    "your messages in shared ones, the facts and summaries, and your /link. It cannot be undone."
)
FORGET_ME_CANCELLED = "Nothing was erased."
#: /export and /forget_me outside a private chat.
PRIVATE_DATA_ONLY = "For your privacy, use this in a private chat with me."
EXPORT_CAPTION = "Everything I store about you, as JSON."
EXPORT_COMPRESSED = "Everything I store about you, as JSON (gzip-compressed: it was too big to send as it is)."
CONFIRM_MINUTES = int(CONFIRM_TTL // 60)


def describe_summary(summary: Summary) -> str:
    return f"Summary of our earlier conversation (by {summary.model}, up to message {summary.covers + 1}):"


class MemoryCommands:
    """The words around ChatService.facts and ChatService.personal_data."""

    def __init__(self, chat: ChatService) -> None:
        self.chat = chat

    async def remember(self, conversation: ConversationLike, text: str, speaker: Speaker, *, manager: bool) -> str:
        """Keep a fact; say its number, and when older facts no longer reach the model."""
        conversation = as_conversation(conversation)
        remembered = await self.chat.facts.remember(conversation, text, speaker.person, manager=manager)
        answer = f"Noted as fact {remembered.number}: {remembered.fact.text}"
        if remembered.crowded:
            answer += (
                "\nMy notes here are full: the oldest facts no longer reach me (they're marked in /memory). "
                "Remove some with /forget N."
            )
        return answer

    async def memory(self, conversation: ConversationLike) -> str:
        """Numbered facts (those that no longer reach the model marked) and the current summary."""
        view = await self.chat.facts.view(as_conversation(conversation))
        if view.facts:
            lines = ["Facts I remember here:"]
            for index, fact in enumerate(view.facts):
                mark = "" if view.in_prompt(index) else " (not shown to me: my notes are full)"
                lines.append(f"{index + 1}. {fact.text}{mark}")
        else:
            lines = ["I don't remember any facts here yet. Add one with /remember TEXT."]
        if view.summary is not None:
            lines += ["", describe_summary(view.summary), view.summary.text]
        else:
            lines += ["", "No summary yet: our conversation still fits in what I read each time."]
        return "\n".join(lines)

    async def forget(self, conversation: ConversationLike, which: str, *, manager: bool) -> str:
        """Remove fact N, or all of them."""
        if not which.strip():
            raise InvalidInput("Say which fact to forget: /forget N (its number in /memory) or /forget all.")
        removed = await self.chat.facts.forget(as_conversation(conversation), which, manager=manager)
        if which.strip().lower() == "all":
            if not removed:
                return "There were no facts to forget."
            return "Forgot the one fact." if removed == 1 else f"Forgot all {removed} facts."
        return f"Forgot fact {which.strip()}." if removed else "That fact was already gone."

    @staticmethod
    def forget_me_question(how: str) -> str:
        """The confirmation question; `how` says what to press or type."""
        return f"{FORGET_ME_QUESTION}\n{how} within {CONFIRM_MINUTES} minutes to confirm."

    @staticmethod
    def erased(erasure: Erasure) -> str:
        return erasure.describe()
