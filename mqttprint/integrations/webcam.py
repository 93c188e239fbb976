"""Webcams: fetching a printer camera's snapshot, and publishing one on `B/camera` every N seconds.

`fetch_snapshot` serves the REST snapshot proxy and the MQTT publisher alike (stdlib HTTP, a
timeout and a size cap: a camera can never hang a request thread or fill memory). The publisher
is one thread (`webcam`) for every printer with `webcam.mqtt_interval > 0`, started by the
daemon; it fetches one camera at a time, so N cameras cost one thread, not N.
"""

from __future__ import annotations

import logging
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Callable, Mapping, Optional

from mqttprint.config import WebcamConfig

log = logging.getLogger(__name__)

#: Seconds a camera may take to answer.
FETCH_TIMEOUT = 5.0
#: The largest snapshot accepted, bytes (a 4K JPEG is ~2 MB).
MAX_SNAPSHOT_BYTES = 8 * 1024 * 1024
_JPEG_MAGIC = b"\xff\xd8\xff"


class WebcamError(Exception):
    """The camera could not deliver a snapshot (unreachable, HTTP error, too big, not an image)."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One camera image as the camera sent it."""

    data: bytes
    content_type: str

    @property
    def is_jpeg(self) -> bool:
        return self.data.startswith(_JPEG_MAGIC)


def fetch_snapshot(url: str, timeout: float = FETCH_TIMEOUT, max_bytes: int = MAX_SNAPSHOT_BYTES) -> Snapshot:
    """GET one image from `url` (http/https only). Raises WebcamError saying what went wrong."""
    if not url.lower().startswith(("http://", "https://")):
        raise WebcamError(f"snapshot URL {url!r} is not http(s)")
    request = urllib.request.Request(url, headers={"User-Agent": "mqttprint", "Accept": "image/*"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - scheme checked above
            data = response.read(max_bytes + 1)
            content_type = response.headers.get_content_type() if response.headers else "application/octet-stream"
    except urllib.error.HTTPError as exc:
        raise WebcamError(f"camera answered HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise WebcamError(f"camera not reachable: {reason}") from None
    if len(data) > max_bytes:
        raise WebcamError(f"snapshot larger than {max_bytes} bytes")
    if not data:
        raise WebcamError("camera sent an empty snapshot")
    if not content_type.startswith("image/"):
        if not data.startswith(_JPEG_MAGIC):
            raise WebcamError(f"camera sent {content_type}, not an image")
        content_type = "image/jpeg"  # some cameras label JPEGs as octet-stream
    return Snapshot(data, content_type)


class CameraPublisher:
    """Publishes a JPEG per printer every `webcam.mqtt_interval` seconds through `publish(id, jpeg)`."""

    def __init__(self, cameras: Mapping[str, WebcamConfig], publish: Callable[[str, bytes], None],
                 fetch: Callable[[str], Snapshot] = fetch_snapshot, clock: Callable[[], float] = time.monotonic) -> None:
        self.cameras = {pid: cam for pid, cam in cameras.items() if cam.mqtt_interval > 0 and cam.snapshot_url}
        self._publish = publish
        self._fetch = fetch
        self._clock = clock
        self._stopping = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._failing: set[str] = set()
        self.published: dict[str, int] = {pid: 0 for pid in self.cameras}

    def start(self) -> None:
        """Start the `webcam` thread (nothing to do, and no thread, without a camera to publish)."""
        if self.cameras and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="webcam", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(FETCH_TIMEOUT + 2)
            self._thread = None

    def _run(self) -> None:
        due = {pid: self._clock() for pid in self.cameras}
        while not self._stopping.is_set():
            pid = min(due, key=due.__getitem__)
            wait = due[pid] - self._clock()
            if wait > 0:
                self._stopping.wait(wait)
                continue
            self._publish_one(pid)
            due[pid] = max(due[pid] + self.cameras[pid].mqtt_interval, self._clock())

    def _publish_one(self, pid: str) -> None:
        url = self.cameras[pid].snapshot_url or ""
        try:
            snapshot = self._fetch(url)
            if not snapshot.is_jpeg:
                raise WebcamError(f"camera sent {snapshot.content_type}, not a JPEG (B/camera carries JPEG)")
        except WebcamError as exc:
            if pid not in self._failing:  # log a failing camera once, not every interval
                log.warning("%s: webcam snapshot for B/camera failed: %s", pid, exc)
                self._failing.add(pid)
            return
        except Exception:  # thread boundary: one camera's bug must not stop the others
            log.exception("%s: webcam snapshot failed", pid)
            return
        if pid in self._failing:
            log.info("%s: webcam snapshots work again", pid)
            self._failing.discard(pid)
        self._publish(pid, snapshot.data)
        self.published[pid] += 1
