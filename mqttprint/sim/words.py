"""A small G-code word parser: command letter/number plus parameter words.

Lenient like Marlin's parser: spaces between words are optional (``G1X10Y20`` works) and
parameters without a value are flags (``G28 X``). Upper case only, as in a stock build.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from collections.abc import Mapping

_COMMAND = re.compile(r"([GMT])(\d+)(?:\.(\d+))?")
_PARAM = re.compile(r"([A-Z])\s*([-+]?(?:\d+\.?\d*|\.\d+)?)")


@dataclass(frozen=True)
class GCode:
    """One parsed command.

    text: the normalised command (``N``/checksum removed), e.g. ``"G1 X10 Y20"``.
    letter/number: ``"G"``/``1``; letter is ``""`` when the text is not a G/M/T command.
    params: parameter letter -> value text (``""`` for a bare flag); first occurrence wins.
    string_arg: everything after the command word, for M117/M118/M0 style string arguments.
    """

    text: str
    letter: str
    number: int | None
    params: Mapping[str, str] = field(default_factory=dict)
    string_arg: str = ""

    @property
    def code(self) -> str:
        """``"G1"``, ``"M104"``, ``"T0"`` or ``""``."""
        return f"{self.letter}{self.number}" if self.letter and self.number is not None else ""

    def has(self, key: str) -> bool:
        """Whether the parameter word is present (with or without value)."""
        return key in self.params

    def has_value(self, key: str) -> bool:
        """Whether the parameter word is present *with* a numeric value (Marlin ``seenval``)."""
        return bool(self.params.get(key))

    def get_float(self, key: str, default: float = 0.0) -> float:
        """Parameter as float; `default` when absent or valueless."""
        value = self.params.get(key)
        if not value:
            return default
        try:
            return float(value)
        except ValueError:
            return default

    def get_int(self, key: str, default: int = 0) -> int:
        """Parameter as int (truncated like Marlin's ``value_int``); `default` when absent."""
        return int(self.get_float(key, float(default)))


def parse(text: str) -> GCode:
    """Parse one normalised command line."""
    match = _COMMAND.match(text)
    if match is None:
        return GCode(text=text, letter="", number=None)
    rest = text[match.end() :]
    params: dict[str, str] = {}
    for letter, value in _PARAM.findall(rest):
        params.setdefault(letter, value)
    return GCode(
        text=text,
        letter=match.group(1),
        number=int(match.group(2)),
        params=params,
        string_arg=rest.lstrip(" "),
    )
