"""A real OpenID identity provider for the security tests, on 127.0.0.1 in a thread.

Keys are made with ``cryptography``; the discovery document and the JWKS are served over HTTP;
tokens are minted per test with PyJWT. ``add_key`` publishes a new key (rotation).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

AUDIENCE = "dicom-api"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class LocalIdentityProvider:
    def __init__(self) -> None:
        self._keys: dict[str, tuple[Any, str]] = {}  # kid -> (private key, alg)
        self.jwks_requests = 0
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                if self.path == "/.well-known/openid-configuration":
                    body = {"issuer": provider.issuer, "jwks_uri": f"{provider.issuer}/jwks"}
                elif self.path == "/jwks":
                    provider.jwks_requests += 1
                    body = provider.jwks()
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.issuer = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.kid = self.add_key()

    def add_key(self, kind: str = "RSA") -> str:
        """Publish a new signing key; returns its kid."""
        kid = uuid.uuid4().hex[:12]
        self._keys[kid] = new_key(kind)
        return kid

    def remove_key(self, kid: str) -> None:
        del self._keys[kid]

    def jwks(self) -> dict[str, Any]:
        keys = []
        for kid, (key, alg) in self._keys.items():
            jwk = json.loads(jwt.algorithms.get_default_algorithms()[alg].to_jwk(
                key.public_key()))
            keys.append({**jwk, "kid": kid, "use": "sig", "alg": alg})
        return {"keys": keys}

    def claims(self, roles: list[str] | None = None, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {"iss": self.issuer, "aud": AUDIENCE, "sub": "user-1",
                                  "iat": now, "nbf": now - 5, "exp": now + 300}
        if roles is not None:
            claims["roles"] = roles
        for key, value in overrides.items():
            if value is None:
                claims.pop(key, None)
            else:
                claims[key] = value
        return claims

    def token(self, roles: list[str] | None = None, kid: str | None = None,
              key: Any = None, **claims: Any) -> str:
        """A token signed with the published key ``kid`` (or with ``key`` under that kid; an
        unknown kid signs with the first key)."""
        kid = kid or self.kid
        own_key, alg = self._keys.get(kid, self._keys[self.kid])
        return jwt.encode(self.claims(roles, **claims), key or own_key, algorithm=alg,
                          headers={"kid": kid})

    def unsigned_token(self, roles: list[str] | None = None) -> str:
        """``alg: none``."""
        header = _b64(json.dumps({"alg": "none", "typ": "JWT", "kid": self.kid}).encode())
        return f"{header}.{_b64(json.dumps(self.claims(roles)).encode())}."

    def hs256_token(self, roles: list[str] | None = None) -> str:
        """HS256 with the published public key's modulus as the HMAC secret (key confusion)."""
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": self.kid}).encode())
        payload = _b64(json.dumps(self.claims(roles)).encode())
        secret = json.dumps(self.jwks()["keys"][0]).encode()
        signature = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
        return f"{header}.{payload}.{_b64(signature)}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def new_key(kind: str = "RSA") -> tuple[Any, str]:
    """(private key, JWS alg)."""
    if kind == "EC":
        return ec.generate_private_key(ec.SECP256R1()), "ES256"
    return rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS256"
