"""SIGTERM while replies stream: a real `python -m nono sidecar` process, a loopback Ollama, real sockets.

One reply finishes within SHUTDOWN_GRACE and is delivered and stored complete. Two would take far
longer (one over a WebSocket, one a REST `POST /chat`): at the end of the grace period they end,
are delivered as they are, marked incomplete, and stored so. A message waiting in line behind one
of them and a message that arrives during shutdown are refused with a clear reply. Nothing is
half-written; the process exits 0.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import sys
from pathlib import Path

import aiohttp
import pytest

from nono.bot.settings import Settings
from nono.core.chat import ChatService
from nono.core.errors import ServiceUnavailable
from nono.core.llm.fake import FakeLLM
from nono.core.store.sqlite_store import SQLiteStore
from nono.core.wording import RESTARTING
from tests.fakes.ollama_server import DEFAULT_MODEL, running_ollama
from tests.fakes.telegram_server import TOKEN as TELEGRAM_TOKEN
from tests.fakes.telegram_server import running_telegram
from tests.support.redis_server import free_port

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "shutdown-test-admin-token"
ALICE, BOB = 1001, 1002
AUTH = {"Authorization": f"Bearer {TOKEN}"}
GRACE = 2.0
#: Generous: the process must be gone well after the grace period, even on a loaded machine.
EXIT_MARGIN = 20.0
SLOW = [f"word{n} " for n in range(300)]  # 300 chunks, 0.1 s apart: half a minute of talking
QUICK = ["Quick", " answer", " here", "."]  # done about a second after it starts


def nono_env(tmp_path: Path, ollama_url: str, port: int) -> dict[str, str]:
    """This environment without any Nono setting it may carry, plus the test's own."""
    names = {name.upper() for name in Settings.model_fields} | {"FASTAPI_HOST", "FASTAPI_PORT"}
    env = {key: value for key, value in os.environ.items() if key not in names}
    env.update(
        STORE="sqlite", DATA_DIR=str(tmp_path / "data"), PERSONAS_DIR=str(ROOT / "personas"),
        LLM_BACKEND="ollama", OLLAMA_HOST=ollama_url, MODEL_NAME=DEFAULT_MODEL,
        SIDECAR_HOST="127.0.0.1", SIDECAR_PORT=str(port), ADMIN_TOKEN=TOKEN,
        SHUTDOWN_GRACE=str(GRACE), LOG_LEVEL="INFO", PYTHONUNBUFFERED="1",
    )  # fmt: skip
    return env


