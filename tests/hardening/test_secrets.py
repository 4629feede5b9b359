"""Known secrets never show up: not in any log line (JSON, DEBUG), error body, header or /metrics output.

One scenario runs everything `nono run` runs, wired the same way (`open_services` + `start_parts`):
the Discord adapter against a loopback Discord, the Telegram adapter (PTB, which puts its token in
every request URL) against the loopback Bot API, the sidecar on a real port, and a private Redis that
requires a password. The secrets are set as an operator would set them. Then the scenario makes
things go wrong in every way it can — bad and missing auth, every kind of 4xx, Redis down and
refusing the password (503s), Telegram failing under the bot — and collects everything.

Third-party loggers are turned up to DEBUG as well, as an operator chasing a problem would: httpx
then logs each Telegram request URL, token included, so the log redaction is what keeps it out.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from urllib.parse import quote

import aiohttp
import discord
import pytest
import yarl

from nono.adapters.telegram.outbox import TYPING_DELAY
from nono.bot import cli
from nono.bot.backends import LLM_FACTORIES
from nono.bot.logging_setup import REDACTED, Redactor, secret_values, setup_logging
from nono.bot.redacted_output import RedactingWriter
from nono.bot.runner import start_parts
from nono.bot.services import open_services
from nono.bot.settings import Settings
from nono.core.errors import ModelUnavailable
from nono.core.llm.backends import Backends
from nono.core.llm.fake import FakeLLM
from tests.adapters.discord.test_discord_running import FakeDiscord
from tests.fakes.openai_server import running_openai
from tests.fakes.telegram_server import FakeTelegram, running_telegram
from tests.hardening.conftest import until
from tests.support.redis_server import RedisServer, free_port

pytestmark = pytest.mark.redis

ROOT = Path(__file__).resolve().parents[2]
DISCORD_TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GsEcrT.discord-bot-token-do-not-leak"
TELEGRAM_TOKEN = "7012345678:AAH-telegram-token-do-not-leak_42"
ADMIN_TOKEN = "admin-token-do-not-leak-7f3a9c"
REDIS_PASSWORD = "redis-pass/word@do-not-leak"  # characters that URLs must escape
WEBHOOK_SECRET = "webhook-secret-do-not-leak"
OPENAI_KEY = "sk-openai-key-do-not-leak-1234"
HEADER_SECRET = "header-value-do-not-leak-5678"  # an OPENAI_HEADERS value (some gateways take keys there)
SECRETS = (DISCORD_TOKEN, TELEGRAM_TOKEN, ADMIN_TOKEN, REDIS_PASSWORD, WEBHOOK_SECRET, OPENAI_KEY, HEADER_SECRET)
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
ALICE = 1001
THIRD_PARTY = ("httpx", "httpcore", "telegram", "discord", "aiohttp", "redis", "asyncio", "openai")


def leaked(text: str) -> list[str]:
    """Which secrets appear in `text`, as they are or URL-encoded."""
    return [s for s in SECRETS if s in text or quote(s, safe="") in text]


class TokenDiscord(FakeDiscord):
    """The loopback Discord, accepting this scenario's token."""

    @staticmethod
    def _authorized(request) -> bool:
        return request.headers.get("Authorization") == f"Bot {DISCORD_TOKEN}"


