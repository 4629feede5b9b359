"""Who may call the admin API: a bearer token, or (no token configured) local callers on a loopback bind.

Without ADMIN_TOKEN the sidecar only starts on a loopback address, and then only answers admin
requests whose Host header names a loopback address: a web page that rebinds its own DNS name
to 127.0.0.1 still sends its own name as Host, so it cannot reach the API. An Origin other than
the sidecar's own (same host, same port) is refused for the same reason: browsers may send simple
POSTs and WebSocket handshakes to localhost from any page, including one on another local port.
A request that came through a reverse proxy is not local, whatever its Host says: the proxy
serves whoever reaches it.
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
#: A token that guards an API other machines can reach must not be guessable by trying.
MIN_TOKEN_CHARS = 16
#: Headers reverse proxies and tunnels add (nginx, Caddy, Traefik, Apache, cloudflared); a local client sends none.
PROXY_HEADERS = frozenset({"forwarded", "via", "x-real-ip", "x-client-ip", "true-client-ip", "cf-connecting-ip"})
PROXY_HEADER_PREFIX = "x-forwarded-"  # -For, -Host, -Proto, -Port, -Server …


def is_loopback_host(host: str) -> bool:
    """True for `localhost` and loopback IP addresses (no other name can be trusted to stay local)."""
    host = _normal_host(host)
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _normal_host(host: str) -> str:
    host = host.strip().lower().rstrip(".")
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


def check_exposure(options: HttpOptions, *, webhook: bool = False) -> None:
    """Refuse to serve an admin API others can reach without a token that guards it."""
    token = options.token_bytes
    public = not is_loopback_host(options.host)
    if token is None and public:
        raise ConfigError(
            f"SIDECAR_HOST={options.host!r} is reachable from other machines, so the admin API needs "
            "a token: set ADMIN_TOKEN (for example to the output of `openssl rand -hex 32`), "
            "or bind SIDECAR_HOST=127.0.0.1."
        )
    if token is None and webhook:
        # Telegram reaches the webhook through a public reverse proxy, which would serve the admin API too.
        raise ConfigError("ADMIN_TOKEN is required when TELEGRAM_WEBHOOK_URL is set")
    if token is not None and public and len(token.decode()) < MIN_TOKEN_CHARS:
        raise ConfigError(
            f"ADMIN_TOKEN is too short for SIDECAR_HOST={options.host!r}, which other machines can reach: "
            f"use at least {MIN_TOKEN_CHARS} characters (for example `openssl rand -hex 32`)."
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
    proxied = _proxy_header(request)
    if proxied is not None:
        raise HttpProblem(
            403, "forbidden", f"This request came through a proxy ({proxied} header); without ADMIN_TOKEN the "
            "admin API only answers direct local requests. Set ADMIN_TOKEN to use it through a proxy."
        )  # fmt: skip
    host = request.headers.get("Host", "")
    if not host or not is_loopback_host(_host_of_header(host)):
        raise HttpProblem(
            403, "forbidden", "Without ADMIN_TOKEN the admin API only answers requests addressed to localhost."
        )
    origin = request.headers.get("Origin")
    if origin is not None and not _same_origin(origin, host):
        raise HttpProblem(403, "forbidden", "Cross-site requests are refused (the Origin is not this server).")


def _proxy_header(request: web.Request) -> str | None:
    """The name of the first proxy header the request carries, if any."""
    for name in request.headers:
        lowered = name.lower()
        if lowered in PROXY_HEADERS or lowered.startswith(PROXY_HEADER_PREFIX):
            return name
    return None


def _same_origin(origin: str, host: str) -> bool:
    """True when `origin` is this server as the request addressed it: http, same host, same port."""
    try:
        page, here = URL(origin), URL(f"http://{host}")
    except ValueError:  # not a URL at all ("null" from a sandboxed page parses, to no host; garbage does not)
        return False
    if page.scheme != "http" or page.host is None or here.host is None:
        return False
    return (_normal_host(page.host), page.port) == (_normal_host(here.host), here.port)


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
