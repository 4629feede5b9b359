"""A replayed Telegram webhook call against a real `nono run`: answered once, and still once after a kill -9.

The attack as it was seen: the same update (same `update_id`, correct secret header) posted three
times to the webhook port got three answers. Now each post is acknowledged with 200 and only the
first answered; the process is killed, started again over the same data directory, and the same
update posted once more is still not answered again. A fresh update from the same person follows
each round: a conversation's updates are handled in order, so its answer means the replays before
it were dealt with.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest

from nono.core.store.sqlite_store import SQLiteStore
from tests.fakes.ollama_server import DEFAULT_MODEL, running_ollama
from tests.fakes.telegram_server import TOKEN, FakeTelegram, running_telegram
from tests.support.nono_process import nono_env, start_logged, until
from tests.support.redis_server import free_port

ALICE = 1001
SECRET = "replay-test-webhook-secret"
ANSWERS = ["First answer.", "Second answer.", "Third answer."]


async def serving(http: aiohttp.ClientSession, url: str) -> bool:
    try:
        async with http.get(f"{url}/health") as response:
            return response.status == 200
    except aiohttp.ClientConnectionError:
        return False


async def stored(tmp_path: Path, turns: int) -> bool:
    """Whether Alice's first `turns` turns are in the data directory's SQLite file."""
    store = SQLiteStore(tmp_path / "data" / "nono.sqlite3")
    try:
        return len(await store.history(f"telegram:{ALICE}", 100)) >= 2 * turns
    finally:
        await store.aclose()


async def post(http: aiohttp.ClientSession, url: str, update: dict[str, Any]) -> int:
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    async with http.post(f"{url}/telegram/webhook", json=update, headers=headers) as response:
        return response.status


async def shown(tg: FakeTelegram, count: int) -> bool:
    return len(tg.shown(ALICE)) >= count


@pytest.mark.slow
async def test_a_webhook_update_posted_three_times_is_answered_once_even_across_a_kill(tmp_path: Path) -> None:
    port, log = free_port(), tmp_path / "nono.log"
    url = f"http://127.0.0.1:{port}"
    async with running_ollama() as (ollama_url, ollama), running_telegram() as tg, aiohttp.ClientSession() as http:
        tg.add_user(ALICE, "Alice")
        for answer in ANSWERS:
            ollama.enqueue([answer])
        env = nono_env(
            tmp_path, OLLAMA_HOST=ollama_url, MODEL_NAME=DEFAULT_MODEL, SIDECAR_PORT=str(port),
            ADMIN_TOKEN="replay-test-admin-token", TELEGRAM_TOKEN=TOKEN, TELEGRAM_BASE_URL=tg.base_url,
            TELEGRAM_WEBHOOK_URL="https://bot.example.org/telegram/webhook", TELEGRAM_WEBHOOK_SECRET=SECRET,
            PTB_TIMEDELTA="true",
        )  # fmt: skip
        update = tg.make_update(tg.users[ALICE], tg.chats[ALICE], "hello")
        process = await start_logged(tmp_path, env, log)
        try:
            await until(lambda: serving(http, url), "the sidecar to listen", log)
            statuses = [await post(http, url, update) for _ in range(3)]
            await post(http, url, tg.make_update(tg.users[ALICE], tg.chats[ALICE], "and now?"))
            await until(lambda: shown(tg, 2), "two answers", log)
            await until(lambda: stored(tmp_path, 2), "both turns stored", log)
            process.kill()  # a crash, not a stop: nothing gets to tidy up
            await process.wait()

            process = await start_logged(tmp_path, env, log)
            await until(lambda: serving(http, url), "the restarted sidecar to listen", log)
            replayed = await post(http, url, update)
            await post(http, url, tg.make_update(tg.users[ALICE], tg.chats[ALICE], "one more?"))
            await until(lambda: shown(tg, 3), "the third answer", log)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()

        output = log.read_text()
        assert statuses == [200, 200, 200] and replayed == 200, output
        assert tg.shown(ALICE) == ANSWERS, output
        assert [r["messages"][-1]["content"] for r in ollama.chat_requests] == ["hello", "and now?", "one more?"]
        assert output.count('"event": "event_replayed"') == 3, output
