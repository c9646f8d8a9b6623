"""The registration service's settings (environment variables, see ServiceSettings for the shared ones)."""

from __future__ import annotations

from plenary_kit.settings import ServiceSettings
from pydantic import Field, SecretStr


class Settings(ServiceSettings):
    service_name: str = "registration"
    # Only this service holds the private key: it signs every access token.
    jwt_private_key: SecretStr

    access_token_ttl_seconds: int = Field(default=900, gt=0)
    refresh_token_ttl_days: int = Field(default=30, gt=0)
    # at most this many signed-in devices (refresh-token families) per person; the oldest goes first
    refresh_families_max: int = Field(default=10, gt=0)
    signin_code_ttl_seconds: int = Field(default=600, gt=0)
    signin_code_max_attempts: int = Field(default=5, gt=0)
    # a repeated `Idempotency-Key` replays the registration within this window; after it the key has expired
    idempotency_replay_hours: int = Field(default=24, gt=0)

    # Rate limits (token buckets, per process). A rate of 0 turns that limit off. Organisers are never limited
    # on registration (they load attendees in bulk); the limits protect the anonymous endpoints.
    register_rate_per_client: float = Field(default=10.0, ge=0)
    register_burst_per_client: float = Field(default=50.0, ge=1)
    code_rate_per_client: float = Field(default=0.2, ge=0)
    code_burst_per_client: float = Field(default=10.0, ge=1)
    code_rate_per_email: float = Field(default=1 / 60, ge=0)
    code_burst_per_email: float = Field(default=5.0, ge=1)
    # Peers whose X-Forwarded-For is believed (the gateway); comma-separated addresses.
    trusted_proxies: str = "127.0.0.1,::1"

    @property
    def trusted_proxy_set(self) -> frozenset[str]:
        return frozenset(p.strip() for p in self.trusted_proxies.split(",") if p.strip())
