"""Files: GET /api/files[/local|/sdcard], upload (POST /api/files/local), and one file:
GET|POST|DELETE /api/files/local/<name> (octoprint.md 1.8).

mqttprint's local storage is one flat directory of G-code files (no folders). The registry's
"files.*" actions do the storing, selecting and deleting; this module checks the request in
OctoPrint's order with OctoPrint's texts, and adds the absolute `refs` URLs.

Names in paths must be canonical (exactly a stored, sanitized name): anything else — `../x.gcode`,
`%2e%2e/x.gcode`, a folder path — is 404 like OctoPrint's non-canonical paths, so no request can
reach a file outside the upload directory. Upload names with a path separator are refused (400).
"""

from __future__ import annotations

import json
from typing import Any, Mapping
from urllib.parse import quote

from mqttprint.protocol.errors import InvalidCommand
from mqttprint.protocol.job_rules import JobRequest
from mqttprint.rest.api_thumbnails import PLUGIN, thumbnail_path
from mqttprint.rest.routing import NO_CONTENT, Call, Reply, Route, Upload, require_allowed, require_permission
from mqttprint.rest.validation import ApiError, is_true, json_command
from mqttprint.runtime.file_store import EXTENSIONS, sanitize_name

NOT_FOUND = "File not found"
INVALID_NAME = "Can not upload file, invalid file name"
INVALID_TYPE = "Could not upload file, invalid type"
NO_FOLDERS = "Folders are not supported by mqttprint (one flat G-code directory): leave 'path' empty"
#: Type filters (`?filter=`) that match stored files: they are all G-code.
MATCHING_FILTERS = ("machinecode", "gcode")
#: OctoPrint's file commands that mqttprint does not implement (they answer 400, not "invalid").
UNSUPPORTED_COMMANDS = ("slice", "analyse", "copy", "move", "uploadSd")


# ---------------------------------------------------------------------- helpers
def refs(call: Call, name: str) -> dict[str, str]:
    """URLs of a stored file on the prefix the client used: absolute under `rest.external_url`,
    otherwise relative (never from the Host header)."""
    quoted = quote(name)
    return {"resource": f"{call.url_root}api/files/local/{quoted}",
            "download": f"{call.url_root}downloads/files/local/{quoted}"}


def with_refs(call: Call, entry: Mapping[str, Any]) -> dict[str, Any]:
    """A file entry as OctoPrint lists it (plus mqttprint's `lines`: the G-code line count), with
    `gcodeAnalysis` and, when the file has one, the PrusaSlicer-thumbnails plugin's `thumbnail`."""
    out = {**entry, "refs": refs(call, str(entry["name"]))}
    path = thumbnail_path(entry)
    if path is not None:
        out["thumbnail"] = f"{path}?{entry.get('date', 0)}"
        out["thumbnail_src"] = PLUGIN
        out["refs"]["thumbnail"] = f"{call.url_root}{path}"
    return out


def canonical(name: str) -> str:
    """A path segment naming a stored file: must already be a sanitized name, else 404."""
    try:
        if name == sanitize_name(name):
            return name
    except InvalidCommand:
        pass
    raise ApiError(404, NOT_FOUND)


def upload_name(raw: str) -> str:
    """The name an upload is stored under, or OctoPrint's 400 (bad name) / 415 (not G-code)."""
    if not raw or "/" in raw or "\\" in raw or "\x00" in raw:
        raise ApiError(400, INVALID_NAME)
    if not raw.lower().endswith(EXTENSIONS):
        raise ApiError(415, INVALID_TYPE)
    try:
        return sanitize_name(raw)
    except InvalidCommand:
        raise ApiError(400, INVALID_NAME) from None


def _entries(call: Call) -> tuple[list[dict[str, Any]], int, int]:
    data = call.dispatch("files.list", {}).data
    files = [with_refs(call, entry) for entry in data["files"]]
    wanted = call.query.get("filter")
    if wanted and wanted not in MATCHING_FILTERS:
        files = []
    return files, int(data["free"]), int(data["total"])


def _stored(call: Call, name: str) -> dict[str, Any]:
    return dict(call.dispatch("files.get", {"name": name}).data)


def _exists(call: Call, name: str) -> bool:
    try:
        _stored(call, name)
    except ApiError as exc:
        if exc.status == 404:
            return False
        raise
    return True


# ---------------------------------------------------------------------- listing
def list_all(call: Call) -> Reply:
    """GET /api/files (FILES_LIST): local files (there is no SD card), free and total bytes."""
    files, free, total = _entries(call)
    return Reply(200, {"files": files, "free": free, "total": total})


def list_local(call: Call) -> Reply:
    """GET /api/files/local (FILES_LIST): as GET /api/files."""
    return list_all(call)


def list_sdcard(call: Call) -> Reply:
    """GET /api/files/sdcard (FILES_LIST): OctoPrint's answer without a ready SD card."""
    return Reply(200, {"files": []})


def sdcard_disabled(call: Call) -> Reply:
    """POST /api/files/sdcard: uploads to the SD card need SD support, which is off."""
    raise ApiError(404, "SD support is disabled")


