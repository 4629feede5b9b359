"""SQLite serves one Nono process: a second real process on the same file says so once, and still starts.

Operators run `nono sidecar` while `nono run` is down (and sometimes by mistake while it is up), so the
second process is not refused; its log names the file and the way out. The first process, and a new
one after the first was killed with SIGKILL, print no such line: the kernel frees a dead holder's lock.
"""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import pytest

from tests.support.nono_process import nono_env, start_nono
from tests.support.redis_server import free_port

pytestmark = pytest.mark.slow

TOKEN = "single-process-test-admin-token"


def warning_for(database: Path) -> str:
    return (
        f"another Nono process is using {database}; SQLite serves one process: "
        "use STORE=redis to run several (docs/scaling.md)"
    )


class Sidecar:
    """`nono sidecar` on the shared data directory, its log lines collected as they come."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[str] = []
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(cls, tmp_path: Path) -> Sidecar:
        env = nono_env(tmp_path, SIDECAR_PORT=str(free_port()), ADMIN_TOKEN=TOKEN, LOG_LEVEL="INFO")
        sidecar = cls(await start_nono(tmp_path, env, "sidecar"))
        async with asyncio.timeout(30):  # listening: start-up, and its warnings, are over
            while not any('"sidecar_listening"' in line for line in sidecar.lines):
                assert sidecar.process.returncode is None, "\n".join(sidecar.lines)
                await asyncio.sleep(0.05)
        return sidecar

    async def _read(self) -> None:
        assert self.process.stderr is not None
        async for raw in self.process.stderr:
            self.lines.append(raw.decode("utf-8", "replace").rstrip())

    def warnings(self, text: str) -> list[dict[str, object]]:
        """The log lines that carry `text`, parsed."""
        return [json.loads(line) for line in self.lines if text in line]

    async def stop(self, sig: signal.Signals = signal.SIGTERM) -> int:
        self.process.send_signal(sig)
        code = await asyncio.wait_for(self.process.wait(), 20)
        await asyncio.wait_for(self._reader, 5)
        return code


async def test_a_second_process_on_one_sqlite_file_warns_once_and_runs(tmp_path: Path) -> None:
    warning = warning_for(tmp_path / "data" / "nono.sqlite3")
    first = await Sidecar.start(tmp_path)
    second = third = None
    try:
        second = await Sidecar.start(tmp_path)
        (line,) = second.warnings(warning)
        assert line["level"] == "WARNING"
        assert first.warnings(warning) == [], "the first process was alone when it started"
        assert second.process.returncode is None, "the second process is not refused"

        assert await second.stop() == 0
        assert await first.stop(signal.SIGKILL) == -signal.SIGKILL
        third = await Sidecar.start(tmp_path)  # the killed process left its lock file, but no lock
        assert third.warnings(warning) == []
        assert await third.stop() == 0
    finally:
        for sidecar in (first, second, third):
            if sidecar is not None and sidecar.process.returncode is None:
                sidecar.process.kill()
                await sidecar.process.wait()
