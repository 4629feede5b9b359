"""Prometheus metrics in a registry owned by one app: two apps in one process never share series.

Every series whose labels are known in advance exists from the start, at 0, so dashboards and
alerts see a flat line instead of "no data" before the first event. Gauges that need a
dependency (store, models, platforms, readiness) are read at scrape time, with the same checks
as /ready, so the two always agree.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable

import prometheus_client
from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)  # fmt: skip

from nono.adapters.http.errors import CLIENT_CLOSED, Handler
from nono.adapters.http.health import readiness
from nono.adapters.parts import Part
from nono.core.chat import ChatService
from nono.core.errors import StoreUnavailable
from nono.core.turns import TurnRecord

log = logging.getLogger(__name__)

CONTENT_TYPE = CONTENT_TYPE_LATEST
# Stored ids may name any platform (the core accepts any `platform:id`); keep label values to a known set.
KNOWN_PLATFORMS = frozenset({"discord", "telegram", "terminal", "rest"})
#: The chat platforms: a connected gauge while their adapter runs, a 429 counter always.
CHAT_PLATFORMS = ("discord", "telegram")
OUTCOMES = ("ok", "incomplete", "error")
#: Error kinds counted from the start: what a dependency or the sidecar causes (alerts divide by these),
#: and the refusals users meet most. Other codes get their series at their first occurrence.
ERROR_KINDS = (
    "model_unavailable", "store_unavailable", "unavailable", "busy", "rate_limited", "context_overflow",
    "interrupted", "internal",
)  # fmt: skip
LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300)
TTFT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60)
SCRAPE_STORE_TIMEOUT = 5.0


class SidecarMetrics:
    """Turn counters and timings (fed by ChatService's listener) plus gauges read at scrape time."""

    def __init__(self, chat: ChatService) -> None:
        self._chat = chat
        self.attached = False
        # `_created` series double every counter and no dashboard reads them (a process-wide switch).
        prometheus_client.disable_created_metrics()
        self.registry = registry = CollectorRegistry()
        ProcessCollector(registry=registry)  # process_cpu_seconds_total, process_resident_memory_bytes, …
        self.turns = Counter(
            "nono_turns", "Finished turns by platform and outcome (ok, incomplete, error)",
            ["platform", "outcome"], registry=registry,
        )  # fmt: skip
        self.latency = Histogram(
            "nono_reply_latency_seconds", "Seconds from a turn's start (its place in line reached) to its end",
            ["platform", "outcome"], buckets=LATENCY_BUCKETS, registry=registry,
        )  # fmt: skip
        self.ttft = Histogram(
            "nono_time_to_first_token_seconds", "Seconds from a turn's start to the model's first chunk",
            ["platform", "outcome"], buckets=TTFT_BUCKETS, registry=registry,
        )  # fmt: skip
        self.chunks = Counter(
            "nono_reply_chunks", "Streamed reply chunks sent (about one token each)", ["platform"], registry=registry
        )
        self.chars = Counter("nono_reply_chars", "Characters of reply text sent", ["platform"], registry=registry)
        self.errors = Counter(
            "nono_errors", "Errors by kind: a failed turn's error code, or internal (a sidecar bug)",
            ["kind"], registry=registry,
        )  # fmt: skip
        self.requests = Counter(
            "nono_http_requests", "Sidecar requests answered, by status; client_closed: the client hung up "
            "before its request was read (not an error of ours)", ["status"], registry=registry,
        )  # fmt: skip
        self.active_sessions = Gauge(
            "nono_active_sessions", "Sessions active within SESSION_TIMEOUT (read at scrape time)", registry=registry
        )
        self.store_up = Gauge(
            "nono_store_up", "1 when the store answered at the last scrape, else 0", registry=registry
        )
        queue = Gauge("nono_llm_queue_depth", "Generations waiting for a model, over every backend", registry=registry)
        queue.set_function(lambda: float(chat.backends.queue_depth))
        self.llm_up = Gauge(
            "nono_llm_up", "1 when the backend answered its health check at the last scrape, else 0",
            ["backend"], registry=registry,
        )  # fmt: skip
        self.fallbacks = Counter(
            "nono_llm_fallbacks", "Replies a backend failed before its first chunk, answered by the next of "
            "LLM_FALLBACK instead", ["backend"], registry=registry,
        )  # fmt: skip
        self.ready = Gauge(
            "nono_ready", "1 when /ready would answer 200 at the last scrape (store, model, every platform), else 0",
            registry=registry,
        )  # fmt: skip
        self.connected = Gauge(
            "nono_platform_connected", "1 while the platform's adapter is connected and taking updates, else 0 "
            "(only platforms this process runs)", ["platform"], registry=registry,
        )  # fmt: skip
        self.rate_limited = Counter(
            "nono_platform_rate_limited", "429 answers from a platform's API (Telegram flood waits, Discord rate "
            "limits), each waited out and retried", ["platform"], registry=registry,
        )  # fmt: skip
        self._initialise(chat.backends.names)

    def _initialise(self, backends: Iterable[str]) -> None:
        """Create every series whose labels are known now, at 0."""
        for platform in (*KNOWN_PLATFORMS, "other"):
            self.chunks.labels(platform)
            self.chars.labels(platform)
            for outcome in OUTCOMES:
                self.turns.labels(platform, outcome)
        for kind in ERROR_KINDS:
            self.errors.labels(kind)
        for platform in CHAT_PLATFORMS:
            self.rate_limited.labels(platform)
        self.requests.labels("client_closed")
        for name in backends:
            self.fallbacks.labels(name)
            self.llm_up.labels(name)

    def count_rate_limited(self, platform: str) -> Callable[[], None]:
        """What a platform adapter calls on each 429 it waits out (the wiring hands it over)."""
        return self.rate_limited.labels(platform).inc

    def attach(self) -> None:
        """Start counting turns; attaching twice still counts each turn once."""
        if not self.attached:
            self.attached = True
            self._chat.add_listener(self.on_turn)

    def detach(self) -> None:
        """Stop counting turns."""
        if self.attached:
            self.attached = False
            self._chat.remove_listener(self.on_turn)

    def on_turn(self, record: TurnRecord) -> None:
        """Record one finished turn."""
        platform = record.platform if record.platform in KNOWN_PLATFORMS else "other"
        self.turns.labels(platform, record.outcome).inc()
        if record.latency is not None:
            self.latency.labels(platform, record.outcome).observe(record.latency)
        if record.time_to_first_token is not None:
            self.ttft.labels(platform, record.outcome).observe(record.time_to_first_token)
        self.chunks.labels(platform).inc(record.chunks)
        self.chars.labels(platform).inc(record.chars)
        if record.outcome == "error":
            self.errors.labels(record.error or "interrupted").inc()
        for backend in record.fell_back:
            self.fallbacks.labels(backend).inc()

    def count_internal_error(self) -> None:
        self.errors.labels("internal").inc()

    def count_request(self, status: int) -> None:
        """Count one answered (or abandoned) request."""
        self.requests.labels("client_closed" if status == CLIENT_CLOSED else str(status)).inc()

    async def render(self, parts: tuple[Part, ...] = ()) -> bytes:
        """Refresh the gauges read at scrape time (the checks of /ready, over `parts`), then the exposition."""
        (checks, backends), _ = await asyncio.gather(readiness(self._chat, parts), self._refresh_active())
        self.store_up.set(checks["store"] == "ok")
        for name, state in backends.items():
            self.llm_up.labels(name).set(state == "ok")
        for part in parts:
            if part.name in CHAT_PLATFORMS:
                self.connected.labels(part.name).set(checks.get(part.name) == "ok")
        self.ready.set(all(state == "ok" for state in checks.values()))
        return generate_latest(self.registry)

    async def _refresh_active(self) -> None:
        try:
            active = await asyncio.wait_for(self._chat.count_active(), SCRAPE_STORE_TIMEOUT)
        except (StoreUnavailable, TimeoutError) as exc:
            # Metrics keep working while the store is down: nono_store_up says so (the readiness check logs it).
            log.debug("metrics_active_sessions_unread", extra={"error": type(exc).__name__})
        else:
            self.active_sessions.set(active)


def counting_middleware(metrics: SidecarMetrics) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Count every request by the status it was answered with (outside the error middleware: final statuses)."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            response = await handler(request)
        except web.HTTPException as exc:  # redirects: the error middleware turns every error into a response
            metrics.count_request(exc.status)
            raise
        metrics.count_request(response.status)
        return response

    return middleware
