"""The log as an operator reads it: `setup_logging` (the JSON formatter, levels, redaction) writing to a buffer.

`with json_log("DEBUG", message_text=True) as log:` installs it for the block and puts every logger setting it
changed back afterwards; `log.lines()` parses what was written, `log.events(name)` the lines of one event.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from nono.bot.logging_setup import setup_logging

#: The loggers setup_logging sets a level on (besides the root).
_TOUCHED = ("httpx", "httpcore", "discord", "telegram", "aiohttp.access", "asyncio", "markdown_it")


class JsonLog:
    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def lines(self) -> list[dict[str, Any]]:
        """Every line written, parsed; a line that is not one JSON object fails the test."""
        return [json.loads(line) for line in self.text.splitlines() if line]

    def events(self, event: str) -> list[dict[str, Any]]:
        return [line for line in self.lines() if line["event"] == event]


@contextmanager
def json_log(level: str = "INFO", *, message_text: bool = False, secrets: Iterable[str] = ()) -> Iterator[JsonLog]:
    root = logging.getLogger()
    saved = root.handlers[:], root.level, {name: logging.getLogger(name).level for name in _TOUCHED}
    stream = io.StringIO()
    setup_logging(level, stream, secrets=secrets, message_text=message_text)
    try:
        yield JsonLog(stream)
    finally:
        handlers, root_level, levels = saved
        root.handlers[:] = handlers
        root.setLevel(root_level)
        for name, logger_level in levels.items():
            logging.getLogger(name).setLevel(logger_level)
