"""At start-up: one log line with the effective configuration (secrets redacted), and a warning for each
environment variable that looks like a misspelt Nono setting (`TELEGRAM_TOKNE`), which would otherwise be
ignored without a word."""

from __future__ import annotations

import difflib
import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from dotenv import dotenv_values
from pydantic import AliasChoices, SecretStr

from nono.bot.logging_setup import REDACTED
from nono.bot.secret_files import SUFFIX as FILE_SUFFIX
from nono.bot.secret_files import secret_fields
from nono.bot.settings import Settings

log = logging.getLogger(__name__)

#: How alike a name must be to a setting's to count as a misspelling of it (difflib's ratio). Typos
#: score 0.89-0.96 (`LLM_BACKED`, `LOG_LEVLE`); other programs' variables stay below 0.8
#: (`REDIS_SERVICE_HOST`, `OLLAMA_MODELS`, `HOSTNAME`).
NEAR_MISS = 0.85
#: The Ollama server's own variables, found next to Nono's OLLAMA_* settings in a shared environment
#: (`OLLAMA_MODELS`, its model directory, is one letter away from OLLAMA_MODEL).
OLLAMA_SERVER = frozenset({
    "OLLAMA_MODELS", "OLLAMA_DEBUG", "OLLAMA_ORIGINS", "OLLAMA_NUM_PARALLEL", "OLLAMA_MAX_LOADED_MODELS",
    "OLLAMA_MAX_QUEUE", "OLLAMA_FLASH_ATTENTION", "OLLAMA_KV_CACHE_TYPE", "OLLAMA_CONTEXT_LENGTH",
    "OLLAMA_LOAD_TIMEOUT", "OLLAMA_NOPRUNE", "OLLAMA_SCHED_SPREAD", "OLLAMA_TMPDIR", "OLLAMA_GPU_OVERHEAD",
})  # fmt: skip


def report_configuration(settings: Settings, environ: Mapping[str, str] | None = None) -> None:
    """Log the effective configuration, then a warning for every variable that looks like a misspelt setting."""
    log.info("configuration", extra={"settings": effective_configuration(settings)})
    names = list(os.environ if environ is None else environ)
    env_file = settings.model_config.get("env_file")
    if isinstance(env_file, str | Path) and Path(env_file).is_file():
        names += [name for name in dotenv_values(env_file) if name]
    for name, hint in sorted(unknown_settings(names).items()):
        log.warning("setting_unknown", extra={"variable": name, "hint": hint})


def effective_configuration(settings: Settings) -> dict[str, Any]:
    """Every setting by its environment name, as Nono reads it; a secret shows only whether it is set
    (a URL keeps its host and port, its password redacted)."""
    found: dict[str, Any] = {}
    for name in type(settings).model_fields:
        found[name.upper()] = _shown(getattr(settings, name))
    return found


def _shown(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return _redacted_url(value.get_secret_value()) or REDACTED
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, frozenset | set | tuple):
        return sorted(value) if isinstance(value, frozenset | set) else list(value)
    return value


def _redacted_url(text: str) -> str | None:
    """`text` with its password replaced, when it is a URL; None when it is not one."""
    if "://" not in text:
        return None
    try:
        parts = urlsplit(text)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return None
    if parts.password is None and parts.username is None:
        return text
    netloc = f"{parts.username or ''}:{REDACTED}@{host}" + (f":{port}" if port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def setting_names() -> tuple[set[str], set[str]]:
    """Every environment name a setting is read from, and those of the secret settings (which take NAME_FILE)."""
    names, secrets = set(), set()
    secret = set(secret_fields(Settings))
    for name, field in Settings.model_fields.items():
        aliases = field.validation_alias.choices if isinstance(field.validation_alias, AliasChoices) else []
        own = {name.upper(), *(str(alias).upper() for alias in aliases)}
        names |= own
        if name in secret:
            secrets |= own
    return names, secrets


def unknown_settings(variables: Iterable[str]) -> dict[str, str]:
    """Variables that look like a setting but are none, each with a hint (the setting meant, most likely)."""
    known, secrets = setting_names()
    found = {}
    for variable in variables:
        name = variable.upper()
        if name in known or name in OLLAMA_SERVER:
            continue
        if name.endswith(FILE_SUFFIX) and (base := name.removesuffix(FILE_SUFFIX)) in known:
            if base not in secrets:
                found[variable] = f"only secret settings are read from a file; set {base} itself"
            continue
        base = name.removesuffix(FILE_SUFFIX)
        candidates = secrets if base != name else known
        match = difflib.get_close_matches(base, candidates, n=1, cutoff=NEAR_MISS)
        if match:
            meant = match[0] + (FILE_SUFFIX if base != name else "")
            found[variable] = f"not a Nono setting, and ignored: did you mean {meant}?"
    return found
