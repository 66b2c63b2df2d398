"""The dashboard in a real headless Chromium (Debian's package, driven by Playwright)
against a real `tomoe up`: a simulated vehicle driving ten times faster and the range
estimator applied as a workload. The page loads, the speed gauge moves, a workload's
log opens on click, the signal search finds Vehicle.Speed. Screenshots go to
target/screenshots/.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import jwt
import pytest
from playwright.sync_api import Page, expect, sync_playwright

REPO_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO_ROOT / "target" / "screenshots"
HOST = "127.0.0.1"
# Generous: a loaded CI machine starts a debug build slowly.
STARTUP_S = 60
APPEAR_MS = 30_000


def _tomoe_bin() -> Path:
    configured = os.environ.get("TOMOE_BIN")
    return Path(configured) if configured else REPO_ROOT / "target" / "debug" / "tomoe"


def _chromium() -> str:
    for name in (os.environ.get("CHROMIUM_BIN"), "chromium", "chromium-browser"):
        if name and shutil.which(name):
            return shutil.which(name)
    pytest.fail("chromium is not installed (scripts/browser-test.sh installs Debian's package)", pytrace=False)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _wait_for(path: Path, text: str, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while text not in path.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"waiting for {text!r}:\n{path.read_text(errors='replace')}", pytrace=False)
        time.sleep(0.1)


@contextlib.contextmanager
def _tomoe_up(work: Path, *extra: str):
    """Runs `tomoe up --speed 10` with free loopback ports and `extra` options until
    the block ends; yields the ports and the output file once it is up."""
    ports = {name: _free_port() for name in ("broker", "runtime", "http", "viss")}
    command = [
        str(_tomoe_bin()), "up", "--speed", "10",
        "--address", f"{HOST}:{ports['broker']}",
        "--runtime-address", f"{HOST}:{ports['runtime']}",
        "--http-address", f"{HOST}:{ports['http']}",
        "--data-dir", str(work / "data"),
        "--viss-address", f"{HOST}:{ports['viss']}",
        *extra,
    ]
    stdout = work / "stdout.log"
    with open(stdout, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=work)
    try:
        _wait_for(stdout, "Tomoe is up", process, STARTUP_S)
        _wait_for(stdout, f"ws://{HOST}:{ports['viss']}", process, STARTUP_S)
        yield ports, stdout
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    work = tmp_path_factory.mktemp("dashboard")
    with _tomoe_up(work) as (ports, stdout):
        # The range estimator (apps/range-estimator, built by `cargo build --workspace
        # --bins`) as a workload: it logs a line a second and publishes the range.
        estimator = _tomoe_bin().parent / "range-estimator"
        manifest = work / "apps.yaml"
        manifest.write_text(
            f"""apiVersion: tomoe.dev/v1
kind: Manifest
workloads:
  - name: range-estimator
    command: {estimator}
    args: [--interval, "1"]
    modes: [parked, driving, charging]
    restart:
      policy: on-failure
    access:
      read:
        - Vehicle.Speed
        - Vehicle.Powertrain.TractionBattery.StateOfCharge.Displayed
        - Vehicle.Powertrain.TractionBattery.CurrentVoltage
        - Vehicle.Powertrain.TractionBattery.CurrentCurrent
        - Vehicle.Powertrain.TractionBattery.NetCapacity
      provide:
        - Vehicle.Tomoe.RangeEstimate
        - Vehicle.Tomoe.ConsumptionEstimate
"""
        )
        applied = subprocess.run(
            [str(_tomoe_bin()), "apply", "--runtime", f"http://{HOST}:{ports['runtime']}", str(manifest)],
            capture_output=True, text=True, timeout=60,
        )
        assert applied.returncode == 0, applied.stderr
        yield {"url": f"http://{HOST}:{ports['http']}/", "stdout": stdout}


@pytest.fixture(scope="module")
def browser():
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=_chromium(),
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        )
        yield browser
        browser.close()


def _open(browser, url: str, width: int = 1400, height: int = 1000, setup=None):
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    if setup:
        setup(page)
    page.goto(url)
    return context, page, errors


@pytest.fixture(scope="module")
def page(platform, browser):
    """One dashboard for the module's tests, as a user keeps it open."""
    context, page, errors = _open(browser, platform["url"])
    yield page
    context.close()
    assert not errors, f"the page threw: {errors}"


def test_the_banner_names_the_dashboard(platform):
    assert f"web      {platform['url']}" in platform["stdout"].read_text()


def test_the_dashboard_loads(page: Page):
    expect(page).to_have_title("Tomoe dashboard")
    expect(page.get_by_test_id("sovd-status")).to_have_text("SOVD: connected", timeout=APPEAR_MS)



def test_viss_connects(page: Page):
    expect(page.get_by_test_id("viss-status")).to_have_text("VISS: connected", timeout=APPEAR_MS)


