"""The prompt reducer: Marlin's host prompt lines (as the simulator and firmware-protocol.md show
them) become one prompt state and a few events."""

from __future__ import annotations

from mqttprint.printer.prompt import Prompt, PromptTracker


def feed(tracker: PromptTracker, lines: list[str], wall: float = 1.0) -> list[str]:
    names = []
    for line in lines:
        body = line.removeprefix("//action:")
        name, _, params = body.partition(" ")
        names += [e.name for e in tracker.host_action(name, params, wall)]
    return names


def test_dialog_lines_make_one_prompt() -> None:
    tracker = PromptTracker()
    events = feed(tracker, ["//action:prompt_end", "//action:prompt_begin Paused", "//action:prompt_button PurgeMore",
                            "//action:prompt_button Continue", "//action:prompt_show"])
    assert events == ["PromptShown"]
    assert tracker.prompt == Prompt(True, "Paused", ("PurgeMore", "Continue"), "action", 1.0)
    assert tracker.prompt.answer_command.format(choice=1) == "M876 S1"
    assert feed(tracker, ["//action:prompt_end"]) == ["PromptClosed"]
    assert not tracker.prompt.open and feed(tracker, ["//action:prompt_end"]) == []


def test_runout_marks_the_following_dialogs_and_pauses_once() -> None:
    tracker = PromptTracker()
    events = feed(tracker, ["//action:paused filament_runout 0", "//action:paused", "//action:prompt_end",
                            "//action:prompt_begin Nozzle Parked", "//action:prompt_button Continue",
                            "//action:prompt_show"])
    assert events == ["FilamentRunout", "PausedByFirmware", "PromptShown"]
    assert tracker.prompt.source == "runout"
    assert [e.name for e in tracker.close("answered", 2.0)] == ["PromptClosed"]
    feed(tracker, ["//action:prompt_begin Paused", "//action:prompt_show"])
    assert tracker.prompt.source == "runout"  # still the same change until resumed
    feed(tracker, ["//action:prompt_end", "//action:resumed", "//action:prompt_begin Info", "//action:prompt_show"])
    assert tracker.prompt.source == "action"


def test_busy_paused_for_user_without_a_dialog_is_answered_with_m108() -> None:
    tracker = PromptTracker()
    assert [e.name for e in tracker.busy("paused for user", 1.0)] == ["PromptShown"]
    assert tracker.prompt.source == "busy" and tracker.prompt.answer_command == "M108"
    assert [e.name for e in tracker.busy("processing", 2.0)] == ["PromptClosed"]


def test_m600_and_notification() -> None:
    tracker = PromptTracker()
    assert [e.name for e in tracker.m600_sent(1.0)] == ["FilamentChange"]
    feed(tracker, ["//action:notification Load filament", "//action:prompt_begin Nozzle Parked", "//action:prompt_show"])
    assert tracker.prompt.source == "M600" and tracker.prompt.notification == "Load filament"
    assert [e.name for e in tracker.reset(3.0)] == ["PromptClosed"]


def test_buttons_are_capped_at_ten() -> None:
    tracker = PromptTracker()
    feed(tracker, ["//action:prompt_begin Q"] + [f"//action:prompt_button b{i}" for i in range(14)]
         + ["//action:prompt_show"])
    assert len(tracker.prompt.buttons) == 10
