"""`NAME_FILE` for every secret setting: the value is read from a file (Docker and Kubernetes secrets).

`DISCORD_TOKEN_FILE=/run/secrets/discord` means "DISCORD_TOKEN is what that file holds", trailing newline
stripped. Settings hooks `read_secret_files` in as a "before" model validator, so every problem becomes a
ValidationError that the CLI reports like any other setting. Messages name the setting and the path, never
what the file holds.
"""

from __future__ import annotations

import os
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

SUFFIX = "_FILE"
#: A secret is a token, a URL or a few headers; a larger file is a wrong path (a log, a device that never ends).
MAX_SECRET_BYTES = 64 * 1024


def secret_fields(model: type[BaseModel]) -> list[str]:
    """Names of the model's SecretStr fields (`SecretStr` or `SecretStr | None`)."""
    return [name for name, field in model.model_fields.items() if _holds_secret(field.annotation)]


def file_setting_names(model: type[BaseModel]) -> list[str]:
    """The `NAME_FILE` environment variables the model understands, upper case."""
    return [f"{name.upper()}{SUFFIX}" for name in secret_fields(model)]


def _holds_secret(annotation: Any) -> bool:
    if annotation is SecretStr:
        return True
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return SecretStr in typing.get_args(annotation)
    return False


def read_secret_files(model: type[BaseModel], data: Any, environ: Mapping[str, str] | None = None) -> Any:
    """`data` with each secret whose `NAME_FILE` is set read from that file; a ValidationError naming each problem.

    `data` is what the settings sources collected: `.env` entries the model does not know (`name_file`) are
    in it, environment variables are not, so those are looked up in `environ` (`os.environ` by default),
    ignoring case as pydantic-settings does. The environment wins over `.env`, as it does for every setting.
    """
    if not isinstance(data, dict):
        return data
    env = {key.lower(): value for key, value in (os.environ if environ is None else environ).items()}
    values: dict[str, str] = {}
    problems: list[InitErrorDetails] = []
    for name in secret_fields(model):
        setting = f"{name}{SUFFIX}".lower()
        path = env.get(setting) or data.get(setting)
        if not path:
            continue
        if data.get(name) not in (None, ""):
            problem = f"{name.upper()} is set too: set either {name.upper()} or {setting.upper()}"
        else:
            try:
                values[name] = read_secret(Path(path))
                continue
            except ValueError as exc:
                problem = str(exc)
        error = PydanticCustomError("secret_file", "{problem}", {"problem": problem})
        problems.append(InitErrorDetails(type=error, loc=(setting,), input=path))
    if problems:
        # Raised before anything read is added: a failed validation may show its input.
        # pydantic reports a ValidationError raised in a validator as its own errors, each named by its loc.
        raise ValidationError.from_exception_data(model.__name__, problems)
    return {**data, **values}


def read_secret(path: Path) -> str:
    """What the file holds, less its trailing newline; ValueError saying why not (never quoting the file)."""
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_SECRET_BYTES + 1)
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or type(exc).__name__}") from None
    if len(raw) > MAX_SECRET_BYTES:
        raise ValueError(f"{path} is larger than {MAX_SECRET_BYTES // 1024} KiB; is it the right file?")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not UTF-8 text") from None  # the codec's message would quote a byte
    value = text.rstrip("\r\n")
    if not value.strip():
        raise ValueError(f"{path} is empty")
    return value
