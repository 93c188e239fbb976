"""The paho-mqtt 2.x client wrapper: the only module that imports paho.

Hides paho's types from the rest of the gateway: inbound messages arrive as `InboundMessage`,
publishing takes plain values. Connection handling follows the reference notes: VERSION2
callbacks, MQTT 5 (clean start, no session kept) or 3.1.1 (clean session), a retained last will,
`suppress_exceptions` so a bug in a callback never kills the network thread. The network side is
paho's external-loop API driven by a `NetworkLoop` that many clients share (one thread for every
connection of the gateway, not one each): start-up never waits for the broker, and reconnects back
off exponentially.
"""

from __future__ import annotations

import logging
import socket
import ssl
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from mqttprint.mqtt.network_loop import NetworkLoop

log = logging.getLogger(__name__)

#: Reconnect back-off bounds, seconds (paho doubles the wait after each failed attempt).
RECONNECT_MIN = 1
RECONNECT_MAX = 30
#: Cap on QoS>0 messages paho stores while the broker is away (events published during an
#: outage are delivered after reconnect, up to this many; beyond it they are dropped, so an
#: outage never grows memory without bound).
MAX_QUEUED_MESSAGES = 2000


@dataclass(frozen=True, slots=True)
class ClientSettings:
    """Everything needed to reach the broker."""

    host: str
    port: int
    client_id: str
    protocol: int = 5  # 5 = MQTT 5, 4 = MQTT 3.1.1
    keepalive: int = 30
    username: Optional[str] = None
    password: Optional[str] = None
    tls: bool = False
    ca_file: Optional[str] = None
    cert_file: Optional[str] = None
    key_file: Optional[str] = None
    tls_insecure: bool = False
    will_topic: Optional[str] = None
    will_payload: bytes = b"offline"


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One received message, copied out of paho's object (safe to hand to another thread)."""

    topic: str
    payload: bytes
    qos: int
    retain: bool
    #: MQTT 5 request/response: where the reply goes, and the bytes to echo with it
    response_topic: Optional[str] = None
    correlation_data: Optional[bytes] = None


