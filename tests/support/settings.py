"""The one way tests build Settings: isolated from the environment and any `.env` file."""

from __future__ import annotations

import shutil
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


def shipped_personas_beside(tmp_path: Path, name: str, text: str) -> Path:
    """A copy of the shipped personas in `tmp_path/personas`, with the file `name` holding `text` right outside it."""
    directory = tmp_path / "personas"
    shutil.copytree(ROOT / "personas", directory)
    (tmp_path / name).write_text(text, encoding="utf-8")
    return directory
