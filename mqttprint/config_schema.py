"""The configuration schema: checks raw YAML data key by key and builds the frozen Config.

Collects every problem ("key.path: message (hint)") instead of stopping at the first.
"""

from __future__ import annotations

import dataclasses
import re
import socket
from pathlib import Path
from typing import Any, Callable, Optional

from mqttprint.config_model import (
    ApiKey,
    Config,
    ConfigError,
    GatewayConfig,
    HomeAssistantConfig,
    LoggingConfig,
    MetricsConfig,
    MqttConfig,
    MtconnectConfig,
    PrinterConfig,
    RestConfig,
    StorageConfig,
    SystemAction,
    SystemConfig,
    TlsConfig,
    WebcamConfig,
)
from mqttprint.config_rules import exposed_key_problem, is_loopback, sim_port_problem

PRINTER_ID = re.compile(r"^[a-z0-9_-]{1,64}$")
ACTION_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
TOPIC_SAFE = re.compile(r"^[A-Za-z0-9_/.-]+$")
ROLES = ("admin", "user", "read")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class Checker:
    """Reads typed values out of nested dicts, recording problems with their key paths."""

    def __init__(self, environ: dict[str, str], base_dir: Path) -> None:
        self.problems: list[str] = []
        self.environ = environ
        self.base_dir = base_dir

    def problem(self, path: str, message: str) -> None:
        self.problems.append(f"{path}: {message}")

    def section(self, data: Any, path: str, known: tuple[str, ...]) -> dict[str, Any]:
        if data is None:
            return {}
        if not isinstance(data, dict):
            self.problem(path, f"must be a mapping, not {type(data).__name__}")
            return {}
        for key in data:
            if key not in known:
                hint = _closest(str(key), known)
                self.problem(f"{path}.{key}" if path else str(key),
                             "unknown key" + (f" (did you mean '{hint}'?)" if hint else f" (known: {', '.join(known)})"))
        return data

    def get(self, data: dict[str, Any], key: str, path: str, kind: type | tuple[type, ...], default: Any,
            check: Optional[Callable[[Any], Optional[str]]] = None, nullable: bool = False) -> Any:
        full = f"{path}.{key}" if path else key
        if key not in data:
            return default
        value = data[key]
        if value is None and (nullable or default is None):
            return None
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if float in kinds and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if isinstance(value, bool) and bool not in kinds:
            self.problem(full, f"must be {_kind_name(kinds)}, not a boolean")
            return default
        if not isinstance(value, kinds):
            self.problem(full, f"must be {_kind_name(kinds)}, not {type(value).__name__} ({value!r})")
            return default
        if check is not None:
            message = check(value)
            if message:
                self.problem(full, message)
                return default
        return value

    def field(self, data: dict[str, Any], cls: type, name: str, path: str, kind: type | tuple[type, ...],
              check: Optional[Callable[[Any], Optional[str]]] = None, nullable: bool = False) -> Any:
        """`get` with the key and the default taken from the dataclass field `cls.name`."""
        return self.get(data, yaml_name(name), path, kind, default(cls, name), check, nullable)

    def secret(self, data: dict[str, Any], key: str, path: str, env_name: str) -> Optional[str]:
        """A secret from the environment, a `<key>_file`, or the YAML value (in that order)."""
        if env_name in self.environ:
            return self.environ[env_name]
        file_value = self.get(data, f"{key}_file", path, str, None)
        if file_value:
            try:
                return (self.base_dir / file_value).read_text(encoding="utf-8").strip()
            except OSError as exc:
                self.problem(f"{path}.{key}_file", f"cannot read {file_value}: {exc.strerror or exc}")
                return None
        return self.get(data, key, path, str, None)

    def existing_file(self, value: Optional[str], path: str) -> Optional[str]:
        if value is None:
            return None
        candidate = Path(value) if Path(value).is_absolute() else self.base_dir / value
        if not candidate.is_file():
            self.problem(path, f"file not found: {value}")
        return str(candidate)


