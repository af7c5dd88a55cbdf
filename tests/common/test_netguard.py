"""The SSRF guard: static URL checks, resolution checks, and pinned, bounded requests."""

from __future__ import annotations

import contextlib
import datetime
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import certifi
import pytest

from common.netguard import (
    DeliveryError,
    GuardedResponse,
    UnsafeURLError,
    check_url,
    guarded_request,
    resolve,
)

LOCAL = ["127.0.0.1"]

# --------------------------------------------------------------------------------------------
# check_url: refusals
# --------------------------------------------------------------------------------------------

REFUSED = [
    # loopback, by address and by name
    ("http://127.0.0.1/", "host 127.0.0.1 is a loopback address"),
    ("http://localhost/", "host localhost is a non-public name (localhost)"),
    ("http://localhost./", "host localhost. is a non-public name (localhost)"),
    ("http://LOCALHOST:8000/", "host localhost is a non-public name (localhost)"),
    ("http://a.localhost/", "host a.localhost is a non-public name (*.localhost)"),
    ("http://[::1]/", "host ::1 is a loopback address"),
    # IPv6 forms embedding an IPv4 address
    (
        "http://[::ffff:127.0.0.1]/",
        "host ::ffff:127.0.0.1 is an IPv4-mapped address of 127.0.0.1, which is a loopback address",
    ),
    (
        "http://[::ffff:8.8.8.8]/",
        "host ::ffff:8.8.8.8 is an IPv4-mapped address of 8.8.8.8 (use 8.8.8.8 itself)",
    ),
    (
        "http://[::127.0.0.1]/",
        "host ::127.0.0.1 is an IPv4-compatible address of 127.0.0.1, which is a loopback address",
    ),
    (
        "http://[::8.8.8.8]/",
        "host ::8.8.8.8 is a deprecated IPv4-compatible address of 8.8.8.8 (use 8.8.8.8 itself)",
    ),
    (
        "http://[64:ff9b::a00:5]/",
        "host 64:ff9b::a00:5 is a NAT64 address of 10.0.0.5, which is a private address (RFC 1918)",
    ),
    (
        "http://[2002:c0a8:101::1]/",
        "host 2002:c0a8:101::1 is a 6to4 address of 192.168.1.1, "
        "which is a private address (RFC 1918)",
    ),
    # link-local and cloud metadata
    (
        "http://169.254.169.254/latest/meta-data",
        "host 169.254.169.254 is a link-local address, used by cloud metadata services",
    ),
    (
        "http://[fd00:ec2::254]/",
        "host fd00:ec2::254 is a private address (unique local, fc00::/7), "
        "used by cloud metadata services",
    ),
    (
        "http://192.0.0.192/",
        "host 192.0.0.192 is in the IETF protocol assignments block 192.0.0.0/24, "
        "used by cloud metadata services",
    ),
    ("http://169.254.1.1/", "host 169.254.1.1 is a link-local address"),
    ("http://[fe80::1]/", "host fe80::1 is a link-local address"),
    # private, shared, unspecified, reserved, multicast, documentation, benchmarking
    ("http://10.0.0.5/", "host 10.0.0.5 is a private address (RFC 1918)"),
    ("http://192.168.1.1/", "host 192.168.1.1 is a private address (RFC 1918)"),
    ("http://172.16.0.1/", "host 172.16.0.1 is a private address (RFC 1918)"),
    ("http://[fc00::1]/", "host fc00::1 is a private address (unique local, fc00::/7)"),
    (
        "http://100.64.0.1/",
        "host 100.64.0.1 is in the shared address space 100.64.0.0/10 (carrier-grade NAT)",
    ),
    ("http://0.0.0.0/", "host 0.0.0.0 is an unspecified address"),
    ("http://[::]/", "host :: is an unspecified address"),
    ("http://0.1.2.3/", "host 0.1.2.3 is in 0.0.0.0/8 ('this network')"),
    ("http://240.0.0.1/", "host 240.0.0.1 is a reserved address (240.0.0.0/4)"),
    ("http://255.255.255.255/", "host 255.255.255.255 is the limited broadcast address"),
    ("http://224.0.0.1/", "host 224.0.0.1 is a multicast address"),
    ("http://[ff02::1]/", "host ff02::1 is a multicast address"),
    ("http://198.18.0.1/", "host 198.18.0.1 is a benchmarking address (198.18.0.0/15)"),
    ("http://192.0.2.1/", "host 192.0.2.1 is a documentation address (192.0.2.0/24)"),
    ("http://[2001:db8::1]/", "host 2001:db8::1 is a documentation address (2001:db8::/32)"),
    ("http://[fec0::1]/", "host fec0::1 is a deprecated site-local address (fec0::/10)"),
    ("http://[2001::1]/", "host 2001::1 is a Teredo address (2001::/32)"),
    ("http://[4000::1]/", "host 4000::1 is outside the IPv6 global unicast range 2000::/3"),
    # integer, octal and hex spellings of IPv4
    (
        "http://2130706433/",
        "host 2130706433 is a non-canonical spelling of 127.0.0.1, which is a loopback address",
    ),
    (
        "http://0x7f000001/",
        "host 0x7f000001 is a non-canonical spelling of 127.0.0.1, which is a loopback address",
    ),
    (
        "http://0x7f.0.0.1/",
        "host 0x7f.0.0.1 is a non-canonical spelling of 127.0.0.1, which is a loopback address",
    ),
    (
        "http://0177.0.0.1/",
        "host 0177.0.0.1 is a non-canonical spelling of 127.0.0.1, which is a loopback address",
    ),
    (
        "http://017700000001/",
        "host 017700000001 is a non-canonical spelling of 127.0.0.1, which is a loopback address",
    ),
    (
        "http://127.1/",
        "host 127.1 is a non-canonical spelling of 127.0.0.1, which is a loopback address",
    ),
    (
        "http://0x5d.0xb8.0xd7.0x0e/",
        "host 0x5d.0xb8.0xd7.0x0e is a non-canonical spelling of IPv4 address 93.184.215.14; "
        "write 93.184.215.14",
    ),
    (
        "http://93.184.215.14./",
        "host 93.184.215.14. is a non-canonical spelling of IPv4 address 93.184.215.14; "
        "write 93.184.215.14",
    ),
    (
        "http://1.2.3.4.5/",
        "host 1.2.3.4.5 is not a valid IPv4 address (its last label is numeric)",
    ),
    (
        "http://example.123/",
        "host example.123 is not a valid IPv4 address (its last label is numeric)",
    ),
    # schemes, user info, syntax
    ("ftp://example.com/", "URL scheme ftp is not allowed (only http and https)"),
    ("file:///etc/passwd", "URL scheme file is not allowed (only http and https)"),
    ("//example.com/", "URL scheme (none) is not allowed (only http and https)"),
    ("http://user:pw@example.com/", "URL must not contain user info (user:password@)"),
    ("http://user@example.com/", "URL must not contain user info (user:password@)"),
    (
        "http://exa mple.com/",
        "URL contains a control or whitespace character (U+0020) at index 10",
    ),
    (
        "http://example.com/\r\nX: y",
        "URL contains a control or whitespace character (U+000D) at index 19",
    ),
    (
        "http://example.com/\x00",
        "URL contains a control or whitespace character (U+0000) at index 19",
    ),
    (
        "http://example.com/a\tb",
        "URL contains a control or whitespace character (U+0009) at index 20",
    ),
    (
        "http://ex\u200bample.com/",
        "URL contains a control or whitespace character (U+200B) at index 9",
    ),
    (
        "http://\uff11\uff12\uff17.0.0.1/",
        "URL authority \uff11\uff12\uff17.0.0.1 is not ASCII (write IDNA names in xn-- form)",
    ),
    ("http://intranet/", "host intranet is a non-public name (a single label, with no dot)"),
    ("http://printer.local/", "host printer.local is a non-public name (*.local)"),
    (
        "http://metadata.google.internal./",
        "host metadata.google.internal. is a non-public name (*.internal)",
    ),
    ("http://router.home.arpa/", "host router.home.arpa is a non-public name (*.home.arpa)"),
    ("http://-bad-.example.com/", "host -bad-.example.com is not a valid host name"),
    ("http:///path", "URL has no host"),
    ("http://:80/", "URL has no host"),
    (
        "http://::1/",
        "URL authority ::1 is malformed (IPv6 addresses must be in brackets)",
    ),
    ("http://[::1/", "URL cannot be parsed: Invalid IPv6 URL"),
    (
        "http://[fe80::1%25eth0]/",
        "host fe80::1%25eth0 has an IPv6 zone identifier, which is not allowed",
    ),
    ("http://example.com" + "/a" * 1491, "URL is 3000 characters long; the limit is 2048"),
    ("http://example.com:0/", "port 0 is out of range 1-65535"),
    ("http://example.com:70000/", "port 70000 is out of range 1-65535"),
    ("http://example.com:8a/", "port 8a is not a number"),
    ("http://example.com:/", "URL has an empty port"),
]


