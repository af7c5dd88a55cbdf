"""What ``runembedded`` says when it cannot listen (the busy port itself: tests/live/)."""

from __future__ import annotations

import argparse
import errno
import socket

import pytest

from a2a.management.commands.runembedded import listen_problem, port_number


def test_a_free_port_is_no_problem():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        port = holder.getsockname()[1]
    assert listen_problem("127.0.0.1", port) is None


def test_a_name_that_does_not_resolve_is_refused(monkeypatch):
    def unknown(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", unknown)
    assert listen_problem("nosuch.invalid", 8000) == (
        "Cannot listen on nosuch.invalid:8000: nosuch.invalid is not an address of this "
        "machine. Serve on one that is: HOST=127.0.0.1 make run, or manage.py runembedded "
        "--host 127.0.0.1"
    )


NOT_HERE = (
    "Cannot listen on 127.0.0.1:8000: 127.0.0.1 is not an address of this machine. Serve on "
    "one that is: HOST=127.0.0.1 make run, or manage.py runembedded --host 127.0.0.1"
)
PRIVILEGED = (
    "Cannot listen on 127.0.0.1:80: permission denied (ports below 1024 need privileges). "
    "Serve on a higher port: PORT=8000 make run, or manage.py runembedded --port 8000"
)
# Every port after the busy one is taken too: no free one to name.
BUSY_EVERYWHERE = (
    "Cannot listen on 127.0.0.1:8000: the port is already in use by another server "
    "(perhaps a webcap started earlier). Stop that server, or serve on another port: "
    "PORT=<another port> make run, or manage.py runembedded --port <another port>"
)


@pytest.mark.parametrize(
    ("error", "port", "message"),
    [
        (OSError(errno.EADDRNOTAVAIL, "Cannot assign requested address"), 8000, NOT_HERE),
        (PermissionError(errno.EACCES, "Permission denied"), 80, PRIVILEGED),
        (OSError(errno.EADDRINUSE, "Address already in use"), 8000, BUSY_EVERYWHERE),
    ],
)
def test_a_failed_bind_says_what_to_do(monkeypatch, error, port, message):
    def refuse(self, address):
        raise error

    monkeypatch.setattr(socket.socket, "bind", refuse)
    assert listen_problem("127.0.0.1", port) == message


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("0", "0 is not a port number (1-65535)"),
        ("65536", "65536 is not a port number (1-65535)"),
        ("http", "'http' is not a port number"),
    ],
)
def test_port_must_be_a_tcp_port(value, error):
    with pytest.raises(argparse.ArgumentTypeError) as refused:
        port_number(value)
    assert str(refused.value) == error
    assert port_number("8000") == 8000
