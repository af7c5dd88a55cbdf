"""``manage.py tool new NAME``: the files of a new tool package, working and tested.

The package is a distribution ``webcap-NAME`` with the import package ``webcap_NAME``, whose
``webcap.tools`` entry point names its tools module: installed into webcap's environment,
the module is imported at start and its tools are listed, offered once enabled.
"""

from __future__ import annotations

import keyword
import re
from pathlib import Path

# A short lowercase Python identifier: it names the directory, the distribution and the module.
NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")

PYPROJECT = """\
[project]
name = "webcap-{name}"
version = "0.1.0"
description = "{title} tools for webcap"
readme = "README.md"
requires-python = ">=3.11"
# webcap itself is not a dependency: the package is installed into webcap's environment.
dependencies = []

[project.entry-points."webcap.tools"]
{name} = "webcap_{name}.tools"

[build-system]
requires = ["setuptools>=69"]
build-backend = "setuptools.build_meta"

[tool.setuptools.packages.find]
where = ["src"]

[tool.pytest.ini_options]
# The tests import webcap (run them from webcap's directory with its python) and its
# ordinary settings; they need no database.
DJANGO_SETTINGS_MODULE = "config.settings"
pythonpath = ["src"]
testpaths = ["tests"]
asyncio_default_fixture_loop_scope = "function"
"""

TOOLS = '''\
"""The tools of webcap-{name}: registered when webcap imports this module at start."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from tools.sdk import ToolError, current_call, tool


@tool(description="Greet someone by name, for the person the task runs for.")
def {name}_greet(
    who: Annotated[str, Field(description="Whom to greet", min_length=1)],
    times: Annotated[int, Field(description="How often", ge=1, le=5)] = 1,
    style: Literal["plain", "loud"] = "plain",
) -> dict[str, str]:
    """Return the greeting and on whose behalf it was made."""
    call = current_call()  # None when called directly, outside webcap
    if call is not None and call.stopped():
        raise ToolError("stopped at its time limit")
    greeting = " ".join([f"Hello, {{who}}!"] * times)
    if style == "loud":
        greeting = greeting.upper()
    return {{
        "greeting": greeting,
        "caller": call.caller if call is not None else "",
        "task": call.task_id if call is not None else "",
    }}
'''

TESTS = '''\
"""The tools of webcap-{name}, run the way webcap's worker runs them."""

from __future__ import annotations

import pytest

from tools.sdk import ToolError
from tools.testing import run_tool
from webcap_{name}.tools import {name}_greet


def test_greet_answers_for_the_caller():
    result = run_tool({name}_greet, {{"who": "Ada", "times": 2}}, task_id="t-1", owner="grace")
    assert result == {{"greeting": "Hello, Ada! Hello, Ada!", "caller": "grace", "task": "t-1"}}


def test_greet_refuses_what_the_schema_does_not_allow():
    with pytest.raises(ToolError) as raised:
        run_tool({name}_greet, {{"who": "Ada", "times": 9, "style": "quiet"}})
    assert str(raised.value) == (
        "invalid arguments: times: Input should be less than or equal to 5; "
        "style: Input should be 'plain' or 'loud'"
    )
'''

README = """\
# webcap-{name}

{title} tools for webcap, written with its tool SDK (webcap's docs/tools.md).

From webcap's directory:

```sh
.venv/bin/python -m pytest {path}/tests        # the tests, the way the worker runs the tools
.venv/bin/pip install -e ./{path}              # into webcap's environment
.venv/bin/python manage.py tool list           # the package and its tools, not yet offered
.venv/bin/python manage.py tool enable webcap-{name}
```
"""


class SkeletonError(Exception):
    """The name or the place does not allow a new package; the message says why."""


def skeleton_write(*, name: str, parent: Path) -> Path:
    """Write the package ``NAME`` into ``parent/NAME`` and return that directory."""
    if not NAME.fullmatch(name) or keyword.iskeyword(name):
        raise SkeletonError(
            f"{name!r} is not a valid tool package name: use 1-40 lowercase letters, digits "
            "and underscores, starting with a letter (it names a Python module)."
        )
    root = parent / name
    if root.exists():
        raise SkeletonError(f"{root} already exists; choose another name or --dir.")
    values = {"name": name, "title": name.replace("_", " ").capitalize(), "path": name}
    files = {
        "pyproject.toml": PYPROJECT,
        "README.md": README,
        f"src/webcap_{name}/__init__.py": '"""{title} tools for webcap."""\n',
        f"src/webcap_{name}/tools.py": TOOLS,
        "tests/test_tools.py": TESTS,
    }
    for relative, template in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.format(**values), encoding="utf-8")
    return root
