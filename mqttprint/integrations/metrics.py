"""Prometheus metrics for `/metrics`: the only module that imports prometheus_client.

Cheap on the streaming path by design: gauges (state, link, temperatures, MQTT) are read from
the latest immutable snapshots at scrape time, the job's progress and layer are asked of each
printer's job control at scrape time (what `/api/job` reads, so never a progress tick late),
`lines sent` is the engine's own counter, and only rare events (resends, timeouts, firmware
errors, emergencies, reconnects, command round trips) arrive through the event bus. Job lines
put nothing on the bus at all.

Names follow Prometheus conventions: `mqttprint_` prefix, base units in the name (`_seconds`,
`_celsius`, `_ratio`), counters end in `_total`, labels `printer`, `sensor`, `state`, `code`.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from typing import Any, Callable, Iterable, Iterator, Mapping, Optional, Protocol

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from mqttprint import __version__
from mqttprint.mqtt.payloads import heater_key
from mqttprint.protocol.events import (
    CommunicationTimeout,
    EmergencySent,
    FirmwareErrorReported,
    ResendRequested,
    StateChanged,
)
from mqttprint.protocol.states import PrinterState
from mqttprint.runtime.bus import BusMessage, EventBus
from mqttprint.runtime.jobs import JobProgress
from mqttprint.runtime.printer_service import CommandTimed, PrinterService

#: Round trips of interactive commands (queued -> ok) span a millisecond (M105) to minutes (G28, M109).
ROUND_TRIP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
#: The emergency fast path is a lock and one write(): microseconds, unless the port blocks.
EMERGENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5)

#: Counters fed by bus events: metric name (without `_total`) -> help text.
EVENT_COUNTERS = {
    "resends": "Resend requests from the firmware",
    "timeouts": "Communication timeouts (no ok in time)",
    "firmware_errors": "Error lines reported by the firmware",
    "emergency_stops": "Emergency stops (M112) written",
    "reconnects": "Serial connections re-opened after the first one",
}

_WATCHED = (ResendRequested, CommunicationTimeout, FirmwareErrorReported, EmergencySent, StateChanged,
            CommandTimed)
_NOT_LINKED = (PrinterState.OFFLINE, PrinterState.OFFLINE_AFTER_ERROR, PrinterState.OPENING)


class JobReader(Protocol):
    """What the metrics need of a printer's job control (`runtime.jobs.PrinterJobs`)."""

    def progress(self) -> JobProgress: ...


def state_label(state: PrinterState) -> str:
    """The `state` label value: the enum name, lower case (`printing`, `offline_after_error`)."""
    return state.name.lower()