class MqttClient:
    """A thin, thread-safe wrapper around one paho client, served by a (shared) `NetworkLoop`.

    Callbacks (`on_connect()`, `on_disconnect(reason)`, `on_message(InboundMessage)`) run on the
    network loop's thread, which every connection of the gateway shares: they must return quickly
    and never block. Without `network`, the client gets a loop (and thread) of its own.
    """

    def __init__(
        self,
        settings: ClientSettings,
        on_connect: Callable[[], None],
        on_disconnect: Callable[[str], None],
        on_message: Callable[[InboundMessage], None],
        network: Optional[NetworkLoop] = None,
    ) -> None:
        self.settings = settings
        self.name = f"mqtt {settings.client_id}"
        self._own_network = network is None
        self._network = network or NetworkLoop(reconnect_min=RECONNECT_MIN, reconnect_max=RECONNECT_MAX)
        self.mqtt5 = settings.protocol == 5
        self._on_connect = on_connect
        self._on_disconnect = on_disconnect
        self._on_message = on_message
        protocol = MQTTProtocolVersion.MQTTv5 if self.mqtt5 else MQTTProtocolVersion.MQTTv311
        # clean_session is a 3.1.1 notion; paho refuses it for MQTT 5 (clean_start goes to connect).
        extra = {} if self.mqtt5 else {"clean_session": True}
        self._client = paho.Client(CallbackAPIVersion.VERSION2, client_id=settings.client_id, protocol=protocol,
                                   reconnect_on_failure=True, **extra)
        self._client.suppress_exceptions = True
        self._client.enable_logger(logging.getLogger("mqttprint.mqtt.paho"))
        self._client.max_queued_messages_set(MAX_QUEUED_MESSAGES)
        if settings.username is not None:
            self._client.username_pw_set(settings.username, settings.password)
        if settings.tls:
            self._client.tls_set(ca_certs=settings.ca_file, certfile=settings.cert_file, keyfile=settings.key_file,
                                 cert_reqs=ssl.CERT_REQUIRED)
            if settings.tls_insecure:
                self._client.tls_insecure_set(True)
        if settings.will_topic:
            self._client.will_set(settings.will_topic, settings.will_payload, qos=1, retain=True)
        self._client.on_connect = self._handle_connect
        self._client.on_disconnect = self._handle_disconnect
        self._client.on_message = self._handle_message
        self._client.on_subscribe = self._handle_subscribe
        # A publication from another thread only wakes the shared loop, which writes it.
        self._client.on_socket_register_write = self._wake_network
        self._started = False
        # paho's network thread only: subscriptions sent since the last connect, not yet acknowledged
        self._unacknowledged: set[int] = set()
        self._acknowledged = 0

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Connect in the background; the network loop keeps retrying until the broker answers."""
        if self._started:
            return
        self._started = True
        if self.mqtt5:
            # clean_start=True on every (re)connect and no session expiry: commands published
            # while we were away must not be replayed minutes later.
            self._client.connect_async(self.settings.host, self.settings.port, self.settings.keepalive,
                                       clean_start=True)
        else:
            self._client.connect_async(self.settings.host, self.settings.port, self.settings.keepalive)
        self._network.add(self)

    def stop(self) -> None:
        """Disconnect cleanly (no last will) and leave the network loop."""
        if not self._started:
            return
        self._started = False
        self._network.remove(self)  # the loop sends DISCONNECT, then paho closes the socket
        if self._own_network:
            self._network.stop()

    @property
    def started(self) -> bool:
        """Whether `start()` was called (and `stop()` was not)."""
        return self._started

    def loop_alive(self) -> bool:
        """Whether the network loop serving this client runs."""
        return self._started and self._network.alive()

    # ------------------------------------------------------------------ the network loop's side
    def io_fileno(self) -> Optional[int]:
        """The socket's descriptor, or None while disconnected (network loop)."""
        sock = self._client.socket()
        return None if sock is None else sock.fileno()

    def io_wants_write(self) -> bool:
        """Whether packets wait to be written (network loop)."""
        return self._client.want_write()

    def io_pending(self) -> bool:
        """Whether TLS has decrypted bytes that the socket's readiness does not show (network loop)."""
        sock = self._client.socket()
        return isinstance(sock, ssl.SSLSocket) and sock.pending() > 0

    def io_read(self) -> None:
        """Read and handle incoming packets; callbacks run here (network loop)."""
        self._client.loop_read()

    def io_write(self) -> None:
        """Write queued packets (network loop)."""
        self._client.loop_write()

    def io_misc(self) -> None:
        """Keepalive ping, and closing a connection whose broker went silent (network loop)."""
        self._client.loop_misc()

    def io_connect(self) -> None:
        """Open the socket (DNS, TCP, TLS: blocking) and queue CONNECT (on a connect thread of the network loop)."""
        result = self._client.reconnect()
        if result != MQTTErrorCode.MQTT_ERR_SUCCESS:
            raise OSError(f"connect failed: {paho.error_string(result)}")

    def io_disconnect(self) -> None:
        """Queue a DISCONNECT: the broker then drops the session without the last will (network loop)."""
        self._client.disconnect()

    def _wake_network(self, client: paho.Client, userdata: object, sock: object) -> None:
        self._network.wake(self)

    # ------------------------------------------------------------------ traffic
    def subscribe(self, filters: Sequence[str], *, commands: bool) -> None:
        """Subscribe at QoS 1. `commands`: MQTT 5 options for request topics (no echo of our
        own publications, no retained message replayed at subscribe time, retain flag as published)."""
        if not filters:
            return
        if self.mqtt5:
            # retainAsPublished on request topics: the broker keeps the retain flag on live
            # delivery, so a request published with -r is refused at once, not run and stored.
            options = SubscribeOptions(qos=1, noLocal=commands, retainAsPublished=commands,
                                       retainHandling=SubscribeOptions.RETAIN_DO_NOT_SEND if commands
                                       else SubscribeOptions.RETAIN_SEND_ON_SUBSCRIBE)
            result, mid = self._client.subscribe([(f, options) for f in filters])
        else:
            result, mid = self._client.subscribe([(f, 1) for f in filters])
        if result != MQTTErrorCode.MQTT_ERR_SUCCESS:
            log.warning("subscribe to %s failed: %s", ", ".join(filters), paho.error_string(result))
        elif mid is not None:
            self._unacknowledged.add(mid)

    @property
    def subscribed(self) -> bool:
        """Whether the broker acknowledged every subscription made since the last connect (a
        request published before that may not reach us: the broker orders clients independently)."""
        return self._acknowledged > 0 and not self._unacknowledged

    def publish(self, topic: str, payload: bytes, *, qos: int = 0, retain: bool = False,
                correlation_data: Optional[bytes] = None, content_type: Optional[str] = None,
                response_topic: Optional[str] = None, expiry: Optional[int] = None) -> Optional[object]:
        """Queue a publication (never blocks on the network). Returns a handle for `wait()`,
        or None when paho refused it (not connected for QoS 0, queue full, invalid topic).
        MQTT 5 only: `response_topic` makes it a request; `expiry` (seconds) is the Message Expiry
        Interval, after which brokers (and bridges) discard it undelivered."""
        properties = None
        if self.mqtt5 and (correlation_data is not None or content_type or response_topic or expiry):
            properties = Properties(PacketTypes.PUBLISH)
            if correlation_data is not None:
                properties.CorrelationData = correlation_data
            if content_type:
                properties.ContentType = content_type
            if response_topic:
                properties.ResponseTopic = response_topic
            if expiry:
                properties.MessageExpiryInterval = expiry
        try:
            info = self._client.publish(topic, payload, qos=qos, retain=retain, properties=properties)
        except ValueError as exc:  # wildcards or an empty topic: a caller-supplied response topic
            log.warning("cannot publish to %r: %s", topic, exc)
            return None
        # QoS>0 while disconnected reports NO_CONN but is stored and sent after reconnecting.
        if info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS or (qos > 0 and info.rc == MQTTErrorCode.MQTT_ERR_NO_CONN):
            return info
        log.debug("publish to %s not queued: %s", topic, paho.error_string(info.rc))
        return None

    @staticmethod
    def wait(handle: Optional[object], timeout: float) -> bool:
        """Wait (never from a paho callback) until a publication left; False on timeout/failure."""
        if handle is None:
            return False
        try:
            handle.wait_for_publish(timeout)  # type: ignore[attr-defined]
            return bool(handle.is_published())  # type: ignore[attr-defined]
        except (RuntimeError, ValueError):
            return False

    # ------------------------------------------------------------------ paho callbacks
    def _handle_connect(self, client: paho.Client, userdata: object, flags: object, reason_code: object,
                        properties: object) -> None:
        try:
            if getattr(reason_code, "is_failure", False):
                log.warning("MQTT broker %s:%d refused the connection: %s", self.settings.host, self.settings.port,
                            reason_code)
                return
            log.info("connected to MQTT broker %s:%d (MQTT %s)", self.settings.host, self.settings.port,
                     "5" if self.mqtt5 else "3.1.1")
            _disable_nagle(client)
            self._network.accepted(self)
            self._unacknowledged.clear()
            self._acknowledged = 0
            self._on_connect()
        except Exception:  # callback boundary: never let an error kill paho's thread
            log.exception("MQTT on_connect handler failed")

    def _handle_subscribe(self, client: paho.Client, userdata: object, mid: int, reason_codes: object,
                          properties: object) -> None:
        self._unacknowledged.discard(mid)
        self._acknowledged += 1

    def _handle_disconnect(self, client: paho.Client, userdata: object, flags: object, reason_code: object,
                           properties: object) -> None:
        try:
            self._on_disconnect(str(reason_code))
        except Exception:  # callback boundary
            log.exception("MQTT on_disconnect handler failed")

    def _handle_message(self, client: paho.Client, userdata: object, message: paho.MQTTMessage) -> None:
        try:
            props = getattr(message, "properties", None)
            response_topic = getattr(props, "ResponseTopic", None) if props is not None else None
            correlation = getattr(props, "CorrelationData", None) if props is not None else None
            inbound = InboundMessage(
                topic=message.topic,
                payload=bytes(message.payload),
                qos=message.qos,
                retain=bool(message.retain),
                response_topic=response_topic or None,
                correlation_data=bytes(correlation) if correlation is not None else None,
            )
            self._on_message(inbound)
        except Exception:  # callback boundary
            log.exception("MQTT message handler failed for %r", getattr(message, "topic", "?"))


def _disable_nagle(client: paho.Client) -> None:
    """paho leaves Nagle's algorithm on: a small publish (a reply, a state change) then waits for
    the ACK of the previous one, which rides on the broker's next packet (measured: ~25 ms with
    telemetry every 50 ms). Replies and events are latency-sensitive, so send them at once."""
    sock = client.socket()
    if isinstance(sock, socket.socket) and sock.family in (socket.AF_INET, socket.AF_INET6):
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError as exc:
            log.debug("cannot set TCP_NODELAY: %s", exc)
