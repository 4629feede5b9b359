"""Per-chat pacing follows Telegram's limits; STREAM_EDIT_INTERVAL can only slow it down."""

from __future__ import annotations

import pytest

from nono.adapters.telegram_pacing import GROUP_INTERVAL, PRIVATE_INTERVAL, ChatPacer
from tests.adapters.telegram.conftest import ALICE, GROUP


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
