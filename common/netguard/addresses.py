"""Which URLs, hosts and addresses outbound requests may reach (the static and DNS checks)."""

from __future__ import annotations

import ipaddress
import re
import socket
import unicodedata
import urllib.parse
from collections.abc import Collection
from dataclasses import dataclass

from common.netguard.errors import DeliveryError, UnsafeURLError

MAX_URL_LENGTH = 2048

_IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
DEFAULT_PORTS = {"http": 80, "https": 443}


# --------------------------------------------------------------------------------------------
# Address classification
# --------------------------------------------------------------------------------------------

_N4 = ipaddress.IPv4Network
_N6 = ipaddress.IPv6Network

_PRIVATE4 = "a private address (RFC 1918)"
_IPV4_RULES: tuple[tuple[ipaddress.IPv4Network, str], ...] = (
    (_N4("0.0.0.0/8"), "in 0.0.0.0/8 ('this network')"),
    (_N4("127.0.0.0/8"), "a loopback address"),
    (_N4("169.254.0.0/16"), "a link-local address"),
    (_N4("10.0.0.0/8"), _PRIVATE4),
    (_N4("172.16.0.0/12"), _PRIVATE4),
    (_N4("192.168.0.0/16"), _PRIVATE4),
    (_N4("100.64.0.0/10"), "in the shared address space 100.64.0.0/10 (carrier-grade NAT)"),
    (_N4("198.18.0.0/15"), "a benchmarking address (198.18.0.0/15)"),
    (_N4("192.0.2.0/24"), "a documentation address (192.0.2.0/24)"),
    (_N4("198.51.100.0/24"), "a documentation address (198.51.100.0/24)"),
    (_N4("203.0.113.0/24"), "a documentation address (203.0.113.0/24)"),
    (_N4("192.0.0.0/24"), "in the IETF protocol assignments block 192.0.0.0/24"),
    (_N4("192.88.99.0/24"), "a deprecated 6to4 relay anycast address (192.88.99.0/24)"),
    (_N4("224.0.0.0/4"), "a multicast address"),
    (_N4("255.255.255.255/32"), "the limited broadcast address"),
    (_N4("240.0.0.0/4"), "a reserved address (240.0.0.0/4)"),
)

_NAT64 = _N6("64:ff9b::/96")
_GLOBAL_UNICAST6 = _N6("2000::/3")
_IPV6_RULES: tuple[tuple[ipaddress.IPv6Network, str], ...] = (
    (_N6("::ffff:0:0:0/96"), "an IPv4-translated address (::ffff:0:0:0/96)"),
    (_N6("64:ff9b:1::/48"), "a local-use NAT64 address (64:ff9b:1::/48)"),
    (_N6("100::/64"), "a discard-only address (100::/64)"),
    (_N6("2001::/32"), "a Teredo address (2001::/32)"),
    (_N6("2001:2::/48"), "a benchmarking address (2001:2::/48)"),
    (_N6("2001:db8::/32"), "a documentation address (2001:db8::/32)"),
    (_N6("2001::/23"), "in the IETF protocol assignments block 2001::/23"),
    (_N6("3fff::/20"), "a documentation address (3fff::/20)"),
    (_N6("5f00::/16"), "an SRv6 segment identifier address (5f00::/16)"),
    (_N6("fc00::/7"), "a private address (unique local, fc00::/7)"),
    (_N6("fe80::/10"), "a link-local address"),
    (_N6("fec0::/10"), "a deprecated site-local address (fec0::/10)"),
    (_N6("ff00::/8"), "a multicast address"),
)

# Instance metadata endpoints (AWS/GCP/Azure, AWS ECS, AWS IPv6, Alibaba, Oracle). All are
# refused by the tables above anyway; membership only adds a note to the message.
_METADATA_ADDRESSES: frozenset[_IPAddress] = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",
        "169.254.170.2",
        "169.254.170.23",
        "fd00:ec2::254",
        "fd00:ec2::23",
        "100.100.100.200",
        "192.0.0.192",
    )
)


def _classify4(addr: ipaddress.IPv4Address) -> str | None:
    if addr.is_unspecified:
        return "an unspecified address"
    for net, phrase in _IPV4_RULES:
        if addr in net:
            return phrase
    if not addr.is_global:
        return "not a globally routable address"
    return None


