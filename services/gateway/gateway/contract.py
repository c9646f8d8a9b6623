"""The public API contract: one OpenAPI 3.1 document for everything under `/api/`.

Generated at build time (`make openapi`, i.e. `python -m gateway.contract --write`) from the services' own FastAPI
apps, which describe their routes without a database or Kafka (`app.openapi()` does not run the lifespan), plus the
gateway's own routes; the result is committed as `gateway/public_openapi.json` and served as is by the gateway
(`GET /api/openapi.json`). `python -m gateway.contract --check` (and tests/unit/gateway/test_gateway_openapi.py)
fail when the committed document differs from what the services' code says now.

What the merge does to each service's document (`merge`):
- paths `/<service>/...` become `/api/<service>/...`, exactly as gateway/proxy.py routes them;
- schemas become `<service>.<Name>` (the gateway's own: `gateway.<Name>`) and every `$ref` is rewritten, so two
  services' `Attendee` never collide; schemas nothing refers to any more are dropped;
- every operation gets the service's tag, the security its route dependencies declare (bearer JWT, or the
  browser's sign-in cookie), and the problem-details answers (RFC 9457) the gateway and the kit give: 401, 403,
  422 (FastAPI's `HTTPValidationError` is replaced: the kit answers validation errors with a problem), 429 with
  `Retry-After`, 502/503/504, and a problem for anything else.
"""

from __future__ import annotations

import argparse
import copy
import importlib
import json
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

DOCUMENT = Path(__file__).with_name("public_openapi.json")
SERVICES = ("registration", "sessions", "exhibition", "networking", "notifications", "stats")
TITLE = "Plenary public API"
VERSION = "0.1.0"
SCHEMA_REF = "#/components/schemas/"
PROBLEM_JSON = "application/problem+json"
BEARER = "bearerAuth"
COOKIE = "cookieAuth"
QUERY_TOKEN = "accessTokenQuery"  # noqa: S105 (a scheme name)
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

# Route dependencies of plenary_kit.auth (by function name) -> what the operation needs.
REQUIRED_AUTH = frozenset({"require_principal", "require_organiser"})
OPTIONAL_AUTH = frozenset({"optional_principal"})
ORGANISER = frozenset({"require_organiser"})


# -- the pieces every operation shares -------------------------------------------------------------------------
def _problem_schemas() -> dict[str, Any]:
    problem = {
        "title": "Problem",
        "description": "An error, as RFC 9457 problem details: `detail` is a sentence for a person.",
        "type": "object",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {"type": "string", "description": "A URI naming the kind of problem", "default": "about:blank"},
            "title": {"type": "string", "description": "A short summary of the kind of problem"},
            "status": {"type": "integer", "description": "The HTTP status code", "minimum": 400, "maximum": 599},
            "detail": {"type": "string", "description": "What went wrong, and what to do about it"},
            "instance": {"type": "string", "description": "The path of the request"},
        },
        "additionalProperties": True,
    }
    validation = {
        "title": "ValidationProblem",
        "description": "A request whose parameters or body do not fit: one entry per field at fault.",
        "allOf": [
            {"$ref": f"{SCHEMA_REF}Problem"},
            {
                "type": "object",
                "required": ["errors"],
                "properties": {
                    "errors": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["field", "message", "type"],
                            "properties": {
                                "field": {"type": "string", "examples": ["email"]},
                                "message": {"type": "string"},
                                "type": {"type": "string", "examples": ["missing"]},
                            },
                        },
                    },
                },
            },
        ],
    }
    return {"Problem": problem, "ValidationProblem": validation}


def _problem(description: str, schema: str = "Problem", headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description,
                                "content": {PROBLEM_JSON: {"schema": {"$ref": f"{SCHEMA_REF}{schema}"}}}}
    if headers:
        response["headers"] = headers
    return response


