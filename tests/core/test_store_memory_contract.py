"""The long-term memory contract (summaries, facts, finding and erasing a person) for every store backend."""

from __future__ import annotations

import asyncio
import time

from nono.core.models import Message, Session
from nono.core.store import Store
from nono.core.store.base import Erased, Fact, PersonRecord, Rewrite, Summary
from tests.core import test_store_contract as contract

# The TTL fixtures are the base contract's own, so both suites build expiring stores the same way.
ttl_backend = contract.ttl_backend
open_ttl_store = contract.open_ttl_store
ttl_store = contract.ttl_store
TTL = contract.TTL

ALICE = "discord:1"
BOB = "discord:12"  # alice's id is a prefix of bob's: nothing of one may be taken for the other's
CHANNEL = "discord:channel:9"


def said(who: str | None, text: str, at: float) -> Message:
    return Message("user", text, at, speaker_id=who, speaker_name=None if who is None else f"name of {who}")


def reply(text: str, at: float) -> Message:
    return Message("assistant", text, at, {"persona": "assistant"})


def fact(fact_id: str, author: str | None = ALICE, text: str | None = None) -> Fact:
    return Fact(fact_id, text if text is not None else f"note {fact_id}", 500.0, author)


async def talk(store: Store, conversation_id: str, who: str, turns: int, start: float = 1000.0) -> list[Message]:
    written: list[Message] = []
    for i in range(turns):
        at = start + 10 * i
        messages = [said(who, f"question {i}", at), reply(f"answer {i}", at + 1)]
        await store.append_turn(conversation_id, "assistant", messages, at + 2)
        written += messages
    return written


async def summarize(store: Store, conversation_id: str, text: str = "they talked", covers: int = 1) -> Summary:
    """Write a summary the way the background job does: over the revision and the session it read."""
    session = await store.get_session(conversation_id)
    assert session is not None
    stored = await store.get_summary(conversation_id)
    revision = 0 if stored is None else stored.revision
    summary = Summary(text, covers, "smollm2", 4000.0)
    assert await store.put_summary(conversation_id, summary, revision=revision, epoch=session.created_at)
    return Summary(text, covers, "smollm2", 4000.0, revision + 1)


def assert_dropped(summary: Summary | None, revision: int) -> None:
    assert summary is not None and summary.dropped
    assert (summary.text, summary.covers, summary.model, summary.revision) == ("", -1, "", revision)


async def test_a_new_conversation_remembers_nothing(store: Store):
    assert await store.get_summary(ALICE) is None
    assert await store.facts(ALICE) == []
    context = await store.load_context(ALICE, 20)
    assert (context.summary, context.facts) == (None, ())
    assert await store.delete_facts(ALICE) == 0
    assert await store.erase_speaker(ALICE, BOB) == Erased(0, 0)
    assert await store.conversations_of(ALICE) == []
    assert await store.get_session(ALICE) is None  # neither the delete nor the erasure created anything


async def test_load_context_carries_the_summary_and_the_facts_and_follows_a_link(store: Store):
    await talk(store, ALICE, ALICE, 3)
    odd = 'emoji 🦜, a lone surrogate \ud800, quotes " and a slash /'
    summary = await summarize(store, ALICE, text=f"summary with {odd}", covers=3)
    notes = [fact("k1"), fact("k2", author=None, text=odd), fact("k3", author=BOB)]
    for note in notes:
        assert await store.add_fact(ALICE, note, "assistant", 1100.0, 10)

    context = await store.load_context(ALICE, 2)
    assert [m.content for m in context.messages] == ["question 2", "answer 2"]
    assert context.summary == summary and context.summary.revision == 1
    assert context.facts == tuple(notes)
    assert (await store.load_context(ALICE, 0))[3:5] == (summary, tuple(notes))
    assert await store.get_summary(ALICE) == summary
    assert await store.facts(ALICE) == notes

    other = await store.load_context(BOB, 20)
    assert (other.session, other.summary, other.facts) == (None, None, ())

    # A person linked to alice reads her conversation, memory included.
    await store.rewrite(
        Rewrite(people={"telegram:5": PersonRecord("telegram:5", ALICE, (ALICE, "telegram:5"))}), 1200.0
    )
    linked = await store.load_context("telegram:5", 20)
    assert (linked.conversation_id, linked.summary, linked.facts) == (ALICE, summary, tuple(notes))
    assert await store.get_summary("telegram:5") is None  # the memory verbs take resolved ids


async def test_a_dropped_summary_is_stored_but_never_read_into_a_turn(store: Store):
    await store.append_turn(CHANNEL, "assistant", [said(BOB, "hi", 1.0), reply("hello", 2.0)], 3.0)
    await store.append_turn(CHANNEL, "assistant", [said(ALICE, "yo", 4.0), reply("hey", 5.0)], 6.0)
    await summarize(store, CHANNEL)

    await store.erase_speaker(CHANNEL, BOB)

    assert_dropped(await store.get_summary(CHANNEL), revision=2)
    assert (await store.load_context(CHANNEL, 20)).summary is None


