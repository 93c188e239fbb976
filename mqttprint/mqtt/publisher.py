"""Outbound MQTT: retained state, events, telemetry coalescing, terminal batches, discovery.

The event-bus callback runs on a printer's serial thread, so it only records what changed and wakes the
publisher thread; everything else (building JSON, calling paho) happens here. Telemetry never queues:
position/temperature are marked dirty and read from the latest printer snapshot when due (at most one
publish per `mqtt.telemetry_interval` per topic, always ending on the latest value). Events queue in
order; if that queue ever grows huge, the oldest non-state events are dropped first, never state changes.
"""

from __future__ import annotations

import collections
import logging
import random
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Optional

from mqttprint.config import Config
from mqttprint.mqtt import discovery, payloads, print_facts, topics
from mqttprint.mqtt.client import MqttClient
from mqttprint.protocol.events import (
    EmergencySent, FirmwareErrorReported, FirmwareIdentified, FirmwareReset, HostActionReceived, JobEnded, JobPaused,
    JobResumed, JobStarted, LineReceived, LineSent, PositionUpdate, StateChanged, TemperatureUpdate,
)
from mqttprint.protocol.states import PrinterState, octoprint_flags
from mqttprint.runtime.bus import BusMessage
from mqttprint.runtime.jobs import JobProgress
from mqttprint.runtime.printer_service import PrinterService
from mqttprint.runtime.system_commands import SystemCommandFinished

log = logging.getLogger(__name__)

#: Bus event types the publisher turns into MQTT messages (traffic only when the terminal is on).
EVENT_TYPES: tuple[type, ...] = (StateChanged, TemperatureUpdate, PositionUpdate, FirmwareIdentified, EmergencySent,
                                 FirmwareErrorReported, FirmwareReset, HostActionReceived, JobStarted, JobPaused,
                                 JobResumed, JobEnded, JobProgress, SystemCommandFinished) + print_facts.EVENT_TYPES
TRAFFIC_TYPES: tuple[type, ...] = (LineSent, LineReceived)
#: Events kept while the publisher is behind; beyond this the oldest non-state events go.
MAX_PENDING_EVENTS = 10_000
#: Terminal lines kept per printer between batches; beyond this the oldest are dropped.
MAX_TERMINAL_LINES = 5_000
#: Lines per terminal message.
TERMINAL_BATCH = 500
#: The publisher thread wakes at least this often (reply timeouts, scheduled work).
TICK = 0.25
#: Home Assistant asks for discovery on its birth message; spread the answers a little.
DISCOVERY_JITTER = 1.0
#: After a (re)connect discovery waits this long, so a retained pre-gateway-id config (delivered
#: right after the subscription) is retired first and its entity ids are free for the new one.
DISCOVERY_SETTLE = 0.5
#: After retiring such a config, Home Assistant gets this long to remove the old entities.
LEGACY_RETIRE_DELAY = 1.5
#: Heaters assumed before the firmware's first temperature report.
DEFAULT_HEATERS = ("tool0", "bed")
#: Command output carried by SystemCommandFinished events is cut to this many characters.
MAX_OUTPUT = 2000

_OFFLINE = (PrinterState.OFFLINE, PrinterState.OFFLINE_AFTER_ERROR)
_JOB_END_EVENTS = {"done": "PrintDone", "failed": "PrintFailed", "cancelled": "PrintCancelled"}
_NEVER_DROPPED = (StateChanged, FirmwareIdentified)


@dataclass(frozen=True, slots=True)
class Publication:
    """One message to publish from the publisher thread (replies, rejections)."""

    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = False
    correlation_data: Optional[bytes] = None
    #: the printer whose connection sends it (None: the gateway's own connection)
    printer_id: Optional[str] = None


