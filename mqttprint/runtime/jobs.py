"""Print jobs of one printer: select a stored file, start/restart/pause/resume/cancel, progress.

Streaming itself is the engine's job lane (lines pulled lazily from `GcodeFileSource`, so memory
stays flat); this class opens the file, keeps print time (paused time excluded), reacts to the
firmware's host actions (`//action:pause|resume|cancel`) exactly like the API calls, and reports
OctoPrint's job/progress shapes.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional

from mqttprint.config import PrinterConfig
from mqttprint.printer.job import GcodeFileSource, time_left
from mqttprint.protocol.engine import Engine
from mqttprint.protocol.errors import InvalidCommand, NotOperational
from mqttprint.protocol.events import HostActionReceived, JobEnded, JobPaused, JobResumed, JobStarted
from mqttprint.protocol.job_rules import JobRequest, host_action_trigger, pause_trigger, require
from mqttprint.protocol.states import Trigger, is_job_active
from mqttprint.runtime.bus import BusMessage, EventBus
from mqttprint.runtime.file_store import FileStore, resolve_name
from mqttprint.runtime.printer_service import PrinterService

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class JobProgress:
    """Bus event: the job's progress (published about once a second while a job runs, and on changes)."""

    file: Optional[str]
    completion: Optional[float]
    filepos: Optional[int]
    size: Optional[int]
    print_time: Optional[int]
    print_time_left: Optional[int]
    state: str


