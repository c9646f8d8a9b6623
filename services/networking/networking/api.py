"""HTTP routes of the networking service: turn a request into a call of a use case, nothing else.

The gateway routes `/api/networking/...` here as `/networking/...`. Every route needs a signed-in caller; conversations,
messages and meetings answer 404 to anyone who is not in them; reports are read by organisers only.
Creating writes accept an `Idempotency-Key` header: a retry with the same key answers 200 with what the first
attempt made (201) instead of making it twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import JSONResponse
from plenary_kit.auth import Caller, Organiser

from networking import domain
from networking.handlers import Networking
from networking.meetings import Meetings
from networking.speakers import Availability

router = APIRouter(prefix="/networking", tags=["networking"])
Key = Annotated[str | None, Header(alias="Idempotency-Key")]
Limit = Annotated[int | None, Query(ge=1, description="Page size (the service caps it)")]
Cursor = Annotated[str | None, Query(description="`next_cursor` of the previous page")]


def _net(request: Request) -> Networking:
    service: Networking = request.app.state.networking
    return service


def _meetings(request: Request) -> Meetings:
    service: Meetings = request.app.state.meetings
    return service


def _availability(request: Request) -> Availability:
    service: Availability = request.app.state.availability
    return service


def _created(body: dict[str, Any], created: bool) -> JSONResponse:
    return JSONResponse(body, status_code=201 if created else 200)


# -- directory --------------------------------------------------------------------------------------------------------
@router.get("/directory", summary="Search the people who chose to be listed")
async def directory(request: Request, caller: Caller, query: Annotated[domain.DirectoryQuery, Query()]) -> Any:
    return await _net(request).directory(caller, query)


@router.get("/directory/{attendee_id}", summary="One listed person (`me`: your own entry, listed or not)")
async def directory_entry(request: Request, caller: Caller, attendee_id: str) -> Any:
    return await _net(request).directory_entry(caller, attendee_id)


# -- conversations and messages -----------------------------------------------------------------------------------
@router.post("/conversations", status_code=201, summary="Start a direct or group conversation",
             responses={200: {"description": "The direct conversation existed already (or a retried key)"}})
async def start_conversation(request: Request, caller: Caller, body: domain.StartConversation,
                             idempotency_key: Key = None) -> JSONResponse:
    return _created(*await _net(request).start(caller, body, idempotency_key))


@router.get("/conversations", summary="Your conversations, the most recently active first")
async def conversations(request: Request, caller: Caller, cursor: Cursor = None, limit: Limit = None) -> Any:
    return await _net(request).conversations(caller, cursor, limit)


@router.get("/conversations/{conversation_id}", summary="A conversation you are in")
async def conversation(request: Request, caller: Caller, conversation_id: str) -> Any:
    return await _net(request).conversation(caller, conversation_id)


@router.post("/conversations/{conversation_id}/members", summary="Add people to a group conversation")
async def add_members(request: Request, caller: Caller, conversation_id: str, body: domain.AddMembers) -> Any:
    return await _net(request).add_members(caller, conversation_id, body)


@router.delete("/conversations/{conversation_id}/members/me", status_code=204, summary="Leave a conversation")
async def leave(request: Request, caller: Caller, conversation_id: str) -> Response:
    await _net(request).leave(caller, conversation_id)
    return Response(status_code=204)


@router.get("/conversations/{conversation_id}/messages", summary="Messages, newest first (page back with `before`)")
async def messages(request: Request, caller: Caller, conversation_id: str,
                   before: Annotated[str | None, Query(description="`next_cursor` of the previous page")] = None,
                   limit: Limit = None) -> Any:
    return await _net(request).messages(caller, conversation_id, before, limit)


@router.post("/conversations/{conversation_id}/messages", status_code=201, summary="Send a message")
async def send(request: Request, caller: Caller, conversation_id: str, body: domain.SendMessage,
               idempotency_key: Key = None) -> JSONResponse:
    return _created(*await _net(request).send(caller, conversation_id, body, idempotency_key))


@router.post("/conversations/{conversation_id}/read",
             summary="Mark the conversation read up to a message (default: the newest); markers only move forward")
async def mark_read(request: Request, caller: Caller, conversation_id: str,
                    body: domain.MarkRead | None = None) -> Any:
    return await _net(request).mark_read(caller, conversation_id, body or domain.MarkRead())


# -- blocks and reports ---------------------------------------------------------------------------------------------
@router.get("/blocks", summary="The people you blocked")
async def blocks(request: Request, caller: Caller) -> Any:
    return await _net(request).blocks(caller)


@router.put("/blocks/{attendee_id}", summary="Block someone: they can no longer message you or ask you to meet")
async def block(request: Request, caller: Caller, attendee_id: str) -> Any:
    return await _net(request).block(caller, attendee_id)


@router.delete("/blocks/{attendee_id}", status_code=204, summary="Unblock someone")
async def unblock(request: Request, caller: Caller, attendee_id: str) -> Response:
    await _net(request).unblock(caller, attendee_id)
    return Response(status_code=204)


@router.post("/reports", status_code=201, summary="Report someone to the organisers")
async def file_report(request: Request, caller: Caller, body: domain.FileReport,
                      idempotency_key: Key = None) -> JSONResponse:
    return _created(*await _net(request).file_report(caller, body, idempotency_key))


@router.get("/reports", summary="Organisers: the reports, newest first")
async def reports(request: Request, _: Organiser, cursor: Cursor = None, limit: Limit = None) -> Any:
    return await _net(request).reports(cursor, limit)


@router.get("/reports/{report_id}", summary="Organisers: one report")
async def report(request: Request, _: Organiser, report_id: str) -> Any:
    return await _net(request).report(report_id)


# -- meetings -----------------------------------------------------------------------------------------------------
@router.post("/meetings", status_code=201, summary="Ask someone to meet, proposing time slots")
async def request_meeting(request: Request, caller: Caller, body: domain.RequestMeeting,
                          idempotency_key: Key = None) -> JSONResponse:
    return _created(*await _meetings(request).request(caller, body, idempotency_key))


@router.get("/meetings", summary="Your meetings and requests (sent and received), newest first")
async def meetings(request: Request, caller: Caller,
                   status: Literal["pending", "accepted", "declined", "cancelled"] | None = None,
                   cursor: Cursor = None, limit: Limit = None) -> Any:
    return await _meetings(request).meetings(caller, status, cursor, limit)


@router.get("/meetings/{meeting_id}", summary="A meeting of yours")
async def meeting(request: Request, caller: Caller, meeting_id: str) -> Any:
    return await _meetings(request).meeting(caller, meeting_id)


@router.post("/meetings/{meeting_id}/accept", summary="Accept one of the proposed slots (invitee)")
async def accept(request: Request, caller: Caller, meeting_id: str, body: domain.AcceptMeeting | None = None) -> Any:
    return await _meetings(request).accept(caller, meeting_id, body or domain.AcceptMeeting())


@router.post("/meetings/{meeting_id}/decline", summary="Decline a meeting request (invitee)")
async def decline(request: Request, caller: Caller, meeting_id: str) -> Any:
    return await _meetings(request).decline(caller, meeting_id)


@router.post("/meetings/{meeting_id}/cancel", summary="Withdraw your request, or call off an accepted meeting")
async def cancel(request: Request, caller: Caller, meeting_id: str) -> Any:
    return await _meetings(request).cancel(caller, meeting_id)


@router.get("/me/calendar", summary="Your commitments from now on: meetings, slots, bookings and sessions")
async def calendar(request: Request, caller: Caller) -> Any:
    return await _meetings(request).calendar(caller)


# -- meet the speakers -----------------------------------------------------------------------------------------------
@router.post("/availability", status_code=201, summary="Speakers: publish a slot attendees can book")
async def publish_slot(request: Request, caller: Caller, body: domain.PublishAvailability,
                       idempotency_key: Key = None) -> JSONResponse:
    return _created(*await _availability(request).publish(caller, body, idempotency_key))


@router.get("/availability", summary="Upcoming speaker slots, soonest first")
async def slots(request: Request, caller: Caller,
                speaker_id: Annotated[str | None, Query(description="One speaker's slots (`me`: yours)")] = None,
                open: Annotated[bool, Query(description="Only slots nobody booked yet")] = False,
                after: Annotated[datetime | None, Query(description="Slots starting at or after (default: now)")]
                = None,
                cursor: Cursor = None, limit: Limit = None) -> Any:
    return await _availability(request).slots(caller, speaker_id=speaker_id, open_only=open, after_time=after,
                                              cursor=cursor, limit=limit)


@router.get("/availability/{slot_id}", summary="One speaker slot")
async def slot(request: Request, caller: Caller, slot_id: str) -> Any:
    return await _availability(request).slot(caller, slot_id)


@router.delete("/availability/{slot_id}", status_code=204, summary="Speakers: withdraw a slot")
async def withdraw_slot(request: Request, caller: Caller, slot_id: str) -> Response:
    await _availability(request).withdraw(caller, slot_id)
    return Response(status_code=204)


@router.post("/availability/{slot_id}/booking", status_code=201, summary="Book a speaker's slot")
async def book(request: Request, caller: Caller, slot_id: str) -> JSONResponse:
    return _created(*await _availability(request).book(caller, slot_id))


@router.delete("/availability/{slot_id}/booking", summary="Cancel a booking (the booker or the speaker)")
async def cancel_booking(request: Request, caller: Caller, slot_id: str) -> Any:
    return await _availability(request).cancel_booking(caller, slot_id)
