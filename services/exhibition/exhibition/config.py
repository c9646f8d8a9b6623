"""The exhibition service's settings (environment variables; see ServiceSettings for the shared ones)."""

from __future__ import annotations

from datetime import datetime

from plenary_kit.settings import ServiceSettings
from pydantic import Field, SecretStr, field_validator

MIB = 1024 * 1024


class Settings(ServiceSettings):
    service_name: str = "exhibition"

    # The exhibition's opening and closing times (EXHIBITION_OPENS_AT / EXHIBITION_CLOSES_AT, ISO 8601 with an
    # offset). Unset: always open. Before it opens only organisers and exhibitor staff see the hall (to prepare
    # booths); after it closes booths stay readable but only organisers change them.
    exhibition_opens_at: datetime | None = None
    exhibition_closes_at: datetime | None = None

    # Uploads: a material is at most this large (413 beyond); a logo is a PNG or JPEG image of at most this size.
    material_max_bytes: int = Field(default=20 * MIB, gt=0)
    logo_max_bytes: int = Field(default=1 * MIB, gt=0)
    materials_per_booth_max: int = Field(default=30, gt=0)
    videos_per_booth_max: int = Field(default=20, ge=0)
    # An over-large upload whose body is at most this long is read to its end (and dropped) before the 413, so the
    # client sees the answer instead of a reset connection; a longer one is answered at once.
    upload_drain_max_bytes: int = Field(default=64 * MIB, ge=0)

    # A visitor's repeated visits to one booth count once per window of this many seconds (fixed windows from the
    # epoch: 30-minute slots by default); 0 counts every visit.
    visit_window_seconds: int = Field(default=1800, ge=0)
    # Salt of the visitor pseudonym carried by visit and download events (a salted hash of the attendee id).
    visitor_salt: SecretStr = SecretStr("plenary-exhibition-visitors")

    # The hall listing is served from an in-process copy of the booths, reloaded after this many seconds (and at
    # once after a change made through this process).
    hall_cache_seconds: float = Field(default=2.0, ge=0)
    # Links in answers point at the public API (the gateway serves /api/exhibition/...).
    public_api_prefix: str = "/api"
    # Housekeeping (removed objects whose events went out, abandoned uploads) runs this often.
    janitor_interval_seconds: float = Field(default=300.0, gt=0)
    abandoned_upload_seconds: int = Field(default=3600, gt=0)

    @field_validator("exhibition_opens_at", "exhibition_closes_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("give the time with its UTC offset, like 2020-06-22T09:00:00+02:00")
        return value
