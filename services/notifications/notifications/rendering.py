"""Jinja2 templates: one pair per kind in `templates/`.

`<kind>.txt.j2` holds three blocks, `subject`, `summary` (the inbox and live text) and `text` (the plain-text
email); `<kind>.html.j2` is the HTML email's content. Both are wrapped in `layout.txt.j2` / `layout.html.j2`,
which add the footer with the preferences link and, for kinds one may turn off, the unsubscribe link. HTML is
autoescaped (names and announcement bodies are user input); text is not.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import ChainableUndefined, Environment, FileSystemLoader, Template, select_autoescape
from markupsafe import Markup

from notifications.domain import KINDS, Recipient

TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class Rendered:
    subject: str
    summary: str
    text: str | None = None
    html: str | None = None


def _when(value: Any, timezone: str | None = None, fmt: str = "%A %-d %B %Y, %H:%M") -> str:
    """A time for people: in their time zone when known (with its abbreviation), else UTC."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if not isinstance(value, datetime):
        return str(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    zone: Any = UTC
    if timezone:
        try:
            zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            zone = UTC
    local = value.astimezone(zone)
    label = "UTC" if zone is UTC else (local.tzname() or timezone)
    return f"{local.strftime(fmt)} {label}"


def _one_line(value: str) -> str:
    return " ".join(value.split())


@functools.cache
def _environment(templates: Path) -> Environment:
    """Compiled once per process (the templates do not change while it runs)."""
    env = Environment(
        loader=FileSystemLoader(str(templates)),
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=False, default=False),
        undefined=ChainableUndefined,
        auto_reload=False,
    )
    env.filters["when"] = _when
    return env


class Renderer:
    def __init__(self, *, forum_name: str, base_url: str, templates: Path = TEMPLATES) -> None:
        self.base_url = base_url.rstrip("/")
        self.forum_name = forum_name
        self.env = _environment(templates)
        self._text: dict[str, Template] = {}
        self._html: dict[str, Template] = {}
        for name in KINDS:
            self._text[name] = self.env.get_template(f"{name}.txt.j2")
            self._html[name] = self.env.get_template(f"{name}.html.j2")
        self._layout_text = self.env.get_template("layout.txt.j2")
        self._layout_html = self.env.get_template("layout.html.j2")

    def absolute(self, link: str | None) -> str:
        if not link:
            return f"{self.base_url}/"
        if link.startswith(("http://", "https://")):
            return link
        return f"{self.base_url}/{link.lstrip('/')}"

    @property
    def preferences_url(self) -> str:
        return f"{self.base_url}/settings/notifications"

    def _block(self, template: Template, block: str, variables: dict[str, Any]) -> str:
        context = template.new_context(variables)
        return "".join(template.blocks[block](context)).strip()

    def render(
        self,
        kind: str,
        context: dict[str, Any],
        *,
        recipient: Recipient,
        link: str | None = None,
        email: bool = False,
        unsubscribe_url: str | None = None,
        reason: str | None = None,
    ) -> Rendered:
        """Subject and summary always; the text and HTML bodies only when `email` is set."""
        variables: dict[str, Any] = {
            **context,
            "forum_name": self.forum_name,
            "recipient": {"name": recipient.name, "attendee_id": recipient.attendee_id,
                          "timezone": recipient.timezone},
            "link": self.absolute(link),
        }
        text_template = self._text[kind]
        subject = _one_line(self._block(text_template, "subject", variables))
        summary = _one_line(self._block(text_template, "summary", variables))
        if not email:
            return Rendered(subject=subject, summary=summary)
        footer = {
            "forum_name": self.forum_name,
            "preferences_url": self.preferences_url,
            "unsubscribe_url": unsubscribe_url,
            "reason": reason or f"You receive this because you are registered for {self.forum_name}.",
            "subject": subject,
        }
        text_body = self._block(text_template, "text", variables)
        text = self._layout_text.render(content=text_body, **footer).strip() + "\n"
        html_body = self._html[kind].render(**variables).strip()
        html = self._layout_html.render(content=Markup(html_body), **footer)  # noqa: S704 (escaped by its template)
        return Rendered(subject=subject, summary=summary, text=text, html=html)
