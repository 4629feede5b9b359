"""Everything the process prints passes the secrets redactor, not only its log lines.

Error messages of libraries can carry a secret (python-telegram-bot's InvalidToken quotes the
token it was given); they reach stdout and stderr through the CLI's error lines, tracebacks,
warnings and whatever a library prints. `redacted_output` puts a redacting stream in place of
sys.stdout and sys.stderr while the command runs, and makes the hooks that print uncaught
exceptions redact too.
"""

from __future__ import annotations

import io
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from nono.bot.logging_setup import Redactor


class RedactingWriter(io.TextIOBase):
    """A text stream that writes to `stream` with every known secret replaced.

    A secret may arrive split over several writes (print writes its arguments one by one), so
    text that could be the start of a secret is held back until what follows shows it is not.
    """

    def __init__(self, stream: TextIO, redact: Redactor) -> None:
        super().__init__()
        self._stream = stream
        self._redact = redact
        self._held = ""
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            pending = self._held + text
            cut = _settled(pending, self._redact.forms)
            self._held = pending[cut:]
            if cut:
                self._stream.write(self._redact(pending[:cut]))
        return len(text)

    def flush(self) -> None:
        self._stream.flush()

    def release(self) -> None:
        """Write what was held back (redacted: it may still hold a whole secret) and flush."""
        with self._lock:
            held, self._held = self._held, ""
            if held:
                self._stream.write(self._redact(held))
        self._stream.flush()

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return self._stream.isatty()

    def fileno(self) -> int:
        return self._stream.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]  # TextIOBase declares it read-only
        return getattr(self._stream, "encoding", "utf-8")

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return getattr(self._stream, "errors", None)


def _settled(text: str, forms: Iterable[str]) -> int:
    """How much of `text` can be written now: up to where something that may become a secret starts."""
    forms = tuple(forms)
    cut = len(text)
    for form in forms:  # a tail that is the beginning of a secret
        for start in range(max(0, len(text) - len(form) + 1), cut):
            if form.startswith(text[start:]):
                cut = start
                break
    moved = True
    while moved:  # a whole secret across the cut stays with the held part (never written half redacted)
        moved = False
        for form in forms:
            at = text.find(form, max(0, cut - len(form) + 1))
            if at != -1 and at < cut:
                cut, moved = at, True
    return cut


def _through(redact: Redactor, hook: Callable[..., Any]) -> Callable[..., Any]:
    """`hook` (one that prints to sys.stderr) with sys.stderr redacted while it runs."""

    def redacting_hook(*args: Any) -> Any:
        real = sys.stderr
        if real is None or isinstance(real, RedactingWriter):
            return hook(*args)
        writer = RedactingWriter(real, redact)
        sys.stderr = writer
        try:
            return hook(*args)
        finally:
            writer.release()
            sys.stderr = real

    return redacting_hook


@contextmanager
def redacted_output(secrets: Iterable[str]) -> Iterator[None]:
    """Redact `secrets` from sys.stdout, sys.stderr and the printed uncaught exceptions within the block.

    An exception leaving the block keeps the hooks: Python prints it only after the block is left.
    """
    redact = Redactor(secrets)
    if not redact.forms:
        yield
        return
    streams = sys.stdout, sys.stderr
    hooks = sys.excepthook, threading.excepthook, sys.unraisablehook
    sys.excepthook = _through(redact, sys.excepthook)
    threading.excepthook = _through(redact, threading.excepthook)
    sys.unraisablehook = _through(redact, sys.unraisablehook)
    writers = [RedactingWriter(stream, redact) if stream is not None else None for stream in streams]
    sys.stdout, sys.stderr = writers  # type: ignore[assignment]  # a RedactingWriter is a TextIO
    leaving_with_error = True
    try:
        yield
        leaving_with_error = False
    finally:
        for writer in writers:
            if writer is not None:
                writer.release()
        sys.stdout, sys.stderr = streams
        if not leaving_with_error:
            sys.excepthook, threading.excepthook, sys.unraisablehook = hooks
