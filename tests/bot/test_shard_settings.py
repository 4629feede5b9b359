"""DISCORD_SHARD_COUNT / DISCORD_SHARD_IDS as an operator sets them: accepted, or refused naming the setting."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from nono.bot.cli import describe_settings_error
from nono.bot.options import discord_options
from nono.bot.settings import Settings


@pytest.fixture
def shard_env(monkeypatch):
    """`shard_env(count, ids)`: the two variables exactly as given (None: unset), nothing from a `.env`."""

    def settings(count: str | None, ids: str | None) -> Settings:
        for name, value in (("DISCORD_SHARD_COUNT", count), ("DISCORD_SHARD_IDS", ids)):
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, value)
        return Settings(_env_file=None)

    return settings


def test_unset_means_one_unsharded_connection(shard_env):
    options = discord_options(shard_env(None, None))

    assert (options.shard_count, options.shard_ids) == (None, ())


def test_a_count_alone_means_this_process_serves_every_shard(shard_env):
    options = discord_options(shard_env("4", None))

    assert (options.shard_count, options.shard_ids) == (4, ())


def test_a_count_and_a_comma_list_reach_the_discord_options(shard_env):
    options = discord_options(shard_env("4", "0, 2"))

    assert (options.shard_count, options.shard_ids) == (4, (0, 2))


@pytest.mark.parametrize(
    "count, ids, said",
    [
        (None, "0,1", "DISCORD_SHARD_IDS needs DISCORD_SHARD_COUNT"),
        ("4", "1,4", "DISCORD_SHARD_IDS: 4 not in 0..3 (DISCORD_SHARD_COUNT=4)"),
        ("4", "-1,2", "DISCORD_SHARD_IDS: -1 not in 0..3"),
        ("4", "1,2,1", "DISCORD_SHARD_IDS: 1 listed more than once"),
        ("4", "one", "DISCORD_SHARD_IDS"),
        ("0", None, "DISCORD_SHARD_COUNT"),
    ],
)
def test_shards_that_cannot_be_served_are_refused_naming_the_setting(shard_env, count, ids, said):
    with pytest.raises(ValidationError) as info:
        shard_env(count, ids)

    assert said in describe_settings_error(info.value)
