"""examples/client.py against a real `nono sidecar` process (the model: a loopback Ollama), as a user runs it."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import aiohttp
import pytest

from nono.core.personas import PersonaRegistry
from tests.fakes.ollama_server import DEFAULT_MODEL, running_ollama
from tests.support.nono_process import ROOT, Finished, healthy, nono_env, start_logged
from tests.support.redis_server import free_port

pytestmark = pytest.mark.slow

CLIENT = ROOT / "examples" / "client.py"
TOKEN = "example-client-token-0123456789"


async def run_client(cwd: Path, *args: str, typed: str = "") -> Finished:
    """`python examples/client.py ARGS` with `typed` as its input, to its end."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(CLIENT), *args, cwd=cwd,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(process.communicate(typed.encode()), 60)
    assert process.returncode is not None
    return Finished(process.returncode, stdout.decode(), stderr.decode())


async def test_a_user_chats_switches_persona_reads_history_and_clears(tmp_path: Path) -> None:
    async with running_ollama() as (ollama_url, ollama):
        port, log = free_port(), tmp_path / "nono.log"
        env = nono_env(
            tmp_path, OLLAMA_HOST=ollama_url, MODEL_NAME=DEFAULT_MODEL, SIDECAR_PORT=str(port), ADMIN_TOKEN=TOKEN,
            MEMORY_SUMMARY="off",
        )  # fmt: skip
        sidecar = await start_logged(tmp_path, env, log, "sidecar")
        try:
            url = f"http://127.0.0.1:{port}"
            async with aiohttp.ClientSession() as http:
                await healthy(http, url, log)
            ollama.enqueue(["Hello", " Alice", "!"])
            ollama.enqueue(["Arr", ", I be", " Captain Nono."])
            typed = "Hi, I am Alice\n/persona pirate\nWho are you?\n/history\n/personas\n/clear\n/history\n/quit\n"
            session = await run_client(tmp_path, "--url", url, "--token", TOKEN, "--user", "alice", typed=typed)
            refused = await run_client(tmp_path, "--url", url, "--token", "not-the-token")
            pirate_prompt = ollama.chat_requests[1]["messages"][0]["content"]
        finally:
            sidecar.terminate()
            await sidecar.wait()
    assert session.code == 0, session.output + log.read_text()
    lines = session.stdout.splitlines()
    assert lines[:8] == [
        "Chatting as rest:alice with assistant. /help lists the commands.",
        "nono: Hello Alice!",  # the streamed chunks, as they came
        "Now talking to pirate.",
        "nono: Arr, I be Captain Nono.",
        "  you: Hi, I am Alice",
        "  assistant: Hello Alice!",
        "  you: Who are you?",
        "  pirate: Arr, I be Captain Nono.",
    ]
    assert lines[-2:] == ["Forgotten.", "  (nothing yet)"]
    personas = lines[8:-2]
    shipped = PersonaRegistry.from_directory(ROOT / "personas", "assistant").names()
    assert [line.split()[0] for line in personas] == shipped
    assert "  assistant    Assistant (default): A friendly, helpful general assistant." in personas
    assert "pirate" in pirate_prompt.lower(), "the switch reached the model"
    assert refused.code == 1
    assert refused.stderr == "client.py: 401 unauthorized: Send Authorization: Bearer <ADMIN_TOKEN>.\n"