def _classify6(addr: ipaddress.IPv6Address) -> str | None:
    if addr.is_unspecified:
        return "an unspecified address"
    if addr.is_loopback:
        return "a loopback address"
    mapped = addr.ipv4_mapped
    if mapped is not None:
        inner = _classify(mapped)
        if inner is not None:
            return f"an IPv4-mapped address of {mapped}, which is {inner}"
        return f"an IPv4-mapped address of {mapped} (use {mapped} itself)"
    if int(addr) >> 32 == 0:
        compat = ipaddress.IPv4Address(int(addr))
        inner = _classify(compat)
        if inner is not None:
            return f"an IPv4-compatible address of {compat}, which is {inner}"
        return f"a deprecated IPv4-compatible address of {compat} (use {compat} itself)"
    embedded: ipaddress.IPv4Address | None = None
    kind = ""
    if addr in _NAT64:
        embedded, kind = ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF), "a NAT64"
    elif addr.sixtofour is not None:
        embedded, kind = addr.sixtofour, "a 6to4"
    if embedded is not None:
        inner = _classify(embedded)
        if inner is not None:
            return f"{kind} address of {embedded}, which is {inner}"
    for net, phrase in _IPV6_RULES:
        if addr in net:
            return phrase
    if addr not in _GLOBAL_UNICAST6 and addr not in _NAT64:
        return "outside the IPv6 global unicast range 2000::/3"
    if not addr.is_global:
        return "not a globally routable address"
    return None


def _classify(addr: _IPAddress) -> str | None:
    """Why ``addr`` is not a public unicast address (a phrase after "is"), or None if it is."""
    if isinstance(addr, ipaddress.IPv4Address):
        phrase = _classify4(addr)
    else:
        phrase = _classify6(ipaddress.IPv6Address(int(addr)))  # drops any %scope
    if phrase is not None and addr in _METADATA_ADDRESSES:
        phrase += ", used by cloud metadata services"
    return phrase


# --------------------------------------------------------------------------------------------
# Host parsing and static checks
# --------------------------------------------------------------------------------------------

_NUMERIC_LABEL = re.compile(r"[0-9]+|0x[0-9a-f]*")
_HOST_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
_PORT = re.compile(r"[0-9]{1,5}")
_LOCAL_SUFFIXES = ("localhost", "local", "internal", "localdomain", "home.arpa")


def _legacy_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """Interpret ``host`` the way inet_aton (and WHATWG URL parsing) would, or None."""
    parts = host.split(".")
    if parts and parts[-1] == "":
        parts.pop()
    if not 1 <= len(parts) <= 4:
        return None
    numbers: list[int] = []
    for part in parts:
        if part.startswith("0x"):
            digits = part[2:]
            if digits and not all(c in "0123456789abcdef" for c in digits):
                return None
            numbers.append(int(digits, 16) if digits else 0)
        elif len(part) > 1 and part.startswith("0"):
            if not all(c in "01234567" for c in part):
                return None
            numbers.append(int(part, 8))
        elif part.isascii() and part.isdigit():
            numbers.append(int(part))
        else:
            return None
    *head, last = numbers
    if any(n > 255 for n in head) or last >= 256 ** (4 - len(head)):
        return None
    value = last
    for i, n in enumerate(head):
        value += n << (8 * (3 - i))
    return ipaddress.IPv4Address(value)


@dataclass(frozen=True)
class _Host:
    text: str  # as written in the URL, lowercased, without brackets
    key: str  # normalised for allowlist matching: compressed IP, or name without trailing dot
    ip: _IPAddress | None


