"""Q&A: asking (limits), withdrawing, upvoting once, anonymity, moderation rights, pre-moderation, ordering."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from plenary_events import sessions as ev
from plenary_kit.auth import Principal


async def live_session(harness: Any, **fields: Any) -> tuple[str, dict[str, str]]:
    mod = await harness.speaker("Mo Derator", attendee_id="att-mod")
    sid = (await harness.session(moderator_ids=[mod], **fields))["session_id"]
    harness.clock.set(harness.start + timedelta(minutes=5))
    return sid, harness.headers("att-mod")


async def ask(harness: Any, sid: str, who: str, text: str, anonymous: bool = False) -> Any:
    return await harness.client.post(f"/sessions/{sid}/questions", json={"text": text, "anonymous": anonymous},
                                     headers=harness.headers(who))


async def test_upvote_once_and_order_by_votes_or_time(harness: Any) -> None:
    sid, _ = await live_session(harness)
    q1 = (await ask(harness, sid, "a", "What about rural broadband?")).json()["question_id"]
    harness.clock.set(harness.clock.now + timedelta(seconds=1))
    q2 = (await ask(harness, sid, "b", "How do we fund it?")).json()["question_id"]
    for _ in range(2):
        r = await harness.client.put(f"/sessions/{sid}/questions/{q2}/vote", headers=harness.headers("c"))
        assert r.status_code == 200 and r.json()["votes"] == 1 and r.json()["voted"] is True
    by_votes = (await harness.client.get(f"/sessions/{sid}/questions")).json()["items"]
    assert [q["question_id"] for q in by_votes] == [q2, q1]
    by_time = (await harness.client.get(f"/sessions/{sid}/questions?sort=time")).json()["items"]
    assert [q["question_id"] for q in by_time] == [q2, q1]
    r = await harness.client.delete(f"/sessions/{sid}/questions/{q2}/vote", headers=harness.headers("c"))
    assert r.json()["votes"] == 0
    upvotes = [e.data["votes"] for e in await harness.events(ev.QA, "upvoted.v1")]
    assert upvotes == [1, 0]


ROUNDS = 16


async def test_concurrent_votes_count_each_person_once(harness: Any) -> None:
    """People click twice at once while others vote and take their votes back: the count is the number of voters,
    and the events add up to it. The twin's calls take uneven turns here, so that one request can overtake another
    (someone's vote taken back between the read and the write of another's second click), as on a server. Such an
    interleaving is rare, hence several rounds with their own draws (without the one-vote-per-person guard, two of
    these sixteen miscount)."""
    sid, _ = await live_session(harness)
    steady = [f"s{i}" for i in range(8)]  # upvote twice at once
    fickle = [f"f{i}" for i in range(8)]  # upvote, take it back, again and again
    miscounted = []
    for n in range(ROUNDS):
        qid = (await ask(harness, sid, f"asker{n}", f"Question {n}?")).json()["question_id"]
        harness.svc.repo.db.interleave(30, seed=n)

        async def vote(who: str, up: bool, qid: str = qid) -> None:
            await harness.svc.qa.vote(Principal(sub=who), sid, qid, up)

        async def change_mind(who: str) -> None:
            for _ in range(4):
                await vote(who, True)
                await vote(who, False)

        await asyncio.gather(*(vote(w, True) for w in steady for _ in range(2)), *(change_mind(w) for w in fickle))
        question = await harness.svc.repo.get_question(sid, qid)
        if sorted(question["voters"]) != steady or question["votes"] != len(steady):
            miscounted.append((n, question["votes"], question["voters"]))
    assert miscounted == []
    events = [e.data for e in await harness.events(ev.QA, "upvoted.v1")]
    assert sum(e["delta"] for e in events) == ROUNDS * len(steady)


async def test_anonymous_questions_hide_the_author_from_attendees_not_from_moderators(harness: Any) -> None:
    await harness.svc.repo.upsert_person("shy", {"name": "Shy Person", "email": "shy@example.org"})
    sid, mod = await live_session(harness)
    r = await ask(harness, sid, "shy", "Is anyone tracking the gender gap?", anonymous=True)
    assert r.status_code == 201 and r.json()["author_name"] == "Shy Person"  # the author sees their own
    seen_by_attendee = (await harness.client.get(f"/sessions/{sid}/questions", headers=harness.headers("x"))) \
        .json()["items"][0]
    assert seen_by_attendee["author_id"] is None and seen_by_attendee["author_name"] is None
    assert seen_by_attendee["anonymous"] is True
    public = (await harness.client.get(f"/sessions/{sid}/questions")).json()["items"][0]
    assert public["author_id"] is None
    seen_by_moderator = (await harness.client.get(f"/sessions/{sid}/questions", headers=mod)).json()["items"][0]
    assert seen_by_moderator["author_id"] == "shy" and seen_by_moderator["author_name"] == "Shy Person"
    asked = (await harness.events(ev.QA, "asked.v1"))[0]
    assert asked.data["author_id"] is None and asked.data["author_name"] is None


async def test_only_moderators_speakers_and_organisers_moderate(harness: Any) -> None:
    speaker = await harness.speaker("Spea Ker", attendee_id="att-speaker")
    sid, mod = await live_session(harness, speaker_ids=[speaker])
    qid = (await ask(harness, sid, "a", "A question worth hiding?")).json()["question_id"]
    for action in ("hide", "pin", "answered", "approve"):
        r = await harness.client.post(f"/sessions/{sid}/questions/{qid}/{action}", headers=harness.headers("a"))
        assert r.status_code == 403, action
        assert "moderators" in r.json()["detail"]
    r = await harness.client.post(f"/sessions/{sid}/questions/{qid}/pin", headers=mod)
    assert r.status_code == 200 and r.json()["pinned"] is True
    r = await harness.client.post(f"/sessions/{sid}/questions/{qid}/answered", headers=harness.headers("att-speaker"))
    assert r.status_code == 200 and r.json()["answered"] is True
    r = await harness.client.post(f"/sessions/{sid}/questions/{qid}/hide", headers=harness.organiser)
    assert r.status_code == 200 and r.json()["status"] == "hidden"
    assert (await harness.client.get(f"/sessions/{sid}/questions")).json()["items"] == []
    hidden = (await harness.client.get(f"/sessions/{sid}/questions?status=hidden", headers=mod)).json()["items"]
    assert [q["question_id"] for q in hidden] == [qid]
    kinds = [e.type.split(".")[-2] for e in await harness.events(ev.QA)]
    assert kinds == ["asked", "pinned", "answered", "hidden"]


async def test_a_speaker_moderates_only_the_sessions_whose_panel_has_their_profile(harness: Any) -> None:
    other = await harness.speaker("Other Panelist", attendee_id="att-other")
    sid, mod = await live_session(harness, speaker_ids=[other])
    qid = (await ask(harness, sid, "a", "Who answers this one?")).json()["question_id"]
    # att-mod speaks on this panel as moderator; att-else has a speaker profile, but on no panel of this session
    await harness.speaker("Else Where", attendee_id="att-else")
    r = await harness.client.post(f"/sessions/{sid}/questions/{qid}/hide", headers=harness.headers("att-else"))
    assert r.status_code == 403
    r = await harness.client.post(f"/sessions/{sid}/questions/{qid}/pin", headers=harness.headers("att-other"))
    assert r.status_code == 200 and r.json()["pinned"] is True
    # the profile unlinked from the account (the person was erased): the rights go with it
    await harness.svc.agenda.erase("att-other")
    r = await harness.client.post(f"/sessions/{sid}/questions/{qid}/unpin", headers=harness.headers("att-other"))
    assert r.status_code == 403
    r = await harness.client.post(f"/sessions/{sid}/questions/{qid}/unpin", headers=mod)
    assert r.status_code == 200 and r.json()["pinned"] is False


async def test_premoderation_holds_questions_until_approved(harness: Any) -> None:
    sid, mod = await live_session(harness)
    assert (await harness.client.put(f"/sessions/{sid}/qa-settings", json={"premoderation": True},
                                     headers=harness.headers("a"))).status_code == 403
    r = await harness.client.put(f"/sessions/{sid}/qa-settings", json={"premoderation": True}, headers=mod)
    assert r.json()["premoderation"] is True
    qid = (await ask(harness, sid, "a", "Held for review?")).json()["question_id"]
    assert (await harness.client.get(f"/sessions/{sid}/questions", headers=harness.headers("b"))).json()["items"] == []
    mine = (await harness.client.get(f"/sessions/{sid}/questions", headers=harness.headers("a"))).json()["items"]
    assert [q["status"] for q in mine] == ["pending"]
    r = await harness.client.put(f"/sessions/{sid}/questions/{qid}/vote", headers=harness.headers("b"))
    assert r.status_code == 409
    await harness.client.post(f"/sessions/{sid}/questions/{qid}/approve", headers=mod)
    seen = (await harness.client.get(f"/sessions/{sid}/questions", headers=harness.headers("b"))).json()["items"]
    assert [q["status"] for q in seen] == ["visible"]
    asked, approved = await harness.events(ev.QA)
    assert asked.data["text"] is None and asked.data["status"] == "pending"
    assert approved.type.endswith("approved.v1") and approved.data["text"] == "Held for review?"


async def test_length_and_rate_limits_and_withdrawing_only_your_own(harness: Any) -> None:
    sid, _ = await live_session(harness)
    r = await ask(harness, sid, "a", "x" * 501)
    assert r.status_code == 422 and "at most 500 characters" in r.json()["detail"]
    assert (await ask(harness, sid, "a", "  ")).status_code == 422
    ids = [(await ask(harness, sid, "a", f"Question number {i}?")).json()["question_id"] for i in range(3)]
    r = await ask(harness, sid, "a", "One too many?")
    assert r.status_code == 429 and r.headers["Retry-After"]
    assert (await ask(harness, sid, "b", "Someone else may still ask?")).status_code == 201
    r = await harness.client.delete(f"/sessions/{sid}/questions/{ids[0]}", headers=harness.headers("b"))
    assert r.status_code == 403
    assert (await harness.client.delete(f"/sessions/{sid}/questions/{ids[0]}",
                                        headers=harness.headers("a"))).status_code == 204
    remaining = (await harness.client.get(f"/sessions/{sid}/questions")).json()["items"]
    assert ids[0] not in [q["question_id"] for q in remaining] and len(remaining) == 3


async def test_questions_close_when_the_session_ends(harness: Any) -> None:
    sid, _ = await live_session(harness)
    harness.clock.set(harness.hours(2))
    r = await ask(harness, sid, "a", "Too late?")
    assert r.status_code == 409 and "ended" in r.json()["detail"]