def test_the_speed_gauge_moves_while_the_vehicle_drives(page: Page):
    value = page.get_by_test_id("gauge-speed-value")
    expect(value).not_to_have_text("—", timeout=APPEAR_MS)
    first = value.text_content()
    # The city cycle changes speed every second (ten times faster here); wait,
    # without a deadline on how soon, for the gauge to show another value.
    expect(value).not_to_have_text(first, timeout=APPEAR_MS)
    expect(page.get_by_test_id("gauge-soc-value")).not_to_have_text("—", timeout=APPEAR_MS)
    expect(page.get_by_test_id("gauge-power-value")).not_to_have_text("—", timeout=APPEAR_MS)
    # The range estimator workload publishes the range; the state manager the mode.
    expect(page.get_by_test_id("gauge-range-value")).not_to_have_text("—", timeout=APPEAR_MS)
    expect(page.get_by_test_id("mode-now")).not_to_have_text("unknown", timeout=APPEAR_MS)
    page.screenshot(path=SCREENSHOTS / "dashboard-gauges.png")


def test_a_workloads_log_opens_on_click(page: Page):
    row = page.get_by_test_id("workloads").locator("tr[data-app='range-estimator']")
    expect(row).to_contain_text("running", timeout=APPEAR_MS)
    row.click()
    expect(page.get_by_test_id("log-panel")).to_be_visible()
    expect(page.get_by_test_id("log")).to_contain_text("range_km=", timeout=APPEAR_MS)
    page.screenshot(path=SCREENSHOTS / "dashboard-log.png")


def test_the_signal_search_finds_the_speed(page: Page):
    page.get_by_test_id("search").fill("Vehicle.Speed")
    row = page.get_by_test_id("tree").locator("tr[data-path='Vehicle.Speed']")
    expect(row).to_be_visible(timeout=APPEAR_MS)
    row.click()
    signal = page.get_by_test_id("signal")
    expect(signal).to_contain_text("Vehicle.Speed")
    expect(signal).to_contain_text("km/h")
    expect(page.get_by_test_id("signal-value")).not_to_have_text("—", timeout=APPEAR_MS)
    # Let the history chart fill a little before the picture.
    expect(page.get_by_test_id("chart").locator("polyline")).to_have_count(1, timeout=APPEAR_MS)
    page.screenshot(path=SCREENSHOTS / "dashboard.png", full_page=True)


def test_it_fits_a_phone(platform, browser):
    context, page, errors = _open(browser, platform["url"], width=390, height=844)
    try:
        expect(page.get_by_test_id("sovd-status")).to_have_text("SOVD: connected", timeout=APPEAR_MS)
        # With every panel filled: live values, the workload and its log.
        for gauge in ("speed", "power", "soc", "range"):
            expect(page.get_by_test_id(f"gauge-{gauge}-value")).not_to_have_text("—", timeout=APPEAR_MS)
        page.get_by_test_id("workloads").locator("tr[data-app='range-estimator']").click()
        expect(page.get_by_test_id("log")).to_contain_text("range_km=", timeout=APPEAR_MS)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"the page is {overflow} px wider than the phone"
        page.screenshot(path=SCREENSHOTS / "dashboard-phone.png", full_page=True)
    finally:
        context.close()
    assert not errors, f"the page threw: {errors}"


def test_without_viss_it_says_so_and_the_rest_works(platform, browser):
    # The configuration points at a port where nothing listens.
    unused = _free_port()

    def setup(page):
        page.route(
            "**/dashboard/config.json",
            lambda route: route.fulfill(
                json={"viss_url": f"ws://{HOST}:{unused}", "viss_protocols": [], "token_required": False, "sovd_base": "/sovd/v1"}
            ),
        )

    context, page, errors = _open(browser, platform["url"], setup=setup)
    try:
        expect(page.get_by_test_id("viss-status")).to_have_text("VISS: unavailable", timeout=APPEAR_MS)
        expect(page.get_by_test_id("gauge-speed-value")).to_have_text("—")
        expect(page.get_by_test_id("workloads").locator("tr[data-app='range-estimator']")).to_be_visible(timeout=APPEAR_MS)
    finally:
        context.close()
    assert not errors, f"the page threw: {errors}"


def test_text_from_the_apis_is_never_markup(platform, browser):
    hostile = "<img src=x onerror=\"window.pwned=1\">"

    def setup(page):
        page.route(
            "**/sovd/v1/apps",
            lambda route: route.fulfill(
                json={"items": [{"id": hostile, "name": hostile, "href": "/sovd/v1/apps/x", "tags": ["app"]}]}
            ),
        )

    context, page, errors = _open(browser, platform["url"], setup=setup)
    try:
        expect(page.get_by_test_id("workloads")).to_contain_text(hostile, timeout=APPEAR_MS)
        assert page.get_by_test_id("workloads").locator("img").count() == 0
        assert page.evaluate("window.pwned") is None
    finally:
        context.close()
    assert not errors, f"the page threw: {errors}"


