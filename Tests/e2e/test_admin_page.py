# Over 400 lines: one browser session and gateway for every view of the page; starting Chromium per module is slow.
"""Browser tests of the built-in admin page (`GET /admin`), in a real headless Chromium.

This module runs its own gateway on the seed below (built-in `mock` provider only):

    chat -> v1 (default, 100), v2 (0)
    <img src=x onerror=alert(1)> -> v1 (a model named like an HTML payload)

and drives the page with Selenium: log in with the admin token, move the canary
split with the page's slider and its 0.01 % number input, make v2 the default,
roll back, and check every change through the admin API. A second gateway serves a
single request, to read the chart axes at a rate that low. Names an attacker could
choose (a model's name, a user's `name`, an experiment's `name`, `description` and
variant names)
are set to an HTML payload and must show as literal text, with no alert and no
injected element. The overview is saved as `.build/artifacts/admin-overview.png`.

Needs `selenium` (PyPI) and Chromium with its driver (Debian: `chromium`,
`chromium-driver`; `make browser-deps` installs them); the module is skipped
without them. Everything listens on 127.0.0.1; every wait is bounded.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx
import pytest

from conftest import REPO_ROOT, GatewaySeed, bearer_client, chat, start_gateway

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
CHROMEDRIVER_CANDIDATES = ("/usr/bin/chromedriver",)


def _first_executable(candidates: tuple[str, ...], name: str) -> str | None:
    for path in candidates:
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return shutil.which(name)


CHROMIUM = _first_executable(CHROMIUM_CANDIDATES, "chromium")
CHROMEDRIVER = _first_executable(CHROMEDRIVER_CANDIDATES, "chromedriver")
if CHROMIUM is None or CHROMEDRIVER is None:
    pytest.skip(
        "admin page browser tests need Chromium and chromedriver (/usr/bin/chromium, /usr/bin/chromedriver; "
        "Debian packages chromium and chromium-driver, installed by `make browser-deps`)",
        allow_module_level=True,
    )
webdriver = pytest.importorskip(
    "selenium.webdriver", reason="admin page browser tests need selenium (pip install selenium)")

from selenium.common.exceptions import (  # noqa: E402
    NoAlertPresentException, StaleElementReferenceException, TimeoutException)
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.remote.webelement import WebElement  # noqa: E402
from selenium.webdriver.support.select import Select  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

ADMIN_TOKEN = "e2e-admin-page-token"
USER_TOKEN = "sk-admin-page-e2e-user"
HOSTILE = "<img src=x onerror=alert(1)>"
WAIT_SECONDS = 15
ARTIFACTS = REPO_ROOT / ".build" / "artifacts"
PAGE_SOURCES = REPO_ROOT / "Sources" / "SwitchyardGateway" / "Resources" / "admin"
SCREENSHOT = ARTIFACTS / "admin-overview.png"

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "frame-ancestors 'none'; base-uri 'none'; form-action 'none'")

SEED = f"""\
[server]
admin_token = "{ADMIN_TOKEN}"

[settings]
max_retries = 0
health_check_interval_seconds = 0

[providers.mock]
format = "mock"

[models.chat.versions.v1]
weight = 100
default = true
backends = [ {{ provider = "mock", model = "chat-v1", mock = {{ latency_ms = 5 }} }} ]
[models.chat.versions.v2]
weight = 0
backends = [ {{ provider = "mock", model = "chat-v2", mock = {{ latency_ms = 5 }} }} ]

# The seed takes any model name (TOML quoted key); the page lists it with the others.
[models."{HOSTILE}"]
backends = [ {{ provider = "mock", model = "hostile" }} ]

