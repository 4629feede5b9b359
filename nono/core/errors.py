"""One exception root for Nono, with a branch whose messages may be shown to users.

Adapters catch `UserFacingError` in exactly one place and send `str(error)` back to the
user. Anything else is a bug or an operator problem: log it, answer with a generic line.
"""

from __future__ import annotations

from nono.core.wording import BUSY, MODEL_UNAVAILABLE, STORE_UNAVAILABLE


class NonoError(Exception):
    """Root of every error Nono raises on purpose."""


class ConfigError(NonoError):
    """Operator configuration is invalid (settings, persona files); start-up stops."""


class PersonaConfigError(ConfigError):
    """A persona file failed validation; `problems` lists each one with file and field."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("invalid persona files:\n" + "\n".join(f"  - {p}" for p in problems))


class UserFacingError(NonoError):
    """An error whose message is written for the person chatting with the bot."""

    code = "error"
    #: Suggested HTTP status when the error crosses the sidecar.
    status = 400


class InvalidInput(UserFacingError):
    """The user sent something we refuse; nothing was stored."""

    code = "invalid_input"
    status = 422


class InvalidUserId(InvalidInput):
    code = "invalid_user_id"


class EmptyMessage(InvalidInput):
    code = "empty_message"

    def __init__(self) -> None:
        super().__init__("Your message is empty. Type something and I'll answer.")


class MessageTooLong(InvalidInput):
    code = "message_too_long"

    def __init__(self, length: int, limit: int) -> None:
        self.length, self.limit = length, limit
        super().__init__(
            f"Your message is {length} characters long; the limit is {limit}. "
            "Please shorten it or split it into several messages."
        )


class ContextOverflow(InvalidInput):
    """Even the newest message alone does not fit in the model's context."""

    code = "context_overflow"

    def __init__(self, needed: int, budget: int) -> None:
        self.needed, self.budget = needed, budget
        super().__init__(
            f"Your message is too long for the model's context window "
            f"(about {needed} tokens, room for {budget}). Please shorten it."
        )


class NotAllowed(UserFacingError):
    """The person may not do this here (a shared conversation's persona or memory, without being its manager)."""

    code = "not_allowed"
    status = 403


class NotFound(UserFacingError):
    """Something asked for by id (a remembered fact) does not exist."""

    code = "not_found"
    status = 404


class MemoryFull(UserFacingError):
    """A conversation already remembers as many facts as it may (MEMORY_MAX_FACTS)."""

    code = "memory_full"
    status = 409


class UnknownPersona(UserFacingError):
    code = "unknown_persona"
    status = 404

    def __init__(self, name: str, valid: list[str]) -> None:
        self.name, self.valid = name, list(valid)
        shown = name if len(name) <= 40 else name[:40] + "…"
        super().__init__(f"Unknown persona {shown!r}. Choose one of: {', '.join(self.valid)}.")


class ServiceUnavailable(UserFacingError):
    """A dependency failed; the user may try again later. Nothing half-done was stored."""

    code = "unavailable"
    status = 503


class ModelUnavailable(ServiceUnavailable):
    code = "model_unavailable"

    def __init__(self, message: str = MODEL_UNAVAILABLE, *, fallback: bool = False) -> None:
        super().__init__(message)
        #: The server is down or overloaded (refused, 5xx): another backend of LLM_FALLBACK may answer
        #: instead, if no chunk was sent yet. False for what another try would not fix here (a bad key,
        #: an unknown model) and for a stall the user already waited LLM_TIMEOUT on.
        self.fallback = fallback


class StoreUnavailable(ServiceUnavailable):
    code = "store_unavailable"

    def __init__(self, message: str = STORE_UNAVAILABLE) -> None:
        super().__init__(message)


class Busy(ServiceUnavailable):
    """Too much is queued; the user should try again shortly."""

    code = "busy"
    status = 503

    def __init__(self, message: str = BUSY) -> None:
        super().__init__(message)
        #: A busy backend is as good as down for this reply: the next one of LLM_FALLBACK may answer.
        self.fallback = True


class RateLimited(UserFacingError):
    code = "rate_limited"
    status = 429

    def __init__(self, retry_after: float) -> None:
        self.retry_after = max(1, int(retry_after + 0.999))
        super().__init__(f"Slow down a little: try again in {self.retry_after} s.")