RETRY_AFTER = {"$ref": "#/components/headers/Retry-After"}
RESPONSES: dict[str, dict[str, Any]] = {
    "Unauthorized": _problem("The token (or sign-in cookie) is missing where one is needed, invalid or expired."),
    "Forbidden": _problem("Signed in, but not allowed to do this (or a cookie-authenticated write without the "
                          "`X-CSRF-Token` header)."),
    "ValidationFailed": _problem("The parameters or the body do not fit the operation.", "ValidationProblem"),
    "TooManyRequests": _problem("Over the rate limit (per person when signed in, else per client address).",
                                headers={"Retry-After": RETRY_AFTER}),
    "BadGateway": _problem("The service behind the gateway is unreachable or broke off its answer.",
                           headers={"Retry-After": RETRY_AFTER}),
    "ServiceUnavailable": _problem("The service is not ready (e.g. its database is unreachable).",
                                   headers={"Retry-After": RETRY_AFTER}),
    "GatewayTimeout": _problem("The service behind the gateway did not answer in time.",
                               headers={"Retry-After": RETRY_AFTER}),
    "Problem": _problem("Any other error, as a problem document."),
}
HEADERS = {
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "schema": {"type": "integer", "minimum": 0},
    },
}
SECURITY_SCHEMES = {
    BEARER: {
        "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
        "description": "An access token from `POST /api/registration/signin/token` (or `/attendees`, "
                       "`/token/refresh`): a short-lived signed JWT (EdDSA).",
    },
    COOKIE: {
        "type": "apiKey", "in": "cookie", "name": "plenary_at",
        "description": "The browser's sign-in cookie, set by the web app's sign-in pages. Reads (GET, HEAD) use "
                       "it as is; any other method also needs the `X-CSRF-Token` header equal to the "
                       "`plenary_csrf` cookie, else the answer is 403.",
    },
    QUERY_TOKEN: {
        "type": "apiKey", "in": "query", "name": "access_token",
        "description": "The access token as a query parameter, for EventSource (which cannot send headers); "
                       "only on `GET /api/live`.",
    },
}
SIGNED_IN: list[dict[str, list[str]]] = [{BEARER: []}, {COOKIE: []}]
MAYBE_SIGNED_IN: list[dict[str, list[str]]] = [{}, *SIGNED_IN]


# -- reading the apps -----------------------------------------------------------------------------------------
def _dependency_names(dependant: Any) -> Iterator[str]:
    for dep in getattr(dependant, "dependencies", ()):
        call = getattr(dep, "call", None)
        if call is not None:
            yield getattr(call, "__name__", "")
        yield from _dependency_names(dep)


def _api_routes(app: Any) -> Iterator[Any]:
    """The app's API routes as FastAPI's OpenAPI generator sees them (newer FastAPI includes routers lazily:
    `app.routes` then holds the included router, and `iter_route_contexts` flattens it)."""
    from fastapi.routing import APIRoute

    try:
        from fastapi.routing import iter_route_contexts  # type: ignore[attr-defined,unused-ignore]
    except ImportError:  # FastAPI before the lazy include
        yield from (route for route in app.routes if isinstance(route, APIRoute))
        return
    for context in iter_route_contexts(app.routes):
        if isinstance(context.original_route, APIRoute):
            yield context


def route_auth(app: Any) -> dict[tuple[str, str], set[str]]:
    """(path, method) -> the names of the auth dependencies of that route (recursively)."""
    table: dict[tuple[str, str], set[str]] = {}
    for route in _api_routes(app):
        if not route.include_in_schema:
            continue
        names = set(_dependency_names(route.dependant)) & (REQUIRED_AUTH | OPTIONAL_AUTH)
        for method in route.methods or ():
            table[(route.path_format, method.lower())] = names
    return table


def _keys() -> tuple[str, str]:
    from plenary_kit.auth import generate_keypair

    return generate_keypair()


def service_app(name: str, private_pem: str, public_pem: str) -> Any:
    """A service's FastAPI app built from its `build_app` with throwaway keys: nothing connects until the lifespan
    starts, and `app.openapi()` does not start it."""
    module = importlib.import_module(f"{name}.app")
    settings_module = importlib.import_module(module.build_app.__module__)
    settings_class = settings_module.Settings
    fields = settings_class.model_fields
    values: dict[str, Any] = {"jwt_public_key": public_pem}
    if "jwt_private_key" in fields:
        values["jwt_private_key"] = private_pem
    return module.build_app(settings_class(**values))


