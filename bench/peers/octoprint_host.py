"""OctoPrint 1.11, installed by bench/peers/install.py into bench/.peers/octoprint, run headless
and driven only through its REST API against bench/responder.py on a pseudo-terminal.

The server runs from its own virtualenv with a basedir in bench/.peers/octoprint-base whose
config.yaml is written here: first-run wizard off, a global API key, G-code analysis off,
`/dev/pts/*` as additional serial ports, and the plugins that phone home or work in the background
(tracking, announcements, software update, plugin repository, error tracking, discovery, Pi
support, achievements, health check, virtual printer) disabled, so it runs offline.

Measured per run (one fresh responder each):
- wall time from `POST /api/files/local/<job> {"command": "select", "print": true}` to OctoPrint's
  state change "Printing" -> next state in octoprint.log (millisecond timestamps; no polling
  granularity in the number), lines/s = job lines / that;
- CPU: utime+stime of the OctoPrint server process (/proc/<pid>/stat) over that interval (sampled
  before the request and after the job is seen done by polling GET /api/job);
- RSS (VmRSS / VmHWM of the server process);
- emergency latency: `POST /api/printer/command {"command": "M108"}` every `interval` s while the
  job streams -> the line's arrival at the responder (CLOCK_MONOTONIC both sides), and the HTTP
  round trip. OctoPrint sends M108 like M112: from the request thread, jumping its queues
  (`_emergency_force_send`, given the firmware's EMERGENCY_PARSER capability) — but M112 also
  closes the port, so at the end of an emergency run one M112 is sent and timed the same way.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(HERE))

from procstat import cpu_seconds, rss_mb

API_KEY = "BENCHBENCHBENCHBENCHBENCHBENCH00"
DISABLED_PLUGINS = [
    "tracking", "announcements", "softwareupdate", "pluginmanager", "errortracking", "discovery",
    "pi_support", "achievements", "health_check", "virtual_printer", "firmware_check",
]
STATE_LINE = re.compile(r'^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) - .*Changing monitoring state from "([^"]+)" to "([^"]+)"')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def config_yaml(port: int) -> str:
    disabled = "\n".join(f"  - {name}" for name in DISABLED_PLUGINS)
    return f"""# written by bench/peers/octoprint_host.py
server:
  firstRun: false
  host: 127.0.0.1
  port: {port}
  onlineCheck:
    enabled: false
  pluginBlacklist:
    enabled: false
  ignoreIncompleteStartup: true
api:
  key: {API_KEY}
gcodeAnalysis:
  runAt: never
feature:
  sdSupport: false