@pytest.mark.parametrize(("url", "message"), REFUSED)
def test_check_url_refuses_with_the_reason(url: str, message: str) -> None:
    with pytest.raises(UnsafeURLError) as info:
        check_url(url)
    assert str(info.value) == message


@pytest.mark.parametrize("url", ["http://[127.0.0.1]/", "http://[example.com]/"])
def test_brackets_hold_only_ipv6(url: str) -> None:
    # The rest of the message is the standard library's and varies between Python releases.
    with pytest.raises(UnsafeURLError, match=r"^URL cannot be parsed: "):
        check_url(url)


def test_refusals_are_value_errors_and_not_retryable() -> None:
    assert issubclass(UnsafeURLError, ValueError)
    assert not issubclass(UnsafeURLError, DeliveryError)
    assert not issubclass(DeliveryError, UnsafeURLError)


def test_url_of_exactly_the_limit_is_accepted() -> None:
    url = "https://example.com/" + "a" * (2048 - len("https://example.com/"))
    assert len(url) == 2048
    assert check_url(url).hostname == "example.com"


@pytest.mark.parametrize(
    ("url", "hostname", "port"),
    [
        ("https://example.com/hook", "example.com", None),
        ("HTTPS://Example.COM:8443/p?q=1#frag", "example.com", 8443),
        ("http://93.184.215.14/", "93.184.215.14", None),
        ("http://[2606:4700::1111]:8080/", "2606:4700::1111", 8080),
        ("http://[64:ff9b::5db8:d70e]/", "64:ff9b::5db8:d70e", None),  # NAT64 of a public v4
        ("http://hooks.example.com./x", "hooks.example.com.", None),
        ("http://xn--bcher-kva.example/", "xn--bcher-kva.example", None),
        ("http://under_score.example.com:1/", "under_score.example.com", 1),
        ("http://example.com:65535/", "example.com", 65535),
    ],
)
def test_check_url_accepts_public_urls(url: str, hostname: str, port: int | None) -> None:
    parts = check_url(url)
    assert parts.scheme in {"http", "https"}
    assert parts.hostname == hostname
    assert parts.port == port


