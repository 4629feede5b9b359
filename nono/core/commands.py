"""The commands every adapter offers, platform-neutral: personas, persona, models, reset, history, help, link, unlink,
and the memory commands (remember, memory, forget, forget_me; /export delivers a file, so adapters run it).

Each returns the text to show; platforms may render it (Discord's slash commands, Telegram's
inline keyboard) but the wording and the behaviour live here once.
"""

from __future__ import annotations

from nono.core.chat import ChatService
from nono.core.errors import InvalidInput
from nono.core.link_commands import NOT_LINKED, LinkCommands, code_word, require_private
from nono.core.memory_commands import FORGET_ME_CANCELLED, PRIVATE_DATA_ONLY, MemoryCommands
from nono.core.model_list import format_models
from nono.core.models import Message
from nono.core.people import ConversationLike, Speaker, as_conversation

HISTORY_PREVIEW_CHARS = 200
MAX_HISTORY_COUNT = 50

COMMANDS = {
    "personas": "list the personas I can speak as",
    "persona": "show my persona, or switch: /persona NAME",
    "models": "list the models each backend has, the one answering here marked",
    "reset": "forget our conversation: history, summary, facts and persona choice",
    "history": "show your recent messages: /history [COUNT]",
    "remember": "keep a fact in mind here: /remember TEXT",
    "memory": "show the facts I remember here and my summary of our earlier conversation",
    "forget": "remove a fact: /forget N (its number in /memory) or /forget all",
    "export": "get everything I store about you as a file (private chat only)",
    "forget_me": "erase everything I store about you, after you confirm (private chat only)",
    "link": "join your private chats with me on another platform: /link, then /link CODE there",
    "unlink": "undo /link",
    "help": "show this help",
}


