"""Uploaded G-code files: sanitized names, atomic writes, size limit, metadata (size, date, lines,
slicer facts and thumbnails).

One flat directory (OctoPrint's "local" storage without folders). Names coming from requests are
sanitized to a safe basename; anything that would leave the directory is refused. Slicer metadata
is read once, while the upload streams to disk (`gcodefile.MetadataScanner`); thumbnails are kept
as files in `.thumbs/`. Metadata problems never fail an upload.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, BinaryIO, Optional

from mqttprint.gcodefile import FileMetadata, MetadataScanner, Thumbnail
from mqttprint.protocol.errors import InvalidCommand, MqttprintError
from mqttprint.runtime.commands import NotFound

EXTENSIONS = (".gcode", ".gco", ".g")
_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]")
CHUNK = 1 << 16
THUMBS = ".thumbs"
log = logging.getLogger(__name__)


class FileTooLarge(InvalidCommand):
    """The upload exceeds the configured limit (REST answers 413)."""


class StorageFull(MqttprintError):
    """The upload directory's file system (or the temporary directory an upload is received into)
    is full or over quota: nothing was stored (REST 507)."""


#: write errors that mean "no room", not a broken disk (EFBIG: a file size limit, RLIMIT_FSIZE)
NO_SPACE = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


@dataclass(frozen=True, slots=True)
class StoredFile:
    name: str
    size: int
    date: int  # unix seconds of the upload
    lines: int  # non-empty, non-comment lines
    #: `FileMetadata.to_dict()` of the slicer facts (None: not analysed, e.g. an index from an older version)
    analysis: Optional[dict[str, Any]] = None


def sanitize_name(name: str) -> str:
    """A safe file name: basename only, spaces to underscores, unsafe characters removed; must keep
    a G-code extension. Raises InvalidCommand for names that cannot be made safe."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidCommand("a file name is required")
    if "\x00" in name:
        raise InvalidCommand("invalid file name")
    base = name.replace("\\", "/").split("/")[-1].strip()
    base = _UNSAFE.sub("", base.replace(" ", "_"))
    base = base.lstrip(".")
    if not base or base in (".", ".."):
        raise InvalidCommand(f"invalid file name {name!r}")
    if not base.lower().endswith(EXTENSIONS):
        raise InvalidCommand(f"only G-code files can be stored ({', '.join(EXTENSIONS)})")
    if len(base) > 200:
        raise InvalidCommand("file name too long (at most 200 characters)")
    return base


