"""The loopback Bot API refuses what Telegram refuses, in Telegram's words, so the adapter cannot rely on leniency."""

from __future__ import annotations

import asyncio
import io

import aiohttp
import pytest
from telegram import ChatMember, ChatMemberAdministrator

from tests.fakes.telegram_files import UPLOAD_LIMIT, Upload
from tests.fakes.telegram_server import TOKEN, FakeTelegram, running_telegram
from tests.support.telegram import ALICE, BOB, FORUM, GROUP


async def call(tg: FakeTelegram, method: str, token: str = TOKEN, **params) -> tuple[int, dict]:
    url = tg.base_url.removesuffix("bot") + f"bot{token}/{method}"
    async with aiohttp.ClientSession() as session, session.post(url, json=params) as response:
        return response.status, await response.json()


async def upload(tg: FakeTelegram, data: bytes | None, **fields: str) -> tuple[int, dict]:
    """sendDocument as bots upload a file: multipart/form-data with a `document` file part."""
    form = aiohttp.FormData(fields)
    if data is not None:
        form.add_field("document", io.BytesIO(data), filename="notes.json", content_type="application/json")
    url = tg.base_url.removesuffix("bot") + f"bot{TOKEN}/sendDocument"
    async with aiohttp.ClientSession() as session, session.post(url, data=form) as response:
        return response.status, await response.json()


def refused(status: int, description: str) -> tuple[int, dict]:
    return status, {"ok": False, "error_code": status, "description": description}


