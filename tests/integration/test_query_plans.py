"""Every query a request, a consumer or a poller runs is answered from an index, on the real engine.

Each service's repository is driven through its query paths over a recording database (plenary_kit.testing.plans):
the writes leave a few documents of the real shape in every collection a query reads, `fill` then makes those
collections a few thousand documents large (varied copies, so the values the queries ask for stay rare; PostgreSQL
reads a table of a few pages whole whatever its indexes), and every distinct query shape is explained on the server.
A shape whose plan is a collection scan (MongoDB's COLLSCAN, or the Seq Scan of the PostgreSQL plan that FerretDB 2
passes through from DocumentDB) fails the test with its collection, shape, calling method and plan.

Queries that legitimately read a whole collection are listed in ALLOWED with the reason; keep that list short.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from plenary_kit.envelope import Envelope
from plenary_kit.idempotency import IdempotencyStore
from plenary_kit.mongo import open_client
from plenary_kit.outbox import CLAIMS, OutboxRelay, ensure_outbox_index
from plenary_kit.testing.memory import MemoryBroker
from plenary_kit.testing.plans import QueryRecorder, fill, is_collection_scan, plan_summary, scans

T0 = datetime(2020, 7, 6, 9, 0, tzinfo=UTC)
COPIES = 3000

# a driver runs a service's repositories through their queries; it returns the collections its outbox relay reads
Driver = Callable[[Any], Awaitable[list[Any]]]


def envelope(subject: str) -> Envelope:
    return Envelope.new("org.plenary.test.v1", source="/t", subject=subject, data={"n": 1})


def events(subject: str) -> list[tuple[str, Envelope]]:
    return [("t.test", envelope(subject))]


# -- sessions --------------------------------------------------------------------------------------------------------
async def drive_sessions(db: Any) -> list[Any]:
    from sessions.repository import Repository

    repo = Repository(db)
    await repo.create_indexes()
    for n in range(3):
        sid = f"ses-{n}"
        await repo.insert_session({
            "_id": sid, "key": f"key-{n}", "title": f"Session {n}", "description": "About things", "track": "Track A",
            "type": "workshop", "language": "en", "tags": {"action_lines": ["C1"], "sdgs": [4], "covid19": False},
            "status": "scheduled", "starts_at": T0 + timedelta(hours=n), "ends_at": T0 + timedelta(hours=n + 1),
            "speaker_ids": [f"spk-{n}"], "moderator_ids": [f"spk-m{n}"], "capacity": 50, "closed": False,
            "recording_url": None, "version": 1, "_outbox": []})
        await repo.insert_speaker({"_id": f"spk-{n}", "key": f"skey-{n}", "name": f"Speaker {n}",
                                   "organisation": "Org", "title": "Dr", "country": "KE", "email": f"s{n}@x.org",
                                   "attendee_id": f"att-{n}", "removed": False, "created_at": T0, "_outbox": []})
        await repo.upsert_person(f"att-{n}", {"email": f"s{n}@x.org", "name": f"Person {n}"})
    # sessions: requests and the clock
    await repo.get_session("ses-0")
    await repo.get_session_by_key("key-0")
    await repo.get_session_by_key("no-such-key")
    await repo.update_session("ses-0", 1, {"title": "New"}, [])
    await repo.sessions_of_people(["spk-0", "spk-m1"])
    await repo.find_sessions({"status": {"$ne": "cancelled"}}, skip=0, limit=20)
    await repo.find_sessions({"status": {"$ne": "cancelled"}, "starts_at": {"$gte": T0, "$lt": T0 + timedelta(1)}},
                             limit=20)
    await repo.find_sessions({"status": "scheduled", "starts_at": {"$gt": T0}}, limit=20, newest_first=True)
    await repo.find_sessions({"$and": [{"$or": [{"status": "live", "ends_at": {"$gt": T0}},
                                                {"status": "scheduled", "starts_at": {"$lte": T0},
                                                 "ends_at": {"$gt": T0}}]}]}, limit=20)
    await repo.find_sessions({"status": {"$ne": "cancelled"}, "track": "Track A"}, limit=20)
    await repo.find_sessions({"status": {"$ne": "cancelled"},
                              "$and": [{"$or": [{"speaker_ids": "spk-0"}, {"moderator_ids": "spk-0"}]}]}, limit=20)
    await repo.sessions_by_ids(["ses-0", "ses-1"])
    await repo.sessions_due(T0)
    # speakers
    await repo.get_speaker("spk-0")
    await repo.get_speaker_by_key("skey-0")
    await repo.get_speaker_by_key("no-such-key")
    await repo.update_speaker("spk-0", {"name": "Speaker Zero"}, [])
    await repo.speakers_by_ids(["spk-0", "spk-1"])
    await repo.find_speakers({}, skip=0, limit=20)
    await repo.find_speakers({"key": "skey-1"}, skip=0, limit=20)
    await repo.linked_speaker_ids("att-0", ["spk-0", "spk-1"])
    await repo.speakers_to_link("s0@x.org")
    await repo.speakers_linked_to("att-0")
    await repo.people.find_one({"email": "s0@x.org"})  # handlers.create_speaker: the person behind an address
    # seats and enrolments
    await repo.ensure_seats("ses-0", 2)
    await repo.take_seat("ses-0", "att-0", 2)
    await repo.take_seat("ses-0", "att-1", 2)
    await repo.join_queue("ses-0", "att-2", 2)
    await repo.promote_head("ses-0", "att-2", 2)
    await repo.release_seat("ses-0", "att-0")
    await repo.leave_queue("ses-0", "att-2")
    await repo.set_capacity("ses-1", None)
    await repo.seat_unlimited("ses-1", "att-2")
    await repo.get_seats("ses-0")
    for n in range(3):
        await repo.insert_enrolment({"_id": repo.enrolment_id("ses-0", f"att-{n}"), "session_id": "ses-0",
                                     "attendee_id": f"att-{n}", "state": "seated", "arrival": n, "rev": 1,
                                     "erased": False, "_outbox": []})
    await repo.get_enrolment("ses-0", "att-0")
    await repo.cas_enrolment(repo.enrolment_id("ses-0", "att-0"), 1, {"state": "cancelled"}, [])
    await repo.enrolments_of("att-1")
    await repo.enrolments_of_session("ses-0")
    await repo.mark_enrolments_erased("att-2")
    await repo.purge_erased_enrolments()
    # invitations
    await repo.invite("ses-0", "att-0", T0)
    await repo.is_invited("ses-0", "att-0")
    await repo.invitations_of("ses-0")
    await repo.uninvite("ses-0", "att-0")
    await repo.invite("ses-0", "att-1", T0)
    await repo.delete_invitations_of_person("att-9")
    # attendance and live counts (requests: join, heartbeat; the ticker: stale viewers, counts)
    for n in range(3):
        await repo.first_join({"_id": repo.attendance_id("ses-0", f"att-{n}"), "session_id": "ses-0",
                               "attendee_id": f"att-{n}", "online": True, "last_seen_at": T0, "joins": 1,
                               "_outbox": []})
    await repo.heartbeat("ses-0", "att-0", T0, T0 - timedelta(minutes=1))
    await repo.rejoin("ses-0", "att-1", T0, T0 - timedelta(minutes=1), [])
    await repo.go_offline(repo.attendance_id("ses-0", "att-0"), {}, T0, [])
    await repo.stale_viewers(T0)
    await repo.count_viewers("ses-0", T0 - timedelta(minutes=1))
    await repo.pseudonymise_attendance("att-2")
    await repo.touch_counts("ses-0", T0)
    await repo.touch_counts("ses-0", T0)
    await repo.counts_to_refresh(T0 - timedelta(minutes=1))
    await repo.publish_counts("ses-0", (0, 0), (1, 3), T0, [])
    # questions
    for n in range(3):
        await repo.insert_question({"_id": f"q-{n}", "session_id": "ses-0", "author_id": f"att-{n}",
                                    "author_name": "P", "text": "Why?", "asked_at": T0, "voters": [f"att-{n}"],
                                    "votes": 1, "status": "open", "_outbox": []})
    await repo.get_question("ses-0", "q-0")
    await repo.questions_of("ses-0")
    await repo.update_question("q-0", {"voters": {"$ne": "att-1"}}, {"$push": {"voters": "att-1"},
                                                                     "$inc": {"votes": 1}}, [])
    await repo.anonymise_questions("att-2")
    # feeds and people
    await repo.set_feed("att-0", hashlib.sha256(b"t").hexdigest(), T0)
    await repo.get_feed("att-0")
    await repo.feed_owner(hashlib.sha256(b"t").hexdigest())
    await repo.delete_feed("att-9")
    await repo.get_person("att-0")
    await repo.delete_person("att-9")
    await repo.delete_speaker("spk-9")
    return repo.outbox_collections()


# -- exhibition ------------------------------------------------------------------------------------------------------
async def drive_exhibition(db: Any) -> list[Any]:
    from exhibition.app import Housekeeping
    from exhibition.repository import ExhibitionRepository

    repo = ExhibitionRepository(db)
    await repo.ensure_indexes()
    for n in range(3):
        await repo.insert_exhibitor({"_id": f"ex-{n}", "key": f"k{n}", "organisation": f"Org {n}",
                                     "stakeholder_type": "academia", "country": "CH", "description": "", "tags": {},
                                     "videos": [], "logo": None, "version": 1, "created_at": T0,
                                     "updated_at": T0}, events(f"ex-{n}"))
    await repo.exhibitor("ex-0")
    await repo.exhibitor_by_key("k0")
    await repo.update_exhibitor("ex-0", 1, set_={"description": "d"}, events=events("ex-0"))
    await repo.all_exhibitors()
    for n in range(3):
        await repo.store_asset({"_id": f"m{n}", "exhibitor_id": "ex-0", "kind": "material", "title": "t",
                                "filename": "f.pdf", "content_type": "application/pdf", "size": 4, "sha256": "x",
                                "created_at": T0, "created_by": f"att-{n}"}, b"data")
        await repo.publish_asset(f"m{n}", events(f"m{n}"))
    await repo.asset("m0")
    await repo.assets_of("ex-0")
    await repo.count_assets("ex-0")
    await repo.material_counts()
    await repo.rename_asset("m0", "title", events("m0"))
    async for _ in repo.read_chunks("m0", 0, 0):
        pass
    await repo.remove_asset("m2", T0, events("m2"))
    for n in range(3):
        await repo.record_visit("ex-0", f"att-{n}", T0, "slot-1", events("ex-0"))
        await repo.record_download("m0", "ex-0", f"att-{n}", T0, events("m0"))
    await repo.visit_totals("ex-0")
    await repo.download_totals("ex-0")
    await repo.forget_visitor("att-2", "anon-2")
    for n in range(3):
        await repo.share("ex-0", f"att-{n}", T0, events("lead"))
    await repo.revoke("ex-0", "att-2", T0, "changed mind", events("lead"))
    await repo.lead("ex-0", "att-0")
    await repo.leads_of_attendee("att-0")
    await repo.leads_of_exhibitor("ex-0", skip=0, limit=20)
    await repo.count_leads("ex-0")
    for n in range(3):
        await repo.put_contact(f"att-{n}", T0, {"name": f"P{n}", "email": f"p{n}@x.org"})
    await repo.contact("att-0")
    await repo.contacts_of(["att-0", "att-1"])
    await repo.erase_contact("att-2", T0)
    await repo.forget_author("att-2")
    await repo.remove_exhibitor_data("ex-2")
    # the housekeeping poller (tombstones, abandoned uploads, expired idempotency keys) and the keys themselves
    keys = IdempotencyStore(db["idempotency"])
    await keys.begin("POST /exhibitors", "key-1", {"a": 1})
    await keys.finish("POST /exhibitors", "key-1", 201, {"id": "ex-0"})
    await keys.begin("POST /exhibitors", "key-2", {"a": 2})
    await keys.abandon("POST /exhibitors", "key-2")
    await db["outbox_published"].insert_one({"_id": "published-event", "at": T0})  # the relay's record, read by _id
    housekeeping = Housekeeping(repo, db["idempotency"],
                                SimpleNamespace(abandoned_upload_seconds=3600, janitor_interval_seconds=3600))
    await housekeeping.start()
    await housekeeping.stop()
    await housekeeping.run_once()
    return list(repo.outbox_collections)


# -- networking ------------------------------------------------------------------------------------------------------
async def drive_networking(db: Any) -> list[Any]:
    from networking import domain
    from networking.calendar import MeetingsRepository
    from networking.repository import NetworkingRepository

    repo = NetworkingRepository(db)
    await repo.ensure_indexes()
    for n in range(3):
        name = f"Person {n}"
        await repo.put_person(f"att-{n}", T0, {
            "name": name, "organisation": "Org", "job_title": "", "country": "KE", "region": "D",
            "stakeholder_type": "academia", "languages": ["en"], "interests": {"action_lines": ["C1"], "sdgs": [4]},
            "roles": ["attendee"], "directory": True, "search": domain.search_text(name, "Org", ""),
            "sort_name": domain.fold(name)}, registered=True)
    await repo.cancel_person("att-2", T0 + timedelta(minutes=1))
    await repo.person("att-0")
    await repo.people_by_id(["att-0", "att-1"])
    await repo.directory(domain.DirectoryQuery(), after=None, limit=20)
    await repo.directory(domain.DirectoryQuery(country="KE", q="person"), after=("person 0", "att-0"), limit=20)
    for n in range(3):
        await repo.insert_conversation({"_id": f"c-{n}", "kind": domain.DIRECT, "members": ["att-0", f"att-{n}"],
                                        "active_at": T0, "created_at": T0, "left": []}, events(f"c-{n}"))
    await repo.conversation("c-0")
    await repo.conversations_of("att-0", after=None, limit=20)
    await repo.conversations_of("att-0", after=(T0, "c-2"), limit=20)
    await repo.touch("c-0", T0 + timedelta(minutes=1))
    await repo.conversation_ids_of("att-0")
    for n in range(3):
        await repo.insert_message({"_id": f"m-{n:03d}", "conversation_id": "c-0", "author_id": f"att-{n}",
                                   "text": "hi", "dedupe": f"d-{n}", "sent_at": T0}, events(f"m-{n}"))
    await repo.insert_message({"_id": "m-x", "conversation_id": "c-0", "author_id": "att-0", "text": "hi",
                               "dedupe": "d-0", "sent_at": T0}, events("m-x"))
    await repo.messages_of("c-0", before="m-002", limit=20, hide_authors=["att-1"])
    await repo.newest_message("c-0")
    await repo.message("m-000")
    await repo.forget_author("att-2")
    await repo.advance_read("c-0", "att-0", {"up_to": "m-001", "at": T0}, events("r"))
    await repo.advance_read("c-0", "att-0", {"up_to": "m-002", "at": T0}, events("r"))
    await repo.read_marker("c-0", "att-0")
    await repo.forget_reads("att-2")
    await repo.block("att-0", "att-1", T0)
    await repo.has_blocked("att-0", "att-1")
    await repo.blocked_by("att-0")
    await repo.who_blocked(["att-0", "att-2"], "att-1")
    await repo.unblock("att-0", "att-9")
    await repo.forget_blocks("att-2")
    for n in range(3):
        await repo.insert_report({"_id": f"r-{n}", "reporter_id": "att-0", "reported_id": f"att-{n}",
                                  "reason": "spam", "at": T0}, events(f"r-{n}"))
    await repo.report("r-0")
    await repo.reports_page(before=None, limit=20)
    await repo.reports_page(before="r-2", limit=20)
    await repo.forget_reports("att-2")
    for n in range(3):
        await repo.put_session(f"ses-{n}", T0, {"title": "S", "status": "scheduled", "starts_at": T0,
                                                "ends_at": T0 + timedelta(hours=1), "speaker_ids": [f"spk-{n}"]})
        await repo.put_enrolment(f"ses-{n}", "att-0", "seated", T0)
        await repo.put_speaker(f"spk-{n}", T0, "att-0")
    await repo.scheduled_sessions("att-0")
    await repo.forget_schedule("att-2")
    await repo.erase_person("att-2", T0 + timedelta(minutes=2))

    meetings = MeetingsRepository(db)
    await meetings.ensure_indexes()
    for n in range(3):
        await meetings.insert_meeting({"_id": f"mt-{n}", "requester_id": "att-0", "invitee_id": f"att-{n}",
                                       "status": "requested", "starts_at": T0, "ends_at": T0 + timedelta(hours=1),
                                       "created_at": T0}, events(f"mt-{n}"))
        await meetings.insert_slot({"_id": f"sl-{n}", "speaker_id": "spk-0", "status": "open", "booked_by": None,
                                    "starts_at": T0 + timedelta(hours=n), "ends_at": T0 + timedelta(hours=n + 1)},
                                   events(f"sl-{n}"))
    await meetings.meeting("mt-0")
    await meetings.transition("mt-0", "requested", {"status": "accepted"}, events("mt-0"))
    await meetings.meetings_of("att-0", status=None, before=None, limit=20)
    await meetings.meetings_of("att-0", status="accepted", before="mt-2", limit=20)
    await meetings.meetings_with("att-1")
    await meetings.forget_participant("mt-2", "invitee_id", "att-2", {}, events("mt-2"))
    await meetings.slot("sl-0")
    # speakers.py: upcoming slots, open ones or not withdrawn, of everyone or of one speaker
    await meetings.slots_page({"status": "open", "starts_at": {"$gte": T0}}, after=None, limit=20)
    await meetings.slots_page({"status": {"$ne": "withdrawn"}, "starts_at": {"$gte": T0}, "speaker_id": "spk-0"},
                              after=(T0, "sl-0"), limit=20)
    await meetings.count_slots("spk-0")
    await meetings.change_slot("sl-0", {"status": "open"}, {"status": "booked", "booked_by": "att-1"},
                               events("sl-0"))
    await meetings.slots_where({"booked_by": "att-1"})  # projections.py: erasure
    await meetings.slots_where({"speaker_id": "spk-0"})
    await meetings.replace_entries("att-0", 0, [{"id": "mt-0", "starts_at": T0, "ends_at": T0}])
    await meetings.replace_entries("att-0", 1, [])
    await meetings.calendar("att-0")
    await meetings.forget_calendar("att-9")
    return [*repo.outbox_collections, *meetings.outbox_collections]


# -- registration ----------------------------------------------------------------------------------------------------
async def drive_registration(db: Any) -> list[Any]:
    from registration import domain
    from registration.repository import AttendeeRepository

    repo = AttendeeRepository(db["attendees"])
    await repo.ensure_indexes()
    for n in range(3):
        cmd = domain.Register(name=f"Person {n}", email=f"person.{n}@example.org", country="KE", gender="female",
                              stakeholder_type="academia", organisation=f"Org {n}")
        await repo.insert(domain.new_attendee_document(f"id-{n:03d}", cmd, T0), events(f"id-{n:03d}"))
    await repo.get("id-000")
    await repo.get_by_email("person.0@example.org")
    await repo.get_by_email("nobody@example.org")
    await repo.update("id-000", where={"version": 1}, set_={"organisation": "New"}, events=events("id-000"))
    await repo.update("id-001", set_={"email": "p1@example.org", "email_lc": "p1@example.org"})
    await repo.update("id-002", set_={"signin": {"h": "x", "attempts": 0}}, bump_version=False)
    await repo.count_attempt("person.2@example.org")
    for query in (domain.ListQuery(), domain.ListQuery(country="KE"), domain.ListQuery(status="registered"),
                  domain.ListQuery(role="attendee"), domain.ListQuery(q="person")):
        await repo.page(query.mongo_filter(), after=None, limit=query.limit + 1)
        await repo.page(query.mongo_filter(), after="id-000", limit=query.limit + 1)
    return [repo.collection]


# -- notifications ---------------------------------------------------------------------------------------------------
async def drive_notifications(db: Any) -> list[Any]:
    from notifications.digests import DigestStore
    from notifications.directory import Directory
    from notifications.domain import Lane, SegmentRule
    from notifications.mail import SendFailure
    from notifications.outbound import EmailQueue
    from notifications.reminders import ReminderStore
    from notifications.repository import Announcements, Inbox, LivePushes, Preferences, ServiceState

    directory = Directory(db["attendees"], db["sessions"], db["questions"])
    await directory.ensure_indexes()
    for n in range(3):
        await directory.put_attendee(f"ev-{n}", T0, {"attendee_id": f"att-{n}", "name": f"P{n}",
                                                     "email": f"p{n}@x.org", "roles": ["attendee"], "region": "D",
                                                     "stakeholder_type": "academia", "exhibitor_id": "ex-0",
                                                     "timezone": "UTC"})
        await directory.put_session(f"evs-{n}", T0, {"session_id": f"ses-{n}", "title": "S", "starts_at": T0,
                                                     "ends_at": T0, "status": "scheduled", "type": "talk",
                                                     "track": "A"})
        await directory.enrol("ses-0", f"att-{n}")
        await directory.put_question(f"q-{n}", "ses-0", f"att-{n}")
    await directory.put_attendee("ev-0b", T0 + timedelta(seconds=1), {"attendee_id": "att-0", "name": "P0",
                                                                      "email": "p0@x.org"})
    await directory.cancel_attendee("ev-c", T0 + timedelta(seconds=2), "att-1")
    await directory.cancel_session("evs-c", T0 + timedelta(seconds=2), "ses-2")
    await directory.unenrol("ses-0", "att-1")
    await directory.attendee("att-0")
    await directory.session("ses-0")
    await directory.recipients(["att-0", "att-1"])
    await directory.enrolled("ses-0")
    await directory.question_author("q-0")
    await directory.exhibitor_staff("ex-0")
    for rule in (SegmentRule(), SegmentRule(regions=frozenset({"D"})),
                 SegmentRule(stakeholder_types=frozenset({"academia"}))):
        async for _ in directory.segment(rule):
            pass
        async for _ in directory.segment(rule, after="att-0"):
            pass
    await directory.erase_attendee("att-2", T0 + timedelta(minutes=1))

    inbox = Inbox(db["inbox"])
    await inbox.ensure_indexes()
    await inbox.add([{"_id": f"n-{n}", "key": f"k-{n}", "attendee_id": "att-0", "kind": "announcement",
                      "read": False, "created_at": T0} for n in range(3)])
    await inbox.page("att-0", limit=20)
    await inbox.page("att-0", limit=20, before=(T0, "n-2"), unread_only=True)
    await inbox.unread_count("att-0")
    await inbox.mark_read("att-0", "n-0", T0)
    await inbox.mark_read("att-0", "n-0", T0)
    await inbox.mark_all_read("att-0", T0)
    await inbox.count_for_key("k-0")
    await inbox.erase("att-9")

    live = LivePushes(db["live_ledger"], db["live_batches"], db["live_done"])
    await live.ensure_indexes()
    pushes = {f"n-{n}": envelope(f"n-{n}").to_doc("t.live") for n in range(3)}
    await live.push("k-live", pushes, T0)
    await live.push("k-live", pushes, T0)  # a redelivery
    await db["live_batches"].insert_one({"_id": "old", "key": "k", "created_at": T0, "_outbox": []})
    await live.prune(T0 + timedelta(hours=1))

    preferences = Preferences(db["preferences"])
    await preferences.change("att-0", {"announcement": {"email": False}}, T0)
    await preferences.get("att-0")
    await preferences.for_many(["att-0", "att-1"])
    await preferences.erase("att-9")

    announcements = Announcements(db["announcements"])
    await announcements.ensure_indexes()
    await announcements.create({"_id": "a-0", "title": "Hello", "status": "sending", "created_at": T0})
    await announcements.get("a-0")
    await announcements.recent(20)
    await announcements.progress("a-0", cursor="att-0", recipients=1, status="sent", now=T0)
    await ServiceState(db["service_state"]).secret("unsubscribe")

    digests = DigestStore(db)
    await digests.ensure_indexes()
    await digests.add([{"_id": f"i-{n}", "attendee_id": f"att-{n}", "conversation_id": "c-0", "message_id": "m-1",
                        "author_id": "att-0", "author_name": "P0", "received_at": T0} for n in range(3)],
                      T0, T0 + timedelta(minutes=10))
    await digests.seen(["i-0", "i-9"])
    await digests.markers("c-0", ["att-0", "att-1"])
    await digests.read("c-0", "att-1", "m-1", T0)
    await digests.left("c-0", "att-9")
    await digests.put_title("c-0", "Chat")
    await digests.title("c-0")
    due = await digests.due(T0 + timedelta(hours=1), 20)
    await digests.items_of("att-0")
    await digests.items_by_id(["i-0"])
    if due:
        claimed = await digests.claim(due[0], ["i-0"], T0, T0 + timedelta(minutes=5))
        if claimed:
            await digests.finish(claimed, ["i-0"], T0, timedelta(minutes=10))
    await digests.get("att-1")
    await digests.erase("att-2")
    await digests.prune(T0 - timedelta(days=7))
    await digests.add([{"_id": "i-9", "attendee_id": "att-0", "conversation_id": "c-1", "message_id": "m-9",
                        "author_id": "att-1", "author_name": "P1", "received_at": T0}], T0, T0 + timedelta(minutes=10))

    reminders = ReminderStore(db["reminders"])
    await reminders.ensure_indexes()
    for n in range(3):
        await reminders.arm(f"ses-{n}", T0 + timedelta(minutes=20), T0 + timedelta(hours=1),
                            timedelta(minutes=15), T0)
    await reminders.arm("ses-0", T0 + timedelta(minutes=30), T0 + timedelta(hours=1), timedelta(minutes=15), T0)
    await reminders.cancel("ses-2", T0)
    due = await reminders.due(T0 + timedelta(minutes=10), 20)
    if due:
        claimed = await reminders.claim(due[0], T0, T0 + timedelta(minutes=5))
        if claimed:
            await reminders.finish(claimed, "fired", T0, 3)
    await reminders.get("ses-1")

    queue = EmailQueue(db)
    await queue.ensure_indexes()
    for lane in Lane:
        await queue.enqueue(lane, f"k-{lane.value}", "announcement",
                            [{"_id": f"e-{lane.value}-{n}", "attendee_id": f"att-{n}", "to": f"p{n}@x.org"}
                             for n in range(3)], T0, content={"subject": "Hi"})
        due = await queue.due(lane, T0 + timedelta(minutes=1), 20)
        if due:
            claimed = await queue.claim(lane, due[0]["_id"], T0, T0 + timedelta(minutes=5))
            if claimed:
                first, second, *rest = [m["_id"] for m in claimed["messages"]]
                await queue.finish(lane, claimed, sent=rest, retry={first: SendFailure("busy", permanent=False)},
                                   dead={second: SendFailure("no such user", permanent=True, code=550)},
                                   retry_at=T0 + timedelta(minutes=5), now=T0, dlq_topic="t.dlq")
        for doc in await queue.expired(lane, T0 + timedelta(hours=1)):
            await queue.release(lane, doc, T0)
    await queue.finished_before("nope")
    await queue.erase("att-2")
    return [announcements.c, live.batches, queue.dead]


DRIVERS: dict[str, Driver] = {
    "sessions": drive_sessions,
    "exhibition": drive_exhibition,
    "networking": drive_networking,
    "registration": drive_registration,
    "notifications": drive_notifications,
}

# Queries that may read a whole collection, and why. A key is (collection or "*", the query's shape or the end of
# the method that sends it: see plans.is_allowed). DocumentDB 0.107 does not take a sort from an index
# (documentdb.enableIndexOrderbyPushdown is off), so an unfiltered listing in some order reads the collection on
# it, while MongoDB walks the index of that order and stops at the page's limit. Keep this list short.
ALLOWED: dict[str, dict[tuple[str, str], str]] = {
    "sessions": {
        # the public speakers list with no filter: every speaker, by name (MongoDB uses the name_1__id_1 index)
        ("speakers", "{}"): "the unfiltered speakers list and its total",
        ("speakers", "{} sort name +1, _id +1"): "the unfiltered speakers list",
    },
    "exhibition": {},
    "networking": {
        ("reports", "{} sort _id -1"): "the moderators' list of every report, newest first",
    },
    "registration": {
        # organisers' list and CSV export: any mix of seven filters and a text search, in id order (MongoDB walks
        # the _id index); an organiser's page, not a request attendees make
        ("attendees", "AttendeeRepository.page"): "the organisers' attendee list and export",
    },
    "notifications": {
        ("announcements", "{} sort created_at -1"): "the organisers' list of the latest announcements",
    },
}


@pytest.mark.integration
@pytest.mark.parametrize("service", sorted(DRIVERS))
async def test_every_repository_query_is_served_by_an_index(service: str, infra: Any, mongo_db_name: str) -> None:
    client = open_client(infra.mongodb_uri)
    try:
        db = client[mongo_db_name]
        recorder = QueryRecorder()
        outbox_collections = await DRIVERS[service](recorder.database(db))
        # the outbox relay's scans over the same collections, with the index it makes when it starts
        for collection in outbox_collections:
            await ensure_outbox_index(collection)
        await OutboxRelay(outbox_collections, MemoryBroker(), service=service).flush()
        # the relay deletes its claims when done: an expired one a stopped relay left behind, to copy
        await db[CLAIMS].insert_one({"_id": {"c": "gone", "d": "gone"}, "by": "stopped-relay", "until": T0})
        sizes = await fill(db, recorder.collections(), copies=COPIES)
        empty = sorted(name for name, size in sizes.items() if size < COPIES)
        found = await scans(db, recorder.queries, allowed=ALLOWED[service])
        problems = [f"  {scan}" for scan in found]
        if empty:  # a query on an empty table proves nothing either way
            problems.append(f"  the driver left nothing in {empty} to copy: those tables stayed small")
        assert not problems, f"{service}: {len(found)} query shapes read the whole collection:\n" + "\n".join(problems)
    finally:
        await client.close()


# -- the plan reader, on answers of both engines (no server needed) ------------------------------------------------
MONGO_COLLSCAN = {"queryPlanner": {"winningPlan": {"stage": "SORT", "inputStage": {"stage": "COLLSCAN"}}}}
MONGO_IXSCAN = {"queryPlanner": {"winningPlan": {"stage": "FETCH", "inputStage": {"stage": "IXSCAN",
                                                                                   "indexName": "email_lc_1"}}}}
PG_SEQ = {"queryPlanner": {"Plan": {"Node Type": "Seq Scan", "Relation Name": "documents_12"}}}
PG_INDEX = {"queryPlanner": {"Plan": {"Node Type": "Bitmap Heap Scan", "Relation Name": "documents_12", "Plans": [
    {"Node Type": "Bitmap Index Scan", "Index Name": "documents_rum_index_40"}]}}}


PG_WHOLE_PK = {"queryPlanner": {"Plan": {"Node Type": "Bitmap Heap Scan", "Relation Name": "documents_3",
                                         "Recheck Cond": "(shard_key_value = '3'::bigint)", "Plans": [
    {"Node Type": "Bitmap Index Scan", "Index Name": "_id_", "Index Cond": "(shard_key_value = '3'::bigint)"}]}}}
PG_BY_ID = {"queryPlanner": {"Plan": {"Node Type": "Index Scan", "Relation Name": "documents_3", "Index Name": "_id_",
                                      "Index Cond": "((shard_key_value = '3'::bigint) AND (object_id OPERATOR("
                                                    "documentdb_core.=) 'BSONHEX11'::documentdb_core.bson))"}}}


def test_the_plan_reader_knows_a_collection_scan_in_both_dialects() -> None:
    assert is_collection_scan(MONGO_COLLSCAN) and is_collection_scan(PG_SEQ) and is_collection_scan(PG_WHOLE_PK)
    assert not is_collection_scan(MONGO_IXSCAN) and not is_collection_scan(PG_INDEX)
    assert not is_collection_scan(PG_BY_ID)
    assert plan_summary(PG_SEQ) == "Seq Scan on documents_12"
    assert plan_summary(MONGO_IXSCAN) == "IXSCAN email_lc_1"