class Commands:
    """Platform-neutral command handlers on top of ChatService."""

    def __init__(self, chat: ChatService) -> None:
        self.chat = chat
        self.links = LinkCommands(chat.links)
        self.memory = MemoryCommands(chat)
        self._erasing: dict[str, str] = {}  # person -> their /forget_me confirmation, for text-only platforms

    async def personas(self, conversation: ConversationLike) -> str:
        """Every persona, the conversation's current one marked."""
        current = (await self.chat.get_persona(conversation)).name
        lines = ["Personas:"]
        for persona in self.chat.list_personas():
            mark = "▶" if persona.name == current else "•"
            lines.append(f"{mark} {persona.name} ({persona.display_name}): {persona.description}")
        lines.append("Switch with /persona NAME.")
        return "\n".join(lines)

    async def persona(self, conversation: ConversationLike, name: str | None = None, *, manager: bool = True) -> str:
        """Without a name: the current persona and the list. With one: switch to it (see ChatService.set_persona)."""
        if name is None or not name.strip():
            return await self.personas(conversation)
        persona = await self.chat.set_persona(conversation, name.strip().lower(), manager=manager)
        switched = f"Now speaking as {persona.display_name} ({persona.name})."
        return f"{switched}\n{persona.greeting}" if persona.greeting else switched

    async def models(self, conversation: ConversationLike) -> str:
        """Every backend's models, the default backend and the model the conversation's persona answers with marked."""
        persona = await self.chat.get_persona(conversation)
        backends = self.chat.backends
        return format_models(await backends.listings(), backends.default, persona)

    async def reset(self, conversation: ConversationLike, *, manager: bool = True) -> str:
        """Forget the conversation's history and persona choice."""
        if await self.chat.reset(conversation, manager=manager):
            return "Done: I've forgotten our conversation, its summary and the facts I remembered here."
        return "There was nothing to forget: we haven't talked yet."

    async def history(self, conversation: ConversationLike, count: int = 10, *, asker: str | None = None) -> str:
        """The conversation's most recent messages, shortened; `asker`'s own are marked "You"."""
        if not 1 <= count <= MAX_HISTORY_COUNT:
            raise InvalidInput(f"Choose a count between 1 and {MAX_HISTORY_COUNT}.")
        conversation = as_conversation(conversation)
        messages = await self.chat.history(conversation, count)
        if not messages:
            return "No messages yet."
        return "\n".join(format_message(m, asker, conversation.shared) for m in messages)

    def help(self, prefix: str = "/") -> str:
        """What the bot does and which commands it has."""
        lines = ["Talk to me and I'll answer, remembering our conversation. Commands:"]
        lines += [f"{prefix}{name} — {text}" for name, text in COMMANDS.items()]
        return "\n".join(lines)

    async def greeting(self, conversation: ConversationLike) -> str:
        """The current persona's greeting (for /start)."""
        persona = await self.chat.get_persona(conversation)
        return persona.greeting or f"Hi! I'm {persona.display_name}."

    async def dispatch(
        self, conversation: ConversationLike, text: str, *, speaker: Speaker | None = None, manager: bool = True
    ) -> str | None:
        """Run `text` if it is a command (`/name [arg]`); None when it is not one of ours.

        /link and /unlink answer in text only here (`/link yes`, `/unlink yes` confirm), for
        platforms without buttons; they work in a private conversation only.
        """
        conversation = as_conversation(conversation)
        speaker = speaker or Speaker.of(conversation.id)
        erasing = self._erasing.pop(speaker.person, None)
        if erasing is not None:  # the answer to /forget_me's question: yes erases, anything else keeps everything
            if text.strip().lower() == "yes":
                return self.memory.erased(await self.chat.personal_data.confirm(speaker.person, erasing))
            await self.chat.personal_data.cancel(speaker.person, erasing)
            if text.strip().lower() == "no":
                return FORGET_ME_CANCELLED
        if not text.startswith("/"):
            return None
        name, _, arg = text[1:].strip().partition(" ")
        arg = arg.strip()
        match name.lower():
            case "personas":
                return await self.personas(conversation)
            case "persona":
                return await self.persona(conversation, arg or None, manager=manager)
            case "models":
                return await self.models(conversation)
            case "reset":
                return await self.reset(conversation, manager=manager)
            case "history":
                return await self.history(conversation, _count(arg), asker=speaker.person)
            case "help":
                return self.help()
            case "link":
                require_private(conversation.private)
                word = code_word(arg)
                return await self.links.answer(speaker, word) if word else (await self.links.link(speaker, arg)).text
            case "remember":
                return await self.memory.remember(conversation, arg, speaker, manager=manager)
            case "memory":
                return await self.memory.memory(conversation)
            case "forget":
                return await self.memory.forget(conversation, arg, manager=manager)
            case "forget_me":
                require_private(conversation.private, PRIVATE_DATA_ONLY)
                self._erasing[speaker.person] = await self.chat.personal_data.ask(speaker.person)
                return self.memory.forget_me_question("Type yes")
            case "unlink":
                require_private(conversation.private)
                if arg.lower() == "yes":
                    return await self.links.unlink(speaker)
                question = await self.links.unlink_question(speaker)
                return f"{question}\nSend /unlink yes to confirm." if question else NOT_LINKED
        return None


def _count(arg: str) -> int:
    if not arg:
        return 10
    if not arg.isdigit():
        raise InvalidInput(f"/history takes a number, like /history 5 (got {arg[:20]!r}).")
    return int(arg)


def format_message(message: Message, asker: str | None = None, shared: bool = False) -> str:
    """One history line: who said it, shortened content, marked when the reply was cut short.

    In a shared conversation other people's messages carry their names; everywhere else a user message is "You".
    """
    if message.role != "user":
        who = "Nono"
    elif shared and message.speaker_id is not None and message.speaker_id != asker:
        who = message.speaker_name or message.speaker_id
    else:
        who = "You"
    text = " ".join(message.content.split())
    if len(text) > HISTORY_PREVIEW_CHARS:
        text = text[: HISTORY_PREVIEW_CHARS - 1] + "…"
    suffix = " [incomplete]" if message.incomplete else ""
    return f"{who}: {text}{suffix}"
