"""What a SimCord user sees in answer to a slash command or a button press."""

from __future__ import annotations

from simcord import InteractionResult


def shown(result: InteractionResult) -> str:
    """Everything the invoking user sees in answer to a command."""
    return "\n".join([result.response.content, *(m.content for m in result.followups)])


def button_labels(result: InteractionResult) -> list[str]:
    """The buttons under the command's answer, as they are now."""
    return [c["label"] for row in result.response.components for c in row.get("components", [])]
