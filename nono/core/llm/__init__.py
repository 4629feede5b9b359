"""The LLM seam; the backends (the embedded model, Ollama) are built by the wiring, by name."""

from __future__ import annotations

from nono.core.llm.base import LLM, ChatMessage, GenerationOptions, estimate_tokens

__all__ = ["LLM", "ChatMessage", "GenerationOptions", "estimate_tokens"]
