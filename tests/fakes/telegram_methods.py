"""The Bot API methods the loopback Telegram implements, with the Bot API's own validation and errors."""

from __future__ import annotations

import copy
import itertools
import json
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from tests.fakes.telegram_html import EntityParseError, Parsed, parse_html, strip_entities, utf16

NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)
CHAT_ACTIONS = {
    "typing",
    "upload_photo",
    "record_video",
    "upload_video",
    "record_voice",
    "upload_voice",
    "upload_document",
    "choose_sticker",
    "find_location",
    "record_video_note",
    "upload_video_note",
}
_COMMAND = re.compile(r"(?<![\w/])/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?")
_MENTION = re.compile(r"(?<![\w@])@[A-Za-z0-9_]{5,32}")
_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_BOT_COMMAND = re.compile(r"^[a-z0-9_]{1,32}$")
_ADMIN_RIGHTS = (
    "can_be_edited", "is_anonymous", "can_manage_chat", "can_delete_messages", "can_manage_video_chats",
    "can_restrict_members", "can_promote_members", "can_change_info", "can_invite_users", "can_post_stories",
    "can_edit_stories", "can_delete_stories",
)  # fmt: skip
#: The fields a ChatMember of each status carries besides `status` and `user`.
MEMBER_FIELDS: dict[str, dict[str, Any]] = {
    "member": {},
    "administrator": dict.fromkeys(_ADMIN_RIGHTS, False) | {"can_manage_chat": True},
    "creator": {"is_anonymous": False},
}


class ApiError(Exception):
    """A Bot API error answer: status, description and optional `parameters` (retry_after)."""

    def __init__(self, status: int, description: str, parameters: dict | None = None) -> None:
        super().__init__(description)
        self.status, self.description, self.parameters = status, description, parameters