class Publisher:
    """Owns the publisher thread; fed by the event bus and by the bridge's `send()`.

    `client` is the gateway's own connection; `printer_clients` the per-printer connections (each
    carries its printer's last will, so everything about a printer leaves on its connection).
    Without `printer_clients` (unit tests) the one client carries everything and
    `set_connected(True)` counts for every printer.
    """

    def __init__(self, config: Config, client: MqttClient, printers: Mapping[str, PrinterService],
                 on_tick: Callable[[float], None] = lambda now: None,
                 system_listing: Callable[[], Optional[Any]] = lambda: None,
                 printer_clients: Optional[Mapping[str, MqttClient]] = None) -> None:
        self.config = config
        self.client = client
        self.printer_clients: Mapping[str, MqttClient] = printer_clients or {}
        self.printers = printers
        self.base = config.mqtt.base_topic
        self.topics = {pid: topics.PrinterTopics(self.base, pid) for pid in printers}
        self._on_tick = on_tick
        self._system_listing = system_listing
        self._progress: dict[str, tuple[JobProgress, float]] = {}
        self._facts = print_facts.RetainedFacts()
        self._dropped = 0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._events: collections.deque[BusMessage] = collections.deque()
        self._outgoing: collections.deque[Publication] = collections.deque()
        self._dirty: set[tuple[str, str]] = set()
        self._last_sent: dict[tuple[str, str], float] = {}
        self._terminal = {pid: collections.deque[str](maxlen=MAX_TERMINAL_LINES) for pid in printers}
        self._terminal_sent = 0.0
        #: whether the gateway connection / each printer's connection is up
        self._connected = False
        self._printers_connected: set[str] = set()
        self._republish_printers: set[str] = set()
        self._discovery_due: Optional[float] = None
        self._discovered: dict[str, tuple[Any, ...]] = {}
        self._retire: set[str] = set()
        self._thread = threading.Thread(target=self._run, name="mqtt-publisher", daemon=True)

    # ------------------------------------------------------------------ any thread
    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def alive(self) -> bool:
        """Whether the publisher thread runs (or has not been started yet)."""
        return self._thread.is_alive() or (self._thread.ident is None and not self._stopping.is_set())

    def is_connected(self, printer_id: Optional[str] = None) -> bool:
        """Whether the gateway's connection (or that printer's) is up (bridge, metrics)."""
        with self._lock:
            return self._connected if printer_id is None else printer_id in self._printers_connected

    def backlog(self) -> int:
        """Events and messages waiting for the publisher thread (for the metrics)."""
        return len(self._events) + len(self._outgoing)

    def on_bus(self, message: BusMessage) -> None:
        """Event-bus subscriber (serial thread): record and wake, never block, never publish."""
        event = message.event
        kind = type(event)
        with self._lock:
            if kind is TemperatureUpdate:
                self._dirty.add((message.printer_id, "temperature"))
            elif kind is PositionUpdate:
                self._dirty.add((message.printer_id, "position"))
            elif kind is JobProgress:
                # Kept per printer (latest wins) and published like telemetry.
                self._progress[message.printer_id] = (event, message.wall_time)  # type: ignore[assignment]
                self._dirty.add((message.printer_id, "progress"))
            elif kind in print_facts.STATE_TYPES:
                self._dirty.add(self._facts.record(message))  # type: ignore[arg-type]
            elif kind is LineSent or kind is LineReceived:
                buffer = self._terminal.get(message.printer_id)
                if buffer is not None:
                    buffer.append(payloads.terminal_line(kind is LineSent, event.text, getattr(event, "line_number", None)))
            else:
                if kind is EmergencySent and self.config.mqtt.terminal:  # written out of band: on the terminal too
                    self._terminal[message.printer_id].append(payloads.terminal_line(True, event.command, None))
                if len(self._events) >= MAX_PENDING_EVENTS:
                    self._drop_oldest_event()
                self._events.append(message)
        self._wake.set()

    def send(self, publication: Publication) -> None:
        """Publish from the publisher thread (safe from paho callbacks and serial threads)."""
        with self._lock:
            self._outgoing.append(publication)
        self._wake.set()

    def set_connected(self, connected: bool, printer_id: Optional[str] = None) -> None:
        """A connection came up (republish what it carries) or went away: the gateway's own
        (`printer_id` None) or one printer's."""
        with self._lock:
            if printer_id is None:
                self._connected = connected
                shared = [pid for pid in self.printers if pid not in self.printer_clients]
            else:
                shared = [printer_id]
            for pid in shared:
                if connected:
                    self._printers_connected.add(pid)
                    self._republish_printers.add(pid)
                else:
                    self._printers_connected.discard(pid)
        self._wake.set()

    def client_for(self, printer_id: Optional[str]) -> MqttClient:
        """The connection that publishes for this printer (None: the gateway's own)."""
        if printer_id is None:
            return self.client
        return self.printer_clients.get(printer_id, self.client)

    def schedule_discovery(self, delay: Optional[float] = None) -> None:
        """Publish discovery after `delay` seconds (default: a short random delay, for Home
        Assistant's birth message)."""
        with self._lock:
            self._discovery_due = time.monotonic() + (random.uniform(0, DISCOVERY_JITTER) if delay is None else delay)
        self._wake.set()

    def retire_legacy_discovery(self, pid: str) -> None:
        """A retained discovery config of a version before the gateway identity exists for `pid`:
        remove it (Home Assistant removes its entities and device), then publish the current one
        once Home Assistant has had time to free the entity ids."""
        with self._lock:
            self._retire.add(pid)
        self.schedule_discovery(LEGACY_RETIRE_DELAY)

    def publish_offline(self, printer_ids: Optional[Iterable[str]] = None, timeout: float = 2.0) -> None:
        """Retained `offline` for every printer, waiting briefly for them to leave (the gateway's
        own availability belongs to the fleet presence)."""
        handles = [(self.client_for(pid), self.client_for(pid).publish(t.availability, b"offline", qos=1, retain=True))
                   for pid, t in self.topics.items() if printer_ids is None or pid in printer_ids]
        deadline = time.monotonic() + timeout
        for client, handle in handles:
            client.wait(handle, max(0.0, deadline - time.monotonic()))

    # ------------------------------------------------------------------ the thread
    def _drop_oldest_event(self) -> None:
        for index, queued in enumerate(self._events):
            if not isinstance(queued.event, _NEVER_DROPPED):
                del self._events[index]
                self._dropped += 1  # logged from the publisher thread: never log on the serial thread
                return

    def _run(self) -> None:
        while True:
            stopping = self._stopping.is_set()
            try:
                # Printers stop before MQTT: the last cycle still publishes their final events
                # (an interrupted print, the Offline status) before `offline` goes out.
                timeout = self._cycle(time.monotonic())
            except Exception:  # thread boundary: log and keep publishing
                log.exception("MQTT publisher cycle failed")
                timeout = TICK
            if stopping:
                return
            self._wake.wait(timeout)
            self._wake.clear()

    def _cycle(self, now: float) -> float:
        """Publish everything due; return how long to sleep at most."""
        with self._lock:
            connected = self._connected
            up = set(self._printers_connected)
            republish_printers = sorted(self._republish_printers & up)
            self._republish_printers -= up
            events = list(self._events)
            self._events.clear()
            outgoing = list(self._outgoing)
            self._outgoing.clear()
            discovery_due = self._discovery_due is not None and self._discovery_due <= now and connected
            if discovery_due:
                self._discovery_due = None
            retire, self._retire = (self._retire, set()) if connected else (set(), self._retire)
            dropped, self._dropped = self._dropped, 0
        if dropped:
            log.warning("MQTT publisher fell behind: dropped %d event(s)", dropped)
        if republish_printers:
            self._republish_printers_state(republish_printers)
        for pid in sorted(retire):
            log.info("%s: retiring the Home Assistant discovery config of an earlier version (%s)", pid,
                     topics.legacy_discovery_config(self.config.homeassistant.prefix, pid))
            self.client.publish(topics.legacy_discovery_config(self.config.homeassistant.prefix, pid), b"",
                                qos=1, retain=True)
        for message in events:
            self._publish_event(message, message.printer_id in up)
        for pub in outgoing:
            self.client_for(pub.printer_id).publish(pub.topic, pub.payload, qos=pub.qos, retain=pub.retain,
                                                    correlation_data=pub.correlation_data,
                                                    content_type="application/json")
        if discovery_due:
            for pid in self.printers:
                if pid in up:
                    self._publish_discovery(pid)
        self._on_tick(now)
        wait = min(TICK, self._telemetry(now, up))
        if self.config.mqtt.terminal:
            wait = min(wait, self._flush_terminal(now, up))
        with self._lock:
            if self._discovery_due is not None:
                wait = min(wait, max(0.0, self._discovery_due - now))
        return wait

    # ------------------------------------------------------------------ state
    def _republish_printers_state(self, printer_ids: list[str]) -> None:
        """After a printer's connection (re)connects: its availability, every retained topic,
        discovery (or its removal)."""
        listing = self._listing()
        for pid in printer_ids:
            service = self.printers[pid]
            t = self.topics[pid]
            client = self.client_for(pid)
            client.publish(t.availability, b"online", qos=1, retain=True)
            snap = service.snapshot()
            self._publish_status(pid, snap.state, snap.error, snap.updated or time.time())
            self._publish_firmware(pid)
            for kind in ("temperature", "position", "progress") + print_facts.KINDS:
                self._publish_telemetry(pid, kind)
            # No listing (system commands over MQTT disabled): clear an earlier retained one.
            client.publish(t.system_list, listing, qos=1, retain=True)
            if not self.config.homeassistant.discovery:
                self._publish_discovery(pid)  # the removal of an earlier config: nothing to wait for
        if self.config.homeassistant.discovery:
            self.schedule_discovery(DISCOVERY_SETTLE)

    def _listing(self) -> bytes:
        try:
            listing = self._system_listing()
        except Exception:  # a listing problem must not stop the republish
            log.exception("listing system commands failed")
            listing = None
        return b"" if listing is None else payloads.encode(listing)

    def _publish_status(self, pid: str, state: PrinterState, error: str, ts: float) -> None:
        snap = self.printers[pid].snapshot()
        flags = octoprint_flags(state, snap.sd_ready)
        body = payloads.status_payload(state.text, flags, error, snap.port, snap.baudrate, ts)
        self.client_for(pid).publish(self.topics[pid].status, payloads.encode(body), qos=1, retain=True)

    def _publish_firmware(self, pid: str) -> None:
        snap = self.printers[pid].snapshot()
        if snap.firmware is None:
            return
        body = payloads.firmware_payload(snap.firmware.name, snap.firmware.fields, snap.capabilities, snap.updated)
        self.client_for(pid).publish(self.topics[pid].firmware, payloads.encode(body), qos=1, retain=True)

    def _discovery_spec(self, pid: str) -> discovery.PrinterDiscovery:
        snap = self.printers[pid].snapshot()
        product, version = payloads.split_firmware_name(snap.firmware.name) if snap.firmware else (None, None)
        heaters = tuple(dict.fromkeys(payloads.heater_key(k) for k in snap.temperatures)) or DEFAULT_HEATERS
        system = self.config.system
        core = [a for a, command in system.commands.items() if command] if system.mqtt_enabled else []
        custom = [discovery.SystemButton("custom", a.action, a.name or a.action, a.confirm)
                  for a in system.actions if not a.divider] if system.mqtt_enabled else []
        printer = self.config.printer(pid)
        webcam = getattr(printer, "webcam", None)
        camera = bool(webcam is not None and webcam.snapshot_url and webcam.mqtt_interval > 0)
        # B/availability is the last will of the printer's own connection: no gateway topic needed.
        return discovery.PrinterDiscovery(
            self.config.gateway.id, pid, printer.name, self.base, product, version, heaters, core, custom, camera)

    def _publish_discovery(self, pid: str) -> None:
        ha = self.config.homeassistant
        topic = topics.discovery_config(ha.prefix, self.config.gateway.id, pid)
        if not ha.discovery:
            # An empty retained payload removes an earlier config: switching discovery off cleans up.
            self.client_for(pid).publish(topic, b"", qos=1, retain=True)
            return
        spec = self._discovery_spec(pid)
        self._discovered[pid] = (spec.firmware_name, spec.firmware_version, tuple(spec.heaters))
        self.client_for(pid).publish(topic, payloads.encode(discovery.build_discovery(spec)), qos=1, retain=True)

    def _rediscover_if_changed(self, pid: str) -> None:
        """Publish discovery again when what it is built from changed (firmware, heaters)."""
        if not self.config.homeassistant.discovery or pid not in self._discovered:
            return  # not published yet: the scheduled first publication will use the new facts
        spec = self._discovery_spec(pid)
        if self._discovered[pid] != (spec.firmware_name, spec.firmware_version, tuple(spec.heaters)):
            self._publish_discovery(pid)

    def _publish_event(self, message: BusMessage, connected: bool) -> None:
        pid, event, ts = message.printer_id, message.event, message.wall_time
        kind = type(event)
        if pid not in self.topics and kind is not SystemCommandFinished:
            return
        if kind is StateChanged:
            if connected:
                self._publish_status(pid, event.new, event.error, ts)  # type: ignore[union-attr]
            for name, data in _state_events(event, self.printers[pid]):  # type: ignore[arg-type]
                self._event(pid, name, ts, **data)
        elif kind is FirmwareIdentified:
            if connected:
                self._publish_firmware(pid)
                self._rediscover_if_changed(pid)
        elif kind is EmergencySent:
            command = event.command  # type: ignore[union-attr]
            name = "EmergencyStop" if command.split()[0].upper() == "M112" else "EmergencyCommand"
            self._event(pid, name, ts, command=command)
        elif kind is FirmwareErrorReported:
            self._event(pid, "FirmwareError", ts, error=event.text, fatal=event.fatal)  # type: ignore[union-attr]
        elif kind is FirmwareReset:
            self._event(pid, "FirmwareReset", ts, during_job=event.during_job)  # type: ignore[union-attr]
        elif kind is HostActionReceived:
            self._event(pid, "HostAction", ts, action=event.name, params=event.params)  # type: ignore[union-attr]
        elif kind in (JobStarted, JobPaused, JobResumed):
            name = {JobStarted: "PrintStarted", JobPaused: "PrintPaused", JobResumed: "PrintResumed"}[kind]
            self._event(pid, name, ts, name=event.name)  # type: ignore[union-attr]
        elif kind is SystemCommandFinished:
            data = {"source": event.source, "action": event.action, "ok": event.ok,  # type: ignore[union-attr]
                    "returncode": event.returncode, "error": event.error,  # type: ignore[union-attr]
                    "stdout": event.stdout[-MAX_OUTPUT:], "stderr": event.stderr[-MAX_OUTPUT:]}  # type: ignore[union-attr]
            # System commands act on the host: with no (known) printer, every printer reports it.
            for target in ([pid] if pid in self.topics else list(self.topics)):
                self._event(target, "SystemCommandFinished", ts, **data)
        elif kind is print_facts.PromptNotice:
            self._event(pid, event.name, ts, **event.data)  # type: ignore[union-attr]
        elif kind is JobEnded:
            outcome = event.outcome.value  # type: ignore[union-attr]
            self._event(pid, _JOB_END_EVENTS.get(outcome, "PrintFailed"), ts, name=event.name,  # type: ignore[union-attr]
                        reason=event.reason, lines_sent=event.lines_sent)  # type: ignore[union-attr]

    def _event(self, pid: str, event_name: str, ts: float, /, **data: Any) -> None:
        body = payloads.event_payload(event_name, ts, **data)
        self.client_for(pid).publish(self.topics[pid].event(event_name), payloads.encode(body), qos=1, retain=False)

    # ------------------------------------------------------------------ telemetry
    def _telemetry(self, now: float, connected: set[str]) -> float:
        """Publish due telemetry (trailing edge); return the time until the next one is due."""
        interval = self.config.mqtt.telemetry_interval
        wait = TICK
        with self._lock:
            dirty = sorted(self._dirty)
        for key in dirty:
            if key[0] not in connected:
                continue  # republished from the snapshot on reconnect
            due = self._last_sent.get(key, -1e9) + interval
            if now >= due:
                with self._lock:
                    self._dirty.discard(key)
                self._last_sent[key] = now
                self._publish_telemetry(*key)
            else:
                wait = min(wait, due - now)
        return max(0.0, wait)

    def _publish_telemetry(self, pid: str, kind: str) -> None:
        snap = self.printers[pid].snapshot()
        t = self.topics[pid]
        client = self.client_for(pid)
        if kind == "temperature" and snap.temperatures:
            body = payloads.temperature_payload(snap.temperatures, snap.temperature_time)
            client.publish(t.temperature, payloads.encode(body), qos=0, retain=True)
            if set(body) - {"ts"} != set(self._discovered.get(pid, (None, None, ()))[2]):
                self._rediscover_if_changed(pid)  # a heater appeared (a second tool, a chamber)
        elif kind == "position" and snap.position is not None:
            p = snap.position
            body = payloads.position_payload(p.x, p.y, p.z, p.e, p.extra, snap.position_time)
            client.publish(t.position, payloads.encode(body), qos=0, retain=True)
        elif kind == "progress":
            with self._lock:
                latest = self._progress.get(pid)
            if latest is not None:
                progress, ts = latest
                client.publish(t.progress, payloads.encode(print_facts.progress_body(progress, ts)), qos=1, retain=True)
        elif kind in print_facts.KINDS:
            self._facts.publish(client, t, pid, kind)

    def _flush_terminal(self, now: float, connected: set[str]) -> float:
        interval = max(self.config.mqtt.telemetry_interval, 0.1)
        if now < self._terminal_sent + interval:
            return self._terminal_sent + interval - now
        self._terminal_sent = now
        for pid, buffer in self._terminal.items():
            with self._lock:
                lines = list(buffer)
                buffer.clear()
            if pid not in connected:
                continue  # QoS 0 live stream: nothing to catch up on
            for start in range(0, len(lines), TERMINAL_BATCH):
                chunk = "\n".join(lines[start:start + TERMINAL_BATCH]).encode("utf-8", "replace")
                self.client_for(pid).publish(self.topics[pid].terminal, chunk, qos=0, retain=False)
        return interval


def _state_events(event: StateChanged, service: PrinterService) -> list[tuple[str, dict[str, Any]]]:
    """A state change as OctoPrint-style events: always PrinterStateChanged, plus Connected,
    Disconnected or Error when the change is one of those."""
    out: list[tuple[str, dict[str, Any]]] = [
        ("PrinterStateChanged", {"state": event.new.text, "previous": event.old.text, "error": event.error})
    ]
    if event.old is PrinterState.CONNECTING and event.new is PrinterState.OPERATIONAL:
        snap = service.snapshot()
        out.append(("Connected", {"port": snap.port, "baudrate": snap.baudrate}))
    if event.new is PrinterState.ERROR and event.old is not PrinterState.ERROR:
        out.append(("Error", {"error": event.error}))
    if event.new in _OFFLINE and event.old not in _OFFLINE and event.old is not PrinterState.OPENING:
        out.append(("Disconnected", {"error": event.error}))
    return out
