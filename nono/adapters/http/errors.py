"""Every sidecar error becomes `application/problem+json` here, in one middleware, without stack traces."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from nono.adapters.http.models import MAX_BODY_BYTES
from nono.core.errors import RateLimited, UnknownPersona, UserFacingError

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
#: What an API client is told about a bug on our side (the traceback goes to the log only).
INTERNAL_DETAIL = "Something went wrong on our side; it has been logged."
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# Headers of aiohttp's own HTTP errors that still mean something on our problem response.
_KEPT_HEADERS = ("Allow", "WWW-Authenticate", "Retry-After", "Upgrade")


#: What a request the client abandoned is counted as (nginx's "client closed request"); it is never sent.
CLIENT_CLOSED = 499


class HttpProblem(Exception):
    """An HTTP error the sidecar itself decides on (auth, body parsing, validation).

    `close` ends the connection after the answer (a request whose body never arrived in full leaves
    the connection in an unknown state).
    """

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        close: bool = False,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail
        self.headers = headers or {}
        self.close = close
        self.extra = extra

    def response(self) -> web.Response:
        response = problem_response(self.status, self.code, self.detail, headers=self.headers, **self.extra)
        if self.close:
            response.force_close()
        return response


class ClientClosed(Exception):
    """The client hung up before its request was read in full: nothing to answer, and not our error."""


def problem_response(
    status: int, code: str, detail: str, *, headers: dict[str, str] | None = None, **extra: Any
) -> web.Response:
    """An RFC 9457 problem response."""
    body = {"type": "about:blank", "title": HTTPStatus(status).phrase, "status": status, "code": code}
    body["detail"] = detail
    body.update({k: v for k, v in extra.items() if v is not None})
    return web.json_response(body, status=status, headers=headers, content_type=PROBLEM_JSON)


def invalid_request(exc: ValidationError, where: str) -> HttpProblem:
    """A 422 naming each offending field (`where` is "body", "query" or "frame")."""
    errors = [{"field": _field(err["loc"]), "message": _message(err)} for err in exc.errors()]
    first = errors[0]
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    detail = f"Invalid {where}: {first['field']}: {first['message']}{more}"
    return HttpProblem(422, "invalid_request", detail, errors=errors)


def _field(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc) or "(whole)"


def _message(err: Any) -> str:
    if err["type"] == "extra_forbidden":
        return "unknown field"
    return str(err["msg"])


def user_facing_response(exc: UserFacingError) -> web.Response:
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else None
    valid = exc.valid if isinstance(exc, UnknownPersona) else None
    return problem_response(exc.status, exc.code, str(exc), headers=headers, valid=valid)


def _http_exception_response(exc: web.HTTPException, request: web.Request) -> web.Response:
    headers = {name: exc.headers[name] for name in _KEPT_HEADERS if name in exc.headers}
    if exc.status == 404:
        return problem_response(404, "not_found", f"There is no route {request.path!r}.", headers=headers)
    if exc.status == 405:
        detail = f"{request.method} is not allowed here; allowed: {headers.get('Allow', 'none')}."
        return problem_response(405, "method_not_allowed", detail, headers=headers)
    if exc.status == 413:
        detail = f"The request body is larger than {MAX_BODY_BYTES // 1024} KiB."
        return problem_response(413, "too_large", detail, headers=headers)
    return problem_response(exc.status, HTTPStatus(exc.status).name.lower(), exc.reason, headers=headers)


def error_middleware(on_internal_error: Callable[[], None]) -> Callable[..., Awaitable[web.StreamResponse]]:
    """The one place that maps errors to responses; `on_internal_error` counts the unexpected ones."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except HttpProblem as exc:
            return exc.response()
        except ClientClosed:
            # Routine on any public server (a phone losing signal mid-upload); the metric counts them.
            log.debug("sidecar_client_closed", extra={"method": request.method, "path": request.path})
            return web.Response(status=CLIENT_CLOSED, reason="Client Closed Request")
        except UserFacingError as exc:
            return user_facing_response(exc)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            return _http_exception_response(exc, request)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("sidecar_internal_error", extra={"method": request.method, "path": request.path})
            on_internal_error()
            return problem_response(500, "internal", INTERNAL_DETAIL)

    return middleware
