"""RFC 8785 canonical JSON, JWK sets and detached JWS signatures (common/jws.py)."""

from __future__ import annotations

import json
import math

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc.jwk import ECKey, OKPKey, RSAKey

from common.jws import (
    PRIVATE_MEMBERS,
    CanonicalizationError,
    KeySetError,
    algorithm_of,
    b64url_decode,
    b64url_encode,
    canonical_json,
    key_generate,
    key_import,
    key_set_document,
    key_set_load,
    public_jwk,
    public_jwks,
    sign_detached,
    verify_detached,
)


@pytest.fixture(scope="module")
def keys() -> dict[str, ECKey | RSAKey | OKPKey]:
    """One key of each kind (RSA at 2048 bits: the tests need its kind, not its strength)."""
    return {
        "ES256": key_generate("ES256", kid="ec"),
        "EdDSA": key_generate("EdDSA", kid="ed"),
        "RS256": RSAKey.generate_key(2048, parameters={"kid": "rsa"}),
        "ES384": ECKey.generate_key("P-384", parameters={"kid": "ec384"}),
    }


@pytest.mark.parametrize(
    ("value", "canonical"),
    [
        # Keys sorted, no whitespace.
        ({"b": 1, "a": [True, None]}, b'{"a":[true,null],"b":1}'),
        # RFC 8785 §3.2.3: sorted by UTF-16 code units, so U+1F600 (D83D DE00) before U+FB33.
        ({"\ufb33": 1, "\U0001f600": 2}, '{"\U0001f600":2,"\ufb33":1}'.encode()),
        # Non-ASCII stays literal UTF-8; only the mandatory characters are escaped.
        ({"s": 'é"\\\n\x01/'}, '{"s":"é\\"\\\\\\n\\u0001/"}'.encode()),
        # Numbers as ECMAScript writes them.
        ([1.0, 1e21, 1e-7, 0.1, -0.0, 100], b"[1,1e+21,1e-7,0.1,0,100]"),
        ({}, b"{}"),
    ],
)
def test_canonical_json_follows_rfc_8785(value, canonical):
    assert canonical_json(value) == canonical


@pytest.mark.parametrize("value", [math.nan, math.inf, 2**53 + 1, {"a": {1, 2}}])
def test_values_without_a_canonical_form_are_refused(value):
    with pytest.raises(CanonicalizationError):
        canonical_json(value)


def test_nesting_is_bounded_before_recursing():
    deep: list[object] = []
    for _ in range(200):
        deep = [deep]
    with pytest.raises(CanonicalizationError, match="nesting deeper than 64"):
        canonical_json(deep)


@pytest.mark.parametrize("alg", ["ES256", "EdDSA", "RS256", "ES384"])
def test_detached_signature_roundtrip_and_pyjwt_agrees(keys, alg):
    key = keys[alg]
    payload = '{"name":"é"}'.encode()
    protected, signature = sign_detached(payload, key, {"typ": "JOSE", "kid": key.kid})
    public = key_import(public_jwk(key))
    assert verify_detached(protected, signature, payload, public)
    assert not verify_detached(protected, signature, payload + b" ", public)
    # An independent JOSE implementation verifies the same compact form.
    token = f"{protected}.{b64url_encode(payload)}.{signature}"
    assert jwt.decode(token, key=jwt.PyJWK(public_jwk(key)), algorithms=[alg]) == {"name": "é"}


def test_ecdsa_signatures_are_deterministic(keys):
    # RFC 6979: the same card makes the same bytes (and ETag) in every process.
    first = sign_detached(b"{}", keys["ES256"], {"kid": "ec"})
    assert sign_detached(b"{}", keys["ES256"], {"kid": "ec"}) == first


def test_a_key_verifies_only_its_own_algorithm(keys):
    payload = b"{}"
    protected, signature = sign_detached(payload, keys["ES256"], {"kid": "ec"})
    # The P-384 key is not the P-256 key's algorithm; the RSA key is another family.
    assert not verify_detached(protected, signature, payload, keys["ES384"])
    assert not verify_detached(protected, signature, payload, keys["RS256"])


def test_published_keys_never_carry_private_members(keys):
    document = public_jwks(keys.values())
    assert [jwk["kid"] for jwk in document["keys"]] == ["ec", "ed", "rsa", "ec384"]
    for jwk in document["keys"]:
        assert not PRIVATE_MEMBERS & set(jwk), jwk
        assert jwk["use"] == "sig"
    assert {jwk["alg"] for jwk in document["keys"]} == {"ES256", "EdDSA", "RS256", "ES384"}
    # The private file does carry them, and loads back.
    private = key_set_document(keys.values())
    assert {"d", "p", "q"} <= set(private["keys"][2])
    assert [key.kid for key in key_set_load(json.dumps(private))] == ["ec", "ed", "rsa", "ec384"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not JSON"),
        ('{"keys": []}', "at least one key"),
        ('[{"kty": "EC"}]', "at least one key"),
        ('{"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "h"}]}', "not an asymmetric"),
        ('{"keys": [{"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA", "d": "AA"}]}', "cannot"),
    ],
)
def test_unusable_key_sets_are_refused(text, message):
    with pytest.raises(KeySetError, match=message):
        key_set_load(text)


def test_key_sets_need_kids_private_parts_and_unique_kids(keys):
    private = key_set_document([keys["ES256"]])["keys"][0]
    without_kid = {k: v for k, v in private.items() if k != "kid"}
    with pytest.raises(KeySetError, match='every key needs a "kid"'):
        key_set_load(json.dumps({"keys": [without_kid]}))
    with pytest.raises(KeySetError, match="kid used by more than one key: ec"):
        key_set_load(json.dumps({"keys": [private, private]}))
    with pytest.raises(KeySetError, match=r"without its private part \(cannot sign\): ec"):
        key_set_load(json.dumps(public_jwks([keys["ES256"]])))


def test_short_rsa_keys_and_loose_base64_are_refused():
    # Made with cryptography: joserfc itself warns about such a key as it makes or reads one.
    numbers = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()
    n = numbers.public_numbers().n.to_bytes(128, "big")
    jwk = {"kty": "RSA", "kid": "short", "n": b64url_encode(n), "e": "AQAB"}
    with pytest.raises(KeySetError, match="'short': RSA keys need at least 2048 bits"):
        key_import(jwk)
    with pytest.raises(KeySetError, match="'bad': RSA keys need at least 2048 bits"):
        key_import({"kty": "RSA", "kid": "bad", "n": "!", "e": "AQAB"})
    assert b64url_decode("eyJhIjoxfQ") == b'{"a":1}'
    for text in ("eyJh!IjoxfQ", "ey Jh", "a=b", "abc==="):
        with pytest.raises(ValueError, match="not base64url"):
            b64url_decode(text)


def test_algorithm_comes_from_the_key():
    assert algorithm_of(ECKey.generate_key("P-521")) == "ES512"
    assert algorithm_of(OKPKey.generate_key("Ed25519")) == "EdDSA"
    assert algorithm_of(ECKey.generate_key("P-256", parameters={"alg": "ES256"})) == "ES256"
    with pytest.raises(KeySetError, match="no supported signing algorithm"):
        algorithm_of(ECKey.generate_key("secp256k1"))
    with pytest.raises(ValueError, match="cannot generate a key for 'HS256'"):
        key_generate("HS256", kid="h")
