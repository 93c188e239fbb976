"""The web dashboard in a real Chromium against the real gateway (two simulated printers, real
mosquitto, waitress on a free port): live temperatures on the overview, emergency stop of one
printer by keyboard while the other keeps printing, upload/start/pause/resume/cancel from the
printer page, M114 in the terminal, a read key without controls, a wrong key refused, the page
reconnecting by itself after a gateway restart, another gateway's printer listed and stopped through
the fleet endpoints, a firmware prompt shown and answered from the card, a webcam through the
snapshot proxy, no console errors, no horizontal scrolling at 390 px and 1440 px."""

from __future__ import annotations

import http.server
import re
import threading
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.helpers import free_port, wait_for
from tests.helpers.browser import DESKTOP, PHONE, ConsoleLog, chromium, login, no_horizontal_scroll  # noqa: F401
from tests.helpers.rest import ADMIN_KEY, READ_KEY, USER_KEY, WRONG_KEY, Api, ensure_operational, start_gateway

pytestmark = pytest.mark.integration

PRINTERS = [{"id": "p1", "name": "Printer 1", "port": "sim://marlin"},
            {"id": "p2", "name": "Printer 2", "port": "sim://second"}]
#: Dwell lines: the simulator waits in real time, so a job of these lasts long enough to pause.
SLOW_JOB = ("".join(f"G4 P40\nG1 X{i % 100} Y{(i * 7) % 100} F6000\n" for i in range(400))).encode()
TIMEOUT_MS = 15_000
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "gcode"
CAMERA_JPEG = (Path(__file__).resolve().parents[1] / "integrations" / "data" / "camera.jpg").read_bytes()


