"""ArrivalOrder: a conversation's turns start in the order their messages arrived, though context may take a while.

SimCord answers REST calls without suspending, so a fetch there never lets a later message overtake;
this drives the gate directly with a fetch that really waits.
"""

from __future__ import annotations

import asyncio

from nono.adapters.discord.context import ArrivalOrder


async def _now(value: str) -> str:
    return value


async def test_a_message_still_fetching_starts_before_later_ones_and_other_conversations_go_ahead():
    order = ArrivalOrder()
    fetched = asyncio.Event()
    started: list[str] = []

    async def slow_fetch() -> str:
        await fetched.wait()
        return "alice: replying to an old message"

    tasks = [
        asyncio.create_task(order.start("channel-1", slow_fetch(), started.append)),
        asyncio.create_task(order.start("channel-1", _now("alice: and another thing"), started.append)),
        asyncio.create_task(order.start("channel-2", _now("bob: hello"), started.append)),
    ]
    await asyncio.sleep(0)
    waiting = list(started)
    fetched.set()
    await asyncio.gather(*tasks)

    assert waiting == ["bob: hello"]
    assert started == ["bob: hello", "alice: replying to an old message", "alice: and another thing"]
    assert len(order) == 0  # nothing is kept once every message has started


async def test_a_message_whose_fetch_is_cancelled_does_not_hold_up_the_next():
    order = ArrivalOrder()
    started: list[str] = []
    stuck = asyncio.create_task(order.start("dm", asyncio.Event().wait(), started.append))
    await asyncio.sleep(0)
    following = asyncio.create_task(order.start("dm", _now("next message"), started.append))
    await asyncio.sleep(0)

    stuck.cancel()
    await asyncio.gather(stuck, following, return_exceptions=True)

    assert started == ["next message"]
    assert len(order) == 0
