"""The registry and the built-in tools: schemas, validation, safety limits."""

from __future__ import annotations

import os
import re
import sys

import pytest

from tests.webhook import WebhookReceiver
from tools import registry
from tools.checks import tools_configured
from tools.registry import ToolError, tool, tool_get, tools_available


def _call(name, **arguments):
    found = tool_get(name)
    assert found is not None
    return found.run(found.validate(arguments))


def test_the_built_in_tools_and_their_schemas(db):
    # db: whether a tool is offered may depend on rows (delegate: an enabled remote agent).
    tools = {t.name: t for t in tools_available()}
    assert set(tools) == {"calculator", "current_time", "echo", "read_file", "http_request"}
    spec = tools["calculator"].spec()
    assert spec == {
        "type": "function",
        "function": {
            "name": "calculator",
            "description": (
                "Evaluate an arithmetic expression: + - * / // ** (or ^), parentheses, sqrt(x); "
                "% is the remainder before a number (10 % 3) and a percentage anywhere else "
                "(240 * 15%, 200 + 10%)."
            ),
            "parameters": {
                "additionalProperties": False,
                "properties": {
                    "expression": {
                        "description": "e.g. (3 + 4) * 2",
                        "maxLength": 200,
                        "type": "string",
                    }
                },
                "required": ["expression"],
                "type": "object",
            },
        },
    }
    http = tools["http_request"].spec()["function"]["parameters"]
    assert http["properties"]["method"]["enum"] == ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
    assert http["required"] == ["url"]
    assert [t.name for t in tools.values() if t.needs_approval()] == ["http_request", "read_file"]


def test_enabled_tools_and_forced_approval_are_settings(settings):
    settings.WEBCAP_TOOLS_ENABLED = ["echo", "calculator"]
    settings.WEBCAP_TOOLS_REQUIRE_APPROVAL = ["echo"]
    tools = tools_available()
    assert [t.name for t in tools] == ["calculator", "echo"]
    assert [t.needs_approval() for t in tools] == [False, True]


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("12*7", 84),
        ("(3 + 4) * 2", 14),
        ("7 / 2", 3.5),
        ("2 ** 10", 1024),
        ("-3 % 5", 2),
        ("9 // 2", 4),
        ("1.5 * 2", 3),
        ("10 % 3", 1),
        ("2^10", 1024),
        ("2 ^ 3 + 1", 9),
        ("-2^2", -4),
        ("sqrt(144)", 12),
        ("sqrt(2)", 1.4142135623731),
        ("sqrt(9) ^ 2", 9),
        ("15%", 0.15),
        ("240 * 15%", 36),
        ("15% * 240", 36),
        ("17.5% * 80", 14),
        ("7% * 100", 7),
        ("200 + 10%", 220),
        ("80 - 25%", 60),
        ("10 % (4)", 2),
        ("0.1 + 0.2", 0.3),
        ("1 / 3", 0.333333333333333),
    ],
)
def test_calculator(expression, value):
    assert _call("calculator", expression=expression) == value


@pytest.mark.parametrize(
    ("expression", "error"),
    [
        ("__import__('os').system('true')", "unsupported in an arithmetic expression: Call"),
        ("a + 1", "unsupported in an arithmetic expression: Name"),
        ("1 / 0", "division by zero"),
        ("9 ** 9 ** 9", "larger than 1000"),
        ("2 ** 999 * 2 ** 999 * 2 ** 999 * 2 ** 999 * 2 ** 999", "too large"),
        ("True + 1", "a boolean"),
        ("[1, 2]", "unsupported in an arithmetic expression: List"),
        ("1 +", "not an arithmetic expression"),
        ("(-8) ** 0.5", "not a real number"),
        ("sqrt(-1)", "not a real number"),
        ("sqrt(1, 2)", "sqrt() takes one number"),
        ("sqrt(x=4)", "sqrt() takes one number"),
        ("log(8)", "unsupported in an arithmetic expression: Call"),
        ("math.sqrt(4)", "unsupported in an arithmetic expression: Call"),
        ("sqrt", "unsupported in an arithmetic expression: Name"),
        ("2 ^^ 3", "not an arithmetic expression"),
        ("(50)%", "not an arithmetic expression"),
        ("1 & 2", "unsupported in an arithmetic expression: BitAnd"),
        ("'a' * 3", "unsupported in an arithmetic expression: Constant"),
        ("10 ** 400.0", "too large"),
    ],
)
def test_calculator_refuses_anything_but_arithmetic(expression, error):
    with pytest.raises(ToolError, match=re.escape(error)):
        _call("calculator", expression=expression)


def test_argument_validation_names_the_field():
    found = tool_get("calculator")
    assert found is not None
    with pytest.raises(ToolError, match="expression: Field required"):
        found.validate({})
    with pytest.raises(ToolError, match="unexpected: Extra inputs are not permitted"):
        found.validate({"expression": "1", "unexpected": 2})
    with pytest.raises(ToolError, match="arguments must be a JSON object"):
        found.validate(["1"])


def test_current_time_and_echo():
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", _call("current_time"))
    assert _call("current_time", timezone="Asia/Tokyo").endswith("+09:00")
    with pytest.raises(ToolError, match="unknown time zone 'Mars/Base'"):
        _call("current_time", timezone="Mars/Base")
    assert _call("echo", text="hi there") == "hi there"


