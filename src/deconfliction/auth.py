"""Bearer tokens (JWT): who is calling, for which party, with which scopes.

The service only verifies tokens: it holds public keys (PEM files) and the audiences it accepts.
For development and the demo, ``deconfliction token`` signs tokens with a key pair kept in the
data folder (``dev-signing-key.pem``, created on first use, never to be used in production).
"""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from .errors import Unauthenticated
from .keyfile import private_key

#: The scope that lets a token manage parties.
ADMIN_SCOPE = "deconfliction.admin"
#: The scope of a party's own admins: they make the party's agreements with other parties.
PARTY_ADMIN_SCOPE = "deconfliction.party-admin"
#: Roles within a party (the token's ``roles`` claim); docs/security.md says who may call what.
ROLES = ("planner", "watch-officer", "liaison", "auditor", "admin")
DEV_ISSUER = "deconfliction-dev"
DEV_KEY_FILE = "dev-signing-key.pem"
ALGORITHMS = ["RS256", "ES256", "EdDSA"]
#: A verified token is remembered this long (never past its ``exp``): checking a signature costs
#: more than the rest of a small request.
VERIFIED_TTL_S = 60.0
_VERIFIED_MAX = 10_000


#: Longest token subject taken (a subject is a party's id, or a DSS client's manager name).
MAX_SUBJECT_CHARS = 255


def subject_problem(sub: str) -> str | None:
    """Why a token subject cannot be an id here (stored, indexed, shown), or None."""
    if len(sub) > MAX_SUBJECT_CHARS:
        return f"is longer than {MAX_SUBJECT_CHARS} characters"
    for ch in sub:
        # controls (NUL included), formats (bidi controls), surrogates, unassigned, separators
        if ch != " " and unicodedata.category(ch)[0] in "CZ":
            return f"contains a control, format or separator character (U+{ord(ch):04X})"
    return None


@dataclass(frozen=True)
class Principal:
    """The caller: ``subject`` is the party (or, on the F3548 API, the manager); ``roles`` what
    it may do within its party (the ``roles`` claim; a token without one holds every role)."""

    subject: str
    scopes: frozenset[str]
    roles: frozenset[str] = frozenset()

    @property
    def is_admin(self) -> bool:
        return ADMIN_SCOPE in self.scopes


@dataclass
class AuthConfig:
    """Which tokens are accepted: signed by one of ``public_keys_pem`` or by a key of one of the
    JWKS documents at ``jwks_urls``, with an ``aud`` among ``audiences``."""

    public_keys_pem: list[bytes] = field(default_factory=list)
    audiences: list[str] = field(default_factory=lambda: ["deconfliction"])
    jwks_urls: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._keys: list[Any] = [serialization.load_pem_public_key(p) for p in self.public_keys_pem]
        self._jwks = [jwt.PyJWKClient(u, cache_keys=True, lifespan=300) for u in self.jwks_urls]
        #: token -> (principal, time until which it may be reused: never past its exp)
        self._verified: dict[str, tuple[Principal, float]] = {}
        #: wall clock, seconds since the epoch (tests replace it)
        self.clock: Callable[[], float] = time.time

    def add_key(self, pem: bytes) -> None:
        self.public_keys_pem.append(pem)
        self._keys.append(serialization.load_pem_public_key(pem))

    @staticmethod
    def from_files(
        paths: list[Path], audiences: list[str], jwks_urls: list[str] | None = None
    ) -> AuthConfig:
        return AuthConfig(
            [p.read_bytes() for p in paths], audiences or ["deconfliction"], jwks_urls or []
        )

    def _candidate_keys(self, token: str) -> list[Any]:
        keys = list(self._keys)
        for client in self._jwks:
            try:
                keys.append(client.get_signing_key_from_jwt(token).key)
            except jwt.PyJWKClientError:
                continue  # no key of this set matches (or the set cannot be fetched)
        return keys

    def cached(self, token: str) -> Principal | None:
        """The token's principal if it was verified recently (no work done), else None."""
        hit = self._verified.get(token)
        if hit is not None and self.clock() < hit[1]:
            return hit[0]
        return None

    def verify(self, token: str) -> Principal:
        """The token's principal, if a configured key signed it for one of our audiences and it
        has not expired (Unauthenticated otherwise)."""
        hit = self._verified.get(token)
        if hit is not None and self.clock() < hit[1]:
            return hit[0]
        principal, exp = self._verify(token)
        if len(self._verified) >= _VERIFIED_MAX:
            self._verified.clear()
        self._verified[token] = (principal, min(self.clock() + VERIFIED_TTL_S, exp))
        return principal

    def _verify(self, token: str) -> tuple[Principal, float]:
        keys = self._candidate_keys(token)
        if not keys:
            raise Unauthenticated("no configured key can check this token")
        last: Exception | None = None
        for key in keys:
            try:
                claims = jwt.decode(
                    token,
                    key,
                    algorithms=ALGORITHMS,
                    audience=self.audiences,
                    options={"require": ["exp", "sub", "aud"]},
                )
            except (jwt.InvalidSignatureError, jwt.InvalidAlgorithmError) as exc:
                last = exc
                continue
            except jwt.PyJWTError as exc:
                raise Unauthenticated(f"invalid token: {exc}") from None
            scope = claims.get("scope", "")
            scopes = scope.split() if isinstance(scope, str) else []
            sub = claims["sub"]
            if not isinstance(sub, str) or not sub:
                raise Unauthenticated("invalid token: 'sub' must be a non-empty string")
            if (why := subject_problem(sub)) is not None:
                raise Unauthenticated(f"invalid token: 'sub' {why}")
            raw = claims.get("roles", list(ROLES))
            if not isinstance(raw, list) or not all(r in ROLES for r in raw):
                raise Unauthenticated(
                    f"invalid token: 'roles' must be a list of {', '.join(ROLES)}"
                )
            principal = Principal(subject=sub, scopes=frozenset(scopes), roles=frozenset(raw))
            return principal, float(claims["exp"])
        raise Unauthenticated(f"invalid token: {last or 'no key matched'}")


def dev_private_key(data_dir: Path) -> ec.EllipticCurvePrivateKey:
    """The development signing key of this data folder, created on first use."""
    return private_key(
        data_dir / DEV_KEY_FILE,
        lambda: ec.generate_private_key(ec.SECP256R1()),
        ec.EllipticCurvePrivateKey,
        "an EC private key",
    )


def public_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def mint_token(
    key: ec.EllipticCurvePrivateKey,
    subject: str,
    *,
    audience: str = "deconfliction",
    scopes: list[str] | None = None,
    ttl_s: int = 12 * 3600,
    roles: list[str] | None = None,
) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": DEV_ISSUER,
        "sub": subject,
        "aud": audience,
        "iat": now,
        "exp": now + ttl_s,
        "scope": " ".join(scopes or []),
    }
    if roles is not None:
        claims["roles"] = roles
    return jwt.encode(claims, key, algorithm="ES256")
