"""Secrets webcap sends to other systems, encrypted at rest (remote agents' credentials, the
secret headers of tool sources).

The secret is stored as a Fernet token (AES-128-CBC with HMAC-SHA256, from ``cryptography``)
under a key derived from ``DJANGO_SECRET_KEY`` with HKDF-SHA256 (one key per purpose), so a
copy of the database alone does not reveal it. Rotation: move the old secret key to
``DJANGO_SECRET_KEY_FALLBACKS`` and set the new one; secrets still decrypt under the old key
and are written under the new one the next time they are set (the admin, or
``PATCH /api/agents/{id}/``). A secret under a key no longer listed cannot be read: set it
again.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

# Domain separation: no other use of the secret key derives these keys.
REMOTE_AGENT_CREDENTIAL = b"webcap remote agent credential v1"
TOOL_SOURCE_HEADERS = b"webcap tool source headers v1"
PREFIX = "fernet:"


class CredentialUnreadable(Exception):
    """The stored secret was encrypted under a key that is no longer configured."""


def _fernet(secret_key: str, purpose: bytes) -> Fernet:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(
        secret_key.encode()
    )
    return Fernet(base64.urlsafe_b64encode(derived))


def _keys(purpose: bytes) -> MultiFernet:
    fallbacks: list[str] = list(getattr(settings, "SECRET_KEY_FALLBACKS", []))
    return MultiFernet([_fernet(key, purpose) for key in [settings.SECRET_KEY, *fallbacks]])


def secret_seal(secret: str, *, purpose: bytes = REMOTE_AGENT_CREDENTIAL) -> str:
    """Return secret encrypted for storage ("" stays "")."""
    if not secret:
        return ""
    return PREFIX + _keys(purpose).encrypt(secret.encode()).decode()


def secret_open(stored: str, *, purpose: bytes = REMOTE_AGENT_CREDENTIAL) -> str:
    """Return the secret a stored value holds; CredentialUnreadable if no key opens it."""
    if not stored:
        return ""
    if not stored.startswith(PREFIX):
        raise CredentialUnreadable("the stored credential is not an encrypted value")
    try:
        return _keys(purpose).decrypt(stored[len(PREFIX) :].encode()).decode()
    except InvalidToken as exc:
        raise CredentialUnreadable(
            "the stored credential was encrypted under a secret key that is no longer "
            "configured (DJANGO_SECRET_KEY, DJANGO_SECRET_KEY_FALLBACKS): set it again"
        ) from exc
