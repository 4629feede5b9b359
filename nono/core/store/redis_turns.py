"""The Redis store's turn read and write: `load_context` and `_write`, each one script and the index commands
pipelined with it (`redis_batch`): a turn costs two round trips (a linked person's read one more).

With the shared lines (`redis_lines`), the read takes the turn's seat and reads only at the head, and the
write frees the head, in the same scripts (`redis_line_scripts`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any

from nono.core.models import Session
from nono.core.store import redis_codec as codec
from nono.core.store import redis_line_scripts, redis_lines
from nono.core.store import redis_scripts as scripts
from nono.core.store.base import Context
from nono.core.store.common import OutageGuard
from nono.core.store.inflight import InFlight, ReplyTakenOver, Settles
from nono.core.store.lines import Admission, Fence, SeatRequest, StaleFence, Waiting
from nono.core.store.redis_active import RedisActive
from nono.core.store.redis_batch import evalsha
from nono.core.store.redis_inflight import RedisInFlight, begin_args
from nono.core.store.redis_keys import RedisKeys
from nono.core.store.redis_lines import RedisLines


class RedisTurns:
    """A turn's read and write (and the session writes that share the write's script)."""

    def __init__(
        self, client: Any, keys: RedisKeys, guard: OutageGuard, ready: Callable[[], Awaitable[None]],
        flights: RedisInFlight, active: RedisActive, lines: RedisLines | None, *, ttl_ms: int | None,
    ) -> None:  # fmt: skip
        self._keys = keys
        self._guard = guard
        self._ready = ready
        self._flights = flights
        self._active = active
        self.lines = lines
        self._ttl_ms = ttl_ms
        self._load_context = client.register_script(scripts.LOAD_CONTEXT)
        self._activity = client.register_script(scripts.ACTIVITY)
        self._take_and_load = client.register_script(redis_line_scripts.compose_take(scripts.LOAD_CONTEXT))
        self._fenced_activity = client.register_script(redis_line_scripts.compose_fenced(scripts.ACTIVITY))

    async def load_context(
        self, conversation_id: str, limit: int, begin: InFlight | None, lease_until: float, seat: SeatRequest | None
    ) -> Context | Waiting:
        """The session, the window, summary and facts; records `begin` in flight: one round trip (two if linked).

        With `seat`, the same script takes the seat and reads only at the head (see `redis_lines`)."""
        await self._ready()
        for _ in range(2):  # a link points at a conversation that is nobody's link: one hop at most
            keys = [
                *self._keys.everything(conversation_id), self._keys.person(conversation_id),
                self._keys.inflight(conversation_id),
            ]  # fmt: skip
            args: list[str | int] = [max(0, limit), conversation_id, *begin_args(begin)]
            script, token = self._load_context, None
            if seat is not None:
                assert self.lines is not None, "a seat needs the shared lines"
                tail_keys, tail_args, apart = self.lines.take_tail(conversation_id, seat)
                if apart:  # the person's limits live on another shard: one more round trip
                    await self.lines.admit(seat)
                    seat = replace(seat, admission=Admission())
                keys, args, script = [*keys, *tail_keys], [*args, *tail_args], self._take_and_load
            with self._guard("load_context"):
                reply = await self._read(script, keys, args, begin, lease_until)
            if seat is not None:
                if isinstance(taken := redis_lines.taken(reply, conversation_id), Waiting):
                    return taken
                token, reply = taken, reply[:-1] if taken is not None else reply
            if len(reply) == 1:
                conversation_id = codec.text(reply[0])
                begin = begin and replace(begin, conversation_id=conversation_id)
                continue
            context = codec.context_of(reply, conversation_id)
            if begin is not None:
                self._flights.began(begin)
            if seat is not None and token is not None:
                context = context._replace(fence=Fence(seat.seat.ticket, token, seat.seat.person))
            return context
        raise AssertionError(f"person link loop at {conversation_id!r}")

    async def _read(
        self, script: Any, keys: list[str], args: list[str | int], begin: InFlight | None, lease_until: float
    ) -> Any:
        """The read script's reply; recording `begin`, the sweep index and lease ride in the same pipeline."""
        if begin is None:
            return await script(keys=keys, args=args)

        def queue(pipe: Any) -> None:
            evalsha(pipe, script, keys, args)
            self._flights.queue_begin(pipe, begin, lease_until)

        return (await self._flights.send(queue, script))[0]

    async def write(
        self,
        op: str,
        conversation_id: str,
        persona: str,
        now: float,
        *,
        persona_wins: bool = False,
        metadata: dict[str, Any] | None = None,
        payload: Sequence[bytes] = (),
        settles: Settles | None = None,
        fence: Fence | None = None,
    ) -> Session:
        """Append `payload`, upsert the session, refresh TTLs: one script, indexed in the same pipeline.
        Returns the session as written."""
        await self._ready()
        keys = [*self._keys.everything(conversation_id), self._keys.inflight(conversation_id)]
        ttl = codec.ttl_arg(self._ttl_ms)
        fields = [item for k, v in (metadata or {}).items() for item in (codec.field(k), codec.dump(v))]
        wins = "1" if persona_wins else "0"
        settle = settles or ("", "")
        args = [conversation_id, persona, repr(float(now)), wins, ttl, *settle, len(fields) // 2, *fields, *payload]
        script, lines, pending = self._activity, self.lines, None
        if fence is not None:
            assert lines is not None, "a fence needs the shared lines"
            tail_keys, tail_args, pending = lines.fence_tail(conversation_id, fence)
            keys, args, script = [*keys, *tail_keys], [*args, *tail_args], self._fenced_activity

        def queue(pipe: Any) -> None:
            evalsha(pipe, script, keys, args)
            self._active.queue_mark(pipe, conversation_id, now)

        with self._guard(op):
            written = (await self._flights.send(queue, script))[0]
        if settles is not None and written != -1:
            self._flights.ended(settles.turn_id, gone=written is not None)
        if lines is not None and pending is not None and fence is not None:  # the person's keys: another shard
            await lines.forget_pending(pending, fence.ticket)
        if written == -1:
            raise StaleFence(conversation_id)
        if written is None:  # only a settling write stores nothing
            raise ReplyTakenOver(settle[0])
        raw, meta = written
        session = codec.session_of(codec.pairs(raw), codec.pairs(meta))
        assert session is not None, "the script just wrote this session"
        return session