# --------------------------------------------------------------------------------------------
# allowed_hosts
# --------------------------------------------------------------------------------------------


def test_allowlisted_loopback_passes() -> None:
    assert check_url("http://127.0.0.1:8080/hook", allowed_hosts=["127.0.0.1"]).port == 8080
    assert check_url("http://127.0.0.1/hook", allowed_hosts=["127.0.0.1"]).port is None


def test_allowlisted_host_with_port_passes_only_that_port() -> None:
    assert check_url("http://127.0.0.1:8080/", allowed_hosts=["127.0.0.1:8080"]).port == 8080
    with pytest.raises(UnsafeURLError) as info:
        check_url("http://127.0.0.1:9090/", allowed_hosts=["127.0.0.1:8080"])
    assert str(info.value) == "host 127.0.0.1 is a loopback address"
    with pytest.raises(UnsafeURLError) as info:  # the default port 80 is not 8080 either
        check_url("http://127.0.0.1/", allowed_hosts=["127.0.0.1:8080"])
    assert str(info.value) == "host 127.0.0.1 is a loopback address"


def test_allowlist_matches_case_insensitively_and_against_the_default_port() -> None:
    assert check_url("http://localhost/", allowed_hosts=["LocalHost:80"]).hostname == "localhost"
    assert check_url("https://INTRANET/", allowed_hosts=["intranet:443"]).hostname == "intranet"
    with pytest.raises(UnsafeURLError) as info:
        check_url("http://intranet/", allowed_hosts=["intranet:443"])
    assert str(info.value) == "host intranet is a non-public name (a single label, with no dot)"