def bad(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")


class BotApiMethods:
    """Method handlers; the state lives on the FakeTelegram that mixes this in."""

    bot: dict[str, Any]
    updates: list[dict[str, Any]]
    refuse_drafts: bool
    unexpected: list[str]

    def __init__(self) -> None:
        self.users: dict[int, dict] = {}
        self.chats: dict[int, dict] = {}
        self.messages: dict[tuple[int, int], dict] = {}
        self.queries: dict[str, Any] = {}  # callback query id -> False until answered, then the answer
        self.drafts: dict[int, dict] = {}
        self.commands: list[dict] = []
        self.webhook: dict[str, Any] | None = None
        self.allowed_updates: list[str] | None = None
        self.members: dict[tuple[int, int], str] = {}  # (chat, user) -> status other than "member"
        self._ids: dict[int, itertools.count] = {}

    async def wait_updates(self, timeout: float) -> None:  # provided by the server
        raise NotImplementedError

    def method(self, name: str) -> Callable[[dict[str, Any]], Awaitable[Any]] | None:
        """The handler for a Bot API method name, or None when the Bot API has no such method here."""
        return getattr(self, "api_" + name, None) if re.fullmatch(r"[a-zA-Z]+", name) else None

    # -- users' side ------------------------------------------------------------------------

    def user_message(
        self, user: dict, chat: dict, text: str, *, reply_to: int | None = None, topic: int | None = None,
        quote: str | None = None, via_bot: dict | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """A message from a person, with the entities Telegram's clients attach (commands, @mentions).

        `topic`: written in that forum topic (Telegram then makes it a reply to the topic's first
        message unless it replies to another); `quote`: the part of the replied message quoted;
        `via_bot`: sent through that inline bot.
        """
        entities = [_entity("bot_command", text, m) for m in _COMMAND.finditer(text)]
        entities += [_entity("mention", text, m) for m in _MENTION.finditer(text)]
        message = self._new_message(chat, user, text, sorted(entities, key=lambda e: e["offset"]))
        if topic is not None:
            assert chat.get("is_forum"), "topics exist in forum supergroups only"
            message.update(message_thread_id=topic, is_topic_message=True)
            reply_to = topic if reply_to is None else reply_to
        if reply_to is not None:
            message["reply_to_message"] = self._quoted(chat["id"], reply_to)
        if quote is not None:
            replied = message["reply_to_message"].get("text", "")
            assert quote in replied, "a quote is a part of the replied message"
            message["quote"] = {"text": quote, "position": utf16(replied[: replied.index(quote)]), "is_manual": True}
        if via_bot is not None:
            message["via_bot"] = via_bot
        return message

    def add_topic(self, chat: dict, name: str, creator: dict) -> int:
        """`creator` opens a forum topic in `chat`; returns its thread id (its first message's id, as in Telegram)."""
        assert chat.get("is_forum"), "topics exist in forum supergroups only"
        ids = self._ids.setdefault(chat["id"], itertools.count(1))
        thread = next(ids)
        self.messages[(chat["id"], thread)] = {
            "message_id": thread, "date": int(time.time()), "chat": chat, "from": creator,
            "message_thread_id": thread, "forum_topic_created": {"name": name, "icon_color": 7322096},
        }  # fmt: skip
        return thread

    def set_member(self, chat_id: int, user_id: int, status: str) -> None:
        """`user_id`'s status in a group: member (the default), administrator or creator."""
        assert status in MEMBER_FIELDS, f"unknown member status {status!r}"
        self.members[(chat_id, user_id)] = status

    def pending_updates(self) -> list[dict[str, Any]]:
        allowed = self.allowed_updates
        return [u for u in self.updates if not allowed or any(k in allowed for k in u if k != "update_id")]

    # -- methods ------------------------------------------------------------------------------

    async def api_getMe(self, params: dict) -> dict:
        return {
            **self.bot,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def api_getUpdates(self, params: dict) -> list[dict]:
        if self.webhook is not None:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = _int(params, "offset", required=False) or 0
        if offset > 0:
            self.updates[:] = [u for u in self.updates if u["update_id"] >= offset]
        if "allowed_updates" in params:
            self.allowed_updates = _json(params, "allowed_updates") or None
        limit = _int(params, "limit", required=False) or 100
        timeout = _int(params, "timeout", required=False) or 0
        if not self.pending_updates() and timeout > 0:
            await self.wait_updates(timeout)
        return copy.deepcopy(self.pending_updates()[: max(1, min(limit, 100))])

    async def api_sendMessage(self, params: dict) -> dict:
        chat = self._chat(params)
        parsed = self._text(params)
        message = self._new_message(chat, self.bot, parsed.text, parsed.entities)
        self._reply_fields(message, params)
        return copy.deepcopy(message)

    async def api_editMessageText(self, params: dict) -> dict:
        if "inline_message_id" in params:
            self.unexpected.append("editMessageText with inline_message_id")
            raise bad("inline messages are not supported by this fake")
        chat = self._chat(params)
        key = (chat["id"], _int(params, "message_id"))
        message = self.messages.get(key)
        if message is None:
            raise bad("message to edit not found")
        if message["from"] != self.bot:
            raise bad("message can't be edited")
        parsed = self._text(params)
        markup = self._markup(params)
        old = (message["text"], message.get("entities", []), message.get("reply_markup"))
        if old == (parsed.text, parsed.entities, markup):
            raise bad(NOT_MODIFIED.removeprefix("Bad Request: "))
        message["text"], message["edit_date"] = parsed.text, int(time.time())
        _set(message, "entities", parsed.entities)
        _set(message, "reply_markup", markup)
        return copy.deepcopy(message)

    async def api_deleteMessage(self, params: dict) -> bool:
        chat = self._chat(params)
        if self.messages.pop((chat["id"], _int(params, "message_id")), None) is None:
            raise bad("message to delete not found")
        return True

    async def api_sendMessageDraft(self, params: dict) -> bool:
        chat = self._chat(params)
        draft_id = _int(params, "draft_id")
        if draft_id == 0:
            raise bad("draft_id must be non-zero")
        if chat["type"] != "private" or self.refuse_drafts:
            raise bad("TEXTDRAFT_PEER_INVALID")
        parsed = self._text(params) if params.get("text") else Parsed("")
        self.drafts[chat["id"]] = {"draft_id": draft_id, "text": parsed.text, "entities": parsed.entities}
        return True

    async def api_sendChatAction(self, params: dict) -> bool:
        self._chat(params)
        if params.get("action") not in CHAT_ACTIONS:
            raise bad("wrong parameter action in request")
        return True

    async def api_setMyCommands(self, params: dict) -> bool:
        commands = _json(params, "commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise bad("commands must be a list of at most 100 commands")
        for command in commands:
            if not _BOT_COMMAND.match(str(command.get("command", ""))):
                raise bad("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise bad("BOT_COMMAND_DESCRIPTION_INVALID")
        self.commands = commands
        return True

    async def api_getMyCommands(self, params: dict) -> list[dict]:
        return copy.deepcopy(self.commands)

    async def api_getChatMember(self, params: dict) -> dict:
        chat = self._chat(params)
        user = self.users.get(_int(params, "user_id"))
        if user is None:
            raise bad("PARTICIPANT_ID_INVALID")
        status = self.members.get((chat["id"], user["id"]), "member")
        return {"status": status, "user": copy.deepcopy(user), **MEMBER_FIELDS[status]}

    async def api_answerCallbackQuery(self, params: dict) -> bool:
        query_id = _str(params, "callback_query_id")
        if self.queries.get(query_id, True) is not False:
            raise bad("query is too old and response timeout expired or query ID is invalid")
        if len(params.get("text") or "") > 200:
            raise bad("MESSAGE_TOO_LONG")
        self.queries[query_id] = {"text": params.get("text"), "show_alert": params.get("show_alert") in ("true", True)}
        return True

    async def api_deleteWebhook(self, params: dict) -> bool:
        self.webhook = None
        if params.get("drop_pending_updates") in ("true", True):
            self.updates.clear()
        return True

    async def api_setWebhook(self, params: dict) -> bool:
        url = _str(params, "url")
        if not url.startswith("https://"):
            raise bad("bad webhook: An HTTPS URL must be provided for webhook")
        secret = params.get("secret_token")
        if secret is not None and not _SECRET.match(secret):
            raise bad("secret token contains unallowed characters")
        self.webhook = {"url": url, "secret_token": secret, "allowed_updates": _json(params, "allowed_updates")}
        return True

    async def api_getWebhookInfo(self, params: dict) -> dict:
        url = self.webhook["url"] if self.webhook else ""
        return {"url": url, "has_custom_certificate": False, "pending_update_count": len(self.updates)}

    # -- helpers ------------------------------------------------------------------------------

    def _chat(self, params: dict) -> dict:
        chat = self.chats.get(_int(params, "chat_id"))
        if chat is None:
            raise bad("chat not found")
        return chat

    def _text(self, params: dict) -> Parsed:
        """The text as the user will see it: HTML parsed, whitespace trimmed, length checked."""
        parsed = self._formatted(params, "text", "entities")
        if not parsed.text:
            raise bad("message text is empty")
        if utf16(parsed.text) > 4096:
            raise bad("message is too long")
        return parsed

    def _formatted(self, params: dict, field: str, entities_field: str) -> Parsed:
        """A text or caption with its parse_mode (or explicit entities) applied and whitespace trimmed."""
        text = params.get(field) or ""
        mode = (params.get("parse_mode") or "").lower()
        if not text:
            return Parsed("")
        if mode == "html":
            try:
                parsed = parse_html(text)
            except EntityParseError as exc:
                raise bad(f"can't parse entities: {exc}") from None
        elif mode:
            self.unexpected.append(f"parse_mode {mode!r}: this fake only speaks HTML")
            raise bad(f"unsupported parse_mode {mode!r}")
        else:
            parsed = Parsed(text, _json(params, entities_field) or [])
        return strip_entities(parsed)

    def _markup(self, params: dict) -> dict | None:
        markup = _json(params, "reply_markup")
        for row in (markup or {}).get("inline_keyboard", []):
            for button in row:
                if not button.get("text"):
                    raise bad("text buttons are unallowed in the inline keyboard")
                data = button.get("callback_data")
                if data is not None and not 1 <= len(data.encode()) <= 64:
                    raise bad("BUTTON_DATA_INVALID")
        return markup

    def _reply_fields(self, message: dict, params: dict) -> None:
        _set(message, "reply_markup", self._markup(params))
        reply = _json(params, "reply_parameters") or {}
        if "message_id" in reply:
            target = self.messages.get((message["chat"]["id"], reply["message_id"]))
            if target is not None:
                message["reply_to_message"] = self._quoted(message["chat"]["id"], reply["message_id"])
            elif not reply.get("allow_sending_without_reply"):
                raise bad("message to be replied not found")
        if "message_thread_id" in params:
            message["message_thread_id"] = _int(params, "message_thread_id")
            if message["chat"].get("is_forum"):
                message["is_topic_message"] = True

    def _new_message(self, chat: dict, sender: dict, text: str, entities: list[dict]) -> dict:
        message = self._store_message(chat, sender, text=text)
        _set(message, "entities", entities)
        return message

    def _store_message(self, chat: dict, sender: dict, **content: Any) -> dict:
        """A new message in `chat` with the next id there; `content` is its text, document, caption…"""
        ids = self._ids.setdefault(chat["id"], itertools.count(1))
        message = {"message_id": next(ids), "date": int(time.time()), "chat": chat, "from": sender, **content}
        self.messages[(chat["id"], message["message_id"])] = message
        return message

    def _quoted(self, chat_id: int, message_id: int) -> dict:
        target = self.messages.get((chat_id, message_id))
        assert target is not None, f"tests reply to a message that does not exist: {message_id}"
        return {k: copy.deepcopy(v) for k, v in target.items() if k != "reply_to_message"}


def _entity(kind: str, text: str, match: re.Match[str]) -> dict:
    return {"type": kind, "offset": utf16(text[: match.start()]), "length": utf16(match.group(0))}


def _set(message: dict, key: str, value: Any) -> None:
    if value:
        message[key] = value
    else:
        message.pop(key, None)


def _str(params: dict, name: str) -> str:
    value = params.get(name)
    if value in (None, ""):
        raise bad(f"{name} is empty")
    return str(value)


def _int(params: dict, name: str, *, required: bool = True) -> int | None:
    value = params.get(name)
    if value in (None, ""):
        if required:
            raise bad(f"{name} is empty")
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise bad(f"invalid {name} specified") from None


def _json(params: dict, name: str) -> Any:
    value = params.get(name)
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        raise bad(f"can't parse {name} JSON object") from None