def _parse_host(text: str) -> _Host:
    """Syntax checks that apply to every host, allowlisted or not."""
    host = text.lower()
    if not host:
        raise UnsafeURLError("URL has no host")
    if not host.isascii():
        raise UnsafeURLError(f"host {host} is not ASCII (write IDNA names in xn-- form)")
    bracketed = host.startswith("[") and host.endswith("]")
    if bracketed:
        host = host[1:-1]
    if ":" in host or bracketed:
        if "%" in host:
            raise UnsafeURLError(f"host {host} has an IPv6 zone identifier, which is not allowed")
        try:
            addr6 = ipaddress.IPv6Address(host)
        except ValueError:
            raise UnsafeURLError(f"host {host} is not a valid IPv6 address") from None
        return _Host(host, str(addr6), addr6)
    name = host.removesuffix(".")
    labels = name.split(".")
    if _NUMERIC_LABEL.fullmatch(labels[-1]):
        try:
            addr4 = ipaddress.IPv4Address(host)
        except ValueError:
            addr4 = None
        if addr4 is not None and str(addr4) == host:
            return _Host(host, host, addr4)
        legacy = _legacy_ipv4(host)
        if legacy is None:
            raise UnsafeURLError(
                f"host {host} is not a valid IPv4 address (its last label is numeric)"
            )
        reason = _classify(legacy)
        if reason is not None:
            raise UnsafeURLError(
                f"host {host} is a non-canonical spelling of {legacy}, which is {reason}"
            )
        raise UnsafeURLError(
            f"host {host} is a non-canonical spelling of IPv4 address {legacy}; write {legacy}"
        )
    if len(name) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in labels):
        raise UnsafeURLError(f"host {host} is not a valid host name")
    return _Host(host, name, None)


def _public_host_problem(host: _Host) -> str | None:
    """Why the host is not public, as a complete message, or None."""
    if host.ip is not None:
        reason = _classify(host.ip)
        return None if reason is None else f"host {host.text} is {reason}"
    name = host.key
    if name == "localhost":
        return f"host {host.text} is a non-public name (localhost)"
    for suffix in _LOCAL_SUFFIXES:
        if name == suffix or name.endswith("." + suffix):
            return f"host {host.text} is a non-public name (*.{suffix})"
    if "." not in name:
        return f"host {host.text} is a non-public name (a single label, with no dot)"
    return None


_Allowlist = frozenset[tuple[str, int | None]]


def allowlist_parse(entries: Collection[str]) -> _Allowlist:
    if isinstance(entries, str):
        raise TypeError("allowed_hosts must be a collection of strings, not a single string")
    parsed: set[tuple[str, int | None]] = set()
    for entry in entries:
        text = entry.strip().lower()
        port_text: str | None = None
        if text.startswith("["):
            host_text, sep, rest = text.partition("]")
            host_text += sep
            if rest:
                if not rest.startswith(":"):
                    raise ValueError(f"invalid allowed_hosts entry {entry!r}")
                port_text = rest[1:]
        elif text.count(":") == 1:
            host_text, _, port_text = text.partition(":")
        else:
            host_text = text
        try:
            host = _parse_host(host_text)
        except UnsafeURLError as exc:
            raise ValueError(f"invalid allowed_hosts entry {entry!r}: {exc}") from None
        port: int | None = None
        if port_text is not None:
            if not _PORT.fullmatch(port_text) or not 1 <= int(port_text) <= 65535:
                raise ValueError(f"invalid allowed_hosts entry {entry!r}: bad port")
            port = int(port_text)
        parsed.add((host.key, port))
    return frozenset(parsed)


def _is_allowed(host: _Host, port: int, allow: _Allowlist) -> bool:
    return (host.key, None) in allow or (host.key, port) in allow


def _check_host(host: _Host, port: int, allow: _Allowlist) -> None:
    if _is_allowed(host, port, allow):
        return
    problem = _public_host_problem(host)
    if problem is not None:
        raise UnsafeURLError(problem)


def _forbidden_char(text: str) -> tuple[int, str] | None:
    for index, char in enumerate(text):
        if char.isspace() or unicodedata.category(char) in {"Cc", "Cf", "Zs", "Zl", "Zp"}:
            return index, char
    return None


def _split_netloc(netloc: str) -> tuple[str, str | None]:
    """Split ``host[:port]`` (user info already refused) into host text and port text."""
    if netloc.startswith("["):
        end = netloc.find("]")
        if end == -1:
            raise UnsafeURLError(f"URL authority {netloc} has an unclosed '['")
        host, rest = netloc[: end + 1], netloc[end + 1 :]
        if not rest:
            return host, None
        if not rest.startswith(":"):
            raise UnsafeURLError(f"URL authority {netloc} has text after ']'")
        return host, rest[1:]
    if netloc.count(":") > 1:
        raise UnsafeURLError(
            f"URL authority {netloc} is malformed (IPv6 addresses must be in brackets)"
        )
    host, sep, port = netloc.partition(":")
    return host, port if sep else None


