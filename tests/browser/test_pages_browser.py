"""The landing page and the API documentation, rendered by headless Chromium.

The pages must draw from this server alone (no CDN): the browser's own log shows any request
the Content-Security-Policy blocked or that failed, and Swagger UI must have drawn the
operations of the management API from /api/schema/.
"""

from __future__ import annotations

from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.conftest import WAIT, Screenshot, user_with_password
from tests.live.server import LiveServer

pytestmark = [pytest.mark.live, pytest.mark.browser]


def _severe(browser: webdriver.Chrome) -> list[dict[str, Any]]:
    """The console's errors since the last call (failed loads, CSP refusals, script errors)."""
    entries: list[dict[str, Any]] = browser.get_log("browser")
    return [entry for entry in entries if entry["level"] == "SEVERE"]


def test_the_landing_page_names_the_server_and_links_what_it_serves(
    webcap_server: LiveServer, browser: webdriver.Chrome, screenshot: Screenshot
):
    browser.get(f"{webcap_server.url}/")
    WebDriverWait(browser, WAIT).until(lambda b: b.find_element(By.TAG_NAME, "h1").text)
    screenshot(browser, "landing")

    links = {
        link.text: link.get_attribute("href")
        for link in browser.find_elements(By.CSS_SELECTOR, "#content a")
    }
    url = webcap_server.url
    assert links["Agent card"] == f"{url}/.well-known/agent-card.json"
    assert links["API documentation"] == f"{url}/api/docs/"
    assert links["Approvals"] == f"{url}/approvals/"
    assert links["Admin"] == f"{url}/admin/"
    assert links["Health"] == f"{url}/health"
    assert _severe(browser) == []


def test_swagger_ui_draws_the_management_api_from_this_server(
    webcap_server: LiveServer, browser: webdriver.Chrome, screenshot: Screenshot
):
    browser.get(f"{webcap_server.url}/api/docs/")
    operations = WebDriverWait(browser, WAIT).until(
        lambda b: b.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")
    )
    screenshot(browser, "swagger")

    paths = {operation.text.replace("\u200b", "") for operation in operations}
    assert "/api/keys/" in paths
    assert "/api/tool-calls/" in paths
    assert _severe(browser) == []
    loaded = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name);"
    )
    assert loaded, "the page loaded nothing"
    assert all(name.startswith(webcap_server.url) for name in loaded), loaded


def test_swagger_ui_shows_an_operations_inputs_and_its_errors(
    webcap_server: LiveServer, browser: webdriver.Chrome, screenshot: Screenshot
):
    browser.get(f"{webcap_server.url}/api/docs/")
    summary = WebDriverWait(browser, WAIT).until(
        lambda b: b.find_element(
            By.CSS_SELECTOR, "#operations-api-api_keys_create .opblock-summary"
        )
    )
    summary.click()
    block = WebDriverWait(browser, WAIT).until(
        lambda b: b.find_element(By.CSS_SELECTOR, "#operations-api-api_keys_create .opblock-body")
    )
    codes = WebDriverWait(browser, WAIT).until(
        lambda b: [
            cell.text
            for cell in block.find_elements(
                By.CSS_SELECTOR, ".responses-table .response-col_status"
            )
            if cell.text
        ]
    )
    screenshot(browser, "swagger-keys-create")
    # The inputs a client sends (not the read-only key row) and every error it can get.
    example = block.find_element(By.CSS_SELECTOR, ".opblock-section-request-body").text
    assert '"name"' in example
    assert '"expires_at"' in example
    assert '"prefix"' not in example
    assert {"201", "400", "401", "403", "413", "415", "503"} <= set(codes)
    assert _severe(browser) == []


def test_redoc_draws_the_management_api_from_this_server(
    webcap_server: LiveServer, browser: webdriver.Chrome, screenshot: Screenshot
):
    browser.get(f"{webcap_server.url}/api/redoc/")
    WebDriverWait(browser, WAIT).until(
        lambda b: b.find_elements(By.CSS_SELECTOR, "[data-section-id^='tag/api']")
    )
    screenshot(browser, "redoc")
    text = browser.find_element(By.TAG_NAME, "body").text
    assert "/api/keys/" in text
    assert "webcap management API" in text
    # Redoc's footer links its maker's logo from cdn.redoc.ly: the policy blocks it, which
    # is the only console error allowed (nothing from another origin loads).
    refused = [e for e in _severe(browser) if "cdn.redoc.ly" not in e["message"]]
    assert refused == []
    loaded = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name);"
    )
    # The browser lists the refused logo as attempted; everything else is this server's.
    others = [name for name in loaded if not name.startswith(webcap_server.url)]
    assert others == ["https://cdn.redoc.ly/redoc/logo-mini.svg"]


def test_the_admin_works_under_the_content_security_policy(
    assistant_server: LiveServer, browser: webdriver.Chrome, screenshot: Screenshot
):
    key = user_with_password(assistant_server, "csp-admin", "a staff password 18")
    assistant_server.manage(
        "shell",
        "-c",
        "from accounts.models import User\n"
        "User.objects.filter(username='csp-admin').update(is_staff=True, is_superuser=True)",
    )
    message = {"messageId": "csp-1", "role": "ROLE_USER", "parts": [{"text": "what is 6*7?"}]}
    task = assistant_server.rpc(key, "SendMessage", {"message": message})["result"]["task"]
    browser.get(f"{assistant_server.url}/admin/login/")
    browser.find_element(By.NAME, "username").send_keys("csp-admin")
    browser.find_element(By.NAME, "password").send_keys("a staff password 18")
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    WebDriverWait(browser, WAIT).until(lambda b: b.find_elements(By.ID, "site-name"))
    assert _severe(browser) == []
    # The pages with the admin's scripts: a list with its actions and filters, a change form
    # with its collapsible fieldsets, and the analytics page.
    for path in ("/admin/a2a/task/", f"/admin/a2a/task/{task['id']}/change/", "/admin/analytics/"):
        browser.get(f"{assistant_server.url}{path}")
        WebDriverWait(browser, WAIT).until(lambda b: b.find_elements(By.ID, "content"))
        screenshot(browser, path.strip("/").replace("/", "-")[:40])
        policy = browser.execute_script("return document.querySelector('script[src]') !== null;")
        assert policy, path  # the page runs the admin's own script files
        assert _severe(browser) == [], path
