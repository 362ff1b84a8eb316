"""The console in a real headless Chromium, next to the five real services: an operator signs in, sees a new report
arrive on the live board without a reload, opens the case, escalates it through dispatch, and finds it on the map.

Chromium is driven over the W3C WebDriver protocol that Debian's chromedriver speaks, with a few plain HTTP calls,
so nothing is downloaded at test time. Screenshots are kept under var/screenshots/ and their paths printed.
"""

from __future__ import annotations

import base64
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest
import requests

from gridlink.devstack import sample_request
from gridlink.refdata import load_grid_map
from gridlink.runtime.auth import DEFAULT_SECRET, issue_token
from gridlink.runtime.config import REPO_ROOT
from tests.polling import wait_for

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
SCREENSHOTS = REPO_ROOT / "var" / "screenshots"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"  # the W3C key of an element reference

pytestmark = pytest.mark.e2e


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Browser:
    """Just enough of WebDriver: open, find, type, click, read, run a script, screenshot."""

    def __init__(self, driver_url: str, profile: str):
        self.url = driver_url
        options = {
            "binary": CHROMIUM,
            "args": [
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--window-size=1400,1000",
                f"--user-data-dir={profile}",
            ],
        }
        caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": options}}}
        self.session = self._call("POST", "/session", caps)["sessionId"]

    def _call(self, method: str, path: str, body: dict | None = None):
        response = requests.request(method, self.url + path, json=body, timeout=60)
        value = response.json().get("value")
        if response.status_code != 200:
            raise AssertionError(f"WebDriver {method} {path}: {value}")
        return value

    def _s(self, method: str, path: str, body: dict | None = None):
        return self._call(method, f"/session/{self.session}{path}", body)

    def open(self, url: str) -> None:
        self._s("POST", "/url", {"url": url})

    def find(self, css: str) -> str:
        return self._s("POST", "/element", {"using": "css selector", "value": css})[ELEMENT]

    def wait_find(self, css: str, timeout: float = 30.0) -> str:
        def probe():
            try:
                return self.find(css)
            except AssertionError:
                return None

        return wait_for(probe, timeout=timeout, interval=0.2, what=f"element {css}")

    def type(self, css: str, text: str) -> None:
        self._s("POST", f"/element/{self.find(css)}/value", {"text": text})

    def click(self, css: str) -> None:
        self._s("POST", f"/element/{self.wait_find(css)}/click", {})

    def text(self, css: str) -> str:
        return self._s("GET", f"/element/{self.find(css)}/text")

    def wait_text(self, css: str, wanted: str, timeout: float = 30.0) -> str:
        """The element's text once it holds `wanted`; the element may appear only later."""

        def probe():
            try:
                text = self.text(css)
            except AssertionError:  # not there yet
                return None
            return text if wanted in text else None

        return wait_for(probe, timeout=timeout, interval=0.2, what=f"{wanted!r} in {css}")

    def run(self, script: str, *args):
        return self._s("POST", "/execute/sync", {"script": script, "args": list(args)})

    def current_url(self) -> str:
        return self._s("GET", "/url")

    def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"console-{name}.png"
        path.write_bytes(base64.b64decode(self._s("GET", "/screenshot")))
        print(f"screenshot: {path}")
        return path

    def quit(self) -> None:
        self._s("DELETE", "")