def check_url(url: str, *, allowed_hosts: Collection[str] = ()) -> urllib.parse.SplitResult:
    """Statically validate a user-supplied URL (no DNS); raise UnsafeURLError if refused."""
    allow = allowlist_parse(allowed_hosts)
    parts, _host, _port = url_checked(url, allow)
    return parts


def url_checked(url: str, allow: _Allowlist) -> tuple[urllib.parse.SplitResult, _Host, int]:
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeURLError(f"URL is {len(url)} characters long; the limit is {MAX_URL_LENGTH}")
    bad = _forbidden_char(url)
    if bad is not None:
        index, char = bad
        raise UnsafeURLError(
            f"URL contains a control or whitespace character (U+{ord(char):04X}) at index {index}"
        )
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError as exc:
        raise UnsafeURLError(f"URL cannot be parsed: {exc}") from None
    if parts.scheme not in DEFAULT_PORTS:
        shown = parts.scheme or "(none)"
        raise UnsafeURLError(f"URL scheme {shown} is not allowed (only http and https)")
    if not parts.netloc:
        raise UnsafeURLError("URL has no host")
    if "@" in parts.netloc:
        raise UnsafeURLError("URL must not contain user info (user:password@)")
    if not parts.netloc.isascii():
        raise UnsafeURLError(
            f"URL authority {parts.netloc} is not ASCII (write IDNA names in xn-- form)"
        )
    host_text, port_text = _split_netloc(parts.netloc)
    if port_text is None:
        port = DEFAULT_PORTS[parts.scheme]
    else:
        if not port_text:
            raise UnsafeURLError("URL has an empty port")
        if not port_text.isdigit():
            raise UnsafeURLError(f"port {port_text} is not a number")
        if not _PORT.fullmatch(port_text) or not 1 <= int(port_text) <= 65535:
            raise UnsafeURLError(f"port {port_text} is out of range 1-65535")
        port = int(port_text)
    host = _parse_host(host_text)
    _check_host(host, port, allow)
    return parts, host, port


# --------------------------------------------------------------------------------------------
# Resolution
# --------------------------------------------------------------------------------------------


def resolve(host: str, port: int, *, allowed_hosts: Collection[str] = ()) -> list[str]:
    """Resolve host over TCP; raise UnsafeURLError if any address is not public."""
    allow = allowlist_parse(allowed_hosts)
    return host_resolve(_parse_host(host), port, allow)


def host_resolve(host: _Host, port: int, allow: _Allowlist) -> list[str]:
    if not 1 <= port <= 65535:
        raise UnsafeURLError(f"port {port} is out of range 1-65535")
    allowed = _is_allowed(host, port, allow)
    if not allowed:
        _check_host(host, port, allow)
    lookup = host.key if host.ip is None else str(host.ip)
    try:
        infos = socket.getaddrinfo(lookup, port, 0, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    except UnicodeError as exc:
        raise UnsafeURLError(f"host {host.text} cannot be encoded for DNS: {exc}") from None
    except OSError as exc:
        raise DeliveryError(f"could not resolve host {host.text}: {exc}") from exc
    addresses: list[str] = []
    for family, _type, _proto, _canonname, sockaddr in infos:
        raw = sockaddr[0]
        if family not in (socket.AF_INET, socket.AF_INET6) or not isinstance(raw, str):
            raise UnsafeURLError(f"host {host.text} resolves to a non-IP address {raw!r}")
        addr = ipaddress.ip_address(raw.partition("%")[0])
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped
        if not allowed:
            reason = _classify(addr)
            if reason is not None:
                raise UnsafeURLError(f"host {host.text} resolves to {addr}, which is {reason}")
        text = str(addr)
        if text not in addresses:
            addresses.append(text)
    if not addresses:
        raise DeliveryError(f"host {host.text} resolves to no addresses")
    return addresses
