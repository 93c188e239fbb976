"""RecentIds: the duplicate window for QoS 1 redelivery (pure, time as an argument)."""

from __future__ import annotations

from mqttprint.mqtt.dedup import RecentIds


def test_window_and_kinds_of_ids() -> None:
    ids = RecentIds(10.0)
    assert not ids.is_duplicate("a", 0.0)
    ids.accepted("a", 0.0)
    assert ids.is_duplicate("a", 9.9)
    assert not ids.is_duplicate("a", 10.0)  # after the window the same id is a new request
    ids.accepted(1, 20.0)
    assert ids.is_duplicate(1, 21.0) and not ids.is_duplicate("1", 21.0)  # 1 and "1" differ


def test_capacity_bounds_memory() -> None:
    ids = RecentIds(1000.0, capacity=3)
    for i in range(5):
        ids.accepted(i, float(i))
    assert [ids.is_duplicate(i, 5.0) for i in range(5)] == [False, False, True, True, True]


def test_zero_window_never_remembers() -> None:
    ids = RecentIds(0.0)
    ids.accepted("x", 0.0)
    assert not ids.is_duplicate("x", 0.0)
