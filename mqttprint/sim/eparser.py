"""Marlin's EMERGENCY_PARSER: a byte-level state machine that runs inside the RX interrupt.

It sees every received byte *before* the RX ring decides whether there is room to store it,
so an emergency command gets through even when the ring is full and the byte itself is
dropped. Grammar (Marlin 2.1): optional spaces, optional ``N<digits/->`` plus spaces, ``M``,
optional spaces, the exact code digits; then *anything* up to CR/LF, where the action fires.
Consequences worth reproducing because hosts trip over them:

* it fires with or without line number and checksum, and even when the checksum is wrong;
* characters after the code are not checked, so ``M1120`` fires M112 just like ``M112 *36``;
* ``M876`` additionally needs ``S`` (spaces allowed) and exactly one digit to fire.

Only upper-case letters are recognised (Marlin accepts lower case only with
``GCODE_CASE_INSENSITIVE``).
"""

from __future__ import annotations

import enum

#: Codes the parser recognises, as the digits following ``M``.
EMERGENCY_CODES: tuple[str, ...] = ("108", "112", "410", "524", "876")

_EOL = (0x0A, 0x0D)
_SPACE = 0x20


class _State(enum.Enum):
    RESET = "reset"  # start of line
    LINENO = "lineno"  # inside "N123 "
    CODE = "code"  # after "M", collecting digits
    MATCHED = "matched"  # full code seen; waiting for EOL
    M876 = "m876"  # "M876" seen, waiting for "S"
    M876_S = "m876_s"  # "M876 S" seen, waiting for the digit
    IGNORE = "ignore"  # not an emergency line; wait for EOL


class EmergencyParser:
    """Feed bytes one at a time; `feed` returns the command that fired at a line end.

    Returned values: ``"M108"``, ``"M112"``, ``"M410"``, ``"M524"`` or ``"M876 S<d>"``.
    """

    def __init__(self) -> None:
        self._state = _State.RESET
        self._digits = ""
        self._m876_choice = 0

    def reset(self) -> None:
        """Forget any partial line (MCU reset)."""
        self._state = _State.RESET
        self._digits = ""
        self._m876_choice = 0

    def feed(self, byte: int) -> str | None:
        """Advance the state machine by one byte; return the fired command at CR/LF, else None."""
        if byte in _EOL:
            fired = self._fire()
            self.reset()
            return fired
        state = self._state
        if state is _State.RESET:
            if byte == _SPACE:
                return None
            self._state = {ord("N"): _State.LINENO, ord("M"): _State.CODE}.get(byte, _State.IGNORE)
        elif state is _State.LINENO:
            # Marlin skips digits, '-' and spaces after N, then requires 'M'.
            if chr(byte).isdigit() or byte in (ord("-"), _SPACE):
                return None
            self._state = _State.CODE if byte == ord("M") else _State.IGNORE
        elif state is _State.CODE:
            self._feed_code_digit(byte)
        elif state is _State.M876:
            if byte == ord("S"):
                self._state = _State.M876_S
            elif byte != _SPACE:
                self._state = _State.IGNORE
        elif state is _State.M876_S:
            if ord("0") <= byte <= ord("9"):
                self._m876_choice = byte - ord("0")
                self._state = _State.MATCHED
            elif byte != _SPACE:
                self._state = _State.IGNORE
        # MATCHED and IGNORE: every byte up to EOL is ignored (Marlin quirk: "M1120" fires M112).
        return None

    def _feed_code_digit(self, byte: int) -> None:
        if byte == _SPACE and not self._digits:
            return  # "M 112" is accepted: spaces between M and the first digit are skipped
        candidate = self._digits + chr(byte)
        if not any(code.startswith(candidate) for code in EMERGENCY_CODES):
            self._state = _State.IGNORE
            return
        self._digits = candidate
        if candidate == "876":
            self._state = _State.M876
        elif candidate in EMERGENCY_CODES:
            self._state = _State.MATCHED

    def _fire(self) -> str | None:
        if self._state is not _State.MATCHED:
            return None
        if self._digits == "876":
            return f"M876 S{self._m876_choice}"
        return f"M{self._digits}"