def test_allowlist_matches_ipv6_in_any_spelling() -> None:
    assert check_url("http://[::1]:8080/", allowed_hosts=["[::1]:8080"]).port == 8080
    assert check_url("http://[0:0::1]/", allowed_hosts=["::1"]).hostname == "0:0::1"
    with pytest.raises(UnsafeURLError) as info:
        check_url("http://[::1]:9090/", allowed_hosts=["[::1]:8080"])
    assert str(info.value) == "host ::1 is a loopback address"


def test_allowlist_is_exact_and_relaxes_only_the_non_public_checks() -> None:
    with pytest.raises(UnsafeURLError) as info:  # another spelling of the same address
        check_url("http://2130706433/", allowed_hosts=["127.0.0.1"])
    assert str(info.value) == (
        "host 2130706433 is a non-canonical spelling of 127.0.0.1, which is a loopback address"
    )
    with pytest.raises(UnsafeURLError) as info:  # no suffix matching
        check_url("http://a.localhost/", allowed_hosts=["localhost"])
    assert str(info.value) == "host a.localhost is a non-public name (*.localhost)"
    with pytest.raises(UnsafeURLError) as info:
        check_url("ftp://127.0.0.1/", allowed_hosts=["127.0.0.1"])
    assert str(info.value) == "URL scheme ftp is not allowed (only http and https)"
    with pytest.raises(UnsafeURLError) as info:
        check_url("http://u:p@127.0.0.1/", allowed_hosts=["127.0.0.1"])
    assert str(info.value) == "URL must not contain user info (user:password@)"


def test_allowlist_must_be_a_collection_of_valid_entries() -> None:
    with pytest.raises(TypeError) as type_info:
        check_url("http://127.0.0.1/", allowed_hosts="127.0.0.1")
    assert str(type_info.value) == (
        "allowed_hosts must be a collection of strings, not a single string"
    )
    with pytest.raises(ValueError, match=r"^invalid allowed_hosts entry '127\.0\.0\.1:0'"):
        check_url("http://example.com/", allowed_hosts=["127.0.0.1:0"])
    with pytest.raises(ValueError, match=r"^invalid allowed_hosts entry '0x7f\.1': host 0x7f\.1"):
        check_url("http://example.com/", allowed_hosts=["0x7f.1"])


# --------------------------------------------------------------------------------------------
# resolve
# --------------------------------------------------------------------------------------------


@dataclass
class FakeDNS:
    """Stands in for socket.getaddrinfo: named hosts get fixed answers, others real ones."""

    real: Any
    records: dict[str, list[str]] = field(default_factory=dict)
    lookups: list[str] = field(default_factory=list)

    def getaddrinfo(self, host: str, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        self.lookups.append(host)
        if host not in self.records:
            return list(self.real(host, port, *args, **kwargs))
        answer: list[Any] = []
        for ip in self.records[host]:
            if ":" in ip:
                answer.append((socket.AF_INET6, socket.SOCK_STREAM, 6, "", (ip, port, 0, 0)))
            else:
                answer.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port)))
        return answer


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> FakeDNS:
    fake = FakeDNS(real=socket.getaddrinfo)
    monkeypatch.setattr(socket, "getaddrinfo", fake.getaddrinfo)
    return fake


def test_resolve_refuses_a_name_that_resolves_to_a_private_address(dns: FakeDNS) -> None:
    dns.records["hook.example.com"] = ["10.0.0.5"]
    with pytest.raises(UnsafeURLError) as info:
        resolve("hook.example.com", 443)
    assert str(info.value) == (
        "host hook.example.com resolves to 10.0.0.5, which is a private address (RFC 1918)"
    )
    assert dns.lookups == ["hook.example.com"]


def test_resolve_refuses_a_mix_of_public_and_private_addresses(dns: FakeDNS) -> None:
    dns.records["hook.example.com"] = ["93.184.215.14", "2606:4700::1111", "169.254.169.254"]
    with pytest.raises(UnsafeURLError) as info:
        resolve("hook.example.com", 443)
    assert str(info.value) == (
        "host hook.example.com resolves to 169.254.169.254, "
        "which is a link-local address, used by cloud metadata services"
    )


