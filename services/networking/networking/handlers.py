"""Use cases of the networking service: the directory, conversations and messages, blocks and reports.

Meetings and speakers' availability are in networking.meetings; the projections of other services' events (and
erasure) in networking.projections. Every write is one single-document write that carries the events it causes in
the document's outbox; `notify` wakes the outbox relay afterwards.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from plenary_events import networking as events
from plenary_events.registry import registry
from plenary_kit.auth import Principal
from plenary_kit.envelope import Envelope, EventData
from plenary_kit.logging import get_logger
from plenary_kit.problems import ProblemError

from networking import domain
from networking.config import Settings
from networking.repository import Document, NetworkingRepository, Taken

log = get_logger("networking.handlers")
Clock = Callable[[], datetime]


class Networking:
    def __init__(self, repo: NetworkingRepository, settings: Settings, *,
                 notify: Callable[..., None] = lambda *args, **kwargs: None, clock: Clock = domain.now_ms) -> None:
        self.repo = repo
        self.settings = settings
        self.notify = notify
        self.clock = clock

    # -- helpers ---------------------------------------------------------------------------------------------
    def event(self, topic: str, data: EventData, subject: str) -> tuple[str, Envelope]:
        return self.settings.topic(topic), registry.envelope(data, source=events.SOURCE, subject=subject)

    def limit(self, limit: int | None) -> int:
        return min(limit or self.settings.page_default, self.settings.page_max)

    async def people(self, ids: list[str | None]) -> dict[str, Document]:
        return await self.repo.people_by_id(ids)

    async def acting(self, caller: Principal) -> Document | None:
        """The caller's own projection; 403 once they were erased or cancelled (an access token outlives them by
        minutes). Someone the projection does not know yet (just registered) may act."""
        me = await self.repo.person(caller.sub)
        if me is not None and me.get("status") in (domain.ERASED, domain.CANCELLED):
            raise ProblemError(403, "Your registration is no longer active, so you cannot do this.")
        return me

    async def contactable(self, caller: Principal, attendee_id: str) -> Document:
        """The person, if the caller may start something with them: someone else, registered and active."""
        domain.check_person_id(attendee_id)
        if attendee_id == caller.sub:
            raise ProblemError(422, "That is you; name someone else.")
        person = await self.repo.person(attendee_id)
        if person is None or person.get("status") != domain.ACTIVE:
            raise ProblemError(404, f"There is no attendee '{attendee_id}' you can contact.")
        return person

    async def refuse_if_blocked(self, caller: Principal, person: Document, doing: str) -> None:
        """403 when `person` blocked the caller; 409 when the caller blocked `person` (they could not answer)."""
        name = person.get("name") or "This person"
        if await self.repo.has_blocked(person["_id"], caller.sub):
            raise ProblemError(403, f"You cannot {doing} {name}: they have blocked you.")
        if await self.repo.has_blocked(caller.sub, person["_id"]):
            raise ProblemError(409, f"You have blocked {name}; unblock them first to {doing} them.")

    # -- directory --------------------------------------------------------------------------------------------
    async def directory(self, caller: Principal, query: domain.DirectoryQuery) -> dict[str, Any]:
        limit = self.limit(query.limit)
        after = None
        if query.cursor:
            name, attendee_id = domain.decode_cursor(query.cursor, 2)
            after = (str(name), str(attendee_id))
        docs = await self.repo.directory(query, after=after, limit=limit + 1)
        following = None
        if len(docs) > limit:
            docs = docs[:limit]
            following = domain.encode_cursor(docs[-1]["sort_name"], docs[-1]["_id"])
        return {"items": [domain.person_view(d) for d in docs], "next_cursor": following}

    async def directory_entry(self, caller: Principal, attendee_id: str) -> dict[str, Any]:
        """A listed person's entry. `me`: the caller's own entry, listed or not (with `listed`)."""
        own = attendee_id in ("me", caller.sub)
        doc = await self.repo.person(caller.sub if own else attendee_id)
        if own:
            if doc is None or doc.get("status") == domain.ERASED:
                return {"id": caller.sub, "listed": False}
            return {**domain.person_view(doc), "listed": bool(doc.get("directory"))}
        if doc is None or not doc.get("directory") or doc.get("status") != domain.ACTIVE:
            raise ProblemError(404, f"There is nobody '{attendee_id}' in the directory.")
        return domain.person_view(doc)

    # -- conversations ------------------------------------------------------------------------------------------
    async def member_of(self, caller: Principal, conversation_id: str) -> Document:
        doc = await self.repo.conversation(conversation_id)
        if doc is None or caller.sub not in (doc.get("members") or []):
            raise ProblemError(404, f"There is no conversation '{conversation_id}' that you are in.")
        return doc

    async def view(self, doc: Document) -> dict[str, Any]:
        return domain.conversation_view(doc, await self.people(list(doc.get("members") or [])))

    async def start(self, caller: Principal, cmd: domain.StartConversation,
                    key: str | None = None) -> tuple[dict[str, Any], bool]:
        """Start a conversation; (its view, whether it is new). A direct one exists once per pair of people."""
        domain.check_key(key)
        others = [m for m in cmd.member_ids if m != caller.sub]
        if not others:
            raise ProblemError(422, "Name at least one other person in 'member_ids'.")
        title = domain.check_text(cmd.title or "", "title", self.settings.conversation_title_max_chars,
                                  required=False) or None
        group = cmd.group or title is not None or len(others) > 1
        limit = self.settings.conversation_member_limit
        if group and len(others) + 1 > limit:
            raise ProblemError(422, f"A conversation has at most {limit} members (you included); "
                                    f"you named {len(others) + 1}.")
        conversation_id = domain.direct_id(caller.sub, others[0]) if not group else (
            domain.keyed_id("grp", caller.sub, key) if key else domain.new_id("grp"))
        if not group:
            existing = await self.repo.conversation(conversation_id)
            if existing is not None and caller.sub in existing.get("members", []):
                return await self.view(existing), False
        elif key:
            existing = await self.repo.conversation(conversation_id)
            if existing is not None:
                return await self.view(await self.member_of(caller, conversation_id)), False
        await self.acting(caller)
        for other in others:
            person = await self.contactable(caller, other)
            await self.refuse_if_blocked(caller, person, "start a conversation with")
        now = self.clock()
        members = [caller.sub, *others]
        doc: Document = {"_id": conversation_id, "kind": domain.GROUP if group else domain.DIRECT, "title": title,
                         "members": members, "created_by": caller.sub, "created_at": now, "active_at": now,
                         "last_message_at": None, "removed_participants": 0}
        started = events.ConversationStarted(conversation_id=conversation_id, kind=doc["kind"], title=title,
                                             started_by=caller.sub, member_ids=members, recipient_ids=members,
                                             started_at=now)
        try:
            await self.repo.insert_conversation(doc, [self.event(events.CONVERSATIONS, started, conversation_id)])
        except Taken:
            # a direct conversation the caller had left (or a racing retry): join it again
            if not group:
                await self.repo.rejoin(conversation_id, caller.sub)
            return await self.view(await self.member_of(caller, conversation_id)), False
        self.notify()
        log.info("conversation_started", conversation_id=conversation_id, kind=doc["kind"], members=len(members))
        return await self.view(doc), True

    async def conversations(self, caller: Principal, cursor: str | None, limit: int | None) -> dict[str, Any]:
        size = self.limit(limit)
        after = None
        if cursor:
            at, conversation_id = domain.decode_cursor(cursor, 2)
            try:
                after = (domain.as_utc(datetime.fromisoformat(str(at))), str(conversation_id))
            except ValueError:
                raise ProblemError(400, "'cursor' is not a cursor this service gave out.") from None
        docs = await self.repo.conversations_of(caller.sub, after=after, limit=size + 1)
        following = None
        if len(docs) > size:
            docs = docs[:size]
            following = domain.encode_cursor(domain.as_utc(docs[-1]["active_at"]).isoformat(), docs[-1]["_id"])
        people = await self.people([m for d in docs for m in d.get("members") or []])
        return {"items": [domain.conversation_view(d, people) for d in docs], "next_cursor": following}

    async def conversation(self, caller: Principal, conversation_id: str) -> dict[str, Any]:
        return await self.view(await self.member_of(caller, conversation_id))

    async def add_members(self, caller: Principal, conversation_id: str, cmd: domain.AddMembers) -> dict[str, Any]:
        doc = await self.member_of(caller, conversation_id)
        if doc["kind"] != domain.GROUP:
            raise ProblemError(409, "A direct conversation stays between two people; start a group conversation "
                                    "to talk with more.")
        new = [m for m in cmd.member_ids if m not in doc["members"]]
        if not new:
            return await self.view(doc)
        limit = self.settings.conversation_member_limit
        if len(doc["members"]) + len(new) > limit:
            raise ProblemError(409, f"This conversation has {len(doc['members'])} members; adding {len(new)} would "
                                    f"pass its limit of {limit}.")
        await self.acting(caller)
        for other in new:
            person = await self.contactable(caller, other)
            await self.refuse_if_blocked(caller, person, "add to a conversation")
        now = self.clock()
        members = [*doc["members"], *new]
        added = [self.event(events.CONVERSATIONS, events.ConversationMemberAdded(
            conversation_id=conversation_id, attendee_id=m, added_by=caller.sub, member_ids=members,
            recipient_ids=members, added_at=now), conversation_id) for m in new]
        if not await self.repo.add_members(conversation_id, caller.sub, new, limit, added):
            raise ProblemError(409, "The conversation changed meanwhile (or is full); look at it again and retry.")
        self.notify()
        return await self.conversation(caller, conversation_id)

    async def leave(self, caller: Principal, conversation_id: str) -> None:
        doc = await self.member_of(caller, conversation_id)
        remaining = [m for m in doc["members"] if m != caller.sub]
        left = events.ConversationMemberLeft(conversation_id=conversation_id, attendee_id=caller.sub,
                                             member_ids=remaining, recipient_ids=[*remaining, caller.sub],
                                             left_at=self.clock())
        if await self.repo.leave(conversation_id, caller.sub,
                                 [self.event(events.CONVERSATIONS, left, conversation_id)]):
            self.notify()

    # -- messages -------------------------------------------------------------------------------------------------
    async def send(self, caller: Principal, conversation_id: str, cmd: domain.SendMessage,
                   key: str | None = None) -> tuple[dict[str, Any], bool]:
        """Post a message; (its view, whether it is new). A retry with the same Idempotency-Key posts nothing."""
        domain.check_key(key)
        doc = await self.member_of(caller, conversation_id)
        text = domain.check_text(cmd.text, "text", self.settings.message_max_chars)
        others = [m for m in doc["members"] if m != caller.sub]
        if doc["kind"] == domain.DIRECT:
            if not others:
                raise ProblemError(409, "The other person has left this conversation; there is nobody to write to.")
            person = await self.repo.person(others[0]) or {"_id": others[0]}
            await self.refuse_if_blocked(caller, person, "send messages to")
        blockers = await self.repo.who_blocked(others, caller.sub)
        now = self.clock()
        message_id = domain.time_id("msg", now)
        dedupe = domain.keyed_id("k", caller.sub, conversation_id, key) if key else message_id
        author = await self.acting(caller)
        author_name = (author or {}).get("name")
        recipients = [m for m in doc["members"] if m not in blockers]
        sent = events.MessageSent(message_id=message_id, conversation_id=conversation_id, author_id=caller.sub,
                                  author_name=author_name, text=text, sent_at=now, recipient_ids=recipients)
        message = {"_id": message_id, "conversation_id": conversation_id, "author_id": caller.sub, "text": text,
                   "sent_at": now, "dedupe": dedupe}
        pending = [self.event(events.MESSAGES, sent, conversation_id)]
        stored = await self.repo.insert_message(message, pending)
        created = stored["_id"] == message_id
        if created:
            # the relay publishes these events from this one document by its id, without scanning the messages
            self.notify(message_id, pending, collection=self.repo.messages.name)
            await self.repo.touch(conversation_id, now)
        return domain.message_view(stored, await self.people([caller.sub])), created

    async def messages(self, caller: Principal, conversation_id: str, before: str | None,
                       limit: int | None) -> dict[str, Any]:
        """Newest first; `next_cursor` pages back in time. Messages of people the caller blocked are left out."""
        await self.member_of(caller, conversation_id)
        size = self.limit(limit)
        hidden = [b["blocked_id"] for b in await self.repo.blocked_by(caller.sub)]
        docs = await self.repo.messages_of(conversation_id, before=before, limit=size + 1, hide_authors=hidden)
        following = None
        if len(docs) > size:
            docs = docs[:size]
            following = docs[-1]["_id"]
        people = await self.people([d.get("author_id") for d in docs])
        return {"items": [domain.message_view(d, people) for d in docs], "next_cursor": following}

    async def mark_read(self, caller: Principal, conversation_id: str, cmd: domain.MarkRead) -> dict[str, Any]:
        """Move the caller's read marker to a message (default: the newest). Published as ConversationRead, so the
        caller's other tabs clear the badge and no "while you were away" email mentions those messages."""
        await self.member_of(caller, conversation_id)
        if cmd.up_to is not None:
            message = await self.repo.message(cmd.up_to)
            if message is None or message["conversation_id"] != conversation_id:
                raise ProblemError(422, f"'up_to' names no message of this conversation ('{cmd.up_to}'); use the "
                                        f"id of a message you were shown in it.")
        else:
            message = await self.repo.newest_message(conversation_id)
        if message is not None:
            now, sent_at = self.clock(), domain.as_utc(message["sent_at"])
            read = events.ConversationRead(conversation_id=conversation_id, attendee_id=caller.sub,
                                           up_to=message["_id"], up_to_sent_at=sent_at, read_at=now,
                                           recipient_ids=[caller.sub])
            fields = {"up_to": message["_id"], "up_to_sent_at": sent_at, "read_at": now}
            if await self.repo.advance_read(conversation_id, caller.sub, fields,
                                            [self.event(events.CONVERSATIONS, read, conversation_id)]):
                self.notify()
        marker = await self.repo.read_marker(conversation_id, caller.sub) or {}
        return {"conversation_id": conversation_id, "up_to": marker.get("up_to"),
                "read_at": domain.iso(marker.get("read_at"))}

    # -- blocks -----------------------------------------------------------------------------------------------------
    async def block(self, caller: Principal, attendee_id: str) -> dict[str, Any]:
        domain.check_person_id(attendee_id)
        if attendee_id == caller.sub:
            raise ProblemError(422, "You cannot block yourself.")
        person = await self.repo.person(attendee_id)
        if person is None or person.get("status") == domain.ERASED:
            raise ProblemError(404, f"There is no attendee '{attendee_id}'.")
        if await self.repo.block(caller.sub, attendee_id, self.clock()):
            log.info("person_blocked")
        return {"id": attendee_id, "name": person.get("name") or domain.REMOVED_PARTICIPANT, "blocked": True}

    async def unblock(self, caller: Principal, attendee_id: str) -> None:
        await self.repo.unblock(caller.sub, attendee_id)

    async def blocks(self, caller: Principal) -> dict[str, Any]:
        docs = await self.repo.blocked_by(caller.sub)
        people = await self.people([d["blocked_id"] for d in docs])
        return {"items": [{"id": d["blocked_id"], "name": domain.name_of(people, d["blocked_id"]),
                           "blocked_at": domain.iso(d["blocked_at"])} for d in docs]}

    # -- reports ----------------------------------------------------------------------------------------------------
    async def file_report(self, caller: Principal, cmd: domain.FileReport,
                          key: str | None = None) -> tuple[dict[str, Any], bool]:
        """Report a person to the organisers (optionally quoting one of their messages the caller can read)."""
        domain.check_key(key)
        domain.check_person_id(cmd.reported_id, "reported_id")
        if cmd.reported_id == caller.sub:
            raise ProblemError(422, "You cannot report yourself.")
        details = domain.check_text(cmd.details, "details", self.settings.report_details_max_chars, required=False)
        await self.acting(caller)
        person = await self.repo.person(cmd.reported_id)
        if person is None or person.get("status") == domain.ERASED:
            raise ProblemError(404, f"There is no attendee '{cmd.reported_id}' to report.")
        evidence = None
        conversation_id = cmd.conversation_id
        if cmd.message_id:
            message = await self.repo.message(cmd.message_id)
            if message is None:
                raise ProblemError(404, f"There is no message '{cmd.message_id}' that you can see.")
            await self.member_of(caller, message["conversation_id"])
            if message.get("author_id") != cmd.reported_id:
                raise ProblemError(422, "That message was not written by the person you report.")
            conversation_id = message["conversation_id"]
            evidence = {"id": message["_id"], "text": message["text"], "sent_at": domain.iso(message["sent_at"])}
        elif conversation_id:
            await self.member_of(caller, conversation_id)
        now = self.clock()
        report_id = domain.keyed_id("rep", caller.sub, key) if key else domain.time_id("rep", now)
        doc: Document = {"_id": report_id, "reporter_id": caller.sub, "reported_id": cmd.reported_id,
                         "category": cmd.category, "details": details, "conversation_id": conversation_id,
                         "evidence": evidence, "filed_at": now}
        filed = events.ReportFiled(report_id=report_id, reporter_id=caller.sub, reported_id=cmd.reported_id,
                                   category=cmd.category, conversation_id=conversation_id,
                                   message_id=cmd.message_id, filed_at=now)
        stored = await self.repo.insert_report(doc, [self.event(events.REPORTS, filed, report_id)])
        created = stored is doc
        if created:
            self.notify()
            log.info("report_filed", report_id=report_id, category=cmd.category)
        return {"id": stored["_id"], "category": stored["category"], "filed_at": domain.iso(stored["filed_at"])}, \
            created

    async def reports(self, cursor: str | None, limit: int | None) -> dict[str, Any]:
        """Organisers: every report, newest first."""
        size = self.limit(limit)
        docs = await self.repo.reports_page(before=cursor, limit=size + 1)
        following = None
        if len(docs) > size:
            docs = docs[:size]
            following = docs[-1]["_id"]
        people = await self.people([i for d in docs for i in (d.get("reporter_id"), d.get("reported_id"))])
        return {"items": [domain.report_view(d, people) for d in docs], "next_cursor": following}

    async def report(self, report_id: str) -> dict[str, Any]:
        doc = await self.repo.report(report_id)
        if doc is None:
            raise ProblemError(404, f"There is no report '{report_id}'.")
        return domain.report_view(doc, await self.people([doc.get("reporter_id"), doc.get("reported_id")]))
