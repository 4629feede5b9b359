"""/link in the core: codes, proposals both accounts confirm, merged and split private histories, on every store."""

from __future__ import annotations

import pytest

from nono.core.chat import ChatService
from nono.core.errors import InvalidInput, RateLimited
from nono.core.linking import CODE_TTL, WRONG_PER_PERSON, normalized
from nono.core.people import Conversation, Speaker
from tests.support.clock import ManualClock

DISCORD = Speaker.of("discord:1001", "alice")
TELEGRAM = Speaker.of("telegram:2001", "Alice T")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def linked_chat(store, fake_llm, registry, clock) -> ChatService:
    return ChatService(store, fake_llm, registry, clock=clock)


async def say(chat: ChatService, fake_llm, clock: ManualClock, speaker: Speaker, text: str, answer: str) -> None:
    clock.now += 10
    fake_llm.enqueue(answer)
    await chat.reply(Conversation.private_of(speaker.person), text, speaker=speaker)


async def link(chat: ChatService) -> None:
    code = await chat.links.code(DISCORD)
    proposal = await chat.links.propose(TELEGRAM, code)
    assert (await chat.links.confirm(TELEGRAM.person, proposal.id))[1] is False
    assert (await chat.links.confirm(DISCORD.person, proposal.id))[1] is True


async def test_linked_private_chats_are_one_conversation_merged_in_time_order(linked_chat, fake_llm, clock):
    chat = linked_chat
    await say(chat, fake_llm, clock, DISCORD, "d1: my name is Alice", "hi Alice")
    await chat.set_persona(DISCORD.person, "pirate")
    await say(chat, fake_llm, clock, TELEGRAM, "t1: I live in Lyon", "nice")
    await say(chat, fake_llm, clock, DISCORD, "d2: I like tea", "arr")

    await link(chat)

    merged = [m.content for m in await chat.history(TELEGRAM.person, 50)]
    assert merged == ["d1: my name is Alice", "hi Alice", "t1: I live in Lyon", "nice", "d2: I like tea", "arr"]
    assert (await chat.get_persona(TELEGRAM.person)).name == "pirate"  # the code issuer's choice
    await say(chat, fake_llm, clock, TELEGRAM, "what do you know?", "all of it")
    prompt = "\n".join(m.content for m in fake_llm.history[-1].messages)
    assert "my name is Alice" in prompt and "Lyon" in prompt and "tea" in prompt
    assert await chat.links.linked(TELEGRAM.person) == (DISCORD.person, TELEGRAM.person)


async def test_unlink_splits_the_private_history_back_by_who_said_it(linked_chat, fake_llm, clock):
    chat = linked_chat
    await say(chat, fake_llm, clock, DISCORD, "from discord", "a")
    await say(chat, fake_llm, clock, TELEGRAM, "from telegram", "b")
    await link(chat)
    await say(chat, fake_llm, clock, TELEGRAM, "telegram after link", "c")
    await say(chat, fake_llm, clock, DISCORD, "discord after link", "d")

    assert await chat.links.unlink(TELEGRAM.person) is True

    assert [m.content for m in await chat.history(DISCORD.person)] == ["from discord", "a", "discord after link", "d"]
    assert [m.content for m in await chat.history(TELEGRAM.person)] == [
        "from telegram", "b", "telegram after link", "c",
    ]  # fmt: skip
    assert await chat.links.linked(DISCORD.person) == (DISCORD.person,)
    assert await chat.links.unlink(TELEGRAM.person) is False


async def test_nothing_is_joined_until_both_accounts_confirm(linked_chat, fake_llm, clock):
    chat = linked_chat
    await say(chat, fake_llm, clock, DISCORD, "discord secret", "ok")
    code = await chat.links.code(DISCORD)
    proposal = await chat.links.propose(TELEGRAM, code)
    assert proposal.other(TELEGRAM.person) == DISCORD
    await chat.links.confirm(TELEGRAM.person, proposal.id)
    assert await chat.links.linked(TELEGRAM.person) == (TELEGRAM.person,)
    assert await chat.history(TELEGRAM.person) == []
    pending = await chat.links.pending(DISCORD.person)
    assert pending is not None and pending.id == proposal.id
    assert await chat.links.cancel(DISCORD.person, proposal.id) is True
    with pytest.raises(InvalidInput, match="expired"):
        await chat.links.confirm(DISCORD.person, proposal.id)


async def test_a_code_is_single_use_expires_and_is_stored_only_hashed(linked_chat, clock, caplog):
    chat = linked_chat
    code = await chat.links.code(DISCORD)
    assert len(normalized(code)) >= 8 and set(normalized(code)) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
    await chat.links.propose(TELEGRAM, code.lower().replace("-", " "))  # typed loosely, still the code
    with pytest.raises(InvalidInput, match="wrong, used or expired"):
        await chat.links.propose(TELEGRAM, code)
    late = await chat.links.code(DISCORD)
    clock.now += CODE_TTL + 1
    with pytest.raises(InvalidInput, match="wrong, used or expired"):
        await chat.links.propose(TELEGRAM, late)
    assert normalized(code) not in caplog.text and normalized(late) not in caplog.text


async def test_a_code_from_the_same_platform_or_for_oneself_is_refused(linked_chat):
    code = await linked_chat.links.code(DISCORD)
    with pytest.raises(InvalidInput, match="other one"):
        await linked_chat.links.propose(Speaker.of("discord:1002", "mallory"), code)


async def test_wrong_codes_are_limited_per_person_and_bot_wide(linked_chat, clock):
    chat = linked_chat
    for _ in range(WRONG_PER_PERSON):
        with pytest.raises(InvalidInput):
            await chat.links.propose(TELEGRAM, "AAAAA-AAAAA")
    good = await chat.links.code(DISCORD)
    with pytest.raises(RateLimited):
        await chat.links.propose(TELEGRAM, good)  # even the right code: the limit comes first
    clock.now += 3601  # an hour later the person may try again
    await chat.links.propose(TELEGRAM, await chat.links.code(DISCORD))

    throwaways = [Speaker.of(f"telegram:{9000 + n}", "x") for n in range(40)]
    with pytest.raises(RateLimited):
        for speaker in throwaways:
            for _ in range(3):
                with pytest.raises(InvalidInput):
                    await chat.links.propose(speaker, "BBBBB-BBBBB")


async def test_an_operator_join_needs_no_code_and_reset_keeps_the_link(linked_chat, fake_llm, clock):
    chat = linked_chat
    await say(chat, fake_llm, clock, TELEGRAM, "hello from telegram", "hi")
    assert await chat.links.join(DISCORD.person, TELEGRAM.person) == DISCORD.person
    assert await chat.reset(TELEGRAM.person) is True
    await say(chat, fake_llm, clock, DISCORD, "fresh start", "ok")
    assert [m.content for m in await chat.history(TELEGRAM.person)] == ["fresh start", "ok"]
