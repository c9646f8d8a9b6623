"""CloudEvents 1.0 envelope in Kafka's binary mode, and the registry of versioned event types.

The Kafka key is the aggregate id (`subject`), the value is the event's data as JSON and the CloudEvents
attributes ride in `ce_*` headers. Type names carry their version (`org.plenary.x.y.v1`); an old version is
upcast here, in the deserializer, so handlers only ever see the newest one.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict

from plenary_kit.tracing import current_trace_id, make_traceparent, new_trace_id, parse_traceparent

SPECVERSION = "1.0"
CONTENT_TYPE = "application/json"


class EventData(BaseModel):
    """Base of every event payload. Unknown fields from newer producers are ignored on read."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class EnvelopeError(ValueError):
    """A record that is not a valid Plenary event (missing headers, bad JSON, unknown type, invalid data)."""


@dataclass(frozen=True)
class Envelope:
    id: str
    type: str
    source: str
    subject: str
    time: datetime
    data: dict[str, Any]
    traceparent: str | None = None
    sequence: int | None = None
    extensions: dict[str, str] = field(default_factory=dict)

    @classmethod
    def new(
        cls,
        type: str,
        *,
        source: str,
        subject: str,
        data: BaseModel | dict[str, Any],
        sequence: int | None = None,
        event_id: str | None = None,
    ) -> Envelope:
        payload = data.model_dump(mode="json") if isinstance(data, BaseModel) else dict(data)
        trace_id = current_trace_id() or new_trace_id()
        return cls(
            id=event_id or str(uuid.uuid4()),
            type=type,
            source=source,
            subject=subject,
            time=datetime.now(UTC),
            data=payload,
            traceparent=make_traceparent(trace_id),
            sequence=sequence,
        )

    @property
    def trace_id(self) -> str | None:
        return parse_traceparent(self.traceparent)

    # -- Kafka binary mode -------------------------------------------------------------------------
    def to_record(self) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
        headers = [
            ("ce_id", self.id.encode()),
            ("ce_source", self.source.encode()),
            ("ce_type", self.type.encode()),
            ("ce_specversion", SPECVERSION.encode()),
            ("ce_time", self.time.isoformat().encode()),
            ("ce_subject", self.subject.encode()),
            ("content-type", CONTENT_TYPE.encode()),
        ]
        if self.traceparent:
            headers.append(("traceparent", self.traceparent.encode()))
        if self.sequence is not None:
            headers.append(("ce_sequence", str(self.sequence).encode()))
        for name, value in self.extensions.items():
            headers.append((f"ce_{name}", value.encode()))
        body = json.dumps(self.data, separators=(",", ":"), ensure_ascii=False).encode()
        return self.subject.encode(), body, headers

    @classmethod
    def from_record(cls, key: bytes | None, value: bytes | None, headers: Any) -> Envelope:
        hdrs: dict[str, str] = {}
        for name, raw in headers or ():
            try:
                hdrs[name] = raw.decode() if isinstance(raw, bytes | bytearray) else str(raw)
            except UnicodeDecodeError as exc:
                raise EnvelopeError(f"header {name!r} is not UTF-8") from exc
        missing = [h for h in ("ce_id", "ce_type", "ce_source", "ce_specversion") if h not in hdrs]
        if missing:
            raise EnvelopeError(f"missing CloudEvents headers: {', '.join(missing)}")
        if hdrs["ce_specversion"] != SPECVERSION:
            raise EnvelopeError(f"unsupported CloudEvents specversion {hdrs['ce_specversion']!r}")
        try:
            data = json.loads(value or b"null")
        except (ValueError, UnicodeDecodeError) as exc:
            raise EnvelopeError(f"value is not JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise EnvelopeError("value must be a JSON object")
        try:
            time = datetime.fromisoformat(hdrs["ce_time"]) if "ce_time" in hdrs else datetime.now(UTC)
        except ValueError as exc:
            raise EnvelopeError(f"ce_time is not an ISO 8601 time: {hdrs['ce_time']!r}") from exc
        known = {"ce_id", "ce_type", "ce_source", "ce_specversion", "ce_time", "ce_subject", "ce_sequence"}
        extensions = {k[3:]: v for k, v in hdrs.items() if k.startswith("ce_") and k not in known}
        sequence = hdrs.get("ce_sequence")
        return cls(
            id=hdrs["ce_id"],
            type=hdrs["ce_type"],
            source=hdrs["ce_source"],
            subject=hdrs.get("ce_subject") or (key.decode() if key else ""),
            time=time,
            data=data,
            traceparent=hdrs.get("traceparent"),
            sequence=int(sequence) if sequence and sequence.isdigit() else None,
            extensions=extensions,
        )

    # -- outbox storage (a plain document inside the aggregate's Mongo document) ----------------
    def to_doc(self, topic: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "topic": topic,
            "type": self.type,
            "source": self.source,
            "subject": self.subject,
            "time": self.time,
            "data": self.data,
            "traceparent": self.traceparent,
            "sequence": self.sequence,
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> tuple[str, Envelope]:
        time = doc["time"]
        if time.tzinfo is None:
            time = time.replace(tzinfo=UTC)
        return doc["topic"], cls(
            id=doc["id"],
            type=doc["type"],
            source=doc["source"],
            subject=doc["subject"],
            time=time,
            data=doc["data"],
            traceparent=doc.get("traceparent"),
            sequence=doc.get("sequence"),
        )


M = TypeVar("M", bound=EventData)
Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class DecodedEvent:
    envelope: Envelope
    data: EventData

    @property
    def type(self) -> str:
        return self.envelope.type


class EventRegistry:
    """Event type names -> pydantic models, plus upcasters from old versions to new ones."""

    def __init__(self) -> None:
        self._models: dict[str, type[EventData]] = {}
        self._topics: dict[str, str] = {}
        self._upcasters: dict[str, tuple[str, Upcaster]] = {}

    def register(self, type_name: str, topic: str | None = None) -> Callable[[type[M]], type[M]]:
        """Register a model under its versioned type name; `topic` is where it is published (for contracts)."""
        if not type_name.rsplit(".", 1)[-1].startswith("v"):
            raise ValueError(f"event type {type_name!r} must end with its version, like '.v1'")

        def decorate(model: type[M]) -> type[M]:
            if type_name in self._models:
                raise ValueError(f"event type {type_name!r} is registered twice")
            self._models[type_name] = model
            if topic:
                self._topics[type_name] = topic
            model.__event_type__ = type_name  # type: ignore[attr-defined]
            return model

        return decorate

    def upcaster(self, old: str, new: str) -> Callable[[Upcaster], Upcaster]:
        def decorate(fn: Upcaster) -> Upcaster:
            self._upcasters[old] = (new, fn)
            return fn

        return decorate

    def types(self) -> dict[str, type[EventData]]:
        return dict(self._models)

    def topic_of(self, type_name: str) -> str | None:
        return self._topics.get(type_name)

    def type_of(self, model: type[EventData] | EventData) -> str:
        name = getattr(model, "__event_type__", None)
        if not name:
            raise KeyError(f"{model!r} is not a registered event model")
        return str(name)

    def upcast(self, envelope: Envelope) -> Envelope:
        seen = set()
        while envelope.type in self._upcasters:
            if envelope.type in seen:
                raise EnvelopeError(f"upcaster loop at {envelope.type}")
            seen.add(envelope.type)
            new_type, fn = self._upcasters[envelope.type]
            envelope = replace(envelope, type=new_type, data=fn(dict(envelope.data)))
        return envelope

    def decode(self, envelope: Envelope) -> DecodedEvent:
        envelope = self.upcast(envelope)
        model = self._models.get(envelope.type)
        if model is None:
            raise EnvelopeError(f"unknown event type {envelope.type!r}")
        try:
            data = model.model_validate(envelope.data)
        except ValueError as exc:
            raise EnvelopeError(f"invalid {envelope.type} data: {exc}") from exc
        return DecodedEvent(envelope=envelope, data=data)

    def envelope(
        self, data: EventData, *, source: str, subject: str, sequence: int | None = None
    ) -> Envelope:
        return Envelope.new(self.type_of(data), source=source, subject=subject, data=data, sequence=sequence)
