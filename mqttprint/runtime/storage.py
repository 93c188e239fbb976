"""Where mqttprint keeps state: uploads, approved app keys, the installation id."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Mapping, Optional


def state_dir(configured: Optional[str], environ: Optional[Mapping[str, str]] = None) -> Path:
    """The state directory: `storage.dir` if set, else systemd's $STATE_DIRECTORY, else the
    user's data directory ($XDG_DATA_HOME/mqttprint or ~/.local/share/mqttprint). Created if missing."""
    env = os.environ if environ is None else environ
    if configured:
        path = Path(configured).expanduser()
    elif env.get("STATE_DIRECTORY"):
        path = Path(env["STATE_DIRECTORY"].split(":")[0])
    else:
        base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
        path = Path(base) / "mqttprint"
    path.mkdir(parents=True, exist_ok=True)
    return path


def installation_id(directory: Path) -> str:
    """A UUID that stays the same for this installation (OctoPrint's upnpUuid, HA's unique ids)."""
    path = directory / "installation_id"
    try:
        value = path.read_text(encoding="utf-8").strip()
        uuid.UUID(value)
        return value
    except (OSError, ValueError):
        value = str(uuid.uuid4())
        tmp = path.with_suffix(".tmp")
        tmp.write_text(value + "\n", encoding="utf-8")
        os.replace(tmp, path)
        return value
