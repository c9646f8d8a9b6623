"""The demo loader's sessions part: the speakers and the 160 sessions of the WSIS Forum 2020 programme, recordings of
the sessions that are over, and some enrolments, questions and votes, all through the gateway's public API.

Re-running creates no duplicates: speakers and sessions carry their programme key (`key`), which the sessions
service keeps unique (a second create answers 409 with the existing id, which the loader takes); enrolments are
idempotent; a person asks at most one question per session (the loader checks `mine` first).

The programme is dated 22 June to 10 September 2020. By default (`shift_to_today=True`) it is moved by whole weeks
so that the forum opens in the current week (weekdays and times unchanged): then some sessions are over (they get
recordings), some are live and most are ahead (people enrol and ask questions in advance). With
`shift_to_today=False` the 2020 dates stay, every session is over and only recordings are added.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from plenary_demo.programme import FORUM_OPENS, generate_sessions, generate_speakers

API = "/api/sessions"
CONCURRENCY = 8
QUESTIONS = (
    "How can small island states afford the last mile of connectivity?",
    "What has the pandemic taught us about digital skills for older persons?",
    "Which indicators should we use to measure progress on this Action Line?",
    "How do you keep the private sector engaged after the pilot phase?",
    "Is there a role for community networks in the recovery plans?",
    "How can young women be encouraged into ICT careers in rural areas?",
    "What safeguards protect personal data in contact-tracing apps?",
    "Could you share an example of a successful public-private partnership?",
)


class LoadError(RuntimeError):
    pass


def _problem(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _check(response: httpx.Response, what: str) -> None:
    if response.status_code >= 400:
        raise LoadError(f"{what}: HTTP {response.status_code}: {_problem(response).get('detail', response.text[:200])}")


def week_shift(now: datetime) -> timedelta:
    """Whole weeks that move the forum's opening Monday to the Monday of `now`'s week."""
    monday = (now - timedelta(days=now.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    opens = FORUM_OPENS - timedelta(days=FORUM_OPENS.weekday())
    return timedelta(weeks=(monday - opens).days // 7)


async def _bounded(items: list[Any], worker: Callable[[Any], Awaitable[None]], concurrency: int = CONCURRENCY,
                   ) -> None:
    gate = asyncio.Semaphore(concurrency)

    async def one(item: Any) -> None:
        async with gate:
            await worker(item)

    await asyncio.gather(*(one(item) for item in items))


async def _create(client: httpx.AsyncClient, path: str, body: dict[str, Any], headers: dict[str, str],
                  id_field: str) -> tuple[str, bool]:
    """Create by natural key: (id, created now). A 409 naming the existing object counts as done."""
    for attempt in range(5):
        response = await client.post(path, json=body, headers=headers)
        if response.status_code == 201:
            return str(response.json()[id_field]), True
        problem = _problem(response)
        if response.status_code == 409 and problem.get(id_field):
            return str(problem[id_field]), False
        if response.status_code in (429, 503) and attempt < 4:
            await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
            continue
        _check(response, f"POST {path} {body.get('key')}")
    raise LoadError(f"POST {path} {body.get('key')}: gave up after retries")


async def load_sessions(client: httpx.AsyncClient, organiser_token: str, seed: int, *,
                        attendee_tokens: list[str] | None = None, shift_to_today: bool = True,
                        max_people: int = 300) -> dict[str, Any]:
    """Load speakers and sessions (and recordings, enrolments, questions); returns what was done."""
    organiser = {"Authorization": f"Bearer {organiser_token}"}
    shift = week_shift(datetime.now(UTC)) if shift_to_today else timedelta(0)
    speakers = generate_speakers(seed)
    sessions = generate_sessions(seed)
    result: dict[str, Any] = {"speakers": 0, "speakers_created": 0, "sessions": 0, "sessions_created": 0,
                              "recordings": 0, "enrolments": 0, "waitlisted": 0, "questions": 0, "votes": 0,
                              "shifted_by_days": shift.days}

    speaker_ids: dict[str, str] = {}

    async def add_speaker(speaker: dict[str, Any]) -> None:
        body = {k: speaker[k] for k in ("key", "name", "title", "organisation", "country", "gender", "bio")}
        speaker_ids[speaker["key"]], created = await _create(client, f"{API}/speakers", body, organiser,
                                                             "speaker_id")
        result["speakers_created"] += created

    await _bounded(speakers, add_speaker)
    result["speakers"] = len(speaker_ids)

    session_ids: dict[str, str] = {}
    when: dict[str, tuple[datetime, datetime]] = {}

    async def add_session(session: dict[str, Any]) -> None:
        starts = datetime.fromisoformat(session["starts_at"]) + shift
        ends = datetime.fromisoformat(session["ends_at"]) + shift
        body = {
            "key": session["key"], "title": session["title"], "description": session["description"],
            "type": session["type"], "track": session["track"], "organiser": session.get("organiser", ""),
            "starts_at": starts.isoformat(), "ends_at": ends.isoformat(), "language": session["language"],
            "capacity": session.get("capacity"), "closed": bool(session.get("closed")), "tags": session["tags"],
            "speaker_ids": [speaker_ids[k] for k in session["speakers"]],
            "moderator_ids": [speaker_ids[k] for k in session.get("moderators", [])],
            "stream_url": f"https://stream.wsis-demo.example.org/{session['key']}",
        }
        session_ids[session["key"]], created = await _create(client, API, body, organiser, "session_id")
        when[session["key"]] = (starts, ends)
        result["sessions_created"] += created

    await _bounded(sessions, add_session)
    result["sessions"] = len(session_ids)

    now = datetime.now(UTC)
    over = [s for s in sessions if when[s["key"]][1] <= now and not s.get("closed")]

    async def add_recording(session: dict[str, Any]) -> None:
        sid = session_ids[session["key"]]
        url = f"https://recordings.wsis-demo.example.org/{session['key']}.mp4"
        response = await client.put(f"{API}/{sid}/recording", json={"recording_url": url}, headers=organiser)
        if response.status_code == 200:
            result["recordings"] += 1
        elif response.status_code != 409:  # 409: the clock has not ended it yet
            _check(response, f"recording of {session['key']}")

    await _bounded(over, add_recording)

    ahead = [s for s in sessions if when[s["key"]][1] > now and not s.get("closed")]
    tokens = list(attendee_tokens or [])[:max_people]
    if not ahead or not tokens:
        return result
    rng = random.Random(seed)
    # a few popular sessions fill up, so some people wait; the rest spread over the programme
    popular = rng.sample(ahead, min(3, len(ahead)))
    plans = [(token, rng.sample(ahead, min(len(ahead), rng.randint(1, 3))) + popular[:1]) for token in tokens]
    asked: list[tuple[str, str]] = []  # (session id, question id)

    async def plan(item: tuple[str, list[dict[str, Any]]]) -> None:
        token, picks = item
        headers = {"Authorization": f"Bearer {token}"}
        for session in {s["key"]: s for s in picks}.values():
            sid = session_ids[session["key"]]
            response = await client.put(f"{API}/{sid}/enrolment", headers=headers)
            if response.status_code in (401, 403, 409):
                continue  # an expired token, a closed session, or one that just ended
            _check(response, f"enrolment in {session['key']}")
            state = response.json()["state"]
            result["enrolments"] += state == "seated"
            result["waitlisted"] += state == "waiting"
            if state != "seated" or rng.random() > 0.3:
                continue
            existing = await client.get(f"{API}/{sid}/questions", headers=headers)
            if existing.status_code == 200 and any(q.get("mine") for q in existing.json()["items"]):
                continue
            body = {"text": rng.choice(QUESTIONS), "anonymous": rng.random() < 0.2}
            question = await client.post(f"{API}/{sid}/questions", json=body, headers=headers)
            if question.status_code == 201:
                result["questions"] += 1
                asked.append((sid, question.json()["question_id"]))

    await _bounded(plans, plan)

    async def votes(item: tuple[str, str]) -> None:
        sid, qid = item
        for token in rng.sample(tokens, min(len(tokens), rng.randint(0, 5))):
            response = await client.put(f"{API}/{sid}/questions/{qid}/vote",
                                        headers={"Authorization": f"Bearer {token}"})
            if response.status_code == 200:
                result["votes"] += 1

    await _bounded(asked, votes)
    return result
