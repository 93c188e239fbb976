"""The MQTT bridge: inbound requests -> command registry, replies and rejections back out.

Threads: one network thread serves every connection (the gateway's and each printer's,
`network_loop.NetworkLoop`); it only copies a message and queues it on its lane (`on_message` never
blocks), except `B/emergency`, which it validates and writes itself. Lanes (`lanes.LanePool`): each
printer's requests in order, each printer's urgent requests (command payloads with emergency codes,
prompt answers) in order, and the system commands, which may run for a while; lanes run in
parallel on workers started on demand, so no request waits behind another lane's, and at rest two
warm workers serve any number of printers. Replies are sent when every command's handle completes
(done callbacks, no thread waits) or after REPLY_TIMEOUT.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

from mqttprint.config import Config
from mqttprint.mqtt import admission, discovery, payloads, prompt_answer, topics
from mqttprint.mqtt.client import RECONNECT_MAX, RECONNECT_MIN, ClientSettings, InboundMessage, MqttClient
from mqttprint.mqtt.dedup import RecentIds
from mqttprint.mqtt.fleet import Fleet
from mqttprint.mqtt.lanes import LanePool
from mqttprint.mqtt.network_loop import NetworkLoop
from mqttprint.mqtt.payloads import ParsedRequest, PayloadError
from mqttprint.mqtt.publisher import EVENT_TYPES, TRAFFIC_TYPES, Publication, Publisher
from mqttprint.protocol import gcode
from mqttprint.protocol.errors import MqttprintError
from mqttprint.protocol.events import CommandFinished
from mqttprint.runtime.bus import EventBus
from mqttprint.runtime.commands import CommandRegistry, Request
from mqttprint.runtime.printer_service import CommandHandle, PrinterService

log = logging.getLogger(__name__)

#: A request's reply is sent with ok=false, error="timeout" if its commands take longer.
REPLY_TIMEOUT = 60.0
#: How long an emergency request id is remembered: it runs at most once per id within this.
EMERGENCY_ID_WINDOW = 24 * 3600.0



@dataclass(frozen=True, slots=True)
class Route:
    """Where a reply goes: a MQTT 5 ResponseTopic (+ CorrelationData) or `B/reply`."""

    topic: str
    correlation_data: Optional[bytes] = None
    #: the printer whose connection sends the reply
    printer_id: Optional[str] = None


@dataclass
class PendingReply:
    """A request whose reply waits for its commands' handles."""

    route: Route
    request_id: Any
    commands: list[str]
    deadline: float
    results: list[Optional[CommandFinished]] = field(default_factory=list)
    remaining: int = 0
    sent: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


def default_client_id(base_topic: str) -> str:
    """A unique client id (two gateways with one id would keep kicking each other off the broker)."""
    return f"mqttprint-{base_topic.replace('/', '_')[:40]}-{secrets.token_hex(4)}"


def printer_settings(gateway: ClientSettings, printer_topics: topics.PrinterTopics) -> ClientSettings:
    """A printer's own connection: the gateway's client id plus `-<printer id>`, and the
    printer's `B/availability` as its last will."""
    return dataclasses.replace(gateway, client_id=f"{gateway.client_id}-{printer_topics.printer_id}",
                               will_topic=printer_topics.availability, will_payload=b"offline")


