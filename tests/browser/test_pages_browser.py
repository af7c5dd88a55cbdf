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


def test_a_tasks_page_draws_its_sub_tasks_at_other_agents_as_a_tree(
    assistant_server: LiveServer, browser: webdriver.Chrome, screenshot: Screenshot
):
    key = user_with_password(assistant_server, "tree-admin", "a staff password 19")
    message = {"messageId": "tree-1", "role": "ROLE_USER", "parts": [{"text": "hello"}]}
    task = assistant_server.rpc(key, "SendMessage", {"message": message})["result"]["task"]
    # The task delegated to b, which delegated to c in turn: what the delegate tool records.
    assistant_server.manage(
        "shell",
        "-c",
        "from accounts.models import User\n"
        "from remote_agents.delegation import delegation_finish\n"
        "from remote_agents.models import Delegation, RemoteAgent\n"
        "User.objects.filter(username='tree-admin').update(is_staff=True, is_superuser=True)\n"
        "b = RemoteAgent.objects.create(name='b', card_url='http://127.0.0.1:9/', card={})\n"
        f"d = Delegation.objects.create(parent_task_id={task['id']!r}, remote_agent=b,\n"
        "    remote_task_id='b-1', state='TASK_STATE_WORKING')\n"
        "delegation_finish(delegation=d, state='TASK_STATE_COMPLETED', subtasks=[{'agent': 'c',\n"
        "    'taskId': 'c-1', 'state': 'TASK_STATE_FAILED', 'error': 'c gave up',\n"
        "    'subtasks': []}])",
    )
    browser.get(f"{assistant_server.url}/admin/login/")
    browser.find_element(By.NAME, "username").send_keys("tree-admin")
    browser.find_element(By.NAME, "password").send_keys("a staff password 19")
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    WebDriverWait(browser, WAIT).until(lambda b: b.find_elements(By.ID, "site-name"))
    browser.get(f"{assistant_server.url}/admin/a2a/task/{task['id']}/change/")
    section = WebDriverWait(browser, WAIT).until(lambda b: b.find_element(By.ID, "task-agents"))
    browser.execute_script("arguments[0].scrollIntoView();", section)
    screenshot(browser, "task-agents")
    assert section.is_displayed()
    outer = section.find_element(By.CSS_SELECTOR, "li.subtask[data-agent=b]")
    inner = outer.find_element(By.CSS_SELECTOR, "ul li.subtask[data-agent=c]")
    assert "b-1" in outer.text
    assert "completed" in outer.text
    assert inner.text.startswith("c task c-1: failed (c gave up)"), inner.text
    assert _severe(browser) == []