def gateway_app() -> Any:
    """The gateway's own documented routes (the proxy's catch-all and the web pages are not in the schema)."""
    from plenary_kit.http import create_app

    from gateway.api import router

    return create_app(service="gateway", title="Plenary gateway", routers=[router])


def apps() -> dict[str, Any]:
    """name -> FastAPI app, for the gateway and every service."""
    private_pem, public_pem = _keys()
    built = {"gateway": gateway_app()}
    with warnings.catch_warnings():  # FastAPI's duplicate operation id warning (GET+HEAD routes); merge fixes it
        warnings.simplefilter("ignore", UserWarning)
        for name in SERVICES:
            built[name] = service_app(name, private_pem, public_pem)
    return built


Sources = dict[str, tuple[dict[str, Any], dict[tuple[str, str], set[str]]]]


def sources(built: dict[str, Any] | None = None) -> Sources:
    """name -> (the app's own OpenAPI document, its route auth table)."""
    built = apps() if built is None else built
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return {name: (app.openapi(), route_auth(app)) for name, app in built.items()}


# -- merging --------------------------------------------------------------------------------------------------
def _rewrite_refs(node: Any, rename: Callable[[str], str]) -> Any:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith(SCHEMA_REF):
                out[key] = SCHEMA_REF + rename(value[len(SCHEMA_REF):])
            else:
                out[key] = _rewrite_refs(value, rename)
        return out
    if isinstance(node, list):
        return [_rewrite_refs(item, rename) for item in node]
    return node


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith(SCHEMA_REF):
                yield value[len(SCHEMA_REF):]
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _reachable(roots: Any, schemas: dict[str, Any]) -> set[str]:
    seen: set[str] = set()
    todo = list(_refs(roots))
    while todo:
        name = todo.pop()
        if name in seen or name not in schemas:
            continue
        seen.add(name)
        todo.extend(_refs(schemas[name]))
    return seen


def public_path(service: str, path: str) -> str | None:
    """The public path of a service's route (None when the proxy cannot reach it: outside `/<service>/`)."""
    if service == "gateway":
        return path if path.startswith("/api/") else None
    if path == f"/{service}" or path.startswith(f"/{service}/"):
        return f"/api{path}"
    return None


def _method_rank(key: str) -> tuple[int, str]:
    return (HTTP_METHODS.index(key) + 1 if key in HTTP_METHODS else 0, key)


def _operation_id(op_id: str, method: str) -> str:
    """FastAPI names a route of several methods (GET and HEAD) after one of them, picked in set order: both
    operations then share one id, ending in whichever method came first. Each gets its own method here."""
    stem, _, last = op_id.rpartition("_")
    return f"{stem}_{method}" if stem and last in HTTP_METHODS else op_id


def _operation(op: dict[str, Any], service: str, auth: set[str]) -> dict[str, Any]:
    op = copy.deepcopy(op)
    op["tags"] = [service]
    responses: dict[str, Any] = op.setdefault("responses", {})
    if "422" in responses:
        responses["422"] = {"$ref": "#/components/responses/ValidationFailed"}
    if auth & REQUIRED_AUTH:
        op["security"] = copy.deepcopy(SIGNED_IN)
        responses.setdefault("403", {"$ref": "#/components/responses/Forbidden"})
        if auth & ORGANISER:
            op["description"] = (op.get("description", "").rstrip() + "\n\nOrganisers only.").lstrip()
            op["x-plenary-roles"] = ["organiser"]
    # a token, when sent, is verified by the gateway on every route: a bad one is a 401 anywhere
    responses.setdefault("401", {"$ref": "#/components/responses/Unauthorized"})
    for status, name in (("429", "TooManyRequests"), ("502", "BadGateway"), ("503", "ServiceUnavailable"),
                         ("504", "GatewayTimeout"), ("default", "Problem")):
        responses.setdefault(status, {"$ref": f"#/components/responses/{name}"})
    return op


