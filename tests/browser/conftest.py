"""Pages in a real browser: headless Chromium driven by selenium through the system's
chromedriver, against a real webcap server (``manage.py runembedded``, tests/live/).

Debian's ``chromium`` and ``chromium-driver`` packages provide both programs (``.ci/run``
installs them); without them these tests skip, and under ``CI=true`` they fail. Each test can
save screenshots with the ``screenshot`` fixture, and one is saved with the page's HTML when a
test fails, all under ``var/test-artifacts/browser/``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Generator, Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver import Chrome
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.binaries import binaries_require
from tests.live.server import ROOT, LiveServer

ARTIFACTS = ROOT / "var" / "test-artifacts" / "browser"
# How long a page may take to show what a test waits for.
WAIT = 20.0

Screenshot = Callable[[webdriver.Chrome, str], Path]


@pytest.fixture(scope="session")
def chromium_paths() -> dict[str, str]:
    """The system's Chromium and its driver (skip, or fail under CI, when missing)."""
    return binaries_require(
        "chromium", "chromedriver", hint="apt-get install chromium chromium-driver"
    )


def _chrome(paths: dict[str, str], *, javascript: bool) -> webdriver.Chrome:
    """Start a fresh headless Chromium (no cookies, 1280x1000)."""
    options = webdriver.ChromeOptions()
    options.binary_location = paths["chromium"]
    for argument in (
        "--headless=new",
        # Tests run as root on CI machines, where Chromium's sandbox refuses to start.
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1280,1000",
        "--no-first-run",
        "--disable-extensions",
    ):
        options.add_argument(argument)
    # The console's messages, for tests that check a page loaded without errors.
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    if not javascript:
        options.add_experimental_option(
            "prefs", {"profile.managed_default_content_settings.javascript": 2}
        )
    driver = webdriver.Chrome(
        options=options, service=Service(executable_path=paths["chromedriver"])
    )
    driver.implicitly_wait(0)
    return driver


def _closed(driver: webdriver.Chrome, node: pytest.Item) -> None:
    """Quit the browser; first save its screen and page when the test failed."""
    try:
        report = getattr(node, "report_call", None)
        if report is not None and report.failed:
            path = _artifact(node.name, "failed.png")
            driver.save_screenshot(str(path))
            path.with_suffix(".html").write_text(driver.page_source)
    finally:
        driver.quit()


def _browser(paths: dict[str, str], node: pytest.Item, *, javascript: bool) -> Iterator[Chrome]:
    driver = _chrome(paths, javascript=javascript)
    try:
        yield driver
    finally:
        _closed(driver, node)


@pytest.fixture
def browser(chromium_paths: dict[str, str], request: pytest.FixtureRequest) -> Iterator[Chrome]:
    """Headless Chromium; on failure its screen is saved."""
    yield from _browser(chromium_paths, request.node, javascript=True)


@pytest.fixture
def browser_without_javascript(
    chromium_paths: dict[str, str], request: pytest.FixtureRequest
) -> Iterator[Chrome]:
    """Headless Chromium with JavaScript switched off."""
    yield from _browser(chromium_paths, request.node, javascript=False)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep the call phase's report on the test item, for the browser fixture's teardown."""
    report = yield
    if report.when == "call":
        item.report_call = report  # type: ignore[attr-defined]
    return report


def _artifact(test_name: str, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', test_name)}-{name}"


@pytest.fixture
def screenshot(request: pytest.FixtureRequest) -> Screenshot:
    """Save a browser's screen as var/test-artifacts/browser/<test>-<name>.png."""

    def save(driver: webdriver.Chrome, name: str) -> Path:
        path = _artifact(request.node.name, f"{name}.png")
        assert driver.save_screenshot(str(path)), path
        return path

    return save


def sign_in(browser: webdriver.Chrome, server: LiveServer, username: str, password: str) -> None:
    """Open the approval page, sign in on the form it sends you to, and wait to be back."""
    browser.get(f"{server.url}/approvals/")
    WebDriverWait(browser, WAIT).until(lambda b: "/accounts/login/" in b.current_url)
    browser.find_element(By.NAME, "username").send_keys(username)
    browser.find_element(By.NAME, "password").send_keys(password)
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    WebDriverWait(browser, WAIT).until(lambda b: b.current_url == f"{server.url}/approvals/")


def user_with_password(server: LiveServer, username: str, password: str) -> str:
    """Create a user on server with an API key and a password to sign in; return the key."""
    key = server.create_key(username)
    server.manage(
        "shell",
        "-c",
        "from accounts.models import User\n"
        f"user = User.objects.get(username={username!r})\n"
        f"user.set_password({password!r})\n"
        "user.save()",
    )
    return key