def yaml_name(field_name: str) -> str:
    """A dataclass field's YAML key (`async_` -> `async`: a Python keyword)."""
    return field_name.rstrip("_")


def keys(cls: type, *extra: str) -> tuple[str, ...]:
    """The YAML keys a section accepts: the dataclass's fields (derived, never listed by hand),
    plus `extra` inputs that are not fields (e.g. `password_file`, read into `password`)."""
    return tuple(yaml_name(f.name) for f in dataclasses.fields(cls) if f.name != "source") + extra


def default(cls: type, name: str) -> Any:
    """A field's default, from the dataclass (the one place defaults are written)."""
    f = cls.__dataclass_fields__[name]  # type: ignore[attr-defined]
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    raise KeyError(f"{cls.__name__}.{name} has no default")


def _kind_name(kinds: tuple[type, ...]) -> str:
    names = {bool: "true/false", int: "an integer", float: "a number", str: "a string", list: "a list", dict: "a mapping"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _closest(word: str, options: tuple[str, ...]) -> Optional[str]:
    import difflib

    matches = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return matches[0] if matches else None


def _between(low: float, high: float) -> Callable[[Any], Optional[str]]:
    return lambda v: None if low <= v <= high else f"must be between {low:g} and {high:g}"


def _one_of(options: tuple[Any, ...]) -> Callable[[Any], Optional[str]]:
    return lambda v: None if v in options else f"must be one of {', '.join(map(str, options))}"


def build_config(data: Any, environ: dict[str, str], base_dir: Path, source: Optional[str]) -> Config:
    """Validate everything; raise ConfigError with every problem, or return the Config."""
    c = Checker(environ, base_dir)
    root = c.section(data, "", keys(Config))
    config = Config(
        gateway=_gateway(c, root.get("gateway")),
        mqtt=_mqtt(c, root.get("mqtt")),
        rest=_rest(c, root.get("rest")),
        homeassistant=_homeassistant(c, root.get("homeassistant")),
        printers=_printers(c, root.get("printers")),
        system=_system(c, root.get("system")),
        storage=StorageConfig(dir=c.field(c.section(root.get("storage"), "storage", keys(StorageConfig)), StorageConfig,
                                          "dir", "storage", str)),
        logging=_logging(c, root.get("logging")),
        metrics=_metrics(c, root.get("metrics")),
        mtconnect=_mtconnect(c, root.get("mtconnect")),
        source=source,
    )
    if c.problems:
        raise ConfigError(c.problems)
    return config


def default_gateway_id(hostname: Optional[str] = None) -> str:
    """The host name as a gateway id: lower-cased, every other character than [a-z0-9_-] -> "-"."""
    name = (hostname if hostname is not None else socket.gethostname()).split(".")[0].lower()
    name = re.sub(r"[^a-z0-9_-]", "-", name).strip("-")[:64]
    return name or "gateway"


def _gateway(c: Checker, raw: Any) -> GatewayConfig:
    d = c.section(raw, "gateway", keys(GatewayConfig))
    gid = c.get(d, "id", "gateway", str, None, lambda v: None if PRINTER_ID.match(v) else
                "must match [a-z0-9_-]+ (it is an MQTT topic segment and part of Home Assistant ids)",
                nullable=True)
    url = c.get(d, "url", "gateway", str, None, lambda v: None if re.match(r"^https?://\S+$", v) else
                "must be an http:// or https:// URL", nullable=True)
    return GatewayConfig(id=gid or default_gateway_id(), url=url)


def _metrics(c: Checker, raw: Any) -> MetricsConfig:
    d = c.section(raw, "metrics", keys(MetricsConfig))
    return MetricsConfig(enabled=c.field(d, MetricsConfig, "enabled", "metrics", bool),
                         require_key=c.field(d, MetricsConfig, "require_key", "metrics", bool))


def _mtconnect(c: Checker, raw: Any) -> MtconnectConfig:
    d = c.section(raw, "mtconnect", keys(MtconnectConfig))
    return MtconnectConfig(
        enabled=c.field(d, MtconnectConfig, "enabled", "mtconnect", bool),
        host=c.field(d, MtconnectConfig, "host", "mtconnect", str, lambda v: None if v.strip() else "must not be empty"),
        port=c.field(d, MtconnectConfig, "port", "mtconnect", int, _between(0, 65535)),
    )


def _webcam(c: Checker, raw: Any, path: str) -> WebcamConfig:
    d = c.section(raw, path, keys(WebcamConfig))

    def url(v: str) -> Optional[str]:
        return None if re.match(r"^https?://[^\s]+$", v) else "must be an http:// or https:// URL"

    cam = WebcamConfig(
        stream_url=c.field(d, WebcamConfig, "stream_url", path, str, url, nullable=True),
        snapshot_url=c.field(d, WebcamConfig, "snapshot_url", path, str, url, nullable=True),
        flip_h=c.field(d, WebcamConfig, "flip_h", path, bool),
        flip_v=c.field(d, WebcamConfig, "flip_v", path, bool),
        rotate_90=c.field(d, WebcamConfig, "rotate_90", path, bool),
        mqtt_interval=c.field(d, WebcamConfig, "mqtt_interval", path, float, _between(0, 86400)),
    )
    if cam.mqtt_interval and not cam.snapshot_url:
        c.problem(f"{path}.mqtt_interval", "needs snapshot_url (the JPEG published on B/camera)")
    return cam


def _mqtt(c: Checker, raw: Any) -> MqttConfig:
    p = "mqtt"
    d = c.section(raw, p, keys(MqttConfig, "password_file"))
    t = c.section(d.get("tls"), f"{p}.tls", keys(TlsConfig))
    tls = TlsConfig(
        enabled=c.field(t, TlsConfig, "enabled", f"{p}.tls", bool),
        ca_file=c.field(t, TlsConfig, "ca_file", f"{p}.tls", str),
        cert_file=c.field(t, TlsConfig, "cert_file", f"{p}.tls", str),
        key_file=c.field(t, TlsConfig, "key_file", f"{p}.tls", str),
        insecure=c.field(t, TlsConfig, "insecure", f"{p}.tls", bool),
    )
    if tls.enabled:
        tls = dataclasses.replace(
            tls,
            ca_file=c.existing_file(tls.ca_file, f"{p}.tls.ca_file"),
            cert_file=c.existing_file(tls.cert_file, f"{p}.tls.cert_file"),
            key_file=c.existing_file(tls.key_file, f"{p}.tls.key_file"),
        )
        if bool(tls.cert_file) != bool(tls.key_file):
            c.problem(f"{p}.tls", "cert_file and key_file go together (client certificate)")
    protocol = c.field(d, MqttConfig, "protocol", p, (int, str))
    protocol = {5: 5, "5": 5, 4: 4, "4": 4, 3: 4, "3.1.1": 4, "311": 4}.get(protocol, None)
    if protocol is None:
        c.problem(f"{p}.protocol", "must be 5 (MQTT 5) or 3.1.1 (MQTT 3.1.1)")
        protocol = 5
    if d.get("host") == "auto" and tls.enabled:
        c.problem(f"{p}.host", "auto may start a plain local broker; with tls.enabled give the broker's host name")
    base_topic = c.field(d, MqttConfig, "base_topic", p, str,
                       lambda v: None if TOPIC_SAFE.match(v) and not v.startswith("/") and not v.endswith("/")
                       else "letters, digits, _ - . / only; no wildcards, no leading/trailing /")
    return MqttConfig(
        host=c.field(d, MqttConfig, "host", p, str, lambda v: None if v.strip() else "must not be empty"),
        port=c.field(d, MqttConfig, "port", p, int, _between(1, 65535)),
        username=c.secret(d, "username", p, "MQTTPRINT_MQTT_USERNAME"),
        password=c.secret(d, "password", p, "MQTTPRINT_MQTT_PASSWORD"),
        base_topic=base_topic,
        client_id=c.field(d, MqttConfig, "client_id", p, str),
        protocol=protocol,
        keepalive=c.field(d, MqttConfig, "keepalive", p, int, _between(5, 3600)),
        terminal=c.field(d, MqttConfig, "terminal", p, bool),
        tls=tls,
        telemetry_interval=c.field(d, MqttConfig, "telemetry_interval", p, float, _between(0, 60)),
        max_command_age=c.field(d, MqttConfig, "max_command_age", p, float, _between(0, 86400)),
        max_payload=c.field(d, MqttConfig, "max_payload", p, int, _between(256, 1 << 20)),
        request_queue=c.field(d, MqttConfig, "request_queue", p, int, _between(1, 100000)),
        duplicate_window=c.field(d, MqttConfig, "duplicate_window", p, float, _between(0, 3600)),
    )


def _rest(c: Checker, raw: Any) -> RestConfig:
    p = "rest"
    d = c.section(raw, p, keys(RestConfig))
    api_keys: list[ApiKey] = []
    raw_keys = c.get(d, "api_keys", p, list, [])
    names: set[str] = set()
    for i, item in enumerate(raw_keys):
        kp = f"{p}.api_keys[{i}]"
        k = c.section(item, kp, keys(ApiKey, "key_file"))
        name = c.get(k, "name", kp, str, "", lambda v: None if re.match(r"^[A-Za-z0-9_-]{1,64}$", v) else "letters, digits, _ and - only")
        if not name:
            c.problem(f"{kp}.name", "required")
        elif name in names:
            c.problem(f"{kp}.name", f"duplicate API key name {name!r}")
        names.add(name)
        secret = c.secret(k, "key", kp, f"MQTTPRINT_API_KEY_{name.upper().replace('-', '_')}")
        if not secret:
            c.problem(f"{kp}.key", "required (or key_file, or the environment variable "
                                   f"MQTTPRINT_API_KEY_{name.upper().replace('-', '_')})")
        elif len(secret) < 16:
            c.problem(f"{kp}.key", "must be at least 16 characters (generate one: python3 -c 'import secrets; print(secrets.token_hex(16))')")
        role = c.get(k, "role", kp, str, "user", _one_of(ROLES))
        api_keys.append(ApiKey(name, secret or "", role))
    enabled = c.field(d, RestConfig, "enabled", p, bool)
    host = c.field(d, RestConfig, "host", p, str, lambda v: None if v.strip() else "must not be empty")
    if enabled and not is_loopback(host):
        # Anyone on the network can try keys: refuse the docs' example keys and short keys.
        for i, key in enumerate(api_keys):
            problem = exposed_key_problem(key.key)
            if problem:
                c.problem(f"{p}.api_keys[{i}].key", f"{problem} while rest.host ({host}) is not a loopback "
                                                    "address (bind 127.0.0.1, or generate a key: python3 -c "
                                                    "'import secrets; print(secrets.token_hex(16))')")
    return RestConfig(
        enabled=enabled,
        host=host,
        port=c.field(d, RestConfig, "port", p, int, _between(0, 65535)),
        external_url=c.field(d, RestConfig, "external_url", p, str,
                           lambda v: None if re.match(r"^https?://[^\s/?#]+(/[^\s?#]*)?$", v)
                           else "must be an http:// or https:// URL such as https://printers.example.com/"),
        api_keys=tuple(api_keys),
        threads=c.field(d, RestConfig, "threads", p, int, _between(1, 64)),
        max_upload_mb=c.field(d, RestConfig, "max_upload_mb", p, int, _between(1, 4096)),
        dashboard=c.field(d, RestConfig, "dashboard", p, bool),
        max_streams=c.field(d, RestConfig, "max_streams", p, int, _between(0, 256)),
    )


def _homeassistant(c: Checker, raw: Any) -> HomeAssistantConfig:
    d = c.section(raw, "homeassistant", keys(HomeAssistantConfig))
    return HomeAssistantConfig(
        discovery=c.field(d, HomeAssistantConfig, "discovery", "homeassistant", bool),
        prefix=c.field(d, HomeAssistantConfig, "prefix", "homeassistant", str,
                     lambda v: None if TOPIC_SAFE.match(v) else "letters, digits, _ - . / only"),
    )


def _script(c: Checker, d: dict[str, Any], key: str, path: str, default: tuple[str, ...]) -> tuple[str, ...]:
    value = c.get(d, key, path, (list, str), None)
    if value is None:
        return default
    lines = value.splitlines() if isinstance(value, str) else value
    out = []
    for i, line in enumerate(lines):
        if not isinstance(line, str):
            c.problem(f"{path}.{key}[{i}]", "must be a G-code string")
        elif line.strip():
            out.append(line.strip())
    return tuple(out)


def _printers(c: Checker, raw: Any) -> tuple[PrinterConfig, ...]:
    if raw is None:
        raw = [{"id": "printer", "port": "sim://marlin"}]
    if not isinstance(raw, list) or not raw:
        c.problem("printers", "must be a non-empty list of printers")
        return ()
    printers: list[PrinterConfig] = []
    ids: set[str] = set()
    ports: dict[str, str] = {}
    known = keys(PrinterConfig)
    for i, item in enumerate(raw):
        p = f"printers[{i}]"
        d = c.section(item, p, known)
        pid = c.get(d, "id", p, str, "", lambda v: None if PRINTER_ID.match(v) else
                    "must match [a-z0-9_-]+ (it is an MQTT topic segment and a URL path segment)")
        if "id" not in d:
            c.problem(f"{p}.id", "required")
        elif pid and pid in ids:
            c.problem(f"{p}.id", f"duplicate printer id {pid!r}")
        elif pid == "gateway":
            c.problem(f"{p}.id", "'gateway' is reserved (<base>/gateway/<id>/... are the gateways' own topics)")
        ids.add(pid)
        port = c.get(d, "port", p, str, "", lambda v: None if v.strip() else "must not be empty")
        if "port" not in d:
            c.problem(f"{p}.port", "required (a device path, auto, sim://marlin, rfc2217://host:port or socket://host:port)")
        elif port and port != "auto" and port in ports:
            c.problem(f"{p}.port", f"port {port!r} is already used by printer {ports[port]!r}")
        elif port.startswith("sim://"):
            problem = sim_port_problem(port)
            if problem:
                c.problem(f"{p}.port", problem)
        ports.setdefault(port, pid or str(d.get('id')))
        printers.append(PrinterConfig(
            id=pid or f"printer{i}",
            name=c.get(d, "name", p, str, pid or f"printer{i}"),
            port=port,
            baudrate=c.field(d, PrinterConfig, "baudrate", p, int, _between(300, 4_000_000)),
            autoconnect=c.field(d, PrinterConfig, "autoconnect", p, bool),
            flow_control=c.field(d, PrinterConfig, "flow_control", p, str, _one_of(("ping-pong", "window"))),
            rx_buffer=c.field(d, PrinterConfig, "rx_buffer", p, int, _between(32, 65536)),
            reset_on_connect=c.field(d, PrinterConfig, "reset_on_connect", p, bool),
            temperature_interval=c.field(d, PrinterConfig, "temperature_interval", p, float, _between(0, 3600)),
            position_interval=c.field(d, PrinterConfig, "position_interval", p, float, _between(0, 3600)),
            ok_timeout=c.field(d, PrinterConfig, "ok_timeout", p, float, _between(0.5, 600)),
            pause_script=_script(c, d, "pause_script", p, default(PrinterConfig, "pause_script")),
            resume_script=_script(c, d, "resume_script", p, default(PrinterConfig, "resume_script")),
            cancel_script=_script(c, d, "cancel_script", p, default(PrinterConfig, "cancel_script")),
            webcam=_webcam(c, d.get("webcam"), f"{p}.webcam"),
        ))
    return tuple(printers)


def _system(c: Checker, raw: Any) -> SystemConfig:
    p = "system"
    core_commands = tuple(default(SystemConfig, "commands"))
    d = c.section(raw, p, keys(SystemConfig))
    cmds = c.section(d.get("commands"), f"{p}.commands", core_commands)
    commands = {name: c.get(cmds, name, f"{p}.commands", str, None) for name in core_commands}
    actions: list[SystemAction] = []
    seen: set[str] = set()
    for i, item in enumerate(c.get(d, "actions", p, list, [])):
        ap = f"{p}.actions[{i}]"
        a = c.section(item, ap, keys(SystemAction))
        action = c.get(a, "action", ap, str, "", lambda v: None if ACTION_ID.match(v) else "letters, digits, _ . - only")
        if not action:
            c.problem(f"{ap}.action", "required")
            continue
        if action == "divider":
            actions.append(SystemAction("divider"))
            continue
        if action in seen:
            c.problem(f"{ap}.action", f"duplicate action {action!r}")
        seen.add(action)
        command = c.field(a, SystemAction, "command", ap, str)
        if not command:
            c.problem(f"{ap}.command", "required for every action except dividers")
        actions.append(SystemAction(
            action=action,
            name=c.get(a, "name", ap, str, action),
            command=command,
            confirm=c.field(a, SystemAction, "confirm", ap, str, nullable=True),
            async_=c.field(a, SystemAction, "async_", ap, bool),
            ignore=c.field(a, SystemAction, "ignore", ap, bool),
            shell=c.field(a, SystemAction, "shell", ap, bool),
            timeout=c.field(a, SystemAction, "timeout", ap, float, _between(0.1, 86400)),
        ))
    return SystemConfig(commands=commands, actions=tuple(actions), mqtt_enabled=c.field(d, SystemConfig, "mqtt_enabled", p, bool))


SUBSYSTEMS = ("protocol", "runtime", "mqtt", "rest", "sim", "serial")


def _logging(c: Checker, raw: Any) -> LoggingConfig:
    d = c.section(raw, "logging", keys(LoggingConfig))
    level = c.field(d, LoggingConfig, "level", "logging", str)
    if level.upper() not in LOG_LEVELS:
        c.problem("logging.level", f"must be one of {', '.join(LOG_LEVELS)}")
        level = "INFO"
    levels: dict[str, str] = {}
    for name, value in c.section(c.field(d, LoggingConfig, "levels", "logging", dict), "logging.levels", SUBSYSTEMS).items():
        if not isinstance(value, str) or value.upper() not in LOG_LEVELS:
            c.problem(f"logging.levels.{name}", f"must be one of {', '.join(LOG_LEVELS)}")
        else:
            levels[name] = value.upper()
    return LoggingConfig(level=level.upper(), serial_traffic=c.field(d, LoggingConfig, "serial_traffic", "logging", bool),
                         levels=levels)


SECRET_KEYS = {"password", "key"}


def config_to_dict(config: Config, *, redact: bool = True) -> dict[str, Any]:
    """Plain data for printing; secrets become "***" when `redact`."""

    def convert(value: Any, key: str = "") -> Any:
        if dataclasses.is_dataclass(value):
            return {("async" if f.name == "async_" else f.name): convert(getattr(value, f.name), f.name)
                    for f in dataclasses.fields(value) if f.name != "source"}
        if isinstance(value, (tuple, list)):
            return [convert(v) for v in value]
        if isinstance(value, dict) or hasattr(value, "items"):
            return {k: convert(v, k) for k, v in value.items()}
        if redact and key in SECRET_KEYS and value:
            return "***"
        return value

    return convert(config)
