"""Forms: read a POSTed form (CSRF checked) and show an API's problem next to the fields it concerns.

    form = await read_form(request)                       # 403 problem when the CSRF token does not match
    try:
        await api(request).post("registration", "/registration/attendees", json=body)
    except ApiProblem as problem:
        errors = FormErrors.of(problem)                    # {"email": "The e-mail address ..."}; .summary
        return render(request, "register.html", {"errors": errors, "values": form.values}, status=problem.status)

Problems carry `detail` (a sentence) and, for validation errors, `errors[]` with `field` (or `loc`) and `message`.
A field named in `errors` gets its own sentence; a detail that names a field the way the services write it
(`'email': ...`) goes to that field too; everything else shows as the form's summary.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request

from plenary_web.api import ApiProblem
from plenary_web.auth import CSRF_FIELD, CSRF_HEADER, check_csrf
from plenary_web.i18n import _

_FIELD_IN_DETAIL = re.compile(r"^'([A-Za-z0-9_.]+)'")


@dataclass
class Form:
    data: FormData

    def get(self, name: str, default: str = "") -> str:
        value = self.data.get(name)
        return value.strip() if isinstance(value, str) else default

    def getlist(self, name: str) -> list[str]:
        return [v.strip() for v in self.data.getlist(name) if isinstance(v, str) and v.strip()]

    def checked(self, name: str) -> bool:
        return self.get(name) in ("on", "true", "1", "yes")

    def file(self, name: str) -> UploadFile | None:
        value = self.data.get(name)
        return value if isinstance(value, UploadFile) and value.filename else None

    @property
    def values(self) -> dict[str, Any]:
        """What was typed, to fill the form in again (never the CSRF token or files)."""
        out: dict[str, Any] = {}
        for key in self.data:
            if key == CSRF_FIELD:
                continue
            items = [v for v in self.data.getlist(key) if isinstance(v, str)]
            out[key] = items if len(items) > 1 else (items[0] if items else "")
        return out


async def read_form(request: Request) -> Form:
    data = await request.form()
    submitted = data.get(CSRF_FIELD)
    check_csrf(request, submitted if isinstance(submitted, str) else request.headers.get(CSRF_HEADER))
    return Form(data)


def field_of(error: dict[str, Any]) -> str:
    """`interests.sdgs.0` -> `interests.sdgs`; loc lists like ['body', 'email'] -> `email`."""
    name = error.get("field")
    if not isinstance(name, str):
        loc = error.get("loc")
        parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")] if isinstance(loc, list) else []
        name = ".".join(parts)
    parts = [p for p in (name or "").split(".") if not p.isdigit()]
    return ".".join(parts)


@dataclass
class FormErrors:
    fields: dict[str, str] = field(default_factory=dict)
    summary: str = ""

    def __bool__(self) -> bool:
        return bool(self.fields or self.summary)

    def get(self, name: str) -> str:
        return self.fields.get(name, "")

    @classmethod
    def of(cls, problem: ApiProblem, aliases: dict[str, str] | None = None) -> FormErrors:
        """`aliases` maps an API field to the form's field where they differ (e.g. `consents.directory`)."""
        aliases = aliases or {}
        fields: dict[str, str] = {}
        for error in problem.errors:
            if not isinstance(error, dict):
                continue
            name = field_of(error)
            name = aliases.get(name, name)
            message = str(error.get("message") or error.get("msg") or "").removeprefix("Value error, ")
            if name and message and name not in fields:
                fields[name] = _sentence(message)
        if not fields and (match := _FIELD_IN_DETAIL.match(problem.detail)):
            name = aliases.get(match.group(1), match.group(1))
            fields[name] = problem.detail
        summary = problem.detail
        if problem.status >= 500 or problem.status == 429:
            summary = problem.detail or _("Something went wrong; try again shortly.")
        return cls(fields, summary)

    @classmethod
    def single(cls, name: str, sentence: str) -> FormErrors:
        return cls({name: sentence}, sentence)


def _sentence(message: str) -> str:
    message = message.strip()
    if not message:
        return message
    message = message[:1].upper() + message[1:]
    return message if message.endswith((".", "!", "?")) else message + "."
