"""Q&A of a session: ask, withdraw, upvote once, moderate (approve, hide, pin, mark answered).

Each question is one document; every change is one guarded update carrying its event in the outbox. An upvote is
`$addToSet` of the voter with `$inc` of the count, guarded by "this voter is not in the set yet": a second upvote
matches nothing and changes nothing. Events never leak what a viewer may not see (see plenary_events.sessions).
"""

from __future__ import annotations

from typing import Any

from plenary_events.sessions import (
    QA,
    QuestionAnswered,
    QuestionApproved,
    QuestionAsked,
    QuestionHidden,
    QuestionPinned,
    QuestionUpvoted,
    QuestionWithdrawn,
)
from plenary_kit.auth import Principal
from plenary_kit.problems import ProblemError
from plenary_kit.ratelimit import RateLimiter

from sessions.context import Context
from sessions.domain import (
    CANCELLED,
    ENDED,
    HIDDEN,
    PENDING,
    Q_WITHDRAWN,
    VISIBLE,
    clean_question,
    effective_status,
    order_questions,
    question_view,
    require_moderator,
    visible_to,
)
from sessions.repository import Doc, new_id


def public_question(q: Doc) -> dict[str, Any]:
    """The question as an event may carry it: no author when anonymous or erased, no text while pending."""
    anonymous = bool(q.get("anonymous"))
    return {
        "question_id": q["_id"], "session_id": q["session_id"],
        "text": q["text"] if q["status"] != PENDING else None,
        "anonymous": anonymous,
        "author_id": None if anonymous else q.get("author_id"),
        "author_name": None if anonymous else q.get("author_name"),
        "status": q["status"], "votes": int(q.get("votes", 0)), "pinned": bool(q.get("pinned")),
        "answered": bool(q.get("answered")), "asked_at": q["asked_at"],
    }


