"""Every page router of the web app, in one place (add a line for a new module)."""

from __future__ import annotations

from fastapi import APIRouter

from plenary_web import staff
from plenary_web.pages import account, exhibition, live, me, networking, public

router = APIRouter(include_in_schema=False)
for module in (public, live, account, me, exhibition, networking, staff):
    router.include_router(module.router)
