"""Registration rules: the commands a client may send, how an attendee document looks, and the pure decisions.

No I/O here. The repository stores the documents this module builds; the handlers decide with these functions.

An attendee document (collection `attendees`, `_id` = attendee id):
    name, email, email_lc (unique), country, region, gender, stakeholder_type, organisation, job_title,
    languages, interests {action_lines, sdgs}, consents {directory, exhibitor_contact: {given, given_at}},
    timezone, roles, exhibitor_id, status (registered | cancelled | erased), version, registered_at,
    updated_at, cancelled_at, erased_at, search (lower-case name, e-mail and organisation),
    fingerprint (of the registration body, for `Idempotency-Key` replays),
    signin {h, exp, attempts, used, requested_at}      the pending one-time code (hashed),
    refresh {<family>: {h, exp, created_at}}            one entry per signed-in device (hashed token),
    _outbox [...]                                       events waiting for the relay.
An erased attendee keeps only `_id`, status, erased_at and version (a tombstone): no address, so the unique (sparse)
`email_lc` index lets any number of tombstones coexist and the address register again.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
import uuid
import zoneinfo
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from email_validator import EmailNotValidError, validate_email
from plenary_events import reference
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, field_validator

REGISTERED = "registered"
CANCELLED = "cancelled"
ERASED = "erased"
STATUSES = (REGISTERED, CANCELLED, ERASED)

ATTENDEE = "attendee"
ORGANISER = "organiser"
EXHIBITOR_STAFF = "exhibitor-staff"

# The fields that hold personal data: an erasure removes every one of them.
PERSONAL_FIELDS = (
    "name", "email", "email_lc", "country", "region", "gender", "stakeholder_type", "organisation",
    "job_title", "languages", "interests", "consents", "timezone", "roles", "exhibitor_id", "search",
    "fingerprint", "signin", "refresh", "registered_at", "updated_at", "cancelled_at",
)  # fmt: skip

_ID_NAMESPACE = uuid.UUID("6f1d2c36-5a0e-4d49-9a53-0b7f3c1e2a88")


def now_ms() -> datetime:
    """The current UTC time at millisecond precision (what Mongo stores, so documents and events agree)."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


# --------------------------------------------------------------------------------------------------------------
# Field types: each validator answers with a sentence; the problem handler names the field.
# --------------------------------------------------------------------------------------------------------------


def _email(value: str) -> str:
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(str(exc).rstrip(".")) from exc


def _upper(value: Any) -> Any:
    return value.strip().upper() if isinstance(value, str) else value


def _country(value: str) -> str:
    reference.region_of(value)  # raises ValueError with a sentence for an unknown code
    return value


def _one_of(kind: str, allowed: tuple[str, ...]) -> AfterValidator:
    def check(value: str) -> str:
        if value not in allowed:
            raise ValueError(f"unknown {kind} {value!r}; expected one of: {', '.join(allowed)}")
        return value

    return AfterValidator(check)


def _language(value: str) -> str:
    if not re.fullmatch(r"[a-z]{2,3}", value):
        raise ValueError(f"{value!r} is not a language code; use ISO 639-1 codes such as 'en' or 'fr'")
    return value


def _distinct(values: list[Any]) -> list[Any]:
    return list(dict.fromkeys(values))


_TIMEZONES = frozenset(zoneinfo.available_timezones())


