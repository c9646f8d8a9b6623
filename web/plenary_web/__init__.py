"""Plenary's browser app: server-rendered pages (Jinja2) that the gateway serves at `/`.

`install(app, web_context)` adds the page routes, the static files, the language middleware and the HTML error
pages to a FastAPI app (the gateway's build_app calls it). See web/PAGES.md for the pages and the helpers.
"""

from __future__ import annotations

from plenary_web.setup import install

__all__ = ["install"]
