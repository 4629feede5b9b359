"""The gauges read at scrape time follow /ready exactly: a platform that drops its connection, a model that stops
answering. One set of checks answers both, so a dashboard never disagrees with the probe."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp.test_utils import TestClient

from nono.core.errors import ModelUnavailable
from nono.core.llm.fake import FakeLLM
from tests.adapters.http.helpers import StubPart, metric_value, scrape


async def ready_status(client: TestClient) -> int:
    return (await client.get("/ready")).status


async def test_a_platform_that_drops_shows_as_disconnected_and_not_ready(client_with: Callable[..., Any]) -> None:
    telegram_up = [True]
    parts = (StubPart("discord", lambda: True), StubPart("telegram", lambda: telegram_up[0]))
    client = await client_with(parts=parts)
    text = await scrape(client)
    assert metric_value(text, "nono_platform_connected", platform="discord") == 1
    assert metric_value(text, "nono_platform_connected", platform="telegram") == 1
    assert metric_value(text, "nono_ready") == 1 and await ready_status(client) == 200

    telegram_up[0] = False
    text = await scrape(client)
    assert metric_value(text, "nono_platform_connected", platform="telegram") == 0
    assert metric_value(text, "nono_platform_connected", platform="discord") == 1
    assert metric_value(text, "nono_ready") == 0 and await ready_status(client) == 503

    telegram_up[0] = True
    assert metric_value(await scrape(client), "nono_ready") == 1


async def test_a_model_that_stops_answering_is_down_and_the_process_not_ready(
    client: TestClient, fake_llm: FakeLLM
) -> None:
    fake_llm.health_error = ModelUnavailable()
    text = await scrape(client)
    assert metric_value(text, "nono_llm_up", backend="fake") == 0
    assert metric_value(text, "nono_ready") == 0 and await ready_status(client) == 503
    assert "nono_platform_connected{" not in text, "a process without platforms reports none"

    fake_llm.health_error = None
    text = await scrape(client)
    assert metric_value(text, "nono_llm_up", backend="fake") == 1 and metric_value(text, "nono_ready") == 1
