"""Prometheus figures of the stats service, read from the live figures when /metrics is scraped.

The gauges are computed at scrape time by a collector (nothing to update per event). The process serves one
stats app; building another (tests) points the collector at the newest one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import REGISTRY, Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from stats.aggregates import Figures
from stats.domain import ATTENDEES, BOOTH_ACTIVITY, EXHIBITORS, PAGE_VIEWS, REMOVED, SESSIONS, SPEAKERS
from stats.handlers import Freshness

EVENTS = Counter("plenary_stats_events_total", "Events read by the stats service, by outcome", ["outcome"])

Source = Callable[[], tuple[Figures, Freshness]]


def gauges(figures: Figures, freshness: Freshness) -> dict[str, tuple[str, float]]:
    """name -> (help, value) of every gauge."""
    speakers = figures.keys(SESSIONS, "speaker") - figures.keys(SPEAKERS, REMOVED)
    last_applied = freshness.last_applied_at.timestamp() if freshness.last_applied_at else 0.0
    return {
        "plenary_stats_attendees_total": ("Attendees counted (registered, not cancelled)",
                                          figures.total(ATTENDEES)),
        "plenary_stats_countries": ("Distinct countries of the attendees", len(figures.keys(ATTENDEES, "country"))),
        "plenary_stats_sessions_total": ("Sessions on the agenda (not cancelled)", figures.total(SESSIONS)),
        "plenary_stats_speakers": ("Distinct speakers of the sessions on the agenda", len(speakers)),
        "plenary_stats_exhibitors_total": ("Exhibitors published", figures.total(EXHIBITORS)),
        "plenary_stats_booth_visits_total": ("Booth visits", figures.total(BOOTH_ACTIVITY, "visits")),
        "plenary_stats_downloads_total": ("Material downloads", figures.total(BOOTH_ACTIVITY, "downloads")),
        "plenary_stats_page_views_total": ("Page views", figures.total(PAGE_VIEWS)),
        "plenary_stats_figures_version": ("Changes applied to the figures since start", figures.version),
        "plenary_stats_last_applied_timestamp_seconds": ("When the stats last applied an event (Unix time)",
                                                         last_applied),
    }


class StatsCollector(Collector):
    def __init__(self) -> None:
        self.source: Source | None = None

    def collect(self) -> Iterator[GaugeMetricFamily]:
        if self.source is None:
            return
        figures, freshness = self.source()
        for name, (help_text, value) in gauges(figures, freshness).items():
            yield GaugeMetricFamily(name, help_text, value=value)


COLLECTOR = StatsCollector()
REGISTRY.register(COLLECTOR)


def serve_figures(source: Source) -> None:
    COLLECTOR.source = source
