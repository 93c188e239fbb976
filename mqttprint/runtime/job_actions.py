"""Job and file actions in the command registry (shared by REST `/api/job`, `/api/files` and MQTT `B/job`).

Actions: job.status, job.file {file?}, job.start {file?}, job.restart, job.pause {action}, job.resume, job.cancel,
files.list, files.get {name}, files.upload {name, stream, select, print}, files.select {name, print},
files.unselect, files.delete {name}, files.thumbnail {name, index}.
"""

from __future__ import annotations

import functools
import logging
import threading
from typing import Any, Optional

from mqttprint.config import Config
from mqttprint.gcodefile.model import from_dict
from mqttprint.protocol.errors import InvalidCommand, NotOperational
from mqttprint.protocol.job_rules import JobRequest, refusal
from mqttprint.protocol.states import is_job_active
from mqttprint.runtime.bus import EventBus
from mqttprint.runtime.commands import ActionResult, CommandRegistry, Context, Request, arg_bool, arg_str
from mqttprint.runtime.file_store import FileStore, StoredFile, sanitize_name
from mqttprint.runtime.jobs import PrinterJobs
from mqttprint.runtime.print_facts import gcode_analysis
from mqttprint.runtime.printer_service import PrinterService

log = logging.getLogger(__name__)


class JobsService:
    """The file store and every printer's job control; publishes progress about once a second."""

    def __init__(self, config: Config, store: FileStore, printers: dict[str, PrinterService], bus: EventBus,
                 progress_interval: float = 1.0) -> None:
        self.store = store
        self.jobs = {pid: PrinterJobs(printer, store, config.printer(pid), bus) for pid, printer in printers.items()}
        self._interval = progress_interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="job-progress", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(3)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            for jobs in self.jobs.values():
                if is_job_active(jobs.printer.snapshot().state):
                    try:
                        jobs.publish_progress()
                    except Exception:  # a progress hiccup must never stop the ticker
                        log.exception("publishing progress failed")

    def in_use(self, name: str) -> bool:
        """Whether a file is the selected file of a printer with an active job."""
        return any(j.selected == name and is_job_active(j.printer.snapshot().state) for j in self.jobs.values())


def _jobs(service: JobsService, context: Context, request: Request) -> PrinterJobs:
    printer = context.printer(request.printer_id)
    return service.jobs[printer.printer_id]


def file_entry(stored: StoredFile) -> dict[str, Any]:
    """The transport-neutral description of a stored file (REST adds refs)."""
    entry = {"name": stored.name, "path": stored.name, "display": stored.name, "origin": "local", "type": "machinecode",
             "typePath": ["machinecode", "gcode"], "size": stored.size, "date": stored.date, "lines": stored.lines}
    metadata = from_dict(stored.analysis) if stored.analysis else None
    if metadata is not None and (metadata.slicer or metadata.estimated_time is not None or metadata.filament):
        # Like OctoPrint, files nothing is known about carry no gcodeAnalysis at all.
        entry["gcodeAnalysis"] = gcode_analysis(metadata)
    if metadata is not None and metadata.thumbnails:
        entry["thumbnails"] = [{"width": t.width, "height": t.height, "format": t.format} for t in metadata.thumbnails]
    return entry


def job_status(service: JobsService, context: Context, request: Request) -> ActionResult:
    return ActionResult(data=_jobs(service, context, request).job_info())


def job_file(service: JobsService, context: Context, request: Request) -> ActionResult:
    """{"file"?} -> a stored file's entry with its slicer metadata (default: the selected file)."""
    name = arg_str(request.args, "file") or _jobs(service, context, request).selected
    if name is None:
        raise InvalidCommand("no file selected: name one with 'file'")
    return ActionResult(data=file_entry(service.store.get(name)))


def job_start(service: JobsService, context: Context, request: Request) -> ActionResult:
    _jobs(service, context, request).start(arg_str(request.args, "file"))
    return ActionResult(data={"started": True})


def job_restart(service: JobsService, context: Context, request: Request) -> ActionResult:
    _jobs(service, context, request).restart()
    return ActionResult(data={"restarted": True})


def job_pause(service: JobsService, context: Context, request: Request) -> ActionResult:
    _jobs(service, context, request).pause(arg_str(request.args, "action", "toggle") or "toggle")
    return ActionResult(data={"paused": True})


def job_resume(service: JobsService, context: Context, request: Request) -> ActionResult:
    _jobs(service, context, request).pause("resume")
    return ActionResult(data={"resumed": True})


