"""Split a long Markdown reply into platform-sized messages without breaking code blocks.

Cuts fall on paragraph, then line, then word boundaries. A fenced code block cut in two is
closed at the end of one part and reopened (same fence and language tag) at the start of
the next, so every part renders on its own. Nothing is dropped or repeated: removing the
added fences and joining the parts gives back the original text exactly.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

_FENCE = re.compile(r"^ {0,3}(`{3,})(.*)$")
#: Longest language tag carried over when a code block is reopened in the next part.
MAX_TAG = 16


@dataclass(frozen=True)
class Part:
    """One message: `body` is a slice of the original; `reopen`/`close` are the fences we added."""

    body: str
    reopen: str = ""
    close: str = ""

    @property
    def text(self) -> str:
        return self.reopen + self.body + self.close


def utf16_len(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def split_message(text: str, limit: int, length: Callable[[str], int] = len) -> list[str]:
    """Parts of `text`, each at most `limit` long as measured by `length`."""
    return [part.text for part in split_parts(text, limit, length)]


def split_parts(text: str, limit: int, length: Callable[[str], int] = len) -> list[Part]:
    """Like split_message, but says which fences were added (for tests and renderers)."""
    if limit < 32:
        raise ValueError("limit too small to split code blocks safely")
    parts: list[Part] = []
    opener: str | None = None  # the fence line of a code block still open at the cut
    rest = text
    while rest:
        reopen = opener + "\n" if opener else ""
        whole = Part(rest, reopen, _closing(rest, fence_state(rest, opener)))
        if length(whole.text) <= limit:  # the rest fits (closed if the reply left a block open)
            parts.append(whole)
            break
        body = _cut(rest, limit - length(reopen), opener, length)
        end_state = fence_state(body, opener)
        parts.append(Part(body, reopen, _closing(body, end_state)))
        rest = rest[len(body) :]
        opener = end_state
    return parts


def fence_state(text: str, opener: str | None = None) -> str | None:
    """The fence of the code block open at the end of `text` (None when outside code).

    It is returned as its backticks plus the language tag (the info string's first word, at
    most 16 characters): exactly what reopening the block in the next part needs.
    """
    for line in text.split("\n"):
        match = _FENCE.match(line)
        if not match:
            continue
        ticks, info = match.groups()
        if opener is None:
            opener = ticks + (info.split() or [""])[0][:MAX_TAG]
        elif not info.strip() and len(ticks) >= len(_ticks(opener)):
            opener = None
    return opener


def _ticks(opener: str) -> str:
    return opener[: len(opener) - len(opener.lstrip("`"))]


def _closing(body: str, state: str | None) -> str:
    """The fence that closes a block left open at the end of `body` (nothing when none is open)."""
    if state is None:
        return ""
    return _ticks(state) if body.endswith("\n") else "\n" + _ticks(state)


def _cut(text: str, budget: int, opener: str | None, length: Callable[[str], int]) -> str:
    """The longest good prefix of `text` that fits `budget` together with any closing fence."""
    # Reserve room for a closing fence: its size depends on the block open at the cut, which is
    # the block we are in (`opener`) or one opened in `text`: reserve for the longest of them.
    runs = [len(m.group(0)) for m in re.finditer(r"`{3,}", text)]
    longest = max([*runs, len(_ticks(opener or "")), 3])
    room = budget - (longest + 1)
    window = text[: _fit(text, room, length)]
    for separator in ("\n\n", "\n", " "):
        at = window.rfind(separator)
        if at >= len(window) // 2 and at > 0:
            return window[: at + len(separator)]
    for separator in ("\n", " "):
        at = window.rfind(separator)
        if at > 0:
            return window[: at + len(separator)]
    return window


def _fit(text: str, room: int, length: Callable[[str], int]) -> int:
    """How many characters of `text` fit in `room` units (at least one, so splitting always progresses)."""
    if length is len:
        return max(1, min(room, len(text)))
    lo, hi = 1, min(len(text), max(room, 1))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if length(text[:mid]) <= room:
            lo = mid
        else:
            hi = mid - 1
    return lo