class FileStore:
    """The upload directory and its metadata index."""

    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._index_path = directory / ".metadata.json"
        self._index: dict[str, dict] = self._load_index()

    def _load_index(self) -> dict[str, dict]:
        try:
            data = json.loads(self._index_path.read_text(encoding="utf-8"))
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def _save_index(self) -> None:
        """Persist the metadata index; a full disk only costs the cache (it is rebuilt from the files)."""
        tmp = self._index_path.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps(self._index), encoding="utf-8")
            os.replace(tmp, self._index_path)
        except OSError as exc:
            log.warning("could not save the file index: %s", exc.strerror or exc)
            tmp.unlink(missing_ok=True)

    def path_of(self, name: str) -> Path:
        """The path of a stored file by its exact (already sanitized) name; NotFound otherwise."""
        if name != sanitize_name(name):
            raise NotFound(f"no such file {name!r}")
        path = self.directory / name
        if not path.is_file():
            raise NotFound(f"no such file {name!r}")
        return path

    def save(self, name: str, stream: BinaryIO) -> StoredFile:
        """Store an upload (streamed to disk, never whole in memory); replaces a file of that name."""
        safe = sanitize_name(name)
        tmp = self.directory / f".upload-{os.getpid()}-{threading.get_ident()}.part"
        size = 0
        counter = _Analyser()
        try:
            with open(tmp, "wb") as out:
                while True:
                    chunk = stream.read(CHUNK)
                    if not chunk:
                        break
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise FileTooLarge(f"file is larger than the limit of {self.max_bytes // (1024 * 1024)} MB")
                    out.write(chunk)
                    counter.feed(chunk)
            os.replace(tmp, self.directory / safe)
        except OSError as exc:
            if exc.errno in NO_SPACE:
                log.warning("upload of %s refused: %s (the partial file was removed)", safe, exc.strerror)
                raise StorageFull(f"not enough space to store {safe} ({exc.strerror})") from None
            raise
        finally:
            if tmp.exists() or tmp.is_symlink():
                tmp.unlink()
        lines, metadata = counter.finish()
        stored = StoredFile(safe, size, int(time.time()), lines, self._keep_thumbnails(safe, metadata))
        with self._lock:
            self._index[safe] = asdict(stored)
            self._save_index()
        return stored

    # ------------------------------------------------------------------ thumbnails
    def _keep_thumbnails(self, name: str, metadata: Optional[FileMetadata]) -> Optional[dict[str, Any]]:
        """Store the file's thumbnails (largest, smallest) and return its analysis dict."""
        self._drop_thumbnails(name)
        if metadata is None:
            return None
        folder = self.directory / THUMBS
        try:
            for index, thumb in enumerate(metadata.thumbnails):
                folder.mkdir(exist_ok=True)
                (folder / f"{name}.{index}.{thumb.format}").write_bytes(thumb.data)
        except OSError as exc:  # a thumbnail we cannot store is not worth failing the upload
            log.warning("could not store the thumbnails of %s: %s", name, exc)
        return metadata.to_dict()

    def _drop_thumbnails(self, name: str) -> None:
        folder = self.directory / THUMBS
        if folder.is_dir():
            for path in folder.glob(f"{_glob_escape(name)}.*"):
                path.unlink(missing_ok=True)

    def thumbnail(self, name: str, index: int = 0) -> Optional[Thumbnail]:
        """A stored file's thumbnail: 0 = the largest, 1 = the smallest (when there are two)."""
        thumbs = (self.get(name).analysis or {}).get("thumbnails") or []
        if not 0 <= index < len(thumbs):
            return None
        info = thumbs[index]
        try:
            data = (self.directory / THUMBS / f"{name}.{index}.{info['format']}").read_bytes()
            return Thumbnail(int(info["width"]), int(info["height"]), str(info["format"]), data)
        except (OSError, KeyError, ValueError, TypeError):
            return None
        info = thumbs[index]
        if kind is not None and info.get("format") != kind:
            return None
        path = self.directory / THUMBS / f"{name}.{role if len(thumbs) > 1 or role == 'large' else 'large'}.{info['format']}"
        try:
            return Thumbnail(int(info["width"]), int(info["height"]), str(info["format"]), path.read_bytes())
        except (OSError, KeyError, ValueError):
            return None

    def get(self, name: str) -> StoredFile:
        path = self.path_of(name)
        with self._lock:
            meta = self._index.get(name)
        stat = path.stat()
        if meta is None or meta.get("size") != stat.st_size or "analysis" not in meta:
            lines, metadata = _analyse(path)
            meta = asdict(StoredFile(name, stat.st_size, int(stat.st_mtime), lines, self._keep_thumbnails(name, metadata)))
            with self._lock:
                self._index[name] = meta
                self._save_index()
        return StoredFile(**{k: v for k, v in meta.items() if k in _FIELDS})

    def list(self) -> list[StoredFile]:
        files = []
        for entry in sorted(self.directory.iterdir()):
            if entry.is_file() and not entry.name.startswith(".") and entry.name.lower().endswith(EXTENSIONS):
                try:
                    files.append(self.get(entry.name))
                except (NotFound, InvalidCommand, OSError):
                    continue
        return files

    def delete(self, name: str) -> None:
        path = self.path_of(name)
        path.unlink()
        self._drop_thumbnails(name)
        with self._lock:
            self._index.pop(name, None)
            self._save_index()

    def usage(self) -> tuple[int, int]:
        """(free bytes, total bytes) of the file system holding the uploads."""
        stat = os.statvfs(self.directory)
        return stat.f_bavail * stat.f_frsize, stat.f_blocks * stat.f_frsize


def _is_command(raw: bytes) -> bool:
    text = raw.split(b";", 1)[0].strip()
    return bool(text)


_FIELDS = ("name", "size", "date", "lines", "analysis")


def _glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[]" else c for c in name)


class _Analyser:
    """Counts command lines and reads slicer metadata from chunks as they stream to disk.

    Linear in the upload's size whatever its shape: the line that is still open is kept as two
    flags (has a command / is in a comment), never as bytes, so an upload without newlines does
    not re-copy a growing buffer on every chunk (that was quadratic: 60 MB took 22 s).
    """

    def __init__(self) -> None:
        self.lines = 0
        self._open_command = False  # the open line has text before any ';'
        self._open_comment = False  # the open line has reached a ';'
        self._scanner: Optional[MetadataScanner] = MetadataScanner()

    def _part(self, part: bytes) -> None:
        if self._open_comment:
            return
        code, semicolon, _ = part.partition(b";")
        if not self._open_command and code.strip():
            self._open_command = True
        if semicolon:
            self._open_comment = True

    def feed(self, chunk: bytes) -> None:
        *complete, rest = chunk.split(b"\n")
        if complete:
            self._part(complete[0])
            self.lines += self._open_command
            self.lines += sum(1 for line in complete[1:] if _is_command(line))
            self._open_command = self._open_comment = False
        self._part(rest)
        if self._scanner is not None:
            try:
                self._scanner.feed(chunk)
            except Exception:  # a metadata bug must never fail an upload
                log.exception("reading G-code metadata failed; the file is stored without it")
                self._scanner = None

    def finish(self) -> tuple[int, Optional[FileMetadata]]:
        self.lines += self._open_command
        if self._scanner is None:
            return self.lines, None
        try:
            return self.lines, self._scanner.finish()
        except Exception:
            log.exception("reading G-code metadata failed; the file is stored without it")
            return self.lines, None


def _analyse(path: Path) -> tuple[int, Optional[FileMetadata]]:
    analyser = _Analyser()
    with open(path, "rb") as stream:
        while True:
            chunk = stream.read(CHUNK)
            if not chunk:
                return analyser.finish()
            analyser.feed(chunk)


def resolve_name(store: FileStore, name: Optional[str]) -> str:
    """A request's file name -> an existing stored name (exact match after sanitizing)."""
    if not name:
        raise InvalidCommand("a file name is required")
    return store.path_of(name).name