@pytest.fixture
async def fake_discord(aiohttp_server, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[TokenDiscord]:
    fake = TokenDiscord()
    server = await aiohttp_server(fake.app())
    fake.gateway_url = f"ws://{server.host}:{server.port}/gateway/"
    monkeypatch.setattr(discord.http.Route, "BASE", f"http://{server.host}:{server.port}/api/v10")
    monkeypatch.setattr(discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(fake.gateway_url))
    yield fake
    assert fake.unexpected == []


@pytest.fixture(autouse=True)
def _ptb_timedelta(ptb_timedelta: None) -> None:
    """Telegram runs in every test here: opt in to PTB's timedelta values (warnings are errors)."""


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """setup_logging takes over the root logger; give pytest's handlers and the levels back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    levels = {name: logging.getLogger(name).level for name in THIRD_PARTY}
    yield
    root.handlers[:], root.level = handlers, level
    for name, old in levels.items():
        logging.getLogger(name).setLevel(old)


class PasswordRedis(RedisServer):
    """A private redis-server that requires REDIS_PASSWORD (set once it answers, and after each restart)."""

    password: str | None = None

    def start(self) -> PasswordRedis:
        super().start()  # a fresh process: it answers PING because no password is set yet
        self.password = None
        self.require(REDIS_PASSWORD)
        return self

    def require(self, password: str) -> None:
        """CONFIG SET requirepass, over a plain socket, authenticating with the current one first."""
        commands = [(b"AUTH", self.password.encode())] if self.password else []
        commands.append((b"CONFIG", b"SET", b"requirepass", password.encode()))
        # Connections already authenticated would keep working: drop them, so clients must log in again.
        commands.append((b"CLIENT", b"KILL", b"TYPE", b"normal"))
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            for parts in commands:
                sock.sendall(b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts))
                assert sock.recv(64)[:1] in (b"+", b":")  # OK, or the number of clients dropped
        self.password = password


@asynccontextmanager
async def running_nono(settings: Settings, llm: Backends) -> AsyncIterator[str]:
    """What `nono run` runs, in this process: services, sidecar, Telegram, Discord. Yields the sidecar URL."""
    async with (
        open_services(settings, llm=llm) as services,
        AsyncExitStack() as stack,
    ):
        parts = await start_parts(services, stack)
        assert [part.name for part in parts] == ["sidecar", "telegram", "discord"]
        await until(lambda: all(part.healthy() for part in parts), what="adapters ready")
        yield f"http://127.0.0.1:{settings.sidecar_port}"
        await services.chat.shutdown(settings.shutdown_grace)


async def exchange(http: aiohttp.ClientSession, method: str, url: str, **kwargs) -> tuple[int, str]:
    """One request; its status, and every header and the body as text."""
    async with http.request(method, url, **kwargs) as response:
        headers = "\n".join(f"{k}: {v}" for k, v in response.headers.items())
        return response.status, headers + "\n\n" + await response.text()


REST_CHAT = {"user_id": "rest:y", "message": "hi"}


async def provoke_the_sidecar(http: aiohttp.ClientSession, url: str) -> dict[str, tuple[int, str]]:
    """Every kind of answer the sidecar gives, good and bad."""
    chat = {"user_id": "rest:x", "message": "hi"}
    wrong = {"Authorization": f"Bearer {TELEGRAM_TOKEN}"}  # someone else's secret: must not be echoed
    basic = {"Authorization": "Basic " + base64.b64encode(f"admin:{ADMIN_TOKEN}".encode()).decode()}
    return {
        "health": await exchange(http, "GET", f"{url}/health"),
        "ready": await exchange(http, "GET", f"{url}/ready"),
        "metrics": await exchange(http, "GET", f"{url}/metrics", headers=AUTH),
        "metrics without auth": await exchange(http, "GET", f"{url}/metrics"),
        "openapi": await exchange(http, "GET", f"{url}/openapi.json", headers=AUTH),
        "models": await exchange(http, "GET", f"{url}/models", headers=AUTH),
        "chat": await exchange(http, "POST", f"{url}/chat", json=chat, headers=AUTH),
        "no auth": await exchange(http, "POST", f"{url}/chat", json=chat),
        "wrong token": await exchange(http, "POST", f"{url}/chat", json=chat, headers=wrong),
        "basic auth": await exchange(http, "GET", f"{url}/personas", headers=basic),
        "no route": await exchange(http, "GET", f"{url}/admin/tokens", headers=AUTH),
        "method": await exchange(http, "DELETE", f"{url}/chat", headers=AUTH),
        "media type": await exchange(http, "POST", f"{url}/chat", data="hi", headers=AUTH),
        "malformed": await exchange(
            http, "POST", f"{url}/chat", data=b"{", headers={**AUTH, "Content-Type": "application/json"}
        ),
        "invalid": await exchange(
            http, "POST", f"{url}/chat", json={"user_id": "x", "token": ADMIN_TOKEN}, headers=AUTH
        ),
        "too large": await exchange(http, "POST", f"{url}/chat", json={"message": "x" * 100_000}, headers=AUTH),
        "unknown persona": await exchange(
            http, "PUT", f"{url}/session/rest:x/persona", json={"persona": "nope"}, headers=AUTH
        ),
        "webhook": await exchange(
            http,
            "POST",
            f"{url}/telegram/webhook",
            json={"update_id": 1},
            headers={"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_TOKEN},
        ),
        "websocket without auth": await exchange(http, "GET", f"{url}/ws/chat/rest:x"),
    }


def provoke_telegram(tg: FakeTelegram) -> None:
    """Telegram failing under the bot: a broken poll, a flood wait, a refused typing action, a 401."""
    tg.inject("getUpdates", 502, "Bad Gateway")
    tg.inject("sendChatAction", 400, "Bad Request: chat not found")
    tg.inject("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
    tg.inject("sendMessage", 401, "Unauthorized")


async def test_known_secrets_appear_in_no_log_line_error_body_or_metrics(
    tmp_path: Path, fake_discord: TokenDiscord, restore_logging: None
) -> None:
    redis = PasswordRedis(tmp_path).start()
    port = free_port()
    async with running_telegram(token=TELEGRAM_TOKEN) as tg, running_openai(api_key=OPENAI_KEY) as (oai_url, oai):
        tg.add_user(ALICE, "Alice")
        redis_url = f"redis://:{quote(REDIS_PASSWORD, safe='')}@127.0.0.1:{redis.port}/0"
        settings = Settings(
            _env_file=None, store="redis", redis_url=redis_url,
            discord_token=DISCORD_TOKEN, telegram_token=TELEGRAM_TOKEN, telegram_base_url=tg.base_url,
            telegram_webhook_secret=WEBHOOK_SECRET, admin_token=ADMIN_TOKEN, sidecar_host="127.0.0.1",
            sidecar_port=port, personas_dir=ROOT / "personas", data_dir=tmp_path, log_level="DEBUG",
            shutdown_grace=1, llm_backends="local,openai", llm_fallback="openai", openai_base_url=oai_url,
            openai_api_key=OPENAI_KEY, openai_model="gpt-4o-mini",
            openai_headers=json.dumps({"X-Title": "Nono", "X-Gateway-Key": HEADER_SECRET}),
        )  # fmt: skip
        logs = io.StringIO()
        setup_logging(settings.log_level, stream=logs, secrets=secret_values(settings))
        for name in THIRD_PARTY:
            logging.getLogger(name).setLevel(logging.DEBUG)
        answers: dict[str, tuple[int, str]] = {}
        llm = FakeLLM(name="local", default_reply="Hello there.")
        openai = LLM_FACTORIES["openai"](settings)  # the real backend, against the loopback OpenAI server
        backends = Backends([llm, openai], "local", ("openai",))
        try:
            async with running_nono(settings, backends) as url, aiohttp.ClientSession() as http:
                tg.say(tg.users[ALICE], tg.chats[ALICE], "hello")
                await tg.wait_for(lambda: tg.shown(ALICE) == ["Hello there."])
                provoke_telegram(tg)
                llm.enqueue(["Hello there."], delay=TYPING_DELAY + 0.2)  # slow enough for "typing…"
                tg.say(tg.users[ALICE], tg.chats[ALICE], "again")
                await tg.wait_for(lambda: not any(f.times for f in tg.faults))
                await until(lambda: '"telegram_api_error"' in logs.getvalue(), what="the 401 to be handled")
                # The local model down: the OpenAI backend stands in, sending the key and the headers.
                llm.enqueue([], error=ModelUnavailable("down", fallback=True))
                oai.enqueue(["From", " the", " stand-in."])
                answers["fallback"] = await exchange(http, "POST", f"{url}/chat", json=REST_CHAT, headers=AUTH)
                # The key is revoked at the server: 401s, echoing part of what was sent, end in logs and bodies.
                oai.api_key = "sk-rotated-elsewhere"
                llm.enqueue([], error=ModelUnavailable("down", fallback=True))
                answers["key refused"] = await exchange(http, "POST", f"{url}/chat", json=REST_CHAT, headers=AUTH)
                for phase in ("up", "redis down", "redis back", "wrong password"):
                    if phase == "redis down":
                        redis.stop(kill=True)
                    elif phase == "redis back":
                        redis.start()
                    elif phase == "wrong password":
                        redis.require("a-new-password")  # Nono's REDIS_URL password is now refused
                    answers.update({f"{phase}: {k}": v for k, v in (await provoke_the_sidecar(http, url)).items()})
        finally:
            redis.stop()
            await openai.aclose()

    log = logs.getvalue()
    assert not leaked(log), [line for line in log.splitlines() if leaked(line)][:5]
    for name, (status, text) in answers.items():
        assert not leaked(text), f"{name} ({status}) shows a secret:\n{text}"
    # The scenario did what it says: the answers and log lines that could have carried a secret exist.
    statuses = {name: status for name, (status, _) in answers.items()}
    assert statuses["up: chat"] == 200 and statuses["up: metrics"] == 200 and statuses["up: models"] == 200
    assert (statuses["fallback"], statuses["key refused"]) == (200, 503)
    assert "From the stand-in." in answers["fallback"][1] and "OPENAI_API_KEY" in answers["key refused"][1]
    sent = oai.chat_requests[0].headers
    assert (sent["authorization"], sent["x-gateway-key"]) == (f"Bearer {OPENAI_KEY}", HEADER_SECRET)
    assert {statuses[f"up: {k}"] for k in ("no auth", "wrong token", "basic auth", "metrics without auth")} == {401}
    assert (statuses["up: no route"], statuses["up: method"], statuses["up: media type"]) == (404, 405, 415)
    assert (statuses["up: malformed"], statuses["up: invalid"], statuses["up: too large"]) == (400, 422, 413)
    assert statuses["up: webhook"] == 403
    assert statuses["redis down: chat"] == 503 and statuses["redis down: ready"] == 503
    assert statuses["redis back: chat"] == 200 and statuses["wrong password: chat"] == 503
    for event in (
        "sidecar_listening",
        "telegram_running",
        "discord_ready",
        "telegram_polling_failed",
        "telegram_flood_wait",
        "telegram_api_error",
        "store_unavailable",
        "store_recovered",
    ):
        assert f'"event": "{event}"' in log, f"no {event} line: the scenario did not get that far"
    # The openai client logs each request's options (headers included) at DEBUG: redaction kept them out.
    assert any('"logger": "openai' in line for line in log.splitlines()), "the openai client logged nothing"
    assert '"event": "llm_fallback"' in log and '"event": "llm_key_refused"' in log
    request_lines = [line for line in log.splitlines() if '"logger": "httpx"' in line and "getUpdates" in line]
    assert request_lines and all(f"/bot{REDACTED}/getUpdates" in line for line in request_lines)


def test_the_cli_configures_logging_with_the_secrets_from_settings(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path, restore_logging: None
) -> None:
    for name, value in {
        "ADMIN_TOKEN": ADMIN_TOKEN,
        "TELEGRAM_TOKEN": TELEGRAM_TOKEN,
        "REDIS_URL": f"redis://:{quote(REDIS_PASSWORD, safe='')}@localhost:6379/0",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)  # no .env here
    assert cli.main(["personas", "check", str(ROOT / "personas")]) == 0
    logging.getLogger("telegram.ext").warning("https://api.telegram.org/bot%s/getMe failed", TELEGRAM_TOKEN)
    logging.getLogger("nono").error("oops %s %s", ADMIN_TOKEN, quote(REDIS_PASSWORD, safe=""))
    err = capsys.readouterr().err
    assert err.count(REDACTED) == 3 and not leaked(err), err


def test_printed_text_is_redacted_even_when_a_secret_arrives_in_pieces() -> None:
    """print() writes its arguments one by one, a traceback line by line: a secret may span writes."""
    out = io.StringIO()
    writer = RedactingWriter(out, Redactor(SECRETS))
    for char in f"token {TELEGRAM_TOKEN} refused\n":
        writer.write(char)
    assert out.getvalue() == f"token {REDACTED} refused\n"

    writer.write("Hello")  # text that cannot begin a secret is written at once (the terminal streams replies)
    assert out.getvalue().endswith("Hello")
    writer.write(" id 7012")  # could be the start of TELEGRAM_TOKEN: held back until it is known
    assert out.getvalue().endswith("Hello id ")
    writer.write("!\n")
    writer.write("admin-")
    writer.release()  # at the end, what was held is written
    assert out.getvalue() == f"token {REDACTED} refused\nHello id 7012!\nadmin-"


def test_a_secret_that_begins_another_does_not_uncover_the_longer_one() -> None:
    out = io.StringIO()
    writer = RedactingWriter(out, Redactor(["abcd-1234", "abcd-1234-longer-secret"]))
    writer.write("x abcd-1234")
    writer.write("-longer-secret y\n")
    assert out.getvalue() == f"x {REDACTED} y\n"
