"""The problem an upstream service answered (RFC 9457), as an exception page routes can raise and catch."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class ApiProblem(Exception):
    """An RFC 9457 problem answered by a service (or made up when it could not be reached)."""

    status: int
    detail: str
    errors: list[dict[str, Any]] = field(default_factory=list)
    body: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.status}: {self.detail}"

    @classmethod
    def from_response(cls, response: httpx.Response) -> ApiProblem:
        try:
            body = response.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        detail = body.get("detail") if isinstance(body.get("detail"), str) else None
        raw = body.get("errors")
        errors: list[dict[str, Any]] = [e for e in raw if isinstance(e, dict)] if isinstance(raw, list) else []
        return cls(response.status_code, detail or response.reason_phrase or "Error", errors, body)
