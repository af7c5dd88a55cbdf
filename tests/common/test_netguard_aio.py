"""The async SSRF guard: the same refusals, pinning, no redirects, bounded bodies."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from common.netguard import (
    MAX_RESPONSE_BYTES,
    DeliveryError,
    ResponseTooLargeError,
    UnsafeURLError,
    guarded_async_client,
)
from tests.common import test_netguard as sync_tests
from tests.common.test_netguard import LOCAL, FakeDNS, TLSServer, _base, _running, _Server

# The sync guard's fixtures: a fake resolver, and an https server with a throwaway CA.
dns = sync_tests.dns
tls_server = sync_tests.tls_server


@pytest.fixture
def server() -> Iterator[_Server]:
    """The sync guard's test server (routes /redirect, /big, /slow, ...) on 127.0.0.1."""
    with _running() as srv:
        yield srv


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://127.0.0.1:9/", "host 127.0.0.1 is a loopback address"),
        (
            "http://169.254.169.254/latest/meta-data",
            "host 169.254.169.254 is a link-local address, used by cloud metadata services",
        ),
        ("http://localhost/", "host localhost is a non-public name (localhost)"),
        ("http://[::1]:8000/", "host ::1 is a loopback address"),
    ],
)
async def test_refuses_what_the_sync_guard_refuses(url: str, message: str) -> None:
    async with guarded_async_client() as client:
        with pytest.raises(UnsafeURLError) as refused:
            await client.get(url)
    assert str(refused.value) == message


async def test_allowlisted_request_keeps_host_and_drops_cookies(server: _Server) -> None:
    async with guarded_async_client(allowed_hosts=LOCAL) as client:
        response = await client.post(f"{_base(server)}/hook?x=1", content=b"hi")
        again = await client.get(f"{_base(server)}/second")
    assert (response.status_code, response.content) == (200, b"ok")
    assert again.status_code == 200
    first, second = server.seen
    assert (first.method, first.path, first.body) == ("POST", "/hook?x=1", b"hi")
    assert first.headers["Host"] == f"127.0.0.1:{server.server_port}"
    assert first.headers["Accept-Encoding"] == "identity"
    assert "Cookie" not in second.headers


async def test_allowlist_entry_is_port_specific(server: _Server) -> None:
    async with guarded_async_client(allowed_hosts=[f"127.0.0.1:{server.server_port + 1}"]) as c:
        with pytest.raises(UnsafeURLError, match="loopback"):
            await c.get(f"{_base(server)}/")
    assert server.seen == []


async def test_redirect_is_returned_not_followed(server: _Server) -> None:
    async with guarded_async_client(allowed_hosts=LOCAL) as client:
        response = await client.get(f"{_base(server)}/redirect")
    assert response.status_code == 302
    assert [seen.path for seen in server.seen] == ["/redirect"]


async def test_redirect_a_caller_follows_is_checked_again(server: _Server) -> None:
    async with guarded_async_client(allowed_hosts=LOCAL) as client:
        # The hop goes to 127.0.0.1 too, allowlisted: followed on request, through the guard.
        response = await client.get(f"{_base(server)}/redirect", follow_redirects=True)
    assert response.status_code == 200
    async with guarded_async_client(allowed_hosts=[f"127.0.0.1:{server.server_port}"]) as c:
        request = c.build_request("GET", "http://127.0.0.1:1/target")
        with pytest.raises(UnsafeURLError, match="loopback"):
            await c.send(request)


async def test_body_over_the_bound_is_refused(server: _Server) -> None:
    async with guarded_async_client(allowed_hosts=LOCAL, max_response_bytes=1000) as client:
        with pytest.raises(ResponseTooLargeError, match="larger than 1000 bytes"):
            await client.get(f"{_base(server)}/big")
        # Per request: a bigger bound for this one.
        response = await client.get(
            f"{_base(server)}/big", extensions={MAX_RESPONSE_BYTES: 8 * 1024 * 1024}
        )
    assert len(response.content) == 4 * 1024 * 1024


async def test_connection_refused_is_a_delivery_error(server: _Server) -> None:
    port = server.server_port
    server.shutdown()
    server.server_close()
    async with guarded_async_client(allowed_hosts=LOCAL) as client:
        with pytest.raises(DeliveryError, match="connection failed"):
            await client.get(f"http://127.0.0.1:{port}/", timeout=httpx.Timeout(2))


@pytest.mark.parametrize("tls_server", ["hook.test"], indirect=True)
async def test_https_uses_the_host_name_for_sni_and_certificate(
    tls_server: TLSServer, dns: FakeDNS
) -> None:
    port = tls_server.server.server_port
    dns.records["hook.test"] = ["127.0.0.1"]
    async with guarded_async_client(allowed_hosts=["hook.test"]) as client:
        response = await client.get(f"https://hook.test:{port}/hook")
    assert (response.status_code, response.content) == (200, b"ok")
    assert tls_server.sni == ["hook.test"]
    [seen] = tls_server.server.seen
    assert seen.headers["Host"] == f"hook.test:{port}"
    assert dns.lookups[0] == "hook.test"


@pytest.mark.parametrize("tls_server", ["other.test"], indirect=True)
async def test_https_certificate_for_another_name_is_refused(
    tls_server: TLSServer, dns: FakeDNS
) -> None:
    port = tls_server.server.server_port
    dns.records["hook.test"] = ["127.0.0.1"]
    async with guarded_async_client(allowed_hosts=["hook.test"]) as client:
        with pytest.raises(DeliveryError) as info:
            await client.get(f"https://hook.test:{port}/hook")
    assert str(info.value).startswith(
        f"GET https://hook.test:{port} (address 127.0.0.1) connection failed: ConnectError: "
    )
    assert "CERTIFICATE_VERIFY_FAILED" in str(info.value)
    assert tls_server.server.seen == []


async def test_a_name_resolving_to_a_private_address_is_refused(dns: FakeDNS) -> None:
    dns.records["hook.example.com"] = ["93.184.215.14", "10.0.0.5"]
    async with guarded_async_client() as client:
        with pytest.raises(UnsafeURLError, match=r"resolves to 10\.0\.0\.5, which is a private"):
            await client.get("http://hook.example.com/")
