"""The staff pages: the moderation panel (speakers, moderators, organisers), the exhibitor staff's booth page and
the organisers' pages (sessions, exhibitors, people and roles, announcements, the attendees export).

`router` gathers them; plenary_web.routes includes it.
"""

from __future__ import annotations

from fastapi import APIRouter

from plenary_web.staff import booth, exhibitors, moderation, organiser, people

router = APIRouter(include_in_schema=False)
for module in (moderation, booth, organiser, exhibitors, people):
    router.include_router(module.router)