async def test_messages_are_validated_like_telegram_does(tg: FakeTelegram):
    long_text = "🚀" * 2049  # 2049 characters, 4098 UTF-16 units
    assert await call(tg, "sendMessage", text="hi") == refused(400, "Bad Request: chat_id is empty")
    assert await call(tg, "sendMessage", chat_id=ALICE) == refused(400, "Bad Request: message text is empty")
    assert await call(tg, "sendMessage", chat_id=42, text="hi") == refused(400, "Bad Request: chat not found")
    too_long = refused(400, "Bad Request: message is too long")
    assert await call(tg, "sendMessage", chat_id=ALICE, text=long_text) == too_long
    for html, why in [
        ("<b>open", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
        ("<blink>x</blink>", 'Unsupported start tag "blink" at byte offset 0'),
        ("1 < 2", "Unclosed start tag at byte offset 2"),
    ]:
        answer = await call(tg, "sendMessage", chat_id=ALICE, text=html, parse_mode="HTML")
        assert answer == refused(400, f"Bad Request: can't parse entities: {why}")
    assert tg.bot_messages(ALICE) == [], "nothing refused was shown"


async def test_a_sent_message_and_an_edit_that_changes_nothing(tg: FakeTelegram):
    status, sent = await call(tg, "sendMessage", chat_id=ALICE, text="<b>Hi</b> &amp; bye", parse_mode="HTML")
    message = sent["result"]
    assert status == 200 and sent["ok"] is True
    assert {k: message[k] for k in ("text", "entities")} == {
        "text": "Hi & bye",
        "entities": [{"type": "bold", "offset": 0, "length": 2}],
    }
    assert message["from"]["is_bot"] and message["chat"]["id"] == ALICE and message["message_id"] == 1
    same = await call(tg, "editMessageText", chat_id=ALICE, message_id=1, text="<b>Hi</b> &amp; bye", parse_mode="HTML")
    assert same[0] == 400 and same[1]["description"].startswith("Bad Request: message is not modified")
    assert (await call(tg, "editMessageText", chat_id=ALICE, message_id=9, text="x"))[1]["description"] == (
        "Bad Request: message to edit not found"
    )


async def test_injected_flood_wait_carries_retry_after(tg: FakeTelegram):
    tg.inject("sendChatAction", 429, "Too Many Requests: retry after 1", retry_after=1)
    status, body = await call(tg, "sendChatAction", chat_id=ALICE, action="typing")
    assert (status, body["parameters"]) == (429, {"retry_after": 1})
    assert await call(tg, "sendChatAction", chat_id=ALICE, action="typing") == (200, {"ok": True, "result": True})


async def test_long_polling_waits_for_updates_and_confirms_by_offset(tg: FakeTelegram):
    poll = asyncio.create_task(call(tg, "getUpdates", timeout=10))
    await asyncio.sleep(0.1)
    assert not poll.done(), "nothing to deliver yet: the request is held open"
    tg.say(tg.users[ALICE], tg.chats[ALICE], "/start")
    _status, body = await poll
    (update,) = body["result"]
    assert update["message"]["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]
    again = await call(tg, "getUpdates", offset=update["update_id"] + 1, timeout=0)
    assert again == (200, {"ok": True, "result": []})


async def test_a_wrong_token_and_an_unknown_method_fail_loudly():
    with pytest.raises(AssertionError, match="unknown Bot API method sendTelepathy"):
        async with running_telegram() as tg:
            assert await call(tg, "getMe", token="1:wrong") == refused(401, "Unauthorized")
            assert await call(tg, "sendTelepathy") == refused(404, "Not Found: method not found")


async def test_chat_members_and_forum_topics_look_like_telegrams(tg: FakeTelegram):
    tg.set_member(GROUP, ALICE, "administrator")
    _, admin = await call(tg, "getChatMember", chat_id=GROUP, user_id=ALICE)
    _, member = await call(tg, "getChatMember", chat_id=GROUP, user_id=BOB)
    assert isinstance(ChatMember.de_json(admin["result"], None), ChatMemberAdministrator), "PTB reads it whole"
    assert member["result"]["status"] == "member"
    unknown = await call(tg, "getChatMember", chat_id=GROUP, user_id=9)
    assert unknown == refused(400, "Bad Request: PARTICIPANT_ID_INVALID")

    forum = tg.chats[FORUM]
    topic = tg.add_topic(forum, "Trips", tg.users[ALICE])
    message = tg.say(tg.users[BOB], forum, "hi", topic=topic)
    assert (message["message_thread_id"], message["is_topic_message"]) == (topic, True)
    assert message["reply_to_message"]["forum_topic_created"]["name"] == "Trips", "the implicit reply to the topic"
    _, sent = await call(tg, "sendMessage", chat_id=FORUM, text="hello", message_thread_id=topic)
    assert (sent["result"]["message_thread_id"], sent["result"]["is_topic_message"]) == (topic, True)


async def test_documents_arrive_as_multipart_uploads_of_at_most_50_mb(tg: FakeTelegram):
    status, sent = await upload(tg, b"x" * UPLOAD_LIMIT, chat_id=str(ALICE), caption="All of it")
    assert status == 200
    assert sent["result"]["caption"] == "All of it"
    assert sent["result"]["document"]["file_name"] == "notes.json"
    assert sent["result"]["document"]["file_size"] == 50 * 1024 * 1024
    assert await upload(tg, b"x" * (UPLOAD_LIMIT + 1), chat_id=str(ALICE)) == refused(413, "Request Entity Too Large")
    no_file = refused(400, "Bad Request: there is no document in the request")
    assert await upload(tg, None, chat_id=str(ALICE)) == no_file
    assert await upload(tg, b"", chat_id=str(ALICE)) == refused(400, "Bad Request: file must be non-empty")
    long_caption = refused(400, "Bad Request: message caption is too long")
    assert await upload(tg, b"{}", chat_id=str(ALICE), caption="x" * 1025) == long_caption
    ((message, uploaded),) = tg.documents(ALICE)
    assert message["message_id"] == sent["result"]["message_id"]
    assert uploaded == Upload("notes.json", "application/json", b"x" * UPLOAD_LIMIT)
    assert tg.bot_messages(ALICE) == [], "a document is not a text message"
