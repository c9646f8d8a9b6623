"""The exhibition service over its in-memory twins: memory_database() for Mongo, MemoryBroker for Kafka."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from exhibition import domain
from exhibition.config import Settings
from exhibition.handlers import Exhibition
from exhibition.leads import Leads
from exhibition.repository import ExhibitionRepository
from plenary_demo.load_exhibition import tiny_pdf, tiny_png
from plenary_events import registration
from plenary_events.registry import load_all, registry
from plenary_kit.auth import Principal
from plenary_kit.outbox import OutboxRelay
from plenary_kit.testing.memory import MemoryBroker, memory_database

T0 = datetime(2020, 7, 1, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


def ooxml(main_type: str, part: str = "/word/document.xml") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml",
                         '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
                         'package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/>'
                         f'<Override PartName="{part}" ContentType="{main_type}"/></Types>')
        archive.writestr(part.lstrip("/"), "<document/>")
    return buffer.getvalue()


DOCX_MAIN = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
XLSX_MAIN = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"
PPTX_MAIN = "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml"
DOCM_MAIN = "application/vnd.ms-word.document.macroEnabled.main+xml"


@dataclass
class Samples:
    pdf: bytes = field(default_factory=lambda: tiny_pdf("Brochure", ["line one", "line two"]))
    png: bytes = field(default_factory=lambda: tiny_png((40, 90, 160)))
    jpeg: bytes = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 64 + b"\xff\xd9"
    mp4: bytes = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00\x00\x00\x08free" + b"\x00" * 32
    docx: bytes = field(default_factory=lambda: ooxml(DOCX_MAIN))
    xlsx: bytes = field(default_factory=lambda: ooxml(XLSX_MAIN, "/xl/workbook.xml"))
    pptx: bytes = field(default_factory=lambda: ooxml(PPTX_MAIN, "/ppt/presentation.xml"))
    docm: bytes = field(default_factory=lambda: ooxml(DOCM_MAIN))
    text: bytes = "Fact sheet\nÉcole numérique — 2020\n".encode()


@pytest.fixture
def samples() -> Samples:
    return Samples()


ORGANISER = Principal(sub="org-1", roles=frozenset({"attendee", "organiser"}))


def staff(exhibitor_id: str, sub: str = "staff-1") -> Principal:
    return Principal(sub=sub, roles=frozenset({"attendee", "exhibitor-staff"}), exhibitor_id=exhibitor_id)


def attendee(sub: str = "att-1") -> Principal:
    return Principal(sub=sub, roles=frozenset({"attendee"}))


def exhibitor_body(key: str = "exh-001", **overrides: Any) -> domain.CreateExhibitor:
    body: dict[str, Any] = {
        "key": key, "organisation": "Digital Bridges Foundation", "stakeholder_type": "civil-society",
        "country": "KE", "description": "Community networks for rural schools.",
        "website": "https://digital-bridges.example.com",
        "tags": {"action_lines": ["C2", "C4"], "sdgs": [4, 9], "covid19": False},
        "videos": [{"title": "Our work", "url": "https://example.org/v1.mp4"}],
    }
    body.update(overrides)
    return domain.CreateExhibitor.model_validate(body)


@dataclass
class World:
    settings: Settings
    clock: Clock
    db: Any
    repo: ExhibitionRepository
    broker: MemoryBroker
    relay: OutboxRelay
    exhibition: Exhibition
    leads: Leads

    async def drain(self) -> int:
        return await self.relay.flush()

    def events(self, topic: str, suffix: str | None = None) -> list[Any]:
        return self.broker.events(self.settings.topic(topic), suffix)

    async def exhibitor(self, key: str = "exh-001", **overrides: Any) -> str:
        view = await self.exhibition.create_exhibitor(ORGANISER, exhibitor_body(key, **overrides))
        return str(view["id"])

    async def registered(self, attendee_id: str, *, opted_in: bool = True, name: str = "Amina Odhiambo",
                         email: str = "amina@example.org", organisation: str = "KICTANet",
                         updated: bool = False) -> None:
        """Feed a registration event to the consumer handler, as Kafka would."""
        common: dict[str, Any] = {
            "attendee_id": attendee_id, "name": name, "email": email, "country": "KE", "region": "D",
            "gender": "female", "stakeholder_type": "civil-society", "organisation": organisation,
            "exhibitor_contact_opt_in": opted_in,
        }
        self.clock.advance(seconds=1)
        data: Any = (registration.AttendeeUpdated(**common, updated_at=self.clock())
                     if updated else registration.AttendeeRegistered(**common, registered_at=self.clock()))
        await self.deliver(data, attendee_id)

    async def deliver(self, data: Any, subject: str, times: int = 1) -> None:
        envelope = registry.envelope(data, source=registration.SOURCE, subject=subject)
        for _ in range(times):
            await self.leads.on_registration_event(registry.decode(envelope))


@pytest.fixture
def make_world() -> Callable[..., Awaitable[World]]:
    load_all()

    async def make(**overrides: Any) -> World:
        values: dict[str, Any] = {"jwt_public_key": "unused in unit tests", "plenary_topic_prefix": "u.",
                                  "visit_window_seconds": 0, "hall_cache_seconds": 60.0,
                                  "material_max_bytes": 64 * 1024, "logo_max_bytes": 16 * 1024}
        values.update(overrides)
        settings = Settings(**values)
        clock = Clock()
        db = memory_database()
        repo = ExhibitionRepository(db)
        broker = MemoryBroker()
        relay = OutboxRelay(repo.outbox_collections, broker, service="exhibition")
        exhibition = Exhibition(repo, settings, clock=clock, notify=relay.notify)
        await repo.ensure_indexes()
        return World(settings, clock, db, repo, broker, relay, exhibition, Leads(exhibition))

    return make


@pytest.fixture
async def world(make_world: Callable[..., Awaitable[World]]) -> World:
    return await make_world()