serial:
  autoconnect: false
  additionalPorts:
  - /dev/pts/*
  baudrate: 115200
  log: false
plugins:
  _disabled:
{disabled}
"""


@dataclass
class PeerRun:
    lines: int
    lines_per_s: float
    cpu_us_per_line: float
    latencies_ms: list[float] = field(default_factory=list)
    http_ms: list[float] = field(default_factory=list)
    m112_ms: float | None = None
    m112_http_ms: float | None = None
    rss_mb: float = float("nan")
    peak_rss_mb: float = float("nan")
    extra: dict = field(default_factory=dict)


class OctoPrint:
    """One OctoPrint server process (started once, reused by every run)."""

    def __init__(self, python: Path, basedir: Path = ROOT / "bench" / ".peers" / "octoprint-base") -> None:
        self.python = python
        self.basedir = basedir
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.conn: http.client.HTTPConnection | None = None
        self.uploaded: set[str] = set()
        self.start_rss_mb = float("nan")

    # ------------------------------------------------------------------ process
    def start(self, timeout: float = 180.0) -> None:
        if self.basedir.exists():
            shutil.rmtree(self.basedir)
        self.basedir.mkdir(parents=True)
        self.port = free_port()
        (self.basedir / "config.yaml").write_text(config_yaml(self.port))
        octoprint = self.python.parent / "octoprint"
        self._stderr = open(self.basedir / "stderr.log", "wb")
        self.proc = subprocess.Popen(
            [str(octoprint), "serve", "--basedir", str(self.basedir), "--host", "127.0.0.1", "--port", str(self.port),
             *(["--iknowwhatimdoing"] if os.geteuid() == 0 else [])],
            stdout=self._stderr, stderr=subprocess.STDOUT, start_new_session=True,
        )
        try:
            self._wait_started(timeout)
        except BaseException:
            self.stop()
            raise
        self.start_rss_mb = rss_mb(self.proc.pid, "VmRSS")

    def _wait_started(self, timeout: float) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"OctoPrint exited with {self.proc.returncode}; see {self.basedir / 'stderr.log'}")
            try:
                status, _ = self.request("GET", "/api/version")
                if status == 200:
                    break
            except (OSError, http.client.HTTPException):
                self.conn = None
            if time.monotonic() > deadline:
                raise RuntimeError("OctoPrint did not answer /api/version")
            time.sleep(0.25)

    def stop(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None
        if getattr(self, "_stderr", None) is not None:
            self._stderr.close()
            self._stderr = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def rss(self, field: str = "VmRSS") -> float:
        return rss_mb(self.pid, field)

    # ------------------------------------------------------------------ HTTP
    def request(self, method: str, path: str, body: bytes | None = None, content_type: str = "application/json",
                timeout: float = 30.0) -> tuple[int, bytes]:
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
            headers = {"X-Api-Key": API_KEY}
            if body is not None:
                headers["Content-Type"] = content_type
            try:
                self.conn.request(method, path, body=body, headers=headers)
                response = self.conn.getresponse()
                return response.status, response.read()
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def post_json(self, path: str, data: dict) -> tuple[int, bytes]:
        return self.request("POST", path, json.dumps(data).encode())

    def get_json(self, path: str) -> dict:
        status, body = self.request("GET", path)
        if status != 200:
            raise RuntimeError(f"GET {path}: {status} {body[:200]!r}")
        return json.loads(body)

    def upload(self, name: str, path: Path) -> None:
        """Multipart upload to /api/files/local (not selected, not printed)."""
        if name in self.uploaded:
            return
        boundary = uuid.uuid4().hex
        head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
                "Content-Type: application/octet-stream\r\n\r\n").encode()
        tail = f"\r\n--{boundary}--\r\n".encode()
        body = head + path.read_bytes() + tail
        status, reply = self.request("POST", "/api/files/local", body, f"multipart/form-data; boundary={boundary}",
                                     timeout=600)
        if status not in (200, 201):
            raise RuntimeError(f"upload {name}: {status} {reply[:300]!r}")
        self.uploaded.add(name)

    # ------------------------------------------------------------------ printer
    def state(self) -> str:
        return self.get_json("/api/connection")["current"]["state"]

    def connect(self, pty: str, timeout: float = 30.0) -> None:
        status, body = self.post_json("/api/connection", {"command": "connect", "port": pty, "baudrate": 115200,
                                                          "autoconnect": False})
        if status != 204:
            raise RuntimeError(f"connect: {status} {body[:300]!r}")
        deadline = time.monotonic() + timeout
        while (state := self.state()) != "Operational":
            if time.monotonic() > deadline:
                raise RuntimeError(f"OctoPrint did not become operational: {state}")
            time.sleep(0.1)

    def disconnect(self) -> None:
        self.post_json("/api/connection", {"command": "disconnect"})
        deadline = time.monotonic() + 15
        while self.state() not in ("Closed", "Offline", "Offline after error", "Error") and time.monotonic() < deadline:
            time.sleep(0.1)

    def cancel(self, timeout: float = 60.0) -> None:
        """Cancel the running job and wait until OctoPrint is no longer printing."""
        self.post_json("/api/job", {"command": "cancel"})
        deadline = time.monotonic() + timeout
        while self.get_json("/api/job")["state"].startswith(("Printing", "Starting", "Cancelling", "Finishing")):
            if time.monotonic() > deadline:
                raise RuntimeError("OctoPrint did not cancel")
            time.sleep(0.1)

    def delete(self, name: str) -> None:
        self.request("DELETE", f"/api/files/local/{name}")
        self.uploaded.discard(name)

    def log_transitions(self) -> list[tuple[float, str, str]]:
        """(epoch seconds, from, to) of every monitoring state change in octoprint.log."""
        out = []
        log = self.basedir / "logs" / "octoprint.log"
        for line in log.read_text(errors="replace").splitlines():
            m = STATE_LINE.match(line)
            if m:
                stamp = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
                out.append((stamp, m.group(2), m.group(3)))
        return out

    def print_job(self, name: str, lines: int, emergency_interval: float = 0.0, timeout: float = 900.0,
                  m112_at_end: bool = False, sample_rss: bool = False, stop_after: float = 0.0,
                  max_samples: int = 0) -> PeerRun:
        """Select and print an uploaded job; returns throughput, CPU and emergency samples."""
        calls: list[float] = []
        http_ms: list[float] = []
        peak = 0.0
        n_logged = len(self.log_transitions())
        cpu0 = cpu_seconds(self.pid)
        wall0 = time.time()
        status, body = self.post_json(f"/api/files/local/{name}", {"command": "select", "print": True})
        if status != 204:
            raise RuntimeError(f"print {name}: {status} {body[:300]!r}")
        deadline = time.monotonic() + timeout
        last_poll = 0.0
        m112_call = m112_http = None
        while True:
            now = time.monotonic()
            if sample_rss:
                peak = max(peak, rss_mb(self.pid, "VmRSS"))
            if stop_after and time.time() - wall0 >= stop_after:
                break
            if max_samples and len(calls) >= max_samples:
                break
            if now - last_poll >= 0.25:
                last_poll = now
                state = self.get_json("/api/job")["state"]
                if not state.startswith(("Printing", "Starting", "Finishing")):
                    break
            if now > deadline:
                raise RuntimeError("OctoPrint job timed out")
            if emergency_interval:
                t0 = time.monotonic()
                self.post_json("/api/printer/command", {"command": "M108"})
                t1 = time.monotonic()
                calls.append(t0)
                http_ms.append((t1 - t0) * 1000)
                time.sleep(max(0.0, emergency_interval - (t1 - t0)))
            else:
                time.sleep(0.05)
        if m112_at_end:
            m112_call = time.monotonic()
            self.post_json("/api/printer/command", {"command": "M112"})
            m112_http = (time.monotonic() - m112_call) * 1000
        cpu = cpu_seconds(self.pid) - cpu0
        if stop_after or max_samples:
            wall = time.time() - wall0
            sent = None
        else:
            transitions = self.log_transitions()[n_logged:]
            ends = [t for t, frm, to in transitions if frm == "Printing"]
            if not ends:
                time.sleep(0.5)
                transitions = self.log_transitions()[n_logged:]
                ends = [t for t, frm, to in transitions if frm == "Printing"]
            wall = (ends[0] if ends else time.time()) - wall0
            sent = lines
        run = PeerRun(lines, (sent or 0) / wall, cpu / max(sent or 1, 1) * 1e6, http_ms=http_ms,
                      rss_mb=rss_mb(self.pid, "VmRSS"), peak_rss_mb=rss_mb(self.pid, "VmHWM"))
        run.extra = {"calls": calls, "m112_call": m112_call, "m112_http": m112_http, "wall": wall, "cpu": cpu,
                     "sampled_peak_rss_mb": peak}
        return run


def job_file(directory: Path, lines: list[str], name: str) -> Path:
    path = directory / name
    if not path.exists():
        path.write_text("".join(line + "\n" for line in lines))
    return path
