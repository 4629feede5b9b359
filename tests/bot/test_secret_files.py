"""NAME_FILE: every secret setting can come from a file (Docker and Kubernetes secrets), never shown when wrong."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from nono.bot.cli import describe_settings_error, main
from nono.bot.logging_setup import secret_values
from nono.bot.secret_files import MAX_SECRET_BYTES, file_setting_names
from nono.bot.settings import Settings

SECRET = "s3cret-from-a-file-do-not-leak"
#: A valid value of each secret setting, made of SECRET.
VALUES = {
    "DISCORD_TOKEN": SECRET,
    "TELEGRAM_TOKEN": SECRET,
    "ADMIN_TOKEN": SECRET,
    "REDIS_URL": f"redis://:{SECRET}@cache:6380/1",
    "TELEGRAM_WEBHOOK_SECRET": SECRET,
    "OPENAI_API_KEY": SECRET,
    "OPENAI_HEADERS": f'{{"X-Api-Key": "{SECRET}"}}',
}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.upper() in VALUES or name.upper().endswith("_FILE") or name.upper().startswith("TELEGRAM_WEBHOOK"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no stray .env


def secret_file(tmp_path: Path, text: str | bytes, name: str = "secret") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def settings_error(capsys: pytest.CaptureFixture[str]) -> str:
    """What `nono` prints when the settings are invalid (it exits with 2)."""
    assert main(["personas", "check"]) == 2
    return capsys.readouterr().err


def test_every_secret_setting_has_a_file_variant() -> None:
    assert set(file_setting_names(Settings)) == {f"{name}_FILE" for name in VALUES}


@pytest.mark.parametrize("name", sorted(VALUES))
def test_each_secret_is_read_from_its_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str) -> None:
    monkeypatch.setenv(f"{name}_FILE", str(secret_file(tmp_path, VALUES[name] + "\n")))
    settings = Settings()
    assert getattr(settings, name.lower()).get_secret_value() == VALUES[name]
    assert SECRET in secret_values(settings), "a secret from a file is redacted from logs like any other"


def test_the_file_value_is_used_where_the_setting_is(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("REDIS_URL_FILE", str(secret_file(tmp_path, VALUES["REDIS_URL"])))
    assert Settings().redis_dsn == VALUES["REDIS_URL"]


@pytest.mark.parametrize("ending", ["\n", "\r\n", "\n\n"])
def test_only_the_trailing_newline_is_stripped(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, ending: str) -> None:
    monkeypatch.setenv("ADMIN_TOKEN_FILE", str(secret_file(tmp_path, f" two words {ending}")))
    token = Settings().admin_token
    assert token is not None and token.get_secret_value() == " two words "


def test_the_file_variable_may_be_in_dot_env(tmp_path: Path) -> None:
    path = secret_file(tmp_path, SECRET)
    (tmp_path / ".env").write_text(f"TELEGRAM_TOKEN_FILE={path}\n")
    token = Settings().telegram_token
    assert token is not None and token.get_secret_value() == SECRET


def test_the_environment_wins_over_dot_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(f"TELEGRAM_TOKEN_FILE={tmp_path / 'missing'}\n")
    monkeypatch.setenv("telegram_token_file", str(secret_file(tmp_path, SECRET)))  # any case, like every setting
    token = Settings().telegram_token
    assert token is not None and token.get_secret_value() == SECRET


def test_an_empty_setting_does_not_conflict(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # `DISCORD_TOKEN=` left in a .env while the container sets DISCORD_TOKEN_FILE.
    (tmp_path / ".env").write_text("DISCORD_TOKEN=\nADMIN_TOKEN_FILE=\n")
    monkeypatch.setenv("DISCORD_TOKEN_FILE", str(secret_file(tmp_path, SECRET)))
    settings = Settings()
    assert settings.discord_token is not None and settings.discord_token.get_secret_value() == SECRET
    assert settings.admin_token is None


def test_both_set_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ADMIN_TOKEN", "typed-in-the-environment")
    monkeypatch.setenv("ADMIN_TOKEN_FILE", str(secret_file(tmp_path, SECRET)))
    err = settings_error(capsys)
    assert "ADMIN_TOKEN_FILE: ADMIN_TOKEN is set too: set either ADMIN_TOKEN or ADMIN_TOKEN_FILE" in err
    assert SECRET not in err and "typed-in-the-environment" not in err


@pytest.mark.parametrize(
    "content, problem",
    [
        (None, "cannot read {path}: No such file or directory"),
        ("dir", "cannot read {path}: Is a directory"),
        ("", "{path} is empty"),
        ("\n", "{path} is empty"),
        (b"\xff\xfe" + SECRET.encode(), "{path} is not UTF-8 text"),
        (SECRET * (MAX_SECRET_BYTES // len(SECRET) + 1), "{path} is larger than 64 KiB; is it the right file?"),
    ],
    ids=["missing", "directory", "empty", "newline-only", "not-utf8", "too-large"],
)
def test_an_unusable_file_is_a_configuration_error_naming_it(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: str | bytes | None,
    problem: str,
) -> None:
    path = tmp_path / "token"
    if content == "dir":
        path.mkdir()
    elif content is not None:
        secret_file(tmp_path, content, "token")
    monkeypatch.setenv("TELEGRAM_TOKEN_FILE", str(path))
    err = settings_error(capsys)
    assert f"  TELEGRAM_TOKEN_FILE: {problem.format(path=path)}\n" in err
    assert SECRET not in err


def test_every_bad_file_is_reported_at_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DISCORD_TOKEN_FILE", str(tmp_path / "a"))
    monkeypatch.setenv("OPENAI_API_KEY_FILE", str(tmp_path / "b"))
    err = settings_error(capsys)
    assert "DISCORD_TOKEN_FILE: cannot read" in err and "OPENAI_API_KEY_FILE: cannot read" in err


def test_what_a_file_holds_never_shows_in_an_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Read files next to a bad one, or a later check failing: no error text quotes a value that was read."""
    monkeypatch.setenv("TELEGRAM_TOKEN_FILE", str(secret_file(tmp_path, SECRET, "telegram")))
    monkeypatch.setenv("OPENAI_HEADERS_FILE", str(secret_file(tmp_path, VALUES["OPENAI_HEADERS"], "headers")))
    monkeypatch.setenv("DISCORD_TOKEN_FILE", str(tmp_path / "missing"))
    with pytest.raises(ValidationError) as bad_file:
        Settings()
    monkeypatch.delenv("DISCORD_TOKEN_FILE")
    monkeypatch.setenv("TELEGRAM_WEBHOOK_URL", "https://bot.example.org/telegram/webhook")  # without its secret
    with pytest.raises(ValidationError) as later_check:
        Settings()
    monkeypatch.setenv("OPENAI_HEADERS_FILE", str(secret_file(tmp_path, f"not json {SECRET}", "headers")))
    with pytest.raises(ValidationError) as bad_value:
        Settings()
    for info in (bad_file, later_check, bad_value):
        for text in (str(info.value), repr(info.value), describe_settings_error(info.value)):
            assert SECRET not in text
    assert "TELEGRAM_WEBHOOK_SECRET is required" in describe_settings_error(later_check.value)
    assert "OPENAI_HEADERS must be a JSON object" in describe_settings_error(bad_value.value)
