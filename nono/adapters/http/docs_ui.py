"""GET /docs: Swagger UI over /openapi.json, served from a Python package (nothing is fetched from a CDN).

The page and its files are public, like /openapi.json: a browser sends no bearer token when it opens
a page. The calls made from the page ("Try it out") are admin calls like any other: the "Authorize"
button takes ADMIN_TOKEN, which Swagger UI keeps in the page's memory only. Without ADMIN_TOKEN the
page works on a loopback address, where the admin API answers same-origin local requests.

The files come from `swagger-ui-bundle-v2` (Swagger UI 5, which reads OpenAPI 3.1; the `swagger-ui-bundle`
package ships Swagger UI 4, which refuses a 3.1 document). Our page and start-up script replace the
bundle's, whose script is inline and loads the Petstore. A Content-Security-Policy keeps the page to this
server: no other origin's script, style, image or connection, no inline script, no framing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp import web
from swagger_ui_bundle import swagger_ui_path

from nono.adapters.http.errors import HttpProblem
from nono.adapters.http.openapi import RouteSpec

#: The bundle's files the page uses, and their types.
BUNDLE_FILES = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "index.css": "text/css",
    "favicon-32x32.png": "image/png",
}
START_SCRIPT = "nono-docs.js"
#: Relative links: behind a reverse proxy that serves the sidecar under a prefix, they keep that prefix.
PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Nono sidecar API</title>
<link rel="stylesheet" href="docs/swagger-ui.css">
<link rel="stylesheet" href="docs/index.css">
<link rel="icon" type="image/png" href="docs/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="docs/swagger-ui-bundle.js"></script>
<script src="docs/nono-docs.js"></script>
</body>
</html>
"""
START = """\
// Swagger UI over this sidecar's OpenAPI document. "Authorize" takes ADMIN_TOKEN.
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    // The default would send the document to an online validator for a badge.
    validatorUrl: null,
  });
});
"""
#: 'self' only. Images may be data: URLs (Swagger UI's icons are inlined in its CSS).
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
#: Revalidated on each load (Last-Modified), so an upgraded package is picked up at once.
FILE_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"}


def bundle_dir() -> Path:
    """Where the installed package keeps Swagger UI's files."""
    return Path(str(swagger_ui_path))


async def docs_page(request: web.Request) -> web.Response:
    """The Swagger UI page."""
    return web.Response(text=PAGE, content_type="text/html", headers=PAGE_HEADERS)


async def docs_file(request: web.Request) -> web.StreamResponse:
    """One file the page loads; only the listed names, so no path reaches the file system."""
    name = request.match_info["asset"]
    if name == START_SCRIPT:
        return web.Response(text=START, content_type="text/javascript", headers=FILE_HEADERS)
    if name not in BUNDLE_FILES:
        raise HttpProblem(404, "not_found", "No such file of the API documentation page.")
    return web.FileResponse(bundle_dir() / name, headers={**FILE_HEADERS, "Content-Type": BUNDLE_FILES[name]})


def _string(media_type: str) -> dict[str, Any]:
    return {media_type: {"schema": {"type": "string"}}}


def docs_routes() -> list[RouteSpec]:
    """The page and its files: public, documented like every route."""
    files = {"type": "string", "enum": sorted([*BUNDLE_FILES, START_SCRIPT])}
    types = {media_type: _string(media_type)[media_type] for media_type in sorted({*BUNDLE_FILES.values()})}
    return [
        RouteSpec("GET", "/docs", "docs", docs_page, "This documentation, in Swagger UI", _string("text/html"),
                  public=True, tag="docs"),
        RouteSpec("GET", "/docs/{asset}", "docs_file", docs_file, "A file of the documentation page", types,
                  public=True, tag="docs", errors=(404,), path_schemas=(("asset", files),)),
    ]  # fmt: skip
