"""Settings: read once from the environment (and `.env`), validated, then passed down as plain values."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from nono.bot.secret_files import read_secret_files
from nono.core.persona_files import PERSONA_MAX_BYTES

IdList = Annotated[list[int], NoDecode]
Backend = Literal["local", "ollama", "openai"]
BackendList = Annotated[list[Backend], NoDecode]


def _split_ids(value: object) -> object:
    """Accept `1,2, 3` (the .env way) as well as a list."""
    if isinstance(value, str):
        return [int(part) for part in value.replace(" ", "").split(",") if part]
    return value


def parse_headers(text: str) -> dict[str, str]:
    """OPENAI_HEADERS: a JSON object of header names to string values."""
    try:
        value = json.loads(text)
    except ValueError:
        raise ValueError("OPENAI_HEADERS must be a JSON object of header names to values") from None
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ValueError("OPENAI_HEADERS must be a JSON object of header names to string values")
    return value


class Settings(BaseSettings):
    """Every knob Nono has; each is documented in `.env.example`."""

    # hide_input_in_errors: a ValidationError's text would otherwise quote every setting, secrets included.
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True, hide_input_in_errors=True
    )

    # storage
    store: Literal["sqlite", "redis"] = "sqlite"
    data_dir: Path = Path("data")
    redis_url: SecretStr | None = None
    redis_host: str = "localhost"
    redis_port: int = Field(default=6379, ge=1, le=65535)
    key_prefix: str = Field(default="nono:", max_length=64, pattern=r"^[A-Za-z0-9_:.-]*$")
    session_timeout: float = Field(default=3600, gt=0)
    history_ttl: float | None = Field(default=None, gt=0)
    redis_cluster: bool = False
    lock_lease: float = Field(default=30, ge=0.5, le=3600)

    # model
    llm_backend: Backend = "local"
    llm_backends: BackendList = []
    llm_fallback: BackendList = []
    ollama_host: str = "http://localhost:11434"
    model_name: str = Field(default="smollm2:135m", min_length=1)
    ollama_model: str | None = Field(default=None, min_length=1)
    openai_base_url: str = "https://api.openai.com/v1"
    openai_api_key: SecretStr | None = None
    openai_model: str | None = Field(default=None, min_length=1)
    openai_headers: SecretStr | None = None  # JSON object; may carry credentials
    model_path: Path | None = None
    num_ctx: int = Field(default=2048, ge=256, le=131072)
    llm_timeout: float = Field(default=60, gt=0)
    llm_threads: int | None = Field(default=None, ge=1, le=256)
    llm_gpu_layers: int = Field(default=0, ge=-1)
    llm_max_queue: int = Field(default=32, ge=1)
    ollama_keep_alive: str = "5m"

    # conversation
    personas_dir: Path = Path("personas")
    default_persona: str = Field(default="assistant", pattern=r"^[a-z0-9_-]{1,32}$")
    persona_max_bytes: int = Field(default=PERSONA_MAX_BYTES, ge=1)
    max_context_messages: int = Field(default=20, ge=1, le=1000)
    max_message_chars: int = Field(default=4000, ge=1, le=100_000)
    max_reply_chars: int = Field(default=16000, ge=100, le=1_000_000)
    rate_limit_per_minute: int = Field(default=20, ge=0)
    max_pending_per_user: int = Field(default=5, ge=0)
    stream_edit_interval: float = Field(default=1.0, ge=0.2, le=60)
    turn_lease: float = Field(default=30, ge=0.5, le=3600)

    # long-term memory
    memory_summary: bool = True  # on|off
    memory_summary_tokens: int = Field(default=256, ge=16, le=4096)
    memory_facts_tokens: int = Field(default=256, ge=16, le=4096)
    memory_max_facts: int = Field(default=50, ge=1, le=1000)

    # sidecar
    sidecar_host: str = Field(default="127.0.0.1", validation_alias=AliasChoices("SIDECAR_HOST", "FASTAPI_HOST"))
    sidecar_port: int = Field(
        default=8080, ge=0, le=65535, validation_alias=AliasChoices("SIDECAR_PORT", "FASTAPI_PORT")
    )
    admin_token: SecretStr | None = None
    metrics_public: bool = False
    shutdown_grace: float = Field(default=10, ge=0)
    sidecar_read_timeout: float = Field(default=75, gt=0, le=3600)
    sidecar_reuse_port: bool = False

    # discord
    discord_token: SecretStr | None = None
    discord_shard_count: int | None = Field(default=None, ge=1, le=10_000)
    discord_shard_ids: IdList = []
    discord_channels: IdList = []
    discord_guild_ids: IdList = []
    discord_memory_scope: Literal["person", "channel", "user"] = "person"
    discord_reply_chain_depth: int = Field(default=5, ge=0, le=25)
    discord_allowed_guilds: IdList = []
    discord_allowed_roles: IdList = []
    discord_allowed_users: IdList = []

    # telegram
    telegram_token: SecretStr | None = None
    telegram_base_url: str = "https://api.telegram.org/bot"
    telegram_memory_scope: Literal["person", "chat", "user"] = "person"
    telegram_global_rate: float = Field(default=30.0, ge=0)
    telegram_webhook_url: str | None = None
    telegram_webhook_secret: SecretStr | None = None
    telegram_allowed_users: IdList = []
    telegram_allowed_chats: IdList = []

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_message_text: bool = False  # what people write and the replies, in the log (any level)

    _split = field_validator(
        "discord_channels",
        "discord_guild_ids",
        "discord_shard_ids",
        "discord_allowed_guilds",
        "discord_allowed_roles",
        "discord_allowed_users",
        "telegram_allowed_users",
        "telegram_allowed_chats",
        mode="before",
    )(_split_ids)

    @field_validator("llm_backends", "llm_fallback", mode="before")
    @classmethod
    def _split_names(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip().lower() for part in value.split(",") if part.strip()]
        return value

    @field_validator("openai_headers")
    @classmethod
    def _headers_json(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            parse_headers(value.get_secret_value())  # the message names the setting, never its value
        return value

    @model_validator(mode="before")
    @classmethod
    def _secret_files(cls, data: object) -> object:
        return read_secret_files(cls, data)  # DISCORD_TOKEN_FILE=/run/secrets/… and the like

    @model_validator(mode="after")
    def _backends_known(self) -> Settings:
        names = self.backend_names
        if self.llm_backends and self.llm_backend not in names:
            raise ValueError(f"LLM_BACKEND={self.llm_backend} must be one of LLM_BACKENDS ({', '.join(names)})")
        if twice := sorted({n for n in self.llm_backends if self.llm_backends.count(n) > 1}):
            raise ValueError(f"LLM_BACKENDS: {', '.join(twice)} listed more than once")
        if missing := [n for n in self.llm_fallback if n not in names]:
            raise ValueError(f"LLM_FALLBACK: {', '.join(missing)} not in LLM_BACKENDS ({', '.join(names)})")
        if "openai" in names and self.llm_backend != "openai" and self.openai_model is None:
            raise ValueError("OPENAI_MODEL is required when openai is one of LLM_BACKENDS but not LLM_BACKEND")
        return self

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _webhook_needs_secret(self) -> Settings:
        if self.telegram_webhook_url and not self.telegram_webhook_secret:
            raise ValueError("TELEGRAM_WEBHOOK_SECRET is required when TELEGRAM_WEBHOOK_URL is set")
        return self

    @model_validator(mode="after")
    def _webhook_needs_admin_token(self) -> Settings:
        # Telegram reaches the sidecar through a public reverse proxy, which would serve the admin API too.
        if self.telegram_webhook_url and not (self.admin_token and self.admin_token.get_secret_value().strip()):
            raise ValueError("ADMIN_TOKEN is required when TELEGRAM_WEBHOOK_URL is set")
        return self

    @model_validator(mode="after")
    def _shards_fit_the_count(self) -> Settings:
        # Caught here, at start-up: discord.py would fail only while connecting, or open a listed shard twice.
        ids = self.discord_shard_ids
        if not ids:
            return self
        if self.discord_shard_count is None:
            raise ValueError("DISCORD_SHARD_IDS needs DISCORD_SHARD_COUNT (the total number of shards of the bot)")
        count = self.discord_shard_count
        if outside := sorted({i for i in ids if not 0 <= i < count}):
            shown = ", ".join(map(str, outside))
            raise ValueError(f"DISCORD_SHARD_IDS: {shown} not in 0..{count - 1} (DISCORD_SHARD_COUNT={count})")
        if twice := sorted({i for i in ids if ids.count(i) > 1}):
            raise ValueError(f"DISCORD_SHARD_IDS: {', '.join(map(str, twice))} listed more than once")
        return self

    def warnings(self) -> list[str]:
        """Settings that still work but mean something else now; logged at start-up."""
        found = []
        for name, shared in (("DISCORD_MEMORY_SCOPE", "channel"), ("TELEGRAM_MEMORY_SCOPE", "chat")):
            if getattr(self, name.lower()) == "user":
                found.append(
                    f"{name}=user is read as {name}=person: each person has their own conversation in every "
                    f"{shared} (and their private chat with the bot is separate from all of them). Set {name}=person "
                    f"to keep this, or {name}={shared} for one conversation everyone in a {shared} shares."
                )
        return found

    @property
    def backend_names(self) -> list[str]:
        """The backends to start: LLM_BACKENDS, or LLM_BACKEND alone."""
        return list(self.llm_backends) or [self.llm_backend]

    def model_for(self, backend: str) -> str:
        """A backend's model: its own setting, else MODEL_NAME when it is the default backend."""
        own = {"ollama": self.ollama_model, "openai": self.openai_model}.get(backend)
        if own is not None:
            return own
        if backend == "local":
            return self.model_path.name if self.model_path is not None else "bundled SmolLM2"
        return self.model_name  # the default backend's (MODEL_NAME), or Ollama's default when it is not

    @property
    def redis_dsn(self) -> str:
        """REDIS_URL when set, else one built from REDIS_HOST and REDIS_PORT."""
        if self.redis_url is not None:
            return self.redis_url.get_secret_value()
        return f"redis://{self.redis_host}:{self.redis_port}/0"

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "nono.sqlite3"
