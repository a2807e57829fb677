"""Bearer-token validation with PyJWT against the issuer's published keys (no Flask).

The issuer's OpenID discovery document (``{authority}/.well-known/openid-configuration``) names
its ``issuer`` and ``jwks_uri``; both are read on first use. The key set is cached
(``KEY_SET_LIFESPAN_SECONDS``) and fetched again when a token names a key id the cache does not
hold (at most once per cool-down), so a key rotation needs no restart.

Failures carry the OAuth ``error`` and the ``error_description`` ASP.NET's JwtBearer handler
writes into ``WWW-Authenticate`` (reference-2.md §4.4).
"""
from __future__ import annotations

import json
import threading
import time
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Mapping
from urllib.parse import urlsplit

import jwt

from .settings import AuthSettings

#: Asymmetric algorithms only: never ``none``, never HS* (a public key is no secret).
ALLOWED_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
                      "ES256", "ES384", "ES512", "EdDSA")
KEY_SET_LIFESPAN_SECONDS = 600
#: Validated tokens kept (clients send one token with many requests): a hit costs a dict
#: lookup and an expiry check instead of parsing and an RSA verification (~0.1-0.5 ms).
VALIDATED_CACHE_SIZE = 4096
FETCH_TIMEOUT_SECONDS = 10
#: After the discovery document could not be read, requests fail fast this long.
DISCOVERY_RETRY_SECONDS = 5
INVALID_TOKEN = "invalid_token"
_DATE = "%m/%d/%Y %H:%M:%S"  # .NET DateTime.ToString(CultureInfo.InvariantCulture)


class AuthenticationFailure(Exception):
    """No usable token: 401. ``error`` is None when no token was sent."""

    def __init__(self, error: str | None = None, description: str | None = None) -> None:
        super().__init__(description or error or "no bearer token")
        self.error = error
        self.description = description


class KeysUnavailableError(Exception):
    """The issuer's metadata or keys cannot be fetched: tokens cannot be checked (503)."""


@dataclass(frozen=True)
class Principal:
    """A validated token's claims."""

    claims: Mapping[str, Any]

    @property
    def subject(self) -> str | None:
        """``oid`` (Microsoft Entra ID's stable user id) or ``sub``."""
        value = self.claims.get("oid") or self.claims.get("sub")
        return None if value is None else str(value)

    def role_names(self, claim: str) -> list[str]:
        """The role names in ``claim``; a dotted name is also tried as a path into nested
        objects (Keycloak's ``realm_access.roles``)."""
        value: Any = self.claims.get(claim)
        if value is None and "." in claim:
            value = self.claims
            for part in claim.split("."):
                value = value.get(part) if isinstance(value, dict) else None
        if isinstance(value, str):
            return [value]
        if isinstance(value, list):
            return [item for item in value if isinstance(item, str)]
        return []


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header; failure without error when
    there is none (ASP.NET: no result, so the challenge carries no error)."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise AuthenticationFailure()
    return token


def _fetch_json(url: str, require_https: bool) -> Any:
    if urlsplit(url).scheme != "https" and require_https:
        raise KeysUnavailableError(f"The metadata address {url} is not https.")
    try:
        with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT_SECONDS) as response:
            return json.load(response)
    except (OSError, ValueError) as exc:
        raise KeysUnavailableError(f"Cannot read {url}: {exc}") from None


