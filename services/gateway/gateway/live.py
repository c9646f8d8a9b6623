"""Live channels: which events reach which browsers, and who may listen.

Channels
    `session:<session id>`  a session's live state, Q&A and viewer counts; anyone may listen
    `user:<attendee id>`    one person's inbox and messages; only that person (a token whose `sub` matches)
    `facts`                 the live facts and figures (re-broadcast from the stats service's SSE stream)

Routing (extend it here when a service puts a new kind of event on a live topic)
    ROUTES maps an event type prefix to the data fields whose values name its channels; the longest matching
    prefix wins, DEFAULT_FIELDS applies when none matches. FIELD_CHANNELS says which channel kind a field names
    (a list value names several channels). Example: a `org.plenary.sessions.question.asked.v1` event with
    `{"session_id": "s1", ...}` goes to `session:s1`; a notification with `{"recipient_id": "a7"}` to `user:a7`.

What a browser receives is the event's id, type, time and data, less SECRET_FIELDS, and less AUTHOR_FIELDS when
the data says `"anonymous": true` (an anonymous question stays anonymous to the other viewers). Services put on
live topics only what the listeners of the routed channels may see.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from typing import Any

from plenary_kit.auth import Principal
from plenary_kit.envelope import Envelope
from plenary_kit.problems import ProblemError

# event type prefix -> data fields naming the event's channels (longest prefix wins)
ROUTES: dict[str, tuple[str, ...]] = {
    "org.plenary.sessions.": ("session_id",),  # Q&A, viewer counts, the session's state and recording
    # who joins and leaves is nobody else's business, and sent to every viewer it would cost viewers squared:
    # viewers follow `viewers.counted` instead
    "org.plenary.sessions.attendee.": (),
    "org.plenary.networking.": ("recipient_ids", "recipient_id"),  # conversations, messages, meetings
    "org.plenary.notifications.": ("recipient_id",),  # live push of a person's notifications
}
DEFAULT_FIELDS: tuple[str, ...] = ("session_id", "recipient_id", "recipient_ids")

# data field -> channel kind
FIELD_CHANNELS: dict[str, str] = {
    "session_id": "session",
    "recipient_id": "user",
    "recipient_ids": "user",
    "attendee_id": "user",
}

SECRET_FIELDS = frozenset({"email", "code", "password", "token", "access_token", "refresh_token"})
AUTHOR_FIELDS = frozenset({"attendee_id", "author_id", "author_name", "asker_id", "asker_name", "asked_by"})

FACTS = "facts"
_IDENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$")


def _anyone(principal: Principal | None, ident: str) -> None:
    return None


def _only_that_person(principal: Principal | None, ident: str) -> None:
    if principal is None:
        raise ProblemError(401, f"Sign in to listen to 'user:{ident}'.", headers={"WWW-Authenticate": "Bearer"})
    if principal.sub != ident:
        raise ProblemError(403, "You can only listen to your own channel, "
                                f"'user:{principal.sub}'.")


# channel kind -> who may subscribe (raises a problem when the caller may not)
CHANNEL_POLICIES: dict[str, Callable[[Principal | None, str], None]] = {
    "session": _anyone,
    "user": _only_that_person,
}
SINGLETON_CHANNELS: dict[str, Callable[[Principal | None, str], None]] = {FACTS: _anyone}


def parse_channels(raw: str | None, *, limit: int = 32) -> list[str]:
    """`session:s1,user:a7,facts` -> the distinct channel names, validated; a clear 400 otherwise."""
    names = list(dict.fromkeys(part.strip() for part in (raw or "").split(",") if part.strip()))
    if not names:
        raise ProblemError(400, "Name at least one channel: ?channels=session:<id>, user:<your id> or facts.")
    if len(names) > limit:
        raise ProblemError(400, f"Listen to at most {limit} channels on one connection.")
    for name in names:
        if name in SINGLETON_CHANNELS:
            continue
        kind, sep, ident = name.partition(":")
        if not sep or kind not in CHANNEL_POLICIES:
            kinds = ", ".join([*(f"{k}:<id>" for k in CHANNEL_POLICIES), *SINGLETON_CHANNELS])
            raise ProblemError(400, f"'{name}' is not a channel; channels are {kinds}.")
        if not _IDENT.match(ident):
            raise ProblemError(400, f"'{name}' does not name a valid {kind} id.")
    return names


def authorize(channels: Iterable[str], principal: Principal | None) -> None:
    for name in channels:
        if name in SINGLETON_CHANNELS:
            SINGLETON_CHANNELS[name](principal, "")
        else:
            kind, _, ident = name.partition(":")
            CHANNEL_POLICIES[kind](principal, ident)


def route_fields(event_type: str) -> tuple[str, ...]:
    best = ""
    for prefix in ROUTES:
        if event_type.startswith(prefix) and len(prefix) > len(best):
            best = prefix
    return ROUTES[best] if best else DEFAULT_FIELDS


def channels_for(event_type: str, data: dict[str, Any]) -> list[str]:
    """The channels an event goes to (no duplicates, in routing-table order)."""
    channels: dict[str, None] = {}
    for field in route_fields(event_type):
        kind = FIELD_CHANNELS.get(field)
        value = data.get(field)
        if kind is None or value is None:
            continue
        for ident in value if isinstance(value, list) else [value]:
            if isinstance(ident, str | int) and _IDENT.match(str(ident)):
                channels[f"{kind}:{ident}"] = None
    return list(channels)


def public_data(data: dict[str, Any]) -> dict[str, Any]:
    hidden = SECRET_FIELDS | AUTHOR_FIELDS if data.get("anonymous") is True else SECRET_FIELDS
    return {k: v for k, v in data.items() if k not in hidden}


def encode(envelope: Envelope) -> bytes:
    """What browsers receive for an event: serialised once, shared by every connection it goes to."""
    body = {"id": envelope.id, "type": envelope.type, "time": envelope.time.isoformat(),
            "data": public_data(envelope.data)}
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False, default=str).encode()
