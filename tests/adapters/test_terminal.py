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


async def test_link_from_the_terminal_joins_it_with_a_telegram_private_chat(chat, fake_llm):
    from nono.core.people import Conversation, Speaker

    telegram = Speaker.of("telegram:77", "Alice T")
    fake_llm.enqueue("noted")
    await chat.reply(Conversation.private_of(telegram.person), "my boat is called Nina", speaker=telegram)
    stdout = io.StringIO()
    await run_terminal(chat, USER, io.StringIO("/link\n"), stdout)
    code = stdout.getvalue().split("Your link code: ", 1)[1].split()[0]

    proposal = await chat.links.propose(telegram, code)  # typed as /link CODE in the Telegram private chat
    await chat.links.confirm(telegram.person, proposal.id)
    stdout = io.StringIO()
    fake_llm.enqueue("Nina!")
    await run_terminal(chat, USER, io.StringIO("/link\n/link yes\nwhat is my boat called?\n/unlink\n"), stdout)

    out = stdout.getvalue()
    assert "Link this account with Telegram account “Alice T” (telegram:77)?" in out
    assert "Linked with Telegram account “Alice T” (telegram:77)" in out
    assert "my boat is called Nina" in "\n".join(m.content for m in fake_llm.history[-1].messages)
    assert "Send /unlink yes to confirm." in out
    assert set(await chat.links.linked(USER)) == {USER, telegram.person}