async def test_put_summary_writes_only_over_the_revision_and_the_session_it_read(store: Store):
    await talk(store, ALICE, ALICE, 2)
    epoch = (await store.get_session(ALICE)).created_at
    first = Summary("first", 1, "smollm2", 2000.0, revision=99)  # the record's own revision is not trusted

    assert await store.put_summary(ALICE, first, revision=1, epoch=epoch) is False  # there is none: revision 0
    assert await store.put_summary(ALICE, first, revision=0, epoch=epoch + 1) is False  # another session
    assert await store.get_summary(ALICE) is None
    assert await store.put_summary(ALICE, first, revision=0, epoch=epoch) is True
    assert await store.get_summary(ALICE) == Summary("first", 1, "smollm2", 2000.0, 1)

    second = Summary("second", 3, "smollm2", 2100.0)
    assert await store.put_summary(ALICE, second, revision=0, epoch=epoch) is False  # a stale job
    assert await store.put_summary(ALICE, second, revision=1, epoch=epoch) is True
    assert await store.get_summary(ALICE) == Summary("second", 3, "smollm2", 2100.0, 2)
    assert await store.get_summary(BOB) is None

    assert await store.clear(ALICE) is True
    assert await store.get_summary(ALICE) is None
    for revision in (0, 2):  # no session at all now
        assert await store.put_summary(ALICE, second, revision=revision, epoch=epoch) is False

    await talk(store, ALICE, ALICE, 1, start=3000.0)  # a new session, started later
    assert await store.put_summary(ALICE, second, revision=0, epoch=epoch) is False
    assert await store.get_summary(ALICE) is None
    new_epoch = (await store.get_session(ALICE)).created_at
    assert new_epoch != epoch
    assert await store.put_summary(ALICE, second, revision=0, epoch=new_epoch) is True
    assert (await store.get_summary(ALICE)).revision == 1


async def test_facts_are_kept_in_order_up_to_the_maximum_and_deleted_by_id(store: Store):
    for note in ("f1", "f2", "f3"):
        assert await store.add_fact(ALICE, fact(note), "assistant", 100.0, 3) is True
    assert await store.add_fact(ALICE, fact("f4"), "assistant", 101.0, 3) is False
    assert [f.id for f in await store.facts(ALICE)] == ["f1", "f2", "f3"]
    assert (await store.get_session(ALICE)).last_activity == 100.0  # a refused fact is no activity

    assert await store.delete_facts(ALICE, ["f2", "nope"]) == 1
    assert await store.add_fact(ALICE, fact("f4"), "assistant", 102.0, 3) is True
    assert await store.facts(ALICE) == [fact("f1"), fact("f3"), fact("f4")]
    assert await store.delete_facts(BOB) == 0
    assert await store.delete_facts(ALICE, []) == 0
    assert await store.delete_facts(ALICE) == 3
    assert await store.facts(ALICE) == []
    assert await store.get_session(ALICE) is not None  # deleting facts keeps the conversation

    assert await store.add_fact(BOB, fact("b1"), "assistant", 103.0, 0) is False
    assert await store.get_session(BOB) is None  # nothing changed, not even a session created


async def test_add_fact_creates_the_session_and_counts_as_activity(store: Store):
    await store.touch(ALICE, "assistant", 150.0)
    assert await store.add_fact(BOB, fact("b1", author=BOB), "pirate", 100.0, 5)
    assert await store.get_session(BOB) == Session(BOB, "pirate", 100.0, 100.0, 0, {})

    assert await store.add_fact(BOB, fact("b2", author=BOB), "tutor", 200.0, 5)
    assert await store.get_session(BOB) == Session(BOB, "pirate", 100.0, 200.0, 0, {})
    assert [s.conversation_id for s in (await store.active_page(0)).sessions] == [BOB, ALICE]
    assert await store.count_active(160.0) == 1
    assert await store.facts(ALICE) == []


