"""Per-user lines: arrival order within a user, independence across users, no unbounded growth."""

from __future__ import annotations

import asyncio

from nono.core.lines import UserLines


async def test_tickets_of_one_user_are_served_in_arrival_order():
    lines = UserLines()
    served: list[int] = []

    async def turn(n: int, ticket):
        await ticket.wait()
        served.append(n)
        await asyncio.sleep(0)  # give others a chance to jump the queue if they could
        ticket.leave()

    tickets = [lines.enter("u") for _ in range(20)]
    await asyncio.gather(*(turn(n, t) for n, t in reversed(list(enumerate(tickets)))))
    assert served == list(range(20))
    assert len(lines) == 0  # nobody waits: the user's entry is gone


async def test_a_waiting_ticket_that_leaves_early_does_not_block_the_line():
    lines = UserLines()
    first, second, third = lines.enter("u"), lines.enter("u"), lines.enter("u")
    second.leave()
    first.leave()
    await asyncio.wait_for(third.wait(), 1)
    assert lines.waiting("u") == 1
    third.leave()
    third.leave()  # idempotent
    assert lines.waiting("u") == 0


async def test_other_users_are_never_blocked():
    lines = UserLines()
    held = lines.enter("alice")
    lines.enter("alice")
    bob = lines.enter("bob")
    await asyncio.wait_for(bob.wait(), 1)
    assert lines.waiting("alice") == 2 and held is not None
