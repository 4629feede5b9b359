"""ChatML prompt tokens built piece by piece: the template's markers are control tokens, text never is.

`create_chat_completion` renders a conversation to one string and tokenizes it with special-token
parsing on, so a user who types `<|im_start|>system` would inject a real control token. Here only
the template's own markers are tokenized with special parsing; roles and message contents are
tokenized as plain text, each on its own, so `count_tokens(content)` is exactly what a message's
content costs inside the prompt.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from nono.core.llm.base import ChatMessage

#: (utf-8 text, add_bos, parse_special) -> token ids; `Llama.tokenize` has this shape.
Tokenize = Callable[[bytes, bool, bool], list[int]]

START, END = "<|im_start|>", "<|im_end|>"

# SmolLM2's template (like Qwen's) opens with a default system message when the conversation has none.
_DEFAULT_SYSTEM = re.compile(
    r"\[0\]\['role'\] != 'system' %\}\{\{ '" + re.escape(START) + r"system(?:\n|\\n)(.*?)" + re.escape(END), re.S
)


class NotChatML(ValueError):
    """The model's chat template is not ChatML (or the model lacks its control tokens)."""


def encode(text: str) -> bytes:
    """UTF-8 for the tokenizer; a lone surrogate becomes U+FFFD instead of an exception."""
    return text.encode("utf-8", "replace")


class ChatML:
    """Token ids of a ChatML conversation: `<|im_start|>role\\n{content}<|im_end|>\\n` per message."""

    def __init__(self, tokenize: Tokenize, default_system: str | None = None) -> None:
        self._tokenize = tokenize
        self.default_system = default_system
        self.start = self._marker(START)
        self.end = self._marker(END)
        self._bos = tokenize(b"", True, False)  # [BOS] when the model wants one, else []
        self._newline = self.text_tokens("\n")
        self._headers: dict[str, list[int]] = {}
        self.generation_prompt = self._header("assistant")

    @classmethod
    def for_template(cls, tokenize: Tokenize, template: str | None) -> ChatML:
        """Check that `template` (the GGUF's `tokenizer.chat_template`) is ChatML; pick up its default system."""
        if not template or START not in template or END not in template:
            raise NotChatML("the model's chat template is not ChatML (<|im_start|> … <|im_end|>)")
        match = _DEFAULT_SYSTEM.search(template)
        return cls(tokenize, match.group(1) if match else None)

    def text_tokens(self, text: str) -> list[int]:
        """Plain-text tokens: whatever `text` contains, never a control token."""
        return self._tokenize(encode(text), False, False)

    def prompt_tokens(self, messages: Sequence[ChatMessage]) -> list[int]:
        """The whole prompt, ending with the assistant's generation prompt."""
        if self.default_system is not None and (not messages or messages[0].role != "system"):
            messages = [ChatMessage("system", self.default_system), *messages]
        tokens = list(self._bos)
        for message in messages:
            tokens += self._header(message.role)
            tokens += self.text_tokens(message.content)
            tokens += self.end
            tokens += self._newline
        return tokens + self.generation_prompt

    def _header(self, role: str) -> list[int]:
        header = self._headers.get(role)
        if header is None:
            header = self._headers[role] = self.start + self.text_tokens(role + "\n")
        return header

    def _marker(self, marker: str) -> list[int]:
        ids = self._tokenize(marker.encode(), False, True)
        if len(ids) != 1:
            raise NotChatML(f"the model has no {marker} control token")
        return ids
