"""GET /docs: Swagger UI over /openapi.json, public, everything from this server, the admin token via "Authorize"."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import socket
import subprocess
from collections.abc import AsyncIterator, Callable
from html.parser import HTMLParser
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from yarl import URL

from tests.adapters.http.helpers import TOKEN

PAGE = URL("/docs")


class Links(HTMLParser):
    """Every URL the page makes the browser load (`src` and `href`)."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in ("src", "href") and value is not None]


async def page_links(client: TestClient) -> list[str]:
    parser = Links()
    parser.feed(await (await client.get(PAGE)).text())
    return parser.urls


def policy(header: str) -> dict[str, list[str]]:
    """A Content-Security-Policy header as directive → sources."""
    directives = (part.split() for part in header.split(";") if part.strip())
    return {name: sources for name, *sources in directives}


async def test_the_page_and_what_it_loads_need_no_token(client: TestClient) -> None:
    page = await client.get(PAGE)
    assert page.status == 200 and page.content_type == "text/html"
    links = await page_links(client)
    assert len(links) == 5  # two style sheets, the icon, Swagger UI and the script that starts it
    kinds = set()
    for link in links:
        response = await client.get(PAGE.join(URL(link)))  # as the browser resolves it
        assert response.status == 200, link
        assert await response.read(), link
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        kinds.add(response.content_type)
    assert kinds == {"text/css", "text/javascript", "image/png"}
    start = await (await client.get(PAGE.join(URL("docs/nono-docs.js")))).text()
    document_url = re.search(r'url: "([^"]+)"', start)
    assert document_url is not None
    document = await client.get(PAGE.join(URL(document_url[1])))  # what Swagger UI fetches
    assert document.status == 200 and (await document.json())["openapi"] == "3.1.0"


async def test_the_swagger_ui_served_reads_openapi_3_1(client: TestClient) -> None:
    # Swagger UI 4 (the swagger-ui-bundle package) shows "Unable to render this definition" for 3.1.
    bundle = await (await client.get("/docs/swagger-ui-bundle.js")).read()
    assert b"isOAS31" in bundle


async def test_nothing_is_loaded_from_another_origin(client: TestClient) -> None:
    page = await client.get(PAGE)
    assert "http" not in await page.text()
    for link in await page_links(client):
        assert not URL(link).is_absolute() and not link.startswith("/"), link  # relative: kept behind a proxy prefix
    start = await (await client.get("/docs/nono-docs.js")).text()
    assert "http" not in start and "validatorUrl: null" in start  # no badge from the online validator
    for sheet in ("swagger-ui.css", "index.css"):
        css = await (await client.get(f"/docs/{sheet}")).text()
        assert "@import" not in css
        assert all(url.startswith(("data:", '"data:')) for url in re.findall(r"url\(([^)]*)\)", css)), sheet
    # And the browser is told to refuse anything else: this server only, no inline script, no framing.
    rules = policy(page.headers["Content-Security-Policy"])
    assert rules["default-src"] == ["'none'"] and rules["script-src"] == ["'self'"]
    assert rules["frame-ancestors"] == ["'none'"]
    for directive, sources in rules.items():
        allowed = {"'self'", "'none'", "data:"} if directive == "img-src" else {"'self'", "'none'"}
        assert set(sources) <= allowed, directive


async def test_only_the_pages_own_files_are_served(client: TestClient) -> None:
    # The bundle also holds an index.html that loads the Petstore, and source maps: not ours to serve.
    for name in ("index.html", "swagger-initializer.js", "swagger-ui.js.map", "..%2Fswagger-ui-bundle.js", "x"):
        response = await client.get(f"/docs/{name}")
        assert response.status == 404, name
        assert response.content_type == "application/problem+json"