async def test_clear_forgets_the_summary_and_the_facts(store: Store):
    await talk(store, ALICE, ALICE, 2)
    await summarize(store, ALICE)
    await store.add_fact(ALICE, fact("a1"), "assistant", 1100.0, 5)
    await store.add_fact(BOB, fact("b1", author=BOB), "assistant", 1100.0, 5)
    await talk(store, BOB, BOB, 1)
    bob_summary = await summarize(store, BOB)

    assert await store.clear(ALICE) is True
    assert await store.get_summary(ALICE) is None
    assert await store.facts(ALICE) == []
    assert (await store.load_context(ALICE, 20))[3:5] == (None, ())
    assert await store.clear(ALICE) is False

    await store.touch(ALICE, "assistant", 2000.0)  # a new session finds nothing of the old memory
    assert await store.facts(ALICE) == [] and await store.get_summary(ALICE) is None
    assert await store.facts(BOB) == [fact("b1", author=BOB)]
    assert await store.get_summary(BOB) == bob_summary

    await store.add_fact("telegram:7", fact("t1"), "assistant", 2100.0, 5)
    assert await store.clear("telegram:7") is True  # facts alone are something to forget


async def test_conversations_of_finds_private_per_person_and_shared_conversations(store: Store):
    await talk(store, ALICE, ALICE, 1)
    for conversation_id in (
        "discord:channel:5:person:1", "discord:thread:7:person:1",  # alice's own in groups
        "discord:channel:5:person:12", "discord:channel:5:person:11",  # bob's, and someone's ending in 1
        "telegram:chat:-100:topic:3:person:1",  # telegram:1's, not discord:1's
        "telegram:5",
    ):  # fmt: skip
        await store.touch(conversation_id, "assistant", 100.0)
    await store.append_turn(CHANNEL, "assistant", [said(BOB, "hi", 1.0), reply("hey", 2.0)], 3.0)
    await store.append_turn(CHANNEL, "assistant", [said(ALICE, "me too", 4.0), reply("hi both", 5.0)], 6.0)
    await store.append_turn("discord:channel:10", "assistant", [said(BOB, "remember this", 1.0)], 2.0)
    await store.add_fact("discord:channel:10", fact("a1", author=ALICE), "assistant", 3.0, 5)
    await store.append_turn("discord:channel:11", "assistant", [said(BOB, "only me", 1.0), reply("ok", 2.0)], 3.0)

    assert await store.conversations_of(ALICE) == [
        ALICE, "discord:channel:10", "discord:channel:5:person:1", "discord:channel:9", "discord:thread:7:person:1",
    ]  # fmt: skip
    assert await store.conversations_of(BOB) == [
        "discord:channel:10", "discord:channel:11", "discord:channel:5:person:12", "discord:channel:9",
    ]  # fmt: skip
    assert await store.conversations_of("telegram:1") == ["telegram:chat:-100:topic:3:person:1"]
    assert await store.conversations_of("telegram:5") == ["telegram:5"]
    assert await store.conversations_of("discord:99") == []


async def test_erase_speaker_removes_their_turns_and_facts_and_renumbers_the_rest(store: Store):
    odd = 'kept exactly: 🦜 \ud800 / "quoted" \\u0000'
    await store.append_turn(CHANNEL, "assistant", [reply("welcome, everyone", 1.0)], 1.5)
    turns = [
        [said(ALICE, "a1", 2.0), reply("r1", 3.0)],
        [said(BOB, f"b1 {odd}", 4.0), reply(f"r2 {odd}", 5.0)],
        [said(ALICE, "a2", 6.0), reply("r3a", 7.0), reply("r3b", 8.0)],
        [said(None, "someone unknown", 9.0), reply("r4", 10.0)],
        [said(BOB, "b2", 11.0), reply("r5", 12.0)],
    ]
    for i, messages in enumerate(turns):
        await store.append_turn(CHANNEL, "assistant", messages, 20.0 + i)
    for note in (fact("a-1"), fact("b-1", author=BOB), fact("a-2"), fact("n-1", author=None)):
        await store.add_fact(CHANNEL, note, "assistant", 30.0, 10)
    await summarize(store, CHANNEL, covers=8)
    await talk(store, ALICE, ALICE, 2)
    epoch = (await store.get_session(CHANNEL)).created_at

    assert await store.erase_speaker(CHANNEL, ALICE) == Erased(messages=5, facts=2)

    kept = await store.history(CHANNEL, 100)
    assert [m.content for m in kept] == [
        "welcome, everyone",
        f"b1 {odd}",
        f"r2 {odd}",
        "someone unknown",
        "r4",
        "b2",
        "r5",
    ]
    assert [m.seq for m in kept] == list(range(7))
    assert [m.speaker_id for m in kept if m.role == "user"] == [BOB, None, BOB]
    assert (await store.get_session(CHANNEL)).message_count == 7
    assert [f.id for f in await store.facts(CHANNEL)] == ["b-1", "n-1"]
    assert_dropped(await store.get_summary(CHANNEL), revision=2)
    assert [m.seq for m in (await store.load_context(CHANNEL, 3)).messages] == [4, 5, 6]
    assert CHANNEL not in await store.conversations_of(ALICE)
    assert len(await store.history(ALICE, 100)) == 4  # her other conversations are the caller's to erase

    assert await store.erase_speaker(CHANNEL, ALICE) == Erased(0, 0)
    assert (await store.get_summary(CHANNEL)).revision == 2  # nothing went, nothing to drop
    assert await store.put_summary(CHANNEL, Summary("new", 6, "m", 50.0), revision=1, epoch=epoch) is False
    assert await store.put_summary(CHANNEL, Summary("new", 6, "m", 50.0), revision=2, epoch=epoch) is True

    await store.append_turn(CHANNEL, "assistant", [said(BOB, "b3", 60.0)], 61.0)
    assert [m.seq for m in await store.history(CHANNEL, 2)] == [6, 7]

    assert await store.erase_speaker(CHANNEL, BOB) == Erased(messages=5, facts=1)
    assert [m.content for m in await store.history(CHANNEL, 100)] == ["welcome, everyone", "someone unknown", "r4"]
    session = await store.get_session(CHANNEL)
    assert session is not None and session.message_count == 3  # the conversation stays; the core decides


