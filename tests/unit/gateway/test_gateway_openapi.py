"""The public API contract: `/api/openapi.json` is the committed document, valid OpenAPI 3.1, current with the services'
code, covering every public route of every service under its gateway path; `/api/docs` renders it from files the
gateway serves itself."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from gateway import contract
from openapi_spec_validator import validate

if TYPE_CHECKING:
    from conftest import Upstream

METHODS = contract.HTTP_METHODS


@pytest.fixture(scope="module")
def built() -> dict[str, FastAPI]:
    """The gateway's and every service's app, built as `make openapi` builds them (no database, no Kafka)."""
    return contract.apps()


@pytest.fixture(scope="module")
def own_documents(built: dict[str, FastAPI]) -> dict[str, dict[str, Any]]:
    return {name: document for name, (document, _) in contract.sources(built).items()}


@pytest.fixture(scope="module")
def committed() -> dict[str, Any]:
    return contract.load()


def operations(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {(path, method) for path, item in document["paths"].items() for method in item if method in METHODS}


async def test_the_gateways_own_openapi_json_builds(client: httpx.AsyncClient) -> None:
    """It answered 500 (UnboundLocalError in FastAPI) because /api/live's response class takes no status code."""
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    assert "/api/live" in response.json()["paths"]


async def test_api_openapi_json_is_the_committed_document_and_valid_openapi_3_1(
    client: httpx.AsyncClient, committed: dict[str, Any]
) -> None:
    response = await client.get("/api/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    document = response.json()
    assert document == committed
    assert document["openapi"].startswith("3.1.")
    validate(document)  # raises on an invalid document (unresolvable $ref, bad schema, duplicate operationId...)


def test_the_committed_document_is_current(built: dict[str, FastAPI]) -> None:
    """Fails when a service's routes or models changed and `make openapi` was not run."""
    assert contract.render(contract.build(built)) == contract.DOCUMENT.read_text(encoding="utf-8"), (
        "services/gateway/gateway/public_openapi.json is stale: run `make openapi` and commit it")


def test_the_generation_is_deterministic_whatever_the_hash_seed(committed: dict[str, Any]) -> None:
    """A route of several methods (GET and HEAD) gets its methods in set order from FastAPI; each operation gets
    an id of its own, named after its method."""
    ids = [op["operationId"] for item in committed["paths"].values() for m, op in item.items() if m in METHODS]
    assert len(ids) == len(set(ids))
    for path, item in committed["paths"].items():
        for method, op in item.items():
            if method in METHODS and re.search(r"_(get|head|put|post|patch|delete|options)$", op["operationId"]):
                assert op["operationId"].endswith(f"_{method}"), (path, method, op["operationId"])


def test_a_changed_service_route_makes_the_check_fail(built: dict[str, FastAPI], tmp_path, monkeypatch) -> None:
    app = built["registration"]
    before = contract.render(contract.build(built))

    async def extra() -> dict[str, str]:
        return {}

    app.router.add_api_route("/registration/brand-new", extra, methods=["GET"])
    app.openapi_schema = None  # FastAPI caches the document
    try:
        after = contract.build(built)
        assert "/api/registration/brand-new" in after["paths"]
        monkeypatch.setattr(contract, "DOCUMENT", tmp_path / "public_openapi.json")
        contract.DOCUMENT.write_text(before, encoding="utf-8")
        monkeypatch.setattr(contract, "apps", lambda: built)
        assert contract.main(["--check"]) == 1
        assert contract.main([]) == 0  # regenerating makes it current again
        assert contract.main(["--check"]) == 0
    finally:
        app.router.routes[:] = [r for r in app.router.routes if getattr(r, "path", None) != "/registration/brand-new"]
        app.openapi_schema = None


def test_covers_every_public_route_of_every_service_under_its_gateway_prefix(
    own_documents: dict[str, dict[str, Any]], committed: dict[str, Any]
) -> None:
    public = operations(committed)
    expected: set[tuple[str, str]] = set()
    for name in contract.SERVICES:
        own = operations(own_documents[name])
        assert own, f"{name} documents no routes"
        for path, method in own:
            assert path.startswith(f"/{name}"), f"{name} serves {path}, which the gateway cannot reach"
            expected.add((f"/api{path}", method))
    expected |= operations(own_documents["gateway"])
    assert expected - public == set()
    assert public - expected == set()  # and nothing that no app serves
    assert {("/api/live", "get"), ("/api/pageviews", "post"), ("/api/status", "get")} <= public


def test_parameters_and_bodies_are_the_services_own(own_documents: dict[str, dict[str, Any]],
                                                     committed: dict[str, Any]) -> None:
    for name in contract.SERVICES:
        for path, item in own_documents[name]["paths"].items():
            for method, op in item.items():
                if method not in METHODS:
                    continue
                mine = committed["paths"][f"/api{path}"][method]
                assert [(p["name"], p["in"]) for p in op.get("parameters", [])] == \
                    [(p["name"], p["in"]) for p in mine.get("parameters", [])]
                assert ("requestBody" in op) == ("requestBody" in mine)
                assert set(op["responses"]) - {"422"} <= set(mine["responses"])


def test_schemas_of_different_services_are_namespaced_and_every_ref_resolves(committed: dict[str, Any]) -> None:
    schemas = committed["components"]["schemas"]
    shared = {"Problem", "ValidationProblem"}
    prefixes = {*contract.SERVICES, "gateway"}
    for name in schemas:
        assert name in shared or name.split(".", 1)[0] in prefixes, name
    # two services with a model of the same name (both have a `TagsIn`) keep one each
    assert {"exhibition.TagsIn", "sessions.TagsIn"} <= set(schemas)
    # FastAPI's validation error models are gone: the kit answers 422 with a problem document
    assert not [name for name in schemas if name.endswith(("HTTPValidationError", ".ValidationError"))]
    refs = set(re.findall(r'"\$ref": "([^"]+)"', json.dumps(committed)))
    for ref in refs:
        kind, _, name = ref.removeprefix("#/components/").partition("/")
        assert name in committed["components"][kind], ref


def test_security_problems_and_rate_limits_are_declared(committed: dict[str, Any]) -> None:
    components = committed["components"]
    assert components["securitySchemes"]["bearerAuth"] == {**components["securitySchemes"]["bearerAuth"],
                                                          "type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    assert components["responses"]["TooManyRequests"]["headers"]["Retry-After"]
    assert "application/problem+json" in components["responses"]["ValidationFailed"]["content"]
    leads = committed["paths"]["/api/exhibition/exhibitors/{exhibitor_id}/leads"]["get"]
    assert {"bearerAuth": []} in leads["security"] and {} not in leads["security"]
    agenda = committed["paths"]["/api/sessions"]["get"]
    assert "security" not in agenda and {} in committed["security"]  # anonymous allowed
    create_exhibitor = committed["paths"]["/api/exhibition/exhibitors"]["post"]
    assert create_exhibitor.get("x-plenary-roles") == ["organiser"]
    for path, item in committed["paths"].items():
        for method, op in item.items():
            if method in METHODS:
                assert {"401", "429", "502", "504", "default"} <= set(op["responses"]), (path, method)
                if "422" in op["responses"]:
                    assert op["responses"]["422"] == {"$ref": "#/components/responses/ValidationFailed"}


async def test_every_listed_path_is_routed_to_its_service(upstream: Upstream, committed: dict[str, Any],
                                                          make_app) -> None:
    """With mock upstreams: each documented service path goes up as the service's own path."""
    app = make_app(service_urls={name: f"http://{name}.test" for name in contract.SERVICES})
    transport = httpx.ASGITransport(app, client=("203.0.113.9", 1))
    async with httpx.AsyncClient(transport=transport, base_url="http://gw.test") as c:
        for path, item in committed["paths"].items():
            service = path.split("/")[2]
            if service not in contract.SERVICES:
                continue
            concrete = re.sub(r"\{[^}]+\}", "x1", path)
            method = next(m for m in item if m in METHODS)
            upstream.requests.clear()
            response = await c.request(method.upper(), concrete)
            assert response.status_code == 200, (method, path)
            (sent,) = upstream.requests
            assert (sent.url.host, sent.url.path) == (f"{service}.test", concrete.removeprefix("/api"))


class _Assets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for key, value in attrs:
            if key in ("src", "href") and value:
                self.urls.append(value)


async def test_api_docs_renders_from_files_the_gateway_serves(client: httpx.AsyncClient) -> None:
    page = await client.get("/api/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    parser = _Assets()
    parser.feed(page.text)
    assert len(parser.urls) >= 3
    base = str(page.url)
    for url in parser.urls:
        assert not urlsplit(url).scheme and not url.startswith("//"), f"{url} is not served by the gateway"
        asset = await client.get(urljoin(base, url))
        assert asset.status_code == 200, url
        assert asset.content
    bundle = await client.get(urljoin(base, "docs/swagger-ui-bundle.js"))
    assert "SwaggerUIBundle" in bundle.text
    init = await client.get(urljoin(base, "docs/init.js"))
    spec_url = re.search(r'url: "([^"]+)"', init.text)
    assert spec_url is not None and urljoin(base, spec_url.group(1)).endswith("/api/openapi.json")
    assert (await client.get(urljoin(base, "docs/../../etc/passwd"))).status_code == 404
    assert (await client.get("/api/docs/index.css")).status_code == 404  # only the listed files


async def test_fastapis_cdn_docs_send_to_the_offline_ones(client: httpx.AsyncClient) -> None:
    for path in ("/docs", "/redoc"):
        response = await client.get(path)
        assert response.status_code == 308
        assert response.headers["location"] == "/api/docs"