def job_cancel(service: JobsService, context: Context, request: Request) -> ActionResult:
    _jobs(service, context, request).cancel()
    return ActionResult(data={"cancelled": True})


def files_list(service: JobsService, context: Context, request: Request) -> ActionResult:
    store = service.store
    free, total = store.usage()
    return ActionResult(data={"files": [file_entry(f) for f in store.list()], "free": free, "total": total})


def files_get(service: JobsService, context: Context, request: Request) -> ActionResult:
    name = arg_str(request.args, "name", required=True) or ""
    return ActionResult(data=file_entry(service.store.get(name)))


def files_upload(service: JobsService, context: Context, request: Request) -> ActionResult:
    """{"name", "stream" (binary file object), "select", "print"} -> stored entry + effective flags."""
    name = sanitize_name(arg_str(request.args, "name", required=True) or "")
    stream = request.args.get("stream")
    if stream is None or not hasattr(stream, "read"):
        raise InvalidCommand("no file to upload")
    if service.in_use(name):
        raise NotOperational("Trying to overwrite file that is currently being printed")
    stored = service.store.save(name, stream)
    for printer_jobs in service.jobs.values():
        printer_jobs.stored_again(stored.name)  # B/thumbnail follows a replaced selected file
    select, start = arg_bool(request.args, "select"), arg_bool(request.args, "print")
    jobs = _jobs(service, context, request)
    effective_select = effective_print = False
    if (select or start) and refusal(JobRequest.SELECT, jobs.printer.snapshot().state) is None:
        jobs.select(stored.name, start=False)
        effective_select = True
        if start:
            jobs.start()
            effective_print = True
    return ActionResult(data={"file": file_entry(stored), "effectiveSelect": effective_select, "effectivePrint": effective_print})


def files_thumbnail(service: JobsService, context: Context, request: Request) -> ActionResult:
    """{"name", "index"} -> {"format", "width", "height", "data": bytes} or None (no such thumbnail)."""
    name = arg_str(request.args, "name", required=True) or ""
    index = request.args.get("index", 0)
    thumb = service.store.thumbnail(name, index if isinstance(index, int) else 0)
    if thumb is None:
        return ActionResult(data=None)
    return ActionResult(data={"format": thumb.format, "width": thumb.width, "height": thumb.height, "data": thumb.data})


def files_select(service: JobsService, context: Context, request: Request) -> ActionResult:
    name = arg_str(request.args, "name", required=True) or ""
    _jobs(service, context, request).select(name, start=arg_bool(request.args, "print"))
    return ActionResult(data={"selected": name})


def files_unselect(service: JobsService, context: Context, request: Request) -> ActionResult:
    _jobs(service, context, request).unselect()
    return ActionResult(data={"selected": None})


def files_delete(service: JobsService, context: Context, request: Request) -> ActionResult:
    name = arg_str(request.args, "name", required=True) or ""
    service.store.path_of(name)
    if service.in_use(name):
        raise NotOperational("Trying to delete a file that is currently in use")
    for jobs in service.jobs.values():
        if jobs.selected == name:
            jobs.selected = None
    service.store.delete(name)
    return ActionResult(data={"deleted": name})


def register_job_actions(registry: CommandRegistry, service: JobsService) -> None:
    """Register the job and file actions, bound to `service` (the handlers get it passed in)."""
    for name, handler, description in (
        ("job.status", job_status, "OctoPrint's job document"),
        ("job.file", job_file, "A stored file's entry with its slicer metadata (default: the selected one)"),
        ("job.start", job_start, "Start the selected (or given) file"),
        ("job.restart", job_restart, "Restart the paused job from the beginning"),
        ("job.pause", job_pause, "Pause, resume or toggle the job"),
        ("job.resume", job_resume, "Resume the paused job"),
        ("job.cancel", job_cancel, "Cancel the job and run the cancel script"),
        ("files.list", files_list, "List stored G-code files"),
        ("files.get", files_get, "One stored file"),
        ("files.upload", files_upload, "Store an uploaded file, optionally select/print it"),
        ("files.select", files_select, "Select a stored file, optionally print it"),
        ("files.unselect", files_unselect, "Unselect the current file"),
        ("files.delete", files_delete, "Delete a stored file"),
        ("files.thumbnail", files_thumbnail, "A stored file's embedded thumbnail (0 = largest, 1 = smallest)"),
    ):
        registry.register(name, functools.partial(handler, service), description)


def job_arg(request: Request) -> Optional[str]:
    """The `file` argument of a job request, if any."""
    return arg_str(request.args, "file")
