"""The API-call helper of page routes: call an upstream service as the viewer, get JSON or an `ApiProblem`.

    data = await api(request).get("sessions", "/sessions", params={"page": 2})
    await api(request).post("sessions", f"/sessions/{sid}/questions", json={"text": "..."})

Paths are the service's own (`/sessions/...`, what the gateway exposes as `/api/sessions/...`). The viewer's
bearer token, the client's address (X-Forwarded-For), the language and the trace id travel along. `public=True`
leaves the token out and lets the answer be cached briefly (same for every viewer).
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from plenary_kit.tracing import current_trace_id, make_traceparent, new_trace_id
from starlette.requests import HTTPConnection

from plenary_web.auth import viewer_of
from plenary_web.context import web_context
from plenary_web.i18n import _
from plenary_web.problems import ApiProblem

__all__ = ["Api", "ApiProblem", "api"]


class Api:
    def __init__(self, conn: HTTPConnection) -> None:
        self.conn = conn
        self.ctx = web_context(conn)
        self.viewer = viewer_of(conn)

    def _headers(self, public: bool, extra: dict[str, str] | None) -> dict[str, str]:
        headers = {"accept": "application/json",
                   "traceparent": make_traceparent(current_trace_id() or new_trace_id())}
        if not public and self.viewer.token:
            headers["authorization"] = f"Bearer {self.viewer.token}"
        if lang := self.conn.headers.get("accept-language"):
            headers["accept-language"] = lang
        if agent := self.conn.headers.get("user-agent"):
            headers["user-agent"] = agent
        client_ip = self.conn.client.host if self.conn.client else "unknown"
        headers["x-forwarded-for"] = client_ip
        headers.update(extra or {})
        return headers

    async def raw(self, method: str, service: str, path: str, *, params: Any = None, json_body: Any = None,
                  files: Any = None, data: Any = None, headers: dict[str, str] | None = None,
                  public: bool = False, stream: bool = False) -> httpx.Response:
        """The upstream's answer as it came (no status check); unreachable services answer 502/504 problems."""
        client = self.ctx.clients.get(service)
        if client is None:
            raise ApiProblem(404, _("This part of the site is not available right now."))
        url = f"{self.ctx.urls[service]}{path}"
        request = client.build_request(method, url, params=params, json=json_body, files=files, data=data,
                                       headers=self._headers(public, headers))
        try:
            return await client.send(request, stream=stream)
        except httpx.TimeoutException as exc:
            raise ApiProblem(504, _("The service did not answer in time; try again shortly.")) from exc
        except httpx.HTTPError as exc:
            raise ApiProblem(502, _("The service is unreachable right now; try again shortly.")) from exc

    async def call(self, method: str, service: str, path: str, *, params: Any = None, json: Any = None,
                   files: Any = None, data: Any = None, headers: dict[str, str] | None = None,
                   public: bool = False) -> Any:
        if public and method == "GET":  # the same for everyone: cached for a few seconds
            key = f"{service}{path}?{httpx.QueryParams(params or {})}"
            return await self.ctx.cache.get_or_load(
                key, lambda: self._call(method, service, path, params, None, None, None, headers, True))
        return await self._call(method, service, path, params, json, files, data, headers, public)

    async def _call(self, method: str, service: str, path: str, params: Any, json_body: Any, files: Any,
                    data: Any, headers: dict[str, str] | None, public: bool) -> Any:
        response = await self.raw(method, service, path, params=params, json_body=json_body, files=files,
                                  data=data, headers=headers, public=public)
        if response.status_code >= 400:
            raise ApiProblem.from_response(response)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except json.JSONDecodeError as exc:
            raise ApiProblem(502, _("The service gave an answer that could not be read.")) from exc

    async def get(self, service: str, path: str, *, params: Any = None, public: bool = False) -> Any:
        return await self.call("GET", service, path, params=params, public=public)

    async def post(self, service: str, path: str, *, json: Any = None, files: Any = None, data: Any = None,
                   headers: dict[str, str] | None = None) -> Any:
        return await self.call("POST", service, path, json=json, files=files, data=data, headers=headers)

    async def put(self, service: str, path: str, *, json: Any = None, files: Any = None,
                  headers: dict[str, str] | None = None) -> Any:
        return await self.call("PUT", service, path, json=json, files=files, headers=headers)

    async def patch(self, service: str, path: str, *, json: Any = None) -> Any:
        return await self.call("PATCH", service, path, json=json)

    async def delete(self, service: str, path: str) -> Any:
        return await self.call("DELETE", service, path)


def api(conn: HTTPConnection) -> Api:
    return Api(conn)
