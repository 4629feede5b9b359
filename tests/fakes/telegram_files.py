"""File uploads for the loopback Bot API: sendDocument over multipart/form-data, as Telegram takes it.

A bot uploads a new file as a `multipart/form-data` request whose `document` part carries the
file name, type and bytes, beside plain fields (`chat_id`, `caption`…). The fake keeps every
upload (`uploads`, by file_id) so tests read what the person received; like Telegram it refuses
an upload over the bots' 50 MB limit with 413 "Request Entity Too Large", an empty file, and a
caption over 1,024 characters.
"""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass
from typing import Any

from tests.fakes.telegram_html import utf16
from tests.fakes.telegram_methods import ApiError, BotApiMethods, bad

#: The largest file a bot may upload through the Bot API: 50 MB.
UPLOAD_LIMIT = 50 * 1024 * 1024
TOO_LARGE = "Request Entity Too Large"
CAPTION_LIMIT = 1024


@dataclass(frozen=True)
class Upload:
    """A file part of a multipart request, as the server received it."""

    filename: str
    content_type: str
    data: bytes


class FileMethods(BotApiMethods):
    """sendDocument and the uploads it received."""

    def __init__(self, upload_limit: int = UPLOAD_LIMIT) -> None:
        super().__init__()
        self.upload_limit = upload_limit
        self.uploads: dict[str, Upload] = {}  # file_id -> the file as uploaded
        self._file_ids = itertools.count(1)

    def documents(self, chat_id: int) -> list[tuple[dict[str, Any], Upload]]:
        """The files the bot sent to a chat, oldest first: each Message and the upload it carries."""
        messages = [m for (c, _), m in sorted(self.messages.items()) if c == chat_id and "document" in m]
        return [(m, self.uploads[m["document"]["file_id"]]) for m in messages if m["from"] == self.bot]

    async def api_sendDocument(self, params: dict) -> dict:
        chat = self._chat(params)
        document = params.get("document")
        if isinstance(document, str) and document:
            self.unexpected.append("sendDocument with a file_id or URL: this fake only takes uploads")
            raise bad("wrong remote file identifier specified")
        if not isinstance(document, Upload):
            raise bad("there is no document in the request")
        if not document.data:
            raise bad("file must be non-empty")
        if len(document.data) > self.upload_limit:
            raise ApiError(413, TOO_LARGE)
        caption = self._formatted(params, "caption", "caption_entities")
        if utf16(caption.text) > CAPTION_LIMIT:
            raise bad("message caption is too long")
        number = next(self._file_ids)
        file_id, unique_id = f"BQACAgIAAxkDAAI{number:08d}", f"AgAD{number:06d}"
        self.uploads[file_id] = document
        sent = {
            "file_id": file_id,
            "file_unique_id": unique_id,
            "file_name": document.filename,
            "mime_type": document.content_type,
            "file_size": len(document.data),
        }
        message = self._store_message(chat, self.bot, document=sent)
        if caption.text:
            message["caption"] = caption.text
        if caption.entities:
            message["caption_entities"] = caption.entities
        self._reply_fields(message, params)
        return copy.deepcopy(message)