class TokenValidator:
    """Validates bearer tokens for one authority and its audiences (thread-safe)."""

    def __init__(self, settings: AuthSettings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._issuer: str | None = None
        self._keys: jwt.PyJWKClient | None = None
        self._failed_at = float("-inf")
        #: token -> (valid until, principal); until = min(exp + skew, validated + key lifespan),
        #: so a key the issuer withdraws stops working as soon as the key set is re-read.
        self._validated: dict[str, tuple[float, Principal]] = {}

    def _key_client(self) -> tuple[str, jwt.PyJWKClient]:
        """The issuer and key client, from the discovery document on first use."""
        if self._keys is not None and self._issuer is not None:
            return self._issuer, self._keys
        with self._lock:
            if self._keys is None:
                if time.monotonic() - self._failed_at < DISCOVERY_RETRY_SECONDS:
                    raise KeysUnavailableError("The issuer's metadata could not be read.")
                try:
                    self._discover()
                except KeysUnavailableError:
                    self._failed_at = time.monotonic()
                    raise
        assert self._issuer is not None and self._keys is not None
        return self._issuer, self._keys

    def _discover(self) -> None:
        settings = self._settings
        document = _fetch_json(f"{settings.authority}/.well-known/openid-configuration",
                               settings.require_https_metadata)
        jwks_uri = document.get("jwks_uri") if isinstance(document, dict) else None
        if not isinstance(jwks_uri, str):
            raise KeysUnavailableError("The discovery document has no jwks_uri.")
        if urlsplit(jwks_uri).scheme != "https" and settings.require_https_metadata:
            raise KeysUnavailableError(f"The jwks_uri {jwks_uri} is not https.")
        self._issuer = str(document.get("issuer") or settings.authority)
        self._keys = jwt.PyJWKClient(
            jwks_uri, lifespan=KEY_SET_LIFESPAN_SECONDS, timeout=FETCH_TIMEOUT_SECONDS,
            cooldown_duration=settings.key_refresh_cooldown_seconds)

    def validate(self, token: str) -> Principal:
        """The token's claims, or AuthenticationFailure / KeysUnavailableError."""
        cached = self._validated.get(token)
        if cached is not None and time.time() < cached[0]:
            return cached[1]
        principal = self._validate(token)
        until = min(float(principal.claims["exp"]) + self._settings.clock_skew_seconds,
                    time.time() + KEY_SET_LIFESPAN_SECONDS)
        if len(self._validated) >= VALIDATED_CACHE_SIZE:
            try:
                del self._validated[next(iter(self._validated))]  # the oldest
            except (KeyError, StopIteration, RuntimeError):
                pass  # another thread evicted first
        self._validated[token] = (until, principal)
        return principal

    def _validate(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise AuthenticationFailure(INVALID_TOKEN) from None
        if header.get("alg") not in ALLOWED_ALGORITHMS:
            raise AuthenticationFailure(INVALID_TOKEN, "The signature is invalid")
        issuer, keys = self._key_client()
        try:
            key = keys.get_signing_key(header.get("kid"))
        except jwt.PyJWKClientConnectionError as exc:
            raise KeysUnavailableError(str(exc)) from None
        except jwt.PyJWKClientError:
            raise AuthenticationFailure(INVALID_TOKEN, "The signature key was not found") \
                from None
        settings = self._settings
        try:
            claims = jwt.decode(
                token, key, algorithms=list(ALLOWED_ALGORITHMS),
                audience=list(settings.audiences), issuer=issuer,
                leeway=settings.clock_skew_seconds,
                options={"require": ["exp", "iss", "aud"], "verify_iat": False})
        except jwt.PyJWTError as exc:
            raise AuthenticationFailure(INVALID_TOKEN, _describe(exc, token)) from None
        return Principal(claims)


def _describe(error: jwt.PyJWTError, token: str) -> str | None:
    """ASP.NET's error_description for the failure (None where it writes none)."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None  # malformed payload: ASP.NET writes no description either
    if isinstance(error, (jwt.InvalidSignatureError, jwt.InvalidAlgorithmError,
                          jwt.InvalidKeyError)):
        return "The signature is invalid"
    if isinstance(error, jwt.ExpiredSignatureError):
        return f"The token expired at '{_date(claims['exp'])}'"
    if isinstance(error, jwt.ImmatureSignatureError):
        return f"The token is not valid before '{_date(claims['nbf'])}'"
    if isinstance(error, jwt.MissingRequiredClaimError):
        return {"exp": "The token has no expiration",
                "aud": "The audience '(null)' is invalid",
                "iss": "The issuer '(null)' is invalid"}.get(error.claim)
    if isinstance(error, jwt.InvalidAudienceError):
        audience = claims.get("aud")
        shown = ", ".join(map(str, audience)) if isinstance(audience, list) else audience
        return f"The audience '{shown if shown else '(null)'}' is invalid"
    if isinstance(error, jwt.InvalidIssuerError):
        return f"The issuer '{claims.get('iss') or '(null)'}' is invalid"
    return None


def _date(value: Any) -> str:
    try:
        return datetime.fromtimestamp(float(value), timezone.utc).strftime(_DATE)
    except (TypeError, ValueError, OverflowError, OSError):
        return str(value)


def challenge(settings: AuthSettings, failure: AuthenticationFailure) -> str:
    """The ``WWW-Authenticate`` value of a 401, as the reference's JwtBearer options build it:
    its fixed challenge, then ``error`` and ``error_description`` for a rejected token."""
    audience = settings.audiences[0]
    value = (f'Bearer authorization_uri="{settings.authority}", resource_id="{audience}", '
             f'realm="{audience}"')
    if failure.error or failure.description:
        value += ","
        if failure.error:
            value += f' error="{failure.error}"'
        if failure.description:
            value += f'{"," if failure.error else ""} error_description="{failure.description}"'
    return value