def test_faults_and_updates_show_what_sovd_reports(platform, browser):
    # This platform has no fault and no update agent: SOVD's answers are replaced
    # with documented shapes (docs/diagnostics.md) to see them drawn.
    fault = {"code": "P0A7E", "display_code": "P0A7E", "fault_name": "Battery over temperature",
             "severity": 1, "scope": "vehicle", "status": {"confirmedDTC": "1"}}
    answers = {
        "/sovd/v1/components/bms/faults": {"items": [fault]},
        "/sovd/v1/components/update-agent/data/status": {"id": "status", "data": "installing"},
        "/sovd/v1/updates": {"items": ["install-1"]},
        "/sovd/v1/updates/install-1/status": {"phase": "install", "status": "inProgress", "progress": 40, "step": "downloading"},
    }

    def setup(page):
        def answer(route):
            path = "/" + route.request.url.split("/", 3)[3].split("?")[0]
            if path in answers:
                route.fulfill(json=answers[path])
            else:
                route.continue_()

        page.route("**/sovd/v1/**", answer)

    context, page, errors = _open(browser, platform["url"], setup=setup)
    try:
        faults = page.get_by_test_id("faults")
        expect(faults).to_contain_text("P0A7E", timeout=APPEAR_MS)
        expect(faults).to_contain_text("Battery over temperature")
        expect(page.get_by_test_id("ota-agent")).to_have_text("Update agent: installing", timeout=APPEAR_MS)
        updates = page.get_by_test_id("updates")
        expect(updates).to_contain_text("install-1", timeout=APPEAR_MS)
        expect(updates).to_contain_text("inProgress")
        expect(updates).to_contain_text("40 %")
    finally:
        context.close()
    assert not errors, f"the page threw: {errors}"


# With `--jwt-public-key`, the page asks for a token and sends it to both APIs.

JWT_KEYS = REPO_ROOT / "crates" / "tomoe" / "tests" / "fixtures" / "jwt"


def _token(scope: str, key: str = "signing.key", lifetime: int = 300) -> str:
    """An RS256 JWT signed with a fixture key, as crates/tomoe/tests/support makes them."""
    now = int(time.time())
    claims = {"sub": "dashboard-user", "iss": "tomoe-browser-test", "aud": ["kuksa.val"],
              "iat": now, "exp": now + lifetime, "scope": scope}
    return jwt.encode(claims, (JWT_KEYS / key).read_text(), algorithm="RS256")


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    work = tmp_path_factory.mktemp("dashboard-tokens")
    with _tomoe_up(work, "--jwt-public-key", str(JWT_KEYS / "signing.pub")) as (ports, _):
        yield f"http://{HOST}:{ports['http']}/"


def test_with_token_keys_the_page_asks_for_a_token_and_uses_it(secured, browser):
    context, page, errors = _open(browser, secured)
    try:
        form = page.locator("#token-form")
        expect(form).to_be_visible(timeout=APPEAR_MS)
        # Without a token both APIs refuse, and the badges say why.
        expect(page.get_by_test_id("viss-status")).to_have_text("VISS: token needed", timeout=APPEAR_MS)
        expect(page.get_by_test_id("sovd-status")).to_have_text("SOVD: token refused", timeout=APPEAR_MS)
        expect(page.get_by_test_id("gauge-speed-value")).to_have_text("—")
        # A token of another key is refused as well.
        page.locator("#token").fill(_token("read:Vehicle diag", key="other.key"))
        page.locator("#token-form button").click()
        expect(page.get_by_test_id("viss-status")).to_have_text("VISS: token refused", timeout=APPEAR_MS)
        # The right token: the page reloads with it and both APIs answer.
        page.locator("#token").fill(_token("read:Vehicle diag"))
        page.locator("#token-form button").click()
        expect(page.get_by_test_id("viss-status")).to_have_text("VISS: connected", timeout=APPEAR_MS)
        expect(page.get_by_test_id("sovd-status")).to_have_text("SOVD: connected", timeout=APPEAR_MS)
        expect(page.get_by_test_id("gauge-speed-value")).not_to_have_text("—", timeout=APPEAR_MS)
        page.get_by_test_id("search").fill("Vehicle.Speed")
        expect(page.get_by_test_id("tree").locator("tr[data-path='Vehicle.Speed']")).to_be_visible(timeout=APPEAR_MS)
        # Kept for the tab only: a new tab asks again.
        assert page.evaluate("sessionStorage.getItem('tomoe-token')")
        page.screenshot(path=SCREENSHOTS / "dashboard-token.png")
    finally:
        context.close()
    assert not errors, f"the page threw: {errors}"
