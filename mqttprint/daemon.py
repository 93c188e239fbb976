"""The composition root: builds every object from the config, starts and stops them in order.

Only this module constructs services and starts threads.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from typing import TYPE_CHECKING, Optional, Protocol

from mqttprint.config import Config, PrinterConfig
from mqttprint.protocol.params import EngineParams
from mqttprint.protocol.sendqueue import Flow
from mqttprint.runtime.bus import EventBus
from mqttprint.runtime.commands import CommandRegistry, Context
from mqttprint.runtime.printer_actions import register_printer_actions
from mqttprint.runtime.printer_service import PrinterService
from mqttprint.runtime.serial_link import LinkSettings
from mqttprint.runtime.file_store import FileStore
from mqttprint.runtime.job_actions import JobsService, register_job_actions
from mqttprint.runtime.prompts import PromptsService, register_prompt_actions
from mqttprint.runtime.storage import state_dir
from mqttprint.runtime.system_commands import SystemCommands, register_system_actions

if TYPE_CHECKING:  # the transports and integrations are imported when they are started
    from mqttprint.integrations.metrics import GatewayMetrics
    from mqttprint.integrations.mtconnect import MtconnectAdapter
    from mqttprint.integrations.webcam import CameraPublisher
    from mqttprint.mqtt.bridge import MqttBridge
    from mqttprint.rest.server import RestServer

log = logging.getLogger(__name__)


class Stoppable(Protocol):
    """A part the gateway stops on the way out."""

    def stop(self) -> None: ...


def engine_params(printer: PrinterConfig, config: Config) -> EngineParams:
    """The protocol engine's parameters for one printer."""
    return EngineParams(
        flow=Flow(printer.flow_control),
        rx_buffer=printer.rx_buffer,
        ok_timeout=printer.ok_timeout,
        temperature_interval=printer.temperature_interval,
        position_interval=printer.position_interval,
        emit_traffic=config.mqtt.terminal or config.logging.serial_traffic,
    )


def link_settings(printer: PrinterConfig) -> LinkSettings:
    """How to reach one printer."""
    return LinkSettings(
        port=printer.port,
        baudrate=printer.baudrate,
        autoconnect=printer.autoconnect,
        reset_on_connect=printer.reset_on_connect,
    )


class Gateway:
    """Everything one `mqttprint run` process runs: printers, command registry, MQTT, REST."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.bus = EventBus()
        self.printers: dict[str, PrinterService] = {
            p.id: PrinterService(p.id, link_settings(p), engine_params(p, config), self.bus) for p in config.printers
        }
        default = config.printers[0].id if config.printers else None
        self.registry = CommandRegistry(Context(self.printers, default))
        register_printer_actions(self.registry)
        self.system = SystemCommands(config.system, self.bus)
        register_system_actions(self.registry, self.system)
        self.state_dir = state_dir(config.storage.dir)
        store = FileStore(self.state_dir / "uploads", config.rest.max_upload_mb * 1024 * 1024)
        self.jobs = JobsService(config, store, self.printers, self.bus)
        register_job_actions(self.registry, self.jobs)
        self.prompts = PromptsService(self.printers, self.bus)
        register_prompt_actions(self.registry, self.prompts)
        self.mqtt: Optional[MqttBridge] = None
        self.embedded_broker: Optional[Stoppable] = None  # mqtt.host: auto and no broker answered
        self.rest: Optional[RestServer] = None
        self.metrics: Optional[GatewayMetrics] = None
        self.mtconnect: Optional[MtconnectAdapter] = None
        self.cameras: Optional[CameraPublisher] = None
        if config.metrics.enabled and config.rest.enabled:
            from mqttprint.integrations.metrics import GatewayMetrics

            self.metrics = GatewayMetrics(self.printers, self.bus, config.gateway.id, self.jobs.jobs)
        self._stopped = threading.Event()

    def start(self) -> None:
        """Start printers first (a print never waits for a transport), then MQTT, then REST."""
        if self.metrics is not None:
            self.metrics.attach()
        for printer in self.printers.values():
            printer.start()
        self.jobs.start()
        from mqttprint.mqtt.bridge import MqttBridge
        from mqttprint.mqtt.broker_auto import choose_broker

        mqtt_config, self.embedded_broker = choose_broker(self.config.mqtt)  # mqtt.host: auto
        self.config = dataclasses.replace(self.config, mqtt=mqtt_config)
        self.mqtt = MqttBridge(self.config, self.registry, self.bus, self.printers)
        self.mqtt.start()
        if self.metrics is not None:
            publisher = self.mqtt.publisher
            self.metrics.watch_mqtt(publisher.is_connected, publisher.backlog)
        if self.config.rest.enabled:
            from mqttprint.rest.server import RestServer

            self.rest = RestServer(self.config, self.registry, self.printers, self.bus, metrics=self.metrics)
            self.rest.start()
        if self.config.mtconnect.enabled:
            from mqttprint.integrations.mtconnect import MtconnectAdapter

            self.mtconnect = MtconnectAdapter(self.config.mtconnect, self.printers, self.bus)
            self.mtconnect.start()
            if self.metrics is not None:
                self.metrics.add_gauge("mqttprint_mtconnect_agents",
                                       "MTConnect agents connected", self.mtconnect.agent_count)
        if any(p.webcam.mqtt_interval > 0 and p.webcam.snapshot_url for p in self.config.printers):
            from mqttprint.integrations.webcam import CameraPublisher

            self.cameras = CameraPublisher({p.id: p.webcam for p in self.config.printers}, self.mqtt.publish_camera)
            self.cameras.start()

    def healthy(self, max_silence: float = 10.0) -> bool:
        """Whether every printer is registered with a live I/O loop and the MQTT client's loop is alive
        (the systemd watchdog is pinged only while this holds)."""
        for printer in self.printers.values():
            if not printer.link.running(max_silence):
                return False
        return self.mqtt is not None and self.mqtt.healthy()

    def status_line(self) -> str:
        """A one-line summary for systemd's STATUS=."""
        states = ", ".join(f"{pid}: {p.snapshot().state_text}" for pid, p in self.printers.items())
        return f"{len(self.printers)} printer(s): {states}"

    def stop(self) -> None:
        """Stop REST first (no new requests), then the printers (a running print is reported as
        interrupted while MQTT can still publish it), then MQTT (publishes offline)."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        self._stop_part(self.rest)
        self._stop_part(self.mtconnect)
        self._stop_part(self.cameras)
        self.jobs.stop()
        for printer in self.printers.values():
            printer.stop()
        self._stop_part(self.mqtt)
        self._stop_part(self.embedded_broker)

    @staticmethod
    def _stop_part(part: Optional[Stoppable]) -> None:
        if part is None:
            return
        try:
            part.stop()
        except Exception:  # keep stopping the rest; log the failure with its traceback
            log.exception("stopping %s failed", type(part).__name__)
