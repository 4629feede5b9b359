"""Failed start-ups as the operator sees them: real `nono` processes, every byte they print.

Each run has every secret configured (bot tokens, ADMIN_TOKEN, a REDIS_URL with a password) and logs
at DEBUG; it fails in one way: Telegram refusing the token (python-telegram-bot quotes the token in
that error), Discord unreachable, a REDIS_URL that cannot be parsed, an unexpected error whose
message holds secrets. No secret may appear in stdout or stderr, whatever path printed it.
An unreachable platform is one line naming what could not be reached, and exit code 2.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import quote

import pytest

from nono.bot.logging_setup import REDACTED
from tests.fakes.telegram_server import running_telegram
from tests.hardening.fault_fixtures import ClosedPort
from tests.support.nono_process import nono_env, run_nono
from tests.support.redis_server import free_port

pytestmark = pytest.mark.slow

DISCORD_TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GsEcrT.discord-bot-token-do-not-leak"
TELEGRAM_TOKEN = "7012345678:AAH-telegram-token-do-not-leak_42"  # not the fake's: it answers 401
ADMIN_TOKEN = "admin-token-do-not-leak-7f3a9c"
REDIS_PASSWORD = "redis-pass/word@do-not-leak"  # characters that URLs must escape
SECRETS = (DISCORD_TOKEN, TELEGRAM_TOKEN, ADMIN_TOKEN, REDIS_PASSWORD)
#: Run in the child before the CLI: discord.py has no setting for its API address.
DISCORD_AT = "import discord.http\ndiscord.http.Route.BASE = 'http://127.0.0.1:{port}/api/v10'"
#: An error nobody planned for, quoting secrets, raised where the sidecar would start.
UNEXPECTED = """
import nono.bot.runner
async def broken(settings):
    raise RuntimeError(f"unexpected: {settings.admin_token.get_secret_value()} {settings.redis_dsn}")
nono.bot.runner.run_sidecar = broken
"""
UNREACHABLE = re.compile(r"nono: configuration error: cannot reach the (Telegram Bot|Discord) API at (\S+): \S.*")


def leaked(text: str) -> list[str]:
    """Which secrets appear in `text`, as they are or URL-encoded."""
    return [s for s in SECRETS if s in text or quote(s, safe="") in text]


def secrets_env(tmp_path: Path, **values: str) -> dict[str, str]:
    redis_url = f"redis://:{quote(REDIS_PASSWORD, safe='')}@127.0.0.1:6379/0"
    values = {"ADMIN_TOKEN": ADMIN_TOKEN, "REDIS_URL": redis_url, "LOG_LEVEL": "DEBUG", **values}
    return nono_env(tmp_path, SIDECAR_PORT=str(free_port()), **values)


async def test_a_refused_telegram_token_is_printed_redacted(tmp_path: Path) -> None:
    async with running_telegram() as tg:
        env = secrets_env(tmp_path, TELEGRAM_TOKEN=TELEGRAM_TOKEN, TELEGRAM_BASE_URL=tg.base_url)
        run = await run_nono(tmp_path, env, "run")
    assert run.code == 2, run.output
    assert "Telegram refused TELEGRAM_TOKEN" in run.stderr and REDACTED in run.stderr, run.output
    assert not leaked(run.output), run.output


async def test_discord_unreachable_prints_no_secret(tmp_path: Path, closed_port: ClosedPort) -> None:
    env = secrets_env(tmp_path, DISCORD_TOKEN=DISCORD_TOKEN)
    run = await run_nono(tmp_path, env, "run", patch=DISCORD_AT.format(port=closed_port.port))
    assert run.code == 2 and "cannot reach the Discord API" in run.stderr, run.output
    assert not leaked(run.output), run.output


async def test_a_redis_url_that_does_not_parse_prints_no_password(tmp_path: Path) -> None:
    bad_url = f"redis://:{quote(REDIS_PASSWORD, safe='')}@127.0.0.1:notaport/0"
    run = await run_nono(tmp_path, secrets_env(tmp_path, STORE="redis", REDIS_URL=bad_url), "sidecar")
    assert run.code == 2 and "REDIS_URL is not a valid Redis URL" in run.stderr, run.output
    assert "Traceback" not in run.output and not leaked(run.output), run.output


async def test_an_unexpected_error_quoting_secrets_is_printed_redacted(tmp_path: Path) -> None:
    run = await run_nono(tmp_path, secrets_env(tmp_path), "sidecar", patch=UNEXPECTED)
    assert run.code == 1, run.output
    assert "Traceback" in run.stderr and f"RuntimeError: unexpected: {REDACTED}" in run.stderr, run.output
    assert not leaked(run.output), run.output


@pytest.mark.parametrize("platform", ["telegram", "discord"])
async def test_an_unreachable_platform_is_one_line_and_exit_2(
    tmp_path: Path, closed_port: ClosedPort, platform: str
) -> None:
    base = f"http://127.0.0.1:{closed_port.port}"
    if platform == "telegram":
        env = nono_env(
            tmp_path, SIDECAR_PORT=str(free_port()), TELEGRAM_TOKEN="123:abc", TELEGRAM_BASE_URL=base + "/bot"
        )
        run = await run_nono(tmp_path, env, "run")
    else:
        env = nono_env(tmp_path, SIDECAR_PORT=str(free_port()), DISCORD_TOKEN="abc.def.ghi")
        run = await run_nono(tmp_path, env, "run", patch=DISCORD_AT.format(port=closed_port.port))

    assert run.code == 2, run.output
    plain = [line for line in run.output.splitlines() if not _is_log_line(line)]
    assert len(plain) == 1, run.output  # no traceback: the rest are the usual JSON log lines
    match = UNREACHABLE.fullmatch(plain[0])
    assert match and match[2].startswith(base), plain[0]


def _is_log_line(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False
