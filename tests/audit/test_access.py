"""Who reads the audit log is decided by the check the accounts app installs."""

from __future__ import annotations

import pytest

from accounts.authentication import audit_reader
from audit import access


def test_accounts_installs_its_reader_check():
    assert access._installed["reader"] is audit_reader


def test_without_an_installed_check_nobody_reads_the_log(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(access, "_installed", {})
    assert access.audit_reader_allowed(object()) is False


def test_the_installed_check_decides(monkeypatch: pytest.MonkeyPatch):
    seen: list[object] = []
    request = object()

    def check(asked: object) -> bool:
        seen.append(asked)
        return True

    monkeypatch.setattr(access, "_installed", {})
    access.audit_reader_check_install(check)
    assert access.audit_reader_allowed(request) is True
    assert seen == [request]
