"""The real `llama_cpp.server` (llama-cpp-python's OpenAI-compatible server) serving the bundled SmolLM2.

A server nobody here wrote, started as a subprocess on a free loopback port, for the tests and
benchmarks of the `openai` backend:

    with llama_server() as server:
        OpenAILLM(base_url=server.base_url, api_key=None, model=server.model, ...)
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO

import httpx

from nono.core.llm.local_llm import bundled_model_path
from tests.support.redis_server import free_port

MODEL_ALIAS = "smollm2"
#: Loading the 135M model takes about a second; the import of the server's stack a few more.
START_TIMEOUT = 60.0
#: Only what the interpreter needs: the server's pydantic settings read every other variable
#: (MODEL, N_CTX, API_KEY, HOST, PORT, …), and a developer's environment must not change the test.
_PASSED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "LD_LIBRARY_PATH")


@dataclass(frozen=True)
class LlamaServer:
    """Where the running server answers."""

    #: "http://127.0.0.1:PORT/v1", what OPENAI_BASE_URL would be.
    base_url: str
    #: The model alias it serves ("smollm2").
    model: str
    #: The server process (tests that stop it mid-way use it).
    process: subprocess.Popen[bytes]


@contextmanager
def llama_server(*, n_ctx: int = 2048, n_threads: int | None = None) -> Iterator[LlamaServer]:
    """Run `python -m llama_cpp.server` with SmolLM2 until the block ends; fail with its output if it won't start."""
    port = free_port()
    threads = n_threads or os.cpu_count() or 1
    command = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(bundled_model_path()), "--model_alias", MODEL_ALIAS,
        "--n_ctx", str(n_ctx), "--n_threads", str(threads), "--n_threads_batch", str(threads),
        "--host", "127.0.0.1", "--port", str(port), "--verbose", "false",
    ]  # fmt: skip
    env = {name: os.environ[name] for name in _PASSED_ENV if name in os.environ}
    with tempfile.TemporaryFile() as output:  # a file, not a pipe: nobody has to drain it
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=output, stderr=output, env=env)
        try:
            base_url = f"http://127.0.0.1:{port}/v1"
            _wait_until_listing(base_url, process, output)
            yield LlamaServer(base_url, MODEL_ALIAS, process)
        finally:
            _stop(process)


def _wait_until_listing(base_url: str, process: subprocess.Popen[bytes], output: IO[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"llama_cpp.server exited with {process.returncode}:\n{_tail(output)}")
        try:
            if httpx.get(f"{base_url}/models", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass  # not listening yet
        time.sleep(0.2)
    raise RuntimeError(
        f"llama_cpp.server did not answer {base_url}/models within {START_TIMEOUT:g} s:\n{_tail(output)}"
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()  # uvicorn shuts down on SIGTERM
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _tail(output: IO[bytes]) -> str:
    output.seek(0)
    return output.read()[-4000:].decode("utf-8", "replace")