[users.tester]
name = "{HOSTILE}"
token = "{USER_TOKEN}"
"""


# ---------------------------------------------------------------------------
# Fixtures and helpers
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gateway_seed() -> GatewaySeed:
    return GatewaySeed(SEED, ADMIN_TOKEN, USER_TOKEN)


@pytest.fixture()
def quiet_gateway(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A gateway of its own that has served nothing yet, for a rate as low as one request."""
    with start_gateway(SEED, tmp_path, request.config) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def hostile_objects(admin: httpx.Client) -> dict[str, Any]:
    """A user and an experiment whose free-text fields carry the HTML payload."""
    user = admin.post("/api/users", json={"id": "mallory", "name": HOSTILE})
    assert user.status_code == 201, user.text
    experiment = admin.post("/api/experiments", json={
        "name": HOSTILE, "description": f"description {HOSTILE}", "model": "chat", "control": "a",
        "variants": [{"id": "a", "name": f"A {HOSTILE}", "version": "v1", "weight": 1},
                     {"id": "b", "name": "B", "version": "v2", "weight": 1}]})
    assert experiment.status_code == 201, experiment.text
    return {"user": user.json(), "experiment": experiment.json()}


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--no-proxy-server", "--window-size=1400,1100", "--no-first-run",
                     f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(WAIT_SECONDS)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(driver: Any, condition: Callable[[Any], Any], what: str, timeout: float = WAIT_SECONDS) -> Any:
    try:
        # The page redraws views after every change: an element found a moment ago may be gone.
        return WebDriverWait(driver, timeout, poll_frequency=0.1,
                             ignored_exceptions=(StaleElementReferenceException,)).until(condition)
    except TimeoutException:
        flash = driver.find_elements(By.ID, "flash")
        shown = flash[0].text if flash and flash[0].is_displayed() else None
        pytest.fail(f"timed out after {timeout}s waiting for {what} (page notice: {shown!r}, url: {driver.current_url})")


def by_testid(driver: Any, testid: str) -> WebElement:
    return wait_for(driver, lambda d: next((e for e in d.find_elements(By.CSS_SELECTOR, f'[data-testid="{testid}"]')
                                            if e.is_displayed()), None), f"[data-testid={testid}]")


def visible(driver: Any, element_id: str) -> WebElement:
    return wait_for(driver, lambda d: next((e for e in d.find_elements(By.ID, element_id) if e.is_displayed()), None),
                    f"#{element_id}")


def open_page(driver: Any, gateway: str, route: str) -> None:
    driver.get(f"{gateway}/admin#/{route}")
    visible(driver, f"view-{route.split('/')[0]}")


def login(driver: Any, gateway: str, token: str = ADMIN_TOKEN) -> None:
    driver.get(f"{gateway}/admin")
    driver.execute_script("window.sessionStorage.clear()")
    driver.get(f"{gateway}/admin#/overview")
    field = visible(driver, "login-token")
    field.clear()
    field.send_keys(token)
    visible(driver, "login-submit").click()


def release(admin: httpx.Client) -> dict[str, Any]:
    response = admin.get("/api/models/chat/release")
    assert response.status_code == 200, response.text
    return response.json()


def wait_for_release(admin: httpx.Client, predicate: Callable[[dict[str, Any]], bool], what: str) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT_SECONDS
    current = release(admin)
    while not predicate(current):
        if time.monotonic() > deadline:
            pytest.fail(f"the release of chat never showed {what}; last: default={current['default']}, split={current['split']}")
        time.sleep(0.1)
        current = release(admin)
    return current


def browser_problems(driver: Any, expected_statuses: tuple[int, ...] = (401,)) -> list[str]:
    """Console errors and CSP violations logged since the last call.

    Chromium logs every API error answer as a failed resource; those with `expected_statuses`
    are caused on purpose (401: the login tests) and left out.
    """
    problems = []
    for entry in driver.get_log("browser"):
        message = entry.get("message", "")
        if "favicon" in message or any(f"status of {status}" in message for status in expected_statuses):
            continue
        if entry.get("level") == "SEVERE" or "Content Security Policy" in message or "Refused to" in message:
            problems.append(message)
    return problems


def assert_no_alert(driver: Any) -> None:
    try:
        alert = driver.switch_to.alert
    except NoAlertPresentException:
        return
    text = alert.text
    alert.dismiss()
    pytest.fail(f"an alert fired: {text!r}")