@pytest.fixture(scope="module")
def browser():
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        message = "headless Chromium is needed: apt-get install -y chromium chromium-driver"
        if IN_CI:
            pytest.fail(f"{message} (under CI=true a missing browser fails the run)", pytrace=False)
        pytest.skip(message)
    port = free_port()
    driver = subprocess.Popen([CHROMEDRIVER, f"--port={port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    profile = tempfile.mkdtemp(prefix="gridlink-chromium-")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _answers(url + "/status"), timeout=30, what="chromedriver")
        browser = Browser(url, profile)
        yield browser
        browser.quit()
    finally:
        driver.terminate()
        driver.wait(timeout=30)
        shutil.rmtree(profile, ignore_errors=True)


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


@pytest.fixture(scope="module")
def console(stack, databases):
    """The console as a sixth process on the shared stack's broker, with its own database."""
    if "console" in stack.processes:  # the stack already runs it, once devstack lists the console
        yield stack.url("console")
        return
    stack.ports["console"] = free_port()
    stack.database_urls["console"] = databases("console")
    subprocess.run([sys.executable, "-m", "console", "migrate"], env=stack.service_env("console"), check=True)
    stack.start("console")  # service_env points it at this stack's dispatch and notification
    try:
        stack.wait_ready(["console"], timeout=90)
        yield stack.url("console")
    finally:
        stack.kill("console", signal.SIGTERM)


def test_an_operator_watches_a_report_arrive_live_opens_it_and_escalates_it(stack, console, browser):
    body, _ = sample_request()
    grid = load_grid_map().locate(body["lat"], body["long"])
    operator = issue_token(DEFAULT_SECRET, "S9001", "sub_centre_operator", grid.sub_centre_code)

    browser.open(console + "/login")
    browser.type("#token", operator)
    browser.click("#login-submit")
    wait_for(lambda: browser.current_url().endswith("/board"), what="the live board after signing in")
    assert browser.run("return document.cookie.includes('gridlink_console')") is False  # HttpOnly
    browser.wait_text("#live-status", "live")
    browser.run("window.__sameDocument = 'yes'")  # gone if the page reloads
    browser.screenshot("1-board-before")

    body["description"] = f"楼道灯不亮，已经三天了 ({uuid.uuid4().hex[:6]})"
    response = requests.post(stack.url("intake", "/reports"), json=body, timeout=10)
    assert response.status_code == 201, response.text
    report = response.json()
    tracking, cid = report["tracking_code"], report["report_id"]

    row = f"#board-rows a[href='/cases/{cid}']"
    browser.wait_find(row, timeout=60)
    browser.wait_text("#board-rows", "case_assigned", timeout=60)
    assert browser.run("return window.__sameDocument") == "yes"
    assert tracking in browser.text("#board-rows")
    browser.screenshot("2-board-live")

    # Clicked in the page's own script, where no live update can come between finding the row and clicking it: a
    # WebDriver click aims at the row's position, and a board update that moved the rows in between (seen on a slow
    # machine) sent the click to another case.
    browser.run("document.querySelector(arguments[0]).click()", row)
    wait_for(lambda: browser.current_url().endswith(f"/cases/{cid}"), what="the case view")
    timeline = browser.text("#timeline")
    assert "report " + tracking in timeline and "assigned to" in timeline
    browser.wait_text("#live-status", "live")
    browser.screenshot("3-case")

    browser.click(f"#act-escalate-{cid}")
    result = wait_for(
        lambda: (text := browser.text("#act-result")) and not text.startswith("sending") and text,
        timeout=30,
        what="dispatch's answer to the escalation",
    )
    assert "dispatch answered 200" in result, result
    browser.wait_text("#timeline", "escalated (上报)", timeout=60)
    browser.screenshot("4-case-escalated")

    # The messages come from notification's staff API with the operator's token, as notification has them when the
    # page is opened: the grid worker's assignment notice, on the inbox among other channels.
    def messages() -> str:
        browser.open(console + f"/cases/{cid}")
        return browser.text("#messages")

    sent = wait_for(lambda: (text := messages()) and "case_assigned to " in text and text, what="the case's messages")
    assert "by inbox: delivered" in sent, sent
    dispatch_case = requests.get(stack.url("dispatch", "/cases"), params={"tracking_code": tracking}, timeout=10)
    assert dispatch_case.json()["cases"][0]["tier"] == "community"

    browser.open(console + f"/map?sub_centre={grid.sub_centre_code}")
    browser.click(f"#g{grid.code}")
    browser.wait_text("#grid-cases", tracking)
    assert browser.text("#panel-title") == grid.name
    assert "full time worker" in browser.text("#grid-staff")
    browser.screenshot("5-map")


def test_the_demo_day_brings_the_district_to_life_on_the_console(stack, console, browser):
    spec = importlib.util.spec_from_file_location("demo_replay", REPO_ROOT / "tools" / "demo" / "replay.py")
    replay = importlib.util.module_from_spec(spec)
    sys.modules["demo_replay"] = replay
    spec.loader.exec_module(replay)
    district = issue_token(DEFAULT_SECRET, "D0001", "district_operator", "150302")
    headers = {"Authorization": f"Bearer {district}"}
    before = requests.get(console + "/api/board", headers=headers, timeout=10).json()["last_seq"]

    assert replay.main(["--intake", stack.url("intake"), "--reports", "24", "--minutes", "0.1", "--seed", "3"]) == 0

    def accepted():
        events = requests.get(console + "/api/board?limit=500", headers=headers, timeout=10).json()["events"]
        return [e for e in events if e["seq"] > before and e["type"] == "report_accepted"]

    # intake may fold a near-identical report into an earlier one (a duplicate), so most, not all, are new cases
    reports = wait_for(lambda: len(accepted()) >= 20 and accepted(), timeout=90, what="the demo's reports")
    channels = {e["line"].rsplit(" via ", 1)[-1] for e in reports}
    assert {"app", "wechat"} <= channels
    grids = requests.get(console + "/api/map?metric=open", headers=headers, timeout=10).json()["grids"]
    assert sum(1 for g in grids.values() if g["open"]) >= 15

    browser.open(console + "/login")  # the district's view this time: all 435 grids
    browser.type("#token", district)
    browser.click("#login-submit")
    wait_for(lambda: browser.current_url().endswith("/board"), what="the live board after signing in")
    browser.screenshot("6-board-after-demo")
    browser.open(console + "/map")
    browser.wait_find("#grid-map path.level-1")
    assert browser.run("return document.querySelectorAll('#grid-map path.grid').length") == 435
    browser.wait_text("#live-status", "live")
    browser.screenshot("7-district-map-after-demo")
