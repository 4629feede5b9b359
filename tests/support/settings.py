"""The one way tests build Settings: isolated from the environment and any `.env` file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nono.bot.settings import Settings

ROOT = Path(__file__).resolve().parent.parent.parent


def make_settings(tmp_path: Path | None = None, **values: Any) -> Settings:
    """Settings from `values` only; data under `tmp_path` when given, the shipped personas unless told otherwise."""
    if tmp_path is not None:
        values.setdefault("data_dir", tmp_path / "data")
    values.setdefault("personas_dir", ROOT / "personas")
    return Settings(_env_file=None, **values)
