"""The terminal chat, driven through its real stdin/stdout handling with piped input."""

from __future__ import annotations

import io

from nono.adapters.terminal import run_terminal

USER = "terminal:alice"


async def test_piped_session_answers_each_line_and_runs_commands(chat, fake_llm):
    fake_llm.enqueue(["Hello", " Alice!"])
    fake_llm.enqueue("Arr, ye be Alice.")
    stdin = io.StringIO("Hi, I'm Alice\n/persona pirate\nWho am I?\n/history 2\n/quit\nnever read\n")
    stdout = io.StringIO()

    await run_terminal(chat, USER, stdin, stdout)

    lines = stdout.getvalue().splitlines()
    assert lines[0] == "Hello Alice!"
    assert lines[1].startswith("Now speaking as Captain Nono")
    assert "Arr, ye be Alice." in lines
    assert lines[-2:] == ["You: Who am I?", "Nono: Arr, ye be Alice."]
    assert len(fake_llm.history) == 2 and fake_llm.history[1].system.startswith("You are Captain Nono")
    assert len(await chat.history(USER)) == 4


async def test_errors_are_printed_and_the_chat_goes_on(chat, fake_llm):
    fake_llm.enqueue("still here")
    stdin = io.StringIO("   \n/persona kraken\nhello\n")
    stdout = io.StringIO()
    await run_terminal(chat, USER, stdin, stdout)
    out = stdout.getvalue()
    assert "Unknown persona 'kraken'" in out
    assert out.rstrip().endswith("still here")


async def test_unexpected_failure_gets_a_generic_line_and_is_logged(chat, fake_llm, caplog):
    fake_llm.enqueue(["x"], error=ZeroDivisionError())  # becomes ModelUnavailable in the core
    stdin = io.StringIO("boom\n")
    stdout = io.StringIO()
    await run_terminal(chat, USER, stdin, stdout)
    assert "model is unavailable" in stdout.getvalue()
    assert await chat.history(USER) == []
