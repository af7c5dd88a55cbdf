"""The published API description against the live server: schemathesis, every check.

A fresh embedded webcap with an admin and a user who each own a task waiting for approval
and a finished one. schemathesis (an outside OpenAPI fuzzer) reads ``/api/schema/`` and
tests every operation in it, once as the admin and once as the user: examples, coverage,
fuzzing and stateful phases, with all of its checks (server errors, responses that break the
schema, undocumented status codes and content types, valid requests refused, invalid ones
accepted, a deleted resource still there, ...). Seeded and bounded, so a run is repeatable.

Path ids are drawn half the time from the rows that exist (schemathesis "dictionaries"),
so operations reach their real logic, not only their 404. A key's ``expires_at`` is drawn
from future times: "must be in the future" is the one rule JSON Schema cannot state
(tests/accounts/test_keys_api.py covers a past one).
"""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.live.server import LiveServer, run_manage

pytestmark = pytest.mark.live

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
SEED = 18
MAX_EXAMPLES = 6
PASSWORD = "a-long-test-password-18"
ROLES = {"st-admin": "admin", "st-user": "user"}


def _config(token: str, ids: dict[str, list[str]]) -> str:
    """The schemathesis.toml of one run: the caller's token and the ids to draw from."""

    def values(items: list[str]) -> str:
        return "[" + ", ".join(f'"{item}"' for item in items) + "]"

    return f"""
[auth.openapi.bearerAuth]
bearer = "{token}"

[dictionaries.tasks]
values = {values(ids["tasks"])}

[dictionaries.calls]
values = {values(ids["calls"])}

[dictionaries.users]
values = {values(list(ROLES))}

[dictionaries.future]
values = ["2099-01-01T00:00:00Z", "2100-06-30T12:30:00+02:00"]

[parameters]
"path.task_id" = {{ dictionary = "tasks", probability = 0.5 }}
"path.username" = {{ dictionary = "users", probability = 0.5 }}
"body.username" = {{ dictionary = "users", probability = 0.5 }}
"body.expires_at" = {{ dictionary = "future", probability = 1.0 }}

[[operations]]
include-path-regex = "^/api/tool-calls/"
parameters = {{ "path.id" = {{ dictionary = "calls", probability = 0.5 }} }}

# The coverage phase tries a past expires_at whatever the dictionary says; the server
# refuses it (400, "must be in the future"), a rule JSON Schema cannot state.
[[operations]]
include-path = "/api/keys/"
include-method = "POST"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409"]

# Registering an agent (or changing its URL or trust policy) fetches and verifies its card;
# a card that cannot be fetched or trusted is a 400, which no schema can foresee.
[[operations]]
include-path-regex = "^/api/agents/"
include-method = "POST"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409"]

[[operations]]
include-path-regex = "^/api/agents/"
include-method = "PATCH"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409"]

# Registering a tool source lists the server's tools first (a server that cannot be reached
# is a 400), and a pin names a version that must exist: no schema can foresee either.
[[operations]]
include-path-regex = "^/api/tools/"
include-method = "POST"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409"]

[[operations]]
include-path-regex = "^/api/tools/"
include-method = "PATCH"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409"]
"""


@pytest.fixture(scope="module")
def api_server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    server = LiveServer(
        tmp_path_factory.mktemp("webcap-openapi"),
        # schemathesis signs in hundreds of times: the sign-in limit would answer 429 to
        # most of them (documented, but then the token endpoint's own logic goes untested).
        WEBCAP_RATE_LIMIT_TOKEN_IP="0",
        WEBCAP_RATE_LIMIT_TOKEN_USER="0",
    )
    server.start()
    code = "\n".join(
        [
            "from accounts.services import user_ensure",
            *(
                f"u = user_ensure(username={name!r}, role={role!r}); "
                f"u.set_password({PASSWORD!r}); u.save()"
                for name, role in ROLES.items()
            ),
        ]
    )
    result = run_manage(server.env, "shell", "-c", code)
    assert result.returncode == 0, result.stderr
    yield server
    server.stop()


def _token(server: LiveServer, username: str) -> str:
    response = httpx.post(
        f"{server.url}/api/auth/token/", json={"username": username, "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access"])


def _rows(server: LiveServer, token: str) -> dict[str, list[str]]:
    """Give the caller a task waiting for approval and a finished one; return their ids."""
    tasks, calls = [], []
    for number, text in enumerate(["fetch https://example.invalid/", "what is 6*7?"]):
        answer = server.rpc(
            token,
            "SendMessage",
            {
                "message": {
                    "messageId": f"m{number}",
                    "role": "ROLE_USER",
                    "parts": [{"text": text}],
                }
            },
        )
        task = answer["result"]["task"]
        tasks.append(task["id"])
        for part in task["status"]["message"]["parts"]:
            for call in part.get("data", {}).get("pendingToolCalls", []):
                calls.append(call["toolCallId"])
    assert calls, "the fetch should wait for approval"
    return {"tasks": tasks, "calls": calls}


def _run(server: LiveServer, workdir: Path, username: str) -> ET.Element:
    token = _token(server, username)
    config = workdir / f"{username}.toml"
    config.write_text(_config(token, _rows(server, token)))
    reports = workdir / f"{username}-reports"
    result = subprocess.run(
        [
            str(SCHEMATHESIS),
            "--config-file",
            str(config),
            "run",
            f"{server.url}/api/schema/",
            "--checks",
            "all",
            "--seed",
            str(SEED),
            "--max-examples",
            str(MAX_EXAMPLES),
            "--no-color",
            "--report",
            "junit",
            "--report-dir",
            str(reports),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=workdir,  # schemathesis keeps a .schemathesis/ cache where it runs
    )
    print(result.stdout[-3000:])  # the summary, in the test's output
    assert result.returncode == 0, f"schemathesis found failures:\n{result.stdout[-20000:]}"
    [junit] = reports.glob("*.xml")
    return ET.parse(junit).getroot()


@pytest.mark.parametrize("username", list(ROLES))
def test_schemathesis_finds_nothing(api_server, tmp_path, username):
    report = _run(api_server, tmp_path, username)
    cases = report.findall(".//testcase")
    operations = {case.get("name") for case in cases} - {"Stateful tests"}
    schema = httpx.get(f"{api_server.url}/api/schema/?format=json").json()
    published = {
        f"{method.upper()} {path}"
        for path, methods in schema["paths"].items()
        for method in methods
    }
    # Every operation of the description was tested, and none failed a check.
    assert operations == published
    assert [case.get("name") for case in cases if case.find("failure") is not None] == []
    assert [case.get("name") for case in cases if case.find("error") is not None] == []
