"""Use cases of the exhibition: exhibitors, booths, their files, visits and downloads.

Each write is one single-document update (or insert) carrying the events it causes in that document's outbox;
afterwards `published` hands the relay the document's id and those events (`OutboxRelay.notify`), so it publishes
them without scanning the collection. Leads and the registration projection live in exhibition.leads.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from plenary_events import exhibition as events
from plenary_events.registry import registry
from plenary_kit.auth import Principal
from plenary_kit.envelope import Envelope, EventData
from plenary_kit.logging import get_logger
from plenary_kit.problems import ProblemError

from exhibition import domain, files, search
from exhibition.config import Settings
from exhibition.hall import Hall
from exhibition.repository import CHUNK_SIZE, ExhibitionRepository, KeyTaken

log = get_logger("exhibition.handlers")
Clock = Callable[[], datetime]
Events = list[tuple[str, Envelope]]
Notify = Callable[..., None]  # OutboxRelay.notify(doc_id, events, collection=name)
MIB = 1024 * 1024


def _no_relay(*args: Any, **kwargs: Any) -> None:
    return None


@dataclass(frozen=True)
class Upload:
    """A file as the client sent it: its name, the type it declared and its bytes."""

    filename: str
    declared_type: str | None
    data: bytes
    title: str | None = None


def _size(n: int) -> str:
    return f"{n / MIB:.0f} MiB" if n >= MIB else f"{n // 1024} KiB"


def too_large(limit: int) -> ProblemError:
    return ProblemError(413, f"The file is larger than the {_size(limit)} allowed here; send a smaller one.",
                        max_bytes=limit)


class Exhibition:
    def __init__(self, repo: ExhibitionRepository, settings: Settings, *, notify: Notify = _no_relay,
                 clock: Clock = domain.now_ms, hall: Hall | None = None) -> None:
        self.repo = repo
        self.settings = settings
        self.notify = notify
        self.clock = clock
        self.window = domain.Window(settings.exhibition_opens_at, settings.exhibition_closes_at)
        self.links = domain.Links(settings.public_api_prefix)
        self.hall = hall or Hall(self._hall_data, self.links, ttl=settings.hall_cache_seconds)
        self.exhibitors_topic = settings.topic(events.EXHIBITORS)
        self.activity_topic = settings.topic(events.ACTIVITY)
        self.salt = settings.visitor_salt.get_secret_value()

    # -- helpers -------------------------------------------------------------------------------------------
    @staticmethod
    def event(topic: str, data: EventData, subject: str) -> tuple[str, Envelope]:
        return topic, registry.envelope(data, source=events.SOURCE, subject=subject)

    def published(self, collection: Any, doc_id: Any, pending: Events) -> None:
        """Tell the outbox relay which document now holds which events."""
        if pending:
            self.notify(doc_id, pending, collection=collection.name)

    async def _hall_data(self) -> tuple[list[dict[str, Any]], dict[str, int]]:
        return await self.repo.all_exhibitors(), await self.repo.material_counts()

    def visitor(self, caller: Principal) -> str:
        return domain.visitor_pseudonym(caller.sub, self.salt)

    def check_visible(self, caller: Principal | None) -> None:
        """Before the opening only organisers and exhibitor staff see booths."""
        now = self.clock()
        if self.window.state(now) == domain.UPCOMING and not domain.prepares_booths(caller):
            raise ProblemError(403, self.window.message(now), **self.window.extensions())

    async def exhibitor(self, exhibitor_id: str) -> dict[str, Any]:
        doc = await self.repo.exhibitor(exhibitor_id)
        if doc is None:
            raise ProblemError(404, f"There is no exhibitor '{exhibitor_id}'.")
        return doc

    async def editable(self, caller: Principal, exhibitor_id: str) -> dict[str, Any]:
        """The exhibitor, if the caller may change its booth now: its staff while the exhibition is not closed,
        organisers always. 404 for an unknown exhibitor, 403 otherwise."""
        doc = await self.exhibitor(exhibitor_id)
        if not domain.can_edit(caller, exhibitor_id):
            raise ProblemError(403, "Only this exhibitor's staff and the organisers can change its booth.")
        now = self.clock()
        if not caller.is_organiser and self.window.state(now) == domain.CLOSED:
            raise ProblemError(403, self.window.message(now), **self.window.extensions())
        return doc

    def status(self) -> dict[str, Any]:
        return self.window.status(self.clock())

    # -- exhibitors ----------------------------------------------------------------------------------------
    async def create_exhibitor(self, caller: Principal, cmd: domain.CreateExhibitor) -> dict[str, Any]:
        if not caller.is_organiser:
            raise ProblemError(403, "Only organisers can add exhibitors.")
        if len(cmd.videos) > self.settings.videos_per_booth_max:
            raise ProblemError(422, f"A booth holds at most {self.settings.videos_per_booth_max} videos.")
        now = self.clock()
        exhibitor_id = f"ex-{uuid.uuid4().hex[:16]}"
        doc = domain.new_exhibitor(exhibitor_id, cmd, now)
        pending = [
            self.event(self.exhibitors_topic, domain.exhibitor_published(doc), exhibitor_id),
            self.event(self.exhibitors_topic, domain.booth_published(doc, now), exhibitor_id),
        ]
        try:
            await self.repo.insert_exhibitor(doc, pending)
        except KeyTaken:
            existing = await self.repo.exhibitor_by_key(doc["key"])
            raise ProblemError(409, f"An exhibitor with the key '{doc['key']}' exists already; change it with "
                                    "PATCH instead of adding it again.",
                               exhibitor_id=existing["_id"] if existing else None) from None
        self.published(self.repo.exhibitors, exhibitor_id, pending)
        self.hall.invalidate()
        log.info("exhibitor_created", exhibitor_id=exhibitor_id)
        return domain.booth_view(doc, [], self.links, caller)

    async def update_exhibitor(self, caller: Principal, exhibitor_id: str,
                               cmd: domain.UpdateExhibitor) -> dict[str, Any]:
        if not caller.is_organiser and any(f in cmd.model_fields_set for f in domain.ORGANISER_FIELDS):
            await self.editable(caller, exhibitor_id)  # a stranger learns 403/404 as for any change
            raise ProblemError(403, "Only organisers change an exhibitor's organisation, stakeholder type or "
                                    "country; you can change the description, website, tags and videos.")
        if cmd.videos is not None and len(cmd.videos) > self.settings.videos_per_booth_max:
            raise ProblemError(422, f"A booth holds at most {self.settings.videos_per_booth_max} videos.")
        for _ in range(5):
            doc = await self.editable(caller, exhibitor_id)
            changed = domain.changes(doc, cmd)
            if not changed:
                return await self.booth_of(doc, caller)
            now = self.clock()
            after = {**doc, **changed, "updated_at": now}
            pending = []
            if any(f in changed for f in domain.EXHIBITOR_EVENT_FIELDS):
                pending.append(self.event(self.exhibitors_topic, domain.exhibitor_published(after), exhibitor_id))
            if any(f in changed for f in domain.BOOTH_EVENT_FIELDS):
                pending.append(self.event(self.exhibitors_topic, domain.booth_published(after, now), exhibitor_id))
            if await self.repo.update_exhibitor(exhibitor_id, doc["version"], set_={**changed, "updated_at": now},
                                                events=pending):
                self.published(self.repo.exhibitors, exhibitor_id, pending)
                self.hall.invalidate()
                return await self.booth_of({**after, "version": doc["version"] + 1}, caller)
        raise ProblemError(409, "The booth was changed by someone else at the same moment; try again.")

    async def remove_exhibitor(self, caller: Principal, exhibitor_id: str, revoke_leads: Callable[..., Any]) -> None:
        if not caller.is_organiser:
            raise ProblemError(403, "Only organisers can remove exhibitors.")
        for _ in range(5):
            doc = await self.repo.exhibitor(exhibitor_id)
            if doc is None:
                return  # removed already: removing is idempotent
            now = self.clock()
            removed = [
                self.event(self.exhibitors_topic, events.BoothRemoved(exhibitor_id=exhibitor_id, removed_at=now),
                           exhibitor_id),
                self.event(self.exhibitors_topic, events.ExhibitorRemoved(exhibitor_id=exhibitor_id), exhibitor_id),
            ]
            if await self.repo.update_exhibitor(exhibitor_id, doc["version"], set_={"removed_at": now},
                                                events=removed):
                self.published(self.repo.exhibitors, exhibitor_id, removed)
                break
        else:
            raise ProblemError(409, "The exhibitor was changed by someone else at the same moment; try again.")
        await revoke_leads(exhibitor_id)
        await self.repo.remove_exhibitor_data(exhibitor_id)
        self.hall.invalidate()
        log.info("exhibitor_removed", exhibitor_id=exhibitor_id)

    # -- the hall and the booths ---------------------------------------------------------------------------
    async def hall_page(self, caller: Principal | None, query: search.HallFilter, *, offset: int,
                        limit: int) -> tuple[bytes, str]:
        self.check_visible(caller)
        return await self.hall.page(query, offset=offset, limit=limit)

    async def facets(self, caller: Principal | None) -> dict[str, Any]:
        self.check_visible(caller)
        return await self.hall.facets()

    async def booth_of(self, doc: dict[str, Any], caller: Principal | None) -> dict[str, Any]:
        return domain.booth_view(doc, await self.repo.assets_of(doc["_id"]), self.links, caller)

    async def booth(self, caller: Principal | None, exhibitor_id: str) -> dict[str, Any]:
        self.check_visible(caller)
        return await self.booth_of(await self.exhibitor(exhibitor_id), caller)

    # -- materials and logos -------------------------------------------------------------------------------
    def _checked(self, upload: Upload, limit: int, allowed: tuple[str, ...]) -> str:
        if len(upload.data) > limit:
            raise too_large(limit)
        try:
            return files.check_upload(upload.data, upload.filename, upload.declared_type, allowed)
        except files.FileRefused as exc:
            raise ProblemError(exc.status, str(exc)) from None

    def _asset(self, caller: Principal, exhibitor_id: str, kind: str, upload: Upload, mime: str) -> dict[str, Any]:
        filename = files.safe_filename(upload.filename, mime)
        title = (upload.title or "").strip()[:200] or filename.rsplit(".", 1)[0]
        return {"_id": f"{'mat' if kind == 'material' else 'logo'}-{uuid.uuid4().hex[:16]}",
                "exhibitor_id": exhibitor_id, "kind": kind, "title": title, "filename": filename,
                "content_type": mime, "size": len(upload.data), "sha256": hashlib.sha256(upload.data).hexdigest(),
                "created_at": self.clock(), "created_by": caller.sub}

    async def add_material(self, caller: Principal, exhibitor_id: str, upload: Upload) -> dict[str, Any]:
        await self.editable(caller, exhibitor_id)
        mime = self._checked(upload, self.settings.material_max_bytes, tuple(files.MATERIAL_TYPES))
        if await self.repo.count_assets(exhibitor_id) >= self.settings.materials_per_booth_max:
            raise ProblemError(409, f"This booth holds the most materials allowed "
                                    f"({self.settings.materials_per_booth_max}); remove one first.")
        asset = self._asset(caller, exhibitor_id, "material", upload, mime)
        await self.repo.store_asset(asset, upload.data)
        published = events.MaterialPublished(
            exhibitor_id=exhibitor_id, material_id=asset["_id"], title=asset["title"], filename=asset["filename"],
            content_type=mime, size=asset["size"], sha256=asset["sha256"], published_at=asset["created_at"])
        pending = [self.event(self.exhibitors_topic, published, exhibitor_id)]
        await self.repo.publish_asset(asset["_id"], pending)
        self.published(self.repo.assets, asset["_id"], pending)
        self.hall.invalidate()
        log.info("material_added", exhibitor_id=exhibitor_id, material_id=asset["_id"], size=asset["size"],
                 content_type=mime)
        return domain.material_view(asset, self.links)

    async def _material(self, exhibitor_id: str, material_id: str) -> dict[str, Any]:
        asset = await self.repo.asset(material_id)
        if asset is None or asset["exhibitor_id"] != exhibitor_id or asset["kind"] != "material":
            raise ProblemError(404, f"Exhibitor '{exhibitor_id}' has no material '{material_id}'.")
        return asset

    async def rename_material(self, caller: Principal, exhibitor_id: str, material_id: str,
                              cmd: domain.MaterialPatch) -> dict[str, Any]:
        await self.editable(caller, exhibitor_id)
        asset = await self._material(exhibitor_id, material_id)
        if asset["title"] != cmd.title:
            asset = {**asset, "title": cmd.title}
            published = events.MaterialPublished(
                exhibitor_id=exhibitor_id, material_id=material_id, title=cmd.title, filename=asset["filename"],
                content_type=asset["content_type"], size=asset["size"], sha256=asset["sha256"],
                published_at=self.clock())
            pending = [self.event(self.exhibitors_topic, published, exhibitor_id)]
            await self.repo.rename_asset(material_id, cmd.title, pending)
            self.published(self.repo.assets, material_id, pending)
        return domain.material_view(asset, self.links)

    async def remove_material(self, caller: Principal, exhibitor_id: str, material_id: str) -> None:
        await self.editable(caller, exhibitor_id)
        asset = await self.repo.asset(material_id)
        if asset is None or asset["exhibitor_id"] != exhibitor_id or asset["kind"] != "material":
            return  # gone already: removing is idempotent
        removed = events.MaterialRemoved(exhibitor_id=exhibitor_id, material_id=material_id,
                                         removed_at=self.clock())
        pending = [self.event(self.exhibitors_topic, removed, exhibitor_id)]
        if await self.repo.remove_asset(material_id, self.clock(), pending):
            self.published(self.repo.assets, material_id, pending)
        self.hall.invalidate()

    async def set_logo(self, caller: Principal, exhibitor_id: str, upload: Upload) -> dict[str, Any]:
        await self.editable(caller, exhibitor_id)
        mime = self._checked(upload, self.settings.logo_max_bytes, files.LOGO_TYPES)
        asset = self._asset(caller, exhibitor_id, "logo", upload, mime)
        await self.repo.store_asset(asset, upload.data)
        await self.repo.publish_asset(asset["_id"], [])
        return await self._replace_logo(caller, exhibitor_id, asset["_id"])

    async def remove_logo(self, caller: Principal, exhibitor_id: str) -> dict[str, Any]:
        await self.editable(caller, exhibitor_id)
        return await self._replace_logo(caller, exhibitor_id, None)

    async def _replace_logo(self, caller: Principal, exhibitor_id: str, logo: str | None) -> dict[str, Any]:
        for _ in range(5):
            doc = await self.editable(caller, exhibitor_id)
            old = doc.get("logo")
            if old == logo:
                return await self.booth_of(doc, caller)
            now = self.clock()
            after = {**doc, "logo": logo, "updated_at": now, "version": doc["version"] + 1}
            booth = self.event(self.exhibitors_topic, domain.booth_published(after, now), exhibitor_id)
            if await self.repo.update_exhibitor(exhibitor_id, doc["version"], set_={"logo": logo, "updated_at": now},
                                                events=[booth]):
                if old:
                    await self.repo.remove_asset(old, now, [])
                self.published(self.repo.exhibitors, exhibitor_id, [booth])
                self.hall.invalidate()
                return await self.booth_of(after, caller)
        raise ProblemError(409, "The booth was changed by someone else at the same moment; try again.")

    async def logo(self, exhibitor_id: str) -> dict[str, Any]:
        doc = await self.exhibitor(exhibitor_id)
        asset = await self.repo.asset(doc["logo"]) if doc.get("logo") else None
        if asset is None:
            raise ProblemError(404, f"Exhibitor '{exhibitor_id}' has no logo.")
        return asset

    async def material_for_download(self, caller: Principal, exhibitor_id: str, material_id: str) -> dict[str, Any]:
        self.check_visible(caller)
        await self.exhibitor(exhibitor_id)
        return await self._material(exhibitor_id, material_id)

    def content(self, asset: dict[str, Any], byte_range: files.ByteRange | None) -> AsyncIterator[bytes]:
        """The asset's bytes, or one range of them, as they come out of the chunks."""
        start, end = (byte_range.start, byte_range.end) if byte_range else (0, asset["size"] - 1)
        size = asset.get("chunk_size") or CHUNK_SIZE

        async def stream() -> AsyncIterator[bytes]:
            if asset["size"] == 0:
                return
            first, last = start // size, end // size
            n = first
            async for data in self.repo.read_chunks(asset["_id"], first, last):
                low = start - n * size if n == first else 0
                high = end - n * size + 1 if n == last else len(data)
                yield data[low:high]
                n += 1

        return stream()

    # -- visits and downloads ------------------------------------------------------------------------------
    async def record_download(self, caller: Principal, asset: dict[str, Any]) -> bool:
        now = self.clock()
        visitor = self.visitor(caller)
        downloaded = events.MaterialDownloaded(exhibitor_id=asset["exhibitor_id"], material_id=asset["_id"],
                                               visitor_id=visitor, downloaded_at=now)
        pending = [self.event(self.activity_topic, downloaded, asset["exhibitor_id"])]
        doc_id, first = await self.repo.record_download(asset["_id"], asset["exhibitor_id"], visitor, now, pending)
        self.published(self.repo.downloads, doc_id, pending)
        return first

    async def visit(self, caller: Principal, exhibitor_id: str) -> dict[str, Any]:
        self.check_visible(caller)
        await self.exhibitor(exhibitor_id)
        now = self.clock()
        visitor = self.visitor(caller)
        visited = events.BoothVisited(exhibitor_id=exhibitor_id, visitor_id=visitor, visited_at=now)
        window = self.settings.visit_window_seconds
        slot = str(int(now.timestamp()) // window) if window else uuid.uuid4().hex
        pending = [self.event(self.activity_topic, visited, exhibitor_id)]
        doc_id = await self.repo.record_visit(exhibitor_id, visitor, now, slot, pending)
        if doc_id is not None:
            self.published(self.repo.visits, doc_id, pending)
        return {"exhibitor_id": exhibitor_id, "counted": doc_id is not None, "visited_at": domain.iso(now)}

    async def figures(self, caller: Principal, exhibitor_id: str, lead_count: int | None = None) -> dict[str, Any]:
        """A booth's visits and downloads (total and distinct): its staff and organisers only."""
        await self.exhibitor(exhibitor_id)
        if not domain.can_edit(caller, exhibitor_id):
            raise ProblemError(403, "Only this exhibitor's staff and the organisers see its figures.")
        visits, visitors = await self.repo.visit_totals(exhibitor_id)
        downloads = await self.repo.download_totals(exhibitor_id)
        materials = []
        for asset in await self.repo.assets_of(exhibitor_id):
            total, distinct = downloads.get(asset["_id"], (0, 0))
            materials.append({"id": asset["_id"], "title": asset["title"], "downloads": total,
                              "distinct_downloaders": distinct})
        return {
            "exhibitor_id": exhibitor_id,
            "visits": visits,
            "distinct_visitors": visitors,
            "downloads": sum(t for t, _ in downloads.values()),
            "distinct_downloads": sum(d for _, d in downloads.values()),
            "materials": materials,
            "leads": lead_count,
        }
