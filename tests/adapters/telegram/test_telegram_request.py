"""The aiohttp transport under PTB: a burst waits its turn, every request completes, failures are PTB's errors."""

from __future__ import annotations

import asyncio
import io

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from telegram import Bot, InputFile, ReplyParameters
from telegram.error import NetworkError, TimedOut

from nono.adapters.telegram.request import AiohttpRequest
from tests.support.redis_server import free_port

TOKEN = "123:abc"


async def serve(handle) -> TestServer:
    app = web.Application(client_max_size=4 * 1024 * 1024)  # room for a 2 MB upload
    app.router.add_post("/{path:.*}", handle)
    return TestServer(app)


async def test_a_burst_never_has_more_than_the_limit_in_flight_and_all_complete():
    seen = {"now": 0, "most": 0}

    async def handle(request: web.Request) -> web.Response:
        seen["now"] += 1
        seen["most"] = max(seen["most"], seen["now"])
        await asyncio.sleep(0.02)
        seen["now"] -= 1
        return web.json_response({"ok": True, "result": True})

    async with await serve(handle) as server:
        transport = AiohttpRequest(limit=3)
        await transport.initialize()
        try:
            url = str(server.make_url("/sendMessage"))
            results = await asyncio.gather(*(transport.do_request(url, "POST") for _ in range(40)))
        finally:
            await transport.shutdown()
    assert [code for code, _ in results] == [200] * 40
    assert seen["most"] == 3


async def test_parameters_and_files_arrive_as_ptb_sends_them():
    received: list[dict] = []

    async def handle(request: web.Request) -> web.Response:
        if request.path.endswith("/getMe"):
            me = {"id": 1, "is_bot": True, "first_name": "Nono", "username": "nono_bot"}
            return web.json_response({"ok": True, "result": me})
        if request.content_type == "application/json":
            received.append({"type": request.content_type, **await request.json()})
        else:
            form = await request.post()
            fields = {k: v.file.read() if isinstance(v, web.FileField) else v for k, v in form.items()}
            received.append({"type": request.content_type, **fields})
        message = {"message_id": 1, "date": 0, "chat": {"id": 7, "type": "private"}, "text": "ok"}
        return web.json_response({"ok": True, "result": message})

    big = b"{}" * (1024 * 1024)  # 2 MB: over the size aiohttp accepts as raw bytes without a warning
    async with await serve(handle) as server:
        bot = Bot(TOKEN, base_url=str(server.make_url("/bot")), request=AiohttpRequest())
        async with bot:
            await bot.send_message(7, "héllo", parse_mode="HTML", reply_parameters=ReplyParameters(3))
            await bot.send_document(7, InputFile(io.BytesIO(b"%PDF-1"), filename="a.pdf"), caption="doc")
            await bot.send_document(7, InputFile(big, filename="export.json"))  # streamed: no ResourceWarning
    text, document, large = received
    assert text == {
        "type": "application/json", "chat_id": 7, "text": "héllo", "parse_mode": "HTML",
        "reply_parameters": {"message_id": 3},
    }  # fmt: skip
    assert document["type"] == "multipart/form-data" and document["caption"] == "doc"
    assert document["document"] == b"%PDF-1"
    assert large["document"] == big


async def test_a_silent_server_is_timed_out_and_a_closed_port_is_a_network_error():
    async def handle(request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.json_response({"ok": True, "result": True})

    transport = AiohttpRequest(read_timeout=0.1)
    await transport.initialize()
    try:
        async with await serve(handle) as server:
            with pytest.raises(TimedOut):
                await transport.do_request(str(server.make_url("/getMe")), "POST")
        with pytest.raises(NetworkError, match=r"aiohttp\.ClientConnectorError"):
            await transport.do_request(f"http://127.0.0.1:{free_port()}/getMe", "POST")
    finally:
        await transport.shutdown()
    with pytest.raises(RuntimeError, match="not initialized"):
        await transport.do_request("http://127.0.0.1:1/getMe", "POST")