def get_file(call: Call) -> Reply:
    """GET /api/files/local/<name> (FILES_LIST): the entry, 404 if missing or not canonical."""
    name = canonical(call.params["filename"])
    return Reply(200, with_refs(call, _stored(call, name)))


# ---------------------------------------------------------------------- upload
def _form_checks(form: Mapping[str, str], upload: Upload | None) -> Upload:
    if upload is None:
        if form.get("foldername"):
            raise ApiError(400, NO_FOLDERS)
        raise ApiError(400, "No file to upload and no folder to create")
    userdata = form.get("userdata")
    if userdata is not None:
        try:
            json.loads(userdata)
        except ValueError:
            raise ApiError(400, "userdata contains invalid JSON") from None
    if (form.get("path") or "").strip("/"):
        raise ApiError(400, NO_FOLDERS)
    return upload


def upload(call: Call) -> Reply:
    """POST /api/files/local (FILES_UPLOAD), multipart part `file` + optional form fields `select`,
    `print`, `filename`, `noOverwrite`, `userdata`, `path` (must be empty). 201 + Location.

    `select`/`print` are honoured with FILES_SELECT/PRINT and while the printer is ready;
    otherwise the upload still succeeds and `effectiveSelect`/`effectivePrint` say false."""
    form = call.read_form()
    part = _form_checks(form, call.read_file("file"))
    name = upload_name(form.get("filename") or part.filename)
    if _exists(call, name):
        if is_true(form.get("noOverwrite")):
            raise ApiError(409, "File already exists and noOverwrite was set")
        require_permission(call, "FILES_DELETE", "File already exists, cannot overwrite due to a lack of permissions")
    select = is_true(form.get("select")) and call.principal.allows("FILES_SELECT")
    start = is_true(form.get("print")) and call.principal.allows("PRINT")
    result = call.dispatch("files.upload", {"name": name, "stream": part.stream, "select": select, "print": start}).data
    stored = result["file"]
    links = refs(call, stored["name"])
    return Reply(201, {
        "files": {"local": {"name": stored["name"], "path": stored["path"], "origin": "local", "refs": links}},
        "done": True,
        "effectiveSelect": bool(result["effectiveSelect"]),
        "effectivePrint": bool(result["effectivePrint"]),
    }, {"Location": links["resource"]})


# ---------------------------------------------------------------------- file commands
def _select(call: Call, name: str, data: Mapping[str, Any]) -> Reply:
    require_permission(call, "FILES_SELECT")
    name = canonical(name)  # "current" names no stored file
    _stored(call, name)  # 404 before the state checks, as in OctoPrint
    require_allowed(call, JobRequest.SELECT)
    start = is_true(data.get("print"))
    if start:
        require_permission(call, "PRINT")
        require_allowed(call, JobRequest.PRINT_SELECTED)
    call.dispatch("files.select", {"name": name, "print": start})
    return NO_CONTENT


def _unselect(call: Call, name: str) -> Reply:
    require_permission(call, "FILES_SELECT")
    require_allowed(call, JobRequest.UNSELECT)
    current = call.dispatch("job.status", {}).data["job"]["file"]["name"]
    if current is None:
        raise ApiError(409, "Cannot unselect current file when there is no file selected")
    if name not in (current, "current"):
        raise ApiError(400, "Only the currently selected file can be unselected")
    call.dispatch("files.unselect", {})
    return NO_CONTENT


def file_command(call: Call) -> Reply:
    """POST /api/files/local/<name> {"command": "select", "print"?} or {"command": "unselect"}
    (`current` names the selected file). 204. Checks: path (404), body (415/400), permission
    (403), file exists (404), printer ready (409)."""
    filename = call.params["filename"]
    name = filename if filename == "current" else canonical(filename)
    data = call.json()
    command = json_command(data, {"select": (), "unselect": (), "slice": (), "analyse": (),
                                  "copy": ("destination",), "move": ("destination",), "uploadSd": ()})
    if command == "select":
        return _select(call, name, data)
    if command == "unselect":
        return _unselect(call, name)
    raise ApiError(400, f"The file command {command!r} is not supported by mqttprint")


def delete_file(call: Call) -> Reply:
    """DELETE /api/files/local/<name> (FILES_DELETE): 204; 404 missing; 409 while being printed."""
    name = canonical(call.params["filename"])
    call.dispatch("files.delete", {"name": name})
    return NO_CONTENT


ROUTES = (
    Route("/files", ("GET",), list_all, "FILES_LIST"),
    Route("/files/local", ("GET",), list_local, "FILES_LIST"),
    Route("/files/local", ("POST",), upload, "FILES_UPLOAD"),
    Route("/files/sdcard", ("GET",), list_sdcard, "FILES_LIST"),
    Route("/files/sdcard", ("POST",), sdcard_disabled, "FILES_UPLOAD"),
    Route("/files/local/<path:filename>", ("GET",), get_file, "FILES_LIST"),
    # OctoPrint checks the per-command permission (FILES_SELECT, PRINT) inside, after the body.
    Route("/files/local/<path:filename>", ("POST",), file_command, None),
    Route("/files/local/<path:filename>", ("DELETE",), delete_file, "FILES_DELETE"),
)
