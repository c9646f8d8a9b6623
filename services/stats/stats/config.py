"""The stats service's settings (environment variables; see ServiceSettings for the shared ones)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from plenary_kit.settings import ServiceSettings
from pydantic import Field, SecretStr

from stats.wordcloud import stop_words_with


class Settings(ServiceSettings):
    service_name: str = "stats"
    # The figures are public: the stats service verifies no tokens, so it needs no key.
    jwt_public_key: SecretStr = SecretStr("")

    # Small groups: a breakdown cell under this count reads as "fewer than <n>" (STATS_MIN_CELL).
    stats_min_cell: int = Field(default=5, ge=1)
    stats_word_cloud_size: int = Field(default=50, ge=0)
    # page views: the most viewed pages listed (the total counts every page)
    stats_pages_size: int = Field(default=25, ge=0)
    # Words left out of the word cloud besides the built-in English stop words, comma-separated.
    stats_extra_stop_words: str = ""
    # How many recent event ids each table value remembers to recognise an event published twice.
    stats_dedup_window: int = Field(default=32, ge=1)

    # Server-sent events: at most one update per interval; a heartbeat comment when idle; a stream ends after
    # `stats_sse_max_seconds` (browsers reconnect on their own), and at once on SIGTERM.
    stats_sse_min_interval_seconds: float = Field(default=0.25, gt=0)
    stats_sse_heartbeat_seconds: float = Field(default=15.0, gt=0)
    stats_sse_max_seconds: float = Field(default=300.0, gt=0)

    # Faust. The changelog topics are created before faust starts, with the broker's default replication factor;
    # this one applies to any topic faust would create itself. APP_DATADIR (faust's own name) is where it keeps
    # local files: the tables live in memory and come back from their changelog on start. The linger batches
    # changelog writes (the figures never wait for them).
    stats_topic_replication_factor: int = Field(default=1, ge=1)
    app_datadir: str = ""
    stats_changelog_linger_seconds: float = Field(default=0.005, ge=0)
    stats_restart_backoff_max_seconds: float = Field(default=10.0, gt=0)
    # faust and mode log plain text at INFO (banners, recovery tables); the service logs its own JSON lines
    stats_faust_log_level: str = "WARNING"

    @property
    def faust_app_id(self) -> str:
        """Also the consumer group; the changelog topics are `<app id>-<table>-changelog`."""
        return self.topic("stats.facts")

    @property
    def dead_letter_topic(self) -> str:
        return f"{self.faust_app_id}.dlq"

    @property
    def faust_brokers(self) -> list[str]:
        return [f"kafka://{server.strip()}" for server in self.kafka_bootstrap_servers.split(",") if server.strip()]

    @property
    def data_dir(self) -> Path:
        if self.app_datadir:
            return Path(self.app_datadir)
        return Path(tempfile.gettempdir()) / "plenary-stats" / (self.faust_app_id or "stats")

    @property
    def stop_words(self) -> frozenset[str]:
        return stop_words_with(self.stats_extra_stop_words.split(","))
