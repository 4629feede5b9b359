"""Replies on their way to a platform, kept in the store so that a crash cannot lose one silently.

One per ChatService. Its `owner` names this process in the records it writes; a heartbeat renews
the owner's lease (and saves how far each live reply got) every third of the lease, in one write
for all of them. A process that dies stops renewing: the next process to start on the same
platform (the restarted one, or another) waits for the lease to run out, claims its records
through `orphans`, tells each user what happened, and stores the turn as incomplete (`watch`). A claim is
atomic, so a reply is resolved once; a live turn is never claimed, because its owner is alive.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any

from nono.core.errors import StoreUnavailable
from nono.core.models import Message
from nono.core.store.base import Store
from nono.core.store.inflight import InFlight, Lease, Progress, Settles
from nono.core.wording import RESTARTED_NOTHING, RESTARTED_PARTIAL

log = logging.getLogger(__name__)

#: How long a process's claim on its replies lasts without renewal (TURN_LEASE): after a crash, its
#: replies are resolved at most this long (plus one sweep) later.
DEFAULT_LEASE = 30.0


def resolution_text(record: InFlight) -> str:
    """What the user sees in place of a reply a crash interrupted: a short note, then the text it had reached."""
    text = record.progress.text.strip()
    return f"{RESTARTED_PARTIAL}\n\n{text}" if text else RESTARTED_NOTHING


def new_owner() -> str:
    """A name for this process that no other process, here or on another host, will use."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Deliveries:
    """The records of this process's replies in flight, their lease, and the sweep after a crash."""

    def __init__(
        self, store: Store, clock: Callable[[], float], default_persona: Callable[[], str], *,
        lease: float = DEFAULT_LEASE, owner: str | None = None,
    ) -> None:  # fmt: skip
        self.store = store
        self.clock = clock
        self.lease = lease
        self.owner = owner or new_owner()
        self._default_persona = default_persona
        self._live: dict[str, Callable[[], Progress]] = {}
        self._saved: dict[str, Progress] = {}  # the progress last written per live turn
        self._resolving: set[str] = set()
        self._heartbeat: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()  # set while no reply is in flight
        self._idle.set()

    def lease_now(self) -> Lease:
        """This process's lease, starting now."""
        return Lease(self.owner, self.clock() + self.lease)

    def begin(
        self, turn_id: str, conversation_id: str, platform: str, place: Mapping[str, Any], question: Message,
        progress: Callable[[], Progress],
    ) -> InFlight:  # fmt: skip
        """The record of a reply about to start (the turn's read writes it); the heartbeat follows it from now."""
        self._live[turn_id] = progress
        self._idle.clear()
        if self._heartbeat is None or self._heartbeat.done():
            self._heartbeat = asyncio.create_task(self._beat(), name="nono-deliveries-heartbeat")
        return InFlight(turn_id, conversation_id, platform, place, question, self.owner, self.clock())

    def end(self, turn_id: str) -> None:
        """The reply is stored or given up: the heartbeat forgets it."""
        self._live.pop(turn_id, None)
        self._saved.pop(turn_id, None)
        if not self._live:
            self._idle.set()
            if self._heartbeat is not None:  # nothing to renew: no timer left running while idle
                self._heartbeat.cancel()
                self._heartbeat = None

    async def idle(self) -> None:
        """Wait until no reply of this process is in flight (each one shown is also stored)."""
        await self._idle.wait()

    async def shown(self, turn_id: str, progress: Progress) -> None:
        """A new platform message shows the reply: record it now (one write), so a crash can reach it."""
        try:
            await self.store.inflight.keep_alive(self.lease_now(), {turn_id: progress})
        except StoreUnavailable:  # the reply goes on; the heartbeat writes it when the store is back
            log.warning("inflight_progress_unsaved", extra={"turn_id": turn_id})
            return
        self._saved[turn_id] = progress

    async def orphans(self, platform: str) -> tuple[list[InFlight], float | None]:
        """Claim the replies on `platform` whose owner's lease ran out; each is now this process's to resolve.

        Also returns when the next lease of another live-looking owner runs out (None when no other
        owner has replies on `platform`): a restart soon after a crash finds its old self still
        leased. Records this process claimed before without resolving them come back too.
        """
        now, lease = self.clock(), self.lease_now()
        claimed: list[InFlight] = []
        next_expiry: float | None = None
        for record, lease_until in await self.store.inflight.records():
            turn_id = record.turn_id
            if record.platform != platform or turn_id in self._live or turn_id in self._resolving:
                continue
            if record.owner != self.owner:
                if lease_until >= now:
                    next_expiry = lease_until if next_expiry is None else min(next_expiry, lease_until)
                    continue
                if not await self.store.inflight.claim(turn_id, record.owner, lease):
                    continue
                record = replace(record, owner=self.owner)
            claimed.append(record)
            self._resolving.add(turn_id)
        if claimed:
            log.warning("inflight_orphans_claimed", extra={"platform": platform, "turns": len(claimed)})
        return claimed, next_expiry

    async def resolved(self, record: InFlight) -> None:
        """The user was told: store the question with what the reply had reached, marked incomplete."""
        now = self.clock()
        session = await self.store.get_session(record.conversation_id)
        persona = session.persona if session is not None else self._default_persona()
        meta = {"persona": persona, "incomplete": True, "interrupted": True}
        answer = Message("assistant", record.progress.text, now, meta)
        await self.store.append_turn(
            record.conversation_id, persona, [record.question, answer], now, settles=Settles(record.turn_id, self.owner)
        )
        self._resolving.discard(record.turn_id)
        log.info("inflight_resolved", extra={"turn_id": record.turn_id, "conversation_id": record.conversation_id})

    def release(self, record: InFlight) -> None:
        """Telling the user failed for now: the next sweep tries this record again."""
        self._resolving.discard(record.turn_id)

    async def watch(self, platform: str, notify: Callable[[InFlight], Awaitable[bool]]) -> None:
        """At start-up: resolve `platform`'s orphaned replies, waiting for leases that still run, then return.

        `notify` tells the user (True once done, or when they can never be reached; False to try
        again a little later); the turn is stored after it returns True.
        """
        while True:
            retry: float | None = self.lease / 2
            try:
                claimed, next_expiry = await self.orphans(platform)
                failed = False
                for record in claimed:
                    failed = not await self._resolve(record, notify) or failed
                retry = next_expiry - self.clock() if next_expiry is not None else (self.lease / 2 if failed else None)
            except StoreUnavailable:
                log.warning("inflight_sweep_failed", extra={"platform": platform})
            if retry is None:
                return
            await asyncio.sleep(min(max(retry, 0.0) + 0.1, self.lease))

    async def _resolve(self, record: InFlight, notify: Callable[[InFlight], Awaitable[bool]]) -> bool:
        try:
            told = await notify(record)
        except Exception:  # a bug in one note must not stop the others
            log.exception("inflight_notify_failed", extra={"turn_id": record.turn_id})
            told = False
        if not told:
            self.release(record)
            return False
        await self.resolved(record)
        return True

    async def aclose(self) -> None:
        """Stop the heartbeat (a graceful stop stores its turns itself)."""
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            await asyncio.gather(self._heartbeat, return_exceptions=True)
            self._heartbeat = None

    async def _beat(self) -> None:
        while self._live:
            await asyncio.sleep(self.lease / 3)
            changed = {}
            for turn_id, progress in list(self._live.items()):
                now = progress()
                if self._saved.get(turn_id) != now:
                    changed[turn_id] = now
            try:
                await self.store.inflight.keep_alive(self.lease_now(), changed)
            except StoreUnavailable:
                log.warning("inflight_lease_unrenewed", extra={"turns": len(self._live)})
                continue
            self._saved.update(changed)
