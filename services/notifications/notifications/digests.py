"""New messages while you are away: one email listing a person's unread messages, not one email per message.

The networking service publishes every message with its recipients (MessageSent) and every read marker
(ConversationRead: a member read a conversation up to a message). From them this module keeps, per person:

- `digest_items`: the unread messages waiting for the person's next digest (author, snippet, time, conversation),
  one document per (message, person); deleted once emailed, read, or the person left the conversation.
- `digests`: at most one pending digest per person (`_id` = attendee id), due `MESSAGE_DIGEST_SECONDS` after the
  first unread message arrived. Later messages join it without moving it, so a chat means one email per period.
  Each digest has its own `round` id: the notice key, hence the email's notification id, derives from it.
- `digest_reads`: the read markers (`<conversation id>|<attendee id>` -> `up_to`), so a marker that arrives before
  the message it covers (the two travel on different topics) still keeps that message out of the email.
- `digest_ledger`: insert-only, one id per (message, person) ever queued, so a redelivered MessageSent, even
  after its digest went out, queues nothing again.
- `conversation_titles`: the titles of group conversations, for the email.

The scheduler claims a due digest atomically (`find_one_and_update` pending -> firing, with a lease, recording the
items it takes), emails it through the deliverer (which applies the person's preferences and the email ledger), then
deletes the items and the digest. A scheduler that dies after the claim leaves a lease that expires: the next one
sends the same round with the same items, which the email ledger turns into nothing. Messages that arrive while a
digest is being sent start the next round.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from plenary_kit.logging import get_logger
from prometheus_client import Counter
from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from notifications.delivery import Deliverer
from notifications.directory import Directory
from notifications.domain import EMAIL, Notice, digest_context, digest_key, is_read
from notifications.polling import Poller
from notifications.repository import insert_new

Doc = dict[str, Any]
Clock = Callable[[], datetime]
PENDING, FIRING = "pending", "firing"
log = get_logger("notifications.digests")

DIGESTS = Counter("plenary_notifications_message_digests_total", "Message digests by outcome", ["outcome"])


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class DigestStore:
    def __init__(self, db: Any) -> None:
        self.items = db["digest_items"]
        self.digests = db["digests"]
        self.reads = db["digest_reads"]
        self.ledger = db["digest_ledger"]
        self.titles = db["conversation_titles"]

    async def ensure_indexes(self) -> None:
        await self.items.create_index([("attendee_id", ASCENDING), ("conversation_id", ASCENDING)])
        await self.items.create_index([("author_id", ASCENDING)])
        await self.digests.create_index([("status", ASCENDING), ("due_at", ASCENDING)])
        await self.reads.create_index([("attendee_id", ASCENDING)])
        await self.ledger.create_index([("at", ASCENDING)])

    # -- what the event handlers write ---------------------------------------------------------------------------
    async def seen(self, ids: Sequence[str]) -> set[str]:
        return {d["_id"] async for d in self.ledger.find({"_id": {"$in": list(ids)}}, {"_id": 1})}

    async def add(self, items: Sequence[Doc], now: datetime, due_at: datetime) -> int:
        """Queue unread messages (each with its ledger id as `_id`) and start a digest for every person who has
        none pending. Returns how many items are new. Items first, then the ledger: a crash in between is repaired
        by the redelivery (the item exists: a duplicate; the ledger entry is written then)."""
        if not items:
            return 0
        new = await insert_new(self.items, items)
        await insert_new(self.ledger, [{"_id": i["_id"], "at": now} for i in items])
        await self.start([i["attendee_id"] for i in items], now, due_at)
        return len(new)

    async def start(self, attendee_ids: Sequence[str], now: datetime, due_at: datetime) -> None:
        """A pending digest for each person without one (a person's digest exists at most once: `_id`)."""
        await insert_new(self.digests, [{"_id": a, "round": uuid.uuid4().hex, "status": PENDING, "due_at": due_at,
                                         "created_at": now} for a in dict.fromkeys(attendee_ids)])

    async def markers(self, conversation_id: str, attendee_ids: Sequence[str]) -> dict[str, str]:
        ids = [f"{conversation_id}|{a}" for a in attendee_ids]
        docs = await self.reads.find({"_id": {"$in": ids}}).to_list(None)
        return {d["attendee_id"]: d["up_to"] for d in docs}

    async def read(self, conversation_id: str, attendee_id: str, up_to: str, now: datetime) -> int:
        """Move the person's read marker forward and drop the unread messages it covers; returns how many."""
        marker_id = f"{conversation_id}|{attendee_id}"
        fields = {"conversation_id": conversation_id, "attendee_id": attendee_id, "up_to": up_to, "at": now}
        if await self.reads.find_one({"_id": marker_id}, {"_id": 1}) is None:
            try:
                await self.reads.insert_one({"_id": marker_id, **fields})
            except DuplicateKeyError:
                pass
        await self.reads.update_one({"_id": marker_id, "up_to": {"$lt": up_to}}, {"$set": fields})
        result = await self.items.delete_many({"attendee_id": attendee_id, "conversation_id": conversation_id,
                                               "message_id": {"$lte": up_to}})
        return int(result.deleted_count)

    async def left(self, conversation_id: str, attendee_id: str) -> None:
        """Someone who left a conversation is not emailed about its messages any more."""
        await self.items.delete_many({"attendee_id": attendee_id, "conversation_id": conversation_id})

    async def put_title(self, conversation_id: str, title: str) -> None:
        await insert_new(self.titles, [{"_id": conversation_id, "title": title}])

    async def title(self, conversation_id: str) -> str | None:
        doc = await self.titles.find_one({"_id": conversation_id})
        return doc.get("title") if doc else None

    async def erase(self, attendee_id: str) -> None:
        """GDPR erasure: the person's queued messages, digest and markers go; messages they wrote that wait in
        other people's digests stay, as written by a removed participant (like in the conversation itself)."""
        await self.items.delete_many({"attendee_id": attendee_id})
        await self.digests.delete_one({"_id": attendee_id})
        await self.reads.delete_many({"attendee_id": attendee_id})
        await self.items.update_many({"author_id": attendee_id}, {"$set": {"author_id": None, "author_name": None}})

    async def prune(self, older_than: datetime) -> int:
        """Forget ledger entries older than any redelivery can be (the messages topic keeps a week)."""
        result = await self.ledger.delete_many({"at": {"$lt": older_than}})
        return int(result.deleted_count)

    # -- what the scheduler does ---------------------------------------------------------------------------------
    async def due(self, now: datetime, limit: int) -> list[Doc]:
        pending = await self.digests.find({"status": PENDING, "due_at": {"$lte": now}}).sort(
            "due_at", ASCENDING).limit(limit).to_list(limit)
        stuck = await self.digests.find({"status": FIRING, "lease_until": {"$lt": now}}).limit(limit).to_list(limit)
        return list(pending) + list(stuck)

    async def items_of(self, attendee_id: str) -> list[Doc]:
        return list(await self.items.find({"attendee_id": attendee_id}).to_list(None))

    async def items_by_id(self, ids: Sequence[str]) -> list[Doc]:
        docs: list[Doc] = await self.items.find({"_id": {"$in": list(ids)}}).to_list(None)
        return docs

    async def claim(self, doc: Doc, item_ids: list[str], now: datetime, lease_until: datetime) -> Doc | None:
        """Take a digest atomically (only one scheduler of any replica gets it). A pending one records the items
        it takes; one whose scheduler died keeps the items recorded then."""
        if doc["status"] == PENDING:
            query: Doc = {"_id": doc["_id"], "status": PENDING, "round": doc["round"]}
            fields: Doc = {"status": FIRING, "lease_until": lease_until, "claimed_at": now, "items": item_ids}
        else:
            query = {"_id": doc["_id"], "status": FIRING, "lease_until": doc["lease_until"]}
            fields = {"lease_until": lease_until, "claimed_at": now}
        claimed = await self.digests.find_one_and_update(query, {"$set": fields},
                                                         return_document=ReturnDocument.AFTER)
        return dict(claimed) if claimed else None

    async def finish(self, digest: Doc, item_ids: Sequence[str], now: datetime, delay: timedelta) -> None:
        """Drop the items of a sent (or empty) digest and the digest itself; if messages arrived meanwhile, the
        next round starts, due `delay` after the first of them."""
        if item_ids:
            await self.items.delete_many({"_id": {"$in": list(item_ids)}})
        await self.digests.delete_one({"_id": digest["_id"], "round": digest["round"]})
        left = await self.items_of(digest["_id"])
        if left:
            first = min(_utc(i.get("received_at") or now) for i in left)
            await self.start([digest["_id"]], now, max(now, first + delay))

    async def get(self, attendee_id: str) -> Doc | None:
        doc = await self.digests.find_one({"_id": attendee_id})
        return dict(doc) if doc else None


class DigestScheduler(Poller):
    """Sends the digests that are due: one email per person listing their unread messages."""

    name = "message-digests"

    def __init__(
        self,
        store: DigestStore,
        directory: Directory,
        deliverer: Deliverer,
        *,
        delay_seconds: float,
        forum_name: str,
        poll_seconds: float = 1.0,
        lease_seconds: float = 60.0,
        clock: Clock = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__(poll_seconds)
        self.store = store
        self.directory = directory
        self.deliverer = deliverer
        self._delay = timedelta(seconds=delay_seconds)
        self._lease = timedelta(seconds=lease_seconds)
        self._reason = (f"You receive this because people wrote to you on {forum_name} while you were away; "
                        f"messages you read in time are not emailed.")
        self._clock = clock

    async def run_once(self) -> int:
        """Claim and send the digests due now; returns how many were claimed."""
        claimed = 0
        for doc in await self.store.due(self._clock(), limit=100):
            pending = doc["status"] == PENDING
            items = await self.store.items_of(doc["_id"]) if pending else []
            now = self._clock()
            taken = await self.store.claim(doc, [i["_id"] for i in items], now, now + self._lease)
            if taken is None:
                continue  # another scheduler has it
            claimed += 1
            if not pending:  # the scheduler that claimed it died: the same items again
                items = await self.store.items_by_id(taken.get("items") or [])
            await self._send(taken, items)
        return claimed

    async def _send(self, digest: Doc, items: list[Doc]) -> None:
        attendee_id = digest["_id"]
        unread: list[Doc] = []
        for conversation_id in dict.fromkeys(i["conversation_id"] for i in items):  # a marker may have moved since
            marker = (await self.store.markers(conversation_id, [attendee_id])).get(attendee_id)
            unread.extend(i for i in items if i["conversation_id"] == conversation_id
                          and not is_read(i["message_id"], marker))
        outcome = "empty"
        if unread:
            recipients = await self.directory.recipients([attendee_id])
            context, link = digest_context(unread)
            notice = Notice(key=digest_key(attendee_id, digest["round"]), kind="messages_unread", context=context,
                            link=link, channels=frozenset({EMAIL}))
            report = await self.deliverer.deliver(notice, recipients, reason=self._reason)
            outcome = "sent" if report.email else "not_sent"
        await self.store.finish(digest, [i["_id"] for i in items], self._clock(), self._delay)
        DIGESTS.labels(outcome=outcome).inc()
        if unread:
            log.info("message_digest", attendee_id=attendee_id, messages=len(unread), outcome=outcome)