def test_resolve_unwraps_ipv4_mapped_results(dns: FakeDNS) -> None:
    dns.records["private.example.com"] = ["::ffff:10.1.2.3"]
    with pytest.raises(UnsafeURLError) as info:
        resolve("private.example.com", 80)
    assert str(info.value) == (
        "host private.example.com resolves to 10.1.2.3, which is a private address (RFC 1918)"
    )
    dns.records["public.example.com"] = ["::ffff:93.184.215.14"]
    assert resolve("public.example.com", 80) == ["93.184.215.14"]


def test_resolve_returns_public_addresses_in_order_without_duplicates(dns: FakeDNS) -> None:
    dns.records["hook.example.com"] = ["93.184.215.14", "2606:4700::1111", "93.184.215.14"]
    assert resolve("hook.example.com", 443) == ["93.184.215.14", "2606:4700::1111"]


def test_resolve_refuses_non_public_names_without_a_lookup(dns: FakeDNS) -> None:
    with pytest.raises(UnsafeURLError) as info:
        resolve("localhost", 80)
    assert str(info.value) == "host localhost is a non-public name (localhost)"
    with pytest.raises(UnsafeURLError) as info:
        resolve("2130706433", 80)
    assert str(info.value) == (
        "host 2130706433 is a non-canonical spelling of 127.0.0.1, which is a loopback address"
    )
    with pytest.raises(UnsafeURLError) as info:
        resolve("example.com", 0)
    assert str(info.value) == "port 0 is out of range 1-65535"
    with pytest.raises(UnsafeURLError) as info:  # brackets are for IPv6 only
        resolve("[127.0.0.1]", 80, allowed_hosts=LOCAL)
    assert str(info.value) == "host 127.0.0.1 is not a valid IPv6 address"
    assert dns.lookups == []


def test_resolve_allowlisted_hosts_may_resolve_to_anything(dns: FakeDNS) -> None:
    dns.records["hook.test"] = ["127.0.0.1", "10.0.0.5"]
    assert resolve("hook.test", 8080, allowed_hosts=["hook.test"]) == ["127.0.0.1", "10.0.0.5"]
    assert resolve("hook.test", 8080, allowed_hosts=["hook.test:8080"]) == [
        "127.0.0.1",
        "10.0.0.5",
    ]
    with pytest.raises(UnsafeURLError) as info:
        resolve("hook.test", 9090, allowed_hosts=["hook.test:8080"])
    assert str(info.value) == "host hook.test resolves to 127.0.0.1, which is a loopback address"
    assert resolve("127.0.0.1", 8080, allowed_hosts=LOCAL) == ["127.0.0.1"]
    assert resolve("[::1]", 8080, allowed_hosts=["::1"]) == ["::1"]


def test_resolve_failure_is_a_delivery_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: Any, **kwargs: Any) -> list[Any]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", fail)
    with pytest.raises(DeliveryError) as info:
        resolve("nowhere.example.com", 443)
    assert str(info.value) == (
        "could not resolve host nowhere.example.com: [Errno -2] Name or service not known"
    )


# --------------------------------------------------------------------------------------------
# guarded_request against a real server on 127.0.0.1
# --------------------------------------------------------------------------------------------


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class _Server(ThreadingHTTPServer):
    def __init__(self, context: ssl.SSLContext | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        if context is not None:
            self.socket = context.wrap_socket(self.socket, server_side=True)
        self.seen: list[Seen] = []
        self.connections = 0
        self.release = threading.Event()

    def verify_request(self, request: Any, client_address: Any) -> bool:
        self.connections += 1
        return True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that hang up mid-response are part of the tests


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length) if length else b""
        self.server.seen.append(Seen(self.command, self.path, dict(self.headers.items()), body))
        route = self.path.split("?")[0]
        if route == "/redirect":
            self.send_response(302)
            self.send_header("Location", f"http://127.0.0.1:{self.server.server_port}/target")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif route == "/slow":
            self.server.release.wait(10)
        elif route == "/trickle":
            # Each byte arrives well within the read timeout, the whole head takes ~3 s.
            for byte in b"HTTP/1.0 200 OK\r\nX-Pad: " + b"a" * 60 + b"\r\n\r\n":
                if self.server.release.wait(0.05):
                    return
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
        elif route == "/big":
            self.send_response(200)
            self.send_header("Content-Length", str(4 * 1024 * 1024))
            self.end_headers()
            chunk = bytes(range(256)) * 256
            for _ in range(64):
                self.wfile.write(chunk)
        else:
            payload = b"ok"
            self.send_response(200)
            self.send_header("X-Reply", "yes")
            self.send_header("Set-Cookie", "session=abc; Path=/")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = _handle


