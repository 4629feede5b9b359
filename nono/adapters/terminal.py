"""The terminal adapter: a REPL that streams answers, also usable with piped stdin."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from nono.core.chat import ChatService
from nono.core.commands import Commands
from nono.core.errors import UserFacingError
from nono.core.wording import GENERIC_ERROR

log = logging.getLogger(__name__)

QUIT = {"/quit", "/exit"}
#: A terminal export is written next to where Nono runs; no upload limit applies.
EXPORT_LIMIT = 2**40


class TerminalChat:
    """Reads lines, answers each one; `/commands` go to the shared command handlers."""

    def __init__(
        self, chat: ChatService, user_id: str, stdin: TextIO, stdout: TextIO, export_dir: Path | None = None
    ) -> None:
        self.chat = chat
        self.export_dir = export_dir or Path.cwd()
        self.commands = Commands(chat)
        self.user_id = user_id
        self.stdin = stdin
        self.stdout = stdout
        self.interactive = stdin.isatty()

    async def run(self) -> None:
        """Chat until /quit or end of input."""
        persona = await self._safe(self.chat.get_persona(self.user_id))
        if self.interactive and persona is not None:
            self._print(f"{persona.greeting or 'Hi!'}  (/help for commands, /quit to leave)")
        while True:
            if self.interactive:
                self._write("> ")
            line = await asyncio.to_thread(self.stdin.readline)
            if not line:
                break
            line = line.rstrip("\n")
            if line.strip() in QUIT:
                break
            await self.handle(line)

    async def handle(self, line: str) -> None:
        """Answer one line: a command, or a message streamed chunk by chunk."""
        try:
            if line.strip() == "/export":
                self._print(await self._export())
                return
            answer = await self.commands.dispatch(self.user_id, line.strip())
            if answer is not None:
                self._print(answer)
                return
            await self._stream(line)
        except UserFacingError as exc:
            self._print(str(exc))
        except Exception:
            log.exception("terminal_turn_failed", extra={"user_id": self.user_id})
            self._print(GENERIC_ERROR)

    async def _export(self) -> str:
        """Write everything stored about this person to a JSON file here; where it went."""
        export = await self.chat.personal_data.export_file(self.user_id, EXPORT_LIMIT)
        path = self.export_dir / export.name
        await asyncio.to_thread(path.write_bytes, export.data)
        return f"Saved everything I store about you to {path}"

    async def _stream(self, line: str) -> None:
        reply = self.chat.stream(self.user_id, line)
        started = False
        try:
            async with reply:
                async for chunk in reply:
                    if not started and self.interactive and reply.persona is not None:  # set by the first chunk
                        self._write(f"{reply.persona.display_name}: ")
                    started = True
                    self._write(chunk)
        finally:
            if started:
                self._write("\n")

    async def _safe(self, awaitable):
        try:
            return await awaitable
        except UserFacingError as exc:
            self._print(str(exc))
            return None

    def _write(self, text: str) -> None:
        self.stdout.write(text)
        self.stdout.flush()

    def _print(self, text: str) -> None:
        self._write(text + "\n")


async def run_terminal(
    chat: ChatService, user_id: str, stdin: TextIO | None = None, stdout: TextIO | None = None
) -> None:
    """Run the terminal chat on stdin/stdout until /quit or EOF."""
    await TerminalChat(chat, user_id, stdin or sys.stdin, stdout or sys.stdout).run()


@dataclass(frozen=True)
class TerminalOptions:
    """Who is chatting, and on which streams (the process's stdin/stdout unless given)."""

    user_id: str
    stdin: TextIO | None = field(default=None, repr=False)
    stdout: TextIO | None = field(default=None, repr=False)


@dataclass(frozen=True)
class TerminalPart:
    """The chat running in a task; `finished()` waits for /quit or the end of input."""

    task: asyncio.Task[None]
    name: str = "terminal"

    def healthy(self) -> bool:
        return not self.task.done()

    async def finished(self) -> None:
        await asyncio.shield(self.task)


@asynccontextmanager
async def running(chat: ChatService, options: TerminalOptions) -> AsyncIterator[TerminalPart]:
    """Chat in the terminal until the block exits (which stops a chat still reading)."""
    task = asyncio.create_task(run_terminal(chat, options.user_id, options.stdin, options.stdout), name="terminal")
    try:
        yield TerminalPart(task)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
