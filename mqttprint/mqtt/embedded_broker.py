"""An MQTT broker inside the gateway process, for the zero-set-up case (`mqtt.host: auto`).

The only module that imports amqtt (pure Python, asyncio; an optional dependency:
``pip install 'mqttprint[embedded-broker]'``). amqtt speaks MQTT 3.1.1 only - it answers an
MQTT 5 CONNECT with "unacceptable protocol version" - so the gateway talks 3.1.1 to it (replies
then go to ``B/reply`` with the request's ``id``, see docs/mqtt.md). It listens on loopback only,
lets anyone in without a password, and keeps retained messages in memory only. That is right
for a first run on a fresh machine, not for a print farm: an external broker (mosquitto, ...)
stays the production path.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any, Optional

log = logging.getLogger(__name__)

#: How long `start` waits for the listener before giving up.
START_TIMEOUT = 15.0


class EmbeddedBrokerError(OSError):
    """The embedded broker could not start (amqtt missing, or the port is taken)."""


class EmbeddedBroker:
    """amqtt on its own thread and event loop, listening on `host`:`port` (anonymous, MQTT 3.1.1)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 1883) -> None:
        self.host = host
        self.port = port
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._broker: Any = None
        self._thread: Optional[threading.Thread] = None
        self._ready = threading.Event()
        self._error: Optional[BaseException] = None

    def start(self) -> None:
        """Start listening; returns once clients can connect. Raises `EmbeddedBrokerError`."""
        try:
            from amqtt.broker import Broker  # noqa: F401  (fail here, in the caller's thread)
        except ImportError as exc:
            raise EmbeddedBrokerError(
                "the embedded MQTT broker needs amqtt: pip install 'mqttprint[embedded-broker]' "
                "(or set mqtt.host to your broker)") from exc
        # amqtt (and transitions, its state machine library) log every connection and state change
        # at INFO; the gateway's own lines say what matters.
        for name in ("amqtt", "transitions"):
            logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLogger(name).getEffectiveLevel()))
        self._thread = threading.Thread(target=self._run, name="mqttprint-embedded-broker", daemon=True)
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT):
            raise EmbeddedBrokerError(f"the embedded MQTT broker did not start within {START_TIMEOUT:.0f} s")
        if self._error is not None:
            raise EmbeddedBrokerError(f"the embedded MQTT broker cannot listen on {self.host}:{self.port}: "
                                      f"{self._error}") from self._error
        log.info("embedded MQTT broker (amqtt, MQTT 3.1.1 only) listening on %s:%d", self.host, self.port)

    def stop(self) -> None:
        """Close every connection and the listener. Safe to call twice."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        self._thread = None
        try:
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(10)
        except Exception:  # stopping anyway: the loop ends below
            log.exception("embedded MQTT broker did not shut down cleanly")
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)

    # ------------------------------------------------------------------ the broker's thread
    def _run(self) -> None:
        from amqtt.broker import Broker

        loop = asyncio.new_event_loop()
        loop.set_exception_handler(_log_task_failure)
        self._loop = loop
        asyncio.set_event_loop(loop)
        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            # Only anonymous access; no $SYS publisher, no packet logger (amqtt's defaults add both).
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }
        try:
            self._broker = Broker(config, loop=loop)
            loop.run_until_complete(self._broker.start())
        except Exception as exc:  # reported to start() in the caller's thread
            self._error = exc.__cause__ or exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.close()

    async def _shutdown(self) -> None:
        if self._broker is not None:
            await self._broker.shutdown()


def _log_task_failure(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """amqtt leaves some per-client tasks unawaited: e.g. a QoS 1 delivery to a client that went
    away ends in "Timeout waiting for PUBACK". One line, not an asyncio traceback on stderr."""
    log.debug("embedded MQTT broker: %s", context.get("exception") or context.get("message"))
