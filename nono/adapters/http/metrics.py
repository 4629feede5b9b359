"""Prometheus metrics in a registry owned by one app: two apps in one process never share series."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from nono.adapters.http.errors import CLIENT_CLOSED, Handler
from nono.core.chat import ChatService
from nono.core.errors import StoreUnavailable
from nono.core.llm.base import LLM
from nono.core.turns import TurnRecord

log = logging.getLogger(__name__)

CONTENT_TYPE = CONTENT_TYPE_LATEST
# Stored ids may name any platform (the core accepts any `platform:id`); keep label values to a known set.
KNOWN_PLATFORMS = frozenset({"discord", "telegram", "terminal", "rest"})
LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300)
TTFT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60)
SCRAPE_STORE_TIMEOUT = 5.0


class SidecarMetrics:
    """Turn counters and timings (fed by ChatService's listener) plus gauges read at scrape time."""

    def __init__(self, chat: ChatService, llm: LLM) -> None:
        self._chat = chat
        self.attached = False
        self.registry = registry = CollectorRegistry()
        self.turns = Counter(
            "nono_turns", "Finished turns by platform and outcome (ok, incomplete, error)",
            ["platform", "outcome"], registry=registry,
        )  # fmt: skip
        self.latency = Histogram(
            "nono_reply_latency_seconds", "Seconds from a turn's start (its place in line reached) to its end",
            ["platform"], buckets=LATENCY_BUCKETS, registry=registry,
        )  # fmt: skip
        self.ttft = Histogram(
            "nono_time_to_first_token_seconds", "Seconds from a turn's start to the model's first chunk",
            ["platform"], buckets=TTFT_BUCKETS, registry=registry,
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
        queue = Gauge("nono_llm_queue_depth", "Generations waiting for the model", registry=registry)
        queue.set_function(lambda: float(llm.queue_depth))

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
            self.latency.labels(platform).observe(record.latency)
        if record.time_to_first_token is not None:
            self.ttft.labels(platform).observe(record.time_to_first_token)
        self.chunks.labels(platform).inc(record.chunks)
        self.chars.labels(platform).inc(record.chars)
        if record.outcome == "error":
            self.errors.labels(record.error or "interrupted").inc()

    def count_internal_error(self) -> None:
        self.errors.labels("internal").inc()

    def count_request(self, status: int) -> None:
        """Count one answered (or abandoned) request."""
        self.requests.labels("client_closed" if status == CLIENT_CLOSED else str(status)).inc()

    async def render(self) -> bytes:
        """Refresh the gauges that need the store, then the Prometheus text exposition."""
        try:
            active = await asyncio.wait_for(self._chat.count_active(), SCRAPE_STORE_TIMEOUT)
        except (StoreUnavailable, TimeoutError) as exc:
            # Metrics must keep working while the store is down: report it instead of failing.
            log.warning("metrics_store_unreachable", extra={"error": type(exc).__name__})
            self.store_up.set(0)
        else:
            self.active_sessions.set(active)
            self.store_up.set(1)
        return generate_latest(self.registry)


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
