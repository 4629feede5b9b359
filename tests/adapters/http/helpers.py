"""Helpers for the sidecar tests: isolated Settings, Services over a given store, reading metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families

from nono.bot.services import Services, chat_limits
from nono.bot.settings import Settings
from nono.core.chat import ChatService
from nono.core.personas import PersonaRegistry

TOKEN = "test-admin-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def make_settings(tmp_path: Path, **values: Any) -> Settings:
    """Settings isolated from the environment and any .env file."""
    values.setdefault("admin_token", TOKEN)
    values.setdefault("data_dir", tmp_path / "data")
    values.setdefault("personas_dir", tmp_path / "personas")
    return Settings(_env_file=None, **values)


def make_services(settings: Settings, store: Any, llm: Any) -> Services:
    registry = PersonaRegistry.from_directory(settings.personas_dir, settings.default_persona)
    chat = ChatService(store, llm, registry, chat_limits(settings))
    return Services(settings, store, llm, registry, chat)


def metric_value(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text (0 when the labelled series does not exist yet)."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return 0.0


async def scrape(client: TestClient) -> str:
    response = await client.get("/metrics", headers=AUTH)
    assert response.status == 200
    return await response.text()
