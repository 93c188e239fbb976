"""Configuration: YAML -> frozen dataclasses. Every problem is reported at once, with its key path.

Unknown keys are errors (a typo must not silently fall back to a default). Secrets may come from
the environment (`MQTTPRINT_MQTT_PASSWORD`, `MQTTPRINT_API_KEY_<NAME>`) or from files
(`password_file`, `key_file`). The dataclasses (every key and default) live in `config_model.py`,
the checks in `config_schema.py`; this module reads YAML and re-exports both.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Optional

import yaml

from mqttprint.config_model import (  # re-exported: `from mqttprint.config import PrinterConfig`
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
from mqttprint.config_schema import build_config, config_to_dict

__all__ = [
    "ApiKey", "Config", "ConfigError", "GatewayConfig", "HomeAssistantConfig", "LoggingConfig",
    "MetricsConfig", "MqttConfig", "MtconnectConfig", "PrinterConfig", "RestConfig", "StorageConfig",
    "SystemAction", "SystemConfig", "TlsConfig", "WebcamConfig", "dump_config", "load_config",
    "parse_config",
]


def load_config(path: str | Path, environ: Optional[Mapping[str, str]] = None) -> Config:
    """Read and validate a YAML file. Raises ConfigError listing every problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror or exc}"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        raise ConfigError([f"{path}: not valid YAML{where}: {getattr(exc, 'problem', exc)}"]) from None
    return parse_config(data if data is not None else {}, environ=environ, base_dir=path.parent, source=str(path))


def parse_config(data: Any, *, environ: Optional[Mapping[str, str]] = None, base_dir: Optional[Path] = None,
                 source: Optional[str] = None) -> Config:
    """Validate already-parsed YAML data."""
    return build_config(data, dict(os.environ if environ is None else environ), base_dir or Path.cwd(), source)


def dump_config(config: Config, *, redact: bool = True) -> str:
    """The effective configuration as YAML, secrets replaced by "***" unless `redact` is False."""
    return yaml.safe_dump(config_to_dict(config, redact=redact), sort_keys=False)
