"""The request lanes: order within a lane, no lane waiting behind another, bounded lanes, workers
on demand and back down to the warm ones when idle. Handlers block on events the test releases, so
nothing depends on the machine's speed."""

from __future__ import annotations

import threading
from typing import Hashable

from mqttprint.mqtt.lanes import LanePool
from tests.helpers import wait_for


class Recorder:
    """A handler that records (lane, item) and blocks on items listed in `gates` until released."""

    def __init__(self) -> None:
        self.done: list[tuple[Hashable, int]] = []
        self.gates: dict[tuple[Hashable, int], threading.Event] = {}
        self.entered: dict[tuple[Hashable, int], threading.Event] = {}
        self.lock = threading.Lock()

    def gate(self, lane: Hashable, item: int) -> threading.Event:
        self.entered[(lane, item)] = threading.Event()
        self.gates[(lane, item)] = threading.Event()
        return self.gates[(lane, item)]

    def __call__(self, work: tuple[Hashable, int]) -> None:
        if work in self.gates:
            self.entered[work].set()
            assert self.gates[work].wait(30), f"{work} was never released"
        with self.lock:
            self.done.append(work)

    def of(self, lane: Hashable) -> list[int]:
        with self.lock:
            return [item for name, item in self.done if name == lane]


def pool(handler: Recorder, **options: object) -> LanePool[tuple[Hashable, int]]:
    settings: dict[str, object] = {"capacity": 1000, "max_workers": 8, "keep": 1, "idle_timeout": 30.0}
    settings.update(options)
    lanes: LanePool[tuple[Hashable, int]] = LanePool("test-lanes", handler, **settings)  # type: ignore[arg-type]
    lanes.start()
    return lanes


def test_items_of_one_lane_run_in_order_one_at_a_time() -> None:
    handler = Recorder()
    lanes = pool(handler)
    release = handler.gate("a", 0)
    for i in range(200):
        assert lanes.submit("a", ("a", i))
    assert handler.entered[("a", 0)].wait(10)
    assert handler.of("a") == []  # item 0 holds the lane: nothing overtakes it
    release.set()
    wait_for(lambda: len(handler.of("a")) == 200, what="every item of lane a")
    assert handler.of("a") == list(range(200))
    lanes.stop()


def test_a_blocked_lane_never_holds_up_another() -> None:
    handler = Recorder()
    lanes = pool(handler, keep=1)
    release = handler.gate("slow", 0)
    assert lanes.submit("slow", ("slow", 0))
    assert handler.entered[("slow", 0)].wait(10)
    for i in range(5):  # while the only warm worker is stuck, another printer's requests run
        assert lanes.submit("fast", ("fast", i))
    wait_for(lambda: handler.of("fast") == list(range(5)), what="lane fast served while lane slow blocks")
    assert handler.of("slow") == []
    release.set()
    wait_for(lambda: handler.of("slow") == [0], what="lane slow finished")
    lanes.stop()


def test_a_full_lane_refuses_and_other_lanes_still_accept() -> None:
    handler = Recorder()
    lanes = pool(handler, capacity=3)
    release = handler.gate("a", 0)
    assert lanes.submit("a", ("a", 0))
    assert handler.entered[("a", 0)].wait(10)  # running: it does not count against the capacity
    assert [lanes.submit("a", ("a", i)) for i in (1, 2, 3, 4)] == [True, True, True, False]
    assert lanes.submit("b", ("b", 0))
    release.set()
    wait_for(lambda: handler.of("a") == [0, 1, 2, 3], what="lane a drained")
    assert lanes.submit("a", ("a", 5))  # room again
    wait_for(lambda: handler.of("a") == [0, 1, 2, 3, 5], what="lane a accepts again")
    lanes.stop()


def test_workers_grow_one_per_busy_lane_and_return_to_the_warm_ones() -> None:
    handler = Recorder()
    lanes = pool(handler, keep=2, idle_timeout=0.2)
    assert lanes.threads() == 2
    gates = [handler.gate(f"p{i}", 0) for i in range(6)]
    for i in range(6):
        assert lanes.submit(f"p{i}", (f"p{i}", 0))
    for i in range(6):
        assert handler.entered[(f"p{i}", 0)].wait(10), f"lane p{i} waited for a worker"
    assert lanes.threads() == 6
    for gate in gates:
        gate.set()
    wait_for(lambda: lanes.threads() == 2, what="idle workers ending down to the warm ones")
    for i in range(50):  # one request at a time, as a client waiting for each reply sends them
        assert lanes.submit(f"p{i % 6}", (f"p{i % 6}", i))
        wait_for(lambda i=i: len(handler.done) == 7 + i, what=f"request {i}")
    assert lanes.threads() == 2
    lanes.stop()


def test_never_more_workers_than_the_cap_and_every_lane_still_runs() -> None:
    handler = Recorder()
    lanes = pool(handler, max_workers=2, keep=1)
    first = [handler.gate(f"p{i}", 0) for i in range(2)]
    for i in range(4):
        assert lanes.submit(f"p{i}", (f"p{i}", 0))
    assert all(handler.entered[(f"p{i}", 0)].wait(10) for i in range(2))
    assert lanes.threads() == 2 and handler.of("p2") == [] and handler.of("p3") == []
    for gate in first:
        gate.set()
    wait_for(lambda: len(handler.done) == 4, what="the lanes beyond the cap")
    lanes.stop()


def test_urgent_lanes_are_taken_before_waiting_ones() -> None:
    handler = Recorder()
    lanes = pool(handler, max_workers=1, keep=1)
    release = handler.gate("p1", 0)
    assert lanes.submit("p1", ("p1", 0))
    assert handler.entered[("p1", 0)].wait(10)
    assert lanes.submit("p2", ("p2", 0))
    assert lanes.submit("p3!", ("p3!", 0), urgent=True)
    release.set()
    wait_for(lambda: len(handler.done) == 3, what="all three")
    assert [lane for lane, _ in handler.done] == ["p1", "p3!", "p2"]
    lanes.stop()


def test_a_failing_item_does_not_end_its_lane() -> None:
    done: list[int] = []

    def handle(item: int) -> None:
        if item == 1:
            raise RuntimeError("handler bug")
        done.append(item)

    lanes: LanePool[int] = LanePool("test-lanes", handle, capacity=10, max_workers=1, keep=1)
    lanes.start()
    for i in range(3):
        assert lanes.submit("a", i)
    wait_for(lambda: done == [0, 2], what="the items after the failing one")
    assert lanes.alive() and lanes.threads() == 1
    lanes.stop()


def test_before_start_items_only_queue() -> None:
    handler = Recorder()
    lanes: LanePool[tuple[Hashable, int]] = LanePool("test-lanes", handler, capacity=2, max_workers=4)
    assert lanes.submit("a", ("a", 0)) and lanes.submit("a", ("a", 1)) and not lanes.submit("a", ("a", 2))
    assert lanes.threads() == 0 and handler.done == []
    lanes.start()
    wait_for(lambda: handler.of("a") == [0, 1], what="queued items after start")
    lanes.stop()
    assert not lanes.submit("a", ("a", 3))
