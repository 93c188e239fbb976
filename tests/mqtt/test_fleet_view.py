"""The fleet view (pure): descriptors, availability, printer state, clash rules, the listing."""

from __future__ import annotations

import json

from mqttprint.mqtt.fleet_view import FleetView, gateway_info


def info(gid: str, printers: dict[str, str], since: float, conflicts: tuple[str, ...] = ()) -> bytes:
    return json.dumps(gateway_info(gid, "1.0", f"host-{gid}", f"http://{gid}:5000/", printers, conflicts, since,
                                   5)).encode()


def view_with(*gateways: tuple[str, dict[str, str], float, bool]) -> FleetView:
    view = FleetView("f", "me")
    for gid, printers, since, online in gateways:
        view.update(f"f/gateway/{gid}/info", info(gid, printers, since))
        view.update(f"f/gateway/{gid}/availability", b"online" if online else b"offline")
    return view


def test_updates_are_classified() -> None:
    view = FleetView("f", "me")
    assert view.update("f/gateway/g1/info", info("g1", {"a": "A"}, 1.0)) == ("info", "g1")
    assert view.update("f/gateway/g1/availability", b"online") == ("gateway", "g1")
    assert view.update("f/a/status", b'{"state": "Operational"}') == ("printer", "a")
    assert view.update("f/a/command", b"G28") is None
    assert view.update("other/a/status", b"{}") is None
    assert view.update("f/gateway/g1/info", b"") == ("info", "g1") and "g1" not in view.gateways  # cleared


def test_an_online_gateway_keeps_its_ids_a_newcomer_refuses_them() -> None:
    view = view_with(("g1", {"a": "A"}, 10.0, True), ("g2", {"b": "B"}, 5.0, False))
    assert view.refused_at_start(["a", "b", "c"]) == {"a": "g1"}  # offline g2 does not hold "b"
    assert view.owner("a") == "g1" and view.owner("b") == "g2"


def test_a_late_clash_is_won_by_the_gateway_online_first() -> None:
    view = view_with(("g1", {"a": "A"}, 10.0, True))
    assert view.must_yield(["a"], own_since=20.0) == {"a": "g1"}  # we came later: yield
    assert view.must_yield(["a"], own_since=5.0) == {}  # we came first: keep, g1 must yield


def test_listing_marks_gateways_printers_and_conflicts() -> None:
    view = view_with(("g1", {"a": "Printer A", "b": "Printer B"}, 10.0, True), ("g2", {"c": "C"}, 1.0, False))
    view.update("f/a/availability", b"online")
    view.update("f/a/status", b'{"state": "Operational"}')
    view.update("f/c/availability", b"online")  # retained, but its gateway is gone
    view.update("f/me_printer/availability", b"online")
    listing = view.listing({"me_printer": "Mine", "a": "My A"}, {"a": "g1"},
                           {"version": "1", "host": "h", "url": None}, True)
    gateways = {g["id"]: g for g in listing["gateways"]}
    assert gateways["me"]["local"] and gateways["me"]["available"]
    assert gateways["g1"]["available"] and not gateways["g2"]["available"]
    printers = {(p["gateway"], p["id"]): p for p in listing["printers"]}
    assert printers[("me", "me_printer")]["available"] and not printers[("me", "me_printer")]["conflict"]
    mine_a = printers[("me", "a")]
    assert mine_a["conflict"] and not mine_a["available"] and mine_a["status"] is None  # not the other's state
    theirs = printers[("g1", "a")]
    assert theirs["available"] and theirs["status"] == {"state": "Operational"} and theirs["name"] == "Printer A"
    assert not printers[("g1", "b")]["available"]  # no B/availability seen
    assert not printers[("g2", "c")]["available"]  # its gateway is offline
