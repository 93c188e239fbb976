"""Error classes of the protocol core, split by whose fault it is.

* `CommandRejected` — the caller's fault (bad command, wrong state); nothing was sent.
* `PrinterFault` — the printer's fault (firmware error, halted, resend loop, no answer).
* `LinkFault` — the link's fault (port vanished, I/O error); raised by the runtime, defined here
  so every layer shares one hierarchy.
"""

from __future__ import annotations


class MqttprintError(Exception):
    """Base of every error mqttprint raises on purpose."""


class CommandRejected(MqttprintError):
    """The caller asked for something that cannot be done; nothing was sent to the printer."""


class InvalidCommand(CommandRejected):
    """A command line that cannot be sent to a printer (control characters, too long, ...)."""


class NotOperational(CommandRejected):
    """The printer is not in a state that accepts this request (offline, connecting, error)."""


class PrinterFault(MqttprintError):
    """The printer failed: firmware error, halted firmware, resend loop, no response."""


class LinkFault(MqttprintError):
    """The serial link failed: the port vanished, could not be opened, or an I/O error occurred."""