async def test_the_document_offers_the_admin_token_to_authorize(client: TestClient) -> None:
    document = await (await client.get("/openapi.json")).json()
    assert document["components"]["securitySchemes"]["bearer"] == {
        "type": "http", "scheme": "bearer", "description": "ADMIN_TOKEN",
    }  # fmt: skip
    assert document["security"] == [{"bearer": []}]
    assert "security" not in document["paths"]["/personas"]["get"]  # the admin API takes it
    for path in ("/docs", "/docs/{asset}", "/openapi.json"):
        assert document["paths"][path]["get"]["security"] == []
    assert (await client.get("/personas")).status == 401, "the page being public opens nothing else"


# A real browser, when one is installed (Debian: chromium, chromium-driver).
BROWSER = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
DRIVER = shutil.which("chromedriver")


class Browser:
    """Headless Chromium driven over the WebDriver protocol."""

    def __init__(self, http: aiohttp.ClientSession, session: str) -> None:
        self.http, self.session = http, session

    async def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        async with self.http.request(method, f"{self.session}{path}", json=body) as response:
            answer = await response.json()
            assert response.status == 200, answer
            return answer["value"]

    async def find(self, css: str) -> str:
        """The first element matching `css`, once the page shows one (Swagger UI renders after loading)."""
        try:
            async with asyncio.timeout(30):
                while True:
                    query = {"using": "css selector", "value": css}
                    async with self.http.post(f"{self.session}/elements", json=query) as response:
                        found = (await response.json())["value"]
                    if found:
                        return str(next(iter(found[0].values())))  # {key: reference}; the key varies by version
                    await asyncio.sleep(0.1)
        except TimeoutError:
            log = await self.call("POST", "/se/log", {"type": "browser"})
            pytest.fail(f"the page never showed {css}; the browser's console: {log}")

    async def click(self, css: str) -> None:
        await self.call("POST", f"/element/{await self.find(css)}/click", {})

    async def type(self, css: str, text: str) -> None:
        await self.call("POST", f"/element/{await self.find(css)}/value", {"text": text})

    async def text(self, css: str) -> str:
        return str(await self.call("GET", f"/element/{await self.find(css)}/text"))


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if BROWSER is None or DRIVER is None:
        pytest.fail("chromium and chromedriver are not installed: `make test` installs them (scripts/ensure-tools.sh)")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    driver = subprocess.Popen([DRIVER, f"--port={port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/session"
    options = {"binary": BROWSER, "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]}
    capabilities = {"browserName": "chrome", "goog:chromeOptions": options, "goog:loggingPrefs": {"browser": "ALL"}}
    try:
        async with aiohttp.ClientSession() as http:
            async with asyncio.timeout(30):
                while True:  # until chromedriver listens
                    try:
                        async with http.post(base, json={"capabilities": {"alwaysMatch": capabilities}}) as response:
                            session = (await response.json())["value"]["sessionId"]
                            break
                    except aiohttp.ClientConnectionError:
                        await asyncio.sleep(0.1)
            try:
                yield Browser(http, f"{base}/{session}")
            finally:
                await http.delete(f"{base}/{session}")  # closes the browser; chromedriver's end would not
    finally:
        driver.terminate()
        driver.wait()


@pytest.mark.slow
async def test_a_browser_authorizes_and_calls_the_admin_api(
    aiohttp_server: Callable[..., Any], app: web.Application, browser: Browser
) -> None:
    server: TestServer = await aiohttp_server(app)
    await browser.call("POST", "/url", {"url": str(server.make_url("/docs"))})
    await browser.click("button.authorize")
    await browser.type(".auth-container input", TOKEN)
    await browser.click(".auth-container button.authorize")
    await browser.click("button.btn-done")
    personas = "#operations-admin-personas"
    await browser.click(f"{personas} .opblock-summary-control")
    await browser.click(f"{personas} .try-out__btn")
    await browser.click(f"{personas} .execute")
    assert await browser.text(f"{personas} .live-responses-table tbody .response-col_status") == "200"
    body = json.loads(await browser.text(f"{personas} .live-responses-table tbody .microlight"))
    assert body["default"] == "assistant"
    # A style, script or request the Content-Security-Policy refused would be an error in the console.
    log = await browser.call("POST", "/se/log", {"type": "browser"})
    assert [entry for entry in log if entry["level"] == "SEVERE"] == []
