"""Per-chat pacing follows Telegram's limits; STREAM_EDIT_INTERVAL can only slow it down."""

from __future__ import annotations

import pytest

from nono.adapters.telegram.pacing import GROUP_INTERVAL, PRIVATE_INTERVAL, ChatPacer
from tests.support.telegram import ALICE, GROUP


@pytest.mark.parametrize(
    ("setting", "private", "group"),
    [(0.2, PRIVATE_INTERVAL, GROUP_INTERVAL), (1.0, 1.0, 3.0), (2.0, 2.0, 3.0), (10.0, 10.0, 10.0)],
)
def test_stream_edit_interval_only_slows_down(setting: float, private: float, group: float):
    pacer = ChatPacer(setting)
    assert (pacer.interval(ALICE), pacer.interval(GROUP)) == (private, group)


async def test_slots_in_one_chat_are_spaced_and_other_chats_do_not_wait():
    now, slept = [100.0], []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    pacer = ChatPacer(clock=lambda: now[0], sleep=sleep)
    await pacer.turn(GROUP)
    await pacer.turn(ALICE)
    assert slept == [], "first requests in two chats go at once"
    await pacer.turn(GROUP)
    assert slept == [GROUP_INTERVAL]
    pacer.hold(ALICE, 30)  # Telegram answered "retry after 30" in Alice's chat
    await pacer.turn(ALICE)
    assert slept == [GROUP_INTERVAL, 30], "nothing more in that chat until the wait is over"


async def test_the_bot_wide_rate_allows_a_seconds_burst_then_spaces_chats_in_order():
    now, slept = [100.0], []

    async def sleep(seconds: float) -> None:
        slept.append(round(seconds, 6))
        now[0] += seconds

    pacer = ChatPacer(global_rate=10, clock=lambda: now[0], sleep=sleep)
    for chat in range(1, 11):  # ten different chats: no per-chat wait, one second's worth of burst
        await pacer.turn(chat)
    assert slept == [] and pacer.congested(), "the burst is spent: a preview now would have to wait"
    await pacer.turn(11)
    await pacer.turn(12)
    assert slept == [0.1, 0.1], "then one every 1/rate seconds"
    now[0] += 1.0  # a quiet second refills the bucket
    assert not pacer.congested()


async def test_without_a_bot_wide_rate_nothing_waits_across_chats():
    pacer = ChatPacer(global_rate=0)
    for chat in range(1, 200):
        await pacer.turn(chat)
    assert not pacer.congested()
