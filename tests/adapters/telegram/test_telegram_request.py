"""The bound on Bot API calls in flight: a burst waits its turn and every request still completes."""

from __future__ import annotations

import asyncio

from aiohttp import web
from aiohttp.test_utils import TestServer

from nono.adapters.telegram_request import BoundedRequest


async def test_a_burst_never_has_more_than_the_limit_in_flight_and_all_complete():
    seen = {"now": 0, "most": 0}

    async def handle(request: web.Request) -> web.Response:
        seen["now"] += 1
        seen["most"] = max(seen["most"], seen["now"])
        await asyncio.sleep(0.02)
        seen["now"] -= 1
        return web.json_response({"ok": True, "result": True})

    app = web.Application()
    app.router.add_post("/{method}", handle)
    async with TestServer(app) as server:
        transport = BoundedRequest(limit=3, pool_timeout=0.01)  # a pool wait this short would fail a burst
        await transport.initialize()
        try:
            url = str(server.make_url("/sendMessage"))
            results = await asyncio.gather(*(transport.do_request(url, "POST") for _ in range(40)))
        finally:
            await transport.shutdown()
    assert [code for code, _ in results] == [200] * 40
    assert seen["most"] == 3