def send_chat(user_http: httpx.Client, count: int) -> None:
    for index in range(count):
        response = chat(user_http, "chat", f"end-user-{index}", f"hello {index}")
        assert response.status_code == 200, response.text


# ---------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------


def test_page_is_served_with_strict_headers(http: httpx.Client) -> None:
    page = http.get("/admin")
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    csp = page.headers.get("content-security-policy")
    assert csp is not None, "no Content-Security-Policy header on /admin"
    directives = {part.strip() for part in csp.split(";") if part.strip()}
    assert directives == {part.strip() for part in CSP.split(";")}, csp
    assert page.headers.get("x-content-type-options") == "nosniff"
    assert page.headers.get("referrer-policy") == "no-referrer"
    assert '<script type="module" src="/admin/app.js"' in page.text
    # Every module in the source folder is served (app.js imports the others), JavaScript under nosniff.
    modules = sorted(path.name for path in PAGE_SOURCES.glob("*.js"))
    assert "app.js" in modules and "api.js" in modules, modules
    assets = [(f"/admin/{name}", "text/javascript") for name in modules] + [("/admin/app.css", "text/css")]
    for path, kind in assets:
        asset = http.get(path)
        assert asset.status_code == 200, f"{path}: {asset.status_code}"
        assert asset.headers["content-type"].startswith(kind), f"{path}: {asset.headers['content-type']}"
        assert asset.headers.get("x-content-type-options") == "nosniff", path
        # Only api.js spells out the admin API's paths (its one table of them).
        if path != "/admin/api.js":
            assert '"/api/' not in asset.text and "`/api/" not in asset.text, f"{path} names an API path"
    # The page itself needs no token; the API behind it does.
    assert http.get("/api/models/chat/release").status_code == 401


def test_login_rejects_a_wrong_token_and_keeps_the_right_one_in_session_storage(browser: Any, gateway: str) -> None:
    login(browser, gateway, token="not-the-admin-token")
    error = visible(browser, "login-error")
    assert "refused" in error.text.lower()
    assert browser.execute_script("return window.sessionStorage.getItem('switchyard.adminToken')") is None

    login(browser, gateway)
    visible(browser, "view-overview")
    assert browser.execute_script("return window.sessionStorage.getItem('switchyard.adminToken')") == ADMIN_TOKEN
    assert not browser.find_element(By.ID, "login").is_displayed()
    assert browser_problems(browser) == []


def test_overview_draws_charts_and_is_saved_as_a_screenshot(browser: Any, gateway: str, user_http: httpx.Client) -> None:
    send_chat(user_http, 30)
    time.sleep(0.6)  # outcomes reach the database within about 250 ms
    login(browser, gateway)
    visible(browser, "view-overview")
    for chart in ("chart-rps", "chart-errors", "chart-p95"):
        svg = by_testid(browser, chart)
        assert svg.tag_name == "svg"
    # The requests chart has a line for the traffic just sent.
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, '[data-testid="chart-rps"] path.line'), "a drawn line")
    facts = by_testid(browser, "system-facts").text
    assert "Uptime" in facts and "Running rollouts" in facts

    def requests_shown(driver: Any) -> bool:
        first = by_testid(driver, "tile-requests").text.split()[0].replace(",", "")
        return first.isdigit() and int(first) >= 30

    wait_for(browser, requests_shown, "the 30 requests in the overview (it refreshes every 5 s)")

    def chat_requests_by_endpoint(driver: Any) -> int:
        for line in by_testid(driver, "endpoint-usage").text.splitlines():
            if line.startswith("/v1/chat/completions "):
                return int(line.split()[1].replace(",", ""))
        return 0

    wait_for(browser, lambda d: chat_requests_by_endpoint(d) >= 30, "the chat requests in the table by client API")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(SCREENSHOT)), "screenshot not saved"
    assert SCREENSHOT.stat().st_size > 10_000
    assert browser_problems(browser) == []


