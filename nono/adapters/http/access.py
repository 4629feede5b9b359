"""The sidecar's access log: one structured line per answered request, at INFO on `nono.access`.

aiohttp's own access logger writes an Apache-style string with the query string and the
caller's headers; the JSON log wants fields, and a query string may carry what should not be
kept (a token pasted into a URL), so only the path is logged.
"""

from __future__ import annotations

import logging

from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import BaseRequest, StreamResponse

#: The logger the sidecar's runner is given (LOG_LEVEL=WARNING turns the lines off).
ACCESS_LOG = logging.getLogger("nono.access")


class JsonAccessLogger(AbstractAccessLogger):
    """`http_request` with method, path (never the query string), status and duration in milliseconds."""

    @property
    def enabled(self) -> bool:
        # Read by aiohttp once per connection: with INFO off, no request pays for a line.
        return self.logger.isEnabledFor(logging.INFO)

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        self.logger.info(
            "http_request",
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status,
                "duration_ms": round(time * 1000, 1),
            },
        )
