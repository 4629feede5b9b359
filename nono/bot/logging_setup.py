"""Logging as one JSON object per line: event names and ids, never secrets, message text only at DEBUG."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

# Attributes every LogRecord has; anything else was passed with `extra=` and is logged as a field.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
# Fields that may carry what a user wrote: kept out of the log unless DEBUG is on.
_TEXT_FIELDS = {"text", "content", "reply", "message_text"}


class JsonFormatter(logging.Formatter):
    """Format a record as a single JSON line."""

    def format(self, record: logging.LogRecord) -> str:
        data = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "event": record.getMessage(),
        }
        debug = logging.getLogger().isEnabledFor(logging.DEBUG)
        for key, value in vars(record).items():
            if key in _STANDARD or key.startswith("_") or (key in _TEXT_FIELDS and not debug):
                continue
            data[key] = value
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False, default=str)


def setup_logging(level: str = "INFO", stream=None) -> None:
    """Send every log record to `stream` (stderr) as JSON lines at `level`."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Third-party chatter (HTTP request lines may include bot tokens in URLs) stays at WARNING.
    for noisy in ("httpx", "httpcore", "discord", "telegram", "aiohttp.access", "asyncio"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