def axis_labels(driver: Any, chart: str, axis: str) -> list[str]:
    return [label.text for label in driver.find_elements(By.CSS_SELECTOR, f'[data-testid="{chart}"] text.axis-label.{axis}')]


def test_chart_axes_repeat_no_label_at_a_low_rate(browser: Any, quiet_gateway: str) -> None:
    with bearer_client(quiet_gateway, USER_TOKEN) as user_http:
        send_chat(user_http, 1)
    time.sleep(0.6)  # outcomes reach the database within about 250 ms
    login(browser, quiet_gateway)
    visible(browser, "view-overview")

    def labels_after(range_value: str, expected_rps: list[str]) -> None:
        Select(visible(browser, "overview-range")).select_by_value(range_value)
        # One request in one bucket (60 s for the last hour, 900 s for 24 hours): ticks at 1/2/5 steps.
        wait_for(browser, lambda d: axis_labels(d, "chart-rps", "y") == expected_rps,
                 f"the requests axis {expected_rps} over {range_value}")
        for chart in ("chart-rps", "chart-errors", "chart-p95"):
            for axis in ("x", "y"):
                labels = axis_labels(browser, chart, axis)
                assert labels and len(set(labels)) == len(labels), f"{chart} {axis} over {range_value}: {labels}"

    # Once 0, 0.01, 0.01, 0.01, 0.02 (0.005 and 0.015 rounded to two decimals).
    labels_after("1h", ["0", "0.005", "0.01", "0.015", "0.02"])
    # Once 0 five times; and 24 hours apart, the first and last time of day read the same.
    labels_after("24h", ["0", "0.0005", "0.001", "0.0015"])
    assert browser_problems(browser) == []


def test_split_editor_moves_the_canary_with_the_slider_and_the_number_input(
        browser: Any, gateway: str, admin: httpx.Client) -> None:
    login(browser, gateway)
    visible(browser, "view-overview")
    open_page(browser, gateway, "models/chat")

    # The slider moves in 1 % steps: five steps right from 0 is 5 %.
    slider = visible(browser, "split-slider-v2")
    assert slider.get_attribute("type") == "range"
    slider.send_keys(Keys.ARROW_RIGHT * 5)
    assert visible(browser, "split-input-v2").get_attribute("value") == "5"
    assert "95" in by_testid(browser, "split-default-preview").text
    visible(browser, "split-apply-v2").click()
    current = wait_for_release(admin, lambda r: r["split"].get("v2") == 5, "v2 at 5 %")
    assert current["split"] == {"v1": 95, "v2": 5}
    assert current["default"] == "v1"

    # The number input takes 0.01 % steps.
    wait_for(browser, lambda d: d.find_element(By.ID, "split-input-v2").get_attribute("value") == "5", "the redrawn editor")
    number = visible(browser, "split-input-v2")
    number.clear()
    number.send_keys("0.05")
    visible(browser, "split-apply-v2").click()
    current = wait_for_release(admin, lambda r: r["split"].get("v2") == 0.05, "v2 at 0.05 %")
    assert current["split"] == {"v1": 99.95, "v2": 0.05}
    # The page shows the new split.
    wait_for(browser, lambda d: "v2 0.05 %" in by_testid(d, "release-facts").text, "the new split on the page")

    # An invalid share is refused in the page, without calling the API.
    number = visible(browser, "split-input-v2")
    number.clear()
    number.send_keys("0.125")
    visible(browser, "split-apply-v2").click()
    wait_for(browser, lambda d: "two decimals" in d.find_element(By.ID, "flash").text, "the page's refusal")
    assert release(admin)["split"] == {"v1": 99.95, "v2": 0.05}
    assert browser_problems(browser) == []


