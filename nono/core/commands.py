"""The commands every adapter offers, platform-neutral: personas, persona, reset, history, help.

Each returns the text to show; platforms may render it (Discord's slash commands, Telegram's
inline keyboard) but the wording and the behaviour live here once.
"""

from __future__ import annotations

from nono.core.chat import ChatService
from nono.core.errors import InvalidInput
from nono.core.models import Message

HISTORY_PREVIEW_CHARS = 200
MAX_HISTORY_COUNT = 50

COMMANDS = {
    "personas": "list the personas I can speak as",
    "persona": "show my persona, or switch: /persona NAME",
    "reset": "forget our conversation (and your persona choice)",
    "history": "show your recent messages: /history [COUNT]",
    "help": "show this help",
}


class Commands:
    """Platform-neutral command handlers on top of ChatService."""

    def __init__(self, chat: ChatService) -> None:
        self.chat = chat

    async def personas(self, user_id: str) -> str:
        """Every persona, the user's current one marked."""
        current = (await self.chat.get_persona(user_id)).name
        lines = ["Personas:"]
        for persona in self.chat.list_personas():
            mark = "▶" if persona.name == current else "•"
            lines.append(f"{mark} {persona.name} ({persona.display_name}): {persona.description}")
        lines.append("Switch with /persona NAME.")
        return "\n".join(lines)

    async def persona(self, user_id: str, name: str | None = None) -> str:
        """Without a name: the current persona and the list. With one: switch to it."""
        if name is None or not name.strip():
            return await self.personas(user_id)
        persona = await self.chat.set_persona(user_id, name.strip().lower())
        switched = f"Now speaking as {persona.display_name} ({persona.name})."
        return f"{switched}\n{persona.greeting}" if persona.greeting else switched

    async def reset(self, user_id: str) -> str:
        """Forget the user's history and persona choice."""
        if await self.chat.reset(user_id):
            return "Done: I've forgotten our conversation."
        return "There was nothing to forget: we haven't talked yet."

    async def history(self, user_id: str, count: int = 10) -> str:
        """The user's most recent messages, shortened."""
        if not 1 <= count <= MAX_HISTORY_COUNT:
            raise InvalidInput(f"Choose a count between 1 and {MAX_HISTORY_COUNT}.")
        messages = await self.chat.history(user_id, count)
        if not messages:
            return "No messages yet."
        return "\n".join(format_message(m) for m in messages)

    def help(self, prefix: str = "/") -> str:
        """What the bot does and which commands it has."""
        lines = ["Talk to me and I'll answer, remembering our conversation. Commands:"]
        lines += [f"{prefix}{name} — {text}" for name, text in COMMANDS.items()]
        return "\n".join(lines)

    async def greeting(self, user_id: str) -> str:
        """The current persona's greeting (for /start)."""
        persona = await self.chat.get_persona(user_id)
        return persona.greeting or f"Hi! I'm {persona.display_name}."

    async def dispatch(self, user_id: str, text: str) -> str | None:
        """Run `text` if it is a command (`/name [arg]`); None when it is not one of ours."""
        if not text.startswith("/"):
            return None
        name, _, arg = text[1:].strip().partition(" ")
        arg = arg.strip()
        match name.lower():
            case "personas":
                return await self.personas(user_id)
            case "persona":
                return await self.persona(user_id, arg or None)
            case "reset":
                return await self.reset(user_id)
            case "history":
                return await self.history(user_id, _count(arg))
            case "help":
                return self.help()
        return None


def _count(arg: str) -> int:
    if not arg:
        return 10
    if not arg.isdigit():
        raise InvalidInput(f"/history takes a number, like /history 5 (got {arg[:20]!r}).")
    return int(arg)


def format_message(message: Message) -> str:
    """One history line: who said it, shortened content, marked when the reply was cut short."""
    who = "You" if message.role == "user" else "Nono"
    text = " ".join(message.content.split())
    if len(text) > HISTORY_PREVIEW_CHARS:
        text = text[: HISTORY_PREVIEW_CHARS - 1] + "…"
    suffix = " [incomplete]" if message.incomplete else ""
    return f"{who}: {text}{suffix}"
