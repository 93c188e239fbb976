"""The linear time-left estimate: None (never 0) until there is something to extrapolate from."""

from __future__ import annotations

from mqttprint.printer.job import MIN_ELAPSED_FOR_ESTIMATE, time_left


def test_no_estimate_at_the_start_of_a_print() -> None:
    # A third of the file read in the first seconds (header comments, thumbnails): no "3 s left".
    assert time_left(1.0, 33.0) is None
    assert time_left(MIN_ELAPSED_FOR_ESTIMATE - 0.1, 50.0) is None
    assert time_left(600.0, 0.4) is None  # almost nothing done yet
    assert time_left(0.0, 0.0) is None


def test_linear_estimate_and_the_end() -> None:
    assert time_left(600.0, 25.0) == 1800.0
    assert time_left(600.0, 100.0) == 0.0