def test_set_default_and_rollback_from_the_page(browser: Any, gateway: str, admin: httpx.Client) -> None:
    login(browser, gateway)
    visible(browser, "view-overview")
    open_page(browser, gateway, "models/chat")

    # Make v2 the default: the split stays, v1 is remembered.
    Select(visible(browser, "default-version")).select_by_value("v2")
    visible(browser, "set-default").click()
    current = wait_for_release(admin, lambda r: r["default"] == "v2", "v2 as the default")
    assert current["previous_default"] == "v1"

    # Rollback asks first, in the page; cancelling changes nothing.
    wait_for(browser, lambda d: "previous default (v1)" in Select(d.find_element(By.ID, "rollback-target")).first_selected_option.text,
             "the previous default as the rollback target")
    visible(browser, "rollback-btn").click()
    by_testid(browser, "rollback-btn-cancel").click()
    visible(browser, "rollback-btn")
    assert release(admin)["default"] == "v2"

    visible(browser, "rollback-btn").click()
    visible(browser, "rollback-btn-confirm").click()
    current = wait_for_release(admin, lambda r: r["default"] == "v1", "the rollback to v1")
    assert current["split"] == {"v1": 100, "v2": 0}
    wait_for(browser, lambda d: "v1 100 %, v2 0 %" in by_testid(d, "release-facts").text, "the rolled-back split on the page")

    audit = admin.get("/api/audit", params={"object": "model:chat", "limit": 10})
    assert audit.status_code == 200, audit.text
    actions = [entry["action"] for entry in audit.json()["entries"]]
    assert actions[:2] == ["rollback", "set_default"], actions
    assert browser_problems(browser) == []


def test_hostile_names_show_as_literal_text(browser: Any, gateway: str, hostile_objects: dict[str, Any]) -> None:
    login(browser, gateway)
    visible(browser, "view-overview")
    experiment_id = hostile_objects["experiment"]["id"]
    for route in ("overview", "models/chat", "backends", "users", "experiments", f"experiments/{experiment_id}", "audit"):
        open_page(browser, gateway, route)
        if route == "overview":
            legend = by_testid(browser, "overview-charts")
            wait_for(browser, lambda d: f"{HOSTILE} / v1" in legend.text, "the model in the chart legend")
        elif route == "models/chat":
            assert HOSTILE in by_testid(browser, "models-table").text
        elif route == "backends":
            assert HOSTILE in by_testid(browser, "backends-table").text
        elif route == "users":
            table = by_testid(browser, "users-table")
            wait_for(browser, lambda d: "mallory" in table.text, "the user mallory")
            # Both the seeded user and the one created through the API.
            assert table.text.count(HOSTILE) == 2, table.text
        elif route == "experiments":
            table = by_testid(browser, "experiments-table")
            assert HOSTILE in table.text
            assert f"description {HOSTILE}" in table.text
            assert f"A {HOSTILE}" in table.text
        elif route.startswith("experiments/"):
            results = by_testid(browser, "results-variants")
            assert f"A {HOSTILE}" in results.text
        else:
            by_testid(browser, "audit-table")
            # In the collapsed before/after JSON of the user's creation.
            assert HOSTILE in browser.execute_script(
                "return document.querySelector('[data-testid=audit-table]').textContent")
        # The text is in the DOM as text ...
        holders = browser.find_elements(By.XPATH, f'//*[contains(text(), "{HOSTILE}")]')
        assert holders, f"{route}: the name is not in the DOM as text"
        # ... and no element came of it.
        assert browser.find_elements(By.TAG_NAME, "img") == [], route
        assert browser.find_elements(By.CSS_SELECTOR, "[onerror]") == [], route
        assert browser.execute_script("return document.querySelectorAll('#view img, #view [onerror]').length") == 0
        assert_no_alert(browser)
    assert browser_problems(browser) == []


