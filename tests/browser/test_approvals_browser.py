"""The approval page in headless Chromium, against a live webcap on the offline model: a call
arrives on the open page without a reload, is rejected from the keyboard with a reason, and
the task's final answer, read over A2A, carries that reason; j/k and a approve the selected
call; without JavaScript the plain forms decide."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.conftest import WAIT, Screenshot, sign_in, user_with_password
from tests.live.server import LiveServer

pytestmark = [pytest.mark.live, pytest.mark.browser]

REASON = "README stays private today"


def _pending(server: LiveServer, key: str, text: str) -> tuple[dict[str, Any], str]:
    """SendMessage over JSON-RPC; return the task, which waits for one call, and the call's id.

    Text is "read NAME": the file is put in the server's files folder first, since read_file
    refuses a missing file before anyone is asked.
    """
    files = Path(server.env.get("WEBCAP_FILES_ROOT") or server.workdir / "files")
    files.mkdir(parents=True, exist_ok=True)
    (files / text.removeprefix("read ")).write_text("private notes")
    message = {"messageId": str(uuid.uuid4()), "role": "ROLE_USER", "parts": [{"text": text}]}
    task: dict[str, Any] = server.rpc(key, "SendMessage", {"message": message})["result"]["task"]
    assert task["status"]["state"] == "TASK_STATE_INPUT_REQUIRED"
    [pending] = task["status"]["message"]["parts"][1]["data"]["pendingToolCalls"]
    return task, pending["toolCallId"]


def _call(server: LiveServer, key: str, call_id: str) -> dict[str, Any]:
    """The tool call as the management API shows it."""
    response = httpx.get(
        f"{server.url}/api/tool-calls/{call_id}/",
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    call: dict[str, Any] = response.json()
    return call


def _live(browser: webdriver.Chrome) -> bool:
    status = browser.find_element(By.ID, "live-status")
    return status.get_attribute("data-state") == "live"


def test_a_call_arrives_live_and_is_rejected_from_the_keyboard_with_a_reason(
    assistant_server: LiveServer, browser: webdriver.Chrome, screenshot: Screenshot
):
    key = user_with_password(assistant_server, "reviewer", "correct horse battery")
    sign_in(browser, assistant_server, "reviewer", "correct horse battery")
    WebDriverWait(browser, WAIT).until(_live)
    assert browser.find_element(By.ID, "approvals-empty").is_displayed()
    # Survives only while the page is not loaded again.
    browser.execute_script("window.sameLoad = true;")
    screenshot(browser, "1-empty")

    task, call_id = _pending(assistant_server, key, "read README.md")

    card = WebDriverWait(browser, WAIT).until(lambda b: b.find_element(By.ID, f"call-{call_id}"))
    assert browser.execute_script("return window.sameLoad === true;")
    assert card.find_element(By.CSS_SELECTOR, ".tool").text == "read_file"
    arguments = card.find_element(By.CSS_SELECTOR, "pre.arguments").text
    assert json.loads(arguments) == {"path": "README.md"}
    assert card.find_element(By.CSS_SELECTOR, "blockquote.request").text == "read README.md"
    assert "selected" in (card.get_attribute("class") or "")
    assert browser.find_element(By.ID, "pending-count").text == "(1)"
    assert not browser.find_element(By.ID, "approvals-empty").is_displayed()
    screenshot(browser, "2-arrived")

    # j selects (the only call), r goes to the reason, Enter rejects.
    ActionChains(browser).send_keys("j").send_keys("r").perform()
    reason_field = card.find_element(By.NAME, "reason")
    assert browser.switch_to.active_element == reason_field
    ActionChains(browser).send_keys(REASON).perform()
    screenshot(browser, "3-reason")
    ActionChains(browser).send_keys(Keys.ENTER).perform()

    WebDriverWait(browser, WAIT).until(
        lambda b: (
            not b.find_elements(By.ID, f"call-{call_id}")
            and b.find_elements(By.CSS_SELECTOR, "ul.messagelist li.success")
        )
    )
    notice = browser.find_element(By.CSS_SELECTOR, "ul.messagelist li.success").text
    assert notice == f"Rejected read_file for task {task['id']}."
    assert browser.execute_script("return window.sameLoad === true;")
    assert browser.find_element(By.ID, "pending-count").text == "(0)"
    screenshot(browser, "4-rejected")

    decided = _call(assistant_server, key, call_id)
    assert (decided["decision"], decided["decision_reason"], decided["decided_by"]) == (
        "rejected",
        REASON,
        "reviewer",
    )
    done = assistant_server.wait_for_state(
        key,
        task["id"],
        {"TASK_STATE_COMPLETED", "TASK_STATE_FAILED", "TASK_STATE_REJECTED"},
        timeout=60,
    )
    # The final answer: the assistant's "response" artifact (streamed in chunks).
    [response] = [a for a in done["artifacts"] if a["name"] == "response"]
    answer = "".join(part.get("text", "") for part in response["parts"])
    assert REASON in answer, answer


def test_j_and_k_choose_the_call_and_a_approves_it(
    assistant_server: LiveServer, browser: webdriver.Chrome, screenshot: Screenshot
):
    key = user_with_password(assistant_server, "chooser", "correct horse battery")
    _, first = _pending(assistant_server, key, "read first.txt")
    _, second = _pending(assistant_server, key, "read second.txt")
    sign_in(browser, assistant_server, "chooser", "correct horse battery")
    WebDriverWait(browser, WAIT).until(_live)

    def selected() -> str:
        return str(
            browser.find_element(By.CSS_SELECTOR, "article.approval.selected").get_attribute(
                "data-call"
            )
        )

    assert selected() == first
    ActionChains(browser).send_keys("j").perform()
    assert selected() == second
    ActionChains(browser).send_keys("k").send_keys("j").perform()
    assert selected() == second
    screenshot(browser, "1-second-selected")
    ActionChains(browser).send_keys("a").perform()

    WebDriverWait(browser, WAIT).until(lambda b: not b.find_elements(By.ID, f"call-{second}"))
    assert selected() == first
    screenshot(browser, "2-approved")
    assert (
        _call(assistant_server, key, second)["decision"],
        _call(assistant_server, key, first)["decision"],
    ) == ("approved", "")


def test_without_javascript_the_forms_decide_and_the_page_reloads(
    assistant_server: LiveServer,
    browser_without_javascript: webdriver.Chrome,
    screenshot: Screenshot,
):
    browser = browser_without_javascript
    key = user_with_password(assistant_server, "plain", "correct horse battery")
    task, call_id = _pending(assistant_server, key, "read plain.txt")
    sign_in(browser, assistant_server, "plain", "correct horse battery")
    status = browser.find_element(By.ID, "live-status").text
    assert status.startswith("Reload the page to see calls that arrived or were decided")
    card = browser.find_element(By.ID, f"call-{call_id}")

    # Rejecting without a reason is stopped by the browser (the field is required).
    card.find_element(By.CSS_SELECTOR, "button.reject").click()
    assert browser.find_elements(By.ID, f"call-{call_id}")
    reason = card.find_element(By.NAME, "reason")
    reason.send_keys("not this one", Keys.ENTER)

    WebDriverWait(browser, WAIT).until(lambda b: not b.find_elements(By.ID, f"call-{call_id}"))
    notice = browser.find_element(By.CSS_SELECTOR, "ul.messagelist li.success").text
    assert notice == f"Rejected read_file for task {task['id']}."
    screenshot(browser, "1-rejected")
    decided = _call(assistant_server, key, call_id)
    assert (decided["decision"], decided["decision_reason"]) == ("rejected", "not this one")
