"""One place that wires the use cases over a repository: the real app and the unit tests build the same objects."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sessions.context import Context
from sessions.domain import utcnow
from sessions.feeds import Feeds
from sessions.handlers import Agenda
from sessions.live import Clock, Live, Ticker
from sessions.qa import QandA
from sessions.repository import Repository
from sessions.seats import Seats
from sessions.settings import Settings


@dataclass
class SessionsService:
    ctx: Context
    agenda: Agenda
    seats: Seats
    live: Live
    clock: Clock
    qa: QandA
    feeds: Feeds

    @property
    def repo(self) -> Repository:
        return self.ctx.repo

    def ticker(self) -> Ticker:
        return Ticker([self.clock.advance, self.live.sweep, self.live.publish_counts,
                       self.repo.purge_erased_enrolments], self.ctx.settings.clock_interval_seconds)


def bootstrap(repo: Repository, settings: Settings, *,
              clock: Callable[[], datetime] = utcnow) -> SessionsService:
    ctx = Context(repo=repo, settings=settings, clock=clock)
    seats = Seats(ctx)
    agenda = Agenda(ctx, seats)
    return SessionsService(ctx=ctx, agenda=agenda, seats=seats, live=Live(ctx), clock=Clock(ctx, agenda),
                           qa=QandA(ctx), feeds=Feeds(ctx))
