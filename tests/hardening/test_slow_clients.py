"""Slow and vanishing clients against a real `nono sidecar` process, as the attack was seen.

Thirty uploads give up halfway through their body: each is counted as a client that closed, with
no ERROR line or traceback in Nono's output and no internal error in /metrics (each used to be a
logged 500). Thirty connections that trickle their headers, and thirty bodies that trickle, are
dropped after SIDECAR_READ_TIMEOUT (they used to be held for an hour); the bodies are told 408.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import aiohttp
import pytest

from tests.adapters.http.helpers import metric_value, raw_connection, status_line
from tests.support.nono_process import healthy, nono_env, start_logged
from tests.support.redis_server import free_port

N = 30
READ_TIMEOUT = 2.0
#: The wait on anything the server should do after READ_TIMEOUT: generous, but bounded.
MARGIN = 10.0
TOKEN = "slow-clients-admin-token"
UPLOAD = (
    f"POST /chat HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n"
    "Content-Length: 1000\r\nExpect: 100-continue\r\n\r\n"
)


async def start_upload(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """An upload whose handler is reading its body (curl waits for "100 Continue" the same way)."""
    reader, writer = await raw_connection("127.0.0.1", port, UPLOAD.encode())
    assert await status_line(reader) == 100
    assert await reader.readline() == b"\r\n"
    writer.write(b'{"user_id": "rest:slow", "message": "Here is a long story')
    await writer.drain()
    return reader, writer


async def trickle_headers(port: int) -> bool:
    """Send a header a byte at a time until the server hangs up; True when it did."""
    reader, writer = await raw_connection("127.0.0.1", port, b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
    try:
        async with asyncio.timeout(READ_TIMEOUT + MARGIN):
            while True:
                try:
                    if await asyncio.wait_for(reader.read(1), 0.3) == b"":
                        return True
                except TimeoutError:
                    writer.write(b"a")
    except TimeoutError:
        return False
    except ConnectionError:
        return True
    finally:
        writer.close()


async def scrape(http: aiohttp.ClientSession, url: str) -> str:
    async with http.get(f"{url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}) as response:
        assert response.status == 200
        return await response.text()


@pytest.mark.slow
async def test_slow_and_vanishing_clients_are_dropped_without_errors(tmp_path: Path) -> None:
    port, log = free_port(), tmp_path / "nono.log"
    url = f"http://127.0.0.1:{port}"
    env = nono_env(tmp_path, SIDECAR_PORT=str(port), ADMIN_TOKEN=TOKEN, SIDECAR_READ_TIMEOUT=str(READ_TIMEOUT))
    process = await start_logged(tmp_path, env, log, "sidecar")
    try:
        async with aiohttp.ClientSession() as http:
            await healthy(http, url, log)
            for _, writer in await asyncio.gather(*(start_upload(port) for _ in range(N))):
                writer.close()  # gave up halfway through the body
            slow_bodies = await asyncio.gather(*(start_upload(port) for _ in range(N)))
            dropped = await asyncio.gather(*(trickle_headers(port) for _ in range(N)))
            told = await asyncio.gather(*(status_line(reader, READ_TIMEOUT + MARGIN) for reader, _ in slow_bodies))
            for _, writer in slow_bodies:
                writer.close()
            text = await scrape(http, url)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.wait_for(process.wait(), 20)
        except TimeoutError:
            process.kill()
            code = await process.wait()
    output = log.read_text()
    assert dropped == [True] * N, "slow headers are dropped after SIDECAR_READ_TIMEOUT"
    assert told == [408] * N, "slow bodies are told 408"
    assert metric_value(text, "nono_http_requests_total", status="client_closed") == N
    assert metric_value(text, "nono_http_requests_total", status="408") == N
    assert metric_value(text, "nono_errors_total", kind="internal") == 0
    assert metric_value(text, "nono_http_requests_total", status="500") == 0
    assert '"level": "ERROR"' not in output and "Traceback" not in output, output
    assert code == 0, output
