"""The public API contract and its reader: `GET /api/openapi.json` (the committed document, see gateway/contract.py)
and `GET /api/docs` (Swagger UI). The Swagger UI files come from the `swagger-ui-py` package (Apache-2.0) and are
served by the gateway itself: the page works on a network without internet, and every URL in it is relative."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from fastapi import APIRouter, FastAPI
from plenary_kit.problems import ProblemError
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from gateway.contract import DOCUMENT

# the files of Swagger UI the page needs, by the name it asks for them
ASSETS = {
    "swagger-ui.css": "text/css; charset=utf-8",
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "favicon-32x32.png": "image/png",
    "LICENSE": "text/plain; charset=utf-8",
}
ASSET_CACHE = "public, max-age=86400"

# Relative URLs: the page is /api/docs, so `docs/x` is /api/docs/x and `openapi.json` is /api/openapi.json (and
# all still work when a proxy in front mounts the gateway under a path of its own).
PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Plenary public API</title>
<link rel="stylesheet" href="docs/swagger-ui.css">
<link rel="icon" type="image/png" href="docs/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="docs/swagger-ui-bundle.js"></script>
<script src="docs/init.js"></script>
</body>
</html>
"""
INIT = """window.ui = SwaggerUIBundle({
  url: "openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null,
  tryItOutEnabled: false,
  withCredentials: true,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout"
});
"""


def swagger_ui_dir() -> Path:
    """The `static` folder of the swagger-ui-py package (found without importing it: its import pulls in the
    adapters for half a dozen web frameworks)."""
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the swagger-ui-py package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


def docs_router(document_path: Path = DOCUMENT) -> APIRouter:
    """The routes; the document is read once, here (a gateway whose document is missing does not start)."""
    document = document_path.read_bytes()
    assets = swagger_ui_dir()
    missing = [name for name in ASSETS if not (assets / name).is_file()]
    if missing:
        raise RuntimeError(f"Swagger UI files missing from {assets}: {', '.join(missing)}")
    router = APIRouter(include_in_schema=False)

    @router.get("/api/openapi.json")
    async def openapi_document() -> Response:
        return Response(document, media_type="application/json", headers={"Cache-Control": "no-cache"})

    @router.get("/api/docs")
    async def docs_page() -> HTMLResponse:
        return HTMLResponse(PAGE, headers={"Cache-Control": "no-cache"})

    @router.get("/api/docs/init.js")
    async def docs_init() -> Response:
        return Response(INIT, media_type="text/javascript; charset=utf-8", headers={"Cache-Control": "no-cache"})

    @router.get("/api/docs/{name}")
    async def docs_asset(name: str) -> Response:
        if name not in ASSETS:
            raise ProblemError(404, f"There is no file called '{name}' in the API documentation.")
        return FileResponse(assets / name, media_type=ASSETS[name], headers={"Cache-Control": ASSET_CACHE})

    return router


def install(app: FastAPI, document_path: Path = DOCUMENT) -> None:
    """Adds the routes (before the proxy's catch-all, which would take /api/docs for a service called `docs`)
    and sends FastAPI's own /docs and /redoc, which load Swagger UI from a CDN, to /api/docs."""
    app.router.routes[:] = [route for route in app.router.routes
                            if getattr(route, "path", None) not in ("/docs", "/docs/oauth2-redirect", "/redoc")]
    app.include_router(docs_router(document_path))

    async def to_docs() -> RedirectResponse:
        return RedirectResponse("/api/docs", status_code=308)

    for path in ("/docs", "/redoc"):
        app.add_api_route(path, to_docs, methods=["GET"], include_in_schema=False)