@contextlib.contextmanager
def _running(context: ssl.SSLContext | None = None) -> Iterator[_Server]:
    srv = _Server(context)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield srv
    finally:
        srv.release.set()
        srv.shutdown()
        srv.server_close()  # joins the handler threads
        thread.join()


@pytest.fixture
def server() -> Iterator[_Server]:
    with _running() as srv:
        yield srv


def _base(srv: _Server) -> str:
    return f"http://127.0.0.1:{srv.server_port}"


def test_post_delivers_body_and_headers(server: _Server) -> None:
    response = guarded_request(
        "POST",
        f"{_base(server)}/hook?task=1",
        headers={"Authorization": "Bearer s3cret", "Content-Type": "application/json"},
        content=b'{"state": "completed"}',
        allowed_hosts=LOCAL,
    )
    assert response == GuardedResponse(
        status=200,
        headers={
            "server": response.headers["server"],
            "date": response.headers["date"],
            "x-reply": "yes",
            "set-cookie": "session=abc; Path=/",
            "content-length": "2",
        },
        body=b"ok",
    )
    [seen] = server.seen
    assert (seen.method, seen.path, seen.body) == (
        "POST",
        "/hook?task=1",
        b'{"state": "completed"}',
    )
    assert seen.headers["Host"] == f"127.0.0.1:{server.server_port}"
    assert seen.headers["Authorization"] == "Bearer s3cret"
    assert seen.headers["Content-Type"] == "application/json"
    assert seen.headers["Content-Length"] == "22"
    assert seen.headers["Accept-Encoding"] == "identity"


def test_redirect_is_returned_and_not_followed(server: _Server) -> None:
    response = guarded_request("GET", f"{_base(server)}/redirect", allowed_hosts=LOCAL)
    assert response.status == 302
    assert response.headers["location"] == f"{_base(server)}/target"
    assert response.body == b""
    assert [seen.path for seen in server.seen] == ["/redirect"]


def test_slow_server_raises_delivery_error_within_the_timeout(server: _Server) -> None:
    started = time.monotonic()
    with pytest.raises(DeliveryError) as info:
        guarded_request("GET", f"{_base(server)}/slow", timeout=0.5, allowed_hosts=LOCAL)
    elapsed = time.monotonic() - started
    assert 0.45 <= elapsed < 1.5
    assert str(info.value).startswith(
        f"GET http://127.0.0.1:{server.server_port} (address 127.0.0.1) timed out after 0.5 s"
    )


def test_timeout_is_a_total_deadline_not_per_read(server: _Server) -> None:
    # Every byte comes within 0.05 s, so only a total deadline stops this before ~3 s.
    started = time.monotonic()
    with pytest.raises(DeliveryError) as info:
        guarded_request("GET", f"{_base(server)}/trickle", timeout=0.5, allowed_hosts=LOCAL)
    elapsed = time.monotonic() - started
    assert 0.45 <= elapsed < 1.5
    assert str(info.value).startswith(
        f"GET http://127.0.0.1:{server.server_port} (address 127.0.0.1) timed out after 0.5 s"
    )


def test_large_response_is_truncated(server: _Server) -> None:
    response = guarded_request(
        "GET", f"{_base(server)}/big", max_response_bytes=100_000, allowed_hosts=LOCAL
    )
    assert response.status == 200
    assert response.headers["content-length"] == str(4 * 1024 * 1024)
    assert response.body == (bytes(range(256)) * 400)[:100_000]


def test_zero_max_response_bytes_reads_no_body(server: _Server) -> None:
    response = guarded_request(
        "GET", f"{_base(server)}/hook", max_response_bytes=0, allowed_hosts=LOCAL
    )
    assert (response.status, response.body) == (200, b"")


