"""Gateway identity and the fleet over the broker: this gateway's descriptor and availability,
printer-id clash detection, the fleet listing, and commands to other gateways' printers.

Everything between gateways goes through the broker (one broker, a cluster, or bridged site
brokers), never HTTP. Runs on the gateway's own MQTT connection:

1. On connect it subscribes to every gateway's descriptor and availability and every printer's
   retained state, then sends itself a probe on `<base>/gateway/<id>/sync`. The broker delivers
   retained messages before the probe, so when the probe returns this gateway knows who already
   serves which printer id.
2. The first time, it refuses the printer ids an online gateway already serves (clear error in
   the log, the printer marked in conflict, no MQTT connection for it: it never sees the other
   gateway's commands and never overwrites its state), publishes its descriptor and `online`, and
   lets the bridge connect the printers it serves.
3. Later clashes (two gateways that could not see each other, e.g. across a bridge that was down)
   are settled by `FleetView.must_yield`: the gateway that came online first keeps the id.

Remote commands are MQTT 5 requests to the printer's `B/command` with a Response Topic
(`<base>/gateway/<id>/reply`), a `ts` and a Message Expiry Interval of `mqtt.max_command_age`, so a
request held up by a broken bridge expires instead of running late. MQTT 3.1.1: `B/reply` with the
request id. Remote emergencies go to `B/emergency` with an id (sent at most once per id) and no
expiry (an emergency is never refused for age).
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
import uuid
from typing import Any, Callable, Mapping, Optional

from mqttprint import __version__
from mqttprint.config import Config
from mqttprint.mqtt import topics
from mqttprint.mqtt.client import InboundMessage, MqttClient
from mqttprint.mqtt.fleet_view import FleetView, gateway_info, subscriptions
from mqttprint.protocol import gcode
from mqttprint.protocol.errors import InvalidCommand
from mqttprint.runtime.commands import ActionResult, CommandRegistry, Context, NotFound, Request

log = logging.getLogger(__name__)

#: Longest a fleet command waits for its reply unless the caller asks for less/more.
DEFAULT_TIMEOUT = 30.0
#: When the sync probe does not come back (an ACL that denies `<base>/gateway/<id>/sync`), the
#: gateway settles with what it has seen after this many seconds rather than never connecting
#: its printers.
SYNC_TIMEOUT = 5.0


class Fleet:
    """This gateway among others: presence, clash detection, fleet listing, remote requests."""

    def __init__(self, config: Config, client: MqttClient, registry: CommandRegistry,
                 on_settled: Callable[[frozenset[str]], None], on_yield: Callable[[str], None],
                 on_reclaim: Callable[[str], None] = lambda pid: None) -> None:
        self.config = config
        self.client = client
        self.registry = registry
        self.base = config.mqtt.base_topic
        self.id = config.gateway.id
        self.view = FleetView(self.base, self.id)
        self.names = {p.id: p.name for p in config.printers}
        self.conflicts: dict[str, str] = {}
        self.since = time.time()
        self.settled = False
        self._on_settled = on_settled
        self._on_yield = on_yield
        self._on_reclaim = on_reclaim
        self._probe = ""
        self._probe_sent: Optional[float] = None
        self._online = False
        self._warned: set[tuple[str, str]] = set()
        self._lock = threading.RLock()
        self._pending: dict[str, tuple[threading.Event, list[Any]]] = {}
        self.host = socket.gethostname()
        self.url = config.gateway.url or (f"http://{self.host}:{config.rest.port}/" if config.rest.enabled else None)

    # ------------------------------------------------------------------ presence
    @property
    def availability_topic(self) -> str:
        return topics.gateway_availability(self.base, self.id)

    def held(self) -> frozenset[str]:
        """The printer ids this gateway serves (configured minus refused)."""
        with self._lock:
            return frozenset(pid for pid in self.names if pid not in self.conflicts)

    def info(self) -> dict[str, Any]:
        held = self.held()
        with self._lock:
            conflicts = set(self.conflicts)
        return gateway_info(self.id, __version__, self.host, self.url,
                            {pid: name for pid, name in self.names.items() if pid in held}, conflicts, self.since,
                            self.config.mqtt.protocol)

    def on_connect(self) -> None:
        """Gateway connection up: subscribe, then probe (paho thread)."""
        filters = list(subscriptions(self.base)) + [topics.gateway_sync(self.base, self.id)]
        if not self.client.mqtt5:
            filters.append(f"{self.base}/+/reply")  # 3.1.1 has no Response Topic: replies by id
        self.client.subscribe(filters, commands=False)
        self.client.subscribe([topics.gateway_reply(self.base, self.id)], commands=True)
        self._probe = uuid.uuid4().hex
        self._probe_sent = time.monotonic()
        self.client.publish(topics.gateway_sync(self.base, self.id), self._probe.encode(), qos=1)

    def tick(self, now: float) -> None:
        """Called about every 0.25 s (publisher thread, monotonic `now`): settle without the probe
        when it does not come back in time."""
        if self.settled or self._probe_sent is None or now - self._probe_sent < SYNC_TIMEOUT:
            return
        log.warning("the sync probe on %s did not come back within %g s (does the broker's ACL allow this "
                    "gateway to write and read %s/gateway/%s/#?); deciding printer-id clashes with what was "
                    "received so far", topics.gateway_sync(self.base, self.id), SYNC_TIMEOUT, self.base, self.id)
        self._synced()

    def on_disconnect(self) -> None:
        self._online = False
        self._probe_sent = None

    def publish_offline(self, timeout: float = 2.0) -> None:
        """Clean stop: retained `offline` (the descriptor stays: it still names our printers)."""
        handle = self.client.publish(self.availability_topic, b"offline", qos=1, retain=True)
        self.client.wait(handle, timeout)

    def _publish_presence(self) -> None:
        self.client.publish(topics.gateway_info(self.base, self.id), json.dumps(self.info()).encode(), qos=1,
                            retain=True)
        self.client.publish(self.availability_topic, b"online", qos=1, retain=True)
        self._online = True

    # ------------------------------------------------------------------ inbound (paho thread)
    def on_message(self, message: InboundMessage) -> bool:
        """Handle a fleet message; False when it is not one."""
        topic = message.topic
        if topic == topics.gateway_sync(self.base, self.id):
            if message.payload.decode("ascii", "replace") == self._probe:
                self._synced()
            return True
        if topic == topics.gateway_reply(self.base, self.id) or (not self.client.mqtt5 and topic.endswith("/reply")):
            self._reply(message)
            return True
        with self._lock:
            change = self.view.update(topic, message.payload)
        if change is None:
            return False
        if change[0] == "info" and change[1] != self.id and self.settled:
            self._check_claims(change[1])
        return True

    def _synced(self) -> None:
        """Retained state is in (or the probe timed out): decide clashes once, then announce."""
        with self._lock:
            first, self._probe_sent = not self.settled, None
            refused = self.view.refused_at_start(self.names) if first else {}
            self.conflicts.update(refused)
            self.settled = True
        for pid, other in refused.items():
            log.error("printer id %r is already served by gateway %r on this broker: this gateway (%r) refuses "
                      "it (no MQTT for it here). Give one of the two printers another id.", pid, other, self.id)
        self._publish_presence()
        if first:
            self._on_settled(self.held())

    def _check_claims(self, other: str) -> None:
        with self._lock:
            entry = self.view.gateways.get(other)
            yields = self.view.must_yield(self.held(), self.since)
            for pid in yields:
                self.conflicts[pid] = yields[pid]
            clashes = [pid for pid in self.held() if entry is not None and pid in entry.printer_ids()]
            refused_by_other = [pid for pid in (entry.info.get("conflicts") if entry else None) or []
                                if pid in self.names]
        for pid, winner in yields.items():
            log.error("printer id %r is also served by gateway %r, which came online first: this gateway (%r) "
                      "stops serving it. Give one of the two printers another id.", pid, winner, self.id)
            self._on_yield(pid)
        for pid in clashes:
            if (other, pid) not in self._warned:
                self._warned.add((other, pid))
                log.error("gateway %r also claims printer id %r, which this gateway (%r) serves; it came online "
                          "later and must refuse it", other, pid, self.id)
        for pid in refused_by_other:
            if (other, "refused:" + pid) not in self._warned:
                self._warned.add((other, "refused:" + pid))
                log.warning("gateway %r refused its printer %r: this gateway (%r) serves that id", other, pid, self.id)
                self._on_reclaim(pid)  # republish our state over anything the other one published
        if yields:
            self._publish_presence()

    # ------------------------------------------------------------------ listing
    def listing(self) -> dict[str, Any]:
        with self._lock:
            return self.view.listing(self.names, dict(self.conflicts), self.info_unlocked(), self._online)

    def info_unlocked(self) -> dict[str, Any]:
        return {"version": __version__, "host": self.host, "url": self.url}

    # ------------------------------------------------------------------ remote requests
    def _target(self, gateway: str, printer: str) -> bool:
        """Whether (gateway, printer) is local; NotFound unless the fleet knows it."""
        if gateway == self.id:
            if printer not in self.names:
                raise NotFound(f"gateway {gateway!r} has no printer {printer!r}")
            return True
        with self._lock:
            entry = self.view.gateways.get(gateway)
            known = entry is not None and printer in entry.printer_ids()
        if not known:
            raise NotFound(f"unknown printer {printer!r} on gateway {gateway!r}")
        return False

    def command(self, gateway: str, printer: str, commands: list[str], want_reply: bool,
                timeout: float) -> Optional[list[dict[str, Any]]]:
        """Send G-code to a fleet printer. Returns the replies (None without `want_reply`);
        raises TimeoutError when no reply arrived in time."""
        if self._target(gateway, printer):
            if printer in self.conflicts:
                raise NotFound(f"printer {printer!r} is in conflict with gateway {self.conflicts[printer]!r}")
            result = self.registry.dispatch(Request("printer.command", {"commands": commands}, printer, "fleet"))
            if not want_reply:
                return None
            return [_local_reply(h, timeout) for h in result.handles]
        rid = f"{self.id}-{uuid.uuid4().hex[:16]}"
        body: dict[str, Any] = {"commands": commands, "id": rid, "ts": time.time()}
        waiter: tuple[threading.Event, list[Any]] = (threading.Event(), [])
        if want_reply:
            with self._lock:
                self._pending[rid] = waiter
        else:
            body["reply"] = False
        age = self.config.mqtt.max_command_age
        self.client.publish(topics.PrinterTopics(self.base, printer).command, json.dumps(body).encode(), qos=1,
                            response_topic=topics.gateway_reply(self.base, self.id) if want_reply else None,
                            correlation_data=rid.encode() if want_reply else None,
                            expiry=max(1, int(age)) if age > 0 else None)
        if not want_reply:
            return None
        try:
            if not waiter[0].wait(timeout):
                raise TimeoutError(f"no reply from {printer!r} on gateway {gateway!r} within {timeout:g} s")
        finally:
            with self._lock:
                self._pending.pop(rid, None)
        return _replies(waiter[1][0], commands)

    def emergency(self, gateway: str, printer: str, command: str) -> None:
        """An emergency command to a fleet printer: at once, with a request id, never expiring."""
        if self._target(gateway, printer):
            self.registry.dispatch(Request("printer.emergency", {"command": command}, printer, "fleet"))
            return
        if not gcode.is_emergency(command) or len(command) > 16:
            raise InvalidCommand(f"{command!r} is not an emergency command (M112, M108, M410, M876 S<n>, M524)")
        body = {"command": command, "id": f"{self.id}-{uuid.uuid4().hex[:16]}", "ts": time.time(), "reply": False}
        self.client.publish(topics.PrinterTopics(self.base, printer).emergency, json.dumps(body).encode(), qos=1)

    def _reply(self, message: InboundMessage) -> None:
        try:
            body = json.loads(message.payload)
        except (ValueError, RecursionError):
            return
        rid = message.correlation_data.decode("utf-8", "replace") if message.correlation_data else None
        rid = rid or (body.get("id") if isinstance(body, dict) else None)
        with self._lock:
            waiter = self._pending.get(rid) if isinstance(rid, str) else None
        if waiter is not None and not waiter[0].is_set():
            waiter[1].append(body)
            waiter[0].set()

    # ------------------------------------------------------------------ registry
    def register(self, registry: CommandRegistry) -> None:
        """`fleet.list`, `fleet.command`, `fleet.emergency` (REST reaches the fleet only here)."""
        registry.register("fleet.list", lambda ctx, req: ActionResult(self.listing()),
                          "Every gateway and printer on the broker")
        registry.register("fleet.command", self._command_action, "G-code to any printer of the fleet")
        registry.register("fleet.emergency", self._emergency_action, "Emergency command to any printer of the fleet")

    def _command_action(self, context: Context, request: Request) -> ActionResult:
        args = request.args
        gateway, printer, commands = _ids(args) + (args.get("commands"),)
        if not isinstance(commands, list) or not commands or not all(isinstance(c, str) for c in commands):
            raise InvalidCommand("'commands' must be a non-empty list of strings")
        timeout = args.get("timeout", DEFAULT_TIMEOUT)
        try:
            replies = self.command(gateway, printer, commands, bool(args.get("reply")), float(timeout))
        except TimeoutError as exc:
            return ActionResult({"timeout": str(exc)})
        return ActionResult({"replies": replies})

    def _emergency_action(self, context: Context, request: Request) -> ActionResult:
        gateway, printer = _ids(request.args)
        command = request.args.get("command", "M112")
        if not isinstance(command, str):
            raise InvalidCommand("'command' must be a string")
        self.emergency(gateway, printer, command.strip() or "M112")
        return ActionResult({"command": command})


def _ids(args: Mapping[str, Any]) -> tuple[str, str]:
    gateway, printer = args.get("gateway"), args.get("printer")
    if not isinstance(gateway, str) or not isinstance(printer, str):
        raise InvalidCommand("'gateway' and 'printer' must be strings")
    return gateway, printer


def _local_reply(handle: Any, timeout: float) -> dict[str, Any]:
    try:
        result = handle.result(timeout)
    except TimeoutError:
        return {"command": handle.command, "lines": [], "ok": False, "error": f"no reply within {timeout:g} s"}
    return {"command": result.command, "lines": list(result.lines), "ok": result.ok, "error": result.error or None}


def _replies(body: Any, commands: list[str]) -> list[dict[str, Any]]:
    """A `B/reply` document (one command, several, or a refusal) as a list of per-command replies."""
    if isinstance(body, dict) and isinstance(body.get("replies"), list):
        return [r for r in body["replies"] if isinstance(r, dict)]
    if isinstance(body, dict) and isinstance(body.get("command"), str):
        return [{"command": body["command"], "lines": body.get("lines") or [], "ok": bool(body.get("ok")),
                 "error": body.get("error")}]
    # A refusal (nothing was sent to the printer) answers the request as a whole.
    error = body.get("error") if isinstance(body, dict) else None
    return [{"command": c, "lines": [], "ok": False, "error": error or "unreadable reply"} for c in commands]
