"""The HTTP sidecar (aiohttp): health, readiness, metrics, the REST admin API and WebSocket chat."""

from nono.adapters.http.app import HttpPart, create_sidecar_app, running
from nono.adapters.http.auth import check_exposure
from nono.adapters.http.metrics import SidecarMetrics
from nono.adapters.http.options import HttpOptions

__all__ = ["HttpOptions", "HttpPart", "SidecarMetrics", "check_exposure", "create_sidecar_app", "running"]