@pytest.fixture
def files_root(settings, tmp_path):
    root = tmp_path / "files"
    (root / "docs").mkdir(parents=True)
    (root / "docs" / "note.txt").write_text("hello from a file")
    (tmp_path / "secret.txt").write_text("do not read")
    os.symlink(tmp_path / "secret.txt", root / "link.txt")
    settings.WEBCAP_FILES_ROOT = str(root)
    settings.WEBCAP_READ_FILE_MAX_BYTES = 10
    return root


def test_read_file_reads_inside_the_root_only(files_root):
    assert _call("read_file", path="docs/note.txt") == "hello from\n[truncated]"
    for path in ("../secret.txt", "/etc/passwd", "link.txt", "docs/../../secret.txt"):
        with pytest.raises(ToolError, match="outside the files folder"):
            _call("read_file", path=path)
    with pytest.raises(ToolError, match=r"no file 'missing\.txt'"):
        _call("read_file", path="missing.txt")


def test_a_missing_file_is_refused_before_approval_naming_the_folder(files_root, settings):
    found = tool_get("read_file")
    assert found is not None
    found.validate({"path": "docs/note.txt"})  # there: the call goes on to wait for a person
    for path in ("missing.txt", "docs"):
        with pytest.raises(ToolError) as refused:
            found.validate({"path": path})
        assert str(refused.value) == (
            f"no file {path!r} in the files folder {files_root.resolve()}: copy the file "
            "there (the setting WEBCAP_FILES_ROOT names the folder)"
        )
    # Deleted between the request and the run: the same error when the approved call runs.
    params = found.validate({"path": "docs/note.txt"})
    (files_root / "docs" / "note.txt").unlink()
    with pytest.raises(ToolError, match=r"^no file 'docs/note\.txt' in the files folder "):
        found.run(params)

    settings.WEBCAP_FILES_ROOT = str(files_root / "absent")
    with pytest.raises(ToolError) as refused:
        found.validate({"path": "notes.txt"})
    assert str(refused.value) == (
        f"no file 'notes.txt': the files folder {(files_root / 'absent').resolve()} does not "
        "exist; create it and copy the file there (the setting WEBCAP_FILES_ROOT names the folder)"
    )


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1/", "loopback"),
        ("http://169.254.169.254/latest", "link-local"),
        ("file:///etc/passwd", "scheme"),
        ("http://localhost:8000/", "localhost"),
    ],
)
def test_http_request_refuses_unsafe_urls_when_validated(url, reason):
    found = tool_get("http_request")
    assert found is not None
    with pytest.raises(ToolError, match=f"refused URL: .*{reason}"):
        found.validate({"url": url})


def test_http_request_fetches_from_an_allowed_host(settings):
    receiver = WebhookReceiver()
    settings.WEBCAP_TOOL_HTTP_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.WEBCAP_TOOL_HTTP_MAX_BYTES = 1000
    try:
        result = _call("http_request", url=receiver.url, method="POST", body='{"a": 1}')
    finally:
        receiver.close()
    assert (result["status"], result["truncated"]) == (200, False)
    assert receiver.requests[0].body == {"a": 1}
    found = tool_get("http_request")
    assert found is not None
    assert found.side_effects(found.validate({"url": receiver.url, "method": "POST"}))
    assert not found.side_effects(found.validate({"url": receiver.url}))


# --- tools of your own ----------------------------------------------------------------------------


@pytest.fixture
def own_tools(settings, monkeypatch):
    """WEBCAP_TOOL_MODULES names tests.tools.sample_tools; the registry is restored after."""
    monkeypatch.setattr(registry, "REGISTRY", dict(registry.REGISTRY))
    monkeypatch.delitem(sys.modules, "tests.tools.sample_tools", raising=False)
    settings.WEBCAP_TOOL_MODULES = ["tests.tools.sample_tools"]


@pytest.mark.usefixtures("own_tools")
def test_modules_of_your_own_add_tools_with_schemas_and_approval(db):
    tools = {t.name: t for t in tools_available()}

    assert {"convert_length", "send_email", "calculator"} <= set(tools)
    length = tools["convert_length"]
    assert length.version == "2"
    assert length.spec()["function"]["parameters"]["properties"]["unit"]["enum"] == ["m", "ft"]
    assert _call("convert_length", value=10) == 32.81
    with pytest.raises(ToolError, match="value: Input should be greater than or equal to 0"):
        length.validate({"value": -1})
    email = tools["send_email"]
    assert email.needs_approval()
    assert email.side_effects(email.validate({"to": "a", "subject": "b"}))


@pytest.mark.usefixtures("own_tools")
def test_a_second_tool_of_a_taken_name_is_refused(db):
    tools_available()
    with pytest.raises(ValueError, match="'calculator' is already registered"):

        @tool(description="A calculator that lies.")
        def calculator(expression: str) -> int:
            return 42


def test_the_system_checks_name_bad_tool_configuration(settings):
    settings.WEBCAP_TOOL_MODULES = ["tests.tools.no_such_module"]
    assert [e.id for e in tools_configured(None)] == ["webcap.E010"]
    assert "No module named 'tests.tools.no_such_module'" in tools_configured(None)[0].msg

    settings.WEBCAP_TOOL_MODULES = []
    settings.WEBCAP_TOOLS_ENABLED = ["calculator", "frobnicate"]
    settings.WEBCAP_TOOLS_REQUIRE_APPROVAL = ["echo", "teleport"]
    errors = tools_configured(None)
    assert [(e.id, e.msg) for e in errors] == [
        ("webcap.E011", "WEBCAP_TOOLS_ENABLED names tools this server does not have: frobnicate."),
        (
            "webcap.E011",
            "WEBCAP_TOOLS_REQUIRE_APPROVAL names tools this server does not have: teleport.",
        ),
    ]