@pytest.mark.parametrize(
    ("method", "headers", "message"),
    [
        ("POST", {"X-Token": "a\r\nX-Injected: 1"}, "header X-Token value contains CR, LF or NUL"),
        ("POST", {"X-Token": "a\nb"}, "header X-Token value contains CR, LF or NUL"),
        ("POST", {"X-Token": "a\x00b"}, "header X-Token value contains CR, LF or NUL"),
        (
            "POST",
            {"X-Token": "a\x1bb"},
            "header X-Token value contains a control character (U+001B)",
        ),
        ("POST", {"X-Bad\r\nName": "v"}, "header name 'X-Bad\\r\\nName' is not a valid HTTP token"),
        ("POST", {"Bad Name": "v"}, "header name 'Bad Name' is not a valid HTTP token"),
        (
            "POST",
            {"Host": "internal.example"},
            "header Host is set by guarded_request and may not be supplied",
        ),
        (
            "POST",
            {"transfer-encoding": "chunked"},
            "header transfer-encoding is set by guarded_request and may not be supplied",
        ),
        ("GET / HTTP/1.1\r\nX:", {}, "HTTP method 'GET / HTTP/1.1\\r\\nX:' is not a valid token"),
    ],
)
def test_bad_method_or_headers_are_refused_before_connecting(
    server: _Server, method: str, headers: dict[str, str], message: str
) -> None:
    with pytest.raises(UnsafeURLError) as info:
        guarded_request(method, f"{_base(server)}/hook", headers=headers, allowed_hosts=LOCAL)
    assert str(info.value) == message
    assert server.connections == 0
    assert server.seen == []


def test_non_allowlisted_loopback_is_refused_before_connecting(server: _Server) -> None:
    with pytest.raises(UnsafeURLError) as info:
        guarded_request("GET", f"{_base(server)}/hook")
    assert str(info.value) == "host 127.0.0.1 is a loopback address"
    assert server.connections == 0


def test_name_resolving_to_loopback_is_refused_before_connecting(
    server: _Server, dns: FakeDNS
) -> None:
    dns.records["hook.example.com"] = ["127.0.0.1"]
    with pytest.raises(UnsafeURLError) as info:
        guarded_request("GET", f"http://hook.example.com:{server.server_port}/hook")
    assert str(info.value) == (
        "host hook.example.com resolves to 127.0.0.1, which is a loopback address"
    )
    assert server.connections == 0


def test_connection_refused_raises_delivery_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(DeliveryError) as info:
        guarded_request("GET", f"http://127.0.0.1:{port}/", allowed_hosts=LOCAL)
    assert str(info.value).startswith(
        f"GET http://127.0.0.1:{port} (address 127.0.0.1) connection failed: ConnectError: "
    )
    assert "Connection refused" in str(info.value)


def test_request_is_pinned_to_the_checked_address(server: _Server, dns: FakeDNS) -> None:
    port = server.server_port
    dns.records["hook.test"] = ["127.0.0.1"]
    response = guarded_request(
        "POST", f"http://hook.test:{port}/hook", content=b"x", allowed_hosts=["hook.test"]
    )
    assert response.status == 200
    [seen] = server.seen
    assert seen.headers["Host"] == f"hook.test:{port}"
    # The name is looked up exactly once. The only other getaddrinfo call is the one
    # socket.create_connection makes for the numeric literal 127.0.0.1, which needs no DNS.
    assert dns.lookups == ["hook.test", "127.0.0.1"]


def test_only_the_first_resolved_address_is_used(server: _Server, dns: FakeDNS) -> None:
    # 127.0.0.2 is also loopback but nothing listens there on this port.
    dns.records["hook.test"] = ["127.0.0.1", "127.0.0.2"]
    response = guarded_request(
        "GET", f"http://hook.test:{server.server_port}/hook", allowed_hosts=["hook.test"]
    )
    assert response.status == 200
    assert server.connections == 1


