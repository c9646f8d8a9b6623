"""Jinja2 templates: one pair per kind in `templates/`.

`<kind>.txt.j2` holds three blocks, `subject`, `summary` (the inbox and live text) and `text` (the plain-text
email); `<kind>.html.j2` is the HTML email's content. Both are wrapped in `layout.txt.j2` / `layout.html.j2`,
which add the footer with the preferences link and, for kinds one may turn off, the unsubscribe link. HTML is
autoescaped (names and announcement bodies are user input); text is not.

Sending many emails of one notice (a broadcast, a session's reminders) goes through an `EmailPlan`: when a kind's
templates use the recipient's name only as a plain `{{ recipient.name }}` (and other recipient fields, such as the
time zone, only as inputs), the email is rendered once per distinct value of those other fields with a marker for
the name and the unsubscribe link, and each person's copy is the marked one with theirs put in (escaped for HTML).
The result is the same text as rendering for each person; a unit test compares them for every kind.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import ChainableUndefined, Environment, FileSystemLoader, Template, nodes, select_autoescape
from markupsafe import Markup, escape

from notifications.domain import KINDS, Recipient

TEMPLATES = Path(__file__).parent / "templates"
NAME_MARK, UNSUBSCRIBE_MARK = "\x00plenary-name\x00", "\x00plenary-unsubscribe\x00"  # never in real text


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


def _recipient_use(env: Environment, *templates: str, blocks: tuple[str, ...] = (),
                   name_apart: bool = True) -> frozenset[str] | None:
    """The recipient fields these templates (only these blocks, if given) use, leaving out (with `name_apart`) a
    plain `{{ recipient.name }}` output; None when they use the recipient in a way that cannot be keyed by fields
    (the whole object, or, with `name_apart`, the name in an expression)."""
    keyed: set[str] = set()
    for template in templates:
        tree: nodes.Node = env.parse(env.loader.get_source(env, template)[0] if env.loader else "")
        if blocks:
            tree = nodes.Template([b for b in tree.find_all(nodes.Block) if b.name in blocks])
        plain = [c for out in tree.find_all(nodes.Output) for c in out.nodes
                 if name_apart and isinstance(c, nodes.Getattr) and c.attr == "name"
                 and isinstance(c.node, nodes.Name) and c.node.name == "recipient"]
        fields = [g for g in tree.find_all(nodes.Getattr) if isinstance(g.node, nodes.Name)
                  and g.node.name == "recipient"]
        names = [n for n in tree.find_all(nodes.Name) if n.name == "recipient"]
        if len(names) != len(fields):
            return None  # `recipient` used whole
        keyed.update(g.attr for g in fields if not any(g is p for p in plain))
    return None if name_apart and "name" in keyed else frozenset(keyed)


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
        self._headline_keys = {name: _recipient_use(self.env, f"{name}.txt.j2", blocks=("subject", "summary"),
                                                    name_apart=False) for name in KINDS}
        self._email_keys = {name: _recipient_use(self.env, f"{name}.txt.j2", f"{name}.html.j2") for name in KINDS}
        self._layout_text = self.env.get_template("layout.txt.j2")
        self._layout_html = self.env.get_template("layout.html.j2")

    def email_keys(self, kind: str) -> frozenset[str] | None:
        """The recipient fields (besides a plainly printed name) the kind's email depends on; None: all of them."""
        return self._email_keys[kind]

    def email_plan(self, kind: str, context: dict[str, Any], *, link: str | None = None,
                   reason: str | None = None) -> EmailPlan:
        return EmailPlan(self, kind, context, link=link, reason=reason)

    def headline_keys(self, kind: str) -> frozenset[str] | None:
        """The recipient fields the kind's subject and summary depend on (empty: the same for everyone; None: the
        whole recipient)."""
        return self._headline_keys[kind]

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
        """Subject and summary (inbox, live push); with `email`, subject and the text and HTML bodies instead (the
        summary is not part of an email: not rendering it saves a template pass per message)."""
        variables: dict[str, Any] = {
            **context,
            "forum_name": self.forum_name,
            "recipient": {"name": recipient.name, "attendee_id": recipient.attendee_id,
                          "timezone": recipient.timezone},
            "link": self.absolute(link),
        }
        text_template = self._text[kind]
        subject = _one_line(self._block(text_template, "subject", variables))
        if not email:
            return Rendered(subject=subject, summary=_one_line(self._block(text_template, "summary", variables)))
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
        return Rendered(subject=subject, summary="", text=text, html=html)


class EmailPlan:
    """The emails of one notice: `render(recipient, unsubscribe_url)` gives what `Renderer.render(..., email=True)`
    gives, rendering the templates once per distinct value of the recipient fields they depend on (see the module
    doc) instead of once per person, when the kind allows it."""

    def __init__(self, renderer: Renderer, kind: str, context: dict[str, Any], *, link: str | None,
                 reason: str | None) -> None:
        self._renderer, self._kind, self._context = renderer, kind, context
        self._link, self._reason = link, reason
        self._keys = renderer.email_keys(kind)
        self._marked: dict[tuple[Any, ...], Rendered] = {}

    def render(self, recipient: Recipient, unsubscribe_url: str | None) -> Rendered:
        if self._keys is None:
            return self._renderer.render(self._kind, self._context, recipient=recipient, link=self._link,
                                         email=True, unsubscribe_url=unsubscribe_url, reason=self._reason)
        key = (*(getattr(recipient, field, None) for field in sorted(self._keys)), bool(unsubscribe_url))
        marked = self._marked.get(key)
        if marked is None:
            stand_in = Recipient(attendee_id=recipient.attendee_id, name=NAME_MARK, email=recipient.email,
                                 timezone=recipient.timezone)
            marked = self._marked[key] = self._renderer.render(
                self._kind, self._context, recipient=stand_in, link=self._link, email=True,
                unsubscribe_url=UNSUBSCRIBE_MARK if unsubscribe_url else None, reason=self._reason)
        url = unsubscribe_url or ""
        return Rendered(
            subject=_one_line(marked.subject.replace(NAME_MARK, recipient.name)),
            summary="",
            text=(marked.text or "").replace(NAME_MARK, recipient.name).replace(UNSUBSCRIBE_MARK, url),
            html=(marked.html or "").replace(NAME_MARK, str(escape(recipient.name))).replace(
                UNSUBSCRIBE_MARK, str(escape(url))),
        )
