"""Uploaded G-code files: sanitized names, atomic writes, size limit, metadata (size, date, lines).

One flat directory (OctoPrint's "local" storage without folders). Names coming from requests are
sanitized to a safe basename; anything that would leave the directory is refused.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import BinaryIO, Optional

from mqttprint.protocol.errors import InvalidCommand
from mqttprint.runtime.commands import NotFound

EXTENSIONS = (".gcode", ".gco", ".g")
_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]")
CHUNK = 1 << 16


class FileTooLarge(InvalidCommand):
    """The upload exceeds the configured limit (REST answers 413)."""


@dataclass(frozen=True, slots=True)
class StoredFile:
    name: str
    size: int
    date: int  # unix seconds of the upload
    lines: int  # non-empty, non-comment lines


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
        tmp = self._index_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self._index), encoding="utf-8")
        os.replace(tmp, self._index_path)

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
        size = lines = 0
        pending = b""
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
                    pending += chunk
                    *complete, pending = pending.split(b"\n")
                    lines += sum(1 for line in complete if _is_command(line))
                if _is_command(pending):
                    lines += 1
            os.replace(tmp, self.directory / safe)
        finally:
            if tmp.exists():
                tmp.unlink()
        stored = StoredFile(safe, size, int(time.time()), lines)
        with self._lock:
            self._index[safe] = asdict(stored)
            self._save_index()
        return stored

    def get(self, name: str) -> StoredFile:
        path = self.path_of(name)
        with self._lock:
            meta = self._index.get(name)
        stat = path.stat()
        if meta is None or meta.get("size") != stat.st_size:
            meta = asdict(StoredFile(name, stat.st_size, int(stat.st_mtime), _count_lines(path)))
            with self._lock:
                self._index[name] = meta
                self._save_index()
        return StoredFile(**meta)

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


def _count_lines(path: Path) -> int:
    with open(path, "rb") as stream:
        return sum(1 for raw in stream if _is_command(raw))


def resolve_name(store: FileStore, name: Optional[str]) -> str:
    """A request's file name -> an existing stored name (exact match after sanitizing)."""
    if not name:
        raise InvalidCommand("a file name is required")
    return store.path_of(name).name
