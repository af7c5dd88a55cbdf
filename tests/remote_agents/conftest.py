"""Fixtures of the remote agents tests: a local card site, a signing key, an operator."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from accounts.services import user_ensure
from common.jws import key_generate, public_jwks
from tests.remote_agents.cardsite import CardSite

SITE_KID = "site-key"


@pytest.fixture(scope="module")
def site() -> Iterator[CardSite]:
    """A card site on 127.0.0.1, shared by the module's tests (each uses its own paths)."""
    server = CardSite().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def site_key() -> Any:
    """The key that signs the site's cards; its public JWK set is at /jwks.json."""
    return key_generate("ES256", kid=SITE_KID)


@pytest.fixture
def signed_site(site: CardSite, site_key: Any) -> CardSite:
    site.put("/jwks.json", public_jwks([site_key]))
    site.down = False
    return site


@pytest.fixture
def allow_local(settings: Any) -> None:
    settings.WEBCAP_REMOTE_AGENT_ALLOWED_HOSTS = ["127.0.0.1"]


@pytest.fixture
def operator(db: None) -> Any:
    return user_ensure(username="ops", role="operator")
