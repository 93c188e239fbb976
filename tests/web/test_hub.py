"""The dashboard's push hub without HTTP: bounded slots, what wakes a stream, what it sends,
and that closing ends every stream at once."""

from __future__ import annotations

import json
import threading
from typing import Any

from mqttprint.protocol.events import CommandFinished, EmergencySent, LineReceived, LineSent, Priority, StateChanged
from mqttprint.protocol.states import PrinterState
from mqttprint.runtime.bus import BusMessage, EventBus
from mqttprint.web.hub import PushHub


class Frames:
    """A frame builder whose state the test changes."""

    def __init__(self) -> None:
        self.state = {"p1": "Operational", "p2": "Operational"}
        self.builds = 0

    def __call__(self, pid: str) -> dict[str, Any]:
        self.builds += 1
        return {"id": pid, "state": self.state[pid]}


def messages(chunk: bytes) -> list[tuple[str, Any]]:
    out = []
    for block in chunk.decode().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line and not line.startswith(":"))
        if "event" in lines:
            out.append((lines["event"], json.loads(lines["data"])))
    return out


def make_hub(max_streams: int = 2, **kwargs: Any) -> tuple[PushHub, Frames, EventBus]:
    frames = Frames()
    hub = PushHub(["p1", "p2"], frames, max_streams, min_interval=0.0, refresh=60.0, heartbeat=60.0, **kwargs)
    bus = EventBus()
    hub.attach(bus)
    return hub, frames, bus


def publish(bus: EventBus, event: Any, pid: str = "p1") -> None:
    bus.publish(BusMessage(pid, event, 1000.0))


def test_first_chunk_is_the_whole_state() -> None:
    hub, _, _ = make_hub()
    stream = hub.open_stream()
    assert stream is not None
    got = messages(next(stream))
    assert got[0] == ("hello", {"printers": ["p1", "p2"], "terminal": None})
    assert [(e, d["id"]) for e, d in got[1:]] == [("printer", "p1"), ("printer", "p2")]
    stream.close()


def test_slots_are_bounded_and_come_back_on_close() -> None:
    hub, _, _ = make_hub(max_streams=2)
    first, second = hub.open_stream(), hub.open_stream()
    assert first is not None and second is not None
    assert hub.open_stream() is None and hub.open_streams == 2
    first.close()
    first.close()  # idempotent: the slot is returned once
    assert hub.open_streams == 1
    third = hub.open_stream()
    assert third is not None and hub.open_stream() is None
    second.close()
    third.close()
    assert hub.open_streams == 0


def test_a_state_change_is_sent_with_its_event_and_only_the_changed_printer() -> None:
    hub, frames, bus = make_hub()
    stream = hub.open_stream()
    assert stream is not None
    next(stream)
    frames.state["p1"] = "Error"
    publish(bus, EmergencySent("M112", 1.0))
    got = messages(next(stream))
    assert ("printer", {"id": "p1", "state": "Error"}) in got
    assert not [d for e, d in got if e == "printer" and d["id"] == "p2"]
    assert [d["type"] for e, d in got if e == "printer-event"] == ["EmergencySent"]
    assert [d.get("command") for e, d in got if e == "printer-event"] == ["M112"]
    stream.close()


def test_a_state_change_is_not_held_back_by_the_throttle() -> None:
    """With a one-minute throttle, the burst after a state change still comes at once."""
    frames = Frames()
    hub = PushHub(["p1", "p2"], frames, 2, min_interval=60.0, refresh=60.0, heartbeat=60.0)
    bus = EventBus()
    hub.attach(bus)
    stream = hub.open_stream()
    assert stream is not None
    next(stream)
    got: list[Any] = []
    reader = threading.Thread(target=lambda: got.append(messages(next(stream))))
    reader.start()  # the stream is now in its throttle pause after the first burst
    frames.state["p1"] = "Printing"
    publish(bus, StateChanged(PrinterState.OPERATIONAL, PrinterState.PRINTING))
    reader.join(10)
    assert got and ("printer", {"id": "p1", "state": "Printing"}) in got[0]
    hub.close()
    stream.close()


def test_print_chatter_does_not_wake_streams() -> None:
    hub, frames, bus = make_hub()
    before = hub._generation
    publish(bus, LineSent("G1 X1", 5, Priority.JOB))
    publish(bus, LineReceived("ok"))
    publish(bus, CommandFinished(1, "G1 X1", True, (), "", 0.0, 0.0))
    assert hub._generation == before and frames.builds == 0
    publish(bus, StateChanged(PrinterState.OPERATIONAL, PrinterState.PRINTING))
    assert hub._generation == before + 1


def test_terminal_lines_only_for_the_watched_printer() -> None:
    hub, _, bus = make_hub()
    stream = hub.open_stream(terminal_for="p2")
    assert stream is not None
    next(stream)
    publish(bus, LineSent("M105", 3, Priority.POLL), "p1")  # nobody watches p1: not even kept
    publish(bus, LineSent("M114", 4, Priority.INTERACTIVE), "p2")
    publish(bus, LineReceived("X:0.00 Y:0.00 Z:0.00 E:0.00"), "p2")
    got = messages(next(stream))
    assert got == [("terminal", {"printer": "p2", "lines": [{"dir": "send", "text": "M114"},
                                                            {"dir": "recv", "text": "X:0.00 Y:0.00 Z:0.00 E:0.00"}]})]
    stream.close()
    assert hub._terminal_watchers == {"p1": 0, "p2": 0}


def test_close_ends_a_waiting_stream() -> None:
    hub, _, _ = make_hub()
    stream = hub.open_stream()
    assert stream is not None
    next(stream)
    ended = threading.Event()

    def drain() -> None:
        for _ in stream:
            pass
        ended.set()

    thread = threading.Thread(target=drain)
    thread.start()
    hub.close()
    thread.join(5)
    assert ended.is_set()
    stream.close()
    assert hub.open_stream() is None  # closed hub: no new streams
