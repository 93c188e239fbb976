"""OctoPrint's application-keys workflow: apps ask for a key, an admin decides, the app fetches it.

State lives in `<state dir>/appkeys.json` (mode 0600): approved keys plus the requests not yet
fetched. It is re-read whenever the file changes, so another process (the `mqttprint appkeys`
CLI) can approve or revoke by editing it through this class while the daemon runs. Poll times
stay in memory: writing the file on every poll would wear SD cards for nothing.

An approved key carries a role, as an OctoPrint app key carries the rights of the user who
approved it: over REST the approving admin's role (or a lesser one they ask for), from the CLI
`user` unless `--role` says otherwise.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import secrets
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Optional

log = logging.getLogger(__name__)

FILENAME = "appkeys.json"
#: A request nobody polled (or fetched after approval) for this long is forgotten, seconds.
REQUEST_TIMEOUT = 600.0
#: More undecided requests than this at once is abuse (the endpoint needs no key).
MAX_PENDING = 20
MAX_APP_NAME = 128
#: Roles an app key may carry, most powerful first (the same roles as `rest.api_keys`).
ROLES = ("admin", "user", "read")
#: The role of keys approved without naming one (the CLI's default, and old state files).
DEFAULT_ROLE = "user"


class TooManyRequests(Exception):
    """MAX_PENDING undecided requests exist already."""


@dataclass
class KeyRequest:
    """One app's request. `api_key` and `role` are set once approved; the key becomes valid when fetched."""

    app_token: str
    user_token: str
    app: str
    user: Optional[str]
    created: float
    api_key: Optional[str] = None
    decided: Optional[float] = None
    role: Optional[str] = None


@dataclass(frozen=True, slots=True)
class AppKey:
    """An approved, fetched key with the role it was approved with."""

    app: str
    key: str
    user: Optional[str]
    created: float
    role: str = DEFAULT_ROLE


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8", "surrogateescape"), b.encode("utf-8", "surrogateescape"))


class AppKeyStore:
    """Thread-safe store of app-key requests and approved keys, persisted as JSON."""

    def __init__(self, directory: Path, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(directory) / FILENAME
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: list[AppKey] = []
        self._requests: list[KeyRequest] = []
        self._polled: dict[str, float] = {}  # app_token -> last poll (memory only)
        self._stamp: Optional[tuple[int, int]] = None

    # ------------------------------------------------------------------ the app's side
    def request(self, app: str, user: Optional[str]) -> KeyRequest:
        """Open a request; raises TooManyRequests when too many are undecided."""
        with self._lock:
            self._refresh()
            if sum(1 for r in self._requests if r.api_key is None) >= MAX_PENDING:
                raise TooManyRequests()
            req = KeyRequest(secrets.token_hex(16), secrets.token_hex(16), app, user, self._clock())
            self._requests.append(req)
            self._polled[req.app_token] = req.created
            self._save()
            return req

    def poll(self, app_token: str, consume: bool = True) -> tuple[str, Optional[str]]:
        """("pending", None), ("approved", key) — the key becomes valid and the request is gone —
        or ("unknown", None) for denied, expired, already fetched or never issued tokens.
        `consume=False` (HEAD requests, which carry no body) reports without handing out."""
        with self._lock:
            self._refresh()
            req = self._find(lambda r: _same(r.app_token, app_token))
            if req is None:
                return "unknown", None
            if req.api_key is None:
                self._polled[req.app_token] = self._clock()
                return "pending", None
            if not consume:
                return "approved", None
            self._requests.remove(req)
            self._polled.pop(req.app_token, None)
            self._keys.append(AppKey(req.app, req.api_key, req.user, self._clock(), req.role or DEFAULT_ROLE))
            self._save()
            return "approved", req.api_key

    # ------------------------------------------------------------------ the admin's side
    def pending(self) -> list[KeyRequest]:
        """Undecided requests, oldest first."""
        with self._lock:
            self._refresh()
            return [r for r in self._requests if r.api_key is None]

    def decide(self, user_token: str, approve: bool, role: str = DEFAULT_ROLE) -> bool:
        """Approve (the key gets `role`) or deny an undecided request; False if there is none
        with that token. Raises ValueError for a role that is not one of ROLES."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        with self._lock:
            self._refresh()
            req = self._find(lambda r: r.api_key is None and _same(r.user_token, user_token))
            if req is None:
                return False
            if approve:
                req.api_key = secrets.token_hex(16).upper()
                req.role = role
                req.decided = self._clock()
                self._polled[req.app_token] = req.decided  # the fetch window starts now
            else:
                self._requests.remove(req)
                self._polled.pop(req.app_token, None)
            self._save()
            return True

    def keys(self) -> list[AppKey]:
        with self._lock:
            self._refresh()
            return list(self._keys)

    def credentials(self) -> list[tuple[str, str, str]]:
        """(name, key, role) triples for the authenticator."""
        return [(k.app, k.key, k.role) for k in self.keys()]

    def revoke(self, app: str) -> int:
        """Remove every key of `app`; returns how many were removed."""
        with self._lock:
            self._refresh()
            before = len(self._keys)
            self._keys = [k for k in self._keys if k.app != app]
            removed = before - len(self._keys)
            if removed:
                self._save()
            return removed

    # ------------------------------------------------------------------ internals (lock held)
    def _find(self, match: Callable[[KeyRequest], bool]) -> Optional[KeyRequest]:
        found = None
        for req in self._requests:  # no early exit: the time must not depend on the position
            if match(req) and found is None:
                found = req
        return found

    def _refresh(self) -> None:
        """Re-read the file if another process changed it, then drop expired requests."""
        try:
            st = self.path.stat()
            stamp: Optional[tuple[int, int]] = (st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            stamp = None
        if stamp != self._stamp:
            self._load()
            self._stamp = stamp
        now = self._clock()
        alive = [r for r in self._requests if now - self._last_activity(r) < REQUEST_TIMEOUT]
        if len(alive) != len(self._requests):
            expired = {r.app_token for r in self._requests} - {r.app_token for r in alive}
            for token in expired:
                self._polled.pop(token, None)
            self._requests = alive
            self._save()

    def _last_activity(self, req: KeyRequest) -> float:
        # An approval made by another process (CLI) restarts the fetch window too.
        return max(self._polled.get(req.app_token, 0.0), req.decided or 0.0, req.created)

    def _load(self) -> None:
        if not self.path.exists():
            self._keys, self._requests = [], []
            return
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            keys = [AppKey(**k) for k in data.get("keys", [])]
            requests = [KeyRequest(**r) for r in data.get("requests", [])]
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            # Keep the damaged file for the operator instead of silently overwriting keys.
            backup = self.path.with_suffix(".json.bad")
            log.error("cannot read %s (%s); moved it to %s and starting without app keys", self.path, exc, backup)
            try:
                os.replace(self.path, backup)
            except OSError:
                log.exception("cannot move %s aside", self.path)
            keys, requests = [], []
        self._keys, self._requests = keys, requests

    def _save(self) -> None:
        data: dict[str, Any] = {
            "version": 1,
            "keys": [asdict(k) for k in self._keys],
            "requests": [asdict(r) for r in self._requests],
        }
        tmp = self.path.with_suffix(".json.tmp")
        # Created 0600 from the start: the file holds credentials.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2)
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.path)
        st = self.path.stat()
        self._stamp = (st.st_mtime_ns, st.st_size)
