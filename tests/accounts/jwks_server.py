"""A fake OpenID Connect provider on 127.0.0.1: a discovery document, a JWKS and signing keys.

The provider serves what a real one publishes (``/.well-known/openid-configuration`` and the
key set at ``/jwks``) from a thread, counts the requests per path, and lets a test swap the
key set (rotation) or break it (an error status, a body that is not a key set).
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

DISCOVERY_PATH = "/.well-known/openid-configuration"
JWKS_PATH = "/jwks"


@dataclass
class SigningKey:
    """One of the provider's private keys, named by kid."""

    kid: str
    alg: str
    private: Any

    def jwk(self) -> dict[str, Any]:
        """Return the public half as a JWK, as the provider publishes it."""
        public = self.private.public_key()
        algorithm = RSAAlgorithm if self.alg.startswith(("RS", "PS")) else ECAlgorithm
        data: dict[str, Any] = algorithm.to_jwk(public, as_dict=True)
        return {**data, "kid": self.kid, "alg": self.alg, "use": "sig"}

    def sign(self, claims: dict[str, Any], **headers: Any) -> str:
        """Return a JWT of claims signed with this key, its kid in the header."""
        return jwt.encode(
            claims, self.private, algorithm=self.alg, headers={"kid": self.kid, **headers}
        )


def rsa_key(kid: str | None = None) -> SigningKey:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return SigningKey(kid=kid or f"rsa-{uuid.uuid4().hex[:8]}", alg="RS256", private=private)


def ec_key(kid: str | None = None) -> SigningKey:
    private = ec.generate_private_key(ec.SECP256R1())
    return SigningKey(kid=kid or f"ec-{uuid.uuid4().hex[:8]}", alg="ES256", private=private)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class Provider:
    """The provider's state; a test changes it between requests."""

    keys: list[SigningKey] = field(default_factory=list)
    # When set, every JWKS request answers this status and body instead of the key set.
    jwks_failure: tuple[int, bytes] | None = None
    # When set, the discovery document's fields are replaced by these.
    discovery_overrides: dict[str, Any] = field(default_factory=dict)
    requests: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = 0

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def jwks_url(self) -> str:
        return self.issuer + JWKS_PATH

    def publish(self, *keys: SigningKey) -> None:
        """Serve exactly these keys from now on (a key rotation)."""
        with self.lock:
            self.keys = list(keys)

    def count(self, path: str = JWKS_PATH) -> int:
        with self.lock:
            return self.requests[path]

    def claims(self, audience: str = "webcap", **overrides: Any) -> dict[str, Any]:
        """Return an access token's claims, valid for an hour, for this provider."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": audience,
            "sub": "subject-1",
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
        }
        claims.update(overrides)
        return {name: value for name, value in claims.items() if value is not None}


class _Handler(BaseHTTPRequestHandler):
    provider: Provider

    def do_GET(self) -> None:
        provider = self.provider
        with provider.lock:
            provider.requests[self.path] += 1
            keys = [key.jwk() for key in provider.keys]
            failure = provider.jwks_failure
            overrides = dict(provider.discovery_overrides)
        if self.path == DISCOVERY_PATH:
            document = {
                "issuer": provider.issuer,
                "jwks_uri": provider.jwks_url,
                "id_token_signing_alg_values_supported": ["RS256", "ES256"],
                **overrides,
            }
            self._answer(200, json.dumps(document).encode())
        elif self.path == JWKS_PATH:
            if failure is not None:
                self._answer(*failure)
            else:
                self._answer(200, json.dumps({"keys": keys}).encode())
        else:
            self._answer(404, b'{"error": "not found"}')

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet."""


class ProviderServer:
    """Runs a Provider's HTTP server in a thread until stop()."""

    def __init__(self, provider: Provider) -> None:
        handler = type("Handler", (_Handler,), {"provider": provider})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        provider.port = self.httpd.server_address[1]
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)
