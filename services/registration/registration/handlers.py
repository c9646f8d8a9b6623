"""Use cases of the registration service: each takes a command (and the caller), uses the repository, emits events.

Every write is ONE single-document update (or insert) that carries the events it causes in the document's outbox;
`notify(doc_id, events)` hands them to the outbox relay afterwards (it publishes them and pulls them from that
document by id, without scanning the collection). Nothing here waits for Kafka: a write succeeds while Kafka is down and
its events go out when Kafka is back.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NoReturn

from plenary_events import registration as events
from plenary_events.registry import registry
from plenary_kit.auth import Principal, TokenIssuer
from plenary_kit.envelope import Envelope, EventData
from plenary_kit.idempotency import MAX_KEY_LENGTH
from plenary_kit.logging import get_logger
from plenary_kit.problems import ProblemError

from registration import domain
from registration.config import Settings
from registration.domain import CANCELLED, ERASED, ORGANISER, REGISTERED
from registration.repository import AttendeeRepository, EmailTaken, IdTaken

log = get_logger("registration.handlers")
Clock = Callable[[], datetime]
Events = list[tuple[str, Envelope]]
Notify = Callable[[str, Events], None]

EMAIL_TAKEN = ("An attendee with this e-mail address is already registered; sign in with a one-time code "
               "(POST /api/registration/signin/code) instead of registering again.")
NO_CODE = "There is no sign-in code waiting for this e-mail address; ask for a new code."
CODE_USED = "This sign-in code has already been used; ask for a new code."
BAD_REFRESH = "This refresh token is not valid; sign in again."


@dataclass(frozen=True)
class SignedIn:
    """What registering, signing in and refreshing answer: the profile and a fresh pair of tokens."""

    attendee: dict[str, Any]
    access_token: str
    refresh_token: str
    expires_in: int
    refresh_expires_in: int

    def body(self) -> dict[str, Any]:
        return {
            "attendee": self.attendee,
            "access_token": self.access_token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "refresh_token": self.refresh_token,
            "refresh_token_expires_in": self.refresh_expires_in,
        }


class Registrations:
    def __init__(
        self,
        repository: AttendeeRepository,
        issuer: TokenIssuer,
        settings: Settings,
        *,
        notify: Notify = lambda doc_id, events: None,
        clock: Clock = domain.now_ms,
    ) -> None:
        self.repo = repository
        self.issuer = issuer
        self.settings = settings
        self.notify = notify
        self.clock = clock
        self.attendees_topic = settings.topic(events.ATTENDEES)
        self.signin_topic = settings.topic(events.SIGNIN)

    # -- helpers -------------------------------------------------------------------------------------------
    def _event(self, topic: str, data: EventData, subject: str, sequence: int | None = None) -> tuple[str, Envelope]:
        return topic, registry.envelope(data, source=events.SOURCE, subject=subject, sequence=sequence)

    def _signed_in(self, doc: dict[str, Any], refresh_token: str) -> SignedIn:
        access = self.issuer.issue_access(doc["_id"], list(doc.get("roles") or [domain.ATTENDEE]),
                                          doc.get("exhibitor_id"))
        return SignedIn(domain.profile(doc), access, refresh_token, self.issuer.access_ttl,
                        self.settings.refresh_token_ttl_days * 86400)

    def _new_family(self, doc: dict[str, Any], now: datetime) -> tuple[str, dict[str, Any], list[str]]:
        """(token, $set, $unset) that add one refresh-token family, dropping expired and surplus ones."""
        token, family, token_h = domain.new_refresh_token(doc["_id"])
        drop = domain.families_to_drop(doc.get("refresh") or {}, now, self.settings.refresh_families_max)
        entry = domain.refresh_entry(token_h, now, self.settings.refresh_token_ttl_days)
        return token, {f"refresh.{family}": entry}, [f"refresh.{f}" for f in drop]

    async def _visible(self, caller: Principal, attendee_id: str) -> dict[str, Any]:
        """The attendee if the caller may see it: themselves, or anyone for an organiser. Otherwise 404."""
        if attendee_id == "me":
            attendee_id = caller.sub
        doc = None
        if attendee_id == caller.sub or caller.is_organiser:
            doc = await self.repo.get(attendee_id)
        if doc is None or doc.get("status") == ERASED:
            raise ProblemError(404, f"There is no attendee '{attendee_id}' that you can see.")
        return doc

    # -- registering ---------------------------------------------------------------------------------------
    async def register(
        self,
        cmd: domain.Register,
        *,
        caller: Principal | None = None,
        idempotency_key: str | None = None,
        roles: list[str] | None = None,
    ) -> SignedIn:
        """Register a person and sign them in at once. With an `Idempotency-Key`, a retry answers like the first
        attempt (the same attendee, fresh tokens) instead of 409: the key decides the attendee id, so the retry's
        insert collides with the first one's and nothing is written twice."""
        now = self.clock()
        if idempotency_key is not None:
            if not idempotency_key or len(idempotency_key) > MAX_KEY_LENGTH or not idempotency_key.isprintable():
                raise ProblemError(400, f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable characters.")
            attendee_id = domain.idempotent_attendee_id(caller.sub if caller else "anonymous", idempotency_key)
        else:
            attendee_id = domain.new_attendee_id()
        doc = domain.new_attendee_document(attendee_id, cmd, now, roles=roles)
        token, family, token_h = domain.new_refresh_token(attendee_id)
        doc["refresh"] = {family: domain.refresh_entry(token_h, now, self.settings.refresh_token_ttl_days)}
        registered = [self._event(self.attendees_topic,
                                  events.AttendeeRegistered(**domain.snapshot_fields(doc), registered_at=now),
                                  attendee_id, doc["version"])]
        try:
            await self.repo.insert(doc, registered)
        except EmailTaken:
            raise ProblemError(409, EMAIL_TAKEN) from None
        except IdTaken:
            return await self._replay(attendee_id, cmd, now)
        self.notify(attendee_id, registered)
        return self._signed_in(doc, token)

    async def _replay(self, attendee_id: str, cmd: domain.Register, now: datetime) -> SignedIn:
        doc = await self.repo.get(attendee_id)
        if doc is None or doc["status"] == ERASED:
            raise ProblemError(409, "The registration made with this Idempotency-Key has since been erased; "
                                    "register with a new key.")
        if doc.get("fingerprint") != cmd.fingerprint():
            raise ProblemError(422, "This Idempotency-Key was already used with a different registration; "
                                    "use a new key for a new registration.")
        if doc["status"] == CANCELLED:
            raise ProblemError(409, "The registration made with this Idempotency-Key has been cancelled.")
        if now - domain.aware(doc["registered_at"]) > timedelta(hours=self.settings.idempotency_replay_hours):
            raise ProblemError(409, "This Idempotency-Key has expired and its registration exists already; "
                                    "sign in with a one-time code instead.")
        token, set_, unset = self._new_family(doc, now)
        await self.repo.update(attendee_id, set_=set_, unset=unset, bump_version=False)
        return self._signed_in(doc, token)

    # -- passwordless sign-in ------------------------------------------------------------------------------
    async def request_code(self, cmd: domain.RequestCode) -> None:
        """Send a one-time code if the address belongs to a registered attendee; say nothing either way."""
        email_lc = cmd.email.lower()
        doc = await self.repo.get_by_email(email_lc)
        if doc is None or doc["status"] != REGISTERED:
            log.info("signin_code_not_sent", reason="no registered attendee")
            return
        now = self.clock()
        code = domain.new_code()
        expires = now + timedelta(seconds=self.settings.signin_code_ttl_seconds)
        signin = {"h": domain.code_hash(email_lc, code), "exp": expires, "attempts": 0, "used": False,
                  "requested_at": now}
        event = events.SigninCodeRequested(attendee_id=doc["_id"], email=doc["email"], name=doc["name"], code=code,
                                           expires_at=expires)
        sent = [self._event(self.signin_topic, event, doc["_id"])]
        if await self.repo.update(doc["_id"], where={"status": REGISTERED, "email_lc": email_lc},
                                  set_={"signin": signin}, events=sent, bump_version=False):
            self.notify(doc["_id"], sent)

    async def exchange_code(self, cmd: domain.ExchangeCode) -> SignedIn:
        email_lc = cmd.email.lower()
        doc = await self.repo.count_attempt(email_lc)  # the try is counted before the code is compared
        if doc is None or doc["status"] != REGISTERED:
            raise ProblemError(400, NO_CODE)
        now = self.clock()
        signin = doc["signin"]
        allowed = self.settings.signin_code_max_attempts
        if signin.get("used"):
            raise ProblemError(400, CODE_USED)
        if domain.aware(signin["exp"]) <= now:
            minutes = max(1, self.settings.signin_code_ttl_seconds // 60)
            raise ProblemError(400, f"This sign-in code has expired (codes last {minutes} minutes); "
                                    "ask for a new code.")
        if signin["attempts"] > allowed:
            raise ProblemError(429, "Too many wrong codes were tried; this code no longer works. Ask for a new code.",
                               headers={"Retry-After": "1"})
        if not domain.same_hash(domain.code_hash(email_lc, cmd.code), signin["h"]):
            left = allowed - signin["attempts"]
            if left <= 0:
                raise ProblemError(429, "That code is not right, and that was the last try: ask for a new code.",
                                   headers={"Retry-After": "1"})
            raise ProblemError(401, f"That code is not right; {left} {'try' if left == 1 else 'tries'} left.")
        token, set_, unset = self._new_family(doc, now)
        used = await self.repo.update(
            doc["_id"],
            where={"status": REGISTERED, "signin.h": signin["h"], "signin.used": False},
            set_={"signin.used": True, "signin.used_at": now, **set_},
            unset=unset,
            bump_version=False,
        )
        if not used:  # another request with the same code won the race
            raise ProblemError(400, CODE_USED)
        return self._signed_in(doc, token)

    async def refresh(self, cmd: domain.RefreshTokens) -> SignedIn:
        """Rotate a refresh token: the presented one stops working. A token that was already rotated coming back
        means a copy exists elsewhere: the whole family (that sign-in on every device) ends."""
        parsed = domain.parse_refresh_token(cmd.refresh_token)
        if parsed is None:
            raise ProblemError(401, BAD_REFRESH)
        attendee_id, family, token_h = parsed
        doc = await self.repo.get(attendee_id)
        if doc is None or doc["status"] != REGISTERED:
            raise ProblemError(401, BAD_REFRESH)
        entry = (doc.get("refresh") or {}).get(family)
        if entry is None:
            raise ProblemError(401, "This refresh token no longer works (signed out, expired or revoked); "
                                    "sign in again.")
        now = self.clock()
        if domain.aware(entry["exp"]) <= now:
            await self.repo.update(attendee_id, unset=[f"refresh.{family}"], bump_version=False)
            raise ProblemError(401, "This refresh token has expired; sign in again.")
        if not domain.same_hash(token_h, entry["h"]):
            await self._revoke_family(attendee_id, family)
        new_token, new_h = domain.rotate_refresh_token(attendee_id, family)
        rotated = await self.repo.update(
            attendee_id,
            where={"status": REGISTERED, f"refresh.{family}.h": token_h},
            set_={f"refresh.{family}.h": new_h,
                  f"refresh.{family}.exp": now + timedelta(days=self.settings.refresh_token_ttl_days)},
            bump_version=False,
        )
        if not rotated:  # the same token was rotated by a concurrent request: one of the two is a copy
            await self._revoke_family(attendee_id, family)
        return self._signed_in(doc, new_token)

    async def _revoke_family(self, attendee_id: str, family: str) -> NoReturn:
        await self.repo.update(attendee_id, unset=[f"refresh.{family}"], bump_version=False)
        log.warning("refresh_token_reuse", attendee_id=attendee_id, family=family)
        raise ProblemError(401, "This refresh token was already used once. To be safe, this sign-in has been "
                                "ended on every device; sign in again.")

    async def sign_out(self, cmd: domain.RefreshTokens) -> None:
        """End the sign-in (the family) the refresh token belongs to; quietly nothing for an unknown token."""
        parsed = domain.parse_refresh_token(cmd.refresh_token)
        if parsed is None:
            return
        attendee_id, family, token_h = parsed
        await self.repo.update(attendee_id, where={f"refresh.{family}.h": token_h}, unset=[f"refresh.{family}"],
                               bump_version=False)

    # -- profile -------------------------------------------------------------------------------------------
    async def get_profile(self, caller: Principal, attendee_id: str) -> dict[str, Any]:
        return domain.profile(await self._visible(caller, attendee_id))

    async def update_profile(self, caller: Principal, attendee_id: str, cmd: domain.UpdateProfile) -> dict[str, Any]:
        for _ in range(5):
            doc = await self._visible(caller, attendee_id)
            now = self.clock()
            changes = domain.profile_changes(doc, cmd, now)
            if not changes:
                return domain.profile(doc)
            changes["updated_at"] = now
            after = domain.apply_changes(doc, changes)
            after["version"] = doc["version"] + 1
            updated = [self._event(self.attendees_topic,
                                   events.AttendeeUpdated(**domain.snapshot_fields(after), updated_at=now),
                                   doc["_id"], after["version"])]
            # a new address invalidates a code sent to the old one
            unset = ["signin"] if "email_lc" in changes else None
            try:
                done = await self.repo.update(
                    doc["_id"], where={"version": doc["version"], "status": {"$ne": ERASED}}, set_=changes,
                    unset=unset, events=updated)
            except EmailTaken:
                raise ProblemError(409, "Another attendee already uses this e-mail address.") from None
            if done:
                self.notify(doc["_id"], updated)
                return domain.profile(after)
        raise ProblemError(409, "This profile is being changed by another request; try again.")

    async def set_roles(self, caller: Principal, attendee_id: str, cmd: domain.SetRoles) -> dict[str, Any]:
        if not caller.is_organiser:
            raise ProblemError(403, "Only organisers can grant or revoke roles.")
        try:
            roles, exhibitor_id = domain.check_roles(cmd)
        except ValueError as exc:
            raise ProblemError(422, str(exc)) from None
        if attendee_id in ("me", caller.sub) and ORGANISER not in roles:
            raise ProblemError(409, "You cannot remove your own organiser role; ask another organiser to do it.")
        return await self.assign_roles(await self._visible(caller, attendee_id), roles, exhibitor_id)

    async def assign_roles(self, doc: dict[str, Any], roles: list[str], exhibitor_id: str | None) -> dict[str, Any]:
        """Set an attendee's roles (no permission check: callers check, the bootstrap command is trusted)."""
        for _ in range(5):
            if doc["status"] == ERASED:
                raise ProblemError(404, f"There is no attendee '{doc['_id']}' that you can see.")
            if doc.get("roles") == roles and doc.get("exhibitor_id") == exhibitor_id:
                return domain.profile(doc)
            now = self.clock()
            changes = {"roles": roles, "exhibitor_id": exhibitor_id, "updated_at": now}
            after = {**doc, **changes, "version": doc["version"] + 1}
            updated = [self._event(self.attendees_topic,
                                   events.AttendeeUpdated(**domain.snapshot_fields(after), updated_at=now),
                                   doc["_id"], after["version"])]
            if await self.repo.update(doc["_id"], where={"version": doc["version"]}, set_=changes, events=updated):
                self.notify(doc["_id"], updated)
                return domain.profile(after)
            fresh = await self.repo.get(doc["_id"])
            if fresh is None:
                break
            doc = fresh
        raise ProblemError(409, "This attendee is being changed by another request; try again.")

    # -- cancel and erase ----------------------------------------------------------------------------------
    async def cancel(self, caller: Principal, attendee_id: str) -> dict[str, Any]:
        """Cancel a registration: the profile stays (organisers still see it), sign-in ends, nobody counts it."""
        doc = await self._visible(caller, attendee_id)
        if doc["status"] == CANCELLED:
            return domain.profile(doc)
        now = self.clock()
        changes = {"status": CANCELLED, "cancelled_at": now, "updated_at": now, "refresh": {}}
        cancelled = [self._event(self.attendees_topic,
                                 events.AttendeeCancelled(attendee_id=doc["_id"], cancelled_at=now),
                                 doc["_id"], doc["version"] + 1)]
        if not await self.repo.update(doc["_id"], where={"status": REGISTERED}, set_=changes, unset=["signin"],
                                      events=cancelled):
            return await self.get_profile(caller, doc["_id"])  # cancelled (or erased) meanwhile
        self.notify(doc["_id"], cancelled)
        return domain.profile({**doc, **changes})

    async def erase(self, caller: Principal, attendee_id: str) -> None:
        """GDPR erasure: the document keeps no personal data (a tombstone), every token stops working, and
        AttendeeErased tells every other service to remove what it holds. Events still waiting in the outbox
        go out first, so consumers see the registration before its erasure."""
        doc = await self._visible(caller, attendee_id)
        now = self.clock()
        set_, unset = domain.tombstone_update(now)
        erased = [self._event(self.attendees_topic, events.AttendeeErased(attendee_id=doc["_id"], erased_at=now),
                              doc["_id"], doc["version"] + 1)]
        if await self.repo.update(doc["_id"], where={"status": {"$ne": ERASED}}, set_=set_, unset=list(unset),
                                  events=erased):
            self.notify(doc["_id"], erased)
            log.info("attendee_erased", attendee_id=doc["_id"])

    # -- organisers ----------------------------------------------------------------------------------------
    async def list_attendees(self, query: domain.ListQuery) -> dict[str, Any]:
        docs = await self.repo.page(query.mongo_filter(), after=query.cursor, limit=query.limit + 1)
        more = len(docs) > query.limit
        docs = docs[: query.limit]
        return {"items": [domain.profile(d) for d in docs],
                "next_cursor": docs[-1]["_id"] if more and docs else None}

    async def export(self, query: domain.FilterQuery) -> AsyncIterator[dict[str, Any]]:
        async for doc in self.repo.iterate(query.mongo_filter()):
            yield doc

    # -- bootstrap -----------------------------------------------------------------------------------------
    async def bootstrap_organiser(self, cmd: domain.Register) -> tuple[SignedIn, bool]:
        """Create the attendee with the organiser role, or promote the one with this e-mail address.
        Returns (tokens, created)."""
        existing = await self.repo.get_by_email(cmd.email.lower())
        if existing is None:
            try:
                return await self.register(cmd, roles=[domain.ATTENDEE, ORGANISER]), True
            except ProblemError as exc:
                if exc.status != 409:
                    raise
                existing = await self.repo.get_by_email(cmd.email.lower())
                if existing is None:
                    raise
        if existing["status"] != REGISTERED:
            raise ProblemError(409, f"The attendee with this e-mail address is {existing['status']}; "
                                    "register a new address for the organiser.")
        roles = domain.normalise_roles([*existing.get("roles", []), ORGANISER])
        await self.assign_roles(existing, roles, existing.get("exhibitor_id"))
        doc = await self.repo.get(existing["_id"])
        assert doc is not None
        now = self.clock()
        token, set_, unset = self._new_family(doc, now)
        await self.repo.update(doc["_id"], set_=set_, unset=unset, bump_version=False)
        return self._signed_in(doc, token), False
