"""Who is calling and may they: the bearer token is verified here (401 early), then the rate limit applies
per person (`sub`) when signed in, else per client IP (429 with Retry-After)."""

from __future__ import annotations

from dataclasses import dataclass

from plenary_kit.auth import Principal, TokenVerifier
from plenary_kit.problems import ProblemError
from plenary_kit.ratelimit import RateLimiter
from starlette.requests import HTTPConnection

from gateway.metrics import RATE_LIMITED


def bearer(conn: HTTPConnection, *, allow_query: bool = False) -> str | None:
    """The bearer token of the Authorization header (or, where allowed, the `access_token` query parameter:
    a browser's EventSource cannot send headers)."""
    scheme, _, token = conn.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    if allow_query:
        value = conn.query_params.get("access_token", "").strip()
        return value or None
    return None


@dataclass
class Guard:
    verifier: TokenVerifier
    per_ip: RateLimiter
    per_person: RateLimiter
    trust_forwarded_for: bool = False

    def client_ip(self, conn: HTTPConnection) -> str:
        if self.trust_forwarded_for:
            forwarded = conn.headers.get("x-forwarded-for", "")
            first = forwarded.split(",", 1)[0].strip()
            if first:
                return first
        return conn.client.host if conn.client else "unknown"

    def principal(self, conn: HTTPConnection, *, allow_query_token: bool = False) -> Principal | None:
        """The verified caller, None when anonymous; a bad or expired token is a 401 problem."""
        token = bearer(conn, allow_query=allow_query_token)
        return None if token is None else self.verifier.verify(token)

    def admit(self, conn: HTTPConnection, *, allow_query_token: bool = False) -> Principal | None:
        """Verify the token, then charge the caller's bucket; raises 401 or 429 problems."""
        principal = self.principal(conn, allow_query_token=allow_query_token)
        if principal is not None:
            decision = self.per_person.check(f"sub:{principal.sub}")
            kind = "person"
        else:
            decision = self.per_ip.check(f"ip:{self.client_ip(conn)}")
            kind = "ip"
        if not decision.allowed:
            RATE_LIMITED.labels(kind).inc()
            seconds = decision.retry_after_header
            raise ProblemError(
                429,
                f"Too many requests from you; slow down and try again in {seconds} "
                f"second{'' if seconds == '1' else 's'}.",
                headers={"Retry-After": seconds},
                retry_after=int(seconds),
            )
        return principal
