"""The Redis store's replies in flight, laid out for Redis Cluster.

A reply's record lives in its conversation's hash `conv:{id}:inflight` (fields `<turn>`,
`<turn>:owner`, `<turn>:progress`), under the conversation's hash tag: the turn's `load_context`
script writes it and its `append_turn` script settles it (`redis_scripts`), atomically with the
read and the write. Two keys span conversations, each written by a plain command in the same
pipeline as those scripts (`redis_batch`: no round trip of its own on a single Redis):

- `inflight:turns`, the sweep index: turn id → "<written at> <conversation id>". A turn enters it
  with its record and leaves it only once its record is known to be gone (ids this store settled ride
  on its next pipeline), so a refused or failed write never hides a live record from the sweep. An
  entry whose record is missing is skipped, and dropped once PRUNE_AFTER seconds old, unless rewritten
  meanwhile (by then the pipeline that wrote it has long landed, record included).
- `inflight:leases`, each owner's lease end (a sorted set: `ZADD GT` only ever extends a lease).

Claims stay atomic per record (a script on the record's hash); a claimer writes its lease first.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any

from nono.core.store import redis_codec as codec
from nono.core.store.common import OutageGuard
from nono.core.store.inflight import InFlight, Lease, Orphan, Progress
from nono.core.store.redis_batch import evalsha, pipelined
from nono.core.store.redis_keys import RedisKeys

#: Seconds after which a sweep-index entry whose record is missing is dropped as stale.
PRUNE_AFTER = 600.0

#: Record progress of turns still in flight. KEYS: the conversation's replies in flight. ARGV: turn id /
#: progress (JSON) pairs; a turn no longer in flight is skipped.
KEEP_ALIVE = """
for i = 1, #ARGV, 2 do
  if redis.call('HEXISTS', KEYS[1], ARGV[i]) == 1 then
    redis.call('HSET', KEYS[1], ARGV[i] .. ':progress', ARGV[i + 1])
  end
end
"""

#: Take a record over if its owner is still the one expected. KEYS: the conversation's replies in
#: flight. ARGV: turn id, expected owner, new owner. Returns 1 when taken.
CLAIM = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
if redis.call('HGET', KEYS[1], ARGV[1] .. ':owner') ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1] .. ':owner', ARGV[3])
return 1
"""


#: Drop stale sweep-index entries, each only if still as it was read (a turn waiting in line rewrites
#: its entry each time it asks). KEYS: the sweep index. ARGV: turn id / entry pairs.
PRUNE = """
for i = 1, #ARGV, 2 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then redis.call('HDEL', KEYS[1], ARGV[i]) end
end
"""


def begin_args(record: InFlight | None) -> list[str]:
    """The in-flight arguments of the load_context script: '' alone when nothing is recorded."""
    if record is None:
        return [""]
    return [record.turn_id, json.dumps(record.to_data()), record.owner, json.dumps(record.progress.to_data())]


