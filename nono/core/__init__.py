"""The platform-neutral core: ChatService, personas, memory, stores and LLM backends.

Nothing here imports a chat platform's SDK or aiohttp (a test checks sys.modules).
"""

from nono.core.chat import ChatService
from nono.core.commands import Commands
from nono.core.errors import NonoError, UserFacingError
from nono.core.limits import ChatLimits
from nono.core.models import Message, Session
from nono.core.personas import Persona, PersonaRegistry
from nono.core.reply import Reply
from nono.core.turns import TurnRecord

__all__ = [
    "ChatLimits",
    "ChatService",
    "Commands",
    "Message",
    "NonoError",
    "Persona",
    "PersonaRegistry",
    "Reply",
    "Session",
    "TurnRecord",
    "UserFacingError",
]
