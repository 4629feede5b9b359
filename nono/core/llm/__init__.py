"""LLM backends, picked from a table by name."""

from __future__ import annotations

from nono.core.llm.base import LLM, ChatMessage, GenerationOptions, estimate_tokens

__all__ = ["LLM", "ChatMessage", "GenerationOptions", "estimate_tokens", "LLM_BACKENDS"]

#: name → "module:Class", imported lazily: the local backend needs the optional extra.
LLM_BACKENDS = {
    "local": "nono.core.llm.local_llm:LocalLLM",
    "ollama": "nono.core.llm.ollama_llm:OllamaLLM",
}