async def test_erasing_someone_from_a_conversation_without_summary_drops_one(store: Store):
    await store.append_turn(CHANNEL, "assistant", [said(BOB, "hi", 1.0), reply("hello", 2.0)], 3.0)

    assert await store.erase_speaker(CHANNEL, BOB) == Erased(2, 0)

    assert_dropped(await store.get_summary(CHANNEL), revision=1)  # a job that read revision 0 cannot land
    assert await store.history(CHANNEL, 10) == []
    assert (await store.get_session(CHANNEL)).message_count == 0


async def test_rewrite_drops_rewritten_summaries_replaces_named_facts_and_deleted_lose_all(store: Store):
    alice_turns = await talk(store, ALICE, ALICE, 2)
    await summarize(store, ALICE)
    await store.add_fact(ALICE, fact("a1"), "assistant", 1100.0, 5)
    await talk(store, BOB, BOB, 1)
    await summarize(store, BOB)
    await store.add_fact(BOB, fact("b1", author=BOB), "assistant", 1100.0, 5)
    await store.add_fact("discord:7", fact("s1", author="discord:7"), "assistant", 1100.0, 5)
    session = await store.get_session(ALICE)
    seven = await store.get_session("discord:7")

    change = Rewrite(
        conversations={ALICE: (session, alice_turns[:2]), BOB: None, "discord:7": (seven, [])},
        facts={ALICE: [fact("b1", author=BOB), fact("a1")]},
    )
    await store.rewrite(change, 2000.0)

    assert_dropped(await store.get_summary(ALICE), revision=2)
    assert (await store.load_context(ALICE, 20)).facts == (fact("b1", author=BOB), fact("a1"))
    assert_dropped(await store.get_summary("discord:7"), revision=1)  # rewritten without a summary: one drop
    assert await store.facts("discord:7") == [fact("s1", author="discord:7")]  # not named: kept
    assert await store.put_summary(ALICE, Summary("x", 1, "m", 1.0), revision=1, epoch=session.created_at) is False

    assert await store.get_session(BOB) is None
    await talk(store, BOB, BOB, 1, start=3000.0)  # truly gone, not merely hidden
    assert await store.get_summary(BOB) is None and await store.facts(BOB) == []


async def test_summaries_and_facts_expire_with_their_conversation(ttl_store: Store):
    for who in (ALICE, BOB, "telegram:3"):
        await ttl_store.append_turn(
            who, "assistant", [said(who, "hi", time.time()), reply("hey", time.time())], time.time()
        )
        await ttl_store.add_fact(who, fact("k1", author=who), "assistant", time.time(), 5)
        await summarize(ttl_store, who)
    await asyncio.sleep(TTL * 0.7)
    await ttl_store.append_turn(ALICE, "assistant", [said(ALICE, "still here", time.time())], time.time())
    await ttl_store.add_fact("telegram:3", fact("k2", author="telegram:3"), "assistant", time.time(), 5)
    await asyncio.sleep(TTL * 0.4)  # bob: 1.1 × TTL idle; the others 0.4 × TTL

    assert await ttl_store.get_summary(BOB) is None
    assert await ttl_store.facts(BOB) == []
    assert (await ttl_store.load_context(BOB, 20))[3:5] == (None, ())
    for who, notes in ((ALICE, ["k1"]), ("telegram:3", ["k1", "k2"])):
        context = await ttl_store.load_context(who, 20)
        assert context.summary is not None and context.summary.revision == 1
        assert [f.id for f in context.facts] == notes

    assert await ttl_store.conversations_of(BOB) == []

    await ttl_store.touch(BOB, "assistant", time.time())  # a new session starts with no memory of the old one
    assert await ttl_store.get_summary(BOB) is None and await ttl_store.facts(BOB) == []
    assert await ttl_store.conversations_of(BOB) == [BOB]
