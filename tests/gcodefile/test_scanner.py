"""Metadata from real slicer output (see tests/fixtures/gcode/README.md for how each file was made)."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mqttprint.gcodefile import FileMetadata, MetadataScanner, scan
from mqttprint.gcodefile.fields import parse_duration
from mqttprint.gcodefile.model import from_dict
from mqttprint.gcodefile.scanner import MAX_LINE

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "gcode"


def read(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def meta(name: str) -> FileMetadata:
    return scan(io.BytesIO(read(name)))


def test_prusaslicer_2_5_small_complete_file() -> None:
    # PrusaSlicer 2.5.0 CLI (Debian), marlin2 flavor, PETG 1.27 g/cm3, label objects, M73 on.
    m = meta("prusaslicer-2.5.0_box8x8x2.gcode")
    assert (m.slicer, m.slicer_version) == ("PrusaSlicer", "2.5.0")
    assert m.estimated_time == 104  # "; estimated printing time (normal mode) = 1m 44s"
    assert len(m.filament) == 1
    f = m.filament[0]
    assert (f.length, f.weight, f.type) == (56.5, 0.17, "PETG")
    assert f.volume == pytest.approx(0.1359, abs=1e-4)  # 56.5 mm of 1.75 mm filament (footer says 0.14)
    assert (m.layer_height, m.first_layer_height, m.layer_count, m.max_z) == (0.2, 0.2, 10, 2.0)
    assert m.objects == ("small.stl",)
    assert m.has_m73 and m.thumbnails == () and m.problems == ()


def test_prusaslicer_trimmed_box_keeps_footer_facts() -> None:
    # PrusaSlicer 2.5.0, 20x20x10 mm box, middle layers removed: the footer still holds the totals.
    m = meta("prusaslicer-2.5.0_box20x20x10_trimmed.gcode")
    assert m.estimated_time == 11 * 60 + 32
    assert m.filament[0].length == 810.46 and m.filament[0].weight == 2.48
    assert m.layer_count == 4  # counted markers: only what is left in the trimmed file
    assert m.max_z == 10.0  # the last layer's ;Z: is kept


def test_cura_4_13_over_arcus_has_real_header_values() -> None:
    # CuraEngine 4.13.0 driven over Arcus (scripts/fixtures/cura_arcus_slice.py), not the CLI's ;TIME:6666.
    m = meta("cura-4.13.0-arcus_box8x8x2.gcode")
    assert (m.slicer, m.slicer_version) == ("Cura", "4.13.0")
    assert m.estimated_time == 99
    assert m.filament[0].length == pytest.approx(108.071)  # ";Filament used: 0.108071m"
    assert m.filament[0].volume == pytest.approx(0.2599, abs=1e-4)
    assert (m.layer_height, m.layer_count, m.max_z) == (0.2, 10, 2.1)
    assert m.objects == ("small.stl",)
    d = m.dimensions
    assert d is not None and (d.min_x, d.max_x, d.min_z, d.max_z) == (88.2, 111.8, 0.3, 2.1)
    assert not m.has_m73


def test_cura_trimmed_box_uses_the_header_layer_count() -> None:
    m = meta("cura-4.13.0-arcus_box20x20x10_trimmed.gcode")
    assert m.estimated_time == 694 and m.layer_count == 50 and m.max_z == 10.1


def test_bambustudio_header_block_and_thumbnail() -> None:
    # BambuStudio 01.09.07.52, real file from github.com/anandijain/printsim.
    m = meta("bambustudio-01.09.07.52_square_ring.gcode")
    assert (m.slicer, m.slicer_version) == ("BambuStudio", "01.09.07.52")
    assert m.estimated_time == 34
    assert m.filament[0].length == 19.37 and m.filament[0].type == "PLA"
    # The header's "[cm^3] : 46.58" is mm3 really; volume is derived from length and diameter.
    assert m.filament[0].volume == pytest.approx(0.04658, abs=1e-4)
    assert (m.layer_count, m.max_z, m.layer_height, m.first_layer_height) == (5, 1.0, 0.2, 0.2)
    thumb = m.thumbnail
    assert thumb is not None and (thumb.width, thumb.height, thumb.format) == (50, 50, "png")
    assert thumb.data.startswith(b"\x89PNG\r\n\x1a\n")
    assert struct.unpack(">II", thumb.data[16:24]) == (50, 50)  # the PNG's own IHDR agrees


def test_prusaslicer_gui_export_png_thumbnails() -> None:
    # PrusaSlicer 2.5.0 GUI export under Xvfb (its OpenGL view renders the thumbnails): 16x16 + 220x124 PNG.
    m = meta("prusaslicer-2.5.0-gui_box20x20x10_png_trimmed.gcode")
    assert [(t.width, t.height, t.format) for t in m.thumbnails] == [(220, 124, "png"), (16, 16, "png")]
    assert m.thumbnail is m.thumbnails[0]
    assert struct.unpack(">II", m.thumbnails[0].data[16:24]) == (220, 124)
    assert m.estimated_time == 515 and m.layer_height == 0.3 and m.first_layer_height == 0.35
    assert m.max_z == 9.95 and m.filament[0].length == 847.17


def test_prusaslicer_gui_export_qoi_thumbnails() -> None:
    # The same GUI export with thumbnails_format = QOI: kept, but not served as PNG.
    m = meta("prusaslicer-2.5.0-gui_box20x20x10_qoi_trimmed.gcode")
    assert [(t.width, t.height, t.format) for t in m.thumbnails] == [(220, 124, "qoi"), (16, 16, "qoi")]
    assert m.thumbnails[0].data[:4] == b"qoif" and struct.unpack(">II", m.thumbnails[0].data[4:12]) == (220, 124)
    assert m.thumbnail is None and m.problems == ()


def test_broken_thumbnail_is_a_problem_not_a_failure() -> None:
    data = read("bambustudio-01.09.07.52_square_ring.gcode")
    start = data.index(b"; thumbnail begin")
    line_end = data.index(b"\n", start) + 1
    broken = data[:line_end] + b"; ###not base64###\n" + data[data.index(b"\n", line_end) + 1:]
    m = scan(io.BytesIO(broken))
    assert m.thumbnail is None and m.problems
    assert m.estimated_time == 34 and m.layer_count == 5  # everything else still read


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=5000), min_size=1, max_size=40))
def test_chunking_never_changes_the_result(sizes: list[int]) -> None:
    data = read("prusaslicer-2.5.0_box8x8x2.gcode") + read("bambustudio-01.09.07.52_square_ring.gcode")
    expected = scan(io.BytesIO(data))
    scanner = MetadataScanner()
    pos, i = 0, 0
    while pos < len(data):
        size = sizes[i % len(sizes)]
        scanner.feed(data[pos:pos + size])
        pos, i = pos + size, i + 1
    assert scanner.finish() == expected


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=3000))
def test_any_bytes_give_metadata_never_an_exception(data: bytes) -> None:
    assert isinstance(scan(io.BytesIO(b"; thumbnail begin 2x2 10\n" + data)), FileMetadata)


def test_a_huge_line_is_never_buffered_whole() -> None:
    scanner = MetadataScanner()
    for _ in range(40):
        scanner.feed(b"G1" + b"0" * 100_000)
        assert len(scanner._tail) <= MAX_LINE
    scanner.feed(b"\n;TIME:12\n")
    assert scanner.finish().estimated_time == 12


def test_index_round_trip_drops_only_image_bytes() -> None:
    m = meta("bambustudio-01.09.07.52_square_ring.gcode")
    back = from_dict(m.to_dict())
    assert back.estimated_time == m.estimated_time and back.filament == m.filament
    assert [(t.width, t.height, t.format) for t in back.thumbnails] == [(50, 50, "png")]
    assert from_dict({"filament": "nonsense", "layer_count": True}).layer_count is None


@pytest.mark.parametrize("text,seconds", [("1d 2h 3m 4s", 93784), ("34s", 34), ("11m 32s", 692),
                                          ("1 hours 2 minutes", 3720), ("5400", 5400), ("soon", None)])
def test_durations(text: str, seconds: float | None) -> None:
    assert parse_duration(text) == seconds
