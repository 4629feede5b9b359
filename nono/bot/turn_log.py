"""One log line per turn, from ChatService's turn listener: where, who answered, how it ended, how fast.

At DEBUG the line also sums up the stream (chunks, characters, the pace after the first token): one
line per reply, never one per chunk. What was said is added only with LOG_MESSAGE_TEXT=true.
"""

from __future__ import annotations

import logging
from typing import Any

from nono.core.turns import TurnRecord

log = logging.getLogger("nono.turns")


class TurnLog:
    """A turn listener logging `turn` at INFO; `message_text` adds the person's text and the reply."""

    def __init__(self, *, message_text: bool = False) -> None:
        self.message_text = message_text

    def __call__(self, record: TurnRecord) -> None:
        if not log.isEnabledFor(logging.INFO):
            return
        about: dict[str, Any] = {
            "platform": record.platform,
            "user_id": record.user_id,
            "persona": record.persona,
            "backend": record.backend,
            "outcome": record.outcome,
            "ttft_s": _seconds(record.time_to_first_token),
            "duration_s": _seconds(record.latency),
        }
        if record.error is not None:
            about["error"] = record.error
        if record.fell_back:
            about["fell_back"] = list(record.fell_back)
        if log.isEnabledFor(logging.DEBUG):
            about.update(stream_summary(record))
        if self.message_text:
            about["text"], about["reply"] = record.text, record.reply
        log.info("turn", extra=about)


def stream_summary(record: TurnRecord) -> dict[str, Any]:
    """How the reply streamed: chunks and characters sent, seconds from the first chunk to the end, the mean
    gap between chunks and the characters per second over that time."""
    summary: dict[str, Any] = {"chunks": record.chunks, "chars": record.chars}
    if record.first_token is None or record.finished is None:
        return summary
    streaming = record.finished - record.first_token
    summary["stream_s"] = _seconds(streaming)
    if record.chunks > 1:
        summary["chunk_gap_ms"] = round(streaming / (record.chunks - 1) * 1000, 1)
    if streaming > 0:
        summary["chars_per_s"] = round(record.chars / streaming, 1)
    return summary


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