class RedisInFlight:
    """The in-flight verbs on the store's client and guard, and what the turn's pipelines add for them."""

    def __init__(
        self, client: Any, keys: RedisKeys, guard: OutageGuard, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._redis = client
        self._keys = keys
        self._guard = guard
        self._clock = clock
        self._keep_alive = client.register_script(KEEP_ALIVE)
        self._claim = client.register_script(CLAIM)
        self._prune_stale = client.register_script(PRUNE)
        #: This store's own replies in flight: turn id → conversation (progress and settling need it).
        self._own: dict[str, str] = {}
        #: Turns whose record is known gone, still to be removed from the sweep index.
        self._gone: set[str] = set()

    # -- what a turn's pipelines carry ---------------------------------------------------------

    async def send(self, queue: Callable[[Any], None], *scripts: Any) -> list[Any]:
        """The replies of what `queue` adds to one pipeline (`redis_batch.pipelined`), which also carries the
        sweep-index removals due (idempotent: sent again if this pipeline fails)."""
        forgetting = set(self._gone)

        def queue_all(pipe: Any) -> None:
            queue(pipe)
            if forgetting:
                pipe.hdel(self._keys.turns, *forgetting)

        replies = await pipelined(self._redis, queue_all, *scripts)
        self._gone -= forgetting
        return replies

    async def flush(self) -> None:
        """Send the sweep-index removals still due, if any (on closing: no later pipeline will carry them)."""
        if self._gone:
            with self._guard("inflight_flush"):
                await self.send(lambda pipe: None)

    def queue_begin(self, pipe: Any, record: InFlight, lease_until: float) -> None:
        """Beside the read that records `record`: its sweep-index entry and its owner's lease."""
        pipe.hset(self._keys.turns, record.turn_id, f"{self._clock()!r} {record.conversation_id}")
        pipe.zadd(self._keys.leases, {record.owner: float(lease_until)}, gt=True)

    def began(self, record: InFlight) -> None:
        """The read recorded `record` (in the conversation the store read, a link followed)."""
        self._own[record.turn_id] = record.conversation_id

    def ended(self, turn_id: str, *, gone: bool) -> None:
        """The turn's write settled its record (`gone`) or was refused (another process took it over)."""
        self._own.pop(turn_id, None)
        if gone:
            self._gone.add(turn_id)

    # -- the InFlightStore verbs ---------------------------------------------------------------

    async def keep_alive(self, lease: Lease, progress: Mapping[str, Progress]) -> None:
        with self._guard("keep_alive"):
            where = await self._conversations(list(progress))
            by_conversation: dict[str, list[str]] = {}
            for turn, shown in progress.items():
                if turn in where:
                    by_conversation.setdefault(where[turn], []).extend((turn, json.dumps(shown.to_data())))
            await self._send(self._queue_lease(lease), *(
                _script(self._keep_alive, [self._keys.inflight(conversation)], pairs)
                for conversation, pairs in by_conversation.items()
            ))  # fmt: skip

    async def records(self) -> list[Orphan]:
        with self._guard("inflight_records"):
            turns, leases, legacy = await self._send(
                lambda pipe: pipe.hgetall(self._keys.turns),
                lambda pipe: pipe.zrange(self._keys.leases, 0, -1, withscores=True),
                lambda pipe: pipe.exists(self._keys.legacy_inflight),
            )
            if legacy:
                await self._move_legacy()
                return await self.records()
            entries = {codec.text(turn): codec.text(entry).partition(" ") for turn, entry in turns.items()}
            conversations = sorted({conversation for _, _, conversation in entries.values()})
            hashes = await self._send(
                *(lambda pipe, c=c: pipe.hgetall(self._keys.inflight(c)) for c in conversations)
            )  # fmt: skip
            until = {codec.text(owner): float(score) for owner, score in leases}
            found: dict[str, Orphan] = {}
            for fields in hashes:
                found.update(_records_of({codec.text(k): codec.text(v) for k, v in fields.items()}, until))
            await self._prune(entries, found)
        return sorted(found.values(), key=lambda orphan: orphan.record.started_at)

    async def claim(self, turn_id: str, expected_owner: str, lease: Lease) -> bool:
        with self._guard("claim_inflight"):
            # The lease first: a record this process owns must never look unleased, even for a moment.
            conversation, _ = await self._send(
                lambda pipe: pipe.hget(self._keys.turns, turn_id), self._queue_lease(lease)
            )
            if conversation is None:
                return False
            key = self._keys.inflight(codec.text(conversation).partition(" ")[2])
            return bool(await self._claim(keys=[key], args=[turn_id, expected_owner, lease.owner]))

    async def settle(self, turn_id: str) -> None:
        with self._guard("settle_inflight"):
            conversation = self._own.get(turn_id) or await self._conversation_of(turn_id)
            if conversation is not None:
                fields = (turn_id, f"{turn_id}:owner", f"{turn_id}:progress")
                await self._redis.hdel(self._keys.inflight(conversation), *fields)
            self.ended(turn_id, gone=True)
            await self._send()  # the sweep-index entry, once the record is gone

    # -- helpers -------------------------------------------------------------------------------

    def _queue_lease(self, lease: Lease) -> Callable[[Any], None]:
        return lambda pipe: pipe.zadd(self._keys.leases, {lease.owner: float(lease.until)}, gt=True)

    async def _send(self, *queued: Callable[[Any], None]) -> list[Any]:
        """The replies of `queued` commands, sent in one pipeline."""

        def queue(pipe: Any) -> None:
            for add in queued:
                add(pipe)

        return (await self.send(queue, self._keep_alive, self._claim))[: len(queued)]

    async def _conversation_of(self, turn_id: str) -> str | None:
        entry = await self._redis.hget(self._keys.turns, turn_id)
        return None if entry is None else codec.text(entry).partition(" ")[2]

    async def _conversations(self, turn_ids: list[str]) -> dict[str, str]:
        """Where each turn's record lives: this store's own turns from memory, others from the sweep index."""
        where = {turn: self._own[turn] for turn in turn_ids if turn in self._own}
        missing = [turn for turn in turn_ids if turn not in where]
        if missing:
            entries = await self._redis.hmget(self._keys.turns, missing)
            found = zip(missing, entries, strict=True)
            where.update({turn: codec.text(entry).partition(" ")[2] for turn, entry in found if entry is not None})
        return where

    async def _prune(self, entries: Mapping[str, tuple[str, str, str]], found: Mapping[str, Orphan]) -> None:
        """Drop sweep-index entries whose record is gone, once they are too old to be a record still landing."""
        oldest = self._clock() - PRUNE_AFTER
        stale = [
            item for turn, (written, _, conversation) in entries.items()
            if turn not in found and float(written) < oldest for item in (turn, f"{written} {conversation}")
        ]  # fmt: skip
        if stale:
            await self._prune_stale(keys=[self._keys.turns], args=stale)

    async def _move_legacy(self) -> None:
        """Move records of the single `inflight` hash (before Redis Cluster) to their conversations."""
        old, owners = await self._send(
            lambda pipe: pipe.hgetall(self._keys.legacy_inflight), lambda pipe: pipe.hgetall(self._keys.legacy_owners)
        )
        fields = {codec.text(k): codec.text(v) for k, v in old.items()}
        records = _records_of(fields, {codec.text(k): float(v) for k, v in owners.items()})

        def queue(pipe: Any) -> None:
            for turn, orphan in records.items():
                record, progress = orphan.record, fields.get(f"{turn}:progress", "{}")
                pipe.hset(self._keys.inflight(record.conversation_id), mapping={
                    turn: fields[turn], f"{turn}:owner": record.owner, f"{turn}:progress": progress,
                })  # fmt: skip
                self.queue_begin(pipe, record, orphan.lease_until)
            pipe.delete(self._keys.legacy_inflight, self._keys.legacy_owners)

        await self.send(queue)


def _script(script: Any, keys: list[str], args: list[str]) -> Callable[[Any], None]:
    return lambda pipe: evalsha(pipe, script, keys, args)


def _records_of(fields: Mapping[str, str], until: Mapping[str, float]) -> dict[str, Orphan]:
    """The records in one hash of replies in flight (`<turn>`, `<turn>:owner`, `<turn>:progress`), by turn id."""
    found: dict[str, Orphan] = {}
    for turn, record in fields.items():
        if turn.endswith((":owner", ":progress")):
            continue
        owner = fields.get(f"{turn}:owner", "")
        progress = Progress.from_data(json.loads(fields.get(f"{turn}:progress", "{}")))
        found[turn] = Orphan(InFlight.from_data(json.loads(record), owner, progress), until.get(owner, 0.0))
    return found
