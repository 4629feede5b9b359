"""/metrics as `nono run` serves it: the runner's wiring, the real Telegram adapter on the loopback Bot API, the
sidecar on a real port. After one Telegram turn that met a flood wait, every metric the Grafana dashboard and the
Prometheus alerts name is on the page, and the new series say what happened."""

from __future__ import annotations

import json
import re
from contextlib import AsyncExitStack
from pathlib import Path

import aiohttp
import yaml
from prometheus_client.parser import text_string_to_metric_families

from nono.bot.runner import start_parts
from nono.bot.services import open_services
from nono.core.llm.fake import FakeLLM
from tests.adapters.http.helpers import AUTH, TOKEN, metric_value
from tests.fakes.telegram_server import FakeTelegram
from tests.support.settings import ROOT, make_settings
from tests.support.telegram import ALICE, telegram_values

DASHBOARD = ROOT / "deploy" / "grafana" / "nono.json"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
#: Metric names in PromQL: ours and the process collector's (label names and functions never start so).
METRIC_NAME = re.compile(r"\b(?:nono|process)_[a-z0-9_]+")
#: Series Prometheus makes itself for every target: never on /metrics.
SCRAPE_SERIES = {"up"}


def dashboard_queries() -> list[str]:
    return [target["expr"] for panel in json.loads(DASHBOARD.read_text())["panels"] for target in panel["targets"]]


def alert_queries() -> list[str]:
    rules = yaml.safe_load(ALERTS.read_text())
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


def named_metrics(queries: list[str]) -> set[str]:
    return {name for query in queries for name in METRIC_NAME.findall(query)}


def served(text: str) -> set[str]:
    """Every sample name on the page (a histogram serves its _bucket, _count and _sum)."""
    return {sample.name for family in text_string_to_metric_families(text) for sample in family.samples}


async def scrape(url: str) -> str:
    async with aiohttp.ClientSession() as http, http.get(f"{url}/metrics", headers=AUTH) as response:
        assert response.status == 200
        return await response.text()


def test_the_dashboard_and_the_alerts_name_the_metrics_they_are_about() -> None:
    # Guards the extraction below: a query written without these names would make the next test vacuous.
    assert {"nono_turns_total", "nono_platform_rate_limited_total", "nono_llm_queue_depth"} <= named_metrics(
        dashboard_queries()
    )
    assert {"nono_ready", "nono_store_up", "nono_llm_up", "nono_errors_total"} <= named_metrics(alert_queries())


async def test_after_a_telegram_turn_every_metric_named_in_the_dashboard_and_alerts_is_served(
    tg: FakeTelegram, fake_llm: FakeLLM, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, **telegram_values(tg), admin_token=TOKEN, sidecar_port=0)
    tg.inject("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
    fake_llm.enqueue(["Hello", " there"])
    async with open_services(settings, llm=fake_llm) as services, AsyncExitStack() as stack:
        sidecar, telegram = await start_parts(services, stack)
        before = await scrape(sidecar.url)
        tg.say(tg.users[ALICE], tg.chats[ALICE], "hi")
        await tg.wait_for(lambda: tg.shown(ALICE) == ["Hello there"])
        text = await scrape(sidecar.url)

    missing = named_metrics(dashboard_queries() + alert_queries()) - SCRAPE_SERIES - served(text)
    assert not missing, f"named in deploy/ but not served: {sorted(missing)}"
    # Series exist before their first event, at 0: dashboards and alerts see a line, not "no data".
    for name, labels in [
        ("nono_turns_total", {"platform": "telegram", "outcome": "ok"}),
        ("nono_turns_total", {"platform": "discord", "outcome": "error"}),
        ("nono_errors_total", {"kind": "model_unavailable"}),
        ("nono_platform_rate_limited_total", {"platform": "telegram"}),
        ("nono_platform_rate_limited_total", {"platform": "discord"}),
    ]:
        assert any(s.name == name and s.labels == labels for f in text_string_to_metric_families(before)
                   for s in f.samples), (name, labels)  # fmt: skip
    assert metric_value(before, "nono_turns_total", platform="telegram", outcome="ok") == 0

    assert metric_value(text, "nono_turns_total", platform="telegram", outcome="ok") == 1
    assert metric_value(text, "nono_reply_latency_seconds_count", platform="telegram", outcome="ok") == 1
    assert metric_value(text, "nono_time_to_first_token_seconds_count", platform="telegram", outcome="ok") == 1
    assert metric_value(text, "nono_platform_rate_limited_total", platform="telegram") == 1
    assert metric_value(text, "nono_platform_rate_limited_total", platform="discord") == 0
    assert metric_value(text, "nono_platform_connected", platform="telegram") == 1
    assert metric_value(text, "nono_ready") == 1
    assert metric_value(text, "nono_store_up") == 1
    assert metric_value(text, "process_resident_memory_bytes") > 0
    assert "_created" not in text
    assert telegram.name == "telegram"
