"""The per-channel pacer on its own: spacing within a channel, independence across channels, bounded memory."""

from __future__ import annotations

import pytest

from nono.adapters.discord.pacer import ChannelPacer


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_writes_in_one_channel_are_spaced_by_the_interval():
    pacer = ChannelPacer(1.5, Clock())

    assert [pacer.reserve(7) for _ in range(4)] == [0.0, 1.5, 3.0, 4.5]


def test_each_channel_has_its_own_budget():
    pacer = ChannelPacer(1.0, Clock())
    pacer.reserve(1)
    pacer.reserve(1)

    assert pacer.reserve(2) == 0.0


def test_a_reply_posted_just_now_delays_the_next_write_in_its_channel():
    clock = Clock()
    pacer = ChannelPacer(1.0, clock)
    pacer.note(3)
    clock.now += 0.25

    assert pacer.reserve(3) == pytest.approx(0.75)


def test_idle_channels_are_forgotten():
    clock = Clock()
    pacer = ChannelPacer(1.0, clock)
    for channel in range(1000):
        pacer.reserve(channel)
    assert len(pacer) == 1000

    clock.now += 1.0
    assert pacer.reserve(5000) == 0.0
    assert len(pacer) == 1  # only the channel written to within the last interval


def test_the_interval_must_be_positive():
    with pytest.raises(ValueError):
        ChannelPacer(0)
