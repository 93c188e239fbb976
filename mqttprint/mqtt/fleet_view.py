"""The fleet as the broker shows it: every gateway's descriptor and availability, every printer's
retained state, and the rule that settles printer-id clashes between gateways.

Pure: topic + payload in, plain data out; no paho, no clock reads (times are arguments).

Topics read (`<base>` = `mqtt.base_topic`):
  `<base>/gateway/<gateway id>/info`          retained JSON descriptor (see `gateway_info`)
  `<base>/gateway/<gateway id>/availability`  `online` / `offline` (that gateway's last will)
  `<base>/<printer id>/availability|status|temperature|position|progress`
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Optional, Sequence

#: Printer topics the fleet view keeps (the last retained or live payload of each).
PRINTER_KINDS = ("availability", "status", "temperature", "position", "progress")
#: The shape of the fleet listing for one printer: these state documents, as published.
STATE_KINDS = ("status", "temperature", "position", "progress")


def gateway_info(gateway_id: str, version: str, host: str, url: Optional[str], printers: Mapping[str, str],
                 conflicts: Iterable[str], since: float, protocol: int) -> dict[str, Any]:
    """The retained `<base>/gateway/<id>/info` document. `printers`: id -> name of the printers
    this gateway serves (claims); `conflicts`: configured printer ids it refused because another
    gateway already serves them; `since`: unix time it came online (earlier wins a clash)."""
    return {"id": gateway_id, "version": version, "host": host, "url": url,
            "printers": [{"id": pid, "name": name} for pid, name in printers.items()],
            "conflicts": sorted(conflicts), "since": since, "protocol": protocol}


@dataclass
class GatewayEntry:
    """What the broker says about one gateway."""

    info: dict[str, Any] = field(default_factory=dict)
    #: None until an availability message was seen
    available: Optional[bool] = None

    def printer_ids(self) -> list[str]:
        printers = self.info.get("printers")
        if not isinstance(printers, list):
            return []
        return [p["id"] for p in printers if isinstance(p, dict) and isinstance(p.get("id"), str)]

    def printer_name(self, printer_id: str) -> Optional[str]:
        for p in self.info.get("printers") or []:
            if isinstance(p, dict) and p.get("id") == printer_id and isinstance(p.get("name"), str):
                return p["name"]
        return None

    def since(self) -> float:
        value = self.info.get("since")
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else float("inf")


class FleetView:
    """Every gateway and printer under one base topic, from their (retained) messages."""

    def __init__(self, base: str, own_id: str) -> None:
        self.base = base
        self.own_id = own_id
        self.gateways: dict[str, GatewayEntry] = {}
        self.printers: dict[str, dict[str, Any]] = {}

    # ------------------------------------------------------------------ input
    def update(self, topic: str, payload: bytes) -> Optional[tuple[str, str]]:
        """Record one message. Returns (kind, id): ("info"|"gateway", gateway id) or
        ("printer", printer id) for topics the view keeps, None for others."""
        prefix = self.base + "/"
        if not topic.startswith(prefix):
            return None
        parts = topic[len(prefix):].split("/")
        if len(parts) == 3 and parts[0] == "gateway" and parts[2] in ("info", "availability"):
            gid = parts[1]
            if parts[2] == "info":
                info = _json_object(payload)
                if info is None:  # cleared (empty retained payload) or not a descriptor
                    self.gateways.pop(gid, None)
                    return ("info", gid)
                self.gateways.setdefault(gid, GatewayEntry()).info = info
                return ("info", gid)
            self.gateways.setdefault(gid, GatewayEntry()).available = payload.strip() == b"online"
            return ("gateway", gid)
        if len(parts) == 2 and parts[0] != "gateway" and parts[1] in PRINTER_KINDS:
            pid, kind = parts
            entry = self.printers.setdefault(pid, {})
            if kind == "availability":
                entry[kind] = payload.strip() == b"online" if payload else None
            else:
                entry[kind] = _json_object(payload)
            return ("printer", pid)
        return None

    # ------------------------------------------------------------------ questions
    def gateway_online(self, gateway_id: str) -> bool:
        entry = self.gateways.get(gateway_id)
        return bool(entry is not None and entry.available)

    def claimants(self, printer_id: str, *, online_only: bool = True) -> list[str]:
        """Other gateways whose descriptor claims `printer_id` (online ones only by default)."""
        return sorted(gid for gid, entry in self.gateways.items()
                      if gid != self.own_id and printer_id in entry.printer_ids()
                      and (entry.available or not online_only))

    def owner(self, printer_id: str) -> Optional[str]:
        """The gateway that serves `printer_id`: the online claimant that came online first."""
        claimants = [gid for gid, entry in self.gateways.items() if printer_id in entry.printer_ids()]
        online = [gid for gid in claimants if self.gateways[gid].available] or claimants
        if not online:
            return None
        return min(online, key=lambda gid: (self.gateways[gid].since(), gid))

    def refused_at_start(self, own_printers: Iterable[str]) -> dict[str, str]:
        """Printer ids this gateway must refuse when it starts: an online gateway already serves
        them (first come, first served). Returns printer id -> that gateway's id."""
        refused = {}
        for pid in own_printers:
            others = self.claimants(pid)
            if others:
                refused[pid] = others[0]
        return refused

    def must_yield(self, held: Iterable[str], own_since: float) -> dict[str, str]:
        """Printer ids this gateway serves that another online gateway also claims and that
        gateway came online earlier (ties: the smaller gateway id wins). Happens only when two
        gateways could not see each other at start (simultaneous start, a bridge that was down)."""
        out = {}
        for pid in held:
            for gid in self.claimants(pid):
                if (self.gateways[gid].since(), gid) < (own_since, self.own_id):
                    out[pid] = gid
                    break
        return out

    # ------------------------------------------------------------------ output
    def listing(self, local: Mapping[str, str], conflicts: Mapping[str, str],
                own_info: Mapping[str, Any], own_online: bool) -> dict[str, Any]:
        """`GET /api/fleet`: every gateway seen (this one first) and every printer they serve.
        `local`: this gateway's printers (id -> name); `conflicts`: local ids refused (-> the
        other gateway's id)."""
        gateways = [{"id": self.own_id, "version": own_info.get("version"), "host": own_info.get("host"),
                     "url": own_info.get("url"), "available": own_online, "local": True}]
        for gid in sorted(self.gateways):
            if gid == self.own_id:
                continue
            info = self.gateways[gid].info
            gateways.append({"id": gid, "version": info.get("version"), "host": info.get("host"),
                             "url": info.get("url"), "available": self.gateway_online(gid), "local": False})
        printers = []
        for pid, name in local.items():
            printers.append(self._printer(pid, name, self.own_id, True, own_online and pid not in conflicts,
                                          pid in conflicts))
        seen = set(local) - set(conflicts)  # a refused local id is still listed for its real gateway
        for gid in sorted(self.gateways):
            if gid == self.own_id:
                continue
            entry = self.gateways[gid]
            for pid in entry.printer_ids():
                if pid in seen:
                    continue
                seen.add(pid)
                claim = [g for g in self.gateways if pid in self.gateways[g].printer_ids()]
                owner = self.owner(pid) or gid
                available = self.gateway_online(owner) and self.printers.get(pid, {}).get("availability") is True
                printers.append(self._printer(pid, self.gateways[owner].printer_name(pid) or pid, owner, False,
                                              available, len(claim) > 1))
        return {"gateways": gateways, "printers": printers}

    def _printer(self, pid: str, name: str, gateway: str, local: bool, reachable: bool,
                 conflict: bool) -> dict[str, Any]:
        # A refused local printer publishes nothing: what is on its topics belongs to the other gateway.
        state = {} if local and conflict else self.printers.get(pid, {})
        out: dict[str, Any] = {"id": pid, "name": name, "gateway": gateway, "local": local,
                               "available": bool(reachable and state.get("availability") is True),
                               "conflict": conflict}
        for kind in STATE_KINDS:
            out[kind] = state.get(kind)
        return out


def _json_object(payload: bytes) -> Optional[dict[str, Any]]:
    if not payload:
        return None
    try:
        value = json.loads(payload)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def subscriptions(base: str) -> Sequence[str]:
    """The filters the fleet view needs."""
    return [f"{base}/gateway/+/info", f"{base}/gateway/+/availability"] + [f"{base}/+/{k}" for k in PRINTER_KINDS]