class PrinterJobs:
    """Job control for one printer."""

    def __init__(self, printer: PrinterService, store: FileStore, config: PrinterConfig, bus: EventBus,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.printer = printer
        self.store = store
        self.config = config
        self._bus = bus
        self._clock = clock
        self._lock = threading.Lock()
        self.selected: Optional[str] = None
        self._source: Optional[GcodeFileSource] = None  # the latest job (progress is reported from it)
        self._running: Optional[GcodeFileSource] = None  # serial thread only: the job the engine streams
        self._restart_with: Optional[GcodeFileSource] = None  # serial thread only: begins when the job ends
        self._started_at: Optional[float] = None
        self._paused_at: Optional[float] = None
        self._paused_total = 0.0
        self._ended_at: Optional[float] = None
        bus.subscribe(self._on_event, (JobStarted, JobPaused, JobResumed, JobEnded, HostActionReceived))

    # ------------------------------------------------------------------ commands
    def select(self, name: str, start: bool = False) -> None:
        """Select a stored file (and optionally start it). 409 while a job is active."""
        resolved = resolve_name(self.store, name)
        require(JobRequest.SELECT, self.printer.snapshot().state)
        if start:
            require(JobRequest.PRINT_SELECTED, self.printer.snapshot().state)
        with self._lock:
            self.selected = resolved
        if start:
            self.start()

    def unselect(self) -> None:
        require(JobRequest.UNSELECT, self.printer.snapshot().state)
        with self._lock:
            self.selected = None
            self._source = None

    def start(self, name: Optional[str] = None) -> None:
        """Start the selected (or named) file from its first line."""
        require(JobRequest.START, self.printer.snapshot().state)
        if name is not None:
            self.selected = resolve_name(self.store, name)
        source = self._open_selected()
        try:
            self.printer.call(self._begin(source))
        except Exception:
            source.close()
            raise

    def restart(self) -> None:
        """Start the paused job over from the beginning (OctoPrint: only while paused).

        One intent cancels the job on the serial thread; the new job begins there too, as soon as
        the engine reports the old one ended (`_on_event`), so no caller's thread waits for it.
        """
        require(JobRequest.RESTART, self.printer.snapshot().state)
        source = self._open_selected()

        def cancel_then_begin(engine: Engine, now: float) -> None:
            engine.cancel(now, ())
            self._restart_with = source  # begun by _on_event(JobEnded), on this thread

        try:
            self.printer.call(cancel_then_begin)
        except Exception:
            source.close()
            raise

    def _open_selected(self) -> GcodeFileSource:
        if self.selected is None:
            raise InvalidCommand("no file selected: select or upload a file first")
        path = self.store.path_of(self.selected)
        stream = open(path, "rb")  # closed by the serial thread when this job ends (JobEnded)
        return GcodeFileSource(self.selected, stream, path.stat().st_size)

    def _begin(self, source: GcodeFileSource) -> Callable[[Engine, float], None]:
        """The serial-thread intent that starts streaming `source` and starts the job's clock."""

        def begin(engine: Engine, now: float) -> None:
            engine.start_job(source, now)
            self._running = source
            with self._lock:
                self._source = source
                self._started_at, self._paused_at, self._paused_total, self._ended_at = self._clock(), None, 0.0, None

        return begin

    def pause(self, action: str = "toggle") -> None:
        """pause | resume | toggle (OctoPrint's POST /api/job pause command)."""
        if action not in ("pause", "resume", "toggle"):
            raise InvalidCommand("Unknown action")
        state = self.printer.snapshot().state
        require(JobRequest.PAUSE, state)
        trigger = pause_trigger(action, state)  # None: pausing while paused, resuming while printing
        if trigger is Trigger.PAUSE:
            script = self.config.pause_script
            self.printer.call(lambda engine, now: engine.pause(now, script))
        elif trigger is Trigger.RESUME:
            script = self.config.resume_script
            self.printer.call(lambda engine, now: engine.resume(now, script))

    def cancel(self, run_script: bool = True) -> None:
        """Stop feeding, drop the job's pending lines, run the cancel script."""
        require(JobRequest.CANCEL, self.printer.snapshot().state)
        script = self.config.cancel_script if run_script else ()
        self.printer.call(lambda engine, now: engine.cancel(now, script))

    # ------------------------------------------------------------------ state
    def progress(self) -> JobProgress:
        """The current progress (values None when no job ran)."""
        with self._lock:
            source = self._source
            snapshot = self.printer.snapshot()
            if source is None:
                return JobProgress(self.selected, None, None, None, None, None, snapshot.state_text)
            print_time = self._print_time()
            completion = source.completion
            left = time_left(print_time, completion) if is_job_active(snapshot.state) else None
            if self._ended_at is not None and source.finished:
                left = 0
            return JobProgress(source.name, round(completion, 2), source.position, source.size, int(print_time),
                               None if left is None else int(left), snapshot.state_text)

    def _print_time(self) -> float:
        if self._started_at is None:
            return 0.0
        end = self._ended_at if self._ended_at is not None else self._clock()
        paused = self._paused_total + ((end - self._paused_at) if self._paused_at is not None else 0.0)
        return max(0.0, end - self._started_at - paused)

    def job_info(self) -> dict[str, Any]:
        """OctoPrint's `GET /api/job` document."""
        progress = self.progress()
        name = progress.file
        stored = None
        if name is not None:
            try:
                stored = self.store.get(name)
            except (InvalidCommand, NotOperational, LookupError, OSError):
                stored = None
            except Exception:  # NotFound for a file deleted meanwhile
                stored = None
        snapshot = self.printer.snapshot()
        document: dict[str, Any] = {
            "job": {
                "file": {"name": name, "path": name, "display": name, "origin": "local" if name else None,
                         "size": stored.size if stored else None, "date": stored.date if stored else None},
                "estimatedPrintTime": None, "averagePrintTime": None, "lastPrintTime": None, "filament": None, "user": None,
            },
            "progress": {
                "completion": progress.completion, "filepos": progress.filepos, "printTime": progress.print_time,
                "printTimeLeft": progress.print_time_left, "printTimeLeftOrigin": "linear" if progress.print_time_left is not None else None,
            },
            "state": snapshot.state_text,
        }
        if snapshot.error:
            document["error"] = snapshot.error
        return document

    def publish_progress(self) -> None:
        self._bus.publish(BusMessage(self.printer.printer_id, self.progress(), time.time()))

    # ------------------------------------------------------------------ bus (serial thread: never block)
    def _on_event(self, message: BusMessage) -> None:
        if message.printer_id != self.printer.printer_id:
            return
        event = message.event
        if isinstance(event, JobPaused):
            with self._lock:
                self._paused_at = self._clock()
        elif isinstance(event, JobResumed):
            with self._lock:
                if self._paused_at is not None:
                    self._paused_total += self._clock() - self._paused_at
                    self._paused_at = None
        elif isinstance(event, JobEnded):
            with self._lock:
                self._ended_at = self._clock()
                if self._paused_at is not None:
                    self._paused_total += self._ended_at - self._paused_at
                    self._paused_at = None
            running, self._running = self._running, None
            if running is not None:
                running.close()
            self.publish_progress()
            restart, self._restart_with = self._restart_with, None
            if restart is not None:
                self.printer.link.call(self._begin_or_close(restart))  # queued: this is the serial thread
        elif isinstance(event, HostActionReceived):
            self._host_action(event.name)
        if isinstance(event, (JobStarted, JobPaused, JobResumed)):
            self.publish_progress()

    def _begin_or_close(self, source: GcodeFileSource) -> Callable[[Engine, float], None]:
        begin = self._begin(source)

        def begin_restart(engine: Engine, now: float) -> None:
            try:
                begin(engine, now)
            except NotOperational:  # the link went away meanwhile: the restart is dropped
                source.close()
                log.warning("%s: restart dropped: the printer is %s", self.printer.printer_id, engine.state.text)

        return begin_restart

    def _host_action(self, name: str) -> None:
        """`//action:pause|resume|cancel`: the same paths as the API, queued to the serial thread
        without waiting (this runs on the serial thread itself)."""
        config = self.config

        def act(engine: Engine, now: float) -> None:
            trigger = host_action_trigger(name, engine.state)  # None: the state does not allow it
            if trigger is Trigger.PAUSE:
                engine.pause(now, config.pause_script)
            elif trigger is Trigger.RESUME:
                engine.resume(now, config.resume_script)
            elif trigger is Trigger.CANCEL:
                engine.cancel(now, config.cancel_script)

        if name in ("pause", "resume", "cancel"):
            log.info("%s: firmware asked to %s the job", self.printer.printer_id, name)
            self.printer.link.call(act)
