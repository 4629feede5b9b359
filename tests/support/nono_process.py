"""`nono` as a real subprocess, started the way an operator starts it: settings in the environment, no `.env`.

`patch` is Python run in the child before the CLI, for what no setting reaches (discord.py's API
address, an error nothing else provokes); the CLI itself runs unchanged after it.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from nono.bot.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
_CLI = "import sys\nfrom nono.bot.cli import main\nsys.exit(main(sys.argv[1:]))"


def nono_env(tmp_path: Path, **values: str) -> dict[str, str]:
    """This environment without any Nono setting it carries; SQLite under `tmp_path`, the shipped personas."""
    names = {name.upper() for name in Settings.model_fields} | {"FASTAPI_HOST", "FASTAPI_PORT"}
    env = {key: value for key, value in os.environ.items() if key not in names}
    env.update(
        STORE="sqlite", DATA_DIR=str(tmp_path / "data"), PERSONAS_DIR=str(ROOT / "personas"),
        LLM_BACKEND="ollama", OLLAMA_HOST="http://127.0.0.1:9", SIDECAR_HOST="127.0.0.1", PYTHONUNBUFFERED="1",
    )  # fmt: skip
    env.update(values)
    return env


def nono_command(*args: str, patch: str = "") -> list[str]:
    """`python -m nono ARGS`, or the same CLI after `patch` ran."""
    if not patch:
        return [sys.executable, "-m", "nono", *args]
    return [sys.executable, "-c", f"{patch}\n{_CLI}", *args]


async def start_nono(tmp_path: Path, env: dict[str, str], *args: str, patch: str = "") -> asyncio.subprocess.Process:
    """The process, with stdout and stderr piped (read them, or it may block on a full pipe)."""
    return await asyncio.create_subprocess_exec(
        *nono_command(*args, patch=patch), cwd=tmp_path, env=env,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def start_logged(tmp_path: Path, env: dict[str, str], log: Path, *args: str) -> asyncio.subprocess.Process:
    """`nono ARGS` (`run` by default) writing everything it prints to `log`."""
    with log.open("ab") as output:  # the child keeps its own handle; no pipe to drain
        return await asyncio.create_subprocess_exec(
            *nono_command(*(args or ("run",))), cwd=tmp_path, env=env,
            stdin=asyncio.subprocess.DEVNULL, stdout=output, stderr=output,
        )  # fmt: skip


async def healthy(http: aiohttp.ClientSession, url: str, log: Path, timeout: float = 30) -> None:
    """Wait until the sidecar at `url` answers /health; fail with its output when it never does."""
    try:
        async with asyncio.timeout(timeout):
            while True:
                try:
                    async with http.get(f"{url}/health") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.05)
    except TimeoutError:
        pytest.fail(f"the sidecar never listened:\n{log.read_text()}")


@dataclass(frozen=True)
class Finished:
    """How a nono process ended: exit code and everything it printed."""

    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


async def run_nono(tmp_path: Path, env: dict[str, str], *args: str, patch: str = "", timeout: float = 30) -> Finished:
    """Run `nono ARGS` to its end (killed after `timeout` seconds, which fails the caller's expectations)."""
    process = await start_nono(tmp_path, env, *args, patch=patch)
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        process.kill()
        stdout, stderr = await process.communicate()
        stderr += f"\n[killed after {timeout} s]".encode()
    assert process.returncode is not None
    return Finished(process.returncode, stdout.decode("utf-8", "replace"), stderr.decode("utf-8", "replace"))


async def until(predicate: Callable[[], Awaitable[bool]], what: str, log: Path, timeout: float = 20.0) -> None:
    """Poll `predicate` until it holds; fail with nono's output when it never does."""
    try:
        async with asyncio.timeout(timeout):
            while not await predicate():
                await asyncio.sleep(0.05)
    except TimeoutError:
        pytest.fail(f"timed out waiting for {what}:\n{log.read_text()}")
