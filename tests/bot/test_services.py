"""Wiring: Settings in, a working ChatService out, and everything closed again."""

from __future__ import annotations

import dataclasses
import logging
from typing import get_args

import pytest

from nono.bot.backends import LLM_FACTORIES
from nono.bot.services import STORE_FACTORIES, open_services
from nono.bot.settings import Settings
from nono.core.errors import ConfigError
from nono.core.llm.fake import FakeLLM
from tests.conftest import REDIS_URL
from tests.support.settings import make_settings


async def test_default_settings_give_a_sqlite_backed_chat(tmp_path, personas_dir):
    llm = FakeLLM(default_reply="hello")
    async with open_services(make_settings(tmp_path), llm=llm) as services:
        reply = await services.chat.reply("terminal:bob", "hi")
        assert reply.text == "hello"
        assert services.settings.sqlite_path.exists()
    async with open_services(make_settings(tmp_path), llm=llm) as services:
        assert len(await services.chat.history("terminal:bob")) == 2  # remembered across restarts


async def test_redis_without_persistence_gets_one_clear_warning(tmp_path, personas_dir, redis_prefix, caplog):
    settings = make_settings(tmp_path, store="redis", redis_url=REDIS_URL, key_prefix=redis_prefix)
    with caplog.at_level(logging.WARNING):
        async with open_services(settings, llm=FakeLLM(default_reply="ok")) as services:
            assert (await services.chat.reply("rest:x", "hi")).text == "ok"
    warnings = [r for r in caplog.records if r.getMessage() == "store_durability"]
    # The shared test Redis runs with --save "" --appendonly no: that must be named.
    assert any("appendonly" in r.warning or "persistence" in r.warning for r in warnings)


async def test_unreachable_redis_at_start_is_logged_not_fatal(tmp_path, personas_dir, caplog):
    settings = make_settings(tmp_path, store="redis", redis_url="redis://127.0.0.1:1/0")
    with caplog.at_level(logging.WARNING):
        async with open_services(settings, llm=FakeLLM()) as services:
            assert services.chat is not None
    assert any(r.getMessage() == "store_unavailable_at_start" for r in caplog.records)


async def test_a_persona_whose_reply_budget_eats_the_context_is_refused(tmp_path, personas_dir):
    with pytest.raises(ConfigError, match="max_tokens"):
        async with open_services(make_settings(tmp_path, num_ctx=512), llm=FakeLLM()):
            pass


def test_every_backend_name_settings_accept_has_one_factory():
    # Literal["sqlite", "redis"] etc.: a name Settings lets through must never miss the table.
    assert set(STORE_FACTORIES) == set(get_args(Settings.model_fields["store"].annotation))
    assert set(LLM_FACTORIES) == set(get_args(Settings.model_fields["llm_backend"].annotation))


async def test_services_are_not_changed_after_they_are_built(tmp_path):
    async with open_services(make_settings(tmp_path), llm=FakeLLM()) as services:
        with pytest.raises(dataclasses.FrozenInstanceError):
            services.chat = None  # type: ignore[misc]


async def test_the_old_user_scope_still_starts_with_a_warning_saying_what_it_means_now(tmp_path, caplog):
    settings = make_settings(tmp_path, discord_memory_scope="user", telegram_memory_scope="user")
    with caplog.at_level(logging.WARNING):
        async with open_services(settings, llm=FakeLLM()):
            pass
    warnings = [r.warning for r in caplog.records if r.getMessage() == "settings_changed_meaning"]
    assert len(warnings) == 2
    assert "DISCORD_MEMORY_SCOPE=user is read as DISCORD_MEMORY_SCOPE=person" in warnings[0]
    assert "TELEGRAM_MEMORY_SCOPE=chat" in warnings[1]


async def test_a_store_written_by_a_newer_nono_is_refused_at_start_up(tmp_path):
    import sqlite3

    from nono.core.store.base import SCHEMA_VERSION

    settings = make_settings(tmp_path)
    settings.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(settings.sqlite_path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(ConfigError, match="newer Nono"):
        async with open_services(settings, llm=FakeLLM()):
            pass


async def test_redis_cluster_true_spreads_conversations_over_the_primaries(
    tmp_path, redis_cluster, cluster_prefix, caplog
):
    from itertools import count

    import redis.asyncio as aioredis
    from redis.crc import key_slot

    settings = make_settings(
        tmp_path, store="redis", redis_url=redis_cluster.url, redis_cluster=True, key_prefix=cluster_prefix
    )
    # One person per third of the hash slots: `redis-cli --cluster create` gives each primary one third.
    thirds = [(0, 5461), (5461, 10923), (10923, 16384)]
    people = [
        next(f"rest:{n}" for n in count() if low <= key_slot(f"rest:{n}".encode()) < high) for low, high in thirds
    ]
    with caplog.at_level(logging.WARNING):
        async with open_services(settings, llm=FakeLLM(default_reply="ok")) as services:
            for person in people:
                assert (await services.chat.reply(person, "hi")).text == "ok"
            await services.store.ping()
            assert await services.chat.history(people[0]) != []
    # Each primary holds some of the conversations: the URL named one node, the client found the others.
    holding = []
    for port in redis_cluster.ports:
        node = aioredis.Redis(port=port)
        holding.append([key async for key in node.scan_iter(match=f"{cluster_prefix}conv:*")])
        await node.aclose()
    assert all(holding), "every primary holds conversations"
    # The test cluster keeps nothing on disk: the warning names every primary.
    (warning,) = [
        r.warning for r in caplog.records if r.getMessage() == "store_durability" and "persistence" in r.warning
    ]
    assert all(f"127.0.0.1:{port}" in warning for port in redis_cluster.ports)


async def test_a_cluster_url_naming_a_database_is_a_configuration_error(tmp_path):
    settings = make_settings(tmp_path, store="redis", redis_url="redis://127.0.0.1:7000/2", redis_cluster=True)
    with pytest.raises(ConfigError, match="REDIS_URL"):
        async with open_services(settings, llm=FakeLLM()):
            pass
