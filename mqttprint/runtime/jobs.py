"""Print jobs of one printer: select a stored file, start/restart/pause/resume/cancel, progress.

Streaming itself is the engine's job lane (lines pulled lazily from `GcodeFileSource`, so memory
stays flat); this class opens the file, keeps print time (paused time excluded), reacts to the
firmware's host actions (`//action:pause|resume|cancel`) exactly like the API calls, and reports
OctoPrint's job/progress shapes.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional

from mqttprint.config import PrinterConfig
from mqttprint.printer.job import GcodeFileSource, time_left
from mqttprint.protocol.engine import Engine
from mqttprint.protocol.errors import InvalidCommand, NotOperational
from mqttprint.protocol.events import HostActionReceived, JobEnded, JobPaused, JobResumed, JobStarted, StateChanged
from mqttprint.protocol.job_rules import JobRequest, host_action_trigger, pause_trigger, require
from mqttprint.protocol.states import PrinterState, Trigger, is_job_active
from mqttprint.runtime.bus import BusMessage, EventBus
from mqttprint.runtime.file_store import FileStore, resolve_name
from mqttprint.runtime.print_facts import JobFacts, filament_document, stored_metadata
from mqttprint.runtime.printer_service import PrinterService
from mqttprint.runtime.prompts import FilamentChangeSent

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
    # File facts (None when unknown): see gcodefile.live and docs/mqtt.md `B/progress`.
    layer: Optional[int] = None
    layers: Optional[int] = None
    z: Optional[float] = None
    eta: Optional[float] = None  # unix time the print should end
    estimate: Optional[float] = None  # the slicer's total estimate, seconds
    print_time_left_origin: Optional[str] = None
    filament: Optional[dict[str, Optional[float]]] = None  # {"used": mm, "total": mm}
    m73_percent: Optional[float] = None


@dataclass(frozen=True, slots=True)
class SelectedFileChanged:
    """Bus event: a printer's selected file changed (`thumbnail`: its largest PNG, b"" when none)."""

    file: Optional[str]
    thumbnail: bytes


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
        self._selected: Optional[str] = None
        self._facts: Optional[JobFacts] = None  # the latest job's file facts (with `_source`)
        self._facts_of: dict[int, JobFacts] = {}  # opened sources (by id) -> their facts, until they begin
        self._source: Optional[GcodeFileSource] = None  # the latest job (progress is reported from it)
        self._running: Optional[GcodeFileSource] = None  # serial thread only: the job the engine streams
        self._restart_with: Optional[GcodeFileSource] = None  # serial thread only: begins when the job ends
        self._started_at: Optional[float] = None
        self._paused_at: Optional[float] = None
        self._paused_total = 0.0
        self._ended_at: Optional[float] = None
        bus.subscribe(self._on_event, (JobStarted, JobPaused, JobResumed, JobEnded, HostActionReceived, StateChanged))

    @property
    def selected(self) -> Optional[str]:
        return self._selected

    @selected.setter
    def selected(self, name: Optional[str]) -> None:
        changed = name != self._selected
        self._selected = name
        if changed:
            self._announce_selected(name)

    def stored_again(self, name: str) -> None:
        """A file was uploaded again under `name`: if it is the selected one, its thumbnail changed."""
        if name == self._selected:
            self._announce_selected(name)

    def _announce_selected(self, name: Optional[str]) -> None:
        thumb = None
        if name is not None:
            try:
                thumb = self.store.thumbnail(name)
            except Exception:  # a missing thumbnail file is no reason to fail a selection
                thumb = None
        data = thumb.data if thumb is not None and thumb.format == "png" else b""
        self._bus.publish(BusMessage(self.printer.printer_id, SelectedFileChanged(name, data), time.time()))

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
            self._discard(source)
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
            self._discard(source)
            raise

    def _open_selected(self) -> GcodeFileSource:
        if self.selected is None:
            raise InvalidCommand("no file selected: select or upload a file first")
        path = self.store.path_of(self.selected)
        pid = self.printer.printer_id
        facts = JobFacts(stored_metadata(self.store, self.selected),
                         lambda: self._bus.publish(BusMessage(pid, FilamentChangeSent(), time.time())))
        stream = open(path, "rb")  # closed by the serial thread when this job ends (JobEnded)
        source = GcodeFileSource(self.selected, stream, path.stat().st_size, observer=facts.observe)
        self._facts_of[id(source)] = facts
        return source

    def _discard(self, source: GcodeFileSource) -> None:
        """A source that never began: close its file, forget its facts."""
        self._facts_of.pop(id(source), None)
        source.close()

    def _begin(self, source: GcodeFileSource) -> Callable[[Engine, float], None]:
        """The serial-thread intent that starts streaming `source` and starts the job's clock."""

        def begin(engine: Engine, now: float) -> None:
            engine.start_job(source, now)
            self._running = source
            with self._lock:
                self._source, self._facts = source, self._facts_of.pop(id(source), None)
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
            facts, live = self._facts, None
            origin: Optional[str] = None
            if facts is not None:
                live = facts.live(print_time)
                left, origin = facts.time_left(print_time, completion / 100.0, live)
            else:
                left = time_left(print_time, completion)
                origin = None if left is None else "linear"
            if not is_job_active(snapshot.state):
                left, origin = None, None
            if self._ended_at is not None and source.finished:
                left, origin = 0, origin or "linear"
            progress = JobProgress(source.name, round(completion, 2), source.position, source.size, int(print_time),
                                   None if left is None else int(left), snapshot.state_text)
            if live is None:
                return progress
            return dataclasses.replace(
                progress, layer=live.layer, layers=live.layers, z=live.z, estimate=live.estimate,
                eta=None if left is None else round(time.time() + left), print_time_left_origin=origin,
                filament={"used": live.filament_used, "total": live.filament_total}, m73_percent=live.m73_percent)

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
        metadata = stored_metadata(self.store, name)
        document: dict[str, Any] = {
            "job": {
                "file": {"name": name, "path": name, "display": name, "origin": "local" if name else None,
                         "size": stored.size if stored else None, "date": stored.date if stored else None},
                "estimatedPrintTime": metadata.estimated_time if metadata else None, "averagePrintTime": None,
                "lastPrintTime": None, "filament": filament_document(metadata), "user": None,
            },
            "progress": {
                "completion": progress.completion, "filepos": progress.filepos, "printTime": progress.print_time,
                "printTimeLeft": progress.print_time_left, "printTimeLeftOrigin": progress.print_time_left_origin,
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
        if isinstance(event, StateChanged):
            # Paused time starts when feeding stops (Pausing): a firmware-side pause (runout, M600)
            # keeps the last job lines in flight, so JobPaused may only come when it is over.
            with self._lock:
                if event.new is PrinterState.PAUSING and self._paused_at is None:
                    self._paused_at = self._clock()
                elif event.new in (PrinterState.RESUMING, PrinterState.PRINTING) and self._paused_at is not None:
                    self._paused_total += self._clock() - self._paused_at
                    self._paused_at = None
            return
        if isinstance(event, JobPaused):
            with self._lock:
                if self._paused_at is None:
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
                self._discard(source)
                log.warning("%s: restart dropped: the printer is %s", self.printer.printer_id, engine.state.text)

        return begin_restart

    def _host_action(self, name: str) -> None:
        """`//action:pause|resume|cancel`: the same paths as the API, queued to the serial thread
        without waiting (this runs on the serial thread itself)."""
        config = self.config

        def act(engine: Engine, now: float) -> None:
            # `paused`/`resumed`: the firmware parked (runout, M600) or resumed by itself: no scripts.
            by_itself = name in ("paused", "resumed")
            request = {"paused": "pause", "resumed": "resume"}.get(name, name)
            trigger = host_action_trigger(request, engine.state)  # None: the state does not allow it
            if trigger is Trigger.PAUSE:
                engine.pause(now, () if by_itself else config.pause_script)
            elif trigger is Trigger.RESUME:
                engine.resume(now, () if by_itself else config.resume_script)
            elif trigger is Trigger.CANCEL:
                engine.cancel(now, config.cancel_script)

        if name in ("pause", "resume", "cancel", "paused", "resumed"):
            log.info("%s: firmware asked to %s the job", self.printer.printer_id, name)
            self.printer.link.call(act)
