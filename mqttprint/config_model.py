"""The configuration's frozen dataclasses: the one source of every key and default.

`config_schema.py` derives the keys it accepts and the defaults it fills in from these classes
(field names, field defaults); `config.py` reads YAML and is what the rest of the code imports.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Optional


class ConfigError(Exception):
    """The configuration is invalid; `problems` lists every problem as "key.path: message"."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems

    def report(self, path: str) -> str:
        """Every problem, one per line, under a header naming the file (what the CLI prints)."""
        return "\n".join([f"{path}: {len(self.problems)} problem(s):"] + [f"  {p}" for p in self.problems])


@dataclass(frozen=True, slots=True)
class TlsConfig:
    enabled: bool = False
    ca_file: Optional[str] = None
    cert_file: Optional[str] = None
    key_file: Optional[str] = None
    insecure: bool = False


@dataclass(frozen=True, slots=True)
class MqttConfig:
    host: str = "127.0.0.1"
    port: int = 1883
    username: Optional[str] = None
    password: Optional[str] = None
    base_topic: str = "mqttprint"
    client_id: Optional[str] = None
    protocol: int = 5  # 5 = MQTT 5, 4 = MQTT 3.1.1
    keepalive: int = 30
    terminal: bool = False
    tls: TlsConfig = field(default_factory=TlsConfig)
    #: telemetry (position/temperature) is published at most this often per printer, seconds
    telemetry_interval: float = 0.2
    #: commands older than this (MQTT 5 message expiry or a `ts` field) are refused, seconds
    max_command_age: float = 30.0
    #: largest inbound payload, bytes
    max_payload: int = 16384
    #: requests waiting per printer (and for system commands) before new ones are refused as busy
    request_queue: int = 100
    #: a request id seen again within this many seconds is a QoS 1 redelivery: dropped (0: never)
    duplicate_window: float = 10.0


@dataclass(frozen=True, slots=True)
class ApiKey:
    name: str
    key: str
    role: str  # admin | user | read


@dataclass(frozen=True, slots=True)
class RestConfig:
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 5000
    #: base of absolute URLs in answers (Location, refs); None: relative URLs (never the Host header)
    external_url: Optional[str] = None
    api_keys: tuple[ApiKey, ...] = ()
    threads: int = 8
    max_upload_mb: int = 200
    dashboard: bool = True  # the web page at `/`
    max_streams: int = 24  # live-update (SSE) connections, each on its own thread beside `threads`


@dataclass(frozen=True, slots=True)
class HomeAssistantConfig:
    discovery: bool = True
    prefix: str = "homeassistant"


@dataclass(frozen=True, slots=True)
class WebcamConfig:
    """A printer's camera, in OctoPrint's terms (its /api/settings `webcam` block)."""

    stream_url: Optional[str] = None
    snapshot_url: Optional[str] = None
    flip_h: bool = False
    flip_v: bool = False
    rotate_90: bool = False
    #: seconds between JPEG snapshots published on B/camera; 0 = off
    mqtt_interval: float = 0.0

    @property
    def configured(self) -> bool:
        return bool(self.stream_url or self.snapshot_url)


@dataclass(frozen=True, slots=True)
class PrinterConfig:
    id: str
    name: str
    port: str
    baudrate: int = 115200
    autoconnect: bool = True
    flow_control: str = "ping-pong"  # or "window"
    rx_buffer: int = 128
    reset_on_connect: bool = False
    temperature_interval: float = 2.0
    position_interval: float = 5.0
    ok_timeout: float = 10.0
    pause_script: tuple[str, ...] = ()
    resume_script: tuple[str, ...] = ()
    cancel_script: tuple[str, ...] = ("M104 S0", "M140 S0", "M106 S0", "M84")
    webcam: WebcamConfig = field(default_factory=WebcamConfig)


@dataclass(frozen=True, slots=True)
class SystemAction:
    action: str
    name: str = ""
    command: Optional[str] = None
    confirm: Optional[str] = None
    async_: bool = False
    ignore: bool = False
    shell: bool = False
    timeout: float = 60.0

    @property
    def divider(self) -> bool:
        return self.action == "divider"


@dataclass(frozen=True, slots=True)
class SystemConfig:
    #: the core commands (OctoPrint's shutdown/reboot/restart) -> the command line; None = not offered
    commands: Mapping[str, Optional[str]] = field(default_factory=lambda: dict.fromkeys(("shutdown", "reboot", "restart")))
    actions: tuple[SystemAction, ...] = ()
    mqtt_enabled: bool = True


@dataclass(frozen=True, slots=True)
class StorageConfig:
    dir: Optional[str] = None


@dataclass(frozen=True, slots=True)
class LoggingConfig:
    level: str = "INFO"
    serial_traffic: bool = False
    #: per-subsystem levels, e.g. {"mqtt": "DEBUG", "rest": "WARNING"} (logger mqttprint.<name>)
    levels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    """This gateway's identity among others sharing a base topic (fleet, Home Assistant ids)."""

    #: [a-z0-9_-]+; default: the host name, lower-cased, other characters replaced by "-"
    id: str = "gateway"
    #: the dashboard/REST URL other gateways show for this one (default: http://<host name>:<rest.port>/)
    url: Optional[str] = None


@dataclass(frozen=True, slots=True)
class MetricsConfig:
    """Prometheus exposition at /metrics on the REST port."""

    enabled: bool = True
    require_key: bool = False


@dataclass(frozen=True, slots=True)
class MtconnectConfig:
    """MTConnect SHDR adapter (a TCP server an MTConnect agent connects to)."""

    enabled: bool = False
    host: str = "0.0.0.0"
    port: int = 7878


@dataclass(frozen=True, slots=True)
class Config:
    gateway: GatewayConfig = field(default_factory=GatewayConfig)
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    rest: RestConfig = field(default_factory=RestConfig)
    homeassistant: HomeAssistantConfig = field(default_factory=HomeAssistantConfig)
    printers: tuple[PrinterConfig, ...] = ()
    system: SystemConfig = field(default_factory=SystemConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    mtconnect: MtconnectConfig = field(default_factory=MtconnectConfig)
    source: Optional[str] = None

    def printer(self, printer_id: str) -> PrinterConfig:
        for printer in self.printers:
            if printer.id == printer_id:
                return printer
        raise KeyError(printer_id)
