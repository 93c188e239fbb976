"""Prometheus `/metrics` over real HTTP: per-printer and gateway series, histograms, the optional
key, `promtool check metrics`, and a real Prometheus server scraping the gateway."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any, Iterator, Optional

import pytest
import requests

from tests.helpers import free_port, wait_for, wait_held
from tests.helpers.rest import READ_KEY, Api, start_gateway

pytestmark = pytest.mark.integration

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$")


def samples(text: str) -> dict[str, float]:
    """`name{labels}` -> value for every sample line of the text exposition (labels kept verbatim)."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        assert match, f"not a sample line: {line!r}"
        out[match.group(1) + (match.group(2) or "")] = float(match.group(3))
    return out


def value(api: Api, series: str) -> Optional[float]:
    return samples(api.get("/metrics", key=None).text).get(series)


@pytest.fixture(scope="module")
def gateway_api(broker: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    gateway, api = start_gateway(broker, tmp_path_factory.mktemp("metrics"), "metrics_test")
    try:
        api.wait_operational()
        assert api.post("/api/printer/command", {"command": "M105"}).status_code == 204
        wait_for(lambda: api.printer().snapshot().temperatures, what="a temperature report")
        yield api
    finally:
        api.session.close()
        gateway.stop()


def test_exposition_has_printer_and_gateway_series(gateway_api: Api) -> None:
    response = gateway_api.get("/metrics", key=None)  # unauthenticated by default
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    got = samples(response.text)
    assert got['mqttprint_printer_state{printer="p1",state="operational"}'] == 1.0
    assert got['mqttprint_printer_state{printer="p1",state="printing"}'] == 0.0
    assert got['mqttprint_printer_link_up{printer="p1"}'] == 1.0
    assert 'mqttprint_printer_temperature_celsius{printer="p1",sensor="tool0"}' in got
    assert 'mqttprint_printer_temperature_target_celsius{printer="p1",sensor="bed"}' in got
    assert got['mqttprint_printer_lines_sent_total{printer="p1"}'] >= 2  # handshake + M105
    wait_for(lambda: value(gateway_api, "mqttprint_mqtt_connected") == 1.0, what="mqtt_connected 1", interval=0.05)
    assert "mqttprint_mqtt_publish_backlog" in got
    for name in ("resends", "timeouts", "firmware_errors", "emergency_stops", "reconnects"):
        assert f'mqttprint_printer_{name}_total{{printer="p1"}}' in got


def test_round_trip_histogram_and_request_counter(gateway_api: Api) -> None:
    before = value(gateway_api, 'mqttprint_command_round_trip_seconds_count{printer="p1"}') or 0.0
    requests_before = value(gateway_api, 'mqttprint_rest_requests_total{code="204",method="POST"}') or 0.0
    r = gateway_api.post("/api/printer/command", {"commands": ["M114", "M115"], "reply": True})
    assert r.status_code == 200
    assert value(gateway_api, 'mqttprint_command_round_trip_seconds_count{printer="p1"}') == before + 2
    assert (value(gateway_api, 'mqttprint_command_round_trip_seconds_bucket{le="+Inf",printer="p1"}')
            == before + 2)
    assert gateway_api.post("/api/printer/command", {"command": "M400"}).status_code == 204
    assert value(gateway_api, 'mqttprint_rest_requests_total{code="204",method="POST"}') == requests_before + 1


def test_emergency_stop_and_reconnect_are_counted(gateway_api: Api) -> None:
    assert gateway_api.post("/api/printer/command", {"command": "M112"}).status_code == 204
    gateway_api.wait_state("Error", timeout=5)
    got = samples(gateway_api.get("/metrics", key=None).text)
    assert got['mqttprint_printer_emergency_stops_total{printer="p1"}'] == 1.0
    assert got['mqttprint_emergency_write_seconds_count{printer="p1"}'] == 1.0
    assert got['mqttprint_printer_state{printer="p1",state="error"}'] == 1.0
    assert got['mqttprint_printer_reconnects_total{printer="p1"}'] == 0.0
    assert gateway_api.post("/api/connection", {"command": "connect"}).status_code == 204
    gateway_api.wait_operational()
    assert value(gateway_api, 'mqttprint_printer_reconnects_total{printer="p1"}') == 1.0


def test_promtool_finds_no_problem(gateway_api: Api) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: apt-get install -y prometheus (.ci/run does)"
    text = gateway_api.get("/metrics", key=None).text
    result = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and not result.stdout.strip() and not result.stderr.strip(), (
        result.stdout + result.stderr)
    # ... and the check can fail: a counter without `_total` is a finding.
    bad = "# HELP broken A counter\n# TYPE broken counter\nbroken 1\n"
    result = subprocess.run([promtool, "check", "metrics"], input=bad, capture_output=True, text=True, timeout=60)
    assert "counter metrics should have \"_total\" suffix" in result.stdout + result.stderr


def test_require_key(broker: Any, tmp_path: Path) -> None:
    gateway, api = start_gateway(broker, tmp_path, "metrics_key", metrics={"require_key": True})
    try:
        assert api.get("/metrics", key=None).status_code == 403
        response = api.get("/metrics", key=READ_KEY)
        assert response.status_code == 200 and "mqttprint_printer_state" in response.text
        bearer = api.get("/metrics", key=None, headers={"Authorization": f"Bearer {READ_KEY}"})  # Prometheus' way
        assert bearer.status_code == 200
        assert api.get("/metrics", key="W" * 32).status_code in (401, 403)
    finally:
        api.session.close()
        gateway.stop()


def test_disabled(broker: Any, tmp_path: Path) -> None:
    gateway, api = start_gateway(broker, tmp_path, "metrics_off", metrics={"enabled": False})
    try:
        response = api.get("/metrics", key=None)
        assert response.status_code == 404 and response.json()["error"]
    finally:
        api.session.close()
        gateway.stop()


def test_a_real_prometheus_scrapes_the_gateway(gateway_api: Api, tmp_path: Path) -> None:
    binary = shutil.which("prometheus")
    assert binary, "prometheus missing: apt-get install -y prometheus (.ci/run does)"
    target = gateway_api.base.removeprefix("http://")
    (tmp_path / "prometheus.yml").write_text(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
        f"scrape_configs:\n  - job_name: mqttprint\n    static_configs:\n      - targets: ['{target}']\n")
    port = free_port()
    log = (tmp_path / "prometheus.log").open("w")
    proc = subprocess.Popen([binary, f"--config.file={tmp_path / 'prometheus.yml'}",
                             f"--storage.tsdb.path={tmp_path / 'data'}", f"--web.listen-address=127.0.0.1:{port}"],
                            stdout=log, stderr=subprocess.STDOUT)
    api = f"http://127.0.0.1:{port}/api/v1/query"

    def query(expr: str) -> list[dict[str, Any]]:
        assert proc.poll() is None, (tmp_path / "prometheus.log").read_text()
        try:
            body = requests.get(api, params={"query": expr}, timeout=5).json()
        except (requests.ConnectionError, ValueError):
            return []  # still starting
        assert body["status"] == "success", body
        return list(body["data"]["result"])

    try:
        temps = wait_for(lambda: query('mqttprint_printer_temperature_celsius{printer="p1",sensor="tool0"}'),
                         timeout=60, interval=0.25, what="the temperature series in Prometheus")
        assert temps[0]["metric"]["job"] == "mqttprint" and float(temps[0]["value"][1]) > -50
        state = wait_for(lambda: query('mqttprint_printer_state{printer="p1"} == 1'), timeout=30,
                         interval=0.25, what="the state series in Prometheus")
        assert [s["metric"]["state"] for s in state] == ["operational"]
        up = query('up{job="mqttprint"}')
        assert up and up[0]["value"][1] == "1"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


def test_job_progress_and_lines(gateway_api: Api) -> None:
    lines_before = value(gateway_api, 'mqttprint_printer_lines_sent_total{printer="p1"}') or 0.0
    body = "".join(f"G1 X{i % 30} Y{i % 20} F6000\n" for i in range(30)).encode()
    r = gateway_api.call("POST", "/api/files/local", files={"file": ("m.gcode", body)}, data={"print": "true"})
    assert r.status_code == 201, r.text
    wait_for(lambda: value(gateway_api, 'mqttprint_printer_job_progress_ratio{printer="p1"}') == 1.0,
             timeout=30, what="progress 1.0", interval=0.05)
    gateway_api.wait_operational()
    assert value(gateway_api, 'mqttprint_printer_lines_sent_total{printer="p1"}') >= lines_before + 30


FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "gcode"
PRUSA = "prusaslicer-2.5.0_box8x8x2.gcode"  # PrusaSlicer 2.5.0 CLI, 10 layers (fixtures/gcode/README.md)
_NUMBERED = re.compile(rb"^N\d+ (.*?)\*\d+$")


def file_commands(path: Path) -> list[tuple[str, Optional[int]]]:
    """Each command line of a PrusaSlicer file with the 1-based layer it is in (None before the
    first `;LAYER_CHANGE`): the test's own reading of the file, independent of gcodefile.live."""
    commands: list[tuple[str, Optional[int]]] = []
    layer = 0
    for line in path.read_text().splitlines():
        if line.startswith(";LAYER_CHANGE"):
            layer += 1
        body = line.split(";", 1)[0].strip()
        if body:
            commands.append((body, layer or None))
    return commands


def job_lines_received(received: list[bytes], commands: list[tuple[str, Optional[int]]]) -> int:
    """How many of the file's commands the simulator received, in order (the host's own lines,
    e.g. polls, in between are skipped)."""
    count = 0
    for raw in received:
        match = _NUMBERED.match(raw.strip())
        text = (match.group(1) if match else raw.strip()).decode()
        if count < len(commands) and text == commands[count][0]:
            count += 1
    return count


def test_job_layer_is_the_layer_the_job_is_in(broker: Any, tmp_path: Path) -> None:
    # The file's M109 waits out Marlin's residency time: a short one keeps the test quick.
    gateway, api = start_gateway(broker, tmp_path, "metrics_layer",
                                 [{"id": "p1", "port": "sim://marlin?residency_time=0.1"}])
    layer_series = 'mqttprint_printer_job_layer{printer="p1"}'
    try:
        api.wait_operational()
        # The progress ticker feeds B/progress once a second; /metrics must not depend on it.
        gateway.jobs.stop()
        commands = file_commands(FIXTURES / PRUSA)
        assert commands[0][1] is None and commands[-1][1] == 10
        with open(FIXTURES / PRUSA, "rb") as stream:
            assert api.call("POST", "/api/files/local", files={"file": (PRUSA, stream)}).status_code == 201
        assert layer_series not in samples(api.get("/metrics", key=None).text)  # no job yet
        port = api.printer().link.port
        first = len(port.model.received_lines)
        port.hold_output(after_lines=2)  # in the start code, before the first layer marker
        assert api.post(f"/api/files/local/{PRUSA}", {"command": "select", "print": True}).status_code == 204
        wait_held(port)
        api.wait_quiet()
        got = samples(api.get("/metrics", key=None).text)
        assert got['mqttprint_printer_state{printer="p1",state="printing"}'] == 1.0
        assert layer_series not in got  # printing, but no layer known yet
        # Stop again in the middle of layer 3, far from its boundaries (the host reads a line ahead).
        third = [i for i, (_, layer) in enumerate(commands) if layer == 3]
        target = third[len(third) // 2]
        with port.lock:
            sent = job_lines_received(port.model.received_lines[first:], commands)
        port.hold_output(after_lines=target + 1 - sent)
        wait_held(port)
        api.wait_quiet()
        with port.lock:
            sent = job_lines_received(port.model.received_lines[first:], commands)
        expected = commands[sent - 1][1]
        assert expected == 3 and {layer for _, layer in commands[sent - 1:sent + 8]} == {expected}, sent
        assert samples(api.get("/metrics", key=None).text)[layer_series] == expected
        port.release_output()
        api.wait_state("Operational", timeout=60)
        # A finished job keeps its last layer, like its progress ratio (and B/progress, /api/job).
        got = samples(api.get("/metrics", key=None).text)
        assert got[layer_series] == commands[-1][1]
        assert got['mqttprint_printer_job_progress_ratio{printer="p1"}'] == 1.0
        assert api.post(f"/api/files/local/{PRUSA}", {"command": "unselect"}).status_code == 204
        got = samples(api.get("/metrics", key=None).text)
        assert layer_series not in got and 'mqttprint_printer_job_progress_ratio{printer="p1"}' not in got
    finally:
        api.session.close()
        gateway.stop()
