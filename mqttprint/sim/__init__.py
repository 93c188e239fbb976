"""Built-in Marlin 2.1-like firmware simulator: a pure model plus pty and in-process adapters.

`MarlinSim` is the pure model (time passed in), `SimulatedPort` the in-process ``sim://marlin``
port, and `mqttprint.sim.pty_link.PtySimulator` exposes the model on a pseudo-terminal
(import it from its module: it needs POSIX tty support).
"""

from mqttprint.sim.config import SimConfig
from mqttprint.sim.inprocess_port import SimulatedPort
from mqttprint.sim.marlin import MarlinSim

__all__ = ["MarlinSim", "SimConfig", "SimulatedPort"]