class QandA:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.repo = ctx.repo
        s = ctx.settings
        self.limiter = RateLimiter(rate_per_second=s.question_rate_per_minute / 60.0, burst=s.question_burst)

    async def _session_for(self, principal: Principal | None, session_id: str) -> tuple[Doc, Any]:
        session = await self.ctx.session_or_404(session_id)
        access = await self.ctx.access(principal, session)
        return session, access

    async def ask(self, principal: Principal, session_id: str, text: str, anonymous: bool) -> Doc:
        session, access = await self._session_for(principal, session_id)
        if not access.allowed_in:
            raise ProblemError(403, access.reason)
        status = effective_status(session, self.ctx.now(), self.ctx.overrun)
        if status in (ENDED, CANCELLED):
            raise ProblemError(409, f"This session has {'ended' if status == ENDED else 'been cancelled'}; "
                                    "its Q&A is closed.")
        text = clean_question(text, self.ctx.settings.question_max_length)
        self.limiter.enforce(f"ask:{principal.sub}",
                             detail="You are asking questions too quickly; wait a little before the next one.")
        person = await self.repo.get_person(principal.sub)
        now = self.ctx.now()
        doc: Doc = {
            "_id": new_id("q"), "session_id": session_id, "text": text, "author_id": principal.sub,
            "author_name": person.get("name") if person else None, "anonymous": anonymous,
            "status": PENDING if session.get("premoderation") and not access.moderator else VISIBLE,
            "votes": 0, "voters": [], "pinned": False, "answered": False, "asked_at": now, "updated_at": now,
        }
        doc["_outbox"] = [self.ctx.event(QA, QuestionAsked(**public_question(doc)), session_id)]
        await self.repo.insert_question(doc)
        doc.pop("_outbox")
        return question_view(doc, viewer_id=principal.sub, moderator=access.moderator)

    async def list(self, principal: Principal | None, session_id: str, sort: str, status: str | None) -> list[Doc]:
        session, access = await self._session_for(principal, session_id)
        if session.get("closed") and not access.allowed_in:
            raise ProblemError(403, access.reason)
        if status and not access.moderator:
            raise ProblemError(403, "Only this session's moderators, its speakers and organisers can filter "
                                    "questions by status.")
        viewer = principal.sub if principal else None
        questions = [q for q in await self.repo.questions_of(session_id)
                     if visible_to(q, viewer_id=viewer, moderator=access.moderator)
                     and (status is None or q["status"] == status)]
        return [question_view(q, viewer_id=viewer, moderator=access.moderator)
                for q in order_questions(questions, sort)]

    async def withdraw(self, principal: Principal, session_id: str, question_id: str) -> None:
        question = await self._question(session_id, question_id)
        if question.get("author_id") != principal.sub:
            raise ProblemError(403, "Only the person who asked a question can withdraw it.")
        if question["status"] == Q_WITHDRAWN:
            return
        event = self.ctx.event(QA, QuestionWithdrawn(question_id=question_id, session_id=session_id,
                                                     at=self.ctx.now()), session_id)
        await self.repo.update_question(question_id, {"status": {"$ne": Q_WITHDRAWN}},
                                        {"$set": {"status": Q_WITHDRAWN, "updated_at": self.ctx.now()}}, [event])

    async def vote(self, principal: Principal, session_id: str, question_id: str, up: bool) -> Doc:
        _, access = await self._session_for(principal, session_id)
        if not access.allowed_in:
            raise ProblemError(403, access.reason)
        question = await self._question(session_id, question_id)
        if question["status"] != VISIBLE:
            raise ProblemError(409, "Only questions shown to everyone can be voted on.")
        aid = principal.sub
        for _ in range(100):
            votes = int(question.get("votes", 0))
            voted = aid in question.get("voters", [])
            if voted == up:  # a second upvote (or taking back a vote never given) changes nothing
                return question_view(question, viewer_id=aid, moderator=access.moderator)
            delta = 1 if up else -1
            # compare-and-set on the count, so the event carries the exact count after this vote
            query: Doc = {"votes": votes, "voters": {"$ne": aid} if up else aid}
            update: Doc = {"$inc": {"votes": delta}, ("$addToSet" if up else "$pull"): {"voters": aid}}
            event = self.ctx.event(QA, QuestionUpvoted(question_id=question_id, session_id=session_id,
                                                       votes=votes + delta, delta=delta, at=self.ctx.now()),
                                   session_id)
            updated = await self.repo.update_question(question_id, query, update, [event])
            if updated is not None:
                return question_view(updated, viewer_id=aid, moderator=access.moderator)
            question = await self._question(session_id, question_id)
        raise ProblemError(503, "This question is getting many votes at once; try again.", headers={"Retry-After": "1"})

    async def moderate(self, principal: Principal, session_id: str, question_id: str, action: str) -> Doc:
        _, access = await self._session_for(principal, session_id)
        require_moderator(access)
        question = await self._question(session_id, question_id)
        if question["status"] == Q_WITHDRAWN:
            raise ProblemError(409, "The author withdrew this question.")
        now = self.ctx.now()
        sid = session_id
        changes: Doc
        if action == "approve":
            changes = {"status": VISIBLE}
            data: Any = QuestionApproved(**public_question({**question, **changes}))
        elif action == "hide":
            changes = {"status": HIDDEN, "pinned": False}
            data = QuestionHidden(question_id=question_id, session_id=sid, at=now)
        elif action in ("pin", "unpin"):
            if action == "pin" and question["status"] != VISIBLE:
                raise ProblemError(409, "Approve the question before pinning it.")
            changes = {"pinned": action == "pin"}
            data = QuestionPinned(question_id=question_id, session_id=sid, pinned=action == "pin", at=now)
        elif action in ("answered", "unanswered"):
            changes = {"answered": action == "answered"}
            data = QuestionAnswered(question_id=question_id, session_id=sid, answered=action == "answered", at=now)
        else:
            raise ProblemError(404, f"There is no moderation action {action!r}.")
        if all(question.get(k) == v for k, v in changes.items()):
            return question_view(question, viewer_id=principal.sub, moderator=True)  # nothing changes: no event
        event = self.ctx.event(QA, data, sid)
        updated = await self.repo.update_question(question_id, {"status": {"$ne": Q_WITHDRAWN}},
                                                  {"$set": {**changes, "updated_at": now}}, [event])
        return question_view(updated or question, viewer_id=principal.sub, moderator=True)

    async def _question(self, session_id: str, question_id: str) -> Doc:
        question = await self.repo.get_question(session_id, question_id)
        if question is None:
            raise ProblemError(404, f"There is no question {question_id!r} in this session.")
        return question