@pytest.fixture(scope="module")
def dash(broker: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    # mqtt.terminal: the gateway records every line sent and received (the terminal's live stream).
    gateway, api = start_gateway(broker, tmp_path_factory.mktemp("dash"), "dash", PRINTERS,
                                 mqtt={"host": broker.host, "port": broker.port, "base_topic": "dash", "terminal": True})
    try:
        api.wait_operational("p1")
        api.wait_operational("p2")
        yield api
    finally:
        api.session.close()
        gateway.stop()


@pytest.fixture()
def page(chromium: Any, dash: Api) -> Iterator[Any]:
    """A fresh desktop-sized page; the test fails on any console error or page error."""
    context = chromium.new_context(viewport=DESKTOP)
    context.set_default_timeout(TIMEOUT_MS)
    log = ConsoleLog()
    page = log.watch(context.new_page())
    try:
        yield page
        assert log.errors == [], log.errors
    finally:
        context.close()
        for pid in ("p1", "p2"):
            ensure_operational(dash, pid)


def card(page: Any, name: str) -> Any:
    return page.get_by_role("article", name=name, exact=True)


def test_wrong_key_is_refused_clearly(page: Any, dash: Api) -> None:
    login(page, dash.base, WRONG_KEY)
    page.get_by_role("alert").filter(has_text="Login failed: this API key is not valid.").wait_for()
    assert page.get_by_role("article").count() == 0
    assert page.evaluate("sessionStorage.length + localStorage.length") == 0


def test_read_key_sees_everything_and_controls_nothing(chromium: Any, dash: Api) -> None:
    context = chromium.new_context(viewport=PHONE)
    context.set_default_timeout(TIMEOUT_MS)
    log = ConsoleLog()
    page = log.watch(context.new_page())
    try:
        login(page, dash.base, READ_KEY)
        for name in ("Printer 1", "Printer 2"):
            card(page, name).get_by_text("Operational").wait_for()
        assert page.get_by_role("button", name=re.compile("Emergency stop|Stop all")).count() == 0
        assert no_horizontal_scroll(page)
        page.get_by_role("link", name="Open Printer 1").click()
        page.get_by_role("heading", name="Printer 1", level=1).wait_for()
        page.get_by_role("list", name="Files on Printer 1").wait_for()
        # Only "Log out" is a button for a reader: no jog, job, terminal, upload or system controls.
        assert [b.get_attribute("id") for b in page.get_by_role("button").all()] == ["logout"]
        assert page.get_by_role("textbox").count() == 0
        assert no_horizontal_scroll(page)
        # And the API behind the page refuses a reader's request anyway.
        status = page.evaluate("""key => fetch('/printer/p1/api/printer/command', {method: 'POST',
            headers: {'X-Api-Key': key, 'Content-Type': 'application/json'},
            body: JSON.stringify({command: 'M112'})}).then(r => r.status)""", READ_KEY)
        assert status == 403
        assert dash.model("p1").emergency_seen == []
        # 403 is logged by Chromium as a failed resource load; that one was on purpose.
        assert [e for e in log.errors if "403" not in e] == []
    finally:
        context.close()


def test_overview_is_live_and_emergency_stop_hits_only_its_printer(page: Any, dash: Api) -> None:
    login(page, dash.base, USER_KEY)
    first, second = card(page, "Printer 1"), card(page, "Printer 2")
    for each in (first, second):
        each.get_by_text(re.compile(r"\d+\.\d °C")).first.wait_for()  # live temperatures on both cards
    # A target set elsewhere shows up by server push (no reload).
    dash.post("/printer/p2/api/printer/command", {"command": "M140 S45"})
    second.get_by_text(re.compile(r"/ 45 °C")).wait_for()

    # Printer 2 prints; Printer 1 is busy with a long dwell when its stop is pressed.
    upload = dash.call("POST", "/printer/p2/api/files/local", files={"file": ("long.gcode", SLOW_JOB)},
                       data={"print": "true"})
    assert upload.status_code == 201, upload.text
    dash.wait_state("Printing", "p2")
    second.get_by_text("Printing").first.wait_for()
    assert dash.post("/printer/p1/api/printer/command", {"command": "G4 S20"}).status_code == 204
    model = dash.model("p1")
    wait_for(lambda: "G4 S20" in [line.decode().split("*")[0].split(" ", 1)[-1] for line in model.received_lines],
             what="the dwell at the simulator")
    received_before = len(model.received_lines)

    button = page.get_by_role("button", name="Emergency stop Printer 1")
    button.focus()
    page.keyboard.press("Enter")  # keyboard works; one press, no confirmation dialog
    wait_for(lambda: model.emergency_seen == ["M112"], timeout=5, what="M112 at the simulator")
    assert model.killed
    # Nothing else reached the printer between the click and the M112.
    assert [line for line in model.received_lines[received_before:] if b"M112" not in line] == []
    first.get_by_text(re.compile("the printer confirmed the emergency stop")).wait_for()
    first.get_by_text("Error", exact=True).wait_for()

    # The other printer kept printing.
    p2_engine = dash.printer("p2").link.engine
    count = p2_engine.lines_written
    wait_for(lambda: p2_engine.lines_written > count + 3, what="printer 2 still printing")
    assert dash.state("p2") == "Printing" and dash.model("p2").emergency_seen == []
    assert dash.post("/printer/p2/api/job", {"command": "cancel"}).status_code == 204
    dash.wait_state("Operational", "p2")


def test_printer_page_upload_start_pause_resume_cancel_and_terminal(page: Any, dash: Api, tmp_path: Any) -> None:
    login(page, dash.base, ADMIN_KEY)
    page.get_by_role("link", name="Open Printer 1").click()
    page.get_by_role("heading", name="Printer 1", level=1).wait_for()

    # Terminal: M114's own reply lines come back to the page.
    command = page.get_by_role("textbox", name="G-code command for Printer 1")
    command.fill("M114")
    command.press("Enter")
    terminal = page.get_by_role("log", name="Terminal output Printer 1")
    terminal.get_by_text(re.compile(r"X:\S+ Y:\S+ Z:\S+")).wait_for()
    # The live stream of every line, when ticked.
    page.get_by_label("Show every line sent and received").check()
    page.locator('.terminal[data-live="on"]').wait_for()
    command.fill("M115")
    command.press("Enter")
    terminal.get_by_text(re.compile(r"^SEND .*M115")).first.wait_for()
    terminal.get_by_text(re.compile(r"^RECV FIRMWARE_NAME")).first.wait_for()
    page.get_by_label("Show every line sent and received").uncheck()

    job_file = tmp_path / "web job.gcode"
    job_file.write_bytes(SLOW_JOB)
    page.get_by_label("Upload G-code to Printer 1").set_input_files(str(job_file))
    page.get_by_role("status").filter(has_text="Uploaded web job.gcode").wait_for()
    page.get_by_role("button", name="Print web_job.gcode").click()
    badge = page.locator(".printer-head .badge")
    badge.filter(has_text=re.compile("^Printing$")).wait_for()
    assert dash.state("p1") == "Printing"

    page.get_by_role("button", name="Pause job on Printer 1").click()
    badge.filter(has_text=re.compile("^Paused$")).wait_for()
    page.get_by_role("button", name="Resume job on Printer 1").click()
    badge.filter(has_text=re.compile("^Printing$")).wait_for()
    page.get_by_role("button", name="Cancel job on Printer 1").click()
    badge.filter(has_text=re.compile("^Operational$")).wait_for()
    executed = dash.executed("p1")
    assert sum(1 for line in executed if line == "G4 P40") < 400  # cancelled before the end
    assert no_horizontal_scroll(page)


def test_page_reconnects_by_itself_after_a_gateway_restart(chromium: Any, broker: Any, tmp_path: Any) -> None:
    port = free_port()
    printers = [{"id": "p1", "name": "Printer 1", "port": "sim://marlin"}]
    gateway, api = start_gateway(broker, tmp_path, "dash_restart", printers, rest_extra={"port": port})
    context = chromium.new_context(viewport=DESKTOP)
    context.set_default_timeout(TIMEOUT_MS)
    log = ConsoleLog()
    page = log.watch(context.new_page())
    try:
        api.wait_operational()
        login(page, api.base, USER_KEY)
        live = page.locator("#live-status")
        live.filter(has_text="Live").wait_for()
        gateway.stop()
        live.filter(has_text="Reconnecting").wait_for()
        gateway, api = start_gateway(broker, tmp_path, "dash_restart", printers, rest_extra={"port": port})
        api.wait_operational()
        live.filter(has_text="Live").wait_for()
        # The new gateway's pushes arrive without a reload.
        api.post("/api/printer/command", {"command": "M104 S55"})
        card(page, "Printer 1").get_by_text(re.compile(r"/ 55 °C")).wait_for()
        # While the gateway was down, Chromium logged the refused connections: that is the test.
        assert [e for e in log.errors if "ERR_CONNECTION_REFUSED" not in e and "Failed to fetch" not in e] == []
    finally:
        context.close()
        gateway.stop()


def test_overview_shows_other_gateways_printers_and_stops_them(chromium: Any, broker: Any, tmp_path: Any) -> None:
    """Gateway B's printer appears under "Other gateways" on gateway A's page (GET /api/fleet), and
    its emergency stop goes through A's fleet endpoint over the broker to B's printer."""
    gateway_a, api_a = start_gateway(broker, tmp_path / "a", "dash_fleet",
                                     [{"id": "p1", "name": "Printer 1", "port": "sim://marlin"}], gateway={"id": "gwa"})
    gateway_b, api_b = start_gateway(broker, tmp_path / "b", "dash_fleet",
                                     [{"id": "p9", "name": "Printer 9", "port": "sim://nine"}], gateway={"id": "gwb"})
    context = chromium.new_context(viewport=PHONE)
    context.set_default_timeout(TIMEOUT_MS)
    log = ConsoleLog()
    page = log.watch(context.new_page())
    try:
        api_a.wait_operational("p1")
        api_b.wait_operational("p9")
        login(page, api_a.base, USER_KEY)
        remote = page.get_by_role("article", name="Printer 9 (gateway gwb)")
        remote.get_by_text("gateway gwb · available", exact=False).wait_for()
        remote.get_by_role("button", name="Emergency stop Printer 9").click()
        model = api_b.model("p9")
        wait_for(lambda: model.emergency_seen == ["M112"], timeout=10, what="M112 at gateway B's printer")
        remote_status = page.get_by_role("status").filter(has_text="M112 sent")
        remote_status.wait_for()
        assert api_a.model("p1").emergency_seen == []  # the local printer was not touched
        assert no_horizontal_scroll(page)
        assert log.errors == [], log.errors
    finally:
        context.close()
        gateway_a.stop()
        gateway_b.stop()


def test_firmware_prompt_is_shown_and_answered_from_the_card(chromium: Any, broker: Any, tmp_path: Any) -> None:
    """A filament runout opens the firmware's prompts ("Nozzle Parked", then "Paused" with PurgeMore /
    Continue); the card shows each with its buttons, a click answers it (M876 S<n>) and the job ends."""
    printers = [{"id": "p1", "name": "Printer 1", "port": "sim://runout?runout_after_line=60"}]
    gateway, api = start_gateway(broker, tmp_path, "dash_prompt", printers)
    context = chromium.new_context(viewport=DESKTOP)
    context.set_default_timeout(TIMEOUT_MS)
    log = ConsoleLog()
    page = log.watch(context.new_page())
    try:
        api.wait_operational()
        login(page, api.base, USER_KEY)
        prompt = card(page, "Printer 1").get_by_role("alert", name="Printer prompt Printer 1")
        with open(FIXTURES / "prusaslicer-2.5.0_box8x8x2.gcode", "rb") as stream:
            response = api.call("POST", "/api/files/local", files={"file": ("box.gcode", stream)},
                                data={"print": "true"})
        assert response.status_code == 201, response.text
        prompt.get_by_text("Nozzle Parked").wait_for()
        prompt.get_by_role("button", name="Answer Continue on Printer 1").click()
        prompt.get_by_text("Paused", exact=True).wait_for()
        prompt.get_by_role("button", name="Answer Continue on Printer 1").click()
        wait_for(lambda: api.model().prompt_responses == [0, 1], timeout=15, what="both answers at the printer")
        api.wait_state("Operational", timeout=60)
        prompt.wait_for(state="hidden")
        assert log.errors == [], log.errors
    finally:
        context.close()
        gateway.stop()


class Camera(http.server.BaseHTTPRequestHandler):
    """A stand-in camera: `/snapshot.jpg` is a real JPEG."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        body = CAMERA_JPEG if self.path == "/snapshot.jpg" else b"not found"
        self.send_response(200 if self.path == "/snapshot.jpg" else 404)
        self.send_header("Content-Type", "image/jpeg" if self.path == "/snapshot.jpg" else "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def test_printer_page_shows_the_webcam_through_the_snapshot_proxy(chromium: Any, broker: Any, tmp_path: Any) -> None:
    """A camera with only a snapshot URL: the page (a read key may watch) shows its images through
    the gateway's key-protected proxy, flipped as configured."""
    camera = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Camera)
    threading.Thread(target=camera.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{camera.server_address[1]}/snapshot.jpg"
    printers = [{"id": "p1", "name": "Printer 1", "port": "sim://marlin",
                 "webcam": {"snapshot_url": url, "flip_h": True}}]
    gateway, api = start_gateway(broker, tmp_path, "dash_camera", printers)
    context = chromium.new_context(viewport=PHONE)
    context.set_default_timeout(TIMEOUT_MS)
    log = ConsoleLog()
    page = log.watch(context.new_page())
    try:
        api.wait_operational()
        login(page, api.base, READ_KEY)
        page.get_by_role("link", name="Open Printer 1").click()
        image = page.get_by_role("img", name="Webcam of Printer 1")
        image.wait_for()
        wait_for(lambda: image.evaluate("img => img.complete && img.naturalWidth > 0"), what="the snapshot drawn")
        assert image.evaluate("img => img.src").startswith("blob:")  # fetched with the key, not by URL
        assert "scaleX(-1)" in image.evaluate("img => img.style.transform")
        assert no_horizontal_scroll(page)
        assert log.errors == [], log.errors
    finally:
        context.close()
        gateway.stop()
        camera.shutdown()
        camera.server_close()
