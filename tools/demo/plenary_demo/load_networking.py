"""The demo loader's networking part: conversations, messages and meeting requests between demo attendees, sent
through the gateway's public API with the attendees' own tokens.

Idempotent: a direct conversation exists once per pair (starting it again answers 200 with the same one), group
conversations, messages and meeting requests carry an `Idempotency-Key` derived from the seed and the item (a retry
answers 200 with what the first run made), and answering a request that was answered already (409) is taken as
done. Meeting slots are proposed on the days after the load (slots must lie in the future).

The people come from `attendee_tokens` (their `sub` claim); a token that has expired meanwhile (401) or a person the
networking service does not know yet (its registration events still on their way: 404) is retried a little, then
skipped and counted.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

API = "/api/networking"
MAX_PEOPLE = 60
RETRYABLE = (429, 502, 503, 504)

OPENERS = (
    "Hello! I enjoyed your question in the session this morning.",
    "Hi, we work on community networks too; shall we compare notes?",
    "Good to meet you here. Are you joining the C7 e-agriculture workshop?",
    "Thank you for connecting. Our ministry is preparing a broadband plan and I would value your view.",
    "Hi! I saw you are interested in digital skills (SDG 4). We run a programme for rural schools.",
)
REPLIES = (
    "Thanks for reaching out! Happy to talk.",
    "Yes, I will be there. Let us meet afterwards.",
    "That sounds great. Could you send me the link to your report?",
    "Sure, I will share our slides after the session.",
    "Glad to connect. Our team would be interested in a partnership.",
)
GROUP_TOPICS = (
    "C2 Information and communication infrastructure",
    "C4 Capacity building",
    "C7 E-agriculture",
    "C10 Ethical dimensions of the information society",
    "SDG 5: women in tech",
)
MEETING_SUBJECTS = ("Broadband mapping", "Digital skills for teachers", "Open data partnership", "Follow-up on the "
                    "high-level dialogue", "Cybersecurity capacity building")


def subject_of(token: str) -> str | None:
    """The attendee id (`sub`) of an access token, read without verifying it (the services verify it)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return None
    sub = claims.get("sub") if isinstance(claims, dict) else None
    return str(sub) if sub else None


def key(seed: int, *parts: object) -> str:
    return "demo-net-" + hashlib.sha256("|".join(map(str, (seed, *parts))).encode()).hexdigest()[:32]