class MqttBridge:
    """The gateway's MQTT face: built and started by `daemon.Gateway`."""

    def __init__(self, config: Config, registry: CommandRegistry, bus: EventBus,
                 printers: Mapping[str, PrinterService]) -> None:
        self.config = config
        self.registry = registry
        self.bus = bus
        self.printers = printers
        m = config.mqtt
        self.base = m.base_topic
        self.topics = {pid: topics.PrinterTopics(self.base, pid) for pid in printers}
        self._legacy_discovery = {topics.legacy_discovery_config(config.homeassistant.prefix, pid): pid
                                  for pid in printers}
        settings = ClientSettings(
            host=m.host, port=m.port, client_id=m.client_id or default_client_id(m.base_topic), protocol=m.protocol,
            keepalive=m.keepalive, username=m.username, password=m.password, tls=m.tls.enabled,
            ca_file=m.tls.ca_file, cert_file=m.tls.cert_file, key_file=m.tls.key_file, tls_insecure=m.tls.insecure,
            will_topic=topics.gateway_availability(self.base, config.gateway.id), will_payload=b"offline",
        )
        # One connection for the gateway itself and one per printer: MQTT gives one last will per
        # connection, and each printer's `B/availability` must turn `offline` by itself when the
        # process dies. One network thread serves them all (a thread per connection would grow
        # with the printers); it hands requests to lanes at once, so one printer's traffic never
        # delays another printer's emergency stop.
        self.network = NetworkLoop(reconnect_min=RECONNECT_MIN, reconnect_max=RECONNECT_MAX)
        self.client = MqttClient(settings, self._on_connect, self._on_disconnect, self._on_gateway_message,
                                 network=self.network)
        self.printer_clients = {
            pid: MqttClient(printer_settings(settings, self.topics[pid]),
                            functools.partial(self._on_printer_connect, pid),
                            functools.partial(self._on_printer_disconnect, pid), self._on_message,
                            network=self.network)
            for pid in printers}
        self.publisher = Publisher(config, self.client, printers, on_tick=self._tick,
                                   system_listing=self._system_listing, printer_clients=self.printer_clients)
        # Printers connect only once the fleet knows which ids another gateway already serves.
        self.fleet = Fleet(config, self.client, registry, on_settled=self._connect_printers,
                           on_yield=self._release_printer, on_reclaim=self._reclaim_printer)
        self.fleet.register(registry)
        # Lanes: "<id>" (requests), "<id>!" (urgent requests), "!system" (system commands); at most
        # one worker per lane, so no lane ever waits for a worker another lane holds.
        self._lanes: LanePool[tuple[InboundMessage, topics.Inbound]] = LanePool(
            "mqtt-requests", self._handle_queued, capacity=m.request_queue, max_workers=2 * len(printers) + 1,
            keep=2)
        # Ids of accepted requests, per printer, for mqtt.duplicate_window seconds (QoS 1 redelivery).
        self._seen = {pid: RecentIds(m.duplicate_window) for pid in printers}
        # Emergencies are never refused for age, so a late copy (a bridge, a client's offline
        # queue) may come long after the first: their ids are remembered much longer.
        self._emergency_seen = {pid: RecentIds(max(EMERGENCY_ID_WINDOW, m.duplicate_window)) for pid in printers}
        self._seen_lock = threading.Lock()
        self._pending: dict[int, PendingReply] = {}
        self._pending_lock = threading.Lock()
        self._unsubscribe: list[Any] = []
        self._started = False
        self._stopped = False

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Subscribe to the bus, start the threads, connect in the background (never blocks)."""
        if self._started:
            return
        self._started = True
        types = EVENT_TYPES + (TRAFFIC_TYPES if self.config.mqtt.terminal else ())
        self._unsubscribe.append(self.bus.subscribe(self.publisher.on_bus, types))
        self._lanes.start()
        self.publisher.start()
        self.client.start()

    def stop(self) -> None:
        """Publish `offline` (retained) for the printers and the gateway, disconnect, stop threads.
        Idempotent."""
        if not self._started or self._stopped:
            return
        self._stopped = True
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self.publisher.stop()
        self.publisher.publish_offline(self.fleet.held())
        self.fleet.publish_offline()
        for client in self.printer_clients.values():
            client.stop()
        self.client.stop()
        self.network.stop()
        self._lanes.stop()

    def healthy(self) -> bool:
        """Whether the MQTT threads are alive (for the systemd watchdog). Being disconnected from
        the broker is healthy: the network loop reconnects, and restarting the gateway would stop prints."""
        return self.network.alive() and self.publisher.alive() and self._lanes.alive()

    def connected(self) -> bool:
        """Whether the gateway's connection and the connection of every printer it serves are up."""
        return (self.publisher.is_connected() and self.fleet.settled
                and all(self.publisher.is_connected(p) for p in self.fleet.held()))

    def _connect_printers(self, held: frozenset[str]) -> None:
        """The fleet settled which printers this gateway serves: connect them (network thread)."""
        for pid in held:
            if not self._stopped:
                self.printer_clients[pid].start()

    def _release_printer(self, pid: str) -> None:
        """Another gateway serves `pid` (it came online first): drop our connection for it
        cleanly (no last will, no `offline`: the topics are the other gateway's now)."""
        self.printer_clients[pid].stop()
        self.publisher.set_connected(False, pid)

    def _reclaim_printer(self, pid: str) -> None:
        """A gateway refused our printer id after writing to its topics: publish our state again."""
        if self.publisher.is_connected(pid):
            self.publisher.set_connected(True, pid)

    def subscribed(self) -> bool:
        """Whether the broker acknowledged every printer's request-topic subscription (a request
        published before that may be dropped: the broker orders clients independently)."""
        return all(c.subscribed for c in self.printer_clients.values())

    def publish_camera(self, printer_id: str, jpeg: bytes) -> None:
        """`B/camera`: one JPEG (QoS 0, not retained: the next snapshot replaces it; Home
        Assistant's MQTT camera shows the latest)."""
        self.publisher.send(Publication(self.topics[printer_id].camera, jpeg, qos=0, retain=False))

    def _system_listing(self) -> Optional[Any]:
        """The retained `B/system` document (None: do not offer system commands over MQTT)."""
        if not self.config.system.mqtt_enabled or not self.registry.has("system.list"):
            return None
        return _plain(self.registry.dispatch(Request("system.list", {}, None, "mqtt")).data)

    # ------------------------------------------------------------------ network thread
    def _on_gateway_message(self, message: InboundMessage) -> None:
        if not self.fleet.on_message(message):
            self._on_message(message)

    def _on_connect(self) -> None:
        """The gateway's own connection is up (Home Assistant's birth topic, gateway availability)."""
        ha = self.config.homeassistant
        if ha.discovery:
            self.client.subscribe([topics.discovery_status(ha.prefix)], commands=False)
        # Retained configs of versions before the gateway identity: retired once seen (discovery.py).
        self.client.subscribe(list(self._legacy_discovery), commands=False)
        self.publisher.set_connected(True)
        self.fleet.on_connect()

    def _on_disconnect(self, reason: str) -> None:
        if not self._stopped:
            log.warning("MQTT connection lost (%s); reconnecting", reason)
        self.publisher.set_connected(False)
        self.fleet.on_disconnect()

    def _on_printer_connect(self, pid: str) -> None:
        """A printer's connection is up: subscribe to its request topics, republish its state."""
        self.printer_clients[pid].subscribe(self.topics[pid].subscriptions(), commands=True)
        self.publisher.set_connected(True, pid)

    def _on_printer_disconnect(self, pid: str, reason: str) -> None:
        if not self._stopped:
            log.warning("%s: MQTT connection lost (%s); reconnecting", pid, reason)
        self.publisher.set_connected(False, pid)

    def _on_message(self, message: InboundMessage) -> None:
        """Copy and queue; validation and dispatch happen on a worker thread."""
        ha = self.config.homeassistant
        if ha.discovery and message.topic == topics.discovery_status(ha.prefix):
            if message.payload.strip() == b"online":
                self.publisher.schedule_discovery()
            return
        legacy = self._legacy_discovery.get(message.topic)
        if legacy is not None:
            if message.payload and discovery.is_legacy_config_of(_json_or_none(message.payload), self.base, legacy):
                self.publisher.retire_legacy_discovery(legacy)
            return
        inbound = topics.parse_inbound(self.base, message.topic, self.topics)
        if inbound is None:
            return
        # A prompt answer (M876) never waits behind another request of this printer.
        urgent = inbound.kind in (topics.EMERGENCY, topics.PROMPT_ANSWER) or (
            inbound.kind == topics.COMMAND and gcode.EMERGENCY_IN_PAYLOAD.search(message.payload[:65536]) is not None)
        if inbound.kind == topics.EMERGENCY:
            # The emergency fast path: validated and written right here on the network thread
            # (emergency() only takes the port's write lock), saving a thread hand-off. B/command
            # payloads with emergency codes may also queue other lines, so they use the urgent worker.
            try:
                self._handle(message, inbound)
            except Exception:  # callback boundary: never let one request kill the network thread
                log.exception("MQTT emergency on %s failed", message.topic)
            return
        lane = "!system" if inbound.kind == topics.SYSTEM else inbound.printer_id + ("!" if urgent else "")
        if not self._lanes.submit(lane, (message, inbound), urgent=urgent):
            pid = inbound.printer_id
            rid = admission.peek_id(message.payload, self.config.mqtt.max_payload)
            route, _ = self._response_route(message, pid)
            if route is None and rid is not None:
                route = Route(self.topics[pid].reply, printer_id=pid)
            self._reject(pid, message.topic, f"busy: {self.config.mqtt.request_queue} requests are waiting "
                         "(mqtt.request_queue); try again later", rid, route)

    # ------------------------------------------------------------------ workers
    def _handle_queued(self, item: tuple[InboundMessage, topics.Inbound]) -> None:
        try:
            self._handle(*item)
        except Exception:  # worker boundary: one bad request must not end the worker
            log.exception("MQTT request on %s failed", item[0].topic)

    def _handle(self, message: InboundMessage, inbound: topics.Inbound) -> None:
        pid = inbound.printer_id
        route, route_problem = self._response_route(message, pid)
        # Empty payloads never act; retained requests (replayed, or live under MQTT 5's
        # retain-as-published) are never executed: they could move a printer hours later.
        problem = admission.transport_problem(message.topic, message.payload, message.retain) or inbound.problem
        if problem:  # refused unread: the id (if the JSON has one) still goes with the refusal
            rid = admission.peek_id(message.payload, self.config.mqtt.max_payload)
            self._reject(pid, message.topic, problem, rid,
                         route or (Route(self.topics[pid].reply, printer_id=pid) if rid is not None else None))
            return
        try:
            text = payloads.decode_text(message.payload, self.config.mqtt.max_payload)
            if inbound.kind == topics.PROMPT_ANSWER:
                request = prompt_answer.parse(text)
            else:
                request = payloads.parse_request(inbound.kind, text, inbound.source, inbound.action)
        except PayloadError as exc:
            rid = exc.request_id
            fallback = Route(self.topics[pid].reply, printer_id=pid) if rid is not None else None
            self._reject(pid, message.topic, str(exc), rid, route or fallback)
            return
        if route is None and request.reply is not False and (request.request_id is not None or request.reply):
            route = Route(self.topics[pid].reply, printer_id=pid)
        if route_problem:  # refused, and answered on B/reply instead of the refused topic
            self._reject(pid, message.topic, route_problem, request.request_id,
                         Route(self.topics[pid].reply, printer_id=pid) if request.request_id is not None else None)
            return
        if inbound.kind == topics.SYSTEM and not self.config.system.mqtt_enabled:
            self._reject(pid, message.topic, "system commands over MQTT are disabled (system.mqtt_enabled)",
                         request.request_id, route)
            return
        # Every request path has the age limit except `B/emergency`: a stop that arrives late
        # (a bridge queued it) is still wanted; the request id below keeps it to one execution.
        problem = None if inbound.kind == topics.EMERGENCY else admission.age_problem(
            request.ts, time.time(), self.config.mqtt.max_command_age)
        if problem:
            self._reject(pid, message.topic, problem, request.request_id, route)
            return
        emergency = inbound.kind == topics.EMERGENCY
        if request.request_id is not None and self._duplicate(pid, request.request_id, emergency):
            # A QoS 1 redelivery: the first copy was accepted moments ago and answers for both.
            log.info("%s: dropped duplicate request id %r on %s", pid, request.request_id, message.topic)
            self._event_rejected(pid, message.topic, f"duplicate id {request.request_id!r} within "
                                 f"{self.config.mqtt.duplicate_window:g} s (mqtt.duplicate_window): ignored",
                                 request.request_id)
            return
        if self._dispatch(pid, message.topic, request, route) and request.request_id is not None:
            with self._seen_lock:
                (self._emergency_seen if emergency else self._seen)[pid].accepted(request.request_id,
                                                                                   time.monotonic())

    def _dispatch(self, pid: str, topic: str, request: ParsedRequest, route: Optional[Route]) -> bool:
        """Run the request; False when it was refused (its id is then not remembered)."""
        if not self.registry.has(request.action):
            self._reject(pid, topic, f"{request.action} is not available yet in this version of mqttprint",
                         request.request_id, route)
            return False
        try:
            result = self.registry.dispatch(Request(request.action, dict(request.args), pid, "mqtt"))
        except MqttprintError as exc:  # rejected, printer fault, link fault, a failed system command
            self._reject(pid, topic, str(exc) or type(exc).__name__, request.request_id, route)
            return False
        except TimeoutError:  # the serial thread did not take the request in time (nothing was queued)
            self._reject(pid, topic, "the printer link did not accept the request in time", request.request_id, route)
            return False
        except Exception as exc:  # a handler bug: answer, log the traceback, keep running
            log.exception("%s: %s failed", pid, request.action)
            self._reject(pid, topic, f"internal error: {exc}", request.request_id, route)
            return False
        if route is None:
            return True
        if result.handles:
            self._await_handles(route, request.request_id, result.handles)
        else:
            body = payloads.action_reply(request.request_id, request.action, _plain(result.data))
            self._send(route, body)
        return True

    # ------------------------------------------------------------------ replies
    def _response_route(self, message: InboundMessage, pid: str) -> tuple[Optional[Route], Optional[str]]:
        """The MQTT 5 ResponseTopic as a reply route, or (None, why it is refused): under the base
        topic only `B/reply[/...]`, never the discovery prefix (topics.response_topic_problem)."""
        topic = message.response_topic
        if not topic:
            return None, None
        problem = topics.response_topic_problem(self.base, self.config.homeassistant.prefix, pid, topic)
        if problem:
            return None, problem
        return Route(topic, message.correlation_data, pid), None

    def _send(self, route: Route, body: Mapping[str, Any]) -> None:
        self.publisher.send(Publication(route.topic, payloads.encode(body), qos=1, retain=False,
                                        correlation_data=route.correlation_data, printer_id=route.printer_id))

    def _await_handles(self, route: Route, request_id: Any, handles: tuple[CommandHandle, ...]) -> None:
        pending = PendingReply(route, request_id, [h.command for h in handles], time.monotonic() + REPLY_TIMEOUT,
                               [None] * len(handles), len(handles))
        with self._pending_lock:
            self._pending[id(pending)] = pending
        for index, handle in enumerate(handles):
            handle.add_done_callback(lambda result, i=index: self._on_result(pending, i, result))

    def _on_result(self, pending: PendingReply, index: int, result: CommandFinished) -> None:
        """A handle completed (serial thread, or this thread if it was already done): record only."""
        with pending.lock:
            if pending.sent or pending.results[index] is not None:
                return
            pending.results[index] = result
            pending.remaining -= 1
            if pending.remaining:
                return
            pending.sent = True
        self._finish(pending, timed_out=False)

    def _tick(self, now: float) -> None:
        """Publisher tick (monotonic `now`): the fleet's sync timeout, then reply timeouts."""
        self.fleet.tick(now)
        self._expire_replies(now)

    def _expire_replies(self, now: float) -> None:
        """Publisher tick: answer requests whose commands did not finish within REPLY_TIMEOUT."""
        with self._pending_lock:
            expired = [p for p in self._pending.values() if p.deadline <= now]
        for pending in expired:
            with pending.lock:
                if pending.sent:
                    continue
                pending.sent = True
            self._finish(pending, timed_out=True)

    def _finish(self, pending: PendingReply, timed_out: bool) -> None:
        with self._pending_lock:
            self._pending.pop(id(pending), None)
        with pending.lock:
            results = list(pending.results)
        self._send(pending.route, payloads.command_reply(pending.request_id, pending.commands, results, timed_out))

    # ------------------------------------------------------------------ rejections
    def _duplicate(self, pid: str, request_id: Any, emergency: bool = False) -> bool:
        with self._seen_lock:
            return (self._emergency_seen if emergency else self._seen)[pid].is_duplicate(request_id, time.monotonic())

    def _reject(self, pid: str, topic: str, error: str, request_id: Any, route: Optional[Route]) -> None:
        """A refused request: an error reply when it has a route, and always an event."""
        log.info("%s: refused %s: %s", pid, topic, error)
        if route is not None:
            self._send(route, payloads.error_reply(request_id, error))
        self._event_rejected(pid, topic, error, request_id)

    def _event_rejected(self, pid: str, topic: str, error: str, request_id: Any) -> None:
        t = self.topics[pid]
        body = payloads.event_payload("CommandRejected", time.time(), topic=topic, error=error, id=request_id)
        self.publisher.send(Publication(t.event("CommandRejected"), payloads.encode(body), qos=1, printer_id=pid))


def _json_or_none(payload: bytes) -> Any:
    """The JSON value of a payload, or None when it is not JSON."""
    try:
        return json.loads(payload)
    except (ValueError, RecursionError):
        return None


def _plain(data: Any) -> Any:
    """Handler data made JSON-friendly (dataclasses such as snapshots become dicts)."""
    if dataclasses.is_dataclass(data) and not isinstance(data, type):
        return {f.name: _plain(getattr(data, f.name)) for f in dataclasses.fields(data)}
    if isinstance(data, Mapping):
        return {str(k): _plain(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [_plain(v) for v in data]
    return data
