"""Shared lines on Redis (see `lines`): the keys, the arguments of the turn's scripts, leave and renew.

A conversation's line is two keys under its hash tag: `conv:{id}:line`, a list of seat tickets in
arrival order, and `conv:{id}:seats`, a hash of each ticket's lease end (epoch ms) plus `@holder`,
`@token` (the head and its fencing token) and `@n` (the last token given). A person's limits are two
sorted sets under the person's hash tag: `person:{id}:rate` (accepted messages by time, the sliding
window) and `person:{id}:pending` (their seats by lease end, in any conversation). The Lua is in
`redis_line_scripts`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from nono.core.errors import Busy, RateLimited
from nono.core.store.lines import Fence, Seat, SeatLost, SeatRequest, Waiting
from nono.core.store.redis_batch import evalsha, pipelined
from nono.core.store.redis_keys import RedisKeys
from nono.core.store.redis_line_scripts import ADMIT, LEAVE, RENEW, RENEW_PENDING


def ms(seconds: float) -> int:
    return int(seconds * 1000)


def line_keys(keys: RedisKeys, conversation_id: str, person: str) -> list[str]:
    """The line's and the person's keys: line, seats, rate, pending."""
    return [keys.line(conversation_id), keys.seats(conversation_id), keys.rate(person), keys.pending(person)]


def take_args(request: SeatRequest, admit: bool) -> list[Any]:
    """ARGV of a seat request: ticket, now, lease end (ms), enter, admit, per minute, max pending."""
    seat, admission = request.seat, request.admission
    max_pending = -1 if admission.max_pending is None else admission.max_pending
    return [
        seat.ticket, ms(request.now), ms(request.now + seat.lease), "1" if request.enter else "",
        "1" if admit else "", admission.per_minute, max_pending,
    ]  # fmt: skip


def refusal(reply: Sequence[Any]) -> Exception:
    """The user-facing error of a `{'refused', why, ...}` reply."""
    why = _text(reply[1])
    if why == "rate":
        return RateLimited(float(_text(reply[2])) / 1000)
    return Busy("You have too many messages waiting for an answer. Please wait for my replies.")


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def same_slot_of(client: Any) -> Callable[[str, str], bool]:
    """Whether two keys may share a script on `client`: always on one Redis, the same hash slot on a cluster."""
    from redis.asyncio.cluster import RedisCluster
    from redis.crc import key_slot

    if isinstance(client, RedisCluster):
        return lambda a, b: key_slot(a.encode()) == key_slot(b.encode())
    return lambda a, b: True


class RedisLines:
    """Leaving and renewing seats, and admitting one apart (taking and freeing the head ride on the turn's scripts)."""

    def __init__(self, client: Any, keys: RedisKeys, guard: Any, same_slot: Callable[[str, str], bool]) -> None:
        self._client = client
        self._keys = keys
        self._guard = guard
        #: Whether two keys may be in one script (always on a single Redis; the same hash slot on a cluster).
        self.same_slot = same_slot
        self._leave = client.register_script(LEAVE)
        self._renew = client.register_script(RENEW)
        self._renew_pending = client.register_script(RENEW_PENDING)
        self._admit = client.register_script(ADMIT)

    async def admit(self, request: SeatRequest) -> None:
        """Admit a seat against its person's limits, for a line on another shard; raises the refusal."""
        keys = self._keys
        ticket, now, lease_end, _, _, per_minute, max_pending = take_args(request, admit=True)
        person = request.seat.person
        with self._guard("admit"):
            reply = await self._admit(
                keys=[keys.rate(person), keys.pending(person)], args=[ticket, now, per_minute, max_pending, lease_end]
            )
        if _text(reply[0]) == "refused":
            raise refusal(reply)

    async def leave(self, conversation_id: str, seat: Seat) -> None:
        keys = self._keys
        line, seats, pending = keys.line(conversation_id), keys.seats(conversation_id), keys.pending(seat.person)
        with self._guard("leave"):
            if self.same_slot(line, pending):
                await self._leave(keys=[line, seats, pending], args=[seat.ticket, "1"])
                return

            def queue(pipe: Any) -> None:
                evalsha(pipe, self._leave, [line, seats, line], [seat.ticket, ""])
                pipe.zrem(pending, seat.ticket)

            await pipelined(self._client, queue, self._leave)

    async def renew(self, seats: Sequence[tuple[str, Seat]], now: float) -> None:
        if not seats:
            return
        by_line: dict[str, list[str]] = {}
        by_person: dict[str, list[str]] = {}
        for conversation_id, seat in seats:
            by_line.setdefault(conversation_id, []).append(seat.ticket)
            by_person.setdefault(seat.person, []).append(seat.ticket)
        until = ms(now + max(seat.lease for _, seat in seats))

        def queue(pipe: Any) -> None:
            for conversation_id, tickets in by_line.items():
                evalsha(pipe, self._renew, [self._keys.seats(conversation_id)], [until, *tickets])
            for person, tickets in by_person.items():
                evalsha(pipe, self._renew_pending, [self._keys.pending(person)], [until, *tickets])

        with self._guard("renew"):
            await pipelined(self._client, queue, self._renew, self._renew_pending)

    def take_tail(self, conversation_id: str, request: SeatRequest) -> tuple[list[str], list[Any], bool]:
        """The keys and arguments `compose_take` pops, and whether the person's limits must be admitted apart."""
        keys, person = self._keys, request.seat.person
        line, seats, rate, pending = line_keys(keys, conversation_id, person)
        apart = request.enter and not self.same_slot(line, pending)
        if apart:
            rate = pending = line  # not touched: admitted by `admit` before
        ticket, now, lease_end, enter, admit, per_minute, max_pending = take_args(request, admit=not apart)
        tail_keys = [keys.person(conversation_id), line, seats, rate, pending]
        return tail_keys, [conversation_id, ticket, now, lease_end, enter, admit, per_minute, max_pending], apart

    def fence_tail(self, conversation_id: str, fence: Fence) -> tuple[list[str], list[Any], str | None]:
        """The keys and arguments `compose_fenced` pops, and the pending set to clean apart (another shard's)."""
        keys = self._keys
        line, seats, pending = keys.line(conversation_id), keys.seats(conversation_id), keys.pending(fence.person)
        if self.same_slot(line, pending):
            return [line, seats, pending], [fence.ticket, fence.token, "1"], None
        return [line, seats, line], [fence.ticket, fence.token, ""], pending

    async def forget_pending(self, pending: str, ticket: str) -> None:
        with self._guard("forget_pending"):
            await self._client.zrem(pending, ticket)


def taken(reply: Sequence[Any], conversation_id: str) -> int | Waiting | None:
    """What a `compose_take` reply says: the fencing token (the read's reply precedes it), Waiting, or None
    for a link to follow (the read's own one-item reply). Raises the refusal, or SeatLost."""
    first = reply[0]
    if isinstance(first, bytes) and first.startswith(b" "):
        if first == b" wait":
            return Waiting(conversation_id)
        if first == b" lost":
            raise SeatLost(conversation_id)
        raise refusal(reply)
    if len(reply) == 1:
        return None
    return int(reply[-1])
