from __future__ import annotations

from unittest import mock

import pytest
from django.db import OperationalError

from a2a.services.tasks import task_transition
from tests.factories import send


@pytest.mark.django_db
def test_health_reports_status_and_counts(client, user):
    done = send(user).task_id
    task_transition(task_id=done, state="completed")
    send(user)
    body = client.get("/health").json()
    assert body["status"] == "ok"
    assert body["mode"] == "embedded"
    assert body["agent"] == "echo"
    assert body["counts"]["tasks"]["total"] == 2
    assert body["counts"]["tasks"]["byState"]["completed"] == 1
    assert body["counts"]["tasks"]["byState"]["submitted"] == 1
    assert body["counts"]["tasks"]["byState"]["failed"] == 0


@pytest.mark.django_db
def test_health_is_503_when_the_database_fails(client):
    with mock.patch("common.views._counts", side_effect=OperationalError("down")):
        response = client.get("/health")
    assert response.status_code == 503
    assert response.json()["status"] == "fail"
    assert response.json()["error"] == "database: OperationalError"
