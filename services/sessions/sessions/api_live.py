"""HTTP routes of live sessions: join, heartbeat, leave, viewer counts, and Q&A with its moderation."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from plenary_kit.auth import Caller, MaybeCaller
from pydantic import BaseModel, ConfigDict, Field

from sessions.api import Svc
from sessions.domain import MODERATION_ACTIONS

router = APIRouter(prefix="/sessions", tags=["live"])


class QuestionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=5000)
    anonymous: bool = False


@router.post("/{session_id}/join", summary="Join a live session (gives the stream link; send heartbeats after)")
async def join(svc: Svc, principal: Caller, session_id: str) -> dict[str, Any]:
    return await svc.live.join(principal, session_id)


@router.post("/{session_id}/heartbeat", summary="Still watching (joins again after a gap)")
async def heartbeat(svc: Svc, principal: Caller, session_id: str) -> dict[str, Any]:
    return await svc.live.heartbeat(principal, session_id)


@router.post("/{session_id}/leave", status_code=204, summary="Leave a live session")
async def leave(svc: Svc, principal: Caller, session_id: str) -> Response:
    await svc.ctx.session_or_404(session_id)
    await svc.live.leave(principal, session_id)
    return Response(status_code=204)


@router.get("/{session_id}/viewers", summary="Concurrent viewers and distinct attendees of a session")
async def viewers(svc: Svc, session_id: str) -> dict[str, Any]:
    return await svc.live.counts(session_id)


@router.get("/{session_id}/questions", summary="Questions, pinned first, by votes or by time")
async def questions(svc: Svc, principal: MaybeCaller, session_id: str,
                    sort: Literal["votes", "time"] = "votes",
                    status: Annotated[str | None, Query(pattern="^(pending|visible|hidden)$")] = None,
                    ) -> dict[str, Any]:
    return {"items": await svc.qa.list(principal, session_id, sort, status), "sort": sort}


@router.post("/{session_id}/questions", status_code=201, summary="Ask a question (optionally anonymously)")
async def ask(svc: Svc, principal: Caller, session_id: str, body: QuestionIn) -> dict[str, Any]:
    return await svc.qa.ask(principal, session_id, body.text, body.anonymous)


@router.delete("/{session_id}/questions/{question_id}", status_code=204, summary="Withdraw your own question")
async def withdraw_question(svc: Svc, principal: Caller, session_id: str, question_id: str) -> Response:
    await svc.qa.withdraw(principal, session_id, question_id)
    return Response(status_code=204)


@router.put("/{session_id}/questions/{question_id}/vote", summary="Upvote a question (once; again changes nothing)")
async def upvote(svc: Svc, principal: Caller, session_id: str, question_id: str) -> dict[str, Any]:
    return await svc.qa.vote(principal, session_id, question_id, up=True)


@router.delete("/{session_id}/questions/{question_id}/vote", summary="Take your upvote back")
async def unvote(svc: Svc, principal: Caller, session_id: str, question_id: str) -> dict[str, Any]:
    return await svc.qa.vote(principal, session_id, question_id, up=False)


@router.post("/{session_id}/questions/{question_id}/{action}",
             summary=f"Moderate a question: {', '.join(MODERATION_ACTIONS)} (moderators, speakers, organisers)")
async def moderate(svc: Svc, principal: Caller, session_id: str, question_id: str,
                   action: Literal["approve", "hide", "pin", "unpin", "answered", "unanswered"]) -> dict[str, Any]:
    return await svc.qa.moderate(principal, session_id, question_id, action)
