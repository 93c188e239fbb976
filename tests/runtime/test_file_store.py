"""FileStore uploads (issue 12 item 7): linear line counting whatever the file's shape, and a
full disk is a clean StorageFull with nothing left behind."""

from __future__ import annotations

import io
import os
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mqttprint.gcodefile.scanner import MAX_LINE
from mqttprint.runtime import file_store
from mqttprint.runtime.file_store import FileStore, StorageFull


def _reference_lines(data: bytes) -> int:
    return sum(1 for line in data.split(b"\n") if line.split(b";", 1)[0].strip())


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300).map(lambda b: bytes(b"G ;\n\r1"[x % 6] for x in b)), st.integers(1, 17))
def test_counts_lines_like_splitting_the_whole_file(data: bytes, chunk: int) -> None:
    analyser = file_store._Analyser()
    for start in range(0, len(data), chunk):
        analyser.feed(data[start:start + chunk])
    assert analyser.finish()[0] == _reference_lines(data)


def test_a_file_without_newlines_keeps_no_growing_buffer() -> None:
    """Re-joining a growing partial line on every chunk made a 60 MB upload take 22 s."""
    analyser = file_store._Analyser()
    for _ in range(64):
        analyser.feed(b"G" * 65536)
        kept = sum(len(v) for v in vars(analyser).values() if isinstance(v, (bytes, bytearray)))
        kept += len(analyser._scanner._tail) if analyser._scanner is not None else 0
        assert kept <= MAX_LINE
    assert analyser.finish()[0] == 1


def test_full_disk_is_storage_full_and_leaves_nothing(tmp_path: Path) -> None:
    store = FileStore(tmp_path, 1 << 20)
    # The partial upload lands on /dev/full: every write fails with ENOSPC, as on a full disk.
    part = tmp_path / f".upload-{os.getpid()}-{threading.get_ident()}.part"
    part.symlink_to("/dev/full")
    before = sorted(p.name for p in tmp_path.iterdir() if p != part)
    with pytest.raises(StorageFull, match="not enough space"):
        store.save("cube.gcode", io.BytesIO(b"G1 X1\n" * 50000))
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert [f.name for f in store.list()] == []
