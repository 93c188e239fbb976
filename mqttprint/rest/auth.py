"""Who is calling: API key extraction, constant-time key lookup, roles -> OctoPrint permissions.

OctoPrint looks for a key in the `apikey` request value (query string or form field), then the
`X-Api-Key` header, then `Authorization: Bearer <key>`. A missing or unknown key is not an error
by itself: the request runs as the anonymous guest, who has no permissions, so protected endpoints
answer 403 and open ones (`/api/currentuser`, `/api/login`, app-key requests) still work.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping, Optional

from mqttprint.config import ApiKey

#: OctoPrint 1.11 permission keys (access/permissions.py) that mqttprint's endpoints use or report.
ALL_PERMISSIONS = (
    "ADMIN", "STATUS", "CONNECTION", "WEBCAM", "SYSTEM", "FILES_LIST", "FILES_UPLOAD", "FILES_DOWNLOAD",
    "FILES_DELETE", "FILES_SELECT", "PRINT", "MONITOR_TERMINAL", "CONTROL", "SLICE", "SETTINGS_READ",
    "SETTINGS", "GCODE_VIEWER",
)

#: What OctoPrint's default "read-only" group may do: look, never act.
READ_PERMISSIONS = ("STATUS", "WEBCAM", "FILES_LIST", "FILES_DOWNLOAD", "SETTINGS_READ", "GCODE_VIEWER")

#: OctoPrint's default "users" group: operate the printer, but no SYSTEM/SETTINGS/ADMIN.
USER_PERMISSIONS = READ_PERMISSIONS + (
    "CONNECTION", "FILES_UPLOAD", "FILES_DELETE", "FILES_SELECT", "PRINT", "MONITOR_TERMINAL", "CONTROL", "SLICE",
)

ROLE_PERMISSIONS: Mapping[str, frozenset[str]] = {
    "admin": frozenset(ALL_PERMISSIONS),
    "user": frozenset(USER_PERMISSIONS),
    "read": frozenset(READ_PERMISSIONS),
}

#: OctoPrint group keys per role (what `/api/currentuser` reports in `groups`).
ROLE_GROUPS: Mapping[str, tuple[str, ...]] = {
    "admin": ("admins", "users"),
    "user": ("users",),
    "read": ("readonly",),
}

BEARER = "bearer "


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller. `name` is None for the anonymous guest."""

    name: Optional[str]
    role: Optional[str]
    source: str = "anonymous"  # "config" (rest.api_keys), "appkey" (approved app key) or "anonymous"

    @property
    def permissions(self) -> frozenset[str]:
        return ROLE_PERMISSIONS.get(self.role or "", frozenset())

    @property
    def groups(self) -> tuple[str, ...]:
        return ROLE_GROUPS.get(self.role or "", ("guests",))

    @property
    def anonymous(self) -> bool:
        return self.name is None

    def allows(self, permission: Optional[str]) -> bool:
        """OctoPrint: admins implicitly pass every check; None means "no permission needed"."""
        if permission is None:
            return True
        perms = self.permissions
        return "ADMIN" in perms or permission in perms

    def sorted_permissions(self) -> list[str]:
        """In OctoPrint's declaration order (stable output for clients and tests)."""
        perms = self.permissions
        return [p for p in ALL_PERMISSIONS if p in perms]


ANONYMOUS = Principal(None, None)


def extract_key(values: Mapping[str, str], headers: Mapping[str, str]) -> Optional[str]:
    """The API key a request carries, in OctoPrint's order: `apikey` value, X-Api-Key, Bearer."""
    key = values.get("apikey")
    if key:
        return key
    key = headers.get("X-Api-Key")
    if key:
        return key
    authorization = headers.get("Authorization") or ""
    if authorization[: len(BEARER)].lower() == BEARER:
        return authorization[len(BEARER):].strip() or None
    return None


def _same(a: str, b: str) -> bool:
    # Bytes, because compare_digest refuses non-ASCII str; surrogateescape so no header value
    # can make the comparison raise.
    return hmac.compare_digest(a.encode("utf-8", "surrogateescape"), b.encode("utf-8", "surrogateescape"))


class Authenticator:
    """Resolves a key against the configured keys and the approved app keys, in constant time per key."""

    def __init__(self, config_keys: Iterable[ApiKey], app_keys: Callable[[], Iterable[tuple[str, ...]]]) -> None:
        """`app_keys()` yields (name, key, role) of approved app keys; a (name, key) pair means "user"."""
        self._config_keys = tuple(config_keys)
        self._app_keys = app_keys

    def resolve(self, key: Optional[str]) -> Principal:
        """The principal for `key`, or ANONYMOUS. Every candidate is compared (no early exit), so
        the time taken does not reveal which key matched or how many characters were right."""
        if not key:
            return ANONYMOUS
        found: Optional[Principal] = None
        for entry in self._config_keys:
            if _same(key, entry.key) and found is None:
                found = Principal(entry.name, entry.role, "config")
        for name, app_key, *role in self._app_keys():
            if _same(key, app_key) and found is None:
                found = Principal(name, role[0] if role else "user", "appkey")
        return found or ANONYMOUS


def user_dict(principal: Principal) -> dict[str, object]:
    """`/api/currentuser`: name, permissions, groups (anonymous: null, [], ["guests"])."""
    return {"name": principal.name, "permissions": principal.sorted_permissions(), "groups": list(principal.groups)}


def needs(principal: Principal) -> dict[str, list[str]]:
    """OctoPrint's `needs` object: lower-case permission keys as roles, plus groups."""
    return {"role": [p.lower() for p in principal.sorted_permissions()], "group": list(principal.groups)}


def login_dict(principal: Principal) -> dict[str, object]:
    """What `POST /api/login` answers (`user.as_dict()` plus the login bookkeeping keys)."""
    if principal.anonymous:
        return {"needs": needs(principal), "_is_external_client": False, "_credentials_seen": False}
    permissions = principal.sorted_permissions()
    return {
        "name": principal.name,
        "active": True,
        "permissions": permissions,
        "groups": list(principal.groups),
        "needs": needs(principal),
        "apikey": None,  # never echo secrets; OctoPrint shows a user's own key, mqttprint does not
        "settings": {},
        "admin": "ADMIN" in permissions,
        "user": True,
        "roles": ["user", "admin"] if "ADMIN" in permissions else ["user"],
        "_is_external_client": False,
        "_login_mechanism": "apikey",
        "_credentials_seen": False,
    }
