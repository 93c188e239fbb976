"""Live print facts from real slicer files fed line by line, and the ETA blend."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from mqttprint.gcodefile import scan
from mqttprint.gcodefile.live import LiveTracker, PrintFacts, estimate_left

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "gcode"


def follow(name: str) -> tuple[LiveTracker, list[PrintFacts]]:
    data = (FIXTURES / name).read_bytes()
    tracker = LiveTracker(scan(io.BytesIO(data)))
    seen = []
    for raw in io.BytesIO(data):
        tracker.observe(raw)
        seen.append(tracker.facts())
    return tracker, seen


@pytest.mark.parametrize("name,layers,top_z", [
    ("prusaslicer-2.5.0_box8x8x2.gcode", 10, 2.0),  # PrusaSlicer 2.5.0: ;LAYER_CHANGE + ;Z:
    ("cura-4.13.0-arcus_box8x8x2.gcode", 10, 2.1),  # CuraEngine 4.13 over Arcus: ;LAYER:n
    ("bambustudio-01.09.07.52_square_ring.gcode", 5, 1.0),  # BambuStudio: ; CHANGE_LAYER
])
def test_layers_count_up_to_the_slicers_total(name: str, layers: int, top_z: float) -> None:
    tracker, seen = follow(name)
    numbers = [f.layer for f in seen if f.layer is not None]
    assert numbers == sorted(numbers) and numbers[-1] == layers
    assert {f.layers for f in seen} == {layers}
    assert max(f.z for f in seen if f.z is not None and f.layer == layers) >= top_z - 0.01


def test_filament_used_matches_the_slicers_total() -> None:
    # PrusaSlicer 2.5.0 (M82 absolute E, G92 E0 per layer, retractions): 56.50 mm in the footer.
    tracker, _ = follow("prusaslicer-2.5.0_box8x8x2.gcode")
    facts = tracker.facts()
    assert facts.filament_total == 56.5
    assert facts.filament_used == pytest.approx(56.5, abs=0.6)


def test_m73_progress_and_remaining_follow_the_file() -> None:
    _, seen = follow("prusaslicer-2.5.0_box8x8x2.gcode")
    percents = [f.m73_percent for f in seen if f.m73_percent is not None]
    assert percents[0] == 0 and percents[-1] == 100 and percents == sorted(percents)
    assert seen[-1].m73_left == 0 and seen[-1].m73_seq > 5


def test_z_increase_fallback_when_there_are_no_markers() -> None:
    # The Cura file with its ;LAYER: comments removed: layers come from extrusion at a higher Z.
    data = (FIXTURES / "cura-4.13.0-arcus_box8x8x2.gcode").read_bytes()
    tracker = LiveTracker()
    for raw in io.BytesIO(data):
        if not raw.startswith(b";LAYER:"):
            tracker.observe(raw)
    assert tracker.facts().layer == 10 and tracker.facts().layers is None


def test_m600_in_the_file_is_reported() -> None:
    calls = []
    tracker = LiveTracker(None, lambda: calls.append(1))
    for raw in (b"G1 X1 E1\n", b"M600 ; change\n", b"M6000\n", b"M601\n"):
        tracker.observe(raw)
    assert calls == [1]


def facts(estimate: float | None, m73_left: float | None = None) -> PrintFacts:
    return PrintFacts(None, None, None, None, m73_left, 1 if m73_left is not None else 0, 0.0, None, estimate)


def test_no_estimate_is_null_not_zero() -> None:
    assert estimate_left(0.0, 0.0, facts(None)) == (None, None)
    assert estimate_left(30.0, 0.001, None) == (None, None)
    left, origin = estimate_left(30.0, 0.25, None)
    assert origin == "linear" and left == pytest.approx(90.0)


def test_analysis_alone_then_mixed_with_measured_speed() -> None:
    assert estimate_left(0.0, 0.0, facts(1000.0)) == (1000.0, "analysis")
    # Half done by bytes in 1000 s although the slicer expected 500 s: twice as slow.
    left, origin = estimate_left(1000.0, 0.5, facts(1000.0))
    assert origin == "mixed-analysis" and left == pytest.approx(500 * (1 + 0.5 * (2 - 1)))


def test_m73_remaining_is_corrected_by_speed_and_age() -> None:
    # The slicer said 600 s left of 1000 at the last M73, read 20 s ago; the 400 slicer-seconds
    # done took 400 real seconds (ratio 1): left = 600 - 20.
    left, origin = estimate_left(420.0, 0.4, facts(1000.0, 600.0), m73_age=20.0)
    assert origin == "mixed-m73" and left == pytest.approx(580.0)
    assert estimate_left(0.0, 0.0, facts(1000.0, 1000.0)) == (1000.0, "slicer-m73")
