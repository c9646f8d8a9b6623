"""Typed settings read from the environment (pydantic-settings)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """What every service needs. Secrets have no default: a service without its key does not start."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    service_name: str = Field(default="plenary")
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    mongodb_uri: str = "mongodb://127.0.0.1:27017/"
    mongodb_database: str = ""
    plenary_topic_prefix: str = ""
    jwt_public_key: SecretStr
    jwt_issuer: str = "plenary"
    jwt_audience: str = "plenary"
    log_level: str = "INFO"
    # the relay's periodic scan only picks up entries older than its grace period (10 s): orphans of a crashed
    # replica or a lost hint; every write's own events leave at once by hint. A second's period cost an indexed
    # query per outbox collection per second in every idle service.
    outbox_poll_seconds: float = 5.0
    consumer_max_retries: int = 3
    consumer_retry_backoff_seconds: float = 0.2

    @property
    def database_name(self) -> str:
        return self.mongodb_database or f"plenary_{self.service_name}"

    def topic(self, name: str) -> str:
        return f"{self.plenary_topic_prefix}{name}"
