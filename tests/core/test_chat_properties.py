"""Whatever text arrives, ChatService answers or refuses clearly, and a refusal changes nothing."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nono.core.chat import ChatLimits, ChatService
from nono.core.errors import InvalidInput, UserFacingError
from nono.core.llm.fake import FakeLLM

USER = "rest:prop"
# Arbitrary code points, including NUL, controls and lone surrogates.
ANY_TEXT = st.text(alphabet=st.characters(codec=None, min_codepoint=0, max_codepoint=0x10FFFF), max_size=300)
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@SETTINGS
@given(text=st.one_of(ANY_TEXT, st.just("x" * 1_000_000), st.just("\x00" * 50), st.just("\ud800" * 5)))
async def test_any_text_gets_a_reply_or_a_clear_refusal(sqlite_store, registry, text):
    llm = FakeLLM(default_reply="ok")
    chat = ChatService(sqlite_store, llm, registry, ChatLimits(max_message_chars=4000))
    before = await chat.history(USER, 1000)
    try:
        reply = await chat.reply(USER, text)
    except InvalidInput as exc:
        assert str(exc)  # a message a person can read
        assert await chat.history(USER, 1000) == before
        return
    assert reply.text == "ok"
    stored = (await chat.history(USER, 1000))[-2]
    assert stored.content.strip() and "\x00" not in stored.content
    stored.content.encode("utf-8")


@SETTINGS
@given(user_id=ANY_TEXT, persona=ANY_TEXT)
async def test_any_user_id_or_persona_name_is_validated_before_touching_the_store(chat, user_id, persona):
    try:
        await chat.set_persona(user_id, persona)
    except UserFacingError as exc:
        assert str(exc)
    else:
        assert persona in chat.personas
    assert all(s.persona in chat.personas for s in (await chat.active_page(0, 1000)).sessions)
