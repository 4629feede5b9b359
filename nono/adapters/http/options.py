"""The plain values the HTTP adapter (the sidecar) is configured with, built by the wiring."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from pydantic import SecretStr


@dataclass(frozen=True)
class HttpOptions:
    """Where to listen, who may call the admin API, how long slow clients and a shutdown are given."""

    host: str = "127.0.0.1"
    port: int = 8080
    #: ADMIN_TOKEN; None (or blank) means local callers only, on a loopback bind.
    admin_token: SecretStr | None = None
    #: Serve /metrics without the token (METRICS_PUBLIC).
    metrics_public: bool = False
    #: Seconds the server gives open requests when it stops (SHUTDOWN_GRACE).
    shutdown_grace: float = 10.0
    #: Seconds a client has for a request's headers (from connecting, or from the previous answer on a
    #: kept-alive connection, so also the idle keep-alive time) and, again, for its body (SIDECAR_READ_TIMEOUT).
    read_timeout: float = 75.0
    #: What Telegram sends in its secret header to /telegram/webhook (TELEGRAM_WEBHOOK_SECRET).
    telegram_webhook_secret: SecretStr | None = None
    #: Let several processes listen on the same port, the kernel spreading connections (SIDECAR_REUSE_PORT).
    reuse_port: bool = False

    @cached_property  # read by the auth middleware on every request
    def token_bytes(self) -> bytes | None:
        """The admin token as bytes; a blank ADMIN_TOKEN counts as unset."""
        token = self.admin_token.get_secret_value().strip() if self.admin_token else ""
        return token.encode() if token else None