def test_an_invalid_seed_file_is_shown_on_every_view(
        browser: Any, gateway: str, admin: httpx.Client, gateway_workdir: Path) -> None:
    seed = gateway_workdir / "seed.toml"
    original = seed.read_text()
    assert original.count("weight = 0\n") == 1
    seed.write_text(original.replace("weight = 0\n", "weight = 0.125\n"))
    try:
        login(browser, gateway)
        visible(browser, "view-overview")
        open_page(browser, gateway, "config")
        visible(browser, "config-reload").click()
        wait_for(browser, lambda d: "(field: models.chat.versions.v2.weight)" in d.find_element(By.ID, "flash").text,
                 "the reload's refusal with its field")
        errors = by_testid(browser, "config-errors")
        assert "models.chat.versions.v2.weight" in errors.text and "0.125" in errors.text
        assert "invalid" in by_testid(browser, "config-status").text
        for route in ("config", "users", "models/chat"):
            open_page(browser, gateway, route)
            banner = visible(browser, "config-banner")
            assert "invalid" in banner.text.lower() and "models.chat.versions.v2.weight" in banner.text, route
        status = admin.get("/api/config/status").json()
        assert status["result"] == "invalid", status
        # Nothing of the invalid file was applied.
        assert release(admin)["split"] == {"v1": 100, "v2": 0}
    finally:
        seed.write_text(original)
        reloaded = admin.post("/api/config/reload")
        assert reloaded.status_code == 200, reloaded.text
    assert reloaded.json()["result"] in ("applied", "unchanged")
    open_page(browser, gateway, "overview")
    wait_for(browser, lambda d: not d.find_element(By.ID, "config-banner").is_displayed(), "the banner to go")
    assert browser_problems(browser, expected_statuses=(401, 422)) == []


def test_a_refused_token_returns_to_the_login_form_and_logout_clears_it(browser: Any, gateway: str) -> None:
    login(browser, gateway)
    visible(browser, "view-overview")
    visible(browser, "logout").click()
    visible(browser, "login-token")
    assert browser.execute_script("return window.sessionStorage.getItem('switchyard.adminToken')") is None

    # A stale token: the first API call answers 401 and the page asks again.
    browser.execute_script("window.sessionStorage.setItem('switchyard.adminToken', 'stale-token')")
    browser.get(f"{gateway}/admin#/users")
    visible(browser, "login-token")
    assert "log in again" in visible(browser, "login-error").text.lower()
    assert browser.execute_script("return window.sessionStorage.getItem('switchyard.adminToken')") is None
    assert browser_problems(browser) == []


def rollout_of_chat(admin: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    response = admin.post("/api/models/chat/rollouts", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def test_rollouts_view_lists_the_history_and_opens_a_rollouts_timeline(
        browser: Any, gateway: str, admin: httpx.Client, user_http: httpx.Client) -> None:
    first = rollout_of_chat(admin, {"canary": "v2", "steps": [{"set_weight": 50}, {"pause": {}}],
                                    "analysis": {"interval": "1s", "min_requests": 5}})
    send_chat(user_http, 40)
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        evaluations = admin.get(f"/api/rollouts/{first['id']}").json()["evaluations"]
        if sum(1 for e in evaluations if e["result"] == "pass") >= 2:
            break
        assert time.monotonic() < deadline, f"no two passing evaluations: {evaluations}"
        time.sleep(0.2)

    # The running rollout: its evaluations as a timeline (canary and stable lines) and its decisions.
    login(browser, gateway)
    visible(browser, "view-overview")
    open_page(browser, gateway, "rollouts/chat")
    wait_for(browser, lambda d: by_testid(d, "rollout").get_attribute("data-id") == first["id"], "the running rollout")
    for chart in ("rollout-chart-errors", "rollout-chart-p95"):
        wait_for(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, f'[data-testid="{chart}"] path.line')) == 2,
                 f"the canary and stable lines of {chart}")
    decisions = by_testid(browser, "evaluations-table").text
    assert "continue" in decisions and "max_error_rate_increase" in decisions, decisions

    # Its controls still work: abort from the page.
    visible(browser, "rollout-abort").click()
    visible(browser, "rollout-abort-confirm").click()
    wait_for(browser, lambda d: admin.get(f"/api/rollouts/{first['id']}").json()["state"] == "aborted", "the abort")

    second = rollout_of_chat(admin, {"canary": "v2", "steps": [{"set_weight": 1}, {"pause": {}}]})
    assert admin.post(f"/api/rollouts/{second['id']}/abort").status_code == 200

    # The history, newest first; no rollout runs, so the latest is shown above it. (The page is on
    # this route already, and going to the same URL again may not draw it again: reload.)
    browser.refresh()
    visible(browser, "view-rollouts")
    wait_for(browser, lambda d: by_testid(d, "rollout").get_attribute("data-id") == second["id"], "the latest rollout")
    by_testid(browser, "rollout-history")
    rows = browser.find_elements(By.CSS_SELECTOR, '[data-testid="rollout-history-row"]')
    assert [r.get_attribute("data-id") for r in rows][:2] == [second["id"], first["id"]]
    assert "aborted" in rows[1].text and "2 of 2" in rows[1].text, rows[1].text

    # A row opens its rollout: the timeline of a finished one, with when it ended.
    rows[1].click()
    wait_for(browser, lambda d: d.current_url.endswith(f"#/rollouts/chat/{first['id']}"), "the opened rollout's route")
    wait_for(browser, lambda d: by_testid(d, "rollout").get_attribute("data-id") == first["id"], "the opened rollout")
    wait_for(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, '[data-testid="rollout-chart-errors"] path.line')) == 2,
             "the opened rollout's timeline")
    facts = by_testid(browser, "rollout-facts").text
    assert "aborted" in facts and "Ended" in facts and "running" not in facts, facts
    assert by_testid(browser, "rollout-promote").get_attribute("disabled") is not None

    # Filtered by state: neither rollout of chat was promoted.
    Select(by_testid(browser, "rollout-history-state")).select_by_value("promoted")
    wait_for(browser, lambda d: not d.find_elements(By.CSS_SELECTOR, '[data-testid="rollout-history-row"]'), "an empty filtered list")
    assert browser_problems(browser) == []


