"""The HTTP sidecar (aiohttp): health, readiness, metrics, the REST admin API and WebSocket chat."""

from nono.adapters.http.app import create_sidecar_app

__all__ = ["create_sidecar_app"]
