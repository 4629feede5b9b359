"""Logging as one JSON object per line: event names and ids, never secrets, message text only when asked for."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from urllib.parse import quote, unquote, urlsplit

from pydantic import BaseModel, SecretStr

# Attributes every LogRecord has; anything else was passed with `extra=` and is logged as a field.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
# Fields that may carry what a user wrote or what the model answered: kept out of the log unless
# LOG_MESSAGE_TEXT is on, at every level (DEBUG is for chasing problems, not for reading conversations).
_TEXT_FIELDS = {"text", "content", "reply", "message_text"}
#: What a secret is replaced with in a log line.
REDACTED = "[redacted]"
# Shorter values would blot out ordinary words all over the log; no real token is this short.
_MIN_SECRET_CHARS = 4


def secret_values(settings: BaseModel) -> list[str]:
    """Every configured secret: the value of each SecretStr setting; for a URL, only its password."""
    values = []
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if not isinstance(value, SecretStr):
            continue
        values.extend(_secret_parts(value.get_secret_value()))
    return [v for v in values if len(v.strip()) >= _MIN_SECRET_CHARS]


def _secret_parts(text: str) -> list[str]:
    """A secret as it may be printed; for a URL (REDIS_URL) only its password, written and decoded.

    For a JSON object (OPENAI_HEADERS) each value too: a client prints one header, not the whole setting.
    """
    if text.lstrip().startswith("{"):
        try:
            headers = json.loads(text)
        except ValueError:
            headers = None
        if isinstance(headers, dict):
            return [text, *(str(value) for value in headers.values())]
    if "://" not in text:
        return [text]
    try:
        password = urlsplit(text).password or ""
    except ValueError:  # not a URL after all (an unclosed `[`): the whole value is the secret
        return [text]
    # Host and port are useful in logs; the password is the secret, and clients print it decoded.
    return [password, unquote(password)]


class Redactor:
    """Replaces known secrets in text, as written and as they look inside URLs and JSON strings."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        forms = set()
        for secret in secrets:
            forms |= {secret, quote(secret, safe=""), quote(secret), json.dumps(secret, ensure_ascii=False)[1:-1]}
        # Longest first, so a secret containing another is replaced whole.
        self.forms: tuple[str, ...] = tuple(
            sorted((f for f in forms if len(f) >= _MIN_SECRET_CHARS), key=len, reverse=True)
        )

    def __call__(self, text: str) -> str:
        for form in self.forms:
            if form in text:
                text = text.replace(form, REDACTED)
        return text


class JsonFormatter(logging.Formatter):
    """Format a record as a single JSON line, with any known secret redacted from all of it.

    Message text fields are dropped unless `message_text` (LOG_MESSAGE_TEXT).
    """

    def __init__(self, secrets: Iterable[str] = (), *, message_text: bool = False) -> None:
        super().__init__()
        self.message_text = message_text
        # A second line of defence: secrets are never logged on purpose, but a third-party
        # library may put one in a message (PTB's request URLs carry the bot token).
        self._redact = Redactor(secrets)

    def format(self, record: logging.LogRecord) -> str:
        data = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "event": record.getMessage(),
        }
        text = self.message_text
        for key, value in vars(record).items():
            if key in _STANDARD or key.startswith("_") or (key in _TEXT_FIELDS and not text):
                continue
            data[key] = value
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return self._redact(json.dumps(data, ensure_ascii=False, default=str))


def setup_logging(level: str = "INFO", stream=None, secrets: Iterable[str] = (), *, message_text: bool = False) -> None:
    """Send every log record to `stream` (stderr) as JSON lines at `level`, with `secrets` redacted and
    message text only with `message_text` (LOG_MESSAGE_TEXT)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(secrets, message_text=message_text))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Third-party chatter (HTTP request lines may include bot tokens in URLs) stays at WARNING.
    for noisy in ("httpx", "httpcore", "discord", "telegram", "aiohttp.access", "asyncio", "markdown_it"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
