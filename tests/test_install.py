"""The first step a new user takes: the Makefile's install, in a brand-new venv.

A fresh venv brings the interpreter's bundled pip (23.2.1 on Python 3.11.7), and the registry
keeps publishing releases. The Makefile therefore installs the hash-pinned pip of
requirements/bootstrap.txt before the locked installs, and the lock files write every extra
they resolve (``httpx[http2]==0.28.1``), so nothing outside them can enter an install.
"""

from __future__ import annotations

import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ROOT / "requirements"
LOCKS = [
    REQUIREMENTS / "base.txt",
    REQUIREMENTS / "dev.txt",
    ROOT / "tests" / "interop" / "requirements.txt",
    ROOT / "bench" / "reference" / "requirements.txt",
    ROOT / "bench" / "locust" / "requirements.txt",
]

# A requirement line of a pip-compile lock: ``name[extra,...]==version \``.
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[([^\]]+)\])?==(\S+)", re.M)


def _pins(lock: Path) -> dict[str, tuple[set[str], str]]:
    """Return {canonical name: (extras, version)} for every requirement a lock file pins."""
    return {
        canonicalize_name(name): ({e.strip() for e in extras.split(",")} if extras else set(), v)
        for name, extras, v in PIN.findall(lock.read_text())
    }


def _bootstrap_pip_version() -> str:
    pins = _pins(REQUIREMENTS / "bootstrap.txt")
    assert set(pins) == {"pip"}, "bootstrap.txt pins pip and nothing else"
    return pins["pip"][1]


def _unmet_extras(pins: dict[str, tuple[set[str], str]]) -> list[str]:
    """Return each extra some pinned package asks for that the lock does not write down.

    Walks the installed metadata of every pinned package (with the extras the lock requests)
    and evaluates each dependency's marker for this interpreter; a dependency asking for
    ``name[extra]`` must find that extra on the lock's line for ``name``.
    """
    unmet = []
    environment = {key: str(value) for key, value in default_environment().items()}
    for name, (extras, _version) in sorted(pins.items()):
        for line in metadata.distribution(name).requires or []:
            requirement = Requirement(line)
            wanted = {""} | extras
            marker = requirement.marker
            if marker is not None and not any(
                marker.evaluate({**environment, "extra": extra}) for extra in wanted
            ):
                continue
            dependency = canonicalize_name(requirement.name)
            missing = set(requirement.extras) - pins.get(dependency, (set(), ""))[0]
            if missing:
                unmet.append(f"{name} needs {dependency}[{','.join(sorted(missing))}]")
    return unmet


@pytest.mark.parametrize("lock", LOCKS[:2], ids=lambda p: p.name)
def test_lock_files_write_down_every_extra_they_resolve(lock: Path) -> None:
    pins = _pins(lock)
    # This venv was installed from dev.txt: base.txt must pin the very same versions.
    for name, (_extras, version) in pins.items():
        assert metadata.version(name) == version, name
    assert _unmet_extras(pins) == []
    # The extra that broke the install on pip 23.2.1 (litellm's httpx[http2]).
    assert "http2" in pins["httpx"][0]


def test_every_lock_is_hashed_and_compiled_by_make_lock() -> None:
    for lock in [*LOCKS, REQUIREMENTS / "bootstrap.txt"]:
        text = lock.read_text()
        pins = PIN.findall(text)
        assert pins, lock
        # Every pin carries at least one hash right after it.
        assert len(re.findall(r"==\S+ \\\n\s+--hash=sha256:", text)) == len(pins), lock
    for lock in LOCKS:
        assert "#    make lock\n" in lock.read_text(), f"{lock}: re-lock with `make lock`"
    makefile = (ROOT / "Makefile").read_text()
    assert "--strip-extras" not in makefile.replace("--no-strip-extras", "")


@pytest.mark.install
@pytest.mark.timeout(1200)
def test_a_brand_new_venv_installs_with_the_makefile_recipes(tmp_path: Path) -> None:
    """Run `make`'s own install targets in a new venv made by the interpreter's bundled pip.

    Reuses pip's wheel cache (as a second clone on the same machine would), never a venv.
    """
    venv = tmp_path / "venv"
    # The interpreter this suite's venv was made from: its bundled pip is the one a new
    # user's `make run` starts with.
    base_python = getattr(sys, "_base_executable", sys.executable)
    bundled = subprocess.run(
        [base_python, "-m", "pip", "--version"], capture_output=True, text=True, check=True
    ).stdout.split()[1]
    for target in (".installed-base", ".installed-dev"):
        result = subprocess.run(
            ["make", "-C", str(ROOT), f"VENV={venv}", f"PYTHON={base_python}", f"{venv}/{target}"],
            capture_output=True,
            text=True,
            timeout=1100,
            check=False,
        )
        output = "\n".join(
            line
            for line in (result.stdout + result.stderr).splitlines()
            # The machine's pip configuration may name find-links folders it does not have.
            if not line.startswith("WARNING: Location ")
        )
        assert result.returncode == 0, (
            f"`make {target}` in a new venv (bundled pip {bundled}) failed:\n{output}"
        )
    python = venv / "bin" / "python"
    version = subprocess.run(
        [str(python), "-m", "pip", "--version"], capture_output=True, text=True, check=True
    ).stdout.split()[1]
    assert version == _bootstrap_pip_version(), (
        f"the venv runs pip {version}, not the pinned {_bootstrap_pip_version()}: "
        "the bootstrap step did not run before the locked install"
    )
    check = subprocess.run(
        [str(python), "-m", "pip", "check"], capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stdout + check.stderr
    frozen = subprocess.run(
        [str(python), "-m", "pip", "freeze", "--all"], capture_output=True, text=True, check=True
    ).stdout
    installed: dict[str, str] = {
        canonicalize_name(name): version
        for name, version in re.findall(r"^([^=\s]+)==(\S+)$", frozen, re.M)
    }
    locked = {name: v for name, (_extras, v) in _pins(REQUIREMENTS / "dev.txt").items()}
    locked["pip"] = _bootstrap_pip_version()
    # `python -m venv` seeds setuptools on 3.11; anything else is exactly what the locks say.
    if "setuptools" not in locked:
        installed.pop("setuptools", None)
    assert installed == locked
