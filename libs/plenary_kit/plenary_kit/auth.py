"""JWT access tokens (RFC 8725): EdDSA pinned, `iss`/`aud`/`exp` required, explicit `typ`.

Only the registration service holds the private key (TokenIssuer); every service verifies with the public key
(TokenVerifier) and never trusts an identity header it did not verify itself.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Annotated, Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import Depends, Request

from plenary_kit.problems import ProblemError

ALGORITHM = "EdDSA"
ACCESS_TYP = "at+jwt"


def generate_keypair() -> tuple[str, str]:
    """A fresh Ed25519 key pair as (private PEM, public PEM)."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    return private, public


@dataclass(frozen=True)
class Principal:
    sub: str
    roles: frozenset[str] = field(default_factory=frozenset)
    exhibitor_id: str | None = None
    token_id: str | None = None

    def has(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))

    @property
    def is_organiser(self) -> bool:
        return "organiser" in self.roles


class TokenIssuer:
    def __init__(self, private_pem: str, *, issuer: str, audience: str, access_ttl_seconds: int = 900) -> None:
        self._key = serialization.load_pem_private_key(private_pem.encode(), password=None)
        self._issuer = issuer
        self._audience = audience
        self.access_ttl = access_ttl_seconds

    def issue_access(self, sub: str, roles: list[str], exhibitor_id: str | None = None) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": sub,
            "iat": now,
            "nbf": now,
            "exp": now + self.access_ttl,
            "jti": uuid.uuid4().hex,
            "roles": sorted(set(roles)),
        }
        if exhibitor_id:
            claims["exhibitor_id"] = exhibitor_id
        return jwt.encode(claims, self._key, algorithm=ALGORITHM, headers={"typ": ACCESS_TYP})  # type: ignore[arg-type]


class TokenVerifier:
    def __init__(self, public_pem: str, *, issuer: str, audience: str, leeway_seconds: int = 5) -> None:
        self._key = serialization.load_pem_public_key(public_pem.encode())
        self._issuer = issuer
        self._audience = audience
        self._leeway = leeway_seconds

    def verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
            if header.get("typ") != ACCESS_TYP or header.get("alg") != ALGORITHM:
                raise jwt.InvalidTokenError("not an access token")
            claims = jwt.decode(
                token,
                self._key,  # type: ignore[arg-type]
                algorithms=[ALGORITHM],
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise ProblemError(401, "Your access token has expired; refresh it or sign in again.",
                               headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}) from exc
        except jwt.InvalidTokenError as exc:
            raise ProblemError(401, "The access token is not valid; sign in again.",
                               headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}) from exc
        roles = claims.get("roles") or []
        return Principal(sub=str(claims["sub"]), roles=frozenset(str(r) for r in roles),
                         exhibitor_id=claims.get("exhibitor_id"), token_id=claims.get("jti"))


def bearer_token(request: Request) -> str | None:
    value = request.headers.get("authorization", "")
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _verifier(request: Request) -> TokenVerifier:
    verifier: TokenVerifier | None = getattr(request.app.state, "verifier", None)
    if verifier is None:  # pragma: no cover - wiring error
        raise RuntimeError("app.state.verifier is not set")
    return verifier


async def optional_principal(request: Request) -> Principal | None:
    token = bearer_token(request)
    if token is None:
        return None
    return _verifier(request).verify(token)


async def require_principal(request: Request) -> Principal:
    principal = await optional_principal(request)
    if principal is None:
        raise ProblemError(401, "Sign in first: this needs an 'Authorization: Bearer <token>' header.",
                           headers={"WWW-Authenticate": "Bearer"})
    return principal


async def require_organiser(principal: Annotated[Principal, Depends(require_principal)]) -> Principal:
    if not principal.is_organiser:
        raise ProblemError(403, "Only organisers can do this.")
    return principal


Caller = Annotated[Principal, Depends(require_principal)]
MaybeCaller = Annotated[Principal | None, Depends(optional_principal)]
Organiser = Annotated[Principal, Depends(require_organiser)]