def _timezone(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    if value not in _TIMEZONES and value != "UTC":
        raise ValueError(f"unknown time zone {value!r}; use an IANA name such as 'Europe/Zurich'")
    return value


def _action_lines(values: list[str]) -> list[str]:
    unknown = [v for v in values if not reference.is_action_line(v)]
    if unknown:
        raise ValueError(f"unknown WSIS Action Line {', '.join(map(repr, unknown))}; expected C1 to C11")
    return sorted(set(values), key=lambda code: int(code[1:]))


def _sdgs(values: list[int]) -> list[int]:
    unknown = [v for v in values if not reference.is_sdg(v)]
    if unknown:
        raise ValueError(f"unknown SDG {', '.join(map(repr, unknown))}; expected numbers 1 to 17")
    return sorted(set(values))


Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Email = Annotated[str, StringConstraints(strip_whitespace=True, max_length=320), AfterValidator(_email)]
Country = Annotated[str, BeforeValidator(_upper), AfterValidator(_country)]
Gender = Annotated[str, _one_of("gender", reference.GENDERS)]
StakeholderType = Annotated[str, _one_of("stakeholder type", reference.STAKEHOLDER_TYPES)]
Role = Annotated[str, _one_of("role", reference.ROLES)]
Language = Annotated[str, BeforeValidator(lambda v: v.strip().lower() if isinstance(v, str) else v),
                     AfterValidator(_language)]
Languages = Annotated[list[Language], Field(max_length=20), AfterValidator(_distinct)]
Timezone = Annotated[str | None, AfterValidator(_timezone)]


class Command(BaseModel):
    """Base of every write body: unknown fields are refused (no mass assignment)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class InterestsIn(Command):
    action_lines: Annotated[list[str], Field(max_length=11), AfterValidator(_action_lines)] = Field(
        default_factory=list)
    sdgs: Annotated[list[int], Field(max_length=17), AfterValidator(_sdgs)] = Field(default_factory=list)


class ConsentsIn(Command):
    directory: bool = False
    exhibitor_contact: bool = False


class ConsentsPatch(Command):
    directory: bool | None = None
    exhibitor_contact: bool | None = None


class Register(Command):
    name: Name
    email: Email
    country: Country
    gender: Gender
    stakeholder_type: StakeholderType
    organisation: Text = ""
    job_title: Text = ""
    languages: Languages = Field(default_factory=list)
    interests: InterestsIn = Field(default_factory=InterestsIn)
    consents: ConsentsIn = Field(default_factory=ConsentsIn)
    timezone: Timezone = None

    def fingerprint(self) -> str:
        body = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(body.encode()).hexdigest()


_NOT_NULL = ("name", "email", "country", "gender", "stakeholder_type", "organisation", "job_title", "languages",
             "interests", "consents")


class UpdateProfile(Command):
    """A partial profile change: only the fields sent change. Roles and status are not settable here."""

    name: Name | None = None
    email: Email | None = None
    country: Country | None = None
    gender: Gender | None = None
    stakeholder_type: StakeholderType | None = None
    organisation: Text | None = None
    job_title: Text | None = None
    languages: Languages | None = None
    interests: InterestsIn | None = None
    consents: ConsentsPatch | None = None
    timezone: Timezone = None

    @field_validator(*_NOT_NULL, mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("cannot be null; leave the field out to keep it as it is")
        return value


class SetRoles(Command):
    roles: Annotated[list[Role], Field(max_length=len(reference.ROLES)), AfterValidator(_distinct)]
    exhibitor_id: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)] | None = None


class RequestCode(Command):
    email: Email


class ExchangeCode(Command):
    email: Email
    code: Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\d{6}$")]


class RefreshTokens(Command):
    refresh_token: Annotated[str, StringConstraints(min_length=10, max_length=300)]


# --------------------------------------------------------------------------------------------------------------
# Identifiers, codes and tokens
# --------------------------------------------------------------------------------------------------------------


def new_attendee_id() -> str:
    """A UUID version 7 (time-ordered: listing by id lists in registration order)."""
    ms = time.time_ns() // 1_000_000
    rand = secrets.randbits(74)
    value = ((ms & (2**48 - 1)) << 80) | (0x7 << 76) | ((rand >> 62) << 64) | (0b10 << 62) | (rand & (2**62 - 1))
    return str(uuid.UUID(int=value))


def idempotent_attendee_id(scope: str, key: str) -> str:
    """The attendee id that an `Idempotency-Key` (scoped to its caller) always maps to: a retry collides."""
    return str(uuid.uuid5(_ID_NAMESPACE, f"{scope}\n{key}"))


def new_code() -> str:
    return f"{secrets.randbelow(10**6):06d}"


def code_hash(email_lc: str, code: str) -> str:
    return hashlib.sha256(f"{email_lc}\n{code}".encode()).hexdigest()


def token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def same_hash(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def new_refresh_token(attendee_id: str) -> tuple[str, str, str]:
    """(token, family, hash): the token names its attendee and family; only the hash of its secret is stored."""
    family = "f" + secrets.token_hex(12)
    secret = secrets.token_urlsafe(32)
    return f"{attendee_id}.{family}.{secret}", family, token_hash(secret)


def rotate_refresh_token(attendee_id: str, family: str) -> tuple[str, str]:
    """(token, hash) of the next token in a family."""
    secret = secrets.token_urlsafe(32)
    return f"{attendee_id}.{family}.{secret}", token_hash(secret)


def parse_refresh_token(token: str) -> tuple[str, str, str] | None:
    """(attendee id, family, secret hash), or None for something that is not one of our refresh tokens."""
    parts = token.strip().split(".")
    if len(parts) != 3 or not all(parts) or not parts[1].startswith("f"):
        return None
    if not re.fullmatch(r"f[0-9a-f]{24}", parts[1]):
        return None
    return parts[0], parts[1], token_hash(parts[2])


def refresh_entry(token_h: str, now: datetime, ttl_days: int, created_at: datetime | None = None) -> dict[str, Any]:
    return {"h": token_h, "exp": now + timedelta(days=ttl_days), "created_at": created_at or now}


def families_to_drop(refresh: dict[str, Any], now: datetime, keep: int) -> list[str]:
    """The expired families, and the oldest ones beyond `keep - 1` (room for one new family)."""
    live = {fam: entry for fam, entry in (refresh or {}).items() if aware(entry["exp"]) > now}
    expired = [fam for fam in (refresh or {}) if fam not in live]
    by_age = sorted(live, key=lambda fam: aware(live[fam].get("created_at") or live[fam]["exp"]))
    surplus = by_age[: max(0, len(by_age) - (keep - 1))]
    return expired + surplus


def aware(value: datetime) -> datetime:
    """A stored time as an aware UTC datetime (drivers configured without tz_aware give naive ones)."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# --------------------------------------------------------------------------------------------------------------
# Documents and views
# --------------------------------------------------------------------------------------------------------------


def search_text(name: str, email: str, organisation: str) -> str:
    return f"{name}\n{email}\n{organisation}".lower()


def consent(given: bool, now: datetime) -> dict[str, Any]:
    return {"given": given, "given_at": now if given else None}


def new_attendee_document(
    attendee_id: str, cmd: Register, now: datetime, *, roles: list[str] | None = None
) -> dict[str, Any]:
    return {
        "_id": attendee_id,
        "name": cmd.name,
        "email": cmd.email,
        "email_lc": cmd.email.lower(),
        "country": cmd.country,
        "region": reference.region_of(cmd.country),
        "gender": cmd.gender,
        "stakeholder_type": cmd.stakeholder_type,
        "organisation": cmd.organisation,
        "job_title": cmd.job_title,
        "languages": list(cmd.languages),
        "interests": {"action_lines": list(cmd.interests.action_lines), "sdgs": list(cmd.interests.sdgs)},
        "consents": {
            "directory": consent(cmd.consents.directory, now),
            "exhibitor_contact": consent(cmd.consents.exhibitor_contact, now),
        },
        "timezone": cmd.timezone,
        "roles": normalise_roles(roles or [ATTENDEE]),
        "exhibitor_id": None,
        "status": REGISTERED,
        "version": 1,
        "registered_at": now,
        "updated_at": now,
        "cancelled_at": None,
        "search": search_text(cmd.name, cmd.email, cmd.organisation),
        "fingerprint": cmd.fingerprint(),
        "refresh": {},
    }


def profile_changes(doc: dict[str, Any], cmd: UpdateProfile, now: datetime) -> dict[str, Any]:
    """The `$set` of a profile change: only fields whose value differs; empty when nothing changes."""
    sent = cmd.model_fields_set
    changes: dict[str, Any] = {}
    for name in ("name", "email", "country", "gender", "stakeholder_type", "organisation", "job_title",
                 "languages", "timezone"):
        if name in sent:
            value = getattr(cmd, name)
            if value != doc.get(name):
                changes[name] = value
    if "email" in changes and changes["email"].lower() != doc.get("email_lc"):
        changes["email_lc"] = changes["email"].lower()
    if "country" in changes:
        changes["region"] = reference.region_of(changes["country"])
    if "interests" in sent and cmd.interests is not None:
        interests = {"action_lines": list(cmd.interests.action_lines), "sdgs": list(cmd.interests.sdgs)}
        if interests != doc.get("interests"):
            changes["interests"] = interests
    if "consents" in sent and cmd.consents is not None:
        for kind in ("directory", "exhibitor_contact"):
            wanted = getattr(cmd.consents, kind)
            current = (doc.get("consents") or {}).get(kind) or {"given": False}
            if wanted is not None and wanted != current.get("given"):
                changes[f"consents.{kind}"] = consent(wanted, now)
    if {"name", "email", "organisation"} & changes.keys():
        changes["search"] = search_text(changes.get("name", doc["name"]), changes.get("email", doc["email"]),
                                        changes.get("organisation", doc.get("organisation", "")))
    return changes


def apply_changes(doc: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """The document as it will be after `$set: changes` (dotted keys go one level down)."""
    after = {**doc, "consents": dict(doc.get("consents") or {})}
    for key, value in changes.items():
        head, _, tail = key.partition(".")
        if tail:
            after[head] = {**(after.get(head) or {}), tail: value}
        else:
            after[key] = value
    return after


def normalise_roles(roles: list[str]) -> list[str]:
    """Every person keeps the attendee role; the order is the vocabulary's."""
    wanted = set(roles) | {ATTENDEE}
    return [role for role in reference.ROLES if role in wanted]


def check_roles(cmd: SetRoles) -> tuple[list[str], str | None]:
    """(roles, exhibitor id) to store; raises ValueError with a sentence for an inconsistent request."""
    roles = normalise_roles(cmd.roles)
    if EXHIBITOR_STAFF in roles and not cmd.exhibitor_id:
        raise ValueError("The exhibitor-staff role needs an 'exhibitor_id': the exhibitor this person works for.")
    if EXHIBITOR_STAFF not in roles and cmd.exhibitor_id:
        raise ValueError("'exhibitor_id' only goes with the exhibitor-staff role; add that role or leave it out.")
    return roles, cmd.exhibitor_id if EXHIBITOR_STAFF in roles else None


def profile(doc: dict[str, Any]) -> dict[str, Any]:
    """What a client sees of an attendee (never the secrets, the outbox or the bookkeeping fields)."""
    consents = doc.get("consents") or {}
    return {
        "id": doc["_id"],
        "name": doc["name"],
        "email": doc["email"],
        "country": doc["country"],
        "region": doc["region"],
        "gender": doc["gender"],
        "stakeholder_type": doc["stakeholder_type"],
        "organisation": doc.get("organisation", ""),
        "job_title": doc.get("job_title", ""),
        "languages": list(doc.get("languages") or []),
        "interests": {
            "action_lines": list((doc.get("interests") or {}).get("action_lines") or []),
            "sdgs": list((doc.get("interests") or {}).get("sdgs") or []),
        },
        "consents": {
            kind: {"given": bool((consents.get(kind) or {}).get("given")),
                   "given_at": _iso((consents.get(kind) or {}).get("given_at"))}
            for kind in ("directory", "exhibitor_contact")
        },
        "timezone": doc.get("timezone"),
        "roles": list(doc.get("roles") or [ATTENDEE]),
        "exhibitor_id": doc.get("exhibitor_id"),
        "status": doc["status"],
        "registered_at": _iso(doc.get("registered_at")),
        "updated_at": _iso(doc.get("updated_at")),
        "cancelled_at": _iso(doc.get("cancelled_at")),
    }


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return aware(value).isoformat().replace("+00:00", "Z")


def snapshot_fields(doc: dict[str, Any]) -> dict[str, Any]:
    """The fields of an AttendeeSnapshot event built from a document."""
    consents = doc.get("consents") or {}
    return {
        "attendee_id": doc["_id"],
        "name": doc["name"],
        "email": doc["email"],
        "country": doc["country"],
        "region": doc["region"],
        "gender": doc["gender"],
        "stakeholder_type": doc["stakeholder_type"],
        "organisation": doc.get("organisation", ""),
        "job_title": doc.get("job_title", ""),
        "languages": list(doc.get("languages") or []),
        "interests": dict(doc.get("interests") or {}),
        "roles": list(doc.get("roles") or [ATTENDEE]),
        "exhibitor_id": doc.get("exhibitor_id"),
        "directory_opt_in": bool((consents.get("directory") or {}).get("given")),
        "exhibitor_contact_opt_in": bool((consents.get("exhibitor_contact") or {}).get("given")),
        "timezone": doc.get("timezone"),
    }


def tombstone_update(now: datetime) -> tuple[dict[str, Any], dict[str, Any]]:
    """($set, $unset) that turn an attendee into a tombstone: no personal data, the address included."""
    return {"status": ERASED, "erased_at": now}, dict.fromkeys(PERSONAL_FIELDS, "")


# --------------------------------------------------------------------------------------------------------------
# Listing (organisers)
# --------------------------------------------------------------------------------------------------------------


class FilterQuery(BaseModel):
    """Search and filters of the organisers' list and export (query parameters; unknown ones are refused)."""

    model_config = ConfigDict(extra="forbid")

    q: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None
    country: Country | None = None
    region: Annotated[str, BeforeValidator(_upper), _one_of("ITU region", tuple(reference.REGIONS))] | None = None
    gender: Gender | None = None
    stakeholder_type: StakeholderType | None = None
    role: Role | None = None
    status: Annotated[str, _one_of("status", (REGISTERED, CANCELLED))] | None = None

    def mongo_filter(self) -> dict[str, Any]:
        query: dict[str, Any] = {"status": self.status} if self.status else {"status": {"$in": [REGISTERED, CANCELLED]}}
        for name in ("country", "region", "gender", "stakeholder_type"):
            value = getattr(self, name)
            if value:
                query[name] = value
        if self.role:
            query["roles"] = self.role
        if self.q:
            query["search"] = {"$regex": re.escape(self.q.lower())}
        return query


class ListQuery(FilterQuery):
    limit: Annotated[int, Field(ge=1, le=500)] = 50
    cursor: Annotated[str, StringConstraints(max_length=100)] | None = None


CSV_COLUMNS = (
    "id", "name", "email", "country", "region", "gender", "stakeholder_type", "organisation", "job_title",
    "languages", "action_lines", "sdgs", "directory_consent", "exhibitor_contact_consent", "timezone", "roles",
    "exhibitor_id", "status", "registered_at", "cancelled_at",
)  # fmt: skip


def csv_row(doc: dict[str, Any]) -> list[str]:
    view = profile(doc)
    values = [
        view["id"], view["name"], view["email"], view["country"], view["region"], view["gender"],
        view["stakeholder_type"], view["organisation"], view["job_title"], ";".join(view["languages"]),
        ";".join(view["interests"]["action_lines"]), ";".join(map(str, view["interests"]["sdgs"])),
        "yes" if view["consents"]["directory"]["given"] else "no",
        "yes" if view["consents"]["exhibitor_contact"]["given"] else "no",
        view["timezone"] or "", ";".join(view["roles"]), view["exhibitor_id"] or "", view["status"],
        view["registered_at"] or "", view["cancelled_at"] or "",
    ]  # fmt: skip
    return [_csv_safe(v) for v in values]


def _csv_safe(value: str) -> str:
    """Keep spreadsheets from running a cell as a formula (CSV injection)."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
