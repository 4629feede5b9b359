"""PTB's HTTP transport on aiohttp, with a bound on Bot API calls in flight.

PTB's default transport is httpx. Under a burst (hundreds of replies streaming at once) its
connection pool was most of the bot's CPU: httpcore re-examines every pooled connection
(an expiry check that polls each socket) for every request it queues or finishes
(encode/httpcore#1035), so 1,000 simultaneous replies spent longer in pool bookkeeping than
in Telegram (bench P4). aiohttp's connector hands a freed connection to the next waiter in
O(1), and aiohttp already serves the sidecar, so it costs no new dependency.
"""

from __future__ import annotations

import io
import json
import logging
import time
from typing import Any

import aiohttp
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

log = logging.getLogger(__name__)
#: Bot API calls in flight at once; more wait their turn (first come, first served, without a deadline).
MAX_IN_FLIGHT = 32
#: PTB's defaults for its own transport, in seconds.
CONNECT_TIMEOUT = READ_TIMEOUT = 5.0
#: File uploads may take longer to send.
MEDIA_TIMEOUT = 20.0


class AiohttpRequest(BaseRequest):
    """A `telegram.request.BaseRequest` on one aiohttp session with at most `limit` connections.

    A request waiting for a connection waits as long as it takes: under a burst every reply is
    still sent, in order, instead of failing with a pool timeout.
    """

    def __init__(
        self, limit: int = MAX_IN_FLIGHT, *, connect_timeout: float = CONNECT_TIMEOUT,
        read_timeout: float = READ_TIMEOUT,
    ) -> None:  # fmt: skip
        self._limit = limit
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._limit, limit_per_host=self._limit)
            self._session = aiohttp.ClientSession(connector=connector, headers={"User-Agent": self.USER_AGENT})

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """One call; aiohttp's timeouts and errors become PTB's `TimedOut` and `NetworkError`."""
        if self._session is None or self._session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        files = request_data is not None and request_data.contains_files
        # BaseRequest documents `is DEFAULT_NONE` as the test for "not passed": use our own default then.
        if read_timeout is BaseRequest.DEFAULT_NONE:
            read_timeout = MEDIA_TIMEOUT if files else self._read_timeout
        if connect_timeout is BaseRequest.DEFAULT_NONE:
            connect_timeout = self._connect_timeout
        # No `connect` or `total` limit: those would also count the wait for a free connection.
        # aiohttp has no write timeout; a stalled upload ends with the read timeout.
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout, sock_read=read_timeout)
        data, headers = _body(request_data)
        # At DEBUG each call is one line; otherwise no clock is read and nothing is formatted.
        started = time.monotonic() if log.isEnabledFor(logging.DEBUG) else None
        outcome: int | str = "?"
        try:
            async with self._session.request(method, url, data=data, headers=headers, timeout=timeout) as response:
                outcome = response.status
                return response.status, await response.read()
        except TimeoutError as exc:  # aiohttp's socket timeouts are TimeoutErrors too
            outcome = "timeout"
            raise TimedOut from exc
        except aiohttp.ClientError as exc:
            outcome = exc.__class__.__name__
            # The class name helps when the message is empty (a dropped connection often has none).
            raise NetworkError(f"aiohttp.{exc.__class__.__name__}: {exc}") from exc
        finally:
            if started is not None:
                _log_call(url, request_data, outcome, time.monotonic() - started)


def _log_call(url: str, request_data: RequestData | None, outcome: int | str, seconds: float) -> None:
    """One Bot API call at DEBUG: its method and chat, never the URL (it holds the bot token) nor the text."""
    chat_id = request_data.parameters.get("chat_id") if request_data is not None else None
    about = {"method": url.rsplit("/", 1)[-1], "chat_id": chat_id, "outcome": outcome, "ms": round(seconds * 1000, 1)}
    log.debug("telegram_call", extra=about)


def _body(request_data: RequestData | None) -> tuple[bytes | aiohttp.FormData | None, dict[str, str] | None]:
    """The parameters as a JSON body, or a multipart form when files are attached.

    JSON (which the Bot API accepts like forms) costs a fraction of the CPU of url-encoding
    every parameter (bench P4). Nested values (reply parameters, keyboards) stay JSON objects.
    """
    if request_data is None:
        return None, None
    if not request_data.contains_files:
        return json.dumps(request_data.parameters).encode(), {"Content-Type": "application/json"}
    form = aiohttp.FormData(request_data.json_parameters)  # each value JSON-encoded, as Telegram reads forms
    for name, (filename, content, mimetype) in request_data.multipart_data.items():
        # aiohttp streams a file object in chunks; raw bytes over 1 MB would be written in one go (and warn).
        stream = io.BytesIO(content) if isinstance(content, bytes) else content
        form.add_field(name, stream, filename=filename, content_type=mimetype)
    return form, None
