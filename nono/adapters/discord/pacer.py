"""Per-channel pacing of the message writes a streamed reply makes (edits, continuation messages).

Discord rate-limits writes per channel, so every reply streaming in one channel shares one
budget: at most one paced write per interval per channel. Channels are independent, so one
busy channel never slows another.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class ChannelPacer:
    """Hands out write slots at least `interval` seconds apart within each channel."""

    def __init__(self, interval: float, clock: Callable[[], float] | None = None) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        self.interval = interval
        self._clock = clock
        # channel id -> earliest time of that channel's next write. An entry whose time has
        # passed means the same as no entry, so idle channels are dropped: the dict only holds
        # channels written to within the last interval.
        self._next: dict[int, float] = {}

    def __len__(self) -> int:
        return len(self._next)

    def _now(self) -> float:
        return self._clock() if self._clock is not None else asyncio.get_running_loop().time()

    def reserve(self, channel_id: int) -> float:
        """Claim the channel's next slot; returns how many seconds to wait for it."""
        now = self._now()
        self._forget_idle(now)
        slot = max(now, self._next.get(channel_id, now))
        self._next[channel_id] = slot + self.interval
        return slot - now

    async def wait(self, channel_id: int) -> None:
        """Sleep until this caller's slot in the channel comes up."""
        delay = self.reserve(channel_id)
        if delay > 0:
            await asyncio.sleep(delay)

    def note(self, channel_id: int) -> None:
        """Record a write that did not wait (a reply's first message): the next paced one waits after it."""
        now = self._now()
        self._forget_idle(now)
        self._next[channel_id] = max(self._next.get(channel_id, now), now + self.interval)

    def _forget_idle(self, now: float) -> None:
        idle = [channel_id for channel_id, at in self._next.items() if at <= now]
        for channel_id in idle:
            del self._next[channel_id]
