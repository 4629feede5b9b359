"""Server processes for the scale-out benchmarks (P4W, P7W): started with their own environment and log,
awaited until each has logged that it is up, their CPU time read, stopped as an operator stops them.

Several processes sharing one port (SO_REUSEPORT) cannot be told apart from outside, so readiness
is read from each one's own log (JSON lines, as Nono writes them) rather than from the shared port.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.parts import ROOT

#: What a child keeps of our environment; nothing else, so no stray setting (or token) changes it.
KEPT = ("PATH", "HOME", "LANG", "LC_ALL")
#: How long a stopped process gets to finish (SIGTERM) before it is killed.
STOP_GRACE = 15.0


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_env(**values: str) -> dict[str, str]:
    """A minimal environment with `values` (settings) on top; `bench` and `nono` importable from any directory."""
    kept = {key: os.environ[key] for key in KEPT if key in os.environ}
    return {**kept, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", **values}


def python_module(module: str, *args: str) -> list[str]:
    """`python -m module args` with this interpreter."""
    return [sys.executable, "-m", module, *args]


@dataclass(frozen=True)
class Spec:
    """One process to start: its name (also its directory under the work dir), command and environment."""

    name: str
    command: list[str]
    env: dict[str, str]


@dataclass
class Child:
    """A started process; its output (stdout and stderr) is `directory/nono.log`, read by `logged_events` too."""

    name: str
    process: asyncio.subprocess.Process
    directory: Path

    @property
    def log(self) -> Path:
        return self.directory / "nono.log"

    def logged(self, event: str) -> int:
        """How many times `event` is in its log so far."""
        if not self.log.exists():
            return 0
        return self.log.read_text(encoding="utf-8", errors="replace").count(f'"event": "{event}"')

    def cpu_seconds(self) -> float:
        """User + system CPU time it has used so far (from /proc)."""
        stat = Path(f"/proc/{self.process.pid}/stat").read_text()
        fields = stat.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def tail(self, lines: int = 20) -> str:
        text = self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


async def start(spec: Spec, workdir: Path) -> Child:
    """Start `spec` in `workdir/<name>` (so no `.env` is read), its output into the log there (a file: no pipe)."""
    directory = workdir / spec.name
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / "nono.log").open("wb") as output:  # the child keeps its own handle
        process = await asyncio.create_subprocess_exec(
            *spec.command, cwd=directory, env=spec.env,
            stdin=asyncio.subprocess.DEVNULL, stdout=output, stderr=output,
        )  # fmt: skip
    return Child(spec.name, process, directory)


async def wait_logged(children: Sequence[Child], event: str, timeout: float) -> None:
    """Return once every child has logged `event`; raise (with its log) if one exits or time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        for child in children:
            if child.process.returncode is not None:
                raise RuntimeError(f"{child.name} exited with {child.process.returncode}:\n{child.tail()}")
        if all(child.logged(event) for child in children):
            return
        if time.monotonic() > deadline:
            late = [child for child in children if not child.logged(event)]
            raise RuntimeError(f"{late[0].name} did not log {event!r} within {timeout:.0f} s:\n{late[0].tail()}")
        await asyncio.sleep(0.1)


async def stop(children: Sequence[Child], grace: float = STOP_GRACE) -> None:
    """SIGTERM to each (as an operator stops Nono), then kill whatever is still running after `grace`."""
    for child in children:
        if child.process.returncode is None:
            child.process.send_signal(signal.SIGTERM)
    for child in children:
        try:
            await asyncio.wait_for(child.process.wait(), grace)
        except TimeoutError:
            child.process.kill()
            await child.process.wait()


@asynccontextmanager
async def running(specs: Sequence[Spec], workdir: Path, ready: str, timeout: float = 90) -> AsyncIterator[list[Child]]:
    """Every process of `specs` started and logged `ready`; all stopped when the block exits."""
    children: list[Child] = []
    try:
        for spec in specs:
            children.append(await start(spec, workdir))
        await wait_logged(children, ready, timeout)
        yield children
    finally:
        await stop(children)
