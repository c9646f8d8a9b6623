"""The public contract against the real stack: every path `/api/openapi.json` lists answers through the gateway with
something other than "no such route", and `/api/docs` is served whole by the gateway."""

from __future__ import annotations

import re
from urllib.parse import urljoin

import httpx
import pytest
from playwright.async_api import Route, async_playwright, expect
from plenary_kit.stack.browser import CHROMIUM_ARGS, install_chromium
from plenary_kit.stack.processes import SERVICES, StackError

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

DUMMY_ID = "0123456789abcdef01234567"  # looks like an id to every service, names nothing
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# the details the kit (FastAPI's own 404, turned into a problem) and the gateway's proxy give when no route matches
NO_ROUTE = re.compile(r"^(There is nothing at |There is no service called )")


async def answer(http: httpx.AsyncClient, method: str, url: str, token: str) -> tuple[int, str, str]:
    """Status, content type and the start of the body; streams (SSE) are closed once the headers are in."""
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream, */*"}
    async with http.stream(method.upper(), url, headers=headers) as response:
        body = b""
        if not response.headers.get("content-type", "").startswith("text/event-stream"):
            body = await response.aread()
        return response.status_code, response.headers.get("content-type", ""), body[:500].decode(errors="replace")


def no_such_route(status: int, content_type: str, body: str) -> bool:
    if status == 405:  # the path exists but not with this method: the document says otherwise
        return True
    if status != 404:
        return False
    if not content_type.startswith("application/problem+json"):
        return True  # a plain 404 `Not Found`
    detail = re.search(r'"detail":\s*"([^"]*)"', body)
    return detail is None or bool(NO_ROUTE.match(detail.group(1)))


async def test_every_documented_path_answers_through_the_gateway(make_stack, http: httpx.AsyncClient) -> None:
    names = [name for name in SERVICES if name != "gateway"]
    stack = await make_stack([*names, "gateway"])
    gateway = stack.url("gateway")
    running = {name for name in stack.names if name != "gateway"}
    token = await stack.organiser_token()  # past the sign-in checks, so the routes themselves answer

    document = (await http.get(f"{gateway}/api/openapi.json")).raise_for_status().json()
    missing: list[str] = []
    checked = 0
    for path, item in sorted(document["paths"].items()):
        service = path.split("/")[2]
        if service in SERVICES and service not in running:
            continue  # a service this checkout cannot start
        concrete = re.sub(r"\{[^}]+\}", DUMMY_ID, path)
        for method in (m for m in METHODS if m in item):
            status, content_type, body = await answer(http, method, f"{gateway}{concrete}", token)
            if method == "head" and status == 404:  # no body to read the detail from: the GET's tells
                _, _, body = await answer(http, "get", f"{gateway}{concrete}", token)
            checked += 1
            assert status < 500 or status == 503, f"{method.upper()} {concrete}: {status} {body}"
            if no_such_route(status, content_type, body):
                missing.append(f"{method.upper()} {concrete}: {status} {body[:200]}")
    assert checked >= 100
    assert missing == []

    # and a path the document does not list is told apart by the same rule
    status, content_type, body = await answer(http, "get", f"{gateway}/api/registration/no-such-route", token)
    assert no_such_route(status, content_type, body)


async def test_api_docs_is_served_whole_by_the_gateway_and_renders_in_chromium_offline(
    make_stack, http: httpx.AsyncClient
) -> None:
    stack = await make_stack(["gateway"])
    gateway = stack.url("gateway")
    page = await http.get(f"{gateway}/api/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    urls = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert urls
    for url in urls:
        assert "//" not in url, url  # relative: nothing from a CDN
        assert (await http.get(urljoin(str(page.url), url))).status_code == 200, url
    document = (await http.get(f"{gateway}/api/openapi.json")).json()
    operations = sum(1 for item in document["paths"].values() for m in item if m in METHODS)

    # Chromium with every request that is not to the gateway refused: the page must render from the gateway alone
    try:
        chromium = install_chromium()
    except StackError as exc:
        pytest.fail(str(exc), pytrace=False)
    elsewhere: list[str] = []
    errors: list[str] = []

    async def only_the_gateway(route: Route) -> None:
        if route.request.url.startswith(gateway + "/"):
            await route.continue_()
        else:
            elsewhere.append(route.request.url)
            await route.abort("internetdisconnected")

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(chromium), args=list(CHROMIUM_ARGS))
        try:
            tab = await browser.new_page()
            tab.on("pageerror", lambda exc: errors.append(str(exc)))
            await tab.route("**/*", only_the_gateway)
            await tab.goto(f"{gateway}/api/docs")
            await expect(tab.locator(".swagger-ui .info .title")).to_contain_text("Plenary public API",
                                                                                  timeout=60_000)
            await expect(tab.locator(".opblock")).to_have_count(operations, timeout=60_000)
            await expect(tab.locator(".swagger-ui .errors-wrapper")).to_have_count(0)
        finally:
            await browser.close()
    assert elsewhere == []
    assert errors == []
