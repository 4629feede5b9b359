"""Replies in flight, for every store backend: recorded with the turn's read, settled with its write."""

from __future__ import annotations

import asyncio

import pytest

from nono.core.models import Message
from nono.core.store import Store
from nono.core.store.inflight import InFlight, Lease, Progress, ReplyTakenOver, Settles
from nono.core.store.sqlite_store import SQLiteStore

ALICE = "telegram:1"
PLACE = {"chat_id": 1, "thread_id": None, "reply_to": 7}


def question(text: str = "what is a lease?") -> Message:
    return Message("user", text, 100.0, {"message_id": 7}, None, ALICE, "Alice")


def flight(turn_id: str = "t1", owner: str = "host:1:a", conversation_id: str = ALICE) -> InFlight:
    return InFlight(turn_id, conversation_id, "telegram", PLACE, question(), owner, 100.0)


async def begin(store: Store, record: InFlight, lease_until: float = 1000.0) -> None:
    await store.load_context(record.conversation_id, 20, record, lease_until)


async def test_a_record_written_with_the_read_is_removed_with_the_turn(store: Store):
    record = flight()
    context = await store.load_context(ALICE, 20, record, 1000.0)
    assert context.session is None, "recording changes nothing the turn reads"

    ((found, lease_until),) = await store.inflight.records()
    assert (found, lease_until) == (record, 1000.0), "the question, the place and the owner's lease come back"

    answer = Message("assistant", "A claim that runs out.", 101.0, {"persona": "assistant"})
    await store.append_turn(ALICE, "assistant", [record.question, answer], 101.0, settles=Settles("t1", record.owner))
    assert await store.inflight.records() == []
    assert [m.content for m in await store.history(ALICE, 10)] == ["what is a lease?", "A claim that runs out."]


async def test_progress_and_leases_are_kept_and_a_lease_never_shrinks(store: Store):
    await begin(store, flight("t1"), 1000.0)
    await begin(store, flight("t2"), 900.0)
    await store.inflight.keep_alive(Lease("host:1:a", 950.0), {"t2": Progress(("41", "42"), "Half an ans")})
    await store.inflight.keep_alive(Lease("host:1:a", 1200.0), {"gone": Progress(("1",), "x")})

    records = {r.turn_id: (r, until) for r, until in await store.inflight.records()}
    assert set(records) == {"t1", "t2"}, "progress of a turn no longer in flight creates nothing"
    assert records["t2"][0].progress == Progress(("41", "42"), "Half an ans")
    assert records["t1"][0].progress == Progress()
    assert {until for _, until in records.values()} == {1200.0}, "one lease per owner, the latest end"


async def test_a_claim_succeeds_once_and_only_over_the_expected_owner(store: Store):
    await begin(store, flight("t1", owner="dead"), 10.0)
    mine, theirs = Lease("me", 500.0), Lease("them", 500.0)

    claims = await asyncio.gather(*(store.inflight.claim("t1", "dead", lease) for lease in (mine, theirs)))
    assert sorted(claims) == [False, True], "two processes sweeping at once: exactly one takes it"
    assert not await store.inflight.claim("t1", "dead", mine), "the owner changed"
    assert not await store.inflight.claim("missing", "dead", mine)
    ((record, until),) = await store.inflight.records()
    assert record.owner in ("me", "them") and until == 500.0


async def test_a_turn_whose_reply_another_process_took_over_is_not_stored_again(store: Store):
    record = flight("t1", owner="stalled")
    await begin(store, record, 10.0)
    assert await store.inflight.claim("t1", "stalled", Lease("sweeper", 500.0))
    answer = Message("assistant", "Late.", 101.0, {"persona": "assistant"})

    with pytest.raises(ReplyTakenOver):
        await store.append_turn(ALICE, "assistant", [record.question, answer], 101.0, settles=Settles("t1", "stalled"))
    assert await store.get_session(ALICE) is None, "nothing stored: the sweeper stores the turn, once"
    with pytest.raises(ReplyTakenOver):
        await store.append_turn(ALICE, "assistant", [answer], 101.0, settles=Settles("gone", "stalled"))
    ((kept, _),) = await store.inflight.records()
    assert kept.owner == "sweeper"


async def test_settle_removes_a_record_without_storing_anything(store: Store):
    await begin(store, flight("t1"))
    await store.inflight.settle("t1")
    await store.inflight.settle("t1")  # idempotent
    assert await store.inflight.records() == []
    assert await store.get_session(ALICE) is None


async def test_a_linked_person_s_record_names_the_conversation_the_link_led_to(store: Store):
    from nono.core.store.base import PersonRecord, Rewrite

    await store.append_turn("discord:5", "assistant", [Message("user", "hi", 1.0)], 1.0)
    people = (ALICE, "discord:5")
    linked = {person: PersonRecord(person, "discord:5", people) for person in people}
    await store.rewrite(Rewrite(people=dict(linked)), 2.0)
    await begin(store, flight("t1"))
    ((record, _),) = await store.inflight.records()
    assert record.conversation_id == "discord:5"


async def test_records_survive_reopening_the_sqlite_file(tmp_path):
    path = tmp_path / "nono.sqlite3"
    first = SQLiteStore(path)
    await begin(first, flight("t1"), 1000.0)
    await first.inflight.keep_alive(Lease("host:1:a", 1000.0), {"t1": Progress(("9",), "Partly")})
    await first.aclose()  # as good as a kill -9: every write was committed

    again = SQLiteStore(path)
    try:
        ((record, until),) = await again.inflight.records()
    finally:
        await again.aclose()
    assert (record.progress, until) == (Progress(("9",), "Partly"), 1000.0)
