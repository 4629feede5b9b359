"""Who may call the admin API: a bearer token, or (no token configured) local callers on a loopback bind.

Without ADMIN_TOKEN the sidecar only starts on a loopback address, and then only answers admin
requests whose Host header names a loopback address: a web page that rebinds its own DNS name
to 127.0.0.1 still sends its own name as Host, so it cannot reach the API. A cross-site Origin
is refused for the same reason (browsers may send simple POSTs and WebSocket handshakes to
localhost from any page).
"""

from __future__ import annotations

import hmac
import ipaddress

from aiohttp import web
from yarl import URL

from nono.adapters.http.errors import Handler, HttpProblem
from nono.adapters.http.options import HttpOptions
from nono.adapters.http.requests import OPTIONS, PUBLIC_ROUTES
from nono.core.errors import ConfigError

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="nono"'}


def is_loopback_host(host: str) -> bool:
    """True for `localhost` and loopback IP addresses (no other name can be trusted to stay local)."""
    host = host.strip().lower().rstrip(".")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_exposure(options: HttpOptions) -> None:
    """Refuse to serve an unauthenticated admin API beyond this machine."""
    if options.token_bytes is None and not is_loopback_host(options.host):
        raise ConfigError(
            f"SIDECAR_HOST={options.host!r} is reachable from other machines, so the admin API needs "
            "a token: set ADMIN_TOKEN (for example to the output of `openssl rand -hex 32`), "
            "or bind SIDECAR_HOST=127.0.0.1."
        )


def _host_of_header(value: str) -> str:
    """The host part of a Host header (`[::1]:8080` → `[::1]`, `localhost:8080` → `localhost`)."""
    if value.startswith("["):
        return value.split("]", 1)[0] + "]"
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def _check_bearer(request: web.Request, token: bytes) -> None:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    # compare_digest takes time independent of where the strings differ.
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token):
        raise HttpProblem(401, "unauthorized", "Send Authorization: Bearer <ADMIN_TOKEN>.", headers=dict(CHALLENGE))


def _check_local(request: web.Request) -> None:
    host = request.headers.get("Host", "")
    if not host or not is_loopback_host(_host_of_header(host)):
        raise HttpProblem(
            403, "forbidden", "Without ADMIN_TOKEN the admin API only answers requests addressed to localhost."
        )
    origin = request.headers.get("Origin")
    if origin is not None and not is_loopback_host(_host_of_origin(origin)):
        raise HttpProblem(403, "forbidden", "Cross-site requests are refused.")


def _host_of_origin(origin: str) -> str:
    try:
        return URL(origin).host or ""
    except ValueError:  # not a URL at all (for example "null" from a sandboxed page parses; garbage does not)
        return ""


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Let public routes through; require the admin token (or a local caller) everywhere else."""
    if request.match_info.route.name not in request.app[PUBLIC_ROUTES]:
        token = request.app[OPTIONS].token_bytes
        if token is not None:
            _check_bearer(request, token)
        else:
            _check_local(request)
    return await handler(request)