class GatewayMetrics:
    """One gateway's metrics registry. Thread-safe: bus events on serial threads, requests on
    REST threads, scrapes on a REST thread."""

    def __init__(self, printers: Mapping[str, PrinterService], bus: EventBus, gateway_id: str = "",
                 jobs: Optional[Mapping[str, JobReader]] = None) -> None:
        """`jobs`: each printer's job control, read at scrape time for the job's progress and layer
        (without it those two series are absent)."""
        self.printers = printers
        self.jobs: Mapping[str, JobReader] = jobs or {}
        self.bus = bus
        self.gateway_id = gateway_id
        self.registry = CollectorRegistry(auto_describe=True)
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str], int] = defaultdict(int)
        self._connected_once: set[str] = set()
        self._requests: dict[tuple[str, str], int] = defaultdict(int)
        self._mqtt_connected: Callable[[], Optional[bool]] = lambda: None
        self._mqtt_backlog: Callable[[], Optional[int]] = lambda: None
        self._unsubscribe: Optional[Callable[[], None]] = None
        self._gauges: list[tuple[str, str, Callable[[], float]]] = []
        self.round_trip = Histogram(
            "mqttprint_command_round_trip_seconds", "Interactive command round trip, queued to ok (or failure)",
            ["printer"], registry=self.registry, buckets=ROUND_TRIP_BUCKETS)
        self.emergency_write = Histogram(
            "mqttprint_emergency_write_seconds", "Emergency command: call to bytes written to the port",
            ["printer"], registry=self.registry, buckets=EMERGENCY_BUCKETS)
        for pid in printers:  # every series exists from the start (rate() needs the zero)
            self.round_trip.labels(pid)
            self.emergency_write.labels(pid)
        self.registry.register(_Collector(self))

    # ------------------------------------------------------------------ wiring
    def attach(self) -> None:
        """Start counting bus events (idempotent)."""
        if self._unsubscribe is None:
            self._unsubscribe = self.bus.subscribe(self.on_bus, _WATCHED)

    def detach(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def watch_mqtt(self, connected: Callable[[], Optional[bool]], backlog: Callable[[], Optional[int]]) -> None:
        """Where the gateway metrics read MQTT's connection state and publish backlog."""
        self._mqtt_connected = connected
        self._mqtt_backlog = backlog

    def add_gauge(self, name: str, text: str, read: Callable[[], float]) -> None:
        """A gateway gauge read at scrape time (e.g. `mqttprint_mtconnect_agents`)."""
        self._gauges.append((name, text, read))

    # ------------------------------------------------------------------ feeding
    def on_bus(self, message: BusMessage) -> None:
        """Bus subscriber (serial threads, or the caller of an emergency): count, never block."""
        pid, event = message.printer_id, message.event
        kind = type(event)
        if kind is CommandTimed:
            histogram = self.emergency_write if event.kind == CommandTimed.EMERGENCY else self.round_trip
            histogram.labels(pid).observe(max(0.0, event.seconds))
            return
        with self._lock:
            if kind is ResendRequested:
                self._counts[(pid, "resends")] += 1
            elif kind is CommunicationTimeout:
                self._counts[(pid, "timeouts")] += 1
            elif kind is FirmwareErrorReported:
                self._counts[(pid, "firmware_errors")] += 1
            elif kind is EmergencySent and event.command.split()[0].upper() == "M112":
                self._counts[(pid, "emergency_stops")] += 1
            elif kind is StateChanged and event.new is PrinterState.CONNECTING:
                if pid in self._connected_once:
                    self._counts[(pid, "reconnects")] += 1
                self._connected_once.add(pid)

    def count_request(self, method: str, status: int) -> None:
        """One REST request answered (called by the REST app after each response)."""
        with self._lock:
            self._requests[(method, str(status))] += 1

    # ------------------------------------------------------------------ exposition
    def render(self, accept: str = "") -> tuple[bytes, str]:
        """The exposition in the format the scraper asked for: (body, content type)."""
        encoder, content_type = choose_encoder(accept)
        return encoder(self.registry), content_type

    def _collect(self) -> Iterator[Metric]:
        yield from self._printer_gauges()
        with self._lock:
            counts = dict(self._counts)
            requests = dict(self._requests)
        lines = CounterMetricFamily("mqttprint_printer_lines_sent", "Lines written to the serial port", labels=["printer"])
        for pid, printer in self.printers.items():
            lines.add_metric([pid], float(getattr(printer.link.engine, "lines_written", 0)))
        yield lines
        for name, text in EVENT_COUNTERS.items():
            family = CounterMetricFamily(f"mqttprint_printer_{name}", text, labels=["printer"])
            for pid in self.printers:
                family.add_metric([pid], float(counts.get((pid, name), 0)))
            yield family
        yield from self._gateway_metrics(requests)

    def _printer_gauges(self) -> Iterator[Metric]:
        state = GaugeMetricFamily("mqttprint_printer_state", "1 for the printer's current state, 0 for the others",
                                  labels=["printer", "state"])
        link = GaugeMetricFamily("mqttprint_printer_link_up", "Whether the serial port is open", labels=["printer"])
        actual = GaugeMetricFamily("mqttprint_printer_temperature_celsius", "Reported temperature",
                                   labels=["printer", "sensor"])
        target = GaugeMetricFamily("mqttprint_printer_temperature_target_celsius", "Temperature target",
                                   labels=["printer", "sensor"])
        progress = GaugeMetricFamily("mqttprint_printer_job_progress_ratio", "Job completion, 0 to 1",
                                     labels=["printer"])
        layer = GaugeMetricFamily("mqttprint_printer_job_layer", "Current layer of the job (when the slicer "
                                  "marked layers)", labels=["printer"])
        for pid, printer in self.printers.items():
            snapshot = printer.snapshot()
            for each in PrinterState:
                state.add_metric([pid, state_label(each)], 1.0 if each is snapshot.state else 0.0)
            link.add_metric([pid], 0.0 if snapshot.state in _NOT_LINKED else 1.0)
            for key, reading in _sensors(snapshot.temperatures):
                actual.add_metric([pid, key], float(reading.actual))
                if reading.target is not None:
                    target.add_metric([pid, key], float(reading.target))
            reader = self.jobs.get(pid)
            job = reader.progress() if reader is not None else None
            if job is not None and job.completion is not None:
                progress.add_metric([pid], max(0.0, min(1.0, job.completion / 100.0)))
            if job is not None and job.layer is not None:
                layer.add_metric([pid], float(job.layer))
        yield from (state, link, actual, target, progress, layer)

    def _gateway_metrics(self, requests: Mapping[tuple[str, str], int]) -> Iterator[Metric]:
        info = GaugeMetricFamily("mqttprint_build_info", "Always 1: the gateway's version and id",
                                 labels=["version", "gateway"])
        info.add_metric([__version__, self.gateway_id], 1.0)
        yield info
        connected = self._mqtt_connected()
        if connected is not None:
            yield GaugeMetricFamily("mqttprint_mqtt_connected", "Whether the MQTT client is connected to the broker",
                                    value=1.0 if connected else 0.0)
        backlog = self._mqtt_backlog()
        if backlog is not None:
            yield GaugeMetricFamily("mqttprint_mqtt_publish_backlog", "Messages waiting to be published",
                                    value=float(backlog))
        for name, text, read in self._gauges:
            yield GaugeMetricFamily(name, text, value=float(read()))
        family = CounterMetricFamily("mqttprint_rest_requests", "REST requests answered, by method and status code",
                                     labels=["method", "code"])
        for (method, code), count in sorted(requests.items()):
            family.add_metric([method, code], float(count))
        yield family


def _sensors(temperatures: Mapping[str, Any]) -> Iterable[tuple[str, Any]]:
    """Sensor label -> reading; the first of two firmware keys for one sensor wins (`T` vs `T0`)."""
    seen: dict[str, Any] = {}
    for key, reading in temperatures.items():
        seen.setdefault(heater_key(key), reading)
    return sorted(seen.items())


class _Collector:
    """Adapts GatewayMetrics to prometheus_client's collector protocol (collected at scrape time)."""

    def __init__(self, owner: GatewayMetrics) -> None:
        self.owner = owner

    def collect(self) -> Iterator[Metric]:
        return self.owner._collect()