def merge(sources: Sources) -> dict[str, Any]:
    """One public document from the gateway's and the services' own documents (see the module docstring)."""
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = dict(_problem_schemas())
    operation_ids: set[str] = set()
    tags = []
    for service in sorted(sources, key=lambda s: (s != "gateway", s)):
        document, auth_table = sources[service]
        own_schemas: dict[str, Any] = document.get("components", {}).get("schemas", {})

        def rename(name: str, service: str = service) -> str:
            return f"{service}.{name}"

        service_paths: dict[str, Any] = {}
        for path, item in sorted(document.get("paths", {}).items()):
            public = public_path(service, path)
            if public is None:
                continue
            new_item: dict[str, Any] = {}
            # a fixed order: FastAPI lists a route's methods in set order, which changes with the hash seed
            for key, value in sorted(item.items(), key=lambda kv: _method_rank(kv[0])):
                if key not in HTTP_METHODS:
                    new_item[key] = copy.deepcopy(value)
                    continue
                op = _operation(value, service, auth_table.get((path, key), set()))
                op_id = _operation_id(op.get("operationId") or f"{key}_{public}", key)
                if op_id in operation_ids:
                    op_id = f"{op_id}_{key}"
                operation_ids.add(op_id)
                op["operationId"] = op_id
                new_item[key] = op
            service_paths[public] = _rewrite_refs(new_item, rename)
        if not service_paths:
            continue
        title = document.get("info", {}).get("title", service)
        tags.append({"name": service, "description": f"{title} (`/api/{service}/...`)" if service != "gateway"
                     else "The gateway's own routes: live updates, page views, status."})
        renamed = {rename(name): _rewrite_refs(schema, rename) for name, schema in own_schemas.items()}
        used = _reachable(service_paths, renamed)
        schemas.update({name: renamed[name] for name in sorted(used)})
        paths.update(service_paths)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": TITLE,
            "version": VERSION,
            "description": (
                "Everything a client can call through the gateway. Every service's routes under "
                "`/api/<service>/...`, and the gateway's own. Errors are RFC 9457 problem documents "
                "(`application/problem+json`). A bearer token, when sent, is verified by the gateway first; "
                "requests are rate-limited per person (signed in) or per client address, and a 429 says how "
                "long to wait in `Retry-After`. Generated from the services' code by `make openapi`."
            ),
        },
        "servers": [{"url": "/", "description": "The gateway that serves this document"}],
        "tags": tags,
        "security": copy.deepcopy(MAYBE_SIGNED_IN),
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "responses": copy.deepcopy(RESPONSES),
            "headers": copy.deepcopy(HEADERS),
            "securitySchemes": copy.deepcopy(SECURITY_SCHEMES),
        },
    }


def _adjust_live(document: dict[str, Any]) -> None:
    """`GET /api/live` also takes the token as `?access_token=` (EventSource cannot send headers)."""
    live = document["paths"].get("/api/live", {}).get("get")
    if live is not None:
        live["security"] = [{}, *SIGNED_IN, {QUERY_TOKEN: []}]


def build(built: dict[str, Any] | None = None) -> dict[str, Any]:
    """The public document, from the apps as they are now."""
    document = merge(sources(built))
    _adjust_live(document)
    return document


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=1, sort_keys=False, ensure_ascii=False) + "\n"


def load() -> dict[str, Any]:
    """The committed document (what the gateway serves)."""
    document: dict[str, Any] = json.loads(DOCUMENT.read_text(encoding="utf-8"))
    return document


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate or check the gateway's public OpenAPI document.")
    parser.add_argument("--check", action="store_true", help="fail if the committed document is stale")
    args = parser.parse_args(argv)
    text = render(build())
    if args.check:
        if not DOCUMENT.exists() or DOCUMENT.read_text(encoding="utf-8") != text:
            print(f"{DOCUMENT} is stale: run `make openapi` and commit it.", file=sys.stderr)
            return 1
        print(f"{DOCUMENT} is current.")
        return 0
    DOCUMENT.write_text(text, encoding="utf-8")
    print(f"wrote {DOCUMENT} ({len(text)} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