class Loader:
    def __init__(self, client: httpx.AsyncClient, seed: int, tokens: dict[str, str]) -> None:
        self.client = client
        self.seed = seed
        self.tokens = tokens
        self.counts = {"conversations": 0, "messages": 0, "meetings": 0, "accepted": 0, "declined": 0,
                       "skipped": 0}
        self.errors: list[str] = []

    async def call(self, person: str, method: str, path: str, *, json_body: Any = None,
                   idempotency: str | None = None) -> httpx.Response | None:
        """The response (2xx or 409), or None after counting the item as skipped."""
        headers = {"Authorization": f"Bearer {self.tokens[person]}"}
        if idempotency:
            headers["Idempotency-Key"] = idempotency
        for attempt in range(6):
            try:
                response = await self.client.request(method, f"{API}{path}", json=json_body, headers=headers)
            except httpx.HTTPError as exc:
                if attempt == 5:
                    self.errors.append(f"{method} {path}: {exc}")
                    self.counts["skipped"] += 1
                    return None
                await asyncio.sleep(0.5 * (attempt + 1))
                continue
            if response.status_code in RETRYABLE or (response.status_code == 404 and attempt < 3
                                                     and "contact" in response.text):
                await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
                continue
            if response.is_success or response.status_code == 409:
                return response
            if response.status_code not in (401, 403, 404):  # an expired token, a block, an unknown person
                self.errors.append(f"{method} {path}: {response.status_code} {response.text[:200]}")
            self.counts["skipped"] += 1
            return None
        self.counts["skipped"] += 1
        return None

    async def direct(self, a: str, b: str, rng: random.Random) -> None:
        started = await self.call(a, "POST", "/conversations", json_body={"member_ids": [b]})
        if started is None or not started.is_success:
            return
        if started.status_code == 201:
            self.counts["conversations"] += 1
        conversation = started.json()["id"]
        lines = [rng.choice(OPENERS), *rng.sample(REPLIES, rng.randint(1, 3))]
        for n, text in enumerate(lines):
            author = a if n % 2 == 0 else b
            sent = await self.call(author, "POST", f"/conversations/{conversation}/messages", json_body={"text": text},
                                   idempotency=key(self.seed, "message", conversation, n))
            if sent is not None and sent.status_code == 201:
                self.counts["messages"] += 1

    async def group(self, n: int, members: list[str], rng: random.Random) -> None:
        owner, others = members[0], members[1:]
        title = GROUP_TOPICS[n % len(GROUP_TOPICS)]
        started = await self.call(owner, "POST", "/conversations", json_body={"member_ids": others, "title": title},
                                  idempotency=key(self.seed, "group", n))
        if started is None or not started.is_success:
            return
        if started.status_code == 201:
            self.counts["conversations"] += 1
        conversation = started.json()["id"]
        for m in range(rng.randint(2, 5)):
            author = members[m % len(members)]
            text = rng.choice(OPENERS if m == 0 else REPLIES)
            sent = await self.call(author, "POST", f"/conversations/{conversation}/messages", json_body={"text": text},
                                   idempotency=key(self.seed, "group-message", n, m))
            if sent is not None and sent.status_code == 201:
                self.counts["messages"] += 1

    async def meeting(self, n: int, requester: str, invitee: str, rng: random.Random, day0: datetime) -> None:
        day = day0 + timedelta(days=n % 5)
        hours = rng.sample(range(8, 18), 2)
        slots = [{"starts_at": (day + timedelta(hours=h)).isoformat(),
                  "ends_at": (day + timedelta(hours=h, minutes=30)).isoformat()} for h in sorted(hours)]
        made = await self.call(requester, "POST", "/meetings", idempotency=key(self.seed, "meeting", n), json_body={
            "invitee_id": invitee, "subject": MEETING_SUBJECTS[n % len(MEETING_SUBJECTS)], "slots": slots,
            "note": "Proposed through the demo loader."})
        if made is None or not made.is_success:
            return  # a clash with the requester's own meetings (409) or a skip
        if made.status_code == 201:
            self.counts["meetings"] += 1
        meeting = made.json()
        if meeting["status"] != "pending":
            return
        choice = rng.random()
        if choice < 0.5:
            answered = await self.call(invitee, "POST", f"/meetings/{meeting['id']}/accept",
                                       json_body={"slot": rng.randrange(len(slots))})
            if answered is not None and answered.status_code == 200:
                self.counts["accepted"] += 1
        elif choice < 0.7:
            answered = await self.call(invitee, "POST", f"/meetings/{meeting['id']}/decline")
            if answered is not None and answered.status_code == 200:
                self.counts["declined"] += 1


async def load_networking(client: httpx.AsyncClient, organiser_token: str, seed: int,
                          attendee_tokens: list[str] | None = None, *, concurrency: int = 8) -> dict[str, Any]:
    """Networking activity between demo attendees through the gateway (`client` has the gateway's base URL).
    The organiser's token is not used for activity (organisers do not chat on others' behalf). Returns counts."""
    tokens: dict[str, str] = {}
    for token in attendee_tokens or []:
        sub = subject_of(token)
        if sub and sub not in tokens:
            tokens[sub] = token
        if len(tokens) >= MAX_PEOPLE:
            break
    people = sorted(tokens)
    if len(people) < 2:
        return {"conversations": 0, "messages": 0, "meetings": 0, "accepted": 0, "declined": 0, "skipped": 0,
                "note": "fewer than two attendee tokens: no networking activity loaded"}
    rng = random.Random(seed)
    rng.shuffle(people)
    loader = Loader(client, seed, tokens)
    gate = asyncio.Semaphore(concurrency)
    pairs = [(people[i], people[i + 1]) for i in range(0, len(people) - 1, 2)]
    groups = [people[i:i + rng.randint(3, 6)] for i in range(0, len(people), 12)]
    groups = [g for g in groups if len(g) >= 3]
    requests = [(people[i], people[(i + 3) % len(people)]) for i in range(0, len(people), 3)]
    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)

    async def limited(job: Any) -> None:
        async with gate:
            await job

    # each item gets its own random stream, so the content does not depend on the order the jobs run in
    jobs = [loader.direct(a, b, random.Random(f"{seed}:dm:{n}")) for n, (a, b) in enumerate(pairs)]
    jobs += [loader.group(n, g, random.Random(f"{seed}:group:{n}")) for n, g in enumerate(groups)]
    await asyncio.gather(*(limited(j) for j in jobs))
    # meetings one after another: accepting one may clash with another, which is then (correctly) refused
    for n, (requester, invitee) in enumerate(requests):
        if requester != invitee:
            await loader.meeting(n, requester, invitee, random.Random(f"{seed}:meeting:{n}"), start)
    return {**loader.counts, "people": len(people), "errors": loader.errors[:10]}