def test_the_shadow_panel_sets_shows_and_stops_a_shadow(browser: Any, gateway: str, admin: httpx.Client, user_http: httpx.Client) -> None:
    login(browser, gateway)
    visible(browser, "view-overview")
    open_page(browser, gateway, "models/chat")
    wait_for(browser, lambda d: "Shadow\nnone" in by_testid(d, "shadow-facts").text or "none" in by_testid(d, "shadow-facts").text,
             "no shadow yet")

    Select(by_testid(browser, "shadow-version")).select_by_value("v2")
    share = by_testid(browser, "shadow-share")
    share.clear()
    share.send_keys("100")
    by_testid(browser, "shadow-save").click()
    deadline = time.monotonic() + WAIT_SECONDS
    while admin.get("/api/models/chat/shadow").json()["shadow"] is None and time.monotonic() < deadline:
        time.sleep(0.1)
    state = admin.get("/api/models/chat/shadow").json()
    assert state["shadow"] == {"version": "v2", "share": 100, "max_in_flight": 16, "keep_examples": 0}, state

    for index in range(6):
        assert chat(user_http, "chat", user=f"shadowed-page-{index}").status_code == 200
    while admin.get("/api/models/chat/shadow/results").json()["shadow"]["requests"] < 6 and time.monotonic() < deadline:
        time.sleep(0.1)
    browser.refresh()  # the same route again: a reload, not a hash change
    comparison = by_testid(browser, "shadow-comparison")
    assert "Latency p95" in comparison.text and "Cost per request" in comparison.text
    wait_for(browser, lambda d: "6 sent" in by_testid(d, "shadow-agreement").text, "the copies on the page")
    assert len(by_testid(browser, "shadow-histogram").find_elements(By.CLASS_NAME, "histogram-bar")) == 10
    browser.execute_script("arguments[0].scrollIntoView()", by_testid(browser, "shadow-box"))
    assert browser.save_screenshot(str(SCREENSHOT.with_name("admin-shadow.png"))), "screenshot not saved"

    by_testid(browser, "shadow-stop").click()
    by_testid(browser, "shadow-stop-confirm").click()
    deadline = time.monotonic() + WAIT_SECONDS
    while admin.get("/api/models/chat/shadow").json()["shadow"] is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert admin.get("/api/models/chat/shadow").json()["shadow"] is None
    assert browser_problems(browser) == []