def test_environment_proxies_are_ignored(server: _Server, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9/")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    response = guarded_request("GET", f"{_base(server)}/hook", allowed_hosts=LOCAL)
    assert response.status == 200
    assert [seen.path for seen in server.seen] == ["/hook"]


def test_cookies_are_not_kept_between_requests(server: _Server) -> None:
    first = guarded_request("GET", f"{_base(server)}/hook", allowed_hosts=LOCAL)
    assert first.headers["set-cookie"] == "session=abc; Path=/"
    guarded_request("GET", f"{_base(server)}/hook", allowed_hosts=LOCAL)
    assert [("Cookie" in seen.headers) for seen in server.seen] == [False, False]


def test_invalid_timeout_and_limit_are_refused() -> None:
    with pytest.raises(ValueError, match=r"^timeout must be a positive number of seconds, not 0$"):
        guarded_request("GET", "https://example.com/", timeout=0, allowed_hosts=LOCAL)
    with pytest.raises(ValueError, match=r"^max_response_bytes must not be negative, not -1$"):
        guarded_request("GET", "https://example.com/", max_response_bytes=-1)


# --------------------------------------------------------------------------------------------
# https: SNI and certificate verification use the real host name, not the pinned address
# --------------------------------------------------------------------------------------------


def _make_tls_files(directory: Path, name: str) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for ``name`` signed by it."""
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)

    def build(subject: str, issuer: str, key: Any, signer: Any, ca: bool) -> Any:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if ca:
            usage = x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            )
            builder = builder.add_extension(usage, critical=True).add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
        else:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName(subject)]), critical=False
            ).add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()),
                critical=False,
            )
        return builder.sign(signer, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = build("netguard test CA", "netguard test CA", ca_key, ca_key, ca=True)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = build(name, "netguard test CA", key, ca_key, ca=False)
    pem = serialization.Encoding.PEM
    ca_path, cert_path, key_path = (
        directory / "ca.pem",
        directory / "cert.pem",
        directory / "key.pem",
    )
    ca_path.write_bytes(ca_cert.public_bytes(pem))
    cert_path.write_bytes(cert.public_bytes(pem))
    key_path.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return ca_path, cert_path, key_path


@dataclass
class TLSServer:
    server: _Server
    sni: list[str | None]


@pytest.fixture
def tls_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Iterator[TLSServer]:
    """An https server whose certificate names request.param; httpx trusts only its CA."""
    ca_path, cert_path, key_path = _make_tls_files(tmp_path, request.param)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    sni: list[str | None] = []

    def remember_sni(sock: Any, server_name: str | None, ctx: Any) -> None:
        sni.append(server_name)

    context.sni_callback = remember_sni
    # httpx builds its default context from certifi.where() (httpx/_config.py, verify=True).
    monkeypatch.setattr(certifi, "where", lambda: str(ca_path))
    with _running(context) as srv:
        yield TLSServer(srv, sni)


@pytest.mark.parametrize("tls_server", ["hook.test"], indirect=True)
def test_https_uses_the_host_name_for_sni_and_certificate(
    tls_server: TLSServer, dns: FakeDNS
) -> None:
    port = tls_server.server.server_port
    dns.records["hook.test"] = ["127.0.0.1"]
    response = guarded_request("GET", f"https://hook.test:{port}/hook", allowed_hosts=["hook.test"])
    assert (response.status, response.body) == (200, b"ok")
    assert tls_server.sni == ["hook.test"]
    [seen] = tls_server.server.seen
    assert seen.headers["Host"] == f"hook.test:{port}"
    assert dns.lookups == ["hook.test", "127.0.0.1"]


@pytest.mark.parametrize("tls_server", ["other.test"], indirect=True)
def test_https_certificate_for_another_name_is_refused(tls_server: TLSServer, dns: FakeDNS) -> None:
    port = tls_server.server.server_port
    dns.records["hook.test"] = ["127.0.0.1"]
    with pytest.raises(DeliveryError) as info:
        guarded_request("GET", f"https://hook.test:{port}/hook", allowed_hosts=["hook.test"])
    assert str(info.value).startswith(
        f"GET https://hook.test:{port} (address 127.0.0.1) connection failed: ConnectError: "
    )
    assert "CERTIFICATE_VERIFY_FAILED" in str(info.value)
    assert "Hostname mismatch" in str(info.value)
    assert tls_server.sni == ["hook.test"]
    assert tls_server.server.seen == []
