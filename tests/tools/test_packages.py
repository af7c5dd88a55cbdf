"""Tool packages: installed distributions with ``webcap.tools`` entry points.

Their tools are loaded at start and listed, offered to the model only once the package is
enabled (at run time, no restart); a package that does not import is a system check warning.
``manage.py tool new`` writes a package whose own tests pass.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.core.management import CommandError, call_command

from accounts.services import user_ensure
from tests.factories import make_key, rpc_send_task
from tests.fakellm import Text, ToolCalls
from tools import packages, registry
from tools.checks import tool_packages_loaded
from tools.models import ToolCall, ToolCallStatus
from tools.services import tool_package_enable

ROOT = Path(__file__).resolve().parents[2]

TOOL_MODULE = """
from tools.sdk import tool


@tool(description="Say hi from a package.")
def pkg_hi(name: str) -> str:
    return f"hi {name}"
"""


@pytest.fixture
def install(tmp_path, monkeypatch, restored_registry) -> Iterator[Callable[[str, str], None]]:
    """Install a fake distribution (a dist-info on sys.path) with one webcap.tools entry point."""
    modules: list[str] = []
    monkeypatch.syspath_prepend(str(tmp_path))

    def add(package: str, source: str) -> None:
        module = package.replace("-", "_") + "_tools"
        modules.append(module)
        (tmp_path / f"{module}.py").write_text(source)
        info = tmp_path / f"{package.replace('-', '_')}-0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: 0.1\n")
        (info / "entry_points.txt").write_text(f"[webcap.tools]\ntools = {module}\n")

    yield add
    for module in modules:
        sys.modules.pop(module, None)
    packages.PACKAGE_TOOLS.clear()
    packages.PACKAGE_ERRORS.clear()


def _offered(request: dict[str, Any]) -> list[str]:
    return sorted(t["function"]["name"] for t in request.get("tools", []))


@pytest.mark.django_db
def test_a_packages_tools_are_loaded_and_listed_but_not_offered(install, capsys):
    install("webcap-pkgone", TOOL_MODULE)
    registry.tool_packages_load()

    assert packages.tool_packages() == {"webcap-pkgone": ["pkg_hi"]}
    assert registry.tool_get("pkg_hi") is not None
    assert "pkg_hi" not in [t.name for t in registry.tools_available()]
    call_command("tool", "list")
    assert capsys.readouterr().out == "webcap-pkgone (disabled): pkg_hi\n"


@pytest.mark.django_db
def test_the_setting_enables_a_package_from_the_start(install, settings):
    install("webcap-pkgone", TOOL_MODULE)
    registry.tool_packages_load()
    settings.WEBCAP_TOOL_PACKAGES_ENABLED = ["webcap-pkgone"]

    assert "pkg_hi" in [t.name for t in registry.tools_available()]


@pytest.mark.django_db(transaction=True)
async def test_enabling_a_package_offers_its_tools_from_the_next_task_on(
    install, rpc, fake, settings
):
    install("webcap-pkgone", TOOL_MODULE)
    await sync_to_async(registry.tool_packages_load)()
    key = await sync_to_async(make_key)(await sync_to_async(user_ensure)(username="someone"))
    fake.script(Text("Hello."), Text("Hello again."))

    await rpc_send_task(rpc, key, "hi")
    await sync_to_async(tool_package_enable)(package="webcap-pkgone", enabled=True)
    await rpc_send_task(rpc, key, "hi")
    await sync_to_async(tool_package_enable)(package="webcap-pkgone", enabled=False)

    assert "pkg_hi" not in _offered(fake.requests[0])
    assert _offered(fake.requests[1]) == sorted([*_offered(fake.requests[0]), "pkg_hi"])
    assert "pkg_hi" not in [t.name for t in await sync_to_async(registry.tools_available)()]


@pytest.mark.django_db(transaction=True)
async def test_a_call_of_a_tool_of_a_disabled_package_is_an_error_the_model_reads(
    install, rpc, fake
):
    install("webcap-pkgone", TOOL_MODULE)
    await sync_to_async(registry.tool_packages_load)()
    key = await sync_to_async(make_key)(await sync_to_async(user_ensure)(username="someone"))
    fake.script(ToolCalls([("call_1", "pkg_hi", {"name": "x"})]), Text("Not available."))

    await rpc_send_task(rpc, key, "hi")

    call = await ToolCall.objects.aget(tool="pkg_hi")
    assert (call.status, call.error) == (ToolCallStatus.ERROR, "tool 'pkg_hi' is not enabled")


def test_enabling_an_unknown_package_is_refused():
    with pytest.raises(CommandError, match=r"^No tool package 'webcap-nope' is loaded"):
        call_command("tool", "enable", "webcap-nope")


def test_a_package_that_does_not_import_is_a_warning_not_a_crash(install):
    install("webcap-broken", "import no_such_module_anywhere\n")
    install("webcap-pkgone", TOOL_MODULE)
    registry.tool_packages_load()

    assert packages.tool_packages() == {"webcap-pkgone": ["pkg_hi"]}
    (warning,) = tool_packages_loaded(None)
    assert warning.id == "webcap.W015"
    assert warning.msg == (
        "The tool package 'webcap-broken' could not be loaded: ModuleNotFoundError: "
        "No module named 'no_such_module_anywhere'. Its tools are missing."
    )


def test_tool_new_writes_a_package_whose_tests_pass(tmp_path, capsys):
    call_command("tool", "new", "weather", "--dir", str(tmp_path))
    root = tmp_path / "weather"
    assert capsys.readouterr().out == f"Wrote the tool package webcap-weather in {root}\n"
    assert sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) == [
        "README.md",
        "pyproject.toml",
        "src/webcap_weather/__init__.py",
        "src/webcap_weather/tools.py",
        "tests/test_tools.py",
    ]
    assert (
        '[project.entry-points."webcap.tools"]\nweather = "webcap_weather.tools"'
        in (root / "pyproject.toml").read_text()
    )

    # As the tutorial runs them (docs/tools.md): webcap's python, from webcap's directory.
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(root / "tests")]
    run = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, timeout=60)
    output = run.stdout.decode() + run.stderr.decode()
    assert run.returncode == 0, output
    assert "2 passed" in output


@pytest.mark.parametrize("name", ["Weather", "1weather", "wea-ther", "class", ""])
def test_tool_new_refuses_a_name_that_is_not_a_module_name(tmp_path, name):
    with pytest.raises(CommandError, match="is not a valid tool package name"):
        call_command("tool", "new", name, "--dir", str(tmp_path))
    assert list(tmp_path.iterdir()) == []


def test_tool_new_refuses_an_existing_directory(tmp_path):
    (tmp_path / "weather").mkdir()
    with pytest.raises(CommandError, match=r"weather already exists; choose another name"):
        call_command("tool", "new", "weather", "--dir", str(tmp_path))


LOCMEM = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "packages"}


def test_without_a_tools_cache_the_choice_is_kept_in_the_default_cache(install, settings):
    install("webcap-pkgone", TOOL_MODULE)
    registry.tool_packages_load()
    settings.CACHES = {"default": LOCMEM}

    tool_package_enable(package="webcap-pkgone", enabled=True)

    assert packages.tool_packages_enabled() == {"webcap-pkgone"}


def test_an_unreachable_tools_cache_means_the_packages_enabled_at_start(settings, caplog):
    settings.WEBCAP_TOOL_PACKAGES_ENABLED = ["webcap-pkgone"]
    settings.CACHES = {
        "default": LOCMEM,
        "tools": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
        },
    }

    assert packages.tool_packages_enabled() == {"webcap-pkgone"}
    assert "The tools cache is unreachable" in caplog.text
