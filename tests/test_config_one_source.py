"""Config keys and defaults come from one source, the dataclasses in config_model.py."""

from __future__ import annotations

import dataclasses

import pytest

from mqttprint import config_model as model
from mqttprint.config import ConfigError, parse_config
from mqttprint.config_schema import default, keys

SECTIONS = {"mqtt": model.MqttConfig, "rest": model.RestConfig, "homeassistant": model.HomeAssistantConfig,
            "storage": model.StorageConfig, "logging": model.LoggingConfig, "metrics": model.MetricsConfig,
            "mtconnect": model.MtconnectConfig, "system": model.SystemConfig}


@pytest.mark.parametrize("name", sorted(SECTIONS))
def test_an_empty_file_gives_the_dataclass_defaults(name: str) -> None:
    assert getattr(parse_config({}), name) == SECTIONS[name]()


def test_printer_defaults_are_the_dataclass_defaults() -> None:
    printer = parse_config({"printers": [{"id": "p", "port": "sim://p"}]}).printers[0]
    for field in dataclasses.fields(model.PrinterConfig):
        if field.name not in ("id", "name", "port"):
            assert getattr(printer, field.name) == default(model.PrinterConfig, field.name), field.name


@pytest.mark.parametrize("name", sorted(SECTIONS))
def test_every_field_is_an_accepted_key_and_nothing_else(name: str) -> None:
    cls = SECTIONS[name]
    accepted = keys(cls)
    assert set(accepted) >= {f.name.rstrip("_") for f in dataclasses.fields(cls)}
    with pytest.raises(ConfigError) as info:
        parse_config({name: {"no_such_key": 1}})
    assert info.value.problems[0].startswith(f"{name}.no_such_key: unknown key")
