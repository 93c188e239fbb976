"""The MTConnect Devices.xml (probe) matching the SHDR adapter's keys: one device per printer.

    python -m mqttprint.integrations.mtconnect_devices config.yaml > Devices.xml

Data item names are the SHDR keys (`shdr.ITEMS`); ids are `<printer id>_<name>` (unique across
the agent, as XML IDs must be); device names are printer ids, device uuids `mqttprint-<id>`
(printer ids are unique across gateways, architecture section 4).
"""

from __future__ import annotations

import sys
from typing import Iterable, Optional
from xml.sax.saxutils import quoteattr

from mqttprint.integrations.shdr import ITEMS, DataItem

MTCONNECT_NS = "urn:mtconnect.org:MTConnectDevices:1.7"
SCHEMA = "http://schemas.mtconnect.org/schemas/MTConnectDevices_1.7.xsd"

#: component key -> (element, name) as nested under the device (see `_device`)
_AXES = (("x", "X"), ("y", "Y"), ("z", "Z"))
_TOOLS = (("tool0", "tool0"), ("tool1", "tool1"))


def _xml_id(printer_id: str, name: str) -> str:
    # XML IDs may not start with a digit or "-": printer ids may ([a-z0-9_-]+).
    return f"{printer_id}_{name}" if printer_id[:1].isalpha() or printer_id[:1] == "_" else f"p{printer_id}_{name}"


def _items(printer_id: str, component: str, indent: str) -> list[str]:
    chosen = [item for item in ITEMS if item.component == component]
    if not chosen:
        return []
    return [f"{indent}<DataItems>"] + [f"{indent}  {_data_item(printer_id, item)}" for item in chosen] + [
        f"{indent}</DataItems>"]


def _data_item(printer_id: str, item: DataItem) -> str:
    attributes = [("category", item.category), ("id", _xml_id(printer_id, item.name)), ("name", item.name),
                  ("type", item.type)]
    if item.sub_type:
        attributes.append(("subType", item.sub_type))
    if item.units:
        attributes.append(("units", item.units))
    return "<DataItem " + " ".join(f"{key}={quoteattr(value)}" for key, value in attributes) + "/>"


def _component(printer_id: str, element: str, key: str, name: str, indent: str,
               children: Optional[list[str]] = None) -> list[str]:
    cid = _xml_id(printer_id, key)
    out = [f"{indent}<{element} id={quoteattr(cid)} name={quoteattr(name)}>"]
    out += _items(printer_id, key, indent + "  ")
    if children:
        out += [f"{indent}  <Components>"] + children + [f"{indent}  </Components>"]
    return out + [f"{indent}</{element}>"]


def _device(printer_id: str, description: str, indent: str) -> list[str]:
    inner = indent + "    "
    axes = [line for key, name in _AXES for line in _component(printer_id, "Linear", key, name, inner + "    ")]
    path = _component(printer_id, "Path", "path", "path", inner + "    ")
    tools = [line for key, name in _TOOLS for line in _component(printer_id, "Deposition", key, name, inner + "    ")]
    environment = [line for key in ("bed", "chamber")
                   for line in _component(printer_id, "Environmental", key, key, inner + "    ")]
    components = (_component(printer_id, "Axes", "axes", "base", inner, axes)
                  + _component(printer_id, "Controller", "controller", "controller", inner, path)
                  + _component(printer_id, "Auxiliaries", "aux", "aux", inner, tools + environment))
    did = _xml_id(printer_id, "device")
    return ([f"{indent}<Device id={quoteattr(did)} name={quoteattr(printer_id)} uuid={quoteattr('mqttprint-' + printer_id)}>",
             f"{indent}  <Description manufacturer=\"mqttprint\">{_text(description)}</Description>"]
            + _items(printer_id, "device", indent + "  ")
            + [f"{indent}  <Components>"] + components + [f"{indent}  </Components>", f"{indent}</Device>"])


def _text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def devices_xml(printers: Iterable[tuple[str, str]]) -> str:
    """Devices.xml for (printer id, printer name) pairs."""
    body: list[str] = []
    for printer_id, name in printers:
        body += _device(printer_id, name, "    ")
    return "\n".join([
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<MTConnectDevices xmlns="{MTCONNECT_NS}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"',
        f'    xsi:schemaLocation="{MTCONNECT_NS} {SCHEMA}">',
        '  <Header creationTime="2026-01-01T00:00:00Z" sender="mqttprint" instanceId="1" version="1.7.0" '
        'bufferSize="131072" assetBufferSize="1024" assetCount="0"/>',
        "  <Devices>",
        *body,
        "  </Devices>",
        "</MTConnectDevices>",
        "",
    ])


def main(argv: Optional[list[str]] = None) -> int:
    from mqttprint.config import ConfigError, load_config

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m mqttprint.integrations.mtconnect_devices CONFIG.yaml > Devices.xml", file=sys.stderr)
        return 2
    try:
        config = load_config(args[0])
    except ConfigError as exc:
        print(exc.report(args[0]), file=sys.stderr)
        return 1
    sys.stdout.write(devices_xml((p.id, p.name) for p in config.printers))
    return 0


if __name__ == "__main__":
    sys.exit(main())