class NonoProcess:
    """`python -m nono sidecar` with its log lines collected as they come."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[str] = []
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process.stderr is not None
        async for raw in self.process.stderr:
            self.lines.append(raw.decode("utf-8", "replace").rstrip())

    async def logged(self, event: str, timeout: float = 30) -> None:
        """Wait until a log line with this event name appears."""
        async with asyncio.timeout(timeout):
            while not any(f'"event": "{event}"' in line for line in self.lines):
                if self.process.returncode is not None:
                    pytest.fail(f"nono exited early ({self.process.returncode}):\n" + "\n".join(self.lines))
                await asyncio.sleep(0.02)

    async def exit_code(self, timeout: float) -> int:
        try:
            code = await asyncio.wait_for(self.process.wait(), timeout)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
            pytest.fail("nono did not exit after SIGTERM:\n" + "\n".join(self.lines))
        await self._reader
        return code


async def first_chunk(ws: aiohttp.ClientWebSocketResponse, text: str) -> str:
    await ws.send_json({"message": text})
    frame = await ws.receive_json(timeout=30)
    assert frame["type"] == "chunk", frame
    return frame["text"]


async def rest_of_reply(ws: aiohttp.ClientWebSocketResponse) -> tuple[list[dict], aiohttp.WSMessage | None]:
    """Frames until the reply ends, and the close message if the socket closed instead."""
    frames = []
    while True:
        message = await ws.receive(timeout=GRACE + EXIT_MARGIN)
        if message.type != aiohttp.WSMsgType.TEXT:
            return frames, message
        frames.append(message.json())
        if frames[-1]["type"] in ("done", "error"):
            return frames, None


async def post_chat(http: aiohttp.ClientSession, url: str, user_id: str, message: str) -> tuple[int, dict]:
    async with http.post(f"{url}/chat", json={"user_id": user_id, "message": message}) as response:
        return response.status, await response.json(content_type=None)


@pytest.mark.slow
async def test_sigterm_lets_quick_replies_finish_stores_slow_ones_incomplete_and_exits_0(tmp_path: Path) -> None:
    port = free_port()
    async with running_ollama() as (ollama_url, ollama):
        ollama.enqueue(SLOW, delay=0.1)  # the WebSocket's long reply
        ollama.enqueue(SLOW, delay=0.1)  # the REST caller's long reply
        ollama.enqueue(QUICK, delay=0.3)
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "nono", "sidecar", cwd=tmp_path, env=nono_env(tmp_path, ollama_url, port),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        nono = NonoProcess(process)
        try:
            await nono.logged("sidecar_listening")
            url = f"http://127.0.0.1:{port}"
            async with aiohttp.ClientSession(headers=AUTH) as http:
                slow = await http.ws_connect(f"{url}/ws/chat/rest:slow")
                quick = await http.ws_connect(f"{url}/ws/chat/rest:quick")
                late = await http.ws_connect(f"{url}/ws/chat/rest:late")
                slow_seen = [await first_chunk(slow, "Tell me everything.")]
                rest = asyncio.create_task(post_chat(http, url, "rest:caller", "Explain it all."))
                async with asyncio.timeout(30):
                    while len(ollama.chat_requests) < 2:  # the REST reply is being generated
                        await asyncio.sleep(0.01)
                queued = asyncio.create_task(post_chat(http, url, "rest:caller", "And then?"))
                quick_seen = [await first_chunk(quick, "Quick question?")]

                process.send_signal(signal.SIGTERM)
                await nono.logged("shutdown_waiting")
                refused = await late.send_json({"message": "Are you there?"}) or await late.receive_json(timeout=10)
                quick_frames, quick_closed = await rest_of_reply(quick)
                slow_frames, slow_closed = await rest_of_reply(slow)
                rest_status, rest_body = await rest
                queued_status, queued_body = await queued
                code = await nono.exit_code(GRACE + EXIT_MARGIN)
                for ws in (slow, quick, late):
                    await ws.close()
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()

    log = "\n".join(nono.lines)
    assert code == 0, log
    restarting = "I'm restarting right now. Please send that again in a minute."
    assert refused == {"type": "error", "status": 503, "code": "unavailable", "message": restarting}
    assert (queued_status, queued_body["code"], queued_body["detail"]) == (503, "unavailable", restarting)
    [done] = [json.loads(line) for line in nono.lines if '"event": "shutdown_done"' in line]
    assert (done["finished"], done["stopped"]) == (1, 2), "the quick reply finished; the two slow ones were stopped"
    quick_seen += [f["text"] for f in quick_frames if f["type"] == "chunk"]
    assert quick_closed is None and quick_frames[-1] == {
        "type": "done",
        "reply": "Quick answer here.",
        "persona": "assistant",
        "incomplete": False,
        "conversation_id": "rest:quick",
    }, log
    assert "".join(quick_seen) == "Quick answer here."
    slow_seen += [f["text"] for f in slow_frames if f["type"] == "chunk"]
    assert slow_closed is None and slow_frames[-1] == {
        "type": "done",
        "reply": "".join(slow_seen),
        "persona": "assistant",
        "incomplete": True,
        "conversation_id": "rest:slow",
    }, "the cut reply still ends with a done frame saying it is incomplete"
    assert rest_status == 200 and rest_body["incomplete"] is True, rest_body

    store = SQLiteStore(tmp_path / "data" / "nono.sqlite3")
    try:
        quick_history = await store.history("rest:quick", 10)
        slow_history = await store.history("rest:slow", 10)
        rest_history = await store.history("rest:caller", 10)
        assert await store.history("rest:late", 10) == [], "a refused message leaves no trace"
    finally:
        await store.aclose()
    assert [(m.role, m.content, m.incomplete) for m in quick_history] == [
        ("user", "Quick question?", False), ("assistant", "Quick answer here.", False)
    ]  # fmt: skip
    full = "".join(SLOW)
    for history, question, delivered in (
        (slow_history, "Tell me everything.", "".join(slow_seen)),
        (rest_history, "Explain it all.", rest_body["reply"]),
    ):
        [asked, partial] = history  # the queued "And then?" left no trace
        assert (asked.role, asked.content, partial.role) == ("user", question, "assistant")
        assert partial.incomplete and partial.metadata.get("incomplete") is True
        assert partial.content == delivered, "what the user got is exactly what was kept"
        assert delivered and full.startswith(delivered) and len(delivered) < len(full)
    with sqlite3.connect(tmp_path / "data" / "nono.sqlite3") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


@pytest.mark.slow
async def test_sigterm_to_nono_run_delivers_replies_in_flight_on_telegram_before_closing(tmp_path: Path) -> None:
    """`nono run` with the Telegram adapter: each person gets their reply as a finished message, the
    quick one whole, the long one as far as it got (exactly what is stored, marked incomplete)."""
    port = free_port()
    async with running_ollama() as (ollama_url, ollama), running_telegram() as tg:
        alice, bob = tg.add_user(ALICE, "Alice"), tg.add_user(BOB, "Bob")
        ollama.enqueue(SLOW, delay=0.1)  # Bob's
        ollama.enqueue(QUICK, delay=0.3)  # Alice's
        env = nono_env(tmp_path, ollama_url, port)
        env.update(TELEGRAM_TOKEN=TELEGRAM_TOKEN, TELEGRAM_BASE_URL=tg.base_url, PTB_TIMEDELTA="true")
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "nono", "run", cwd=tmp_path, env=env,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        nono = NonoProcess(process)
        try:
            await nono.logged("telegram_running")
            tg.say(bob, tg.chats[BOB], "Tell me everything.")
            await tg.wait_for(lambda: tg.calls_to("sendMessageDraft", BOB))  # Bob sees it being written
            tg.say(alice, tg.chats[ALICE], "Quick question?")
            await tg.wait_for(lambda: len(ollama.chat_requests) == 2)
            process.send_signal(signal.SIGTERM)
            code = await nono.exit_code(GRACE + EXIT_MARGIN)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        shown = {ALICE: tg.shown(ALICE), BOB: tg.shown(BOB)}

    log = "\n".join(nono.lines)
    assert code == 0, log
    store = SQLiteStore(tmp_path / "data" / "nono.sqlite3")
    try:
        alice_history = await store.history(f"telegram:{ALICE}", 10)
        bob_history = await store.history(f"telegram:{BOB}", 10)
    finally:
        await store.aclose()
    assert shown[ALICE] == ["Quick answer here."], log
    assert [(m.content, m.incomplete) for m in alice_history] == [
        ("Quick question?", False), ("Quick answer here.", False)
    ]  # fmt: skip
    [question, partial] = bob_history
    assert question.content == "Tell me everything." and partial.incomplete
    assert "".join(SLOW).startswith(partial.content) and 0 < len(partial.content) < len("".join(SLOW))
    assert shown[BOB] == [partial.content.strip()], "Bob got what was kept, as a finished message"


# -- the same rules in-process, on ChatService -------------------------------------------------------


async def test_a_reader_still_reading_gets_the_end_of_an_incomplete_reply_and_that_is_what_is_stored(
    chat: ChatService, fake_llm: FakeLLM
) -> None:
    fake_llm.enqueue([f"w{n} " for n in range(1000)], delay=0.01)
    reply = chat.stream("rest:a", "talk")
    seen: list[str] = []
    first = asyncio.Event()

    async def read() -> None:
        async with reply:
            async for chunk in reply:
                seen.append(chunk)
                first.set()

    reader = asyncio.create_task(read())
    await first.wait()
    await chat.shutdown(grace=0.05)

    await reader  # ended normally: not cancelled, no error
    assert reply.incomplete and reply.text == "".join(seen) and 0 < len(seen) < 1000
    [question, answer] = await chat.history("rest:a")
    assert (question.content, answer.content, answer.incomplete) == ("talk", reply.text, True)


async def test_turns_waiting_in_line_and_replies_not_yet_started_are_refused_with_nothing_stored(
    chat: ChatService, fake_llm: FakeLLM
) -> None:
    fake_llm.enqueue(["said ", "something"], wait_for=asyncio.Event())  # never gets to its first word
    silent = chat.stream("rest:a", "first")
    queued = chat.stream("rest:a", "second")  # waits in line behind it

    async def drain(reply) -> str:
        async with reply:
            return "".join([chunk async for chunk in reply])

    results = [asyncio.create_task(drain(silent)), asyncio.create_task(drain(queued))]
    while not fake_llm.history:
        await asyncio.sleep(0.001)
    await chat.shutdown(grace=0.05)

    for result in results:
        with pytest.raises(ServiceUnavailable, match=RESTARTING):
            await result
    assert await chat.history("rest:a") == []


async def test_shutdown_waits_for_turns_not_for_the_tasks_that_read_them(chat: ChatService, fake_llm: FakeLLM) -> None:
    """A connection that reads one reply after another (a WebSocket) outlives its turn; shutdown
    returns when the turn is done instead of waiting out the grace period and cancelling it."""
    fake_llm.enqueue(["quick ", "answer"], delay=0.01)
    next_message: asyncio.Queue[str] = asyncio.Queue()
    answers: list[str] = []

    async def connection() -> None:
        answers.append((await chat.reply("rest:ws", "hello")).text)
        await next_message.get()  # the connection stays open after its turn

    worker = asyncio.create_task(connection())
    while not fake_llm.history:
        await asyncio.sleep(0.001)
    await asyncio.wait_for(chat.shutdown(grace=3600), timeout=60)

    assert answers == ["quick answer"] and not worker.done(), "the reader was left alone"
    worker.cancel()
    await asyncio.gather(worker, return_exceptions=True)
