"""JSON Web Signatures with a detached payload, JWK sets and RFC 8785 canonical JSON.

The parts card signing (A2A §8.4) is made of, with nothing of A2A or Django in them:
joserfc does the JOSE work (RFC 7515 signatures, RFC 7517 keys), rfc8785 the JSON
Canonicalization Scheme. Only asymmetric keys and algorithms are accepted: a signature
anyone holding the published key could forge (HMAC) or no signature at all (``none``) is
never valid here.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

import rfc8785
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwa import JWSAlgModel
from joserfc.jwk import ECKey, KeyParameters, OKPKey, RSAKey

Key = ECKey | RSAKey | OKPKey

# The algorithms webcap signs and verifies with. "EdDSA" is the name every JOSE library
# knows for Ed25519 (RFC 8037); RFC 9864 renames it "Ed25519", which is accepted too.
ALGORITHMS = frozenset(
    {
        "ES256",
        "ES384",
        "ES512",
        "RS256",
        "RS384",
        "RS512",
        "PS256",
        "PS384",
        "PS512",
        "EdDSA",
        "Ed25519",
    }
)
# What each key type signs with when its JWK names no "alg".
_EC_ALGORITHMS = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}
# Every private member of a JWK (RFC 7518 §6.2.2, §6.3.2, §6.4.1; RFC 8037 §2): none of them
# may ever leave the process in a published key set.
PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
# Key kinds `key_generate` makes, by the algorithm they sign with.
GENERATED = ("ES256", "EdDSA", "RS256")
RSA_BITS = 3072
# Canonical JSON of untrusted input: deeper than this is refused before rfc8785 recurses.
MAX_DEPTH = 64
# RSA keys shorter than this are refused, to sign or to verify (NIST SP 800-131A).
MIN_RSA_BITS = 2048
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*={0,2}")


class KeySetError(ValueError):
    """A JWK set that cannot be used: bad JSON, a key without kid, a symmetric key..."""


class CanonicalizationError(ValueError):
    """A value with no RFC 8785 form (NaN, an integer beyond 2**53, nesting too deep...)."""


def canonical_json(value: Any) -> bytes:
    """Return the RFC 8785 canonical UTF-8 bytes of a JSON value."""
    _check_depth(value, 1)
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, UnicodeEncodeError) as exc:
        raise CanonicalizationError(str(exc)) from exc


def _check_depth(value: Any, depth: int) -> None:
    if isinstance(value, dict | list):
        if depth > MAX_DEPTH:
            raise CanonicalizationError(f"nesting deeper than {MAX_DEPTH}")
        for item in value.values() if isinstance(value, dict) else value:
            _check_depth(item, depth + 1)


def b64url_encode(data: bytes) -> str:
    """Base64url without padding (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode base64url with or without padding; ValueError when it is not base64url."""
    # Strict: the standard decoder would skip characters outside the alphabet.
    if not isinstance(text, str) or not _BASE64URL.fullmatch(text):
        raise ValueError("not base64url")
    try:
        return base64.urlsafe_b64decode(text.rstrip("=") + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not base64url") from exc


def key_import(jwk: Mapping[str, Any]) -> Key:
    """Import one asymmetric JWK (public or private); KeySetError if it is not one."""
    if not isinstance(jwk, Mapping):
        raise KeySetError("a key must be a JSON object")
    kty = jwk.get("kty")
    kind: type[Key]
    if kty == "EC":
        kind = ECKey
    elif kty == "RSA":
        kind = RSAKey
        # Checked before joserfc reads the key (it only warns about a short one).
        if _rsa_bits(jwk.get("n")) < MIN_RSA_BITS:
            raise KeySetError(f"key {jwk.get('kid')!r}: RSA keys need at least {MIN_RSA_BITS} bits")
    elif kty == "OKP":
        kind = OKPKey
    else:
        raise KeySetError(f"key type {kty!r} is not an asymmetric signing key (EC, RSA, OKP)")
    try:
        key = kind.import_key(dict(jwk))
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise KeySetError(f"key {jwk.get('kid')!r} cannot be read: {exc}") from exc
    algorithm_of(key)
    return key


def _rsa_bits(modulus: Any) -> int:
    try:
        return int.from_bytes(b64url_decode(modulus), "big").bit_length()
    except ValueError:
        return 0


def algorithm_of(key: Key) -> str:
    """The JWS algorithm a key signs with: its own "alg", else the usual one for its type."""
    alg = key.get("alg")
    if alg is None:
        if isinstance(key, ECKey):
            alg = _EC_ALGORITHMS.get(str(key.get("crv")))
        elif isinstance(key, RSAKey):
            alg = "RS256"
        elif key.get("crv") == "Ed25519":
            alg = "EdDSA"
    if alg not in ALGORITHMS:
        raise KeySetError(f"key {key.kid!r}: no supported signing algorithm (got {alg!r})")
    return str(alg)


def key_set_load(text: str | bytes) -> list[Key]:
    """Parse a JWK set ({"keys": [...]}) of private signing keys, each with a unique kid."""
    try:
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise KeySetError(f"not JSON: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list) or not data["keys"]:
        raise KeySetError('a JWK set is a JSON object {"keys": [...]} with at least one key')
    keys = [key_import(jwk) for jwk in data["keys"]]
    kids = [key.kid for key in keys]
    if any(not kid for kid in kids):
        raise KeySetError('every key needs a "kid": signatures name their key by it')
    duplicates = sorted({kid for kid in kids if kids.count(kid) > 1 and kid})
    if duplicates:
        raise KeySetError(f"kid used by more than one key: {', '.join(duplicates)}")
    public = [str(key.kid) for key in keys if not key.is_private]
    if public:
        raise KeySetError(f"key without its private part (cannot sign): {', '.join(public)}")
    return keys


def public_jwk(key: Key) -> dict[str, Any]:
    """The public members of a key, marked for signatures, with the algorithm it uses."""
    jwk = {k: v for k, v in key.as_dict(private=False).items() if k not in PRIVATE_MEMBERS}
    jwk.update(use="sig", alg=algorithm_of(key))
    return jwk


def public_jwks(keys: Iterable[Key]) -> dict[str, Any]:
    """A JWK set of the public halves of keys: what may be published."""
    return {"keys": [public_jwk(key) for key in keys]}


def key_set_document(keys: Iterable[Key]) -> dict[str, Any]:
    """A JWK set with the private members: the file a signer's keys are kept in."""
    return {"keys": [{**key.as_dict(private=True), "alg": algorithm_of(key)} for key in keys]}


def key_generate(algorithm: str, *, kid: str) -> Key:
    """Make a new private key for algorithm (one of GENERATED), named kid."""
    parameters: KeyParameters = {"kid": kid, "alg": algorithm, "use": "sig"}
    if algorithm == "ES256":
        return ECKey.generate_key("P-256", parameters=parameters)
    if algorithm == "EdDSA":
        return OKPKey.generate_key("Ed25519", parameters=parameters)
    if algorithm == "RS256":
        return RSAKey.generate_key(RSA_BITS, parameters=parameters)
    raise ValueError(f"cannot generate a key for {algorithm!r}; choose one of {GENERATED}")


def sign_detached(payload: bytes, key: Key, header: Mapping[str, Any]) -> tuple[str, str]:
    """Sign payload (RFC 7515, detached as in Appendix F); return (protected, signature).

    ``header`` is the protected header without "alg", which comes from the key.
    """
    alg = algorithm_of(key)
    protected = {"alg": alg, **header}
    compact = jws.serialize_compact(protected, payload, key, registry=_Registry(algorithms=[alg]))
    encoded_header, _, signature = compact.split(".")
    return encoded_header, signature


def verify_detached(protected: str, signature: str, payload: bytes, key: Key) -> bool:
    """Whether signature over protected and payload is valid for key.

    The caller has checked the protected header's "alg" against ALGORITHMS; the key must be
    one that signs with that algorithm.
    """
    header = protected_header(protected)
    alg = header["alg"]
    if alg not in ALGORITHMS or not _key_matches(key, alg):
        return False
    try:
        jws.deserialize_compact(
            f"{protected}..{signature}", key, registry=_Registry(algorithms=[alg]), payload=payload
        )
    except (JoseError, ValueError, TypeError):
        return False
    return True


def _key_matches(key: Key, alg: str) -> bool:
    """A key verifies only the algorithm family it was made for (no algorithm confusion)."""
    own = key.get("alg")
    if own is not None and own != alg and {own, alg} != {"EdDSA", "Ed25519"}:
        return False
    if isinstance(key, ECKey):
        return _EC_ALGORITHMS.get(str(key.get("crv"))) == alg
    if isinstance(key, RSAKey):
        return alg[:2] in ("RS", "PS")
    return key.get("crv") == "Ed25519" and alg in ("EdDSA", "Ed25519")


def protected_header(protected: str) -> dict[str, Any]:
    """Decode a protected header; ValueError unless it is a JSON object with a string alg."""
    try:
        header = json.loads(b64url_decode(protected))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError("the protected header is not base64url-encoded JSON") from exc
    if not isinstance(header, dict) or not isinstance(header.get("alg"), str):
        raise ValueError('the protected header is not a JSON object with an "alg"')
    return header


def _quiet(alg: JWSAlgModel) -> JWSAlgModel:
    # joserfc warns on every use of "EdDSA" that RFC 9864 renames it; the old name is the one
    # verifiers know (PyJWT, so the a2a-sdk), so it stays, and a warning per call is noise.
    alg = copy.copy(alg)
    alg.security_warning = None
    return alg


_ECDSA_HASHES: dict[str, type[hashes.SHA256 | hashes.SHA384 | hashes.SHA512]] = {
    "ES256": hashes.SHA256,
    "ES384": hashes.SHA384,
    "ES512": hashes.SHA512,
}


class _DeterministicECDSA(JWSAlgModel):
    """joserfc's ECDSA, signing with RFC 6979 deterministic nonces.

    The same card, key and header then make the same signature in every process, so the
    signed card's bytes, and the ETag that hashes them, agree across processes and restarts.
    Verifying is joserfc's own (a deterministic signature is an ordinary ECDSA signature).
    """

    key_type = "EC"

    def __init__(self, base: JWSAlgModel) -> None:
        self.base = base
        self.name = base.name
        self.description = base.description
        self.recommended = base.recommended
        self.algorithm_security = base.algorithm_security

    def check_key(self, key: Any) -> None:
        self.base.check_key(key)

    def sign(self, msg: bytes, key: Any) -> bytes:
        private = key.get_op_key("sign")
        algorithm = ec.ECDSA(_ECDSA_HASHES[self.name](), deterministic_signing=True)
        r, s = decode_dss_signature(private.sign(msg, algorithm))
        size = (private.curve.key_size + 7) // 8
        # RFC 7518 §3.4: the JWS form is R and S as fixed-size big-endian integers.
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")

    def verify(self, msg: bytes, sig: bytes, key: Any) -> bool:
        return bool(self.base.verify(msg, sig, key))


def _algorithm(name: str, alg: JWSAlgModel) -> JWSAlgModel:
    return _DeterministicECDSA(alg) if name in _ECDSA_HASHES else _quiet(alg)


class _Registry(jws.JWSRegistry):
    """joserfc's registry with the asymmetric algorithms alone: no "none", no HMAC."""

    algorithms = {
        name: _algorithm(name, alg)
        for name, alg in jws.JWSRegistry.algorithms.items()
        if name in ALGORITHMS
    }
